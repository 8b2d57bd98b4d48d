// Spectral-norm weight decay on the GPU, twin of src/optim/spectral_decay.cpp
// (the formulas are in its header).
//
// Every sum is in double in a fixed order (a warp per row of W v, a thread
// per column of W^T u, one block for each norm), so a run repeats bit for bit;
// the CPU sums in another order, so the two agree to rounding. The iteration
// runs on the device without host round trips: the normalization reads the
// norms from device memory. The host reads v once per call (fan_in floats)
// to see whether it is all zeros ("no vector yet"), and sigma1 at the end.
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "common.cuh"

namespace gpu {

static const int THREADS = 256, WARPS = THREADS / 32;

// u (fan_out) = W (fan_out, fan_in) v (fan_in): warp r of the grid takes
// rows r, r + all warps, ...; lanes stride over the row, then a fixed butterfly.
__global__ void rows_kernel(double* u, const float* W, const float* v, int fan_out, int fan_in) {
    const int lane = threadIdx.x % 32, warps = gridDim.x * WARPS;
    for (int i = blockIdx.x * WARPS + threadIdx.x / 32; i < fan_out; i += warps) {  // the same for the whole warp
        const float* row = W + (size_t)i * fan_in;
        double s = 0;
        for (int j = lane; j < fan_in; j += 32) s += (double)row[j] * (double)v[j];
        s = warp_sum(s);
        if (lane == 0) u[i] = s;
    }
}

// w (fan_in) = W^T u (fan_out): a thread per column, summing i = 0, 1, ...
__global__ void columns_kernel(double* w, const float* W, const double* u, int fan_out, int fan_in) {
    for (int j = blockIdx.x * blockDim.x + threadIdx.x; j < fan_in; j += gridDim.x * blockDim.x) {
        double s = 0;
        for (int i = 0; i < fan_out; i++) s += (double)W[(size_t)i * fan_in + j] * u[i];
        w[j] = s;
    }
}

// *out = sum of x[i]^2 over x (n); one block.
__global__ void sum_of_squares_kernel(double* out, const double* x, int n) {
    __shared__ double shared[32];
    double s = 0;
    for (int i = threadIdx.x; i < n; i += blockDim.x) s += x[i] * x[i];
    s = block_sum(s, shared);
    if (threadIdx.x == 0) *out = s;
}

// v (fan_in) = w / ||w||, unless W v was 0 (sums[0] = ||W v||^2, sums[1] = ||w||^2).
__global__ void normalize_kernel(float* v, const double* w, const double* sums, int fan_in) {
    if (sums[0] == 0 || sums[1] == 0) return;
    const double norm = sqrt(sums[1]);
    for (int j = blockIdx.x * blockDim.x + threadIdx.x; j < fan_in; j += gridDim.x * blockDim.x)
        v[j] = (float)(w[j] / norm);
}

// W (fan_out, fan_in) -= d u v^T, u = W v (fan_out), v (fan_in).
__global__ void decay_kernel(float* W, const double* u, const float* v, double d, int fan_out, int fan_in) {
    const size_t n = (size_t)fan_out * fan_in;
    for (size_t k = blockIdx.x * (size_t)blockDim.x + threadIdx.x; k < n; k += (size_t)gridDim.x * blockDim.x) {
        const size_t i = k / fan_in, j = k % fan_in;
        W[k] = (float)((double)W[k] - (d * u[i]) * (double)v[j]);
    }
}

// The CPU's checks and messages (src/optim/spectral_decay.cpp).
static void check_args(const char* who, int fan_out, int fan_in, int iters, int first_iters) {
    if (fan_out < 1 || fan_in < 1)
        fail(std::string(who) + ": the matrix must have at least one row and column (got " + std::to_string(fan_out) +
             " x " + std::to_string(fan_in) + ")");
    if (iters < 1 || first_iters < 1)
        fail(std::string(who) + ": power iteration needs at least 1 iteration (got iters " + std::to_string(iters) +
             ", first_iters " + std::to_string(first_iters) + ")");
}

// Device scratch: u (fan_out), w (fan_in), the two squared norms.
struct Work {
    double *u, *w, *sums;
};

static Work work_for(int fan_out, int fan_in) {
    double* base = (double*)scratch(SCRATCH_PARTIAL, sizeof(double) * ((size_t)fan_out + fan_in + 2));
    return {base, base + fan_out, base + fan_out + fan_in};
}

// u (fan_out) = W (fan_out, fan_in) v (fan_in), a warp per row.
static void multiply(double* u, const float* W, const float* v, int fan_out, int fan_in) {
    const unsigned blocks = std::min((fan_out + WARPS - 1) / WARPS, 4096);
    rows_kernel<<<blocks, THREADS>>>(u, W, v, fan_out, fan_in);
    LAUNCH_CHECK();
}

// W (fan_out, fan_in), v (fan_in) in/out: the iterations, leaving work.u = W v
// for the final v; returns ||W v||.
static double iterate_all(const float* W, int fan_out, int fan_in, float* v, int iters, int first_iters,
                          const Work& work) {
    std::vector<float> host(fan_in);
    download(host.data(), v, fan_in);
    if (std::all_of(host.begin(), host.end(), [](float x) { return x == 0.0f; })) {  // no vector yet
        std::fill(host.begin(), host.end(), (float)(1.0 / std::sqrt((double)fan_in)));
        upload(v, host.data(), fan_in);
        iters = first_iters;
    }
    const unsigned column_blocks = std::min(blocks_for(fan_in, THREADS), 4096u);
    for (int k = 0; k < iters; k++) {
        multiply(work.u, W, v, fan_out, fan_in);
        sum_of_squares_kernel<<<1, THREADS>>>(work.sums, work.u, fan_out);
        LAUNCH_CHECK();
        columns_kernel<<<column_blocks, THREADS>>>(work.w, W, work.u, fan_out, fan_in);
        LAUNCH_CHECK();
        sum_of_squares_kernel<<<1, THREADS>>>(work.sums + 1, work.w, fan_in);
        LAUNCH_CHECK();
        normalize_kernel<<<column_blocks, THREADS>>>(v, work.w, work.sums, fan_in);
        LAUNCH_CHECK();
    }
    multiply(work.u, W, v, fan_out, fan_in);
    sum_of_squares_kernel<<<1, THREADS>>>(work.sums, work.u, fan_out);
    LAUNCH_CHECK();
    double sum = 0;
    download(&sum, work.sums, 1);
    return std::sqrt(sum);
}

// W (fan_out, fan_in), v (fan_in) in/out.
double power_iteration(const float* W, int fan_out, int fan_in, float* v, int iters, int first_iters) {
    check_args("power_iteration", fan_out, fan_in, iters, first_iters);
    return iterate_all(W, fan_out, fan_in, v, iters, first_iters, work_for(fan_out, fan_in));
}

// W (fan_out, fan_in), v (fan_in) in/out: W -= d (W v) v^T after the iterations.
double spectral_decay(float* W, int fan_out, int fan_in, float* v, double d, int iters, int first_iters) {
    check_args("spectral_decay", fan_out, fan_in, iters, first_iters);
    if (!(d >= 0 && d <= 1)) fail("spectral_decay: the decay d must be in [0, 1] (got " + std::to_string(d) + ")");
    if (d == 0) return 0;
    const Work work = work_for(fan_out, fan_in);
    const double sigma = iterate_all(W, fan_out, fan_in, v, iters, first_iters, work);
    const size_t n = (size_t)fan_out * fan_in;
    decay_kernel<<<std::min(blocks_for((long)n, THREADS), 4096u), THREADS>>>(W, work.u, v, d, fan_out, fan_in);
    LAUNCH_CHECK();
    return sigma;
}

}  // namespace gpu
