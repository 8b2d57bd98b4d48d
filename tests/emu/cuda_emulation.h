// A CPU stand-in for the parts of CUDA and cuBLAS that cuda/*.cu uses, so
// that the GPU code's own logic (every kernel's indexing, its warp and block
// reductions, the launches, the model, the training loop with --device cuda)
// runs and is tested on any machine, CI included.
//
// How: the Makefile copies each cuda/*.cu with its launches rewritten from
// `kernel<<<grid, block>>>(args)` to `EMU_LAUNCH(kernel, grid, block)(args)`
// and compiles it with g++ against this header instead of the CUDA headers.
// A launch runs the grid's blocks one after another; a block's threads run as
// cooperative fibers (ucontext), switching only at __syncthreads and at warp
// shuffles, which are emulated exactly (a shuffle waits for the whole warp).
// __shared__ becomes `static`: one copy, used by one block at a time.
// "Device" memory is host memory. The GEMM is a plain loop over cuBLAS's
// column-major definition, with its argument checks, and rounds operands as
// tf32 and bf16 do.
//
// What it checks beyond running the code: launch configurations (block size,
// grid limits), threads of a block waiting at different barriers (a
// deadlock: __syncthreads in divergent code), a shuffle in a warp whose other
// lanes have exited, leading dimensions that cuBLAS would reject. What it
// cannot show: data races between threads (they run one at a time), real
// cuBLAS numerics and speed. Threads that have exited release a
// __syncthreads, as on current GPUs.
// tests/cuda/ runs against both this and a real GPU.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>

#define __global__
#define __device__
#define __host__
#define __shared__ static

struct dim3 {
    unsigned x, y, z;
    dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};

namespace emu {
extern dim3 thread_index, block_index, block_dim, grid_dim;
void sync_block();
void sync_warp();
uint64_t* warp_slots();  // 32 slots for the calling thread's warp
// Runs `body` once per thread of the grid, as described above.
void launch(dim3 grid, dim3 block, const std::function<void()>& body);
// After a fault every call fails, as on a GPU; the emulation's own tests
// (test_emulation.cpp) clear it to go on.
void clear_fault();

template <typename Kernel>
struct Launcher {
    dim3 grid, block;
    Kernel* kernel;
    template <typename... Args>
    void operator()(Args&&... args) const {
        launch(grid, block, [&]() { kernel(args...); });
    }
};
template <typename Kernel>
Launcher<Kernel> make_launcher(dim3 grid, dim3 block, Kernel* kernel) {
    return {grid, block, kernel};
}

// A shuffle: every lane posts its value, the warp waits, every lane reads its
// partner's, the warp waits again (so the slots can be reused).
template <typename T>
T shuffle_xor(T x, int lane_mask) {
    static_assert(sizeof(T) <= sizeof(uint64_t), "shuffle of a type wider than 8 bytes");
    uint64_t* slots = warp_slots();
    const unsigned lane = (thread_index.x + block_dim.x * (thread_index.y + block_dim.y * thread_index.z)) % 32;
    std::memcpy(&slots[lane], &x, sizeof(T));
    sync_warp();
    T y;
    std::memcpy(&y, &slots[lane ^ (unsigned)lane_mask], sizeof(T));
    sync_warp();
    return y;
}
}  // namespace emu

#define threadIdx ::emu::thread_index
#define blockIdx ::emu::block_index
#define blockDim ::emu::block_dim
#define gridDim ::emu::grid_dim
#define __syncthreads() ::emu::sync_block()
#define EMU_LAUNCH(kernel, grid, block) ::emu::make_launcher(dim3(grid), dim3(block), kernel)

template <typename T>
inline T __shfl_xor_sync(unsigned, T x, int lane_mask) {
    return emu::shuffle_xor(x, lane_mask);
}
// threads run one at a time, so a plain add is atomic
inline float atomicAdd(float* address, float value) {
    float old = *address;
    *address = old + value;
    return old;
}
using std::max;
using std::min;

