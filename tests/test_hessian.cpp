// Tests for `lrt hessian` (study/hessian*.h): the Hessian-vector product and
// Hutchinson's estimate against the exact Hessian of a tiny model, the
// comparison statistics on inputs whose answer is known, and the command.
//
// "Exact" Hessian: column i is the central difference of the double-precision
// gradient along the unit vector e_i, (g(theta + h e_i) - g(theta - h e_i)) / 2h,
// at h = 1e-5 on O(1) parameters: truncation ~h^2 = 1e-10 and rounding
// ~1e-16 / h = 1e-11 relative, so it is exact to ~1e-8 of its scale, far
// below every tolerance below (checked: it comes out symmetric to that level).
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "gradcheck.h"  // SingleThreaded
#include "io/csv.h"
#include "model/model.h"
#include "param/parameterization.h"
#include "study/hessian.h"
#include "study/hessian_compare.h"
#include "study/hessian_report.h"
#include "test_helpers.h"
#include "util/rng.h"
#include "util/util.h"

namespace {

// width 8, depth 1, vocab 7, T = 4: 1032 parameters, a Hessian of 1M entries
ModelConfig tiny_config() {
    ModelConfig c;
    c.vocab_size = 7;
    c.context_length = 4;
    c.width = 8;
    c.head_dim = 4;
    c.depth = 1;
    return c;
}

// O(1) weights, so that the loss is far from quadratic in them and the
// Hessian has large off-diagonal entries (GPT-2's 0.02 init is nearly linear)
void randomize(GPT<double>& m, uint64_t seed) {
    Rng r(seed);
    for (const auto& t : m.table.tensors)
        for (size_t i = 0; i < t.numel; i++) {
            const double z = r.normal();
            m.params[t.offset + i] = t.role == TensorRole::NormGain ? 1.0 + 0.3 * z
                                     : t.role == TensorRole::Bias || t.role == TensorRole::NormBias ? 0.2 * z
                                                                                                    : 0.5 * z;
        }
}

// Two batches of B = 2, T = 4 random tokens.
BatchSet tiny_batches(int V, uint64_t seed) {
    BatchSet set;
    set.B = 2;
    set.T = 4;
    Rng r(seed);
    for (int b = 0; b < 2; b++) {
        std::vector<int> in(8), tgt(8);
        for (int i = 0; i < 8; i++) in[i] = (int)r.below(V), tgt[i] = (int)r.below(V);
        set.add(in.data(), tgt.data());
    }
    return set;
}

constexpr double EXACT_STEP = 1e-5;

// The full Hessian, column by column (row-major n x n; symmetric up to its
// finite-difference error).
std::vector<double> exact_hessian(GPT<double>& m, const BatchSet& set) {
    const size_t n = m.params.size();
    std::vector<double> H(n * n), gp, gm;
    for (size_t i = 0; i < n; i++) {
        const double saved = m.params[i];
        m.params[i] = saved + EXACT_STEP;
        mean_loss_gradient(m, set, gp);
        m.params[i] = saved - EXACT_STEP;
        mean_loss_gradient(m, set, gm);
        m.params[i] = saved;
        for (size_t j = 0; j < n; j++) H[j * n + i] = (gp[j] - gm[j]) / (2 * EXACT_STEP);
    }
    return H;
}

std::vector<double> times(const std::vector<double>& H, const std::vector<double>& z) {
    const size_t n = z.size();
    std::vector<double> out(n, 0.0);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++) out[i] += H[i * n + j] * z[j];
    return out;
}

double max_abs_of(const std::vector<double>& v) { return max_abs(v.data(), v.size()); }

// The tiny model, its batches and its exact Hessian, built once for the file.
struct TinyProblem {
    GPT<double> model;
    BatchSet set;
    std::vector<double> H;
    size_t n = 0;
    TinyProblem() {
        SingleThreaded single;
        gpt_build(model, tiny_config());
        randomize(model, 11);
        set = tiny_batches(tiny_config().vocab_size, 12);
        H = exact_hessian(model, set);
        n = model.params.size();
    }
};
TinyProblem& tiny() {
    static TinyProblem p;
    return p;
}

}  // namespace

