// Muon's kernels (src/optim/muon.h): Newton–Schulz against U V^T from an SVD
// computed here in double (one-sided Jacobi), the quintic coefficients'
// band of singular values, muon_update against a step written out by hand,
// the scale rules, the names, and determinism across thread counts.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "optim/muon.h"
#include "util/rng.h"

namespace {

// Row-major (rows, cols) matrix in double.
struct Mat {
    int rows = 0, cols = 0;
    std::vector<double> v;
    Mat(int r, int c) : rows(r), cols(c), v((size_t)r * c, 0.0) {}
    double& at(int i, int j) { return v[(size_t)i * cols + j]; }
    double at(int i, int j) const { return v[(size_t)i * cols + j]; }
};

Mat gaussian(int rows, int cols, uint64_t seed) {
    Rng r(seed);
    Mat m(rows, cols);
    for (auto& x : m.v) x = r.normal();
    return m;
}

Mat transpose(const Mat& a) {
    Mat t(a.cols, a.rows);
    for (int i = 0; i < a.rows; i++)
        for (int j = 0; j < a.cols; j++) t.at(j, i) = a.at(i, j);
    return t;
}

// (n, k) x (k, m) -> (n, m), plain loops.
Mat multiply(const Mat& a, const Mat& b) {
    Mat c(a.rows, b.cols);
    for (int i = 0; i < a.rows; i++)
        for (int l = 0; l < a.cols; l++)
            for (int j = 0; j < b.cols; j++) c.at(i, j) += a.at(i, l) * b.at(l, j);
    return c;
}

// The SVD a (m, n) = U diag(s) V^T with m >= n, by one-sided Jacobi
// (Hestenes): rotate pairs of columns of W = a (and of V = I) until all
// columns of W are orthogonal; then s_j = |w_j| and u_j = w_j / s_j.
// U (m, n), s (n), V (n, n). Plain and slow, exact to ~1e-15.
struct Svd {
    Mat U, V;
    std::vector<double> s;
};

void rotate_columns(Mat& a, int p, int q, double c, double s) {
    for (int i = 0; i < a.rows; i++) {
        const double x = a.at(i, p), y = a.at(i, q);
        a.at(i, p) = c * x - s * y;
        a.at(i, q) = s * x + c * y;
    }
}

// One sweep over all column pairs; returns whether any pair was rotated.
bool jacobi_sweep(Mat& W, Mat& V) {
    bool rotated = false;
    for (int p = 0; p < W.cols; p++)
        for (int q = p + 1; q < W.cols; q++) {
            double alpha = 0, beta = 0, gamma = 0;
            for (int i = 0; i < W.rows; i++) {
                alpha += W.at(i, p) * W.at(i, p);
                beta += W.at(i, q) * W.at(i, q);
                gamma += W.at(i, p) * W.at(i, q);
            }
            if (std::fabs(gamma) <= 1e-15 * std::sqrt(alpha * beta)) continue;
            rotated = true;
            const double zeta = (beta - alpha) / (2 * gamma);
            const double t = (zeta >= 0 ? 1.0 : -1.0) / (std::fabs(zeta) + std::sqrt(1 + zeta * zeta));
            const double c = 1 / std::sqrt(1 + t * t), s = c * t;
            rotate_columns(W, p, q, c, s);
            rotate_columns(V, p, q, c, s);
        }
    return rotated;
}

Svd svd_tall(const Mat& a) {
    Mat W = a, V(a.cols, a.cols);
    for (int i = 0; i < a.cols; i++) V.at(i, i) = 1;
    for (int sweep = 0; sweep < 60 && jacobi_sweep(W, V); sweep++) {
    }
    Svd r{W, V, std::vector<double>(a.cols)};
    for (int j = 0; j < a.cols; j++) {
        double norm = 0;
        for (int i = 0; i < a.rows; i++) norm += W.at(i, j) * W.at(i, j);
        r.s[j] = std::sqrt(norm);
        for (int i = 0; i < a.rows; i++) r.U.at(i, j) = W.at(i, j) / r.s[j];
    }
    return r;
}

// U V^T of any a (rows, cols): for a wide a, the transpose of the tall case's.
Mat polar_factor(const Mat& a) {
    if (a.rows < a.cols) return transpose(polar_factor(transpose(a)));
    const Svd d = svd_tall(a);
    return multiply(d.U, transpose(d.V));
}

std::vector<double> singular_values(const Mat& a) {
    return svd_tall(a.rows >= a.cols ? a : transpose(a)).s;
}

// A random orthonormal (n, k) basis, k <= n: the U of a Gaussian matrix.
Mat random_orthonormal(int n, int k, uint64_t seed) { return svd_tall(gaussian(n, k, seed)).U; }

// U diag(s) V^T with random orthonormal U (rows, r), V (cols, r), r = min.
Mat with_singular_values(int rows, int cols, const std::vector<double>& s, uint64_t seed) {
    const int r = std::min(rows, cols);
    Mat U = random_orthonormal(rows, r, seed), V = random_orthonormal(cols, r, seed + 1);
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < r; j++) U.at(i, j) *= s[j];
    return multiply(U, transpose(V));
}

