// The CPU stand-in for CUDA and cuBLAS (see cuda_emulation.h).
//
// Threads are fibers, each on its own stack. A fiber is entered for the
// first time through ucontext (makecontext/swapcontext); every later switch
// uses _setjmp/_longjmp, which, unlike swapcontext, does not make a system
// call to save the signal mask (a launch switches once or more per thread,
// so this is most of the emulation's cost). Jumping between stacks is what
// _FORTIFY_SOURCE's longjmp check refuses, so it is off in this file.
#undef _FORTIFY_SOURCE
#define _FORTIFY_SOURCE 0
#include "cuda_emulation.h"

#include <setjmp.h>
#include <ucontext.h>

#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <vector>

namespace emu {

dim3 thread_index, block_index, block_dim, grid_dim;

namespace {

enum State { RUNNABLE, AT_BLOCK_BARRIER, AT_WARP_BARRIER, DONE };

// One fiber per thread slot of a block, kept for the process and reused by
// every block and launch: slot t always runs thread t.
struct Fiber {
    jmp_buf resume;  // where the fiber goes on
    State state = DONE;
};

const size_t STACK_BYTES = 64 * 1024;
jmp_buf g_scheduler;
ucontext_t g_boot_return, g_boot_context;
std::vector<Fiber> g_fibers;
std::vector<std::vector<char>> g_stacks;
std::vector<uint64_t> g_warp_slots;
size_t g_current = 0, g_booting = 0;
const std::function<void()>* g_body = nullptr;
cudaError_t g_last_error = cudaSuccess;
bool g_sticky_failure = false;  // like a kernel fault: every later call fails

// Gives control back to the scheduler; returns when the scheduler resumes
// this fiber.
void yield(State state) {
    Fiber& f = g_fibers[g_current];
    f.state = state;
    if (_setjmp(f.resume) == 0) _longjmp(g_scheduler, 1);
}

// A fiber's whole life: park once (back to its creator), then, each time it
// is resumed as a new thread, run the kernel body and park again.
void fiber_main() {
    const size_t slot = g_booting;
    if (_setjmp(g_fibers[slot].resume) == 0) swapcontext(&g_boot_context, &g_boot_return);
    for (;;) {
        (*g_body)();
        yield(DONE);
    }
}

void grow_fibers(size_t threads) {
    const size_t old = g_fibers.size();
    if (threads <= old) return;
    g_fibers.resize(threads);
    g_stacks.resize(threads);
    g_warp_slots.assign((threads + 31) / 32 * 32, 0);
    for (size_t t = old; t < threads; t++) {
        g_stacks[t].assign(STACK_BYTES, 0);
        getcontext(&g_boot_context);
        g_boot_context.uc_stack.ss_sp = g_stacks[t].data();
        g_boot_context.uc_stack.ss_size = STACK_BYTES;
        g_boot_context.uc_link = nullptr;
        makecontext(&g_boot_context, fiber_main, 0);
        g_booting = t;
        swapcontext(&g_boot_return, &g_boot_context);  // runs fiber_main up to its first park
    }
}

void resume(size_t t) {
    g_current = t;
    if (_setjmp(g_scheduler) == 0) _longjmp(g_fibers[t].resume, 1);
}

void set_thread_index(size_t t) {
    thread_index.x = (unsigned)(t % block_dim.x);
    thread_index.y = (unsigned)(t / block_dim.x % block_dim.y);
    thread_index.z = (unsigned)(t / ((size_t)block_dim.x * block_dim.y));
}

[[noreturn]] void kernel_fault(const std::string& what) {
    g_sticky_failure = true;
    // the fibers are parked inside the failed kernel: drop them (new ones
    // are made by the next launch after clear_fault)
    g_fibers.clear();
    g_stacks.clear();
    throw std::runtime_error("CUDA emulation: " + what + " (block " + std::to_string(block_index.x) + "," +
                             std::to_string(block_index.y) + "," + std::to_string(block_index.z) + ")");
}

// Runs one block to completion: every runnable thread until it finishes or
// waits; then releases the barriers that all their threads have reached.
void run_block(size_t threads) {
    for (size_t t = 0; t < threads; t++) g_fibers[t].state = RUNNABLE;
    const size_t warps = (threads + 31) / 32;
    for (;;) {
        for (size_t t = 0; t < threads; t++) {
            if (g_fibers[t].state != RUNNABLE) continue;
            set_thread_index(t);
            resume(t);
        }
        size_t done = 0, at_block = 0;
        bool released = false;
        for (size_t w = 0; w < warps; w++) {
            size_t lanes = std::min<size_t>(32, threads - w * 32), waiting = 0, exited = 0;
            for (size_t l = 0; l < lanes; l++) {
                State s = g_fibers[w * 32 + l].state;
                waiting += s == AT_WARP_BARRIER;
                exited += s == DONE;
            }
            if (waiting > 0 && waiting + exited == lanes) {
                if (exited > 0 || lanes < 32)
                    kernel_fault("a warp shuffle in a warp where " +
                                 std::to_string(exited > 0 ? exited : 32 - lanes) + " lanes have exited or do not exist");
                for (size_t l = 0; l < lanes; l++) g_fibers[w * 32 + l].state = RUNNABLE;
                released = true;
            }
        }
        if (released) continue;
        for (size_t t = 0; t < threads; t++) {
            done += g_fibers[t].state == DONE;
            at_block += g_fibers[t].state == AT_BLOCK_BARRIER;
        }
        if (done == threads) return;
        if (at_block + done == threads) {
            for (size_t t = 0; t < threads; t++)
                if (g_fibers[t].state == AT_BLOCK_BARRIER) g_fibers[t].state = RUNNABLE;
            continue;
        }
        kernel_fault("deadlock: threads wait at __syncthreads or a shuffle that others never reach");
    }
}

}  // namespace

void clear_fault() {
    g_sticky_failure = false;
    g_last_error = cudaSuccess;
}

void sync_block() { yield(AT_BLOCK_BARRIER); }
void sync_warp() { yield(AT_WARP_BARRIER); }

uint64_t* warp_slots() { return g_warp_slots.data() + (g_current / 32) * 32; }

void launch(dim3 grid, dim3 block, const std::function<void()>& body) {
    if (g_sticky_failure) return;
    const size_t threads = (size_t)block.x * block.y * block.z;
    if (threads == 0 || threads > 1024 || block.z > 64 || grid.x == 0 || grid.y == 0 || grid.z == 0 ||
        grid.y > 65535 || grid.z > 65535 || grid.x > 2147483647u) {
        g_last_error = cudaErrorInvalidConfiguration;
        return;
    }
    grow_fibers(threads);
    g_body = &body;
    block_dim = block;
    grid_dim = grid;
    for (unsigned z = 0; z < grid.z; z++)
        for (unsigned y = 0; y < grid.y; y++)
            for (unsigned x = 0; x < grid.x; x++) {
                block_index = dim3(x, y, z);
                run_block(threads);
            }
}

}  // namespace emu

