// hessian.csv, the terminal table and the scatter plot (see hessian_report.h).
#include "study/hessian_report.h"

#include <algorithm>
#include <cinttypes>

#include "optim/optimizer_config.h"
#include "util/util.h"

const char* const HESSIAN_CSV_HEADER =
    "scope,name,role,layer,optimizer,eps,numel,used,corr_log,median_ratio,median_abs_diag_h,median_sqrt_vhat,"
    "frac_resolved,frac_below_eps,checkpoint_step,probes,batches,fd_step,h,fd_rel_error";

// The name column: the tensor's, the role's, or "all".
static std::string row_name(const ComparisonRow& r) {
    if (r.scope == ComparisonScope::Tensor) return r.tensor->name;
    return r.scope == ComparisonScope::Role ? role_name(r.role) : "all";
}

std::string hessian_csv(const std::vector<ComparisonRow>& rows, const HessianSetup& setup) {
    std::string out = std::string(HESSIAN_CSV_HEADER) + "\n";
    for (const ComparisonRow& r : rows) {
        const bool tensor = r.scope == ComparisonScope::Tensor;
        const ComparisonStats& s = r.stats;
        out += strprintf("%s,%s,%s,%s,%s,%s,%zu,%zu,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%" PRId64 ",%d,%d,%.6g,%.6g,%.3g\n",
                         scope_name(r.scope), row_name(r).c_str(), r.scope == ComparisonScope::All ? "all" : role_name(r.role),
                         tensor ? std::to_string(r.tensor->layer).c_str() : "",
                         tensor ? optimizer_name(r.tensor->optim.kind) : "adamw",
                         tensor ? strprintf("%.6g", r.tensor->optim.eps).c_str() : "", s.numel, s.used, s.corr_log,
                         s.median_ratio, s.median_abs_h, s.median_sqrt_vhat, s.frac_resolved, s.frac_below_eps,
                         setup.checkpoint_step, setup.probes, setup.batches, setup.fd_step, setup.h, setup.fd_error);
    }
    return out;
}

std::string hessian_table(const std::vector<ComparisonRow>& rows) {
    std::string out = strprintf("%-38s %-18s %13s %9s %12s %12s %12s %9s %7s\n", "tensor / role", "role", "used",
                                "corr_log", "med ratio", "med |diagH|", "med sqrt(v)", "resolved", "<eps");
    ComparisonScope last = ComparisonScope::Tensor;
    for (const ComparisonRow& r : rows) {
        if (r.scope != last) out += "\n";  // a blank line before the pooled rows
        last = r.scope;
        const ComparisonStats& s = r.stats;
        const std::string role = r.scope == ComparisonScope::All ? "all" : role_name(r.role);
        const std::string used = std::to_string(s.used) + "/" + std::to_string(s.numel);
        out += strprintf("%-38s %-18s %13s %9.3f %12.4g %12.4g %12.4g %8.0f%% %6.0f%%", row_name(r).c_str(),
                         role.c_str(), used.c_str(), s.corr_log, s.median_ratio, s.median_abs_h, s.median_sqrt_vhat,
                         100 * s.frac_resolved, 100 * s.frac_below_eps);
        if (r.scope == ComparisonScope::Tensor && r.tensor->optim.kind != OptimizerKind::AdamW)
            out += std::string("  (") + optimizer_name(r.tensor->optim.kind) + ": no v)";
        out += "\n";
    }
    return out;
}

// Up to `count` elements of the used ones, evenly spaced.
static std::vector<size_t> evenly_spaced(const std::vector<size_t>& used, size_t count) {
    if (used.size() <= count) return used;
    std::vector<size_t> out;
    for (size_t k = 0; k < count; k++) out.push_back(used[(size_t)(((double)k + 0.5) * used.size() / count)]);
    return out;
}

// The used elements of one role's AdamW tensors, in table order.
static std::vector<size_t> used_elements(const TensorTable& table, TensorRole role, const DiagonalEstimate& e,
                                         const std::vector<double>& sqrt_vhat) {
    std::vector<size_t> used;
    for (const TensorInfo& t : table.tensors) {
        if (t.role != role || t.optim.kind != OptimizerKind::AdamW) continue;
        for (size_t i = t.offset; i < t.offset + t.numel; i++)
            if (comparable(e.diag[i], sqrt_vhat[i])) used.push_back(i);
    }
    return used;
}

Figure hessian_scatter(const TensorTable& table, const DiagonalEstimate& estimate,
                       const std::vector<double>& sqrt_vhat, size_t per_role, const HessianSetup& setup) {
    Panel panel;
    panel.title = strprintf("Adam's sqrt(v_hat) against |diag H| (Hutchinson, %d probes, %d batches)", setup.probes,
                            setup.batches);
    panel.xlabel = "|diag H| (Hutchinson estimate)";
    panel.ylabel = "sqrt(v_hat) (AdamW, bias-corrected)";
    panel.log_x = panel.log_y = 10;
    double lo = INFINITY, hi = 0;
    std::vector<TensorRole> roles;
    for (const TensorInfo& t : table.tensors)
        if (std::find(roles.begin(), roles.end(), t.role) == roles.end()) roles.push_back(t.role);
    for (TensorRole role : roles) {
        Series s;
        s.label = role_name(role);
        s.line = false;
        s.color = palette_color(panel.series.size());
        for (size_t i : evenly_spaced(used_elements(table, role, estimate, sqrt_vhat), per_role)) {
            s.x.push_back(std::fabs(estimate.diag[i]));
            s.y.push_back(sqrt_vhat[i]);
            lo = std::min(lo, s.x.back());
            hi = std::max(hi, s.x.back());
        }
        if (!s.x.empty()) panel.series.push_back(s);
    }
    if (hi > 0)
        panel.series.push_back(
            Series{"sqrt(v_hat) = |diag H|", {lo, hi}, {lo, hi}, "#888888", false, true});
    Figure fig;
    fig.title = strprintf("Adam as approximate Newton: checkpoint at step %" PRId64 ", finite-difference step h = %.3g",
                          setup.checkpoint_step, setup.h);
    fig.columns = 1;
    fig.panel_width = 720;
    fig.panel_height = 560;
    fig.panels.push_back(panel);
    return fig;
}