double max_abs_diff(const Mat& a, const Mat& b) {
    double d = 0;
    for (size_t i = 0; i < a.v.size(); i++) d = std::max(d, std::fabs(a.v[i] - b.v[i]));
    return d;
}

// newton_schulz in T on a double matrix, the result back in double.
template <typename T>
Mat run_newton_schulz(const Mat& a, int steps, NSCoefficients coeffs) {
    std::vector<T> in(a.v.begin(), a.v.end()), out(in.size());
    newton_schulz(out.data(), in.data(), a.rows, a.cols, steps, coeffs);
    Mat r(a.rows, a.cols);
    std::copy(out.begin(), out.end(), r.v.begin());
    return r;
}

}  // namespace

TEST_CASE("the test's Jacobi SVD reconstructs its matrix", "[muon]") {
    for (auto shape : {std::pair<int, int>{20, 12}, {12, 20}}) {
        const Mat a = gaussian(shape.first, shape.second, 7);
        const Mat t = a.rows >= a.cols ? a : transpose(a);
        Svd d = svd_tall(t);
        Mat us = d.U;
        for (int i = 0; i < us.rows; i++)
            for (int j = 0; j < us.cols; j++) us.at(i, j) *= d.s[j];
        CHECK(max_abs_diff(multiply(us, transpose(d.V)), t) < 1e-12);
        Mat eye(t.cols, t.cols);
        for (int i = 0; i < t.cols; i++) eye.at(i, i) = 1;
        CHECK(max_abs_diff(multiply(transpose(d.U), d.U), eye) < 1e-12);
        CHECK(max_abs_diff(multiply(transpose(d.V), d.V), eye) < 1e-12);
    }
    // known singular values come back
    const std::vector<double> s = {3, 1, 0.5, 1e-3};
    std::vector<double> got = singular_values(with_singular_values(9, 4, s, 11));
    std::sort(got.rbegin(), got.rend());
    for (int j = 0; j < 4; j++) CHECK(got[j] == Approx(s[j]).epsilon(1e-12));
}

// Singular values geometric from 1 down to 1e-3 (condition number 1e3).
// Normalized by the Frobenius norm the smallest is 8.5e-4 (7.8e-4 for
// 16 x 16); the classic iteration multiplies small values by 15/8 per step,
// so ~11 steps bring it near 1 and a few more converge (third order at 1).
// Measured: 14 steps reach 1e-11 in double, 16 steps 1e-14. 30 steps would
// still bring up a normalized value of 1e-7 (condition ~1e7), so 30 leaves
// room. (The random matrices below have condition numbers 5.4, 4.7 and 92.)
static std::vector<double> ill_conditioned_values(int r) {
    std::vector<double> s(r);
    for (int j = 0; j < r; j++) s[j] = std::pow(1e-3, j / (r - 1.0));
    return s;
}

