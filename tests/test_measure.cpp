// The per-matrix measurements of docs/science.md §2-3: a case worked on paper, the
// identity rrc = alignment_ratio * rel_update, accuracy against double
// references, the alignment scalings µP assumes, the weight-decay equilibrium
// in a simulated AdamW run, the small-angle accuracy of the angle, and NaN for
// the undefined ratios.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <vector>

#include "study/measure.h"
#include "util/rng.h"
#ifdef _OPENMP
#include <omp.h>
#endif

namespace {

std::vector<float> gaussian(size_t count, double stddev, Rng& r) {
    std::vector<float> v(count);
    for (auto& x : v) x = (float)(stddev * r.normal());
    return v;
}

// ‖X W^T‖ in long double with plain loops, W (K,C), X (n,C).
double product_norm_reference(const std::vector<float>& w, const std::vector<float>& x, int K, int C, int n) {
    long double s = 0;
    for (int i = 0; i < n; i++)
        for (int k = 0; k < K; k++) {
            long double y = 0;
            for (int c = 0; c < C; c++) y += (long double)x[(size_t)i * C + c] * w[(size_t)k * C + c];
            s += y * y;
        }
    return (double)std::sqrt(s);
}

// The angle between two matrices from the part of b orthogonal to a, in long
// double: atan2(‖b - (a.b/|a|^2) a‖, a.b/|a|). A different formula from the
// chord one measure_matrix uses, and accurate at any angle.
double angle_reference(const std::vector<float>& a, const std::vector<float>& b) {
    long double aa = 0, ab = 0;
    for (size_t i = 0; i < a.size(); i++) {
        aa += (long double)a[i] * a[i];
        ab += (long double)a[i] * b[i];
    }
    const long double c = ab / aa;
    long double perp2 = 0;
    for (size_t i = 0; i < a.size(); i++) {
        const long double e = (long double)b[i] - c * a[i];
        perp2 += e * e;
    }
    return (double)std::atan2(std::sqrt(perp2), ab / std::sqrt(aa));
}

}  // namespace

TEST_CASE("measure_matrix on a case worked on paper", "[measure]") {
    // W_before = 2 I (K = C = 2); X has two orthogonal rows (3,0) and (0,4);
    // ΔW = g e1^T with g = (1/4, 1/4): rank 1, along the first input row.
    const std::vector<float> wb = {2, 0, 0, 2}, wa = {2.25f, 0, 0.25f, 2}, x = {3, 0, 0, 4};
    const double lr = 0.5, d = 0.125, beta1 = 0.9;
    MatrixStats s = measure_matrix(wb.data(), wa.data(), 2, 2, x.data(), 2, lr, d, beta1);
    const double r2 = std::sqrt(2.0);
    CHECK(s.w_norm == Approx(2 * r2).epsilon(1e-15));
    CHECK(s.dw_norm == Approx(0.25 * r2).epsilon(1e-15));
    CHECK(s.x_norm == Approx(5).epsilon(1e-15));
    CHECK(s.wx_norm == Approx(10).epsilon(1e-15));  // X W^T = 2 X
    // X ΔW^T: row (3,0) gives (3/4, 3/4), row (0,4) gives (0,0)
    CHECK(s.dwx_norm == Approx(0.75 * r2).epsilon(1e-15));
    CHECK(s.rel_update == Approx(1.0 / 8).epsilon(1e-15));
    CHECK(s.rrc == Approx(0.075 * r2).epsilon(1e-15));
    CHECK(s.alpha_w == Approx(1 / r2).epsilon(1e-15));  // an orthogonal W: 1/sqrt(C)
    // a rank-1 update along one input row sees only that row: |x1| / ‖X‖
    CHECK(s.alpha_dw == Approx(3.0 / 5).epsilon(1e-15));
    CHECK(s.alignment_ratio == Approx(0.6 * r2).epsilon(1e-15));
    CHECK(s.w_rms == Approx(r2).epsilon(1e-15));
    // u = -(ΔW + d W)/lr = -2 ΔW - I/2 = [[-1, 0], [-1/2, -1/2]]
    CHECK(s.u_rms == Approx(std::sqrt(1.5 / 4)).epsilon(1e-15));
    CHECK(s.w_rms_equilibrium == Approx(std::sqrt(1.5 / 4)).epsilon(1e-15));  // lr/sqrt(2d) = 1
    CHECK(s.rel_update_equilibrium == Approx(0.5).epsilon(1e-15));
    CHECK(s.angular_equilibrium == Approx(1 / std::sqrt(76.0)).epsilon(1e-15));  // 2d(0.1/1.9) = 1/76
    // |W_b|^2 |W_a|^2 = 8 * 9.125 = 73, W_b.W_a = 8.5, so sin^2 |.|^2 = 0.75
    // and tan(angle) = sqrt(0.75)/8.5 = sqrt(3)/17
    CHECK(s.angular_update == Approx(std::atan(std::sqrt(3.0) / 17)).epsilon(1e-15));

    // with the aligned input row alone, the update is perfectly aligned
    MatrixStats one = measure_matrix(wb.data(), wa.data(), 2, 2, x.data(), 1, lr, d, beta1);
    CHECK(one.alpha_dw == Approx(1).epsilon(1e-15));
    CHECK(one.alpha_w == Approx(1 / r2).epsilon(1e-15));
    CHECK(one.alignment_ratio == Approx(r2).epsilon(1e-15));
}

