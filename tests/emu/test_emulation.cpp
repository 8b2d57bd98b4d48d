// The CPU emulation of CUDA (cuda_emulation.h) is what runs tests/cuda/ on
// machines without a GPU, so it is tested itself: thread and block indices,
// shared memory, __syncthreads, warp shuffles, atomics, the errors it must
// report (a bad launch, threads stuck at different barriers, a shuffle with exited lanes,
// a GEMM with a bad leading dimension), and the GEMM against plain loops.
// Built only into build/emu/test_lrt (the Makefile's EMU_FLAGS).
#include <catch2/catch.hpp>

#include <cuda_runtime.h>

#include <cstdlib>
#include <numeric>
#include <stdexcept>
#include <vector>

namespace {

__global__ void write_indices(int* out, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) out[i] = 1000 * (int)blockIdx.x + (int)threadIdx.x;
}

// Reverses each block's slice through shared memory: correct only if every
// thread's write happens before any thread's read (the barrier).
__global__ void reverse_in_block(int* data) {
    __shared__ int tile[256];
    int* d = data + blockIdx.x * blockDim.x;
    tile[threadIdx.x] = d[threadIdx.x];
    __syncthreads();
    d[threadIdx.x] = tile[blockDim.x - 1 - threadIdx.x];
}

__global__ void warp_sums(float* out, const float* in) {
    float x = in[blockIdx.x * blockDim.x + threadIdx.x];
    for (int offset = 16; offset > 0; offset >>= 1) x += __shfl_xor_sync(0xffffffffu, x, offset);
    out[blockIdx.x * blockDim.x + threadIdx.x] = x;
}

__global__ void count_with_atomics(float* counter) { atomicAdd(counter, 1.0f); }

// Half a warp waits at __syncthreads, the other half at a shuffle that needs
// the whole warp: neither can go on (exited threads, by contrast, release a
// barrier, as on current GPUs).
__global__ void divergent_barrier(int* out) {
    if (threadIdx.x < 16) __syncthreads();
    else out[threadIdx.x] = (int)__shfl_xor_sync(0xffffffffu, 1.0f, 1);
    out[threadIdx.x] = 1;
}

__global__ void shuffle_after_exit(float* out) {
    if (threadIdx.x >= 8) return;  // lanes 8..31 exit, 0..7 shuffle: undefined on a GPU
    out[threadIdx.x] = __shfl_xor_sync(0xffffffffu, 1.0f, 1);
}

}  // namespace

TEST_CASE("emulation: indices, shared memory and barriers", "[cuda][emulation]") {
    std::vector<int> out(1000, -1);
    EMU_LAUNCH(write_indices, 4, 256)(out.data(), 1000);
    REQUIRE(cudaGetLastError() == cudaSuccess);
    for (int i = 0; i < 1000; i++) CHECK(out[(size_t)i] == 1000 * (i / 256) + i % 256);

    std::vector<int> data(512);
    std::iota(data.begin(), data.end(), 0);
    EMU_LAUNCH(reverse_in_block, 2, 256)(data.data());
    for (int b = 0; b < 2; b++)
        for (int t = 0; t < 256; t++) CHECK(data[(size_t)(b * 256 + t)] == b * 256 + 255 - t);
}

TEST_CASE("emulation: warp shuffles sum each warp, atomics count every thread", "[cuda][emulation]") {
    std::vector<float> in(128), out(128);
    for (int i = 0; i < 128; i++) in[(size_t)i] = (float)(i % 37);
    EMU_LAUNCH(warp_sums, 2, 64)(out.data(), in.data());
    for (int w = 0; w < 4; w++) {
        float expect = 0;
        for (int l = 0; l < 32; l++) expect += in[(size_t)(w * 32 + l)];
        for (int l = 0; l < 32; l++) CHECK(out[(size_t)(w * 32 + l)] == expect);
    }
    float counter = 0;
    EMU_LAUNCH(count_with_atomics, 3, 100)(&counter);
    CHECK(counter == 300.0f);
}

