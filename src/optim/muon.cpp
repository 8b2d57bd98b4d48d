#include "optim/muon.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "model/matmul.h"
#include "optim/optimizer.h"
#include "util/util.h"

NSCoeffs ns_coeffs(NSCoefficients coeffs) {
    switch (coeffs) {
        case NSCoefficients::Quintic: return {3.4445, -4.7750, 2.0315};
        case NSCoefficients::Classic: return {15.0 / 8.0, -5.0 / 4.0, 3.0 / 8.0};
    }
    fail("ns_coeffs: invalid NSCoefficients value");
}

NSCoefficients parse_ns_coefficients(const std::string& name) {
    for (NSCoefficients c : {NSCoefficients::Quintic, NSCoefficients::Classic})
        if (name == ns_coefficients_name(c)) return c;
    fail("unknown Newton-Schulz coefficients '" + name + "' (expected quintic or classic)");
}

MuonScale parse_muon_scale(const std::string& name) {
    for (MuonScale s : {MuonScale::Keller, MuonScale::Moonlight, MuonScale::Spectral, MuonScale::None})
        if (name == muon_scale_name(s)) return s;
    fail("unknown Muon scale '" + name + "' (expected keller, moonlight, spectral or none)");
}

double muon_scale_factor(MuonScale scale, int fan_out, int fan_in) {
    if (fan_out < 1 || fan_in < 1)
        fail("muon_scale_factor: shape (" + std::to_string(fan_out) + ", " + std::to_string(fan_in) + ") is empty");
    const double ratio = (double)fan_out / fan_in;
    switch (scale) {
        case MuonScale::Keller: return std::sqrt(std::max(1.0, ratio));
        case MuonScale::Moonlight: return 0.2 * std::sqrt((double)std::max(fan_out, fan_in));
        case MuonScale::Spectral: return std::sqrt(ratio);
        case MuonScale::None: return 1.0;
    }
    fail("muon_scale_factor: invalid MuonScale value");
}

namespace {

void check_shape(const char* who, int rows, int cols, int steps) {
    if (rows < 1 || cols < 1 || steps < 1)
        fail(std::string(who) + ": needs rows, cols and Newton-Schulz steps >= 1, got (" + std::to_string(rows) +
             ", " + std::to_string(cols) + ") and " + std::to_string(steps) + " steps");
}

// Per-thread workspace of at least n elements, kept between calls so a
// training loop does not reallocate every step (one vector per use, so the
// uses never overlap).
template <typename T>
T* workspace(int which, size_t n) {
    thread_local std::vector<T> buffers[5];
    std::vector<T>& b = buffers[which];
    if (b.size() < n) b.resize(n);
    return b.data();
}
enum Workspace { WS_X, WS_XNEXT, WS_A, WS_B, WS_UPDATE };

// One step on X (rows, cols) into next (rows, cols), r = min(rows, cols):
// A (r, r) = X X^T (wide) or X^T X (tall); B (r, r) = b A + c A A;
// next = a X + B X (wide) or a X + X B (tall, the transpose of the former).
template <typename T>
void ns_step(T* next, const T* X, T* A, T* B, int rows, int cols, const NSCoeffs& k) {
    const bool tall = rows > cols;
    const int r = tall ? cols : rows;
    if (tall) gemm(true, false, r, r, rows, T(1), X, cols, X, cols, T(0), A, r);
    else gemm(false, true, r, r, cols, T(1), X, cols, X, cols, T(0), A, r);
    std::copy(A, A + (size_t)r * r, B);
    gemm(false, false, r, r, r, (T)k.c, A, r, A, r, (T)k.b, B, r);
    std::copy(X, X + (size_t)rows * cols, next);
    if (tall) gemm(false, false, rows, cols, cols, T(1), X, cols, B, cols, (T)k.a, next, cols);
    else gemm(false, false, rows, cols, rows, T(1), B, rows, X, cols, (T)k.a, next, cols);
}

}  // namespace

template <typename T>
void newton_schulz(T* out, const T* in, int rows, int cols, int steps, NSCoefficients coeffs) {
    check_shape("newton_schulz", rows, cols, steps);
    const size_t n = (size_t)rows * cols, r = (size_t)std::min(rows, cols);
    T* X = workspace<T>(WS_X, n);
    T* next = workspace<T>(WS_XNEXT, n);
    T* A = workspace<T>(WS_A, r * r);
    T* B = workspace<T>(WS_B, r * r);
    // the Frobenius norm: optimizer.h's sum of squares in double, in a fixed order
    const T norm = (T)(global_grad_norm(in, n) + 1e-7);
    for (size_t i = 0; i < n; i++) X[i] = in[i] / norm;
    const NSCoeffs k = ns_coeffs(coeffs);
    for (int s = 0; s < steps; s++) {
        ns_step(next, X, A, B, rows, cols, k);
        std::swap(X, next);
    }
    std::copy(X, X + n, out);
}

template <typename T>
void muon_update(T* p, const T* g, T* m, int fan_out, int fan_in, double lr, double decay, double beta,
                 bool nesterov, int ns_steps, NSCoefficients coeffs, double scale) {
    check_shape("muon_update", fan_out, fan_in, ns_steps);
    const size_t n = (size_t)fan_out * fan_in;
    const T b = (T)beta, decay_factor = (T)(1.0 - decay), step = (T)(lr * scale);
    T* O = workspace<T>(WS_UPDATE, n);
    for (size_t i = 0; i < n; i++) m[i] = b * m[i] + g[i];
    if (nesterov)
        for (size_t i = 0; i < n; i++) O[i] = b * m[i] + g[i];
    newton_schulz(O, nesterov ? O : m, fan_out, fan_in, ns_steps, coeffs);
    for (size_t i = 0; i < n; i++) {
        if (decay != 0.0) p[i] *= decay_factor;
        p[i] -= step * O[i];
    }
}

#define INSTANTIATE(T)                                                                \
    template void newton_schulz<T>(T*, const T*, int, int, int, NSCoefficients);      \
    template void muon_update<T>(T*, const T*, T*, int, int, double, double, double, bool, int, NSCoefficients, \
                                 double);
INSTANTIATE(float)
INSTANTIATE(double)