TEST_CASE("the exact Hessian of the tiny model is symmetric and far from diagonal", "[hessian]") {
    TinyProblem& p = tiny();
    const size_t n = p.n;
    REQUIRE(n > 1000);
    double scale = max_abs_of(p.H), asym = 0, off = 0, diag = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++) {
            asym = std::max(asym, std::fabs(p.H[i * n + j] - p.H[j * n + i]));
            (i == j ? diag : off) += p.H[i * n + j] * p.H[i * n + j];
        }
    INFO("max |H| " << scale << ", max |H - H^T| " << asym);
    REQUIRE(scale > 0.1);
    REQUIRE(asym <= 1e-7 * scale);
    // the test below would be trivial for a diagonal H (no Hutchinson noise)
    REQUIRE(off > diag);
}

// The steps of the tests' products: a Rademacher z moves all n parameters at
// once, and its central difference's error, c h^2, gathers the third
// derivatives of all of them (hessian.h); on this strongly nonlinear model
// c ~ 1.5e6 (of |H z| ~ 100), so h = 1e-6 leaves ~1e-6 absolute, 1e-8
// relative, below the exact Hessian's own ~5e-8 relative error in H z.
constexpr double TEST_STEP = 1e-6;

TEST_CASE("the central-difference Hessian-vector product is H z", "[hessian]") {
    SingleThreaded single;
    TinyProblem& p = tiny();
    const std::vector<double> theta = p.model.params;
    for (int k = 0; k < 3; k++) {
        const std::vector<double> z = rademacher_probe(5, k, p.n);
        const std::vector<double> want = times(p.H, z);
        for (double h : {TEST_STEP, 3 * TEST_STEP}) {
            std::vector<double> hz;
            hessian_vector_product(p.model, p.set, z, h, hz);
            double err = 0;
            for (size_t i = 0; i < p.n; i++) err = std::max(err, std::fabs(hz[i] - want[i]));
            INFO("probe " << k << ", h " << h << ": max error " << err << " of max |Hz| " << max_abs_of(want));
            // the exact H z's ~5e-8 and the difference's c h^2 <= 1.4e-5 / 100: 1e-6 of the scale holds
            REQUIRE(err <= 1e-6 * max_abs_of(want));
        }
    }
    // the parameters are exactly as they were
    REQUIRE(p.model.params == theta);
}

TEST_CASE("the finite-difference error estimate from h against 2h is the actual error", "[hessian]") {
    SingleThreaded single;
    TinyProblem& p = tiny();
    const std::vector<double> z = rademacher_probe(6, 0, p.n), want = times(p.H, z);
    // steps where c h^2 (1e-4 to 1e-2 relative) dwarfs rounding and the
    // exact H's error (~1e-7), and h^4 terms are (c h^2)^2-small
    for (double h : {1e-4, 3e-4}) {
        std::vector<double> hz;
        hessian_vector_product(p.model, p.set, z, h, hz);
        double diff = 0, norm = 0;
        for (size_t i = 0; i < p.n; i++) diff += std::pow(hz[i] - want[i], 2), norm += want[i] * want[i];
        const double actual = std::sqrt(diff / norm), estimate = hvp_relative_error(p.model, p.set, z, h);
        INFO("h " << h << ": actual relative error " << actual << ", estimated " << estimate);
        REQUIRE(actual > 1e-6);
        // the O(h^4) remainder shifts the estimate by a few percent of itself
        REQUIRE(estimate == Approx(actual).epsilon(0.1));
    }
}