// ------------------------------------------------------------ CUDA runtime

static cudaError_t result(cudaError_t e) {
    if (emu::g_sticky_failure) e = cudaErrorLaunchFailure;
    if (e != cudaSuccess) emu::g_last_error = e;
    return e;
}

const char* cudaGetErrorString(cudaError_t error) {
    switch (error) {
        case cudaSuccess: return "no error";
        case cudaErrorInvalidValue: return "invalid argument";
        case cudaErrorMemoryAllocation: return "out of memory";
        case cudaErrorInvalidConfiguration: return "invalid configuration argument";
        case cudaErrorInsufficientDriver: return "CUDA driver version is insufficient for CUDA runtime version";
        case cudaErrorNoDevice: return "no CUDA-capable device is detected";
        case cudaErrorLaunchFailure: return "unspecified launch failure";
    }
    return "unknown error";
}

cudaError_t cudaGetLastError() {
    cudaError_t e = emu::g_sticky_failure ? cudaErrorLaunchFailure : emu::g_last_error;
    emu::g_last_error = cudaSuccess;
    return e;
}

cudaError_t cudaGetDeviceCount(int* count) {
    *count = 1;
    return result(cudaSuccess);
}
cudaError_t cudaSetDevice(int device) { return result(device == 0 ? cudaSuccess : cudaErrorInvalidValue); }
cudaError_t cudaGetDeviceProperties(cudaDeviceProp* p, int device) {
    if (device != 0) return result(cudaErrorInvalidValue);
    std::memset(p, 0, sizeof *p);
    std::snprintf(p->name, sizeof p->name, "CUDA emulation on the CPU (tests/emu)");
    p->major = 9;
    p->minor = 0;
    p->multiProcessorCount = 1;
    p->totalGlobalMem = (size_t)8 << 30;
    return result(cudaSuccess);
}
cudaError_t cudaRuntimeGetVersion(int* version) {
    *version = 13000;
    return cudaSuccess;
}
cudaError_t cudaMalloc(void** ptr, size_t bytes) {
    *ptr = std::malloc(bytes ? bytes : 1);
    return result(*ptr ? cudaSuccess : cudaErrorMemoryAllocation);
}
cudaError_t cudaFree(void* ptr) {
    std::free(ptr);
    return result(cudaSuccess);
}
cudaError_t cudaMemcpy(void* dst, const void* src, size_t bytes, cudaMemcpyKind) {
    if (bytes) std::memmove(dst, src, bytes);
    return result(cudaSuccess);
}
cudaError_t cudaMemset(void* dst, int value, size_t bytes) {
    std::memset(dst, value, bytes);
    return result(cudaSuccess);
}
cudaError_t cudaMemGetInfo(size_t* free_bytes, size_t* total_bytes) {
    *free_bytes = *total_bytes = (size_t)8 << 30;
    return result(cudaSuccess);
}
cudaError_t cudaDeviceSynchronize() { return result(cudaSuccess); }