TEST_CASE("rrc equals alignment ratio times relative update", "[measure]") {
    Rng r(11);
    struct Shape { int K, C, n; };
    for (Shape sh : {Shape{64, 48, 33}, Shape{7, 130, 5}, Shape{200, 16, 1}}) {
        std::vector<float> wb = gaussian((size_t)sh.K * sh.C, 0.05, r), wa = wb, x = gaussian((size_t)sh.n * sh.C, 1, r);
        for (auto& w : wa) w += (float)(1e-3 * r.normal());
        MatrixStats s = measure_matrix(wb.data(), wa.data(), sh.K, sh.C, x.data(), sh.n, 1e-3, 1e-4, 0.9);
        INFO("K " << sh.K << " C " << sh.C << " n " << sh.n);
        REQUIRE(s.rrc > 0);
        CHECK(s.rrc == Approx(s.alignment_ratio * s.rel_update).epsilon(1e-12));
        CHECK(s.alpha_w == Approx(s.wx_norm / (s.w_norm * s.x_norm)).epsilon(1e-15));
    }
}

TEST_CASE("measure_matrix matches long-double references for a tiny update", "[measure]") {
    // ΔW is 1e-4 of W: forming X W_after^T - X W_before^T in float would lose
    // about three digits of ‖X ΔW^T‖; forming ΔW first keeps float accuracy.
    const int K = 96, C = 200, n = 40;
    Rng r(5);
    std::vector<float> wb = gaussian((size_t)K * C, 1, r), wa(wb.size()), x = gaussian((size_t)n * C, 1, r);
    std::vector<float> dw_exact(wb.size());
    for (size_t i = 0; i < wb.size(); i++) {
        wa[i] = wb[i] + (float)(1e-4 * r.normal());
        dw_exact[i] = wa[i] - wb[i];  // exact: nearby floats (Sterbenz), or tiny
    }
    MatrixStats s = measure_matrix(wb.data(), wa.data(), K, C, x.data(), n, 1e-3, 0, 0.9);
    long double w2 = 0, dw2 = 0, x2 = 0;
    for (size_t i = 0; i < wb.size(); i++) {
        w2 += (long double)wb[i] * wb[i];
        dw2 += (long double)dw_exact[i] * dw_exact[i];
    }
    for (float v : x) x2 += (long double)v * v;
    CHECK(s.w_norm == Approx((double)std::sqrt(w2)).epsilon(1e-13));
    CHECK(s.dw_norm == Approx((double)std::sqrt(dw2)).epsilon(1e-13));
    CHECK(s.x_norm == Approx((double)std::sqrt(x2)).epsilon(1e-13));
    CHECK(s.wx_norm == Approx(product_norm_reference(wb, x, K, C, n)).epsilon(1e-6));
    CHECK(s.dwx_norm == Approx(product_norm_reference(dw_exact, x, K, C, n)).epsilon(1e-6));
    CHECK(s.angular_update == Approx(angle_reference(wb, wa)).epsilon(1e-9));
}

