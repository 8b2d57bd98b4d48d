// Muon on the GPU, twin of src/optim/muon.cpp: the same steps, the products
// through common.cuh's gemm, always in fp32 (Precision::FP32), whatever the
// training precision: the update is then the CPU's to float rounding in every
// precision, and the precision flag changes the layers' matmuls only.
// (Keller Jordan's reference runs the iteration in bf16; the quintic
// coefficients tolerate that, but it would make the update differ with
// the precision chosen for the layers.) The
// Frobenius norm is a fixed-order sum in double that stays on the device (no
// synchronization with the host per matrix), and cuBLAS runs without atomics
// (runtime.cu), so a run repeats bit for bit.
//
// cuBLAS is column-major: a row-major (R, C) matrix X is the column-major
// (C, R) matrix Y = X^T in the same memory. So (row-major statements, then
// the column-major product actually asked for; Y, A, B as stored):
//   wide (R <= C): A = X X^T    <=>  A = Y^T Y    (A and B are symmetric)
//                  X' = aX + BX <=>  Y' = aY + Y B
//   tall (R > C):  A = X^T X    <=>  A = Y Y^T
//                  X' = aX + XB <=>  Y' = aY + B Y
//   both:          B = bA + cAA (the same in either order)
#include <algorithm>

#include "common.cuh"

namespace gpu {

// Muon's own device workspace: grows to the largest request and is kept for
// the process, as common.cuh's scratch slots (whose list this file leaves
// alone). One allocation, carved up by the callers.
static float* workspace(size_t floats) {
    static float* ptr = nullptr;
    static size_t size = 0;
    if (floats > size) {
        synchronize();  // no kernel may still use the old buffer
        free_bytes(ptr);
        ptr = nullptr;  // never left dangling if the allocation below fails
        size = 0;
        ptr = (float*)alloc_bytes(floats * sizeof(float));
        size = floats;
    }
    return ptr;
}

// The floats newton_schulz_into needs for a (rows, cols) matrix: X, X', A, B.
static size_t ns_workspace(int rows, int cols) {
    const size_t n = (size_t)rows * cols, r = (size_t)std::min(rows, cols);
    return 2 * n + 2 * r * r;
}

static void check_shape(const char* who, int rows, int cols, int steps) {
    if (rows < 1 || cols < 1 || steps < 1)
        fail(std::string("gpu::") + who + ": needs rows, cols and Newton-Schulz steps >= 1, got (" +
             std::to_string(rows) + ", " + std::to_string(cols) + ") and " + std::to_string(steps) + " steps");
}

// The Frobenius norm, without a trip to the host: each of a fixed number of
// blocks (set by n alone) sums the squares of a fixed stride of elements in
// double, in a fixed tree order, into partial (blocks); then every block of
// muon_normalize_kernel adds those partials in order, so a run repeats bit for bit.
static const int NORM_THREADS = 256, NORM_MAX_BLOCKS = 128;
static unsigned norm_blocks(size_t n) {
    return std::min(blocks_for((long)n, NORM_THREADS), (unsigned)NORM_MAX_BLOCKS);
}

// out (n) = in (n) / (||in||_F + 1e-7), the norm from `blocks` partial sums.
__global__ void muon_normalize_kernel(float* out, const float* in, const double* partial, int blocks, size_t n) {
    __shared__ float norm;
    if (threadIdx.x == 0) {
        double sum = 0;
        for (int b = 0; b < blocks; b++) sum += partial[b];
        norm = (float)(sqrt(sum) + 1e-7);
    }
    __syncthreads();
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        out[i] = in[i] / norm;
}

// m = beta m + g; u = beta m + g (Nesterov) when u is given. All (n).
__global__ void muon_momentum_kernel(float* m, float* u, const float* g, float beta, size_t n) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        const float mi = beta * m[i] + g[i];
        m[i] = mi;
        if (u) u[i] = beta * mi + g[i];
    }
}

