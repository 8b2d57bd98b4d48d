// Per-weight-matrix measurements of one optimizer step; see measure.h for the
// definitions and docs/science.md §2-3 for where they come from.

#include "study/measure.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstring>
#include <limits>
#include <string>

#include "model/matmul.h"
#include "util/util.h"

namespace {

const double kNaN = std::numeric_limits<double>::quiet_NaN();

// a / b, or NaN when b is zero: an undefined ratio is reported as such, never
// as inf.
double ratio(double a, double b) { return b == 0 ? kNaN : a / b; }

// Sum of the per-row partial sums, in row order (the same whatever the
// number of threads that computed them). Within a row, `omp simd` sums in a
// fixed compile-time order, so results are reproducible for a given build.
double sum_in_order(const std::vector<double>& partial) {
    double s = 0;
    for (double p : partial) s += p;
    return s;
}

// Below this many elements a loop runs faster on one thread than the cost of
// waking the others (as in layers.cpp); results are the same either way.
[[maybe_unused]] bool worth_threads(size_t elements) { return elements >= 16384; }

// ‖A‖_F² of an (rows,cols) float matrix, accumulated in double per row.
double frobenius_sq(const float* a, int rows, int cols) {
    std::vector<double> partial((size_t)rows, 0.0);
#pragma omp parallel for schedule(static) if (worth_threads((size_t)rows * cols))
    for (int r = 0; r < rows; r++) {
        const float* row = a + (size_t)r * cols;
        double s = 0;
#pragma omp simd reduction(+ : s)
        for (int c = 0; c < cols; c++) s += (double)row[c] * row[c];
        partial[(size_t)r] = s;
    }
    return sum_in_order(partial);
}

}  // namespace

void check_measure_arguments(int K, int C, int n, double lr, double decay, double beta1) {
    if (K < 1 || C < 1 || n < 0)
        fail("measure_matrix: bad sizes K=" + std::to_string(K) + " C=" + std::to_string(C) +
             " n=" + std::to_string(n));
    if (!(lr >= 0) || !std::isfinite(lr)) fail("measure_matrix: learning rate must be finite and >= 0");
    if (!(decay >= 0 && decay < 1)) fail("measure_matrix: decay factor must be in [0, 1)");
    if (!(beta1 >= 0 && beta1 < 1)) fail("measure_matrix: beta1 must be in [0, 1)");
}

bool chord_coefficients(const MatrixSums& sums, double* ib, double* di) {
    const double w_norm = std::sqrt(sums.w_before_sq), wa_norm = std::sqrt(sums.w_after_sq);
    if (!(w_norm > 0 && wa_norm > 0)) return false;
    // Ŵ_before - Ŵ_after = (b - a)/|b| + a (1/|b| - 1/|a|): exactly zero
    // when nothing changed, even if the compiler contracts it into FMAs
    *ib = 1 / w_norm;
    *di = *ib - 1 / wa_norm;
    return true;
}

MatrixStats matrix_stats_from_sums(const MatrixSums& sums, int K, int C, double lr, double decay, double beta1) {
    const double KC = (double)K * C;
    double ib, di;
    MatrixStats s;
    s.w_norm = std::sqrt(sums.w_before_sq);
    s.dw_norm = std::sqrt(sums.dw_sq);
    s.w_rms = s.w_norm / std::sqrt(KC);
    s.u_rms = ratio(std::sqrt(sums.step_sq / KC), lr);
    // The angle from the chord between the unit matrices, 2 asin(chord / 2).
    // Unlike acos of the cosine (which loses everything below ~1e-8 rad) it
    // keeps full relative accuracy for tiny angles.
    s.angular_update = chord_coefficients(sums, &ib, &di) ? 2 * std::asin(std::min(1.0, std::sqrt(sums.chord_sq) / 2))
                                                          : kNaN;
    s.x_norm = std::sqrt(sums.x_sq);
    s.wx_norm = std::sqrt(sums.wx_sq);
    s.dwx_norm = std::sqrt(sums.dwx_sq);

    s.rel_update = ratio(s.dw_norm, s.w_norm);
    s.rrc = ratio(s.dwx_norm, s.wx_norm);
    s.alpha_w = ratio(s.wx_norm, s.w_norm * s.x_norm);
    s.alpha_dw = ratio(s.dwx_norm, s.dw_norm * s.x_norm);
    s.alignment_ratio = ratio(s.alpha_dw, s.alpha_w);

    if (decay > 0) {
        s.rel_update_equilibrium = std::sqrt(2 * decay);
        s.w_rms_equilibrium = lr * s.u_rms / s.rel_update_equilibrium;
        s.angular_equilibrium = std::sqrt(2 * decay * (1 - beta1) / (1 + beta1));
    } else {
        s.rel_update_equilibrium = s.w_rms_equilibrium = s.angular_equilibrium = kNaN;
    }
    return s;
}