TEST_CASE("measure_matrix gives the same bits on any number of threads", "[measure]") {
    const int K = 300, C = 200, n = 70;  // K C above the threading threshold
    Rng r(13);
    std::vector<float> wb = gaussian((size_t)K * C, 0.05, r), wa = wb, x = gaussian((size_t)n * C, 1, r);
    for (auto& w : wa) w += (float)(1e-4 * r.normal());
    auto fields = [](const MatrixStats& s) {
        return std::vector<double>{s.w_norm, s.dw_norm, s.x_norm, s.wx_norm, s.dwx_norm, s.u_rms, s.angular_update};
    };
#ifdef _OPENMP
    const int saved = omp_get_max_threads();
    omp_set_num_threads(1);
#endif
    std::vector<double> one = fields(measure_matrix(wb.data(), wa.data(), K, C, x.data(), n, 1e-3, 1e-4, 0.9));
#ifdef _OPENMP
    omp_set_num_threads(3);
#endif
    std::vector<double> three = fields(measure_matrix(wb.data(), wa.data(), K, C, x.data(), n, 1e-3, 1e-4, 0.9));
#ifdef _OPENMP
    omp_set_num_threads(saved);
#endif
    CHECK(one == three);
}

TEST_CASE("alignment: random weights ~ 1/sqrt(C), a one-token update ~ 1", "[measure]") {
    const int K = 256, n = 256;
    Rng r(7);
    for (int C : {128, 512}) {
        INFO("C " << C);
        std::vector<float> wb = gaussian((size_t)K * C, 1 / std::sqrt((double)C), r);
        std::vector<float> x = gaussian((size_t)n * C, 1, r);
        // rank-1 update g x0^T along the first sampled input row
        std::vector<float> g = gaussian(K, 1e-3, r), wa = wb;
        for (int k = 0; k < K; k++)
            for (int c = 0; c < C; c++) wa[(size_t)k * C + c] += g[(size_t)k] * x[(size_t)c];
        // measured on that token alone: α_W ≈ 1/sqrt(C), α_ΔW = 1
        MatrixStats one = measure_matrix(wb.data(), wa.data(), K, C, x.data(), 1, 1e-3, 0, 0.9);
        CHECK(one.alpha_w * std::sqrt((double)C) > 0.5);
        CHECK(one.alpha_w * std::sqrt((double)C) < 2.0);
        CHECK(one.alpha_dw == Approx(1).epsilon(1e-3));  // ΔW rounded through float
        CHECK(one.alignment_ratio > std::sqrt((double)C) / 2);
        // over a batch of n tokens α_W keeps its 1/sqrt(C), but the other
        // tokens are nearly orthogonal to x0 and dilute the update's alignment
        // to sqrt((C + n)/(n C)) (‖X x0‖^2 ≈ C^2 + (n-1) C, ‖X‖^2 = n C):
        // the interference the paper blames for the ratio's fall
        MatrixStats all = measure_matrix(wb.data(), wa.data(), K, C, x.data(), n, 1e-3, 0, 0.9);
        CHECK(all.alpha_w * std::sqrt((double)C) > 0.5);
        CHECK(all.alpha_w * std::sqrt((double)C) < 2.0);
        CHECK(all.alpha_dw == Approx(std::sqrt((double)(C + n) / ((double)n * C))).epsilon(0.2));
        CHECK(all.alpha_dw < one.alpha_dw / 5);
    }
}

TEST_CASE("u_rms recovers the Adam direction; equilibrium formulas", "[measure]") {
    const int K = 64, C = 32;
    const double lr = 2e-3, lambda = 0.1, d = lr * lambda, beta1 = 0.9;
    Rng r(3);
    std::vector<float> wb = gaussian((size_t)K * C, 0.02, r), wa(wb.size());
    std::vector<double> u(wb.size());
    double u2 = 0;
    for (size_t i = 0; i < u.size(); i++) {
        u[i] = 0.7 * r.normal();
        u2 += u[i] * u[i];
        wa[i] = (float)((1 - d) * wb[i] - lr * u[i]);
    }
    const double u_rms = std::sqrt(u2 / (double)u.size());
    MatrixStats s = measure_matrix(wb.data(), wa.data(), K, C, nullptr, 0, lr, d, beta1);
    // W_after is rounded to float (2^-24 of |W| ~ 1e-9, against lr u ~ 1e-3)
    CHECK(s.u_rms == Approx(u_rms).epsilon(1e-5));
    CHECK(s.w_rms_equilibrium == Approx(lr * s.u_rms / std::sqrt(2 * d)).epsilon(1e-14));
    CHECK(s.w_rms_equilibrium == Approx(std::sqrt(lr / (2 * lambda)) * s.u_rms).epsilon(1e-14));
    CHECK(s.rel_update_equilibrium == Approx(std::sqrt(2 * lr * lambda)).epsilon(1e-14));
    CHECK(s.angular_equilibrium == Approx(std::sqrt(2 * lr * lambda * (1 - beta1) / (1 + beta1))).epsilon(1e-14));
    // without decay u is -ΔW/lr
    std::vector<float> wa0(wb.size());
    for (size_t i = 0; i < wb.size(); i++) wa0[i] = (float)(wb[i] - lr * u[i]);
    MatrixStats s0 = measure_matrix(wb.data(), wa0.data(), K, C, nullptr, 0, lr, 0, beta1);
    CHECK(s0.u_rms == Approx(u_rms).epsilon(1e-5));
    CHECK(s0.u_rms == Approx(s0.dw_norm / lr / std::sqrt((double)K * C)).epsilon(1e-12));
}