TEST_CASE("Newton-Schulz with the classic coefficients converges to U V^T", "[muon]") {
    // Tolerances, the max |difference| of elements (U V^T's are <= 1):
    // double: measured 1.3e-14 -> 1e-12; float: measured 5.2e-6 (the small
    // singular directions carry float's rounding of the large ones) -> 2e-5.
    const int steps = 30;
    for (auto shape : {std::pair<int, int>{12, 20}, {20, 12}, {16, 16}}) {
        const int rows = shape.first, cols = shape.second;
        const std::vector<std::pair<const char*, Mat>> cases = {
            {"random", gaussian(rows, cols, 3)},
            {"condition 1e3", with_singular_values(rows, cols, ill_conditioned_values(std::min(rows, cols)), 5)}};
        for (const auto& c : cases) {
            INFO(c.first << " " << rows << "x" << cols);
            const Mat ref = polar_factor(c.second);
            const double d = max_abs_diff(run_newton_schulz<double>(c.second, steps, NSCoefficients::Classic), ref);
            const double f = max_abs_diff(run_newton_schulz<float>(c.second, steps, NSCoefficients::Classic), ref);
            INFO("max |difference|: double " << d << ", float " << f);
            CHECK(d < 1e-12);
            CHECK(f < 2e-5);
        }
    }
}

// The quintic map p(x) = 3.4445 x - 4.7750 x^3 + 2.0315 x^5 has a local
// minimum p(1.0501) = 0.68183 and maps that value to p(0.68183) = 1.13436:
// once the singular values have climbed from near 0, every step leaves them
// in [0.68183, 1.13436] (so the bound is 1.135, not 1.13). Measured after 5
// steps, on the 5 seeds of each shape below, in float and double: min
// 0.681933, max 1.13426 (on 20 seeds: 0.681833 and 1.13436, the band
// itself). A value passing near the local maximum p(0.5545) = 1.2024 on the
// last step ends above the band: square Gaussian matrices, whose smallest
// singular value is near 0, reached 1.202, and as low as 0.03, after 5
// steps; so these shapes are rectangular.
TEST_CASE("Newton-Schulz with the quintic coefficients leaves singular values in [0.68, 1.135]", "[muon]") {
    double lo = 1e9, hi = 0;
    for (auto shape : {std::pair<int, int>{12, 20}, {20, 12}, {64, 16}, {16, 64}})
        for (uint64_t seed = 1; seed <= 5; seed++) {
            const Mat a = gaussian(shape.first, shape.second, seed);
            for (double s : singular_values(run_newton_schulz<float>(a, 5, NSCoefficients::Quintic)))
                lo = std::min(lo, s), hi = std::max(hi, s);
            for (double s : singular_values(run_newton_schulz<double>(a, 5, NSCoefficients::Quintic)))
                lo = std::min(lo, s), hi = std::max(hi, s);
        }
    INFO("singular values after 5 quintic steps: min " << lo << ", max " << hi);
    CHECK(lo >= 0.68);
    CHECK(hi <= 1.135);
    CHECK(hi >= 1.0);  // not converged to 1: the band is the quintic's, not the classic's
}