MatrixStats measure_matrix(const float* w_before, const float* w_after, int K, int C, const float* x, int n,
                           double lr, double decay, double beta1) {
    check_measure_arguments(K, C, n, lr, decay, beta1);
    if (!w_before || !w_after || (n > 0 && !x)) fail("measure_matrix: null matrix");

    const size_t KC = (size_t)K * C;
    MatrixSums sums;

    // Pass 1: ΔW (exact in double, then rounded once to float for the
    // product), ‖W_before‖, ‖W_after‖, ‖ΔW‖ and ‖ΔW + d W_before‖ = lr ‖u‖.
    std::vector<float> dw(KC);
    std::vector<double> p_wb((size_t)K), p_wa((size_t)K), p_dw((size_t)K), p_step((size_t)K);
#pragma omp parallel for schedule(static) if (worth_threads(KC))
    for (int k = 0; k < K; k++) {
        const size_t o = (size_t)k * C;
        double wb2 = 0, wa2 = 0, dw2 = 0, step2 = 0;
#pragma omp simd reduction(+ : wb2, wa2, dw2, step2)
        for (int c = 0; c < C; c++) {
            const double b = w_before[o + c], a = w_after[o + c];
            const double d = a - b;
            const double step = d + decay * b;  // = -lr u
            wb2 += b * b;
            wa2 += a * a;
            dw2 += d * d;
            step2 += step * step;
            dw[o + c] = (float)d;
        }
        p_wb[(size_t)k] = wb2;
        p_wa[(size_t)k] = wa2;
        p_dw[(size_t)k] = dw2;
        p_step[(size_t)k] = step2;
    }
    sums.w_before_sq = sum_in_order(p_wb);
    sums.w_after_sq = sum_in_order(p_wa);
    sums.dw_sq = sum_in_order(p_dw);
    sums.step_sq = sum_in_order(p_step);

    // Pass 2: the chord between the unit matrices (it needs the norms first).
    double ib, di;
    if (chord_coefficients(sums, &ib, &di)) {
#pragma omp parallel for schedule(static) if (worth_threads(KC))
        for (int k = 0; k < K; k++) {
            const size_t o = (size_t)k * C;
            double chord2 = 0;
#pragma omp simd reduction(+ : chord2)
            for (int c = 0; c < C; c++) {
                const double b = w_before[o + c], a = w_after[o + c];
                const double e = (b - a) * ib + a * di;
                chord2 += e * e;
            }
            p_wb[(size_t)k] = chord2;
        }
        sums.chord_sq = sum_in_order(p_wb);
    }

    // The products X W^T and X ΔW^T, (n,K) each.
    if (n > 0) {
        sums.x_sq = frobenius_sq(x, n, C);
        std::vector<float> y((size_t)n * K);
        matmul_forward<float>(y.data(), x, w_before, nullptr, n, C, K);
        sums.wx_sq = frobenius_sq(y.data(), n, K);
        matmul_forward<float>(y.data(), x, dw.data(), nullptr, n, C, K);
        sums.dwx_sq = frobenius_sq(y.data(), n, K);
    }
    return matrix_stats_from_sums(sums, K, C, lr, decay, beta1);
}

std::vector<int> sample_rows(int N, int n) {
    if (N < 0 || n < 0) fail("sample_rows: negative count N=" + std::to_string(N) + " n=" + std::to_string(n));
    std::vector<int> rows;
    if (n >= N) {
        rows.resize((size_t)N);
        for (int i = 0; i < N; i++) rows[(size_t)i] = i;
        return rows;
    }
    rows.resize((size_t)n);
    // One row from each of n equal slices of [0, N), at a fixed pseudo-random
    // place inside the slice. (Fixed places, such as the midpoints, line up
    // with the sequence length: with N = 2n they would all be odd positions.)
    for (int i = 0; i < n; i++) {
        const long long lo = (long long)i * N / n, hi = (long long)(i + 1) * N / n;  // hi > lo since N > n
        uint64_t h = (uint64_t)i * 0x9E3779B97F4A7C15ull + (uint64_t)N;  // splitmix64 of (i, N)
        h = (h ^ (h >> 30)) * 0xBF58476D1CE4E5B9ull;
        h = (h ^ (h >> 27)) * 0x94D049BB133111EBull;
        h ^= h >> 31;
        rows[(size_t)i] = (int)(lo + (long long)(h % (uint64_t)(hi - lo)));
    }
    return rows;
}

void gather_rows(const float* x, int C, const std::vector<int>& rows, float* out) {
    for (size_t i = 0; i < rows.size(); i++)
        std::memcpy(out + i * (size_t)C, x + (size_t)rows[i] * C, sizeof(float) * (size_t)C);
}