// W <- (1 - d) W - lr u with u the momentum of unit Gaussian gradients (what
// Adam's direction is for pure noise: v ≈ 1), run for 25 timescales 1/d and
// averaged over the last 5.
TEST_CASE("a simulated AdamW run settles at the weight-decay equilibrium", "[measure]") {
    const int K = 32, C = 32, steps = 5000, average_from = 4000;
    const double lr = 0.01, d = 0.005;
    for (double beta1 : {0.0, 0.9}) {
        INFO("beta1 " << beta1);
        Rng r(21);
        std::vector<float> w = gaussian((size_t)K * C, 0.01, r), next(w.size());
        std::vector<double> m(w.size(), 0.0);
        double w_rms = 0, w_rms_eq = 0, rel = 0, ang = 0, ang_eq = 0, rel_eq = 0;
        for (int t = 1; t <= steps; t++) {
            for (size_t i = 0; i < w.size(); i++) {
                m[i] = beta1 * m[i] + (1 - beta1) * r.normal();
                const double u = m[i] / (1 - std::pow(beta1, t));  // bias-corrected
                next[i] = (float)((1 - d) * w[i] - lr * u);
            }
            if (t > average_from) {
                MatrixStats s = measure_matrix(w.data(), next.data(), K, C, nullptr, 0, lr, d, beta1);
                w_rms += s.w_rms;
                w_rms_eq += s.w_rms_equilibrium;
                rel += s.rel_update;
                rel_eq += s.rel_update_equilibrium;
                ang += s.angular_update;
                ang_eq += s.angular_equilibrium;
            }
            w.swap(next);
        }
        // the angle settles at Kosson et al.'s prediction with or without momentum
        CHECK(ang / ang_eq == Approx(1).epsilon(0.05));
        if (beta1 == 0) {
            CHECK(w_rms / w_rms_eq == Approx(1).epsilon(0.05));
            CHECK(rel / rel_eq == Approx(1).epsilon(0.05));
        } else {
            // momentum correlates successive steps: the norm settles
            // sqrt((1+β1)/(1-β1)) above lr u_rms/sqrt(2d) and the relative
            // update at the angular equilibrium, not sqrt(2d) (measure.h)
            CHECK(w_rms / w_rms_eq == Approx(std::sqrt((1 + beta1) / (1 - beta1))).epsilon(0.05));
            CHECK(rel / ang_eq == Approx(1).epsilon(0.05));
        }
    }
}