namespace {

// Newton-Schulz as muon.h states it, in plain double loops with explicit
// transposes: the reference for muon_update.
Mat reference_newton_schulz(const Mat& in, int steps, NSCoeffs k) {
    const bool tall = in.rows > in.cols;
    Mat X = tall ? transpose(in) : in;
    double norm = 0;
    for (double x : X.v) norm += x * x;
    for (double& x : X.v) x /= std::sqrt(norm) + 1e-7;
    for (int s = 0; s < steps; s++) {
        const Mat A = multiply(X, transpose(X)), AA = multiply(A, A);
        Mat B = A;
        for (size_t i = 0; i < B.v.size(); i++) B.v[i] = k.b * A.v[i] + k.c * AA.v[i];
        const Mat BX = multiply(B, X);
        for (size_t i = 0; i < X.v.size(); i++) X.v[i] = k.a * X.v[i] + BX.v[i];
    }
    return tall ? transpose(X) : X;
}

// One step by hand: the momentum, the update, then p (1 - decay) - lr scale O.
void reference_muon_step(Mat& p, const Mat& g, Mat& m, double lr, double decay, double beta, bool nesterov,
                         int steps, NSCoeffs k, double scale) {
    Mat u = g;
    for (size_t i = 0; i < m.v.size(); i++) {
        m.v[i] = beta * m.v[i] + g.v[i];
        u.v[i] = nesterov ? beta * m.v[i] + g.v[i] : m.v[i];
    }
    const Mat o = reference_newton_schulz(u, steps, k);
    for (size_t i = 0; i < p.v.size(); i++) p.v[i] = p.v[i] * (1 - decay) - lr * scale * o.v[i];
}

}  // namespace

TEST_CASE("muon_update matches a step written out by hand", "[muon]") {
    // Both in double; they differ only in the order of the products' sums
    // (~1e-15), so 1e-12 relative. A decay applied after the update instead
    // of before differs by decay * lr * scale * O (~1e-3).
    const double lr = 0.02, beta = 0.95, scale = 1.5;
    for (auto shape : {std::pair<int, int>{6, 4}, {4, 6}})
        for (bool nesterov : {false, true})
            for (double decay : {0.0, 0.1})
                for (NSCoefficients coeffs : {NSCoefficients::Quintic, NSCoefficients::Classic}) {
                    const int rows = shape.first, cols = shape.second;
                    Mat p = gaussian(rows, cols, 1), m(rows, cols), ep = p, em = m;
                    for (int step = 1; step <= 2; step++) {
                        INFO(rows << "x" << cols << " nesterov " << nesterov << " decay " << decay << " "
                                  << ns_coefficients_name(coeffs) << " step " << step);
                        const Mat g = gaussian(rows, cols, 10 + step);
                        muon_update(p.v.data(), g.v.data(), m.v.data(), rows, cols, lr, decay, beta, nesterov, 5,
                                    coeffs, scale);
                        reference_muon_step(ep, g, em, lr, decay, beta, nesterov, 5, ns_coeffs(coeffs), scale);
                        for (size_t i = 0; i < p.v.size(); i++) {
                            REQUIRE(m.v[i] == Approx(em.v[i]).epsilon(1e-14));
                            REQUIRE(p.v[i] == Approx(ep.v[i]).epsilon(1e-12));
                        }
                    }
                }
}

TEST_CASE("Muon's scale rules", "[muon]") {
    const int C = 8;
    struct Case {
        int fan_out, fan_in;
        double keller, moonlight, spectral;
    };
    const Case cases[] = {
        {3 * C, C, std::sqrt(3.0), 0.2 * std::sqrt(24.0), std::sqrt(3.0)},  // e.g. attention's qkv
        {C, 4 * C, 1.0, 0.2 * std::sqrt(32.0), 0.5},                        // e.g. the MLP's projection
        {4 * C, C, 2.0, 0.2 * std::sqrt(32.0), 2.0},
        {C, C, 1.0, 0.2 * std::sqrt(8.0), 1.0},
    };
    for (const Case& c : cases) {
        INFO(c.fan_out << "x" << c.fan_in);
        CHECK(muon_scale_factor(MuonScale::Keller, c.fan_out, c.fan_in) == Approx(c.keller).epsilon(1e-15));
        CHECK(muon_scale_factor(MuonScale::Moonlight, c.fan_out, c.fan_in) == Approx(c.moonlight).epsilon(1e-15));
        CHECK(muon_scale_factor(MuonScale::Spectral, c.fan_out, c.fan_in) == Approx(c.spectral).epsilon(1e-15));
        CHECK(muon_scale_factor(MuonScale::None, c.fan_out, c.fan_in) == 1.0);
    }
    CHECK_THROWS_WITH(muon_scale_factor(MuonScale::Keller, 0, 4), Catch::Contains("empty"));
}