TEST_CASE("Rademacher probes: +-1, balanced, one stream per (seed, probe)", "[hessian]") {
    const std::vector<double> a = rademacher_probe(1, 0, 100000), b = rademacher_probe(1, 1, 100000);
    double sum = 0, dot = 0;
    for (size_t i = 0; i < a.size(); i++) {
        REQUIRE(std::fabs(a[i]) == 1.0);
        sum += a[i];
        dot += a[i] * b[i];
    }
    // sums of 1e5 independent signs: standard deviation 316, so 5 sd is 1581
    REQUIRE(std::fabs(sum) < 1581);
    REQUIRE(std::fabs(dot) < 1581);
    REQUIRE(rademacher_probe(1, 0, 100000) == a);
    REQUIRE(rademacher_probe(2, 0, 100000) != a);
    // probe k does not depend on how long the vector is
    const std::vector<double> prefix = rademacher_probe(1, 1, 70);
    REQUIRE(std::equal(prefix.begin(), prefix.end(), b.begin()));
}

TEST_CASE("Hutchinson's estimate is the mean of z * (H z) over its probes", "[hessian]") {
    SingleThreaded single;
    TinyProblem& p = tiny();
    const int K = 6;
    const double h = TEST_STEP;
    int calls = 0;
    const DiagonalEstimate e = hutchinson_diagonal(p.model, p.set, K, 3, h, [&](int done, int total) {
        REQUIRE(done == ++calls);
        REQUIRE(total == K);
    });
    REQUIRE(calls == K);
    REQUIRE(e.probes == K);
    REQUIRE(e.h == h);
    // the same formula with the exact H
    std::vector<double> sum(p.n, 0.0), sum_sq(p.n, 0.0);
    for (int k = 0; k < K; k++) {
        const std::vector<double> z = rademacher_probe(3, k, p.n), hz = times(p.H, z);
        for (size_t i = 0; i < p.n; i++) sum[i] += z[i] * hz[i], sum_sq[i] += z[i] * hz[i] * z[i] * hz[i];
    }
    const double scale = max_abs_of(p.H);
    double worst = 0, worst_se = 0;
    for (size_t i = 0; i < p.n; i++) {
        const double mean = sum[i] / K, se = std::sqrt(std::max(0.0, sum_sq[i] / K - mean * mean) * K / (K - 1) / K);
        worst = std::max(worst, std::fabs(e.diag[i] - mean));
        worst_se = std::max(worst_se, std::fabs(e.std_error[i] - se));
    }
    INFO("worst difference " << worst << ", of std errors " << worst_se << ", scale " << scale);
    REQUIRE(worst <= 1e-6 * scale);
    REQUIRE(worst_se <= 1e-5 * scale);
    // one probe: no standard error
    REQUIRE(std::isnan(hutchinson_diagonal(p.model, p.set, 1, 3, h).std_error[0]));
}

// Each element's error, in units of its exact standard deviation: for
// Rademacher probes z_i (H z)_i has mean H_ii and variance
// s_i^2 = sum_{j != i} H_ij^2, so the mean of K probes has standard
// deviation s_i / sqrt(K) (plus the finite differences' ~1e-9, added so that
// rows of H that are zero do not divide by zero).
static std::vector<double> standardized_errors(const TinyProblem& p, const DiagonalEstimate& e, int K,
                                               std::vector<double>* sigma) {
    std::vector<double> z(p.n);
    sigma->assign(p.n, 0.0);
    const double floor = 1e-9 * max_abs_of(p.H);
    for (size_t i = 0; i < p.n; i++) {
        double s2 = 0;
        for (size_t j = 0; j < p.n; j++)
            if (j != i) s2 += p.H[i * p.n + j] * p.H[i * p.n + j];
        (*sigma)[i] = std::sqrt(s2);
        z[i] = (e.diag[i] - p.H[i * p.n + i]) / std::sqrt(s2 / K + floor * floor);
    }
    return z;
}