TEST_CASE("angular_update recovers a known rotation, tiny or not", "[measure]") {
    // W has entries ±s on the even positions, V = ±1/8 on the odd ones: V is
    // orthogonal to W (disjoint supports) and unit-norm (64 entries), and
    // ‖W‖ = 8 s. W_after = cos θ W + sin θ ‖W‖ V is then exact in float up to
    // the rounding of cos θ and sin θ themselves (all entries of a part have
    // the same magnitude), so the true angle is atan2(sin_f, cos_f).
    const int K = 8, C = 16;
    Rng r(9);
    for (double theta : {1e-6, 0.3, 2.5}) {
        for (float scale : {1.0f, 0.0078125f}) {
            INFO("theta " << theta << " scale " << scale);
            const float cos_f = (float)std::cos(theta), sin_f = (float)std::sin(theta);
            std::vector<float> wb((size_t)K * C), wa(wb.size());
            for (size_t i = 0; i < wb.size(); i++) {
                const float sign = r.uniform() < 0.5 ? -1.0f : 1.0f;
                if (i % 2 == 0) {
                    wb[i] = sign * scale;
                    wa[i] = cos_f * wb[i];
                } else {
                    wb[i] = 0;
                    wa[i] = sin_f * (8 * scale) * (sign / 8);
                }
            }
            MatrixStats s = measure_matrix(wb.data(), wa.data(), K, C, nullptr, 0, 1e-3, 0, 0.9);
            const double truth = std::atan2((double)sin_f, (double)cos_f);
            CHECK(s.angular_update == Approx(truth).epsilon(1e-12));
            CHECK(s.angular_update == Approx(theta).epsilon(1e-7));  // sin, cos rounded to float
        }
    }
    // full-support matrices against the long-double reference
    for (double size : {1e-3, 1e-7}) {
        INFO("relative step " << size);
        std::vector<float> wb = gaussian(4096, 1, r), wa = wb;
        for (auto& w : wa) w += (float)(size * r.normal());
        MatrixStats s = measure_matrix(wb.data(), wa.data(), 64, 64, nullptr, 0, 1e-3, 0, 0.9);
        const double truth = angle_reference(wb, wa);
        REQUIRE(truth > 0);
        CHECK(s.angular_update == Approx(truth).epsilon(1e-9));
    }
}

TEST_CASE("degenerate inputs give NaN for the undefined ratios", "[measure]") {
    const std::vector<float> w = {1, 2, 3, 4, 5, 6}, w2 = {1, 2, 3, 4, 5, 7}, zero(6, 0.0f);
    const std::vector<float> x = {1, 0, 1, 0, 1, 1}, x0(6, 0.0f);
    // zero W_before (K = 2, C = 3, n = 2)
    MatrixStats a = measure_matrix(zero.data(), w.data(), 2, 3, x.data(), 2, 1e-3, 1e-4, 0.9);
    CHECK(a.w_norm == 0);
    CHECK(a.w_rms == 0);
    CHECK(std::isnan(a.rel_update));
    CHECK(std::isnan(a.rrc));
    CHECK(std::isnan(a.alpha_w));
    CHECK(std::isnan(a.alignment_ratio));
    CHECK(std::isnan(a.angular_update));
    CHECK(a.alpha_dw > 0);
    // no change
    MatrixStats b = measure_matrix(w.data(), w.data(), 2, 3, x.data(), 2, 1e-3, 1e-4, 0.9);
    CHECK(b.dw_norm == 0);
    CHECK(b.rel_update == 0);
    CHECK(b.rrc == 0);
    CHECK(b.angular_update == 0);
    CHECK(std::isnan(b.alpha_dw));
    CHECK(std::isnan(b.alignment_ratio));
    CHECK(b.alpha_w > 0);
    // zero X, and no X at all
    for (int n : {2, 0}) {
        MatrixStats c = measure_matrix(w.data(), w2.data(), 2, 3, n ? x0.data() : nullptr, n, 1e-3, 1e-4, 0.9);
        INFO("n " << n);
        CHECK(c.x_norm == 0);
        CHECK(c.wx_norm == 0);
        CHECK(std::isnan(c.alpha_w));
        CHECK(std::isnan(c.alpha_dw));
        CHECK(std::isnan(c.rrc));
        CHECK(std::isnan(c.alignment_ratio));
        CHECK(c.rel_update > 0);
        CHECK(c.angular_update > 0);
    }
    // lr = 0 and d = 0
    MatrixStats e = measure_matrix(w.data(), w2.data(), 2, 3, x.data(), 2, 0, 1e-4, 0.9);
    CHECK(std::isnan(e.u_rms));
    CHECK(std::isnan(e.w_rms_equilibrium));
    CHECK(e.rel_update_equilibrium > 0);
    MatrixStats f = measure_matrix(w.data(), w2.data(), 2, 3, x.data(), 2, 1e-3, 0, 0.9);
    CHECK(f.u_rms > 0);
    CHECK(std::isnan(f.w_rms_equilibrium));
    CHECK(std::isnan(f.rel_update_equilibrium));
    CHECK(std::isnan(f.angular_equilibrium));
    // zero W_after: no direction to compare with
    MatrixStats g = measure_matrix(w.data(), zero.data(), 2, 3, x.data(), 2, 1e-3, 1e-4, 0.9);
    CHECK(std::isnan(g.angular_update));
    CHECK(g.rel_update == Approx(1).epsilon(1e-15));
    // W whose rows are orthogonal to every input: X W^T = 0, so α_W = 0 and
    // the representation change relative to a zero output is undefined
    const std::vector<float> wo = {0, 1, 0, 0, 2, 0}, wo2 = {0, 1, 0, 1, 2, 0};
    MatrixStats h = measure_matrix(wo.data(), wo2.data(), 2, 3, x.data(), 1, 1e-3, 1e-4, 0.9);
    CHECK(h.alpha_w == 0);
    CHECK(std::isnan(h.rrc));
    CHECK(std::isnan(h.alignment_ratio));
    CHECK(h.alpha_dw > 0);
    // no result is ever inf
    for (const MatrixStats& s : {a, b, e, f, g, h})
        for (double v : {s.rel_update, s.rrc, s.alpha_w, s.alpha_dw, s.alignment_ratio, s.u_rms,
                         s.w_rms_equilibrium, s.angular_update})
            CHECK(!std::isinf(v));
}

