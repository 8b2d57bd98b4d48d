// The gradient noise scale's arithmetic (src/study/noise_scale.h) on a
// problem with a known answer: gradients drawn as G + Gaussian noise with set
// per-component variances, so |G|², tr Σ and B_simple are known exactly.
#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

#include "study/noise_scale.h"
#include "util/rng.h"

namespace {

// Per-example gradients g = G + e, e_j ~ N(0, sigma_j²) independent, so
// tr Σ = Σ_j sigma_j². A micro-batch gradient is the mean of b_small of them;
// a step has K micro-batches (b_big = K b_small), as `lrt train --grad-accum K`.
struct SyntheticGradients {
    std::vector<double> G, sigma;
    double g2() const {
        double s = 0;
        for (double x : G) s += x * x;
        return s;
    }
    double trace() const {
        double s = 0;
        for (double x : sigma) s += x * x;
        return s;
    }
    static SyntheticGradients make(int dims, double g_scale, double sigma_scale) {
        SyntheticGradients p;
        Rng rng(11);
        for (int j = 0; j < dims; j++) {
            p.G.push_back(g_scale * rng.normal());
            p.sigma.push_back(sigma_scale * (0.5 + rng.uniform()));  // unequal variances
        }
        return p;
    }
    // One step's two squared norms: the mean of the micro-batch gradients'
    // squared norms, and the squared norm of their mean.
    void draw(Rng& rng, int b_small, int K, double* sq_small, double* sq_big) const {
        const size_t D = G.size();
        std::vector<double> big(D, 0.0), micro(D);
        double small_sum = 0;
        for (int k = 0; k < K; k++) {
            std::fill(micro.begin(), micro.end(), 0.0);
            for (int i = 0; i < b_small; i++)
                for (size_t j = 0; j < D; j++) micro[j] += G[j] + sigma[j] * rng.normal();
            double sq = 0;
            for (size_t j = 0; j < D; j++) {
                micro[j] /= b_small;
                sq += micro[j] * micro[j];
                big[j] += micro[j] / K;
            }
            small_sum += sq;
        }
        *sq_small = small_sum / K;
        *sq_big = 0;
        for (double x : big) *sq_big += x * x;
    }
};

}  // namespace

TEST_CASE("noise scale: the two-batch equations are exact on exact expectations", "[noise]") {
    // E|g_b|² = |G|² + tr Σ / b: given those values, the two unknowns come back
    const double g2 = 3.5, trace = 120, b_small = 4, b_big = 16;
    NoiseEstimate e = two_batch_estimate(g2 + trace / b_small, g2 + trace / b_big, b_small, b_big);
    CHECK(e.g2 == Approx(g2).epsilon(1e-12));
    CHECK(e.trace == Approx(trace).epsilon(1e-12));
    CHECK_THROWS_WITH(two_batch_estimate(1, 1, 4, 4), Catch::Contains("b_small < b_big"));
}

TEST_CASE("noise scale: the estimates of |G|^2 and tr Sigma converge to the truth over many draws", "[noise]") {
    const SyntheticGradients p = SyntheticGradients::make(40, 1.0, 2.0);
    const double g2 = p.g2(), trace = p.trace();
    for (int K : {2, 4}) {
        const int b_small = 3, draws = 20000;
        Rng rng(100 + (uint64_t)K);
        double sum_g2 = 0, sum_g2_sq = 0, sum_tr = 0, sum_tr_sq = 0;
        for (int d = 0; d < draws; d++) {
            double sq_small, sq_big;
            p.draw(rng, b_small, K, &sq_small, &sq_big);
            NoiseEstimate e = two_batch_estimate(sq_small, sq_big, b_small, b_small * K);
            sum_g2 += e.g2, sum_g2_sq += e.g2 * e.g2, sum_tr += e.trace, sum_tr_sq += e.trace * e.trace;
        }
        // unbiased: the mean of the draws lies within 4 standard errors of the
        // truth (a false alarm about once in 16000), and that error is itself
        // small (under 5% of |G|², under 2% of tr Σ) so the check has teeth
        const double mean_g2 = sum_g2 / draws, mean_tr = sum_tr / draws;
        const double se_g2 = std::sqrt((sum_g2_sq / draws - mean_g2 * mean_g2) / draws);
        const double se_tr = std::sqrt((sum_tr_sq / draws - mean_tr * mean_tr) / draws);
        INFO("K " << K << ": |G|^2 " << mean_g2 << " +- " << se_g2 << " (truth " << g2 << "), tr Sigma " << mean_tr
                  << " +- " << se_tr << " (truth " << trace << ")");
        CHECK(std::abs(mean_g2 - g2) < 4 * se_g2);
        CHECK(std::abs(mean_tr - trace) < 4 * se_tr);
        CHECK(4 * se_g2 < 0.05 * g2);
        CHECK(4 * se_tr < 0.02 * trace);
    }
}

TEST_CASE("noise scale: the smoothed B_simple approaches tr Sigma / |G|^2", "[noise]") {
    const SyntheticGradients p = SyntheticGradients::make(40, 1.0, 2.0);
    const double truth = p.trace() / p.g2();
    // the average of the last half of the smoothed ratios over a long run:
    // the moving average keeps about 40 measurements, so one value is noisy,
    // but their run-long mean sits within 5% (a ratio of averages carries a
    // small bias, well under that here)
    NoiseEma ema;
    Rng rng(7);
    const int measurements = 4000, b_small = 3, K = 4;
    double sum = 0;
    int counted = 0;
    for (int d = 0; d < measurements; d++) {
        double sq_small, sq_big;
        p.draw(rng, b_small, K, &sq_small, &sq_big);
        ema.add(two_batch_estimate(sq_small, sq_big, b_small, b_small * K));
        if (d >= measurements / 2) sum += ema.b_simple(), counted++;
    }
    INFO("B_simple " << sum / counted << ", truth " << truth);
    CHECK(sum / counted == Approx(truth).epsilon(0.05));
}

TEST_CASE("noise scale: the moving average is bias-corrected and refuses a ratio it cannot form", "[noise]") {
    NoiseEma ema;
    CHECK(std::isnan(ema.b_simple()));  // no measurement yet
    CHECK(ema.smoothed().g2 == 0);
    // a constant stream is its own average from the first measurement on
    // (no pull toward the zero start)
    for (int i = 0; i < 5; i++) {
        ema.add({2.0, 30.0});
        CHECK(ema.smoothed().g2 == Approx(2.0).epsilon(1e-12));
        CHECK(ema.smoothed().trace == Approx(30.0).epsilon(1e-12));
        CHECK(ema.b_simple() == Approx(15.0).epsilon(1e-12));
    }
    // the newest measurement weighs 1 - 0.95 against the rest
    NoiseEma two;
    two.add({1.0, 1.0});
    two.add({3.0, 1.0});
    CHECK(two.smoothed().g2 == Approx((0.95 * 0.05 * 1.0 + 0.05 * 3.0) / (1 - 0.95 * 0.95)).epsilon(1e-12));
    // a non-positive smoothed |G|² (noise dominating) gives no ratio
    NoiseEma negative;
    negative.add({-1.0, 5.0});
    CHECK(std::isnan(negative.b_simple()));
}
