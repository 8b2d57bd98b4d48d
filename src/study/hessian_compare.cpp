// |diag H| against Adam's sqrt(v_hat): the statistics (see hessian_compare.h).
#include "study/hessian_compare.h"

#include <algorithm>

#include "study/drift.h"  // quantile
#include "util/util.h"

std::vector<double> adam_sqrt_vhat(const TensorTable& table, const std::vector<float>& v, int64_t step) {
    if (v.size() != table.total) fail("adam_sqrt_vhat: v does not match the tensor table");
    if (step < 1) fail("adam_sqrt_vhat: the checkpoint has taken no optimizer step, so v is empty");
    std::vector<double> out(table.total, 0.0);
    for (const TensorInfo& t : table.tensors) {
        if (t.optim.kind != OptimizerKind::AdamW) continue;
        // 1 - beta2^t as AdamW computes it (in double: the float state is the
        // only rounding that matters here)
        const double correction = 1.0 - std::pow(t.optim.beta2, (double)step);
        for (size_t i = t.offset; i < t.offset + t.numel; i++) out[i] = std::sqrt((double)v[i] / correction);
    }
    return out;
}

double pearson_correlation(const std::vector<double>& x, const std::vector<double>& y) {
    if (x.size() != y.size()) fail("pearson_correlation: x and y differ in length");
    const size_t n = x.size();
    if (n < 2) return NAN;
    double mx = 0, my = 0;
    for (size_t i = 0; i < n; i++) mx += x[i], my += y[i];
    mx /= (double)n;
    my /= (double)n;
    // two passes: the centred sums do not cancel the way raw moments would
    double sxy = 0, sxx = 0, syy = 0;
    for (size_t i = 0; i < n; i++) {
        const double dx = x[i] - mx, dy = y[i] - my;
        sxy += dx * dy;
        sxx += dx * dx;
        syy += dy * dy;
    }
    if (!(sxx > 0) || !(syy > 0)) return NAN;
    return sxy / std::sqrt(sxx * syy);
}

void ElementPool::add(const double* diag_h, const double* std_error, const double* sqrt_vhat, size_t n, double eps) {
    numel_ += n;
    for (size_t i = 0; i < n; i++) {
        if (!comparable(diag_h[i], sqrt_vhat[i])) continue;
        const double a = std::fabs(diag_h[i]);
        abs_h_.push_back(a);
        sqrt_vhat_.push_back(sqrt_vhat[i]);
        resolved_ += a > 2 * std_error[i];  // false for a NaN error (one probe)
        below_eps_ += sqrt_vhat[i] < eps;
    }
}

ComparisonStats ElementPool::summarize() const {
    ComparisonStats s;
    s.numel = numel_;
    s.used = abs_h_.size();
    if (s.used == 0) return s;
    std::vector<double> log_h(s.used), log_s(s.used), ratio(s.used);
    for (size_t i = 0; i < s.used; i++) {
        log_h[i] = std::log(abs_h_[i]);
        log_s[i] = std::log(sqrt_vhat_[i]);
        ratio[i] = sqrt_vhat_[i] / abs_h_[i];
    }
    s.corr_log = pearson_correlation(log_h, log_s);
    s.median_ratio = quantile(ratio, 0.5);
    s.median_abs_h = quantile(abs_h_, 0.5);
    s.median_sqrt_vhat = quantile(sqrt_vhat_, 0.5);
    s.frac_resolved = (double)resolved_ / (double)s.used;
    s.frac_below_eps = (double)below_eps_ / (double)s.used;
    return s;
}

const char* scope_name(ComparisonScope scope) {
    switch (scope) {
        case ComparisonScope::Tensor: return "tensor";
        case ComparisonScope::Role: return "role";
        case ComparisonScope::All: return "all";
    }
    return "?";
}

static const TensorRole ROLES[] = {TensorRole::TokenEmbedding, TensorRole::PositionEmbedding, TensorRole::HiddenMatrix,
                                   TensorRole::Readout,        TensorRole::Bias,              TensorRole::NormGain,
                                   TensorRole::NormBias};

std::vector<ComparisonRow> compare_with_adam(const TensorTable& table, const DiagonalEstimate& estimate,
                                             const std::vector<double>& sqrt_vhat) {
    if (estimate.diag.size() != table.total || estimate.std_error.size() != table.total ||
        sqrt_vhat.size() != table.total)
        fail("compare_with_adam: the estimate or sqrt(v_hat) does not match the tensor table");
    std::vector<ComparisonRow> rows;
    std::vector<ElementPool> by_role(sizeof ROLES / sizeof ROLES[0]);
    std::vector<bool> role_present(by_role.size(), false);
    ElementPool all;
    for (const TensorInfo& t : table.tensors) {
        const double *h = estimate.diag.data() + t.offset, *se = estimate.std_error.data() + t.offset,
                     *s = sqrt_vhat.data() + t.offset;
        ElementPool own;
        own.add(h, se, s, t.numel, t.optim.eps);
        rows.push_back({ComparisonScope::Tensor, &t, t.role, own.summarize()});
        const size_t r = (size_t)(std::find(std::begin(ROLES), std::end(ROLES), t.role) - std::begin(ROLES));
        if (r == by_role.size()) fail(std::string("compare_with_adam: role ") + role_name(t.role) + " is not in ROLES");
        role_present[r] = true;
        if (t.optim.kind != OptimizerKind::AdamW) continue;
        by_role[r].add(h, se, s, t.numel, t.optim.eps);
        all.add(h, se, s, t.numel, t.optim.eps);
    }
    for (size_t r = 0; r < by_role.size(); r++)
        if (role_present[r]) rows.push_back({ComparisonScope::Role, nullptr, ROLES[r], by_role[r].summarize()});
    rows.push_back({ComparisonScope::All, nullptr, TensorRole::HiddenMatrix, all.summarize()});
    return rows;
}
