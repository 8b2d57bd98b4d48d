#include "model/svd.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "util/rng.h"
#include "util/util.h"

namespace {

double column_dot(const std::vector<double>& X, int rows, int cols, int a, int b) {
    double s = 0;
    for (int i = 0; i < rows; i++) s += X[(size_t)i * cols + a] * X[(size_t)i * cols + b];
    return s;
}

// Y (m, c) = G (m, n) Q (n, c), or G^T when `transpose` (then Q is (m, c), Y (n, c)).
std::vector<double> multiply(const std::vector<double>& G, int m, int n, const std::vector<double>& Q, int c,
                             bool transpose) {
    const int out_rows = transpose ? n : m;
    std::vector<double> Y((size_t)out_rows * c, 0.0);
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            const double g = G[(size_t)i * n + j];
            if (g == 0) continue;
            const double* q = &Q[(size_t)(transpose ? i : j) * c];
            double* y = &Y[(size_t)(transpose ? j : i) * c];
            for (int l = 0; l < c; l++) y[l] += g * q[l];
        }
    return Y;
}

// One-sided Jacobi: rotates the columns of Y (rows, c) until they are
// mutually orthogonal, applying the same rotations to W (c, c), which starts
// as the identity. Then Y = (Y W^T-rotated) and the column norms are the
// singular values. Accurate to working precision for small c.
void jacobi_orthogonalize(std::vector<double>& Y, int rows, int c, std::vector<double>& W) {
    W.assign((size_t)c * c, 0.0);
    for (int i = 0; i < c; i++) W[(size_t)i * c + i] = 1;
    for (int sweep = 0; sweep < 60; sweep++) {
        double off = 0;
        for (int p = 0; p < c; p++)
            for (int q = p + 1; q < c; q++) {
                const double a = column_dot(Y, rows, c, p, p), b = column_dot(Y, rows, c, q, q);
                const double g = column_dot(Y, rows, c, p, q);
                if (std::fabs(g) <= 1e-300 || std::fabs(g) <= 1e-16 * std::sqrt(a * b)) continue;
                off = std::max(off, std::fabs(g) / std::sqrt(a * b));
                const double zeta = (b - a) / (2 * g);
                const double t = (zeta >= 0 ? 1 : -1) / (std::fabs(zeta) + std::sqrt(1 + zeta * zeta));
                const double cs = 1 / std::sqrt(1 + t * t), sn = cs * t;
                auto rotate = [&](std::vector<double>& X, int nrows) {
                    for (int i = 0; i < nrows; i++) {
                        double& xp = X[(size_t)i * c + p];
                        double& xq = X[(size_t)i * c + q];
                        const double u = xp, v = xq;
                        xp = cs * u - sn * v;
                        xq = sn * u + cs * v;
                    }
                };
                rotate(Y, rows);
                rotate(W, c);
            }
        if (off < 1e-15) break;
    }
}

// Rayleigh-Ritz: with Q (n, c) orthonormal, Y = G Q = Uy Sy Wy^T, so the
// Ritz triplets are (Uy, Sy, Q Wy). Sorted by descending value.
TruncatedSvd ritz(const std::vector<double>& G, int m, int n, const std::vector<double>& Q, int c) {
    std::vector<double> Y = multiply(G, m, n, Q, c, false), W;
    jacobi_orthogonalize(Y, m, c, W);
    std::vector<double> norms(c);
    for (int l = 0; l < c; l++) norms[l] = std::sqrt(column_dot(Y, m, c, l, l));
    std::vector<int> order(c);
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return norms[a] > norms[b]; });
    TruncatedSvd r;
    r.m = m, r.n = n, r.k = c;
    r.S.resize(c);
    r.U.assign((size_t)m * c, 0.0);
    r.V.assign((size_t)n * c, 0.0);
    for (int l = 0; l < c; l++) {
        const int o = order[l];
        r.S[l] = norms[o];
        for (int i = 0; i < m; i++) r.U[(size_t)i * c + l] = norms[o] > 0 ? Y[(size_t)i * c + o] / norms[o] : 0;
        for (int j = 0; j < n; j++) {
            double s = 0;
            for (int t = 0; t < c; t++) s += Q[(size_t)j * c + t] * W[(size_t)t * c + o];
            r.V[(size_t)j * c + l] = s;
        }
    }
    orthonormalize_columns(r.U, m, c);  // fills columns of zero value (rank-deficient G) with an orthonormal rest
    return r;
}

// Keeps the first k of c columns.
std::vector<double> first_columns(const std::vector<double>& X, int rows, int c, int k) {
    std::vector<double> out((size_t)rows * k);
    for (int i = 0; i < rows; i++)
        for (int l = 0; l < k; l++) out[(size_t)i * k + l] = X[(size_t)i * c + l];
    return out;
}

}  // namespace

void orthonormalize_columns(std::vector<double>& X, int rows, int cols) {
    // more columns than rows cannot all be orthonormal: the refill below would never end
    if (cols > rows) fail("orthonormalize_columns: " + std::to_string(cols) + " columns of length " + std::to_string(rows));
    for (int a = 0; a < cols; a++) {
        for (int attempt = 0;; attempt++) {
            const double before = std::sqrt(column_dot(X, rows, cols, a, a));
            for (int pass = 0; pass < 2; pass++)
                for (int b = 0; b < a; b++) {
                    const double d = column_dot(X, rows, cols, a, b);
                    for (int i = 0; i < rows; i++) X[(size_t)i * cols + a] -= d * X[(size_t)i * cols + b];
                }
            const double norm = std::sqrt(column_dot(X, rows, cols, a, a));
            // a column that was (numerically) in the span of the others: try unit vectors
            if (norm > 1e-10 * std::max(before, 1e-300) && norm > 1e-300) {
                for (int i = 0; i < rows; i++) X[(size_t)i * cols + a] /= norm;
                break;
            }
            for (int i = 0; i < rows; i++) X[(size_t)i * cols + a] = i == attempt % rows ? 1.0 : 0.0;
        }
    }
}

TruncatedSvd truncated_svd(const std::vector<double>& G, int m, int n, int k, uint64_t seed) {
    const int small = std::min(m, n);
    k = std::max(1, std::min(k, small));
    const int c = std::min(small, k + std::max(k, 8));  // oversampled block
    Rng rng(seed);
    std::vector<double> Q((size_t)n * c);
    for (double& x : Q) x = rng.normal();
    orthonormalize_columns(Q, n, c);
    std::vector<double> previous(k, -1.0);
    TruncatedSvd r;
    // The cap bounds the cost where the spectrum has no gap past k (a flat,
    // noise-like one), where the vectors converge slowly and are not well
    // determined anyway; the result is then the subspace reached.
    for (int it = 0; it < SVD_MAX_ITERATIONS; it++) {
        std::vector<double> P = multiply(G, m, n, Q, c, false);  // (m, c)
        orthonormalize_columns(P, m, c);
        Q = multiply(G, m, n, P, c, true);  // (n, c)
        orthonormalize_columns(Q, n, c);
        if (it % 4 != 3) continue;
        // converged when the top k Ritz values stop moving (relative to the largest)
        r = ritz(G, m, n, Q, c);
        double change = 0;
        for (int l = 0; l < k; l++) change = std::max(change, std::fabs(r.S[l] - previous[l]));
        for (int l = 0; l < k; l++) previous[l] = r.S[l];
        if (change <= 1e-13 * std::max(r.S[0], 1e-300)) break;
    }
    r.U = first_columns(r.U, m, c, k);
    r.V = first_columns(r.V, n, c, k);
    r.S.resize(k);
    r.k = k;
    return r;
}