// ------------------------------------------------------------------ cuBLAS

struct EmuCublas {
    int unused;
};

cublasStatus_t cublasCreate(cublasHandle_t* handle) {
    *handle = new EmuCublas();
    return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasSetStream(cublasHandle_t, cudaStream_t) { return CUBLAS_STATUS_SUCCESS; }
cublasStatus_t cublasSetWorkspace(cublasHandle_t, void*, size_t) { return CUBLAS_STATUS_SUCCESS; }
cublasStatus_t cublasSetAtomicsMode(cublasHandle_t, cublasAtomicsMode_t) { return CUBLAS_STATUS_SUCCESS; }
cublasStatus_t cublasSetMathMode(cublasHandle_t, cublasMath_t) { return CUBLAS_STATUS_SUCCESS; }
const char* cublasGetStatusString(cublasStatus_t status) {
    switch (status) {
        case CUBLAS_STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS";
        case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
        case CUBLAS_STATUS_NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
    }
    return "CUBLAS_STATUS_UNKNOWN";
}

// An operand element as the tensor cores see it: tf32 keeps 10 mantissa
// bits (rounded to nearest here), bf16 operands are already bf16.
static float operand(const void* base, cudaDataType_t type, long long index, bool tf32) {
    if (type == CUDA_R_16BF) {
        uint32_t u = (uint32_t)((const __nv_bfloat16*)base)[index].bits << 16;
        float f;
        std::memcpy(&f, &u, 4);
        return f;
    }
    float f = ((const float*)base)[index];
    if (tf32 && std::isfinite(f)) {
        uint32_t u;
        std::memcpy(&u, &f, 4);
        u += 0xfffu + ((u >> 13) & 1u);
        u &= ~0x1fffu;
        std::memcpy(&f, &u, 4);
    }
    return f;
}

// C = alpha op(A) op(B) + beta C per batch, column-major, with the argument
// checks cuBLAS makes (it returns INVALID_VALUE on a bad size or leading
// dimension), summing in float in index order.
cublasStatus_t cublasGemmStridedBatchedEx(cublasHandle_t, cublasOperation_t transa, cublasOperation_t transb, int m,
                                          int n, int k, const void* alpha, const void* A, cudaDataType_t Atype,
                                          int lda, long long strideA, const void* B, cudaDataType_t Btype, int ldb,
                                          long long strideB, const void* beta, void* C, cudaDataType_t Ctype, int ldc,
                                          long long strideC, int batch, cublasComputeType_t compute,
                                          cublasGemmAlgo_t) {
    const bool ta = transa == CUBLAS_OP_T, tb = transb == CUBLAS_OP_T;
    if (m < 0 || n < 0 || k < 0 || batch < 0) return CUBLAS_STATUS_INVALID_VALUE;
    if (lda < std::max(1, ta ? k : m) || ldb < std::max(1, tb ? n : k) || ldc < std::max(1, m))
        return CUBLAS_STATUS_INVALID_VALUE;
    if (Ctype != CUDA_R_32F || Atype != Btype || (Atype == CUDA_R_16BF && compute != CUBLAS_COMPUTE_32F))
        return CUBLAS_STATUS_NOT_SUPPORTED;
    const float a = *(const float*)alpha, b = *(const float*)beta;
    const bool tf32 = compute == CUBLAS_COMPUTE_32F_FAST_TF32;
    float* c = (float*)C;
    for (int p = 0; p < batch; p++)
        for (int j = 0; j < n; j++)
            for (int i = 0; i < m; i++) {
                float s = 0;
                for (int l = 0; l < k; l++) {
                    long long ia = p * strideA + (ta ? l + (long long)i * lda : i + (long long)l * lda);
                    long long ib = p * strideB + (tb ? j + (long long)l * ldb : l + (long long)j * ldb);
                    s += operand(A, Atype, ia, tf32) * operand(B, Btype, ib, tf32);
                }
                float& out = c[p * strideC + i + (long long)j * ldc];
                out = b == 0.0f ? a * s : a * s + b * out;  // beta = 0: C is not read (may hold NaN)
            }
    return CUBLAS_STATUS_SUCCESS;
}