TEST_CASE("Hutchinson's estimate is unbiased, with the exact variance sum_{j!=i} H_ij^2 / K", "[hessian]") {
    SingleThreaded single;
    TinyProblem& p = tiny();
    for (int K : {16, 256}) {
        const DiagonalEstimate e = hutchinson_diagonal(p.model, p.set, K, 21, TEST_STEP);
        std::vector<double> sigma;
        const std::vector<double> z = standardized_errors(p, e, K, &sigma);
        // Each z_i is a mean of K independent terms, close to a standard
        // normal: over ~1000 elements none should pass 5.5 (p ~ 4e-8 each),
        // and the mean of z^2 over elements with off-diagonal mass should be
        // near 1 (0.6 .. 1.5 leaves room for the elements' correlation: they
        // share the probes). A biased estimate (a wrong factor, the wrong
        // sign) or a wrong probe distribution misses one of the two.
        double worst = 0, sum_sq = 0;
        size_t counted = 0;
        const double big = 1e-6 * *std::max_element(sigma.begin(), sigma.end());
        for (size_t i = 0; i < p.n; i++) {
            worst = std::max(worst, std::fabs(z[i]));
            if (sigma[i] > big) sum_sq += z[i] * z[i], counted++;
        }
        const double mean_sq = sum_sq / (double)counted;
        INFO("K " << K << ": worst |z| " << worst << ", mean z^2 " << mean_sq << " over " << counted << " elements");
        REQUIRE(counted > 500);
        REQUIRE(worst < 5.5);
        REQUIRE(mean_sq > 0.6);
        REQUIRE(mean_sq < 1.5);
    }
}

TEST_CASE("the estimate converges to the exact diagonal as 1/sqrt(K)", "[hessian]") {
    SingleThreaded single;
    TinyProblem& p = tiny();
    // the RMS error over elements, at 16 and at 256 probes (the first 16 of
    // the 256 are the same probes): 16 times the probes, a quarter the error;
    // the expected RMS is sqrt(mean_i s_i^2 / K)
    double expected = 0;
    for (size_t i = 0; i < p.n; i++)
        for (size_t j = 0; j < p.n; j++)
            if (j != i) expected += p.H[i * p.n + j] * p.H[i * p.n + j];
    expected /= (double)p.n;
    double rms[2];
    int Ks[2] = {16, 256};
    for (int k = 0; k < 2; k++) {
        const DiagonalEstimate e = hutchinson_diagonal(p.model, p.set, Ks[k], 33, TEST_STEP);
        double s = 0;
        for (size_t i = 0; i < p.n; i++) s += std::pow(e.diag[i] - p.H[i * p.n + i], 2);
        rms[k] = std::sqrt(s / (double)p.n);
        INFO("K " << Ks[k] << ": RMS error " << rms[k] << ", expected " << std::sqrt(expected / Ks[k]));
        // the RMS of ~1000 errors scatters by a few percent around its expectation
        CHECK(rms[k] == Approx(std::sqrt(expected / Ks[k])).epsilon(0.25));
    }
    CHECK(rms[0] / rms[1] == Approx(4.0).epsilon(0.3));
}

TEST_CASE("the finite-difference step is relative to the parameters' RMS", "[hessian]") {
    REQUIRE(hessian_step({3, -4}, 1e-4) == Approx(1e-4 * std::sqrt(12.5)).epsilon(1e-12));
    REQUIRE_THROWS_WITH(hessian_step({0, 0}, 1e-4), Catch::Contains("RMS"));
    REQUIRE_THROWS(hessian_step({}, 1e-4));
}

// --------------------------------------------------------------- comparison statistics

