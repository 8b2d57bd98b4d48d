// The GPU runtime: which device, the cuBLAS handle and the precision it
// runs in, device memory, scratch buffers, and the one GEMM wrapper every
// matmul (linear layers, attention, measurements) goes through.
#include <cstdio>
#include <vector>

#include "common.cuh"

namespace gpu {

namespace {
Options g_options;
bool g_initialized = false;
cublasHandle_t g_cublas = nullptr;
void* g_workspace = nullptr;  // cuBLAS workspace: fixed, so its algorithm choice is too
const size_t WORKSPACE_BYTES = 32u << 20;
struct Scratch {
    void* ptr = nullptr;
    size_t bytes = 0;
};
Scratch g_scratch[SCRATCH_COUNT];
}  // namespace

void cuda_fail(const char* what, const char* error, const char* file, int line) {
    fail(std::string("CUDA error: ") + what + " failed: " + error + " (" + file + ":" + std::to_string(line) + ")");
}

bool available(std::string* why, int device) {
    int count = 0;
    cudaError_t err = cudaGetDeviceCount(&count);
    if (err != cudaSuccess) {
        cudaGetLastError();  // clear it, so later calls do not report it again
        if (why) {
            int runtime = 0;
            cudaRuntimeGetVersion(&runtime);
            const std::string version = std::to_string(runtime / 1000) + "." + std::to_string((runtime % 1000) / 10);
            if (err == cudaErrorInsufficientDriver)
                *why = "no NVIDIA driver was found, or it is too old for this build's CUDA runtime " + version +
                       " (`nvidia-smi` should list a GPU and a driver supporting CUDA " + version + ")";
            else if (err == cudaErrorNoDevice)
                *why = "no CUDA-capable GPU found (`nvidia-smi` lists what the driver sees)";
            else
                *why = std::string("no usable CUDA device: ") + cudaGetErrorString(err);
        }
        return false;
    }
    if (count == 0) {
        if (why) *why = "no CUDA device found (cudaGetDeviceCount returned 0)";
        return false;
    }
    if (device < 0 || device >= count) {
        if (why) *why = "CUDA device " + std::to_string(device) + " does not exist (found " + std::to_string(count) + ")";
        return false;
    }
    // the build carries code for sm_80 and later (CUDA_ARCH in the Makefile)
    cudaDeviceProp p;
    if (cudaGetDeviceProperties(&p, device) != cudaSuccess) {
        cudaGetLastError();
        if (why) *why = "cannot read the properties of CUDA device " + std::to_string(device);
        return false;
    }
    if (p.major < 8) {
        if (why)
            *why = std::string(p.name) + " is sm_" + std::to_string(p.major) + std::to_string(p.minor) +
                   "; this build needs an Ampere (sm_80) or newer GPU";
        return false;
    }
    return true;
}

void init(const Options& options) {
    std::string why;
    if (!available(&why, options.device)) fail(why);
    if (g_initialized && options.device != g_options.device)
        fail("gpu::init: the device cannot change within a process (was " + std::to_string(g_options.device) + ")");
    if (!g_initialized) {
        CUDA_CHECK(cudaSetDevice(options.device));
        if (!g_cublas) CUBLAS_CHECK(cublasCreate(&g_cublas));  // kept if a step below fails and init is retried
        CUBLAS_CHECK(cublasSetStream(g_cublas, 0));
        if (!g_workspace) g_workspace = alloc_bytes(WORKSPACE_BYTES);
        CUBLAS_CHECK(cublasSetWorkspace(g_cublas, g_workspace, WORKSPACE_BYTES));
        g_initialized = true;
    }
    // No atomics inside cuBLAS either: with one stream and a fixed workspace
    // its results then repeat bit for bit (cuBLAS documentation, "Results
    // reproducibility"). This is cuBLAS's default; set it so it stays so.
    CUBLAS_CHECK(cublasSetAtomicsMode(g_cublas, CUBLAS_ATOMICS_NOT_ALLOWED));
    // fp32 must not use TF32 behind our back: the precision is chosen per
    // GEMM by its compute type (gemm() below), never by the handle.
    CUBLAS_CHECK(cublasSetMathMode(g_cublas, CUBLAS_DEFAULT_MATH));
    g_options = options;
}

const Options& options() { return g_options; }

cublasHandle_t cublas() {
    if (!g_initialized) fail("gpu: init() was not called before the first GPU operation");
    return g_cublas;
}

std::string describe_device() {
    if (!g_initialized) fail("gpu::describe_device: init() first");
    cudaDeviceProp p;
    CUDA_CHECK(cudaGetDeviceProperties(&p, g_options.device));
    int runtime = 0;
    CUDA_CHECK(cudaRuntimeGetVersion(&runtime));
    char buf[512];
    std::snprintf(buf, sizeof buf, "%s (sm_%d%d, %d SMs, %.1f GiB), CUDA runtime %d.%d", p.name, p.major, p.minor,
                  p.multiProcessorCount, p.totalGlobalMem / 1073741824.0, runtime / 1000, (runtime % 1000) / 10);
    return buf;
}

void synchronize() { CUDA_CHECK(cudaDeviceSynchronize()); }

void* alloc_bytes(size_t bytes) {
    if (bytes == 0) return nullptr;
    void* p = nullptr;
    cudaError_t err = cudaMalloc(&p, bytes);
    if (err != cudaSuccess && err != cudaErrorMemoryAllocation)
        cuda_fail("cudaMalloc", cudaGetErrorString(err), __FILE__, __LINE__);  // e.g. an earlier kernel fault
    if (err != cudaSuccess) {
        cudaGetLastError();
        size_t free_b = 0, total_b = 0;
        cudaMemGetInfo(&free_b, &total_b);
        char buf[256];
        std::snprintf(buf, sizeof buf, "GPU out of memory: cannot allocate %.3f GiB (%.3f of %.3f GiB free): %s",
                      bytes / 1073741824.0, free_b / 1073741824.0, total_b / 1073741824.0, cudaGetErrorString(err));
        fail(buf);
    }
    CUDA_CHECK(cudaMemset(p, 0, bytes));
    return p;
}

void free_bytes(void* p) {
    // not checked (it runs in destructors during error handling), but its
    // error must not linger and be reported by the next kernel launch
    if (p && cudaFree(p) != cudaSuccess) cudaGetLastError();
}

void upload_bytes(void* dst, const void* src, size_t bytes) {
    if (bytes) CUDA_CHECK(cudaMemcpy(dst, src, bytes, cudaMemcpyHostToDevice));
}
void download_bytes(void* dst, const void* src, size_t bytes) {
    if (bytes) CUDA_CHECK(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToHost));
}
void copy_bytes(void* dst, const void* src, size_t bytes) {
    if (bytes) CUDA_CHECK(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToDevice));
}
void zero_bytes(void* dst, size_t bytes) {
    if (bytes) CUDA_CHECK(cudaMemset(dst, 0, bytes));
}

