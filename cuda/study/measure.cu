// The per-matrix measurements on the GPU, twin of src/study/measure.cpp: the sums
// of squares run here (in double, one block per matrix row, the rows' sums
// added on the host in row order), and src/study/measure.cpp's
// matrix_stats_from_sums forms the ratios, so the two devices share every
// formula. The products X W^T and X ΔW^T are fp32 whatever the training
// precision: ΔW is a small difference and must not lose bits to bf16.
#include <vector>

#include "common.cuh"

namespace gpu {

// Pass 1, block k = row k of W: ΔW (in double, rounded once to float for the
// product) and the row's four sums of squares (see MatrixSums).
__global__ void measure_pass1_kernel(double* partial, float* dw, const float* w_before, const float* w_after, int K,
                                     int C, double decay) {
    __shared__ double shared[32];
    const int k = blockIdx.x;
    const size_t o = (size_t)k * C;
    double wb2 = 0, wa2 = 0, dw2 = 0, step2 = 0;
    for (int c = threadIdx.x; c < C; c += blockDim.x) {
        const double b = w_before[o + c], a = w_after[o + c];
        const double d = a - b;
        const double step = d + decay * b;  // = -lr u
        wb2 += b * b;
        wa2 += a * a;
        dw2 += d * d;
        step2 += step * step;
        dw[o + c] = (float)d;
    }
    wb2 = block_sum(wb2, shared);
    wa2 = block_sum(wa2, shared);
    dw2 = block_sum(dw2, shared);
    step2 = block_sum(step2, shared);
    if (threadIdx.x == 0) {
        partial[k] = wb2;
        partial[K + k] = wa2;
        partial[2 * K + k] = dw2;
        partial[3 * K + k] = step2;
    }
}

// Pass 2: the chord between the unit matrices, row by row.
__global__ void measure_chord_kernel(double* partial, const float* w_before, const float* w_after, int C, double ib,
                                     double di) {
    __shared__ double shared[32];
    const size_t o = (size_t)blockIdx.x * C;
    double chord2 = 0;
    for (int c = threadIdx.x; c < C; c += blockDim.x) {
        const double b = w_before[o + c], a = w_after[o + c];
        const double e = (b - a) * ib + a * di;
        chord2 += e * e;
    }
    chord2 = block_sum(chord2, shared);
    if (threadIdx.x == 0) partial[blockIdx.x] = chord2;
}

// Sum of squares of each row of an (rows, cols) matrix.
__global__ void row_sum_of_squares_kernel(double* partial, const float* a, int cols) {
    __shared__ double shared[32];
    const size_t o = (size_t)blockIdx.x * cols;
    double s = 0;
    for (int c = threadIdx.x; c < cols; c += blockDim.x) s += (double)a[o + c] * a[o + c];
    s = block_sum(s, shared);
    if (threadIdx.x == 0) partial[blockIdx.x] = s;
}

// Adds `count` device doubles on the host, in order.
static double sum_on_host(const double* device, int count) {
    std::vector<double> host((size_t)count);
    download(host.data(), device, (size_t)count);
    double s = 0;
    for (double x : host) s += x;
    return s;
}

static double frobenius_sq(const float* a, int rows, int cols) {
    double* partial = (double*)scratch(SCRATCH_PARTIAL, sizeof(double) * rows);
    row_sum_of_squares_kernel<<<rows, 256>>>(partial, a, cols);
    LAUNCH_CHECK();
    return sum_on_host(partial, rows);
}

MatrixStats measure_matrix(const float* w_before, const float* w_after, int K, int C, const float* x, int n,
                           double lr, double decay, double beta1) {
    check_measure_arguments(K, C, n, lr, decay, beta1);
    if (!w_before || !w_after || (n > 0 && !x)) fail("gpu::measure_matrix: null matrix");
    const size_t KC = (size_t)K * C;
    MatrixSums sums;
    float* dw = (float*)scratch(SCRATCH_MEASURE, sizeof(float) * KC);
    double* partial = (double*)scratch(SCRATCH_PARTIAL, sizeof(double) * 4 * (size_t)K);
    measure_pass1_kernel<<<K, 256>>>(partial, dw, w_before, w_after, K, C, decay);
    LAUNCH_CHECK();
    std::vector<double> rows(4 * (size_t)K);  // the four per-row sums, fetched at once
    download(rows.data(), partial, rows.size());
    double* sum[4] = {&sums.w_before_sq, &sums.w_after_sq, &sums.dw_sq, &sums.step_sq};
    for (int q = 0; q < 4; q++)
        for (int k = 0; k < K; k++) *sum[q] += rows[(size_t)q * K + k];  // in row order, as the CPU
    double ib, di;
    if (chord_coefficients(sums, &ib, &di)) {
        measure_chord_kernel<<<K, 256>>>(partial, w_before, w_after, C, ib, di);
        LAUNCH_CHECK();
        sums.chord_sq = sum_on_host(partial, K);
    }
    if (n > 0) {
        sums.x_sq = frobenius_sq(x, n, C);
        float* y = (float*)scratch(SCRATCH_MEASURE_Y, sizeof(float) * (size_t)n * K);
        // y (n,K) = x (n,C) @ W^T, as matmul_forward (see matmul.cu), in fp32
        gemm(true, false, K, n, C, 1.0f, w_before, C, 0, KC, x, C, 0, (size_t)n * C, 0.0f, y, K, 0, 1,
             Precision::FP32);
        sums.wx_sq = frobenius_sq(y, n, K);
        gemm(true, false, K, n, C, 1.0f, dw, C, 0, KC, x, C, 0, (size_t)n * C, 0.0f, y, K, 0, 1, Precision::FP32);
        sums.dwx_sq = frobenius_sq(y, n, K);
    }
    return matrix_stats_from_sums(sums, K, C, lr, decay, beta1);
}

__global__ void gather_rows_kernel(float* out, const float* x, const int* rows, int n, int C) {
    long i = blockIdx.x * (long)blockDim.x + threadIdx.x;
    if (i >= (long)n * C) return;
    out[i] = x[(size_t)rows[i / C] * C + i % C];
}

void gather_rows(const float* x, int C, const std::vector<int>& rows, float* out) {
    const int n = (int)rows.size();
    if (n == 0) return;
    int* dev = (int*)scratch(SCRATCH_INDEX, sizeof(int) * rows.size());
    upload(dev, rows.data(), rows.size());
    gather_rows_kernel<<<blocks_for((long)n * C, 256), 256>>>(out, x, dev, n, C);
    LAUNCH_CHECK();
}

}  // namespace gpu