TEST_CASE("Pearson's r on known data", "[hessian]") {
    REQUIRE(pearson_correlation({1, 2, 3, 4}, {7, 10, 13, 16}) == Approx(1.0).epsilon(1e-14));
    REQUIRE(pearson_correlation({1, 2, 3, 4}, {8, 6, 4, 2}) == Approx(-1.0).epsilon(1e-14));
    // centred: (-1.5,-.5,.5,1.5) and (-.5,-1.5,1.5,.5): 3 / sqrt(5 * 5)
    REQUIRE(pearson_correlation({1, 2, 3, 4}, {2, 1, 4, 3}) == Approx(0.6).epsilon(1e-14));
    // far from the origin: the two-pass sums keep their digits
    REQUIRE(pearson_correlation({1e9 + 1, 1e9 + 2, 1e9 + 3, 1e9 + 4}, {2, 1, 4, 3}) == Approx(0.6).epsilon(1e-9));
    REQUIRE(std::isnan(pearson_correlation({1, 2, 3}, {5, 5, 5})));
    REQUIRE(std::isnan(pearson_correlation({1}, {2})));
    REQUIRE_THROWS(pearson_correlation({1, 2}, {1}));
}

TEST_CASE("sqrt(v_hat) is bias-corrected by each AdamW row's beta2; Muon rows have none", "[hessian]") {
    GPT<float> m;
    OptimizerConfig o;
    o.hidden = OptimizerKind::Muon;
    o.beta2 = 0.99;
    ModelConfig sizes = tiny_config();
    gpt_build_parameterized(m, sizes, ParamConfig(), o);
    const int64_t step = 7;
    const double correction = 1 - std::pow(0.99, 7);
    std::vector<float> v(m.table.total, 0.25f);
    const std::vector<double> s = adam_sqrt_vhat(m.table, v, step);
    for (const TensorInfo& t : m.table.tensors) {
        INFO(t.name);
        const double want = t.optim.kind == OptimizerKind::AdamW ? std::sqrt(0.25 / correction) : 0.0;
        REQUIRE(s[t.offset] == Approx(want).epsilon(1e-15));
        REQUIRE(s[t.offset + t.numel - 1] == Approx(want).epsilon(1e-15));
    }
    REQUIRE_THROWS_WITH(adam_sqrt_vhat(m.table, v, 0), Catch::Contains("no optimizer step"));
}

namespace {
// A table with hand-made values: every tensor's sqrt(v_hat) is 0.5 |diag H|
// except the readout's, which is 1 / |diag H|.
struct KnownComparison {
    GPT<float> m;
    DiagonalEstimate e;
    std::vector<double> s;
    KnownComparison() {
        gpt_build(m, tiny_config());
        const size_t n = m.table.total;
        e.diag.resize(n);
        e.std_error.resize(n);
        s.resize(n);
        for (const TensorInfo& t : m.table.tensors)
            for (size_t k = 0; k < t.numel; k++) {
                const size_t i = t.offset + k;
                const double a = std::exp(0.01 * (double)k - 2);  // |diag H|, spread over decades
                e.diag[i] = k % 2 ? a : -a;                       // the sign does not matter
                e.std_error[i] = k % 4 < 2 ? a / 4 : a;           // half resolved (|h| > 2 se), half not
                s[i] = t.role == TensorRole::Readout ? 1 / a : 0.5 * a;
            }
    }
};
}  // namespace

