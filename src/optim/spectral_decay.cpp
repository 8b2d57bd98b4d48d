#include "optim/spectral_decay.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "util/util.h"

namespace {

// Below this many weights a matrix-vector product is not worth a thread team.
const long PARALLEL_MIN = 1 << 16;
// W^T u is taken in blocks of columns, one block per task, rows streamed in
// order: each w[j] is summed over i = 0, 1, ... whoever computes it.
const int COLUMN_BLOCK = 64;

void check_args(const char* who, int fan_out, int fan_in, int iters, int first_iters) {
    if (fan_out < 1 || fan_in < 1)
        fail(std::string(who) + ": the matrix must have at least one row and column (got " + std::to_string(fan_out) +
             " x " + std::to_string(fan_in) + ")");
    if (iters < 1 || first_iters < 1)
        fail(std::string(who) + ": power iteration needs at least 1 iteration (got iters " + std::to_string(iters) +
             ", first_iters " + std::to_string(first_iters) + ")");
}

// u (fan_out) = W (fan_out, fan_in) v (fan_in); each row summed in order j = 0, 1, ...
template <typename T>
void multiply(double* u, const T* W, const T* v, int fan_out, int fan_in) {
#pragma omp parallel for schedule(static) if ((long)fan_out * fan_in >= PARALLEL_MIN)
    for (int i = 0; i < fan_out; i++) {
        const T* row = W + (size_t)i * fan_in;
        double s = 0;
        for (int j = 0; j < fan_in; j++) s += (double)row[j] * (double)v[j];
        u[i] = s;
    }
}

// w (fan_in) = W^T (fan_in, fan_out) u (fan_out); each w[j] summed in order i = 0, 1, ...
template <typename T>
void multiply_transposed(double* w, const T* W, const double* u, int fan_out, int fan_in) {
    const int blocks = (fan_in + COLUMN_BLOCK - 1) / COLUMN_BLOCK;
#pragma omp parallel for schedule(static) if ((long)fan_out * fan_in >= PARALLEL_MIN)
    for (int b = 0; b < blocks; b++) {
        const int j0 = b * COLUMN_BLOCK, j1 = std::min(fan_in, j0 + COLUMN_BLOCK);
        for (int j = j0; j < j1; j++) w[j] = 0;
        for (int i = 0; i < fan_out; i++) {
            const T* row = W + (size_t)i * fan_in;
            const double ui = u[i];
            for (int j = j0; j < j1; j++) w[j] += (double)row[j] * ui;
        }
    }
}

// x (n): sum of squares in order.
double sum_of_squares(const double* x, int n) {
    double s = 0;
    for (int i = 0; i < n; i++) s += x[i] * x[i];
    return s;
}

// W (fan_out, fan_in), v (fan_in) in/out; u (fan_out), w (fan_in) scratch.
// v <- W^T W v / ||W^T W v||; false (v unchanged) when W v is 0.
template <typename T>
bool iterate(const T* W, int fan_out, int fan_in, T* v, double* u, double* w) {
    multiply(u, W, v, fan_out, fan_in);
    if (sum_of_squares(u, fan_out) == 0) return false;
    multiply_transposed(w, W, u, fan_out, fan_in);
    const double norm = std::sqrt(sum_of_squares(w, fan_in));
    if (norm == 0) return false;  // only by underflow, W v != 0 means ||W^T W v|| > 0
    for (int j = 0; j < fan_in; j++) v[j] = (T)(w[j] / norm);
    return true;
}

// power_iteration, leaving u (fan_out) = W v for the final v; returns ||u||.
template <typename T>
double iterate_all(const T* W, int fan_out, int fan_in, T* v, int iters, int first_iters, std::vector<double>& u) {
    bool fresh = true;
    for (int j = 0; j < fan_in && fresh; j++) fresh = v[j] == 0;
    if (fresh) {
        const T start = (T)(1.0 / std::sqrt((double)fan_in));
        for (int j = 0; j < fan_in; j++) v[j] = start;
        iters = first_iters;
    }
    u.assign(fan_out, 0.0);
    std::vector<double> w(fan_in);
    for (int k = 0; k < iters; k++)
        if (!iterate(W, fan_out, fan_in, v, u.data(), w.data())) break;  // W v = 0: every further step is too
    multiply(u.data(), W, v, fan_out, fan_in);
    return std::sqrt(sum_of_squares(u.data(), fan_out));
}

}  // namespace

// W (fan_out, fan_in), v (fan_in) in/out.
template <typename T>
double power_iteration(const T* W, int fan_out, int fan_in, T* v, int iters, int first_iters) {
    check_args("power_iteration", fan_out, fan_in, iters, first_iters);
    std::vector<double> u;
    return iterate_all(W, fan_out, fan_in, v, iters, first_iters, u);
}

// W (fan_out, fan_in), v (fan_in) in/out: W -= d (W v) v^T after the iterations.
template <typename T>
double spectral_decay(T* W, int fan_out, int fan_in, T* v, double d, int iters, int first_iters) {
    check_args("spectral_decay", fan_out, fan_in, iters, first_iters);
    if (!(d >= 0 && d <= 1)) fail("spectral_decay: the decay d must be in [0, 1] (got " + std::to_string(d) + ")");
    if (d == 0) return 0;  // checked above first, so a bad call fails in steps without decay too
    std::vector<double> u;
    const double sigma = iterate_all(W, fan_out, fan_in, v, iters, first_iters, u);
    // W -= d (W v) v^T, row by row
#pragma omp parallel for schedule(static) if ((long)fan_out * fan_in >= PARALLEL_MIN)
    for (int i = 0; i < fan_out; i++) {
        T* row = W + (size_t)i * fan_in;
        const double c = d * u[i];
        for (int j = 0; j < fan_in; j++) row[j] = (T)((double)row[j] - c * (double)v[j]);
    }
    return sigma;
}

#define INSTANTIATE(T)                                                    \
    template double power_iteration<T>(const T*, int, int, T*, int, int); \
    template double spectral_decay<T>(T*, int, int, T*, double, int, int);
INSTANTIATE(float)
INSTANTIATE(double)
