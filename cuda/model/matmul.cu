// The linear layer on the GPU (twin of src/model/matmul.h): the products go to
// cuBLAS, the bias to two small kernels.
//
// cuBLAS is column-major; our matrices are row-major. A row-major (R,C)
// matrix is the same memory as a column-major (C,R) one, i.e. its transpose,
// so every product below is written for the transposes:
//   out (N,OC) = inp (N,C) @ W^T        <=>  out^T = W inp^T       (OC x N)
//   dinp (N,C) += dout (N,OC) @ W       <=>  dinp^T += W^T dout^T  (C x N)
//   dW (OC,C) += dout^T @ inp           <=>  dW^T += inp^T dout    (C x OC)
#include "common.cuh"

namespace gpu {

// out (N,OC) += bias (OC) on every row.
__global__ void add_bias_kernel(float* out, const float* bias, long N, int OC) {
    long i = blockIdx.x * (long)blockDim.x + threadIdx.x;
    if (i < N * OC) out[i] += bias[i % OC];
}

// dbias (OC) += sum over rows of dout (N,OC), deterministic in two stages:
// each thread sums one column over one chunk of rows, in row order, into
// partial (chunks, OC); then one thread per column adds the chunks in order.
__global__ void column_partial_sums_kernel(float* partial, const float* x, int N, int OC, int rows_per_chunk) {
    int c = blockIdx.x * blockDim.x + threadIdx.x, chunk = blockIdx.y;
    if (c >= OC) return;
    int r0 = chunk * rows_per_chunk, r1 = min(N, r0 + rows_per_chunk);
    float s = 0;
    for (int r = r0; r < r1; r++) s += x[(size_t)r * OC + c];
    partial[(size_t)chunk * OC + c] = s;
}

__global__ void add_chunk_sums_kernel(float* out, const float* partial, int chunks, int OC) {
    int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= OC) return;
    float s = 0;
    for (int k = 0; k < chunks; k++) s += partial[(size_t)k * OC + c];
    out[c] += s;
}

// Rows per chunk for a column reduction over N rows: enough chunks to fill
// the GPU when there are few columns, each chunk long enough to be worth a
// thread. The choice depends only on N, so results do not depend on the GPU.
static int rows_per_chunk(int N) { return N <= 64 ? N : max(64, (N + 255) / 256); }

static void column_sums_add(float* out, const float* x, int N, int OC) {
    if (N <= 0 || OC <= 0) return;
    const int per = rows_per_chunk(N), chunks = (N + per - 1) / per;
    float* partial = (float*)scratch(SCRATCH_PARTIAL, sizeof(float) * (size_t)chunks * OC);
    dim3 grid(blocks_for(OC, 128), chunks);
    column_partial_sums_kernel<<<grid, 128>>>(partial, x, N, OC, per);
    LAUNCH_CHECK();
    add_chunk_sums_kernel<<<blocks_for(OC, 128), 128>>>(out, partial, chunks, OC);
    LAUNCH_CHECK();
}

void matmul_forward(float* out, const float* inp, const float* weight, const float* bias, int N, int C, int OC) {
    const Precision p = options().precision;
    // out^T (OC,N) = W (OC,C as column-major C x OC, transposed) x inp^T (C,N)
    gemm(true, false, OC, N, C, 1.0f, weight, C, 0, (size_t)OC * C, inp, C, 0, (size_t)N * C, 0.0f, out, OC, 0, 1, p);
    if (bias) {
        add_bias_kernel<<<blocks_for((long)N * OC, 256), 256>>>(out, bias, N, OC);
        LAUNCH_CHECK();
    }
}

void matmul_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                     const float* weight, int N, int C, int OC) {
    const Precision p = options().precision;
    if (dinp)  // dinp^T (C,N) += W^T (C,OC) dout^T (OC,N)
        gemm(false, false, C, N, OC, 1.0f, weight, C, 0, (size_t)OC * C, dout, OC, 0, (size_t)N * OC, 1.0f, dinp, C,
             0, 1, p);
    if (dweight)  // dW^T (C,OC) += inp^T (C,N) dout (N,OC)
        gemm(false, true, C, OC, N, 1.0f, inp, C, 0, (size_t)N * C, dout, OC, 0, (size_t)N * OC, 1.0f, dweight, C,
             0, 1, p);
    if (dbias) column_sums_add(dbias, dout, N, OC);
}

// The adapter's four products, each written for the transposes as above
// (A (r,C) and B (OC,r) are weights like W; u (N,r) and du are activations).
void lora_forward(float* out, float* u, const float* inp, const float* A, const float* B, float scale, int N, int C,
                  int OC, int r) {
    const Precision p = options().precision;
    // u^T (r,N) = A (r,C) inp^T (C,N)
    gemm(true, false, r, N, C, 1.0f, A, C, 0, (size_t)r * C, inp, C, 0, (size_t)N * C, 0.0f, u, r, 0, 1, p);
    // out^T (OC,N) += scale * B (OC,r) u^T (r,N)
    gemm(true, false, OC, N, r, scale, B, r, 0, (size_t)OC * r, u, r, 0, (size_t)N * r, 1.0f, out, OC, 0, 1, p);
}

void lora_backward(float* dinp, float* dA, float* dB, float* du, const float* dout, const float* inp, const float* u,
                   const float* A, const float* B, float scale, int N, int C, int OC, int r) {
    const Precision p = options().precision;
    // dB^T (r,OC) += scale * u^T (r,N) dout (N,OC)
    if (dB)
        gemm(false, true, r, OC, N, scale, u, r, 0, (size_t)N * r, dout, OC, 0, (size_t)N * OC, 1.0f, dB, r, 0, 1, p);
    // du^T (r,N) = scale * B^T (r,OC) dout^T (OC,N)
    gemm(false, false, r, N, OC, scale, B, r, 0, (size_t)OC * r, dout, OC, 0, (size_t)N * OC, 0.0f, du, r, 0, 1, p);
    // dA^T (C,r) += inp^T (C,N) du (N,r); dinp^T (C,N) += A^T (C,r) du^T (r,N)
    matmul_backward(dinp, dA, nullptr, du, inp, A, N, C, r);
}

}  // namespace gpu
