// How the optimal learning rate should move with the batch size, and fits of
// those laws to the optima of a batch-size sweep (lrt sweep --axis batch-size=...).
//
// Two laws, both with a peak LR eta_max and a noise scale B_noise:
//   McCandlish et al. (2018), SGD:       eta*(B) = eta_max / (1 + B_noise / B)
//     (linear in B well below B_noise, flat well above it);
//   the "surge" (Li et al. 2024), Adam seen as sign descent:
//                                        eta*(B) = eta_max / (0.5 (sqrt(B_noise / B) + sqrt(B / B_noise)))
//     (grows like sqrt(B) below B_noise, peaks at B = B_noise, then falls).
//
// The fit is least squares in log2(lr): for a fixed B_noise the best
// log2(eta_max) is the mean of log2(lr_i) + log2(shape_i), so the fit is a
// one-dimensional search over log2(B_noise): a grid of 1/64 octave from 10
// octaves below the smallest batch to 10 above the largest, then a golden-
// section refinement. A B_noise that ends at either end of that range is
// flagged: the data only bound it (all batches far above or far below it).
//
// The interval of B_noise comes from the seeds, as the drift's does
// (drift.h): every way of picking one seed's optimum per batch size (or 2000
// random picks), each fitted; the 2.5 and 97.5 percentiles of their
// log2(B_noise).
#pragma once
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

enum class BatchLaw { McCandlish, Surge };
const char* batch_law_name(BatchLaw law);  // "mccandlish", "surge"

// eta*(B) under the law.
double batch_law_lr(BatchLaw law, double eta_max, double b_noise, double batch);

struct BatchFit {
    BatchLaw law = BatchLaw::McCandlish;
    double eta_max = 0, b_noise = 0;
    double rms_octaves = 0;       // root mean square residual in log2(lr)
    bool b_noise_at_edge = false;  // the search range's end: a bound, not an estimate
    double b_noise_lo = 0, b_noise_hi = 0;  // the seeds' interval (equal to b_noise with one seed per batch)
    int64_t resamples = 0;
};

// The least-squares fit to optima lr[i] at batch sizes batch[i] (>= 2 distinct
// batch sizes, all positive), without an interval.
BatchFit fit_batch_law(BatchLaw law, const std::vector<double>& batch, const std::vector<double>& lr);

// The fit to the seed-averaged optima (geometric mean per batch size) with
// the interval over seeds: per_batch[i] holds batch[i]'s per-seed optima.
BatchFit fit_batch_law_seeds(BatchLaw law, const std::vector<double>& batch,
                             const std::vector<std::vector<double>>& per_batch);

// How fast the optimum grows with the batch, whatever the law: the least-
// squares slope of log2(lr*) against log2(B) (1 = linear scaling, 0.5 = the
// square-root rule, 0 = flat), with the seeds' interval resampled as the
// drift's is (drift.h): the seed-averaged point and the 2.5-97.5% spread.
struct BatchSlope {
    double slope = NAN, lo = NAN, hi = NAN;
};
BatchSlope batch_slope(const std::vector<double>& batch, const std::vector<std::vector<double>>& per_batch);
