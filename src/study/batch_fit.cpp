// Fits of the optimal LR against batch size (see batch_fit.h).
#include "study/batch_fit.h"

#include <algorithm>
#include <cmath>

#include "study/drift.h"
#include "util/util.h"

const char* batch_law_name(BatchLaw law) { return law == BatchLaw::McCandlish ? "mccandlish" : "surge"; }

// log2 of the law's divisor: eta*(B) = eta_max / 2^shape
static double log2_shape(BatchLaw law, double log2_bnoise, double log2_batch) {
    const double u = log2_bnoise - log2_batch;  // log2(B_noise / B)
    if (law == BatchLaw::McCandlish) return u > 0 ? u + std::log2(1 + std::exp2(-u)) : std::log2(1 + std::exp2(u));
    // 0.5 (2^(u/2) + 2^(-u/2)) = cosh(u ln2 / 2)
    return std::log2(std::cosh(0.5 * u * std::log(2.0)));
}

double batch_law_lr(BatchLaw law, double eta_max, double b_noise, double batch) {
    return eta_max / std::exp2(log2_shape(law, std::log2(b_noise), std::log2(batch)));
}

// For a fixed log2(B_noise): the best log2(eta_max) and the residual sum of squares.
static double rss_at(BatchLaw law, double log2_bnoise, const std::vector<double>& x, const std::vector<double>& y,
                     double* log2_eta_max) {
    double m = 0;
    for (size_t i = 0; i < x.size(); i++) m += y[i] + log2_shape(law, log2_bnoise, x[i]);
    m /= (double)x.size();
    double rss = 0;
    for (size_t i = 0; i < x.size(); i++) {
        const double r = y[i] - (m - log2_shape(law, log2_bnoise, x[i]));
        rss += r * r;
    }
    *log2_eta_max = m;
    return rss;
}

BatchFit fit_batch_law(BatchLaw law, const std::vector<double>& batch, const std::vector<double>& lr) {
    if (batch.size() != lr.size()) fail("fit_batch_law: one optimum per batch size is needed");
    std::vector<double> x, y;
    for (size_t i = 0; i < batch.size(); i++) {
        if (!(batch[i] > 0) || !(lr[i] > 0) || !std::isfinite(lr[i]))
            fail("fit_batch_law: batch sizes and learning rates must be positive and finite");
        x.push_back(std::log2(batch[i]));
        y.push_back(std::log2(lr[i]));
    }
    const double lo = *std::min_element(x.begin(), x.end()) - 10, hi = *std::max_element(x.begin(), x.end()) + 10;
    if (hi - lo <= 20) fail("fit_batch_law: at least two distinct batch sizes are needed");
    const double step = 1.0 / 64;
    double best_u = lo, best = INFINITY, unused;
    for (double u = lo; u <= hi + 1e-9; u += step) {
        const double r = rss_at(law, u, x, y, &unused);
        if (r < best) best = r, best_u = u;
    }
    // golden-section search within one grid step either side of the best point
    double a = std::max(lo, best_u - step), b = std::min(hi, best_u + step);
    const double g = 0.5 * (std::sqrt(5.0) - 1);
    for (int k = 0; k < 60; k++) {
        const double c = b - g * (b - a), d = a + g * (b - a);
        if (rss_at(law, c, x, y, &unused) < rss_at(law, d, x, y, &unused)) b = d;
        else a = c;
    }
    const double u = 0.5 * (a + b);
    BatchFit f;
    f.law = law;
    double log2_eta;
    const double rss = rss_at(law, u, x, y, &log2_eta);
    f.eta_max = std::exp2(log2_eta);
    f.b_noise = f.b_noise_lo = f.b_noise_hi = std::exp2(u);
    f.rms_octaves = std::sqrt(rss / (double)x.size());
    f.b_noise_at_edge = u < lo + step || u > hi - step;
    return f;
}

BatchFit fit_batch_law_seeds(BatchLaw law, const std::vector<double>& batch,
                             const std::vector<std::vector<double>>& per_batch) {
    if (batch.size() != per_batch.size()) fail("fit_batch_law_seeds: one list of optima per batch size is needed");
    std::vector<double> mean_lr;
    for (const auto& seeds : per_batch) {
        if (seeds.empty()) fail("fit_batch_law_seeds: a batch size without optima");
        double m = 0;
        for (double lr : seeds) m += std::log2(lr);
        mean_lr.push_back(std::exp2(m / (double)seeds.size()));
    }
    BatchFit f = fit_batch_law(law, batch, mean_lr);
    std::vector<double> log2_bnoise;
    for_each_seed_pick(per_batch, [&](const std::vector<double>& lr) {
        log2_bnoise.push_back(std::log2(fit_batch_law(law, batch, lr).b_noise));
    });
    f.resamples = (int64_t)log2_bnoise.size();
    if (log2_bnoise.size() > 1) {
        f.b_noise_lo = std::exp2(quantile(log2_bnoise, 0.025));
        f.b_noise_hi = std::exp2(quantile(log2_bnoise, 0.975));
    }
    return f;
}

BatchSlope batch_slope(const std::vector<double>& batch, const std::vector<std::vector<double>>& per_batch) {
    if (batch.size() != per_batch.size()) fail("batch_slope: one list of optima per batch size is needed");
    std::vector<double> x;
    std::vector<std::vector<double>> y;
    for (size_t i = 0; i < batch.size(); i++) {
        x.push_back(std::log2(batch[i]));
        y.push_back({});
        for (double lr : per_batch[i]) y.back().push_back(std::log2(lr));
    }
    BatchSlope out;
    if (x.empty()) return out;
    // the drift is the slope times the range of x: divide it back out
    const double range = *std::max_element(x.begin(), x.end()) - *std::min_element(x.begin(), x.end());
    if (!(range > 0)) return out;
    const DriftInterval d = bootstrap_drift(x, y);
    out.slope = d.mean / range, out.lo = d.lo / range, out.hi = d.hi / range;
    return out;
}