void* scratch(ScratchSlot slot, size_t bytes) {
    Scratch& s = g_scratch[slot];
    if (bytes > s.bytes) {
        synchronize();  // no kernel may still use the old buffer
        free_bytes(s.ptr);
        s.ptr = nullptr;  // never left dangling if the allocation below fails
        s.bytes = 0;
        s.ptr = alloc_bytes(bytes);
        s.bytes = bytes;
    }
    return s.ptr;
}

// float -> bfloat16, round to nearest even.
__global__ void to_bf16_kernel(__nv_bfloat16* out, const float* in, size_t n) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        out[i] = __float2bfloat16_rn(in[i]);
}

static const __nv_bfloat16* as_bf16(const float* x, size_t n, ScratchSlot slot) {
    __nv_bfloat16* out = (__nv_bfloat16*)scratch(slot, n * sizeof(__nv_bfloat16));
    unsigned blocks = blocks_for((long)n, 256);
    to_bf16_kernel<<<blocks < 65535u ? blocks : 65535u, 256>>>(out, x, n);
    LAUNCH_CHECK();
    return out;
}

void gemm(bool transA, bool transB, int m, int n, int k, float alpha, const float* A, int lda, long long strideA,
          size_t a_elems, const float* B, int ldb, long long strideB, size_t b_elems, float beta, float* C, int ldc,
          long long strideC, int batch, Precision precision) {
    if (m <= 0 || n <= 0 || batch <= 0) return;
    if (k <= 0) {  // an empty sum: C = beta C
        if (beta != 1.0f) fail("gemm: k = 0 with beta != 1 is not supported");
        return;
    }
    const cublasOperation_t ta = transA ? CUBLAS_OP_T : CUBLAS_OP_N, tb = transB ? CUBLAS_OP_T : CUBLAS_OP_N;
    const void* a = A;
    const void* b = B;
    cudaDataType_t ab_type = CUDA_R_32F;
    cublasComputeType_t compute = CUBLAS_COMPUTE_32F;
    if (precision == Precision::TF32) compute = CUBLAS_COMPUTE_32F_FAST_TF32;
    if (precision == Precision::BF16) {
        // operands rounded to bf16 once per call; products accumulate in float
        a = as_bf16(A, a_elems, SCRATCH_BF16_A);
        b = as_bf16(B, b_elems, SCRATCH_BF16_B);
        ab_type = CUDA_R_16BF;
    }
    CUBLAS_CHECK(cublasGemmStridedBatchedEx(cublas(), ta, tb, m, n, k, &alpha, a, ab_type, lda, strideA, b, ab_type,
                                            ldb, strideB, &beta, C, CUDA_R_32F, ldc, strideC, batch, compute,
                                            CUBLAS_GEMM_DEFAULT));
}

}  // namespace gpu