TEST_CASE("comparison per tensor, per role and overall on values with a known answer", "[hessian]") {
    KnownComparison k;
    const TensorInfo& wte = k.m.table.get("transformer.wte.weight");
    // exact zeros are left out: two on each side of wte
    k.e.diag[wte.offset + 4] = 0;
    k.e.diag[wte.offset + 5] = 0;
    k.s[wte.offset + 6] = 0;
    k.s[wte.offset + 7] = 0;
    // sqrt(v_hat) under AdamW's eps on two more elements: still proportional
    for (size_t i : {wte.offset + 8, wte.offset + 9}) {
        k.e.diag[i] *= 1e-9;
        k.e.std_error[i] *= 1e-9;
        k.s[i] *= 1e-9;
    }
    const std::vector<ComparisonRow> rows = compare_with_adam(k.m.table, k.e, k.s);
    const size_t tensors = k.m.table.tensors.size();
    REQUIRE(rows.size() == tensors + 7 + 1);  // tiny_config has every role (biases on, untied)
    for (size_t r = 0; r < rows.size(); r++) {
        const ComparisonRow& row = rows[r];
        INFO(scope_name(row.scope) << " " << (row.tensor ? row.tensor->name : role_name(row.role)));
        REQUIRE(row.scope == (r < tensors ? ComparisonScope::Tensor : r + 1 < rows.size() ? ComparisonScope::Role
                                                                                            : ComparisonScope::All));
        const ComparisonStats& st = row.stats;
        if (row.scope == ComparisonScope::Tensor) REQUIRE(row.tensor == &k.m.table.tensors[r]);
        if (row.scope == ComparisonScope::All) {
            // the readout's 1/a pooled with everyone's 0.5 a: the median
            // ratio stays 0.5 (the readout is 56 of the 1028 elements), the
            // correlation is that of all the used pairs together
            REQUIRE(st.used == k.m.table.total - 4);
            REQUIRE(st.median_ratio == Approx(0.5).epsilon(1e-12));
            std::vector<double> lh, ls;
            for (size_t i = 0; i < k.m.table.total; i++)
                if (comparable(k.e.diag[i], k.s[i])) lh.push_back(std::log(std::fabs(k.e.diag[i]))), ls.push_back(std::log(k.s[i]));
            REQUIRE(lh.size() == st.used);
            REQUIRE(st.corr_log == Approx(pearson_correlation(lh, ls)).epsilon(1e-12));
            REQUIRE(st.corr_log < 0.99);
            continue;
        }
        const bool readout = row.role == TensorRole::Readout;
        const bool has_wte = row.role == TensorRole::TokenEmbedding;
        REQUIRE(st.used == st.numel - (has_wte ? 4 : 0));
        REQUIRE(st.corr_log == Approx(readout ? -1.0 : 1.0).epsilon(1e-12));
        if (!readout) REQUIRE(st.median_ratio == Approx(0.5).epsilon(1e-12));
        REQUIRE(st.frac_below_eps == Approx(has_wte ? 2.0 / (double)st.used : 0.0).margin(1e-15));
        REQUIRE(st.frac_resolved == Approx(0.5).margin(1.0 / (double)st.used + 1e-12));
    }
    // the readout's ratio 1 / a^2 has its median at the median element:
    // a = exp(0.01 k - 2) over k = 0 .. 55, so between k = 27 and 28
    const ComparisonRow& readout = rows[tensors - 1];
    REQUIRE(readout.tensor->role == TensorRole::Readout);
    const double a27 = std::exp(0.27 - 2), a28 = std::exp(0.28 - 2);
    REQUIRE(readout.stats.median_ratio == Approx((1 / (a27 * a27) + 1 / (a28 * a28)) / 2).epsilon(1e-12));
    REQUIRE(readout.stats.median_abs_h == Approx((a27 + a28) / 2).epsilon(1e-12));
}

TEST_CASE("tensors under Muon take no part in the pooled rows", "[hessian]") {
    KnownComparison k;
    GPT<float> muon;
    OptimizerConfig o;
    o.hidden = OptimizerKind::Muon;
    gpt_build_parameterized(muon, tiny_config(), ParamConfig(), o);
    std::vector<double> s = k.s;
    for (const TensorInfo& t : muon.table.tensors)
        if (t.optim.kind != OptimizerKind::AdamW) std::fill(s.begin() + t.offset, s.begin() + t.offset + t.numel, 0.0);
    const std::vector<ComparisonRow> rows = compare_with_adam(muon.table, k.e, s);
    size_t hidden_elements = 0;
    for (const ComparisonRow& r : rows) {
        if (r.scope == ComparisonScope::Tensor && r.role == TensorRole::HiddenMatrix) {
            REQUIRE(r.stats.used == 0);
            REQUIRE(std::isnan(r.stats.corr_log));
            hidden_elements += r.tensor->numel;
        }
        if (r.scope == ComparisonScope::Role && r.role == TensorRole::HiddenMatrix) REQUIRE(r.stats.numel == 0);
        if (r.scope == ComparisonScope::All) REQUIRE(r.stats.numel == muon.table.total - hidden_elements);
    }
    REQUIRE(hidden_elements > 0);
}

