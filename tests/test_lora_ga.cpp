// LoRA-GA (docs/lora.md "LoRA-GA"): our truncated SVD against matrices with
// known singular vectors, the initialization's invariants (same logits at
// step 0, A and B built from disjoint singular vectors of the gradient), and
// `lrt finetune --lora-init ga` end to end, resumed bit for bit.
#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

#include "model/lora_ga.h"
#include "model/model.h"
#include "model/svd.h"
#include "test_helpers.h"
#include "train/checkpoint.h"
#include "train/finetune.h"
#include "train/train.h"
#include "util/rng.h"

using Catch::Contains;

namespace {

std::vector<double> random_orthonormal(int rows, int cols, uint64_t seed) {
    Rng r(seed);
    std::vector<double> X((size_t)rows * cols);
    for (double& x : X) x = r.normal();
    orthonormalize_columns(X, rows, cols);
    return X;
}

// G (m, n) = U diag(s) V^T with U (m, p), V (n, p).
std::vector<double> compose(const std::vector<double>& U, const std::vector<double>& V, const std::vector<double>& s,
                            int m, int n) {
    const int p = (int)s.size();
    std::vector<double> G((size_t)m * n, 0.0);
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++)
            for (int l = 0; l < p; l++) G[(size_t)i * n + j] += U[(size_t)i * p + l] * s[l] * V[(size_t)j * p + l];
    return G;
}

// X^T Y for X (rows, a), Y (rows, b), columns [x0, x0+a) of X's `xc` and [0, b) of Y's `yc`.
std::vector<double> cross(const std::vector<double>& X, int xc, int x0, int a, const std::vector<double>& Y, int yc,
                          int b, int rows) {
    std::vector<double> out((size_t)a * b, 0.0);
    for (int i = 0; i < rows; i++)
        for (int p = 0; p < a; p++)
            for (int q = 0; q < b; q++) out[(size_t)p * b + q] += X[(size_t)i * xc + x0 + p] * Y[(size_t)i * yc + q];
    return out;
}

double sum_sq(const std::vector<double>& x) {
    double s = 0;
    for (double v : x) s += v * v;
    return s;
}

}  // namespace

TEST_CASE("truncated SVD recovers known singular values and subspaces", "[lora][lora-ga][svd]") {
    const int m = 40, n = 24, p = 24, k = 6;
    const std::vector<double> s = {10, 7, 5, 3.5, 2, 1.3, 0.9, 0.7, 0.5, 0.4, 0.3, 0.25,
                                   0.2, 0.15, 0.1, 0.08, 0.06, 0.05, 0.04, 0.03, 0.02, 0.015, 0.01, 0.005};
    const std::vector<double> U0 = random_orthonormal(m, p, 1), V0 = random_orthonormal(n, p, 2);
    // the reference basis is orthonormal to rounding (a check of the Gram-Schmidt the SVD uses too)
    const std::vector<double> I = cross(U0, p, 0, p, U0, p, p, m);
    for (int a = 0; a < p; a++)
        for (int b = 0; b < p; b++) REQUIRE(std::fabs(I[(size_t)a * p + b] - (a == b)) < 1e-13);
    const TruncatedSvd r = truncated_svd(compose(U0, V0, s, m, n), m, n, k);
    REQUIRE(r.k == k);
    for (int l = 0; l < k; l++) CHECK(std::fabs(r.S[l] - s[l]) <= 1e-8 * s[l]);
    // distinct values with gaps: each vector is the reference's up to sign
    const std::vector<double> cu = cross(r.U, k, 0, k, U0, p, k, m), cv = cross(r.V, k, 0, k, V0, p, k, n);
    for (int l = 0; l < k; l++) {
        CHECK(std::fabs(std::fabs(cu[(size_t)l * k + l]) - 1) < 1e-10);
        CHECK(std::fabs(std::fabs(cv[(size_t)l * k + l]) - 1) < 1e-10);
        CHECK(cu[(size_t)l * k + l] * cv[(size_t)l * k + l] > 0);  // the signs pair up: u s v^T is G's
    }
    // the subspaces: the cosines of the principal angles are all 1 when sum cos^2 = k
    CHECK(std::fabs(sum_sq(cu) - k) < 1e-10);
    CHECK(std::fabs(sum_sq(cv) - k) < 1e-10);
}

TEST_CASE("truncated SVD with a repeated value and a rank-deficient matrix: the subspace is what is determined",
          "[lora][lora-ga][svd]") {
    const int m = 30, n = 20, p = 4;
    const std::vector<double> s = {5, 5, 5, 2};  // rank 4, the top value three times
    const std::vector<double> U0 = random_orthonormal(m, p, 3), V0 = random_orthonormal(n, p, 4);
    const std::vector<double> G = compose(U0, V0, s, m, n);
    // k = 3: the three vectors of the repeated value are any basis of their
    // span; the span itself is recovered
    const TruncatedSvd r3 = truncated_svd(G, m, n, 3);
    for (int l = 0; l < 3; l++) CHECK(std::fabs(r3.S[l] - 5) < 1e-10);
    CHECK(std::fabs(sum_sq(cross(r3.U, 3, 0, 3, U0, p, 3, m)) - 3) < 1e-10);
    CHECK(std::fabs(sum_sq(cross(r3.V, 3, 0, 3, V0, p, 3, n)) - 3) < 1e-10);
    // k = 6 past the rank: the zero values come out as 0, and U, V stay orthonormal
    const TruncatedSvd r6 = truncated_svd(G, m, n, 6);
    CHECK(std::fabs(r6.S[3] - 2) < 1e-10);
    CHECK(r6.S[4] < 1e-12);
    CHECK(r6.S[5] < 1e-12);
    const std::vector<double> uu = cross(r6.U, 6, 0, 6, r6.U, 6, 6, m), vv = cross(r6.V, 6, 0, 6, r6.V, 6, 6, n);
    for (int a = 0; a < 6; a++)
        for (int b = 0; b < 6; b++) {
            CHECK(std::fabs(uu[(size_t)a * 6 + b] - (a == b)) < 1e-10);
            CHECK(std::fabs(vv[(size_t)a * 6 + b] - (a == b)) < 1e-10);
        }
}