TEST_CASE("measure_matrix rejects bad arguments", "[measure]") {
    const std::vector<float> w(6, 1.0f), x(6, 1.0f);
    CHECK_THROWS_AS(measure_matrix(w.data(), w.data(), 0, 3, x.data(), 2, 1e-3, 0, 0.9), std::runtime_error);
    CHECK_THROWS_AS(measure_matrix(w.data(), w.data(), 2, 3, nullptr, 2, 1e-3, 0, 0.9), std::runtime_error);
    CHECK_THROWS_AS(measure_matrix(w.data(), w.data(), 2, 3, x.data(), 2, -1e-3, 0, 0.9), std::runtime_error);
    CHECK_THROWS_AS(measure_matrix(w.data(), w.data(), 2, 3, x.data(), 2, 1e-3, 1.0, 0.9), std::runtime_error);
    CHECK_THROWS_AS(measure_matrix(w.data(), w.data(), 2, 3, x.data(), 2, 1e-3, 0, 1.0), std::runtime_error);
    CHECK_THROWS_AS(sample_rows(-1, 3), std::runtime_error);
}

TEST_CASE("sample_rows spreads the rows evenly; gather_rows copies them", "[measure]") {
    CHECK(sample_rows(5, 5) == std::vector<int>{0, 1, 2, 3, 4});
    CHECK(sample_rows(3, 100) == std::vector<int>{0, 1, 2});
    CHECK(sample_rows(7, 0).empty());
    CHECK(sample_rows(0, 4).empty());
    for (int N : {7, 100, 2048, 2047})
        for (int n : {1, 2, 3, 6, 50, 256}) {
            if (n >= N) continue;
            std::vector<int> rows = sample_rows(N, n);
            INFO("N " << N << " n " << n);
            REQUIRE((int)rows.size() == n);
            CHECK(rows.front() >= 0);
            CHECK(rows.back() < N);
            for (int i = 0; i < n; i++) {
                // one row in each of the n equal slices
                CHECK(rows[(size_t)i] >= (long long)i * N / n);
                CHECK(rows[(size_t)i] < (long long)(i + 1) * N / n);
                if (i > 0) CHECK(rows[(size_t)i] > rows[(size_t)i - 1]);  // sorted, distinct
            }
            CHECK(sample_rows(N, n) == rows);  // deterministic
        }
    // spread over the positions of a sequence, not lined up with it: 256 of
    // 512 rows of sequences of 64 tokens take even and odd positions alike
    // and most of the 64 positions
    for (int N : {512, 2048}) {
        std::vector<int> rows = sample_rows(N, 256);
        int even = 0;
        std::vector<int> seen(64, 0);
        for (int r : rows) even += r % 2 == 0, seen[r % 64] = 1;
        INFO("N " << N);
        CHECK(even > 256 / 4);
        CHECK(even < 3 * 256 / 4);
        CHECK(std::count(seen.begin(), seen.end(), 1) >= 56);
    }
    const std::vector<float> x = {0, 1, 10, 11, 20, 21, 30, 31};  // (4,2)
    std::vector<float> out(4);
    gather_rows(x.data(), 2, {3, 1}, out.data());
    CHECK(out == std::vector<float>{30, 31, 10, 11});
}