TEST_CASE("hessian.csv: the header's columns on every row; the scatter has one series per role", "[hessian]") {
    KnownComparison k;
    const std::vector<ComparisonRow> rows = compare_with_adam(k.m.table, k.e, k.s);
    HessianSetup setup{12, 32, 4, 1e-4, 3e-6};
    const CsvTable csv = parse_csv(hessian_csv(rows, setup), "hessian.csv");
    REQUIRE(csv.header == split(HESSIAN_CSV_HEADER, ','));
    REQUIRE(csv.rows.size() == rows.size());
    const CsvRow& first = csv.rows.front();
    REQUIRE(csv.text(first, csv.col("name")) == "transformer.wte.weight");
    REQUIRE(csv.number(first, csv.col("corr_log")) == Approx(1.0).epsilon(1e-5));
    REQUIRE(csv.number(first, csv.col("probes")) == 32);
    REQUIRE(csv.number(first, csv.col("eps")) == 1e-8);
    const CsvRow& last = csv.rows.back();
    REQUIRE(csv.text(last, csv.col("scope")) == "all");
    REQUIRE(csv.text(last, csv.col("eps")).empty());
    REQUIRE(hessian_table(rows).find("transformer.h.0.mlp.c_proj.weight") != std::string::npos);

    const Figure fig = hessian_scatter(k.m.table, k.e, k.s, 10, setup);
    REQUIRE(fig.panels.size() == 1);
    const Panel& p = fig.panels[0];
    REQUIRE(p.log_x == 10);
    REQUIRE(p.series.size() == 7 + 1);  // the roles and the line sqrt(v_hat) = |diag H|
    for (size_t i = 0; i + 1 < p.series.size(); i++) {
        REQUIRE_FALSE(p.series[i].line);
        REQUIRE(p.series[i].x.size() <= 10);
        for (size_t j = 0; j < p.series[i].x.size(); j++) REQUIRE(p.series[i].x[j] > 0);
    }
    REQUIRE(p.series.back().line);
}

// --------------------------------------------------------------- the command

namespace {
void expect_error(const std::string& args, const std::string& message) {
    CommandResult r = run_command(lrt_binary() + " hessian " + args);
    INFO("lrt hessian " << args << "\n" << r.output);
    REQUIRE_FALSE(r.crashed);
    REQUIRE(r.exit_code == 1);
    REQUIRE_THAT(r.output, Catch::Contains("error: ") && Catch::Contains(message));
}

// "loss at the checkpoint: X" from the command's output
double printed_loss(const std::string& output) {
    const size_t at = output.find("loss at the checkpoint: ");
    return at == std::string::npos ? NAN : std::atof(output.c_str() + at + 24);
}
}  // namespace