// p = p (1 - decay) - step o, the decay skipped when there is none. All (n).
__global__ void muon_apply_kernel(float* p, const float* o, float decay_factor, int has_decay, float step, size_t n) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        float pi = p[i];
        if (has_decay) pi *= decay_factor;
        p[i] = pi - step * o[i];
    }
}

static unsigned grid_for(size_t n) { return std::min(blocks_for((long)n, 256), 4096u); }

// One step, X (rows, cols) -> next, with A and B (r, r) of workspace; see the top.
static void ns_step(float* next, const float* X, float* A, float* B, int rows, int cols, const NSCoeffs& k) {
    const bool tall = rows > cols;
    const int r = tall ? cols : rows;
    const size_t n = (size_t)rows * cols, rr = (size_t)r * r;
    const Precision fp32 = Precision::FP32;
    if (tall) gemm(false, true, r, r, rows, 1.0f, X, cols, 0, n, X, cols, 0, n, 0.0f, A, r, 0, 1, fp32);
    else gemm(true, false, r, r, cols, 1.0f, X, cols, 0, n, X, cols, 0, n, 0.0f, A, r, 0, 1, fp32);
    copy_bytes(B, A, rr * sizeof(float));
    gemm(false, false, r, r, r, (float)k.c, A, r, 0, rr, A, r, 0, rr, (float)k.b, B, r, 0, 1, fp32);
    copy_bytes(next, X, n * sizeof(float));
    if (tall)
        gemm(false, false, cols, rows, cols, 1.0f, B, cols, 0, rr, X, cols, 0, n, (float)k.a, next, cols, 0, 1, fp32);
    else
        gemm(false, false, cols, rows, rows, 1.0f, X, cols, 0, n, B, rows, 0, rr, (float)k.a, next, cols, 0, 1, fp32);
}

// newton_schulz with its workspace given (ns_workspace floats); out may be in.
static void newton_schulz_into(float* out, const float* in, int rows, int cols, int steps, NSCoefficients coeffs,
                               float* ws) {
    const size_t n = (size_t)rows * cols, r = (size_t)std::min(rows, cols);
    float *X = ws, *next = ws + n, *A = ws + 2 * n, *B = A + r * r;
    const unsigned blocks = norm_blocks(n);
    double* partial = (double*)scratch(SCRATCH_PARTIAL, sizeof(double) * blocks);
    squares_partials(partial, in, n, blocks, NORM_THREADS);
    muon_normalize_kernel<<<grid_for(n), 256>>>(X, in, partial, (int)blocks, n);
    LAUNCH_CHECK();
    const NSCoeffs k = ns_coeffs(coeffs);
    for (int s = 0; s < steps; s++) {
        ns_step(next, X, A, B, rows, cols, k);
        std::swap(X, next);
    }
    copy_bytes(out, X, n * sizeof(float));
}

void newton_schulz(float* out, const float* in, int rows, int cols, int steps, NSCoefficients coeffs) {
    check_shape("newton_schulz", rows, cols, steps);
    newton_schulz_into(out, in, rows, cols, steps, coeffs, workspace(ns_workspace(rows, cols)));
}

void muon_update(float* params, const float* grads, float* momentum, int fan_out, int fan_in, double lr,
                 double decay, double beta, bool nesterov, int ns_steps, NSCoefficients coeffs, double scale) {
    check_shape("muon_update", fan_out, fan_in, ns_steps);
    const size_t n = (size_t)fan_out * fan_in;
    float* ws = workspace(n + ns_workspace(fan_out, fan_in));
    float *O = ws, *ns = ws + n;
    muon_momentum_kernel<<<grid_for(n), 256>>>(momentum, nesterov ? O : nullptr, grads, (float)beta, n);
    LAUNCH_CHECK();
    newton_schulz_into(O, nesterov ? O : momentum, fan_out, fan_in, ns_steps, coeffs, ns);
    muon_apply_kernel<<<grid_for(n), 256>>>(params, O, (float)(1.0 - decay), decay != 0.0, (float)(lr * scale), n);
    LAUNCH_CHECK();
}

}  // namespace gpu