TEST_CASE("Muon's names round-trip and unknown ones are refused with the choices", "[muon]") {
    for (NSCoefficients c : {NSCoefficients::Quintic, NSCoefficients::Classic})
        CHECK(parse_ns_coefficients(ns_coefficients_name(c)) == c);
    for (MuonScale s : {MuonScale::Keller, MuonScale::Moonlight, MuonScale::Spectral, MuonScale::None})
        CHECK(parse_muon_scale(muon_scale_name(s)) == s);
    CHECK_THROWS_WITH(parse_ns_coefficients("cubic"), Catch::Contains("'cubic'") && Catch::Contains("quintic") &&
                                                          Catch::Contains("classic"));
    CHECK_THROWS_WITH(parse_muon_scale("Keller"), Catch::Contains("'Keller'") && Catch::Contains("keller") &&
                                                      Catch::Contains("moonlight") && Catch::Contains("spectral") &&
                                                      Catch::Contains("none"));
    CHECK(ns_coeffs(NSCoefficients::Quintic).a == 3.4445);
    CHECK(ns_coeffs(NSCoefficients::Classic).c == 3.0 / 8.0);
}

TEST_CASE("Muon refuses empty shapes and zero steps", "[muon]") {
    std::vector<float> x(12, 1.0f), y(12), m(12);
    CHECK_THROWS_WITH(newton_schulz(y.data(), x.data(), 0, 12, 5, NSCoefficients::Quintic), Catch::Contains("rows"));
    CHECK_THROWS_WITH(newton_schulz(y.data(), x.data(), 12, 0, 5, NSCoefficients::Quintic), Catch::Contains("cols"));
    CHECK_THROWS_WITH(newton_schulz(y.data(), x.data(), 3, 4, 0, NSCoefficients::Quintic), Catch::Contains("steps"));
    CHECK_THROWS_WITH(muon_update(y.data(), x.data(), m.data(), 3, 0, 0.1, 0, 0.9, true, 5, NSCoefficients::Quintic,
                                  1.0),
                      Catch::Contains("muon_update"));
    // a 1 x n matrix is a matrix: its U V^T is the row scaled to unit length
    newton_schulz(y.data(), x.data(), 1, 12, 30, NSCoefficients::Classic);
    for (float v : y) CHECK(v == Approx(1 / std::sqrt(12.0)).epsilon(1e-5));
}

TEST_CASE("Newton-Schulz repeats bit for bit across thread counts, and out may be in", "[muon]") {
    // 96 x 160: X X^T is 3M flops, enough for gemm to run threaded.
    const Mat a = gaussian(96, 160, 9);
    std::vector<float> in(a.v.begin(), a.v.end()), first(in.size()), again(in.size());
    newton_schulz(first.data(), in.data(), 96, 160, 5, NSCoefficients::Quintic);
#ifdef _OPENMP
    const int saved = omp_get_max_threads();
    for (int threads : {1, 2, 3}) {
        INFO("threads " << threads);
        omp_set_num_threads(threads);
        newton_schulz(again.data(), in.data(), 96, 160, 5, NSCoefficients::Quintic);
        CHECK(std::memcmp(first.data(), again.data(), first.size() * sizeof(float)) == 0);
    }
    omp_set_num_threads(saved);
#endif
    newton_schulz(in.data(), in.data(), 96, 160, 5, NSCoefficients::Quintic);
    CHECK(std::memcmp(first.data(), in.data(), first.size() * sizeof(float)) == 0);
}