TEST_CASE("lrt hessian on a trained checkpoint: the next batches' loss, the CSV and the plot", "[hessian][cli]") {
    TempDir dir;
    const std::string run = dir.file("run");
    // two micro-batches per step, so the batches are cut as training cuts them
    const std::string train = lrt_binary() + " train --width 16 --depth 1 --head-dim 8 --seq-len 16 --batch-size 4 "
                              "--grad-accum 2 --steps 4 --warmup-steps 1 --sample-length 0 --val-every 0 --quiet "
                              "--synth-train-tokens 20000 --synth-val-tokens 2048 --out-dir " + run;
    CommandResult t = run_command(train + " --stop-after 3");
    INFO(t.output);
    REQUIRE(t.exit_code == 0);
    CommandResult h = run_command(lrt_binary() + " hessian --checkpoint " + run + " --probes 3 --batches 1");
    INFO(h.output);
    REQUIRE(h.exit_code == 0);
    REQUIRE_THAT(h.output, Catch::Contains("probe 3/3") && Catch::Contains("ETA") && Catch::Contains("3 Rademacher probes") &&
                               Catch::Contains("h = 0.0001 x RMS") &&
                               Catch::Contains("finite differences: H z has a relative error of"));
    // the default --out-dir: next to the checkpoint
    const CsvTable csv = read_csv(run + "/hessian/hessian.csv");
    REQUIRE(file_exists(run + "/hessian/hessian_scatter.svg"));
    REQUIRE(csv.header == split(HESSIAN_CSV_HEADER, ','));
    size_t tensors = 0, roles = 0, all = 0;
    for (const CsvRow& row : csv.rows) {
        const std::string scope = csv.text(row, csv.col("scope"));
        tensors += scope == "tensor", roles += scope == "role", all += scope == "all";
        REQUIRE(csv.number(row, csv.col("probes")) == 3);
        REQUIRE(csv.number(row, csv.col("batches")) == 1);
        REQUIRE(csv.number(row, csv.col("checkpoint_step")) == 3);
        REQUIRE(csv.finite_number(row, csv.col("fd_rel_error")) < 1e-3);
    }
    // wte, wpe, lnf w+b, readout, and 12 per block; biases on: all 7 roles
    REQUIRE(tensors == 5 + 12);
    REQUIRE(roles == 7);
    REQUIRE(all == 1);
    REQUIRE(csv.finite_number(csv.rows.back(), csv.col("used")) > 0);

    // the loss it estimates is the one the run's next step trains on: step 3's
    // train_loss once the run goes on (float there, double here)
    CommandResult resumed = run_command(train + " --resume " + run);
    INFO(resumed.output);
    REQUIRE(resumed.exit_code == 0);
    const CsvTable log = read_csv(run + "/log.csv");
    double step3 = NAN;
    for (const CsvRow& row : log.rows)
        if (log.number(row, log.col("step")) == 3 && !log.text(row, log.col("train_loss")).empty())
            step3 = log.number(row, log.col("train_loss"));
    REQUIRE(printed_loss(h.output) == Approx(step3).margin(1e-4));

    // --out-dir and --quiet
    CommandResult q = run_command(lrt_binary() + " hessian --checkpoint " + run + "/checkpoint.safetensors --probes 2 "
                                  "--batches 1 --quiet --out-dir " + dir.file("elsewhere"));
    INFO(q.output);
    REQUIRE(q.exit_code == 0);
    REQUIRE(q.output.find("probe 1/2") == std::string::npos);
    REQUIRE(file_exists(dir.file("elsewhere/hessian.csv")));
}

TEST_CASE("lrt hessian: --help, and bad input fails with a message", "[hessian][cli]") {
    CommandResult help = run_command(lrt_binary() + " hessian --help");
    INFO(help.output);
    REQUIRE(help.exit_code == 0);
    REQUIRE_THAT(help.output, Catch::Contains("usage: lrt hessian") && Catch::Contains("--probes") &&
                                  Catch::Contains("--fd-step") && Catch::Contains("CPU only"));
    REQUIRE_THAT(run_command(lrt_binary() + " --help").output, Catch::Contains("hessian"));

    TempDir dir;
    expect_error("", "--checkpoint is required");
    expect_error("--checkpoint " + dir.file("missing.safetensors"), "cannot open");
    expect_error("--checkpoint " + dir.path, "cannot open");  // a directory without a checkpoint
    write_file_atomic(dir.file("junk.safetensors"), std::string("not a checkpoint at all"));
    expect_error("--checkpoint " + dir.file("junk.safetensors"), "junk.safetensors");
    expect_error("--checkpoint x --probes 0", "--probes must be in [1, 1000000], got 0");
    expect_error("--checkpoint x --batches -2", "--batches must be in");
    expect_error("--checkpoint x --fd-step abc", "--fd-step expects a number");
    expect_error("--checkpoint x --fd-step 0", "--fd-step must be in");
    expect_error("--checkpoint x --probs 3", "unknown flag --probs");
    expect_error("--checkpoint x stray", "unexpected argument 'stray'");
}
