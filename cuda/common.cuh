// What every .cu file shares: error checks that name the failing call, the
// launch shape helpers, warp and block reductions, and the cuBLAS handle.
// Internal to cuda/ (the public API is gpu.h).
#pragma once
#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <string>

#include "gpu.h"
#include "util/util.h"

namespace gpu {

// A failed CUDA or cuBLAS call ends the program through util.h's fail(), with
// the call, the error and where it happened.
[[noreturn]] void cuda_fail(const char* what, const char* error, const char* file, int line);
#define CUDA_CHECK(call)                                                                         \
    do {                                                                                         \
        cudaError_t err_ = (call);                                                               \
        if (err_ != cudaSuccess) ::gpu::cuda_fail(#call, cudaGetErrorString(err_), __FILE__, __LINE__); \
    } while (0)
#define CUBLAS_CHECK(call)                                                                        \
    do {                                                                                          \
        cublasStatus_t st_ = (call);                                                              \
        if (st_ != CUBLAS_STATUS_SUCCESS)                                                         \
            ::gpu::cuda_fail(#call, cublasGetStatusString(st_), __FILE__, __LINE__);              \
    } while (0)
// After a kernel launch: catches bad launch configurations at once (the
// kernel's own faults surface at the next synchronizing call).
#define LAUNCH_CHECK()                                                                                  \
    do {                                                                                                \
        cudaError_t err_ = cudaGetLastError();                                                          \
        if (err_ != cudaSuccess)                                                                        \
            ::gpu::cuda_fail("kernel launch (rerun with CUDA_LAUNCH_BLOCKING=1 to find a faulting kernel)", \
                             cudaGetErrorString(err_), __FILE__, __LINE__);                             \
    } while (0)

// The cuBLAS handle of this process (created by init()); all work runs on the
// default stream, so the order of calls is the order of execution.
cublasHandle_t cublas();

// Blocks of `threads` covering n items; at least one, since an empty launch
// is an error (the kernels check their bounds, so it does nothing).
inline unsigned blocks_for(long n, int threads) { return n <= 0 ? 1u : (unsigned)((n + threads - 1) / threads); }

// Sum over the 32 lanes of a warp, in a fixed butterfly order: every lane
// gets the same, reproducible result.
template <typename T>
__device__ inline T warp_sum(T x) {
    for (int offset = 16; offset > 0; offset >>= 1) x += __shfl_xor_sync(0xffffffffu, x, offset);
    return x;
}
template <typename T>
__device__ inline T warp_max(T x) {
    for (int offset = 16; offset > 0; offset >>= 1) x = max(x, __shfl_xor_sync(0xffffffffu, x, offset));
    return x;
}

// Sum over a block whose size is a multiple of 32 (at most 1024), in a fixed
// order; every thread gets the result. `shared` holds 32 values.
template <typename T>
__device__ inline T block_sum(T x, T* shared) {
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, warps = blockDim.x / 32;
    x = warp_sum(x);
    __syncthreads();  // `shared` may still be read by a previous call
    if (lane == 0) shared[warp] = x;
    __syncthreads();
    x = lane < warps ? shared[lane] : (T)0;
    return warp_sum(x);
}
template <typename T>
__device__ inline T block_max(T x, T* shared, T lowest) {
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, warps = blockDim.x / 32;
    x = warp_max(x);
    __syncthreads();
    if (lane == 0) shared[warp] = x;
    __syncthreads();
    x = lane < warps ? shared[lane] : lowest;
    return warp_max(x);
}

// The general product every matmul goes through, in cuBLAS's column-major
// terms: C = alpha op(A) op(B) + beta C for `batch` matrices at the given
// strides (batch = 1: a plain GEMM). a_elems and b_elems are how many floats
// A and B span (needed to round them to bf16 in that mode). C stays float.
void gemm(bool transA, bool transB, int m, int n, int k, float alpha, const float* A, int lda, long long strideA,
          size_t a_elems, const float* B, int ldb, long long strideB, size_t b_elems, float beta, float* C, int ldc,
          long long strideC, int batch, Precision precision);

// Scratch device memory that grows to the largest request and is kept for
// the process (attention's per-head copies, bf16 operands, partial sums).
// Slots are independent, so nested users pick different slots.
enum ScratchSlot { SCRATCH_Q, SCRATCH_K, SCRATCH_V, SCRATCH_Y, SCRATCH_DV, SCRATCH_PREATT, SCRATCH_BF16_A, SCRATCH_BF16_B,
                   SCRATCH_PARTIAL, SCRATCH_INDEX, SCRATCH_MEASURE, SCRATCH_MEASURE_Y, SCRATCH_COUNT };
void* scratch(ScratchSlot slot, size_t bytes);

// partial (blocks): each block's sum of the squares of its share of x (n), in
// double; each thread takes a fixed stride and each block sums in a fixed tree
// order, so the partials do not depend on the GPU (cuda/optim/optimizer.cu;
// the gradient norm and Muon's Frobenius norm add them up).
void squares_partials(double* partial, const float* x, size_t n, unsigned blocks, unsigned threads);

}  // namespace gpu
