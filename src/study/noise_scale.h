// The gradient noise scale (McCandlish et al. 2018, "An Empirical Model of
// Large-Batch Training", Appendix A.1), from gradients a step computes anyway
// when it accumulates micro-batches (`lrt train --grad-accum K`, K >= 2).
//
// A gradient over b examples is G + noise with E|g_b|² = |G|² + tr Σ / b
// (Σ: the covariance of one example's gradient). Two batch sizes give two
// equations in the two unknowns |G|² and tr Σ:
//
//   |G|²  ≈ (b_big |g_big|² − b_small |g_small|²) / (b_big − b_small)
//   tr Σ  ≈ (|g_small|² − |g_big|²) / (1/b_small − 1/b_big)
//
// Each is unbiased but noisy (|G|² may even come out negative), so both are
// smoothed over measurements before their ratio B_simple = tr Σ / |G|² is
// taken: the critical batch size's simple estimate, in the unit b is counted
// in (`lrt train` counts sequences).
//
// Pure arithmetic here; the step (train/step.h) supplies the squared norms.
#pragma once
#include <cstdint>

struct NoiseEstimate {
    double g2 = 0;     // |G|², the true gradient's squared norm
    double trace = 0;  // tr Σ, the per-example gradient noise
};

// One two-batch estimate: sq_small the mean squared norm of gradients over
// b_small examples, sq_big the squared norm of one over b_big > b_small.
NoiseEstimate two_batch_estimate(double sq_small, double sq_big, double b_small, double b_big);

// Exponential moving averages of |G|² and tr Σ, one update per measurement,
// bias-corrected as Adam's moments are (an average of n measurements divides
// by 1 − decay^n), so the first measurement counts fully instead of being
// pulled toward an arbitrary zero start.
struct NoiseEma {
    static constexpr double kDecay = 0.95;  // about 20 measurements of memory
    double g2 = 0, trace = 0;  // the raw (uncorrected) averages
    int64_t count = 0;         // measurements so far

    void add(const NoiseEstimate& e);
    NoiseEstimate smoothed() const;  // bias-corrected; zeros before the first measurement
    // tr Σ / |G|² of the smoothed values; NaN while the smoothed |G|² is not
    // positive (no measurement yet, or the noise still dominates)
    double b_simple() const;
};