TEST_CASE("emulation: a bad launch is an error at cudaGetLastError", "[cuda][emulation]") {
    std::vector<int> out(8);
    EMU_LAUNCH(write_indices, 1, 2048)(out.data(), 8);  // more than 1024 threads per block
    CHECK(cudaGetLastError() == cudaErrorInvalidConfiguration);
    CHECK(cudaGetLastError() == cudaSuccess);  // reading the error clears it
    EMU_LAUNCH(write_indices, dim3(1, 70000), 32)(out.data(), 8);  // gridDim.y above 65535
    CHECK(cudaGetLastError() == cudaErrorInvalidConfiguration);
}

TEST_CASE("emulation: GEMM follows cuBLAS's column-major definition and checks its arguments", "[cuda][emulation]") {
    // C (2x3) = A^T (2x4) B (4x3), with A stored 4x2 (lda 4) and B 4x3 (ldb 5, padded)
    std::vector<float> A(8), B(15, 99.0f), C(6, -1.0f);
    for (int i = 0; i < 8; i++) A[(size_t)i] = (float)(i + 1);
    for (int j = 0; j < 3; j++)
        for (int l = 0; l < 4; l++) B[(size_t)(l + 5 * j)] = (float)(l - j);
    cublasHandle_t h;
    REQUIRE(cublasCreate(&h) == CUBLAS_STATUS_SUCCESS);
    float one = 1, zero = 0;
    REQUIRE(cublasGemmStridedBatchedEx(h, CUBLAS_OP_T, CUBLAS_OP_N, 2, 3, 4, &one, A.data(), CUDA_R_32F, 4, 0,
                                       B.data(), CUDA_R_32F, 5, 0, &zero, C.data(), CUDA_R_32F, 2, 0, 1,
                                       CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT) == CUBLAS_STATUS_SUCCESS);
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 3; j++) {
            float expect = 0;
            for (int l = 0; l < 4; l++) expect += A[(size_t)(l + 4 * i)] * B[(size_t)(l + 5 * j)];
            CHECK(C[(size_t)(i + 2 * j)] == expect);
        }
    // ldb below k: cuBLAS refuses it, and so must the stand-in
    CHECK(cublasGemmStridedBatchedEx(h, CUBLAS_OP_T, CUBLAS_OP_N, 2, 3, 4, &one, A.data(), CUDA_R_32F, 4, 0, B.data(),
                                     CUDA_R_32F, 3, 0, &zero, C.data(), CUDA_R_32F, 2, 0, 1, CUBLAS_COMPUTE_32F,
                                     CUBLAS_GEMM_DEFAULT) == CUBLAS_STATUS_INVALID_VALUE);
}

TEST_CASE("emulation: threads stuck at different barriers, and a shuffle with exited lanes, are faults",
          "[cuda][emulation]") {
    std::vector<int> out(32);
    std::vector<float> fout(32);
    CHECK_THROWS_WITH(EMU_LAUNCH(divergent_barrier, 1, 32)(out.data()), Catch::Contains("deadlock"));
    // sticky, as a kernel fault on a GPU: later calls fail too
    CHECK(cudaGetLastError() == cudaErrorLaunchFailure);
    void* p = nullptr;
    CHECK(cudaMalloc(&p, 16) == cudaErrorLaunchFailure);
    std::free(p);
    emu::clear_fault();
    CHECK_THROWS_WITH(EMU_LAUNCH(shuffle_after_exit, 1, 32)(fout.data()), Catch::Contains("lanes have exited"));
    emu::clear_fault();
    // and the emulation works again afterwards
    EMU_LAUNCH(write_indices, 1, 32)(out.data(), 32);
    CHECK(cudaGetLastError() == cudaSuccess);
    CHECK(out[31] == 31);
}