// ---------------------------------------------------------------- bfloat16
struct __nv_bfloat16 {
    uint16_t bits;
};
inline __nv_bfloat16 __float2bfloat16_rn(float f) {
    uint32_t u;
    std::memcpy(&u, &f, 4);
    if (std::isnan(f)) return {(uint16_t)0x7fc0};
    u += 0x7fffu + ((u >> 16) & 1u);  // round to nearest, ties to even
    return {(uint16_t)(u >> 16)};
}

// ------------------------------------------------------------ CUDA runtime
enum cudaError_t {
    cudaSuccess = 0,
    cudaErrorInvalidValue = 1,
    cudaErrorMemoryAllocation = 2,
    cudaErrorInvalidConfiguration = 9,
    cudaErrorInsufficientDriver = 35,
    cudaErrorNoDevice = 100,
    cudaErrorLaunchFailure = 719,
};
enum cudaMemcpyKind { cudaMemcpyHostToDevice, cudaMemcpyDeviceToHost, cudaMemcpyDeviceToDevice };
struct cudaDeviceProp {
    char name[256];
    int major, minor, multiProcessorCount;
    size_t totalGlobalMem;
};
typedef void* cudaStream_t;
const char* cudaGetErrorString(cudaError_t error);
cudaError_t cudaGetLastError();
cudaError_t cudaGetDeviceCount(int* count);
cudaError_t cudaSetDevice(int device);
cudaError_t cudaGetDeviceProperties(cudaDeviceProp* prop, int device);
cudaError_t cudaRuntimeGetVersion(int* version);
cudaError_t cudaMalloc(void** ptr, size_t bytes);
cudaError_t cudaFree(void* ptr);
cudaError_t cudaMemcpy(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind);
cudaError_t cudaMemset(void* dst, int value, size_t bytes);
cudaError_t cudaMemGetInfo(size_t* free_bytes, size_t* total_bytes);
cudaError_t cudaDeviceSynchronize();

// ------------------------------------------------------------------ cuBLAS
typedef struct EmuCublas* cublasHandle_t;
enum cublasStatus_t { CUBLAS_STATUS_SUCCESS = 0, CUBLAS_STATUS_INVALID_VALUE = 7, CUBLAS_STATUS_NOT_SUPPORTED = 15 };
enum cublasOperation_t { CUBLAS_OP_N, CUBLAS_OP_T };
enum cudaDataType_t { CUDA_R_32F, CUDA_R_16BF };
enum cublasComputeType_t { CUBLAS_COMPUTE_32F, CUBLAS_COMPUTE_32F_FAST_TF32 };
enum cublasGemmAlgo_t { CUBLAS_GEMM_DEFAULT = -1 };
enum cublasAtomicsMode_t { CUBLAS_ATOMICS_NOT_ALLOWED, CUBLAS_ATOMICS_ALLOWED };
enum cublasMath_t { CUBLAS_DEFAULT_MATH };
cublasStatus_t cublasCreate(cublasHandle_t* handle);
cublasStatus_t cublasSetStream(cublasHandle_t handle, cudaStream_t stream);
cublasStatus_t cublasSetWorkspace(cublasHandle_t handle, void* workspace, size_t bytes);
cublasStatus_t cublasSetAtomicsMode(cublasHandle_t handle, cublasAtomicsMode_t mode);
cublasStatus_t cublasSetMathMode(cublasHandle_t handle, cublasMath_t mode);
const char* cublasGetStatusString(cublasStatus_t status);
cublasStatus_t cublasGemmStridedBatchedEx(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb,
                                          int m, int n, int k, const void* alpha, const void* A, cudaDataType_t Atype,
                                          int lda, long long strideA, const void* B, cudaDataType_t Btype, int ldb,
                                          long long strideB, const void* beta, void* C, cudaDataType_t Ctype, int ldc,
                                          long long strideC, int batch, cublasComputeType_t compute,
                                          cublasGemmAlgo_t algo);
