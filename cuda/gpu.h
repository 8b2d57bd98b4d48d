// The GPU twins of the CPU layers (src/model/layers.h, src/model/matmul.h), of the
// optimizer (src/optim/optimizer.h) and of the measurements (src/study/measure.h): same
// names, same argument order, same semantics (backward functions ACCUMULATE
// into gradient outputs, and a parameter's gradient output may be nullptr: a
// frozen tensor, none formed), in namespace gpu. Every pointer argument is DEVICE
// memory unless the comment says host. float only: the double build of the
// model (finite-difference checks) stays on the CPU, and the GPU is checked
// against the CPU (tests/cuda/).
//
// This header is plain C++ (no CUDA types), so code compiled by g++ (the
// program, the tests) can call it. The implementation is cuda/*.cu; a build
// without nvcc links cuda/no_cuda.cpp instead, where gpu::available() says so
// and init() and the model's functions (gpt_gpu.h) fail with that message;
// the layer functions are not there at all (code that calls them, the GPU
// tests and bench/bench_gpu.cpp, is built only with nvcc).
//
// Numerics. Elementwise kernels do what the CPU loop does, in float. Sums
// (layernorm statistics, softmax, reductions over the batch) run in a
// different order than on the CPU, so results agree to rounding, not bit for
// bit; tests/cuda/ states the tolerances. Every kernel here sums in a fixed
// order, so a run repeats bit for bit on the same GPU and toolkit, except
// encoder_backward with Options::deterministic = false, which accumulates the
// token embedding's gradient with atomics (no grouping of positions by token).
// adamw_update is compiled without fused multiply-adds and matches the CPU
// bit for bit.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "study/measure.h"
#include "optim/optimizer.h"
#include "model/tensor_table.h"

namespace gpu {

// ---------------------------------------------------------------- runtime

// Matmul precision (cuBLAS): fp32 = full float products; tf32 = tensor cores
// with 10-bit-mantissa inputs and float accumulation; bf16 = operands rounded
// to bfloat16, float accumulation and float outputs (weights, activations and
// optimizer state stay float: "mixed precision" with float master weights).
// This applies to every matmul: the linear layers and attention's two
// batched products (q k^T and att v, and their gradients). Everything that
// is not a matmul runs in float in all three (the measurements' products
// too: they are always fp32).
enum class Precision { FP32, TF32, BF16 };
Precision parse_precision(const std::string& name);  // "fp32" | "tf32" | "bf16"; fails otherwise
const char* precision_name(Precision p);

struct Options {
    int device = 0;
    Precision precision = Precision::FP32;
    bool deterministic = true;  // see the note at the top
};

// Whether this build has the CUDA path and a GPU can be used now. When not,
// *why (if given) says what is missing: no nvcc at build time, no driver, no
// device, or a device index out of range.
bool available(std::string* why = nullptr, int device = 0);
// Selects the device, creates the cuBLAS handle and applies the options. Can
// be called again to change precision or determinism. Fails with the reason
// when no GPU can be used.
void init(const Options& options);
const Options& options();
// The device in one line, e.g. "<name> (sm_90, 132 SMs, 79.1 GiB), CUDA runtime 13.0".
std::string describe_device();
void synchronize();  // waits for the GPU; fails with the first asynchronous error

// Device memory. Plain pointers so the layer calls read like the CPU ones.
void* alloc_bytes(size_t bytes);  // zero-filled; fails with the size on out-of-memory
void free_bytes(void* p);         // nullptr is fine
template <typename T>
T* alloc(size_t n) { return (T*)alloc_bytes(n * sizeof(T)); }
void upload_bytes(void* device_dst, const void* host_src, size_t bytes);
void download_bytes(void* host_dst, const void* device_src, size_t bytes);
void copy_bytes(void* device_dst, const void* device_src, size_t bytes);
void zero_bytes(void* device_dst, size_t bytes);
template <typename T>
void upload(T* device_dst, const T* host_src, size_t n) { upload_bytes(device_dst, host_src, n * sizeof(T)); }
template <typename T>
void download(T* host_dst, const T* device_src, size_t n) { download_bytes(host_dst, device_src, n * sizeof(T)); }

// A device array owned by one object (freed when it goes away), for tests and
// the model's buffers.
template <typename T>
struct Buffer {
    T* ptr = nullptr;
    size_t n = 0;
    Buffer() = default;
    explicit Buffer(size_t count) { resize(count); }
    explicit Buffer(const std::vector<T>& host) { resize(host.size()); upload(ptr, host.data(), n); }
    Buffer(const Buffer&) = delete;
    Buffer& operator=(const Buffer&) = delete;
    Buffer(Buffer&& o) noexcept : ptr(o.ptr), n(o.n) { o.ptr = nullptr; o.n = 0; }
    Buffer& operator=(Buffer&& o) noexcept {
        if (this != &o) { free_bytes(ptr); ptr = o.ptr; n = o.n; o.ptr = nullptr; o.n = 0; }
        return *this;
    }
    ~Buffer() { free_bytes(ptr); }
    // Reallocates (zero-filled) when the size changes; keeps the contents otherwise.
    void resize(size_t count) {
        if (count == n && ptr) return;
        free_bytes(ptr);
        ptr = nullptr;  // never left dangling if the allocation below fails
        n = 0;
        ptr = count ? alloc<T>(count) : nullptr;
        n = count;
    }
    std::vector<T> to_host() const {
        std::vector<T> h(n);
        if (n) download(h.data(), ptr, n);
        return h;
    }
    void from_host(const std::vector<T>& h) { resize(h.size()); if (n) upload(ptr, h.data(), n); }
    void zero() { if (n) zero_bytes(ptr, n * sizeof(T)); }
    operator T*() const { return ptr; }
};

// ----------------------------------------------------------------- layers
// Shapes as in src/model/layers.h: B batch, T sequence length, C width, NH heads,
// V vocab, N = B*T.

// out (B,T,C) = scale * (wte[inp[b,t]] + wpe[t]); inp (B,T) device token ids.
void encoder_forward(float* out, const int* inp, const float* wte, const float* wpe, float scale, int B, int Tn, int C);
// dwte, dwpe += ...; deterministic mode sums each row of dwte over its
// positions in order, grouping the positions by token on the host: from
// host_inp (HOST, the same ids as inp) when the caller has them, otherwise
// from a copy of inp.
void encoder_backward(float* dwte, float* dwpe, const float* dout, const int* inp, float scale, int B, int Tn, int C,
                      const int* host_inp = nullptr);

// out (N,C), mean and rstd (N), inp (N,C), weight (C), bias (C) or nullptr.
void layernorm_forward(float* out, float* mean, float* rstd, const float* inp, const float* weight, const float* bias,
                       int N, int C);
void layernorm_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                        const float* weight, const float* mean, const float* rstd, int N, int C);

// inp (B,T,3C) = q | k | v, att (B,NH,T,T) softmax probabilities (zero above
// the diagonal), out (B,T,C). The products run through cuBLAS batched GEMMs
// on per-head copies of q, k, v (scratch memory kept between calls).
void attention_forward(float* out, float* att, const float* inp, float scale, int B, int Tn, int C, int NH);
void attention_backward(float* dinp, const float* dout, const float* inp, const float* att, float scale, int B,
                        int Tn, int C, int NH);

void gelu_forward(float* out, const float* inp, long N);
void gelu_backward(float* dinp, const float* inp, const float* dout, long N);
void residual_forward(float* out, const float* inp1, const float* inp2, float scale, long N);
void residual_backward(float* dinp1, float* dinp2, const float* dout, float scale, long N);
void scale_forward(float* x, float scale, long N);

// logits (N,V) -> probs (N,V), losses (N); targets (N) device. Returns the
// mean loss, summed in double on the host in position order (as the CPU does).
double softmax_crossentropy_forward(float* losses, float* probs, const float* logits, const int* targets, int N, int V);
void softmax_crossentropy_backward(float* dlogits, const float* probs, const int* targets, float dloss, int N, int V);

// ----------------------------------------------------------------- matmul
// inp (N,C), weight (OC,C), bias (OC) or nullptr, out (N,OC), in the
// precision of options().precision.
void matmul_forward(float* out, const float* inp, const float* weight, const float* bias, int N, int C, int OC);
void matmul_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                     const float* weight, int N, int C, int OC);
// The LoRA path beside a linear layer, as src/model/lora.h: u (N,r) = inp A^T,
// out (N,OC) += scale u B^T; the backward ACCUMULATES into dA (r,C), dB (OC,r)
// (either may be nullptr: frozen) and dinp (N,C), with du (N,r) scratch.
// Same precision as matmul_forward.
void lora_forward(float* out, float* u, const float* inp, const float* A, const float* B, float scale, int N, int C,
                  int OC, int r);
void lora_backward(float* dinp, float* dA, float* dB, float* du, const float* dout, const float* inp, const float* u,
                   const float* A, const float* B, float scale, int N, int C, int OC, int r);

// -------------------------------------------------------------- optimizer
// As src/optim/optimizer.h (PyTorch's order of operations, bit for bit with the CPU).
void adamw_update(float* params, const float* grads, float* m, float* v, size_t n, double lr, double decay,
                  double beta1, double beta2, double eps, int64_t step);
// Every tensor of the table by its row, as src/optim/optimizer.h's
// optimizer_step: m, v, spectral are the state's three arrays on the device.
// lr_extra is a HOST array, one factor per tensor (or nullptr).
void optimizer_step(float* params, const float* grads, float* m, float* v, float* spectral, const TensorTable& table,
                    double schedule, int64_t step, const double* lr_extra = nullptr);
// Sum of squares in double, in a fixed order (per-block partial sums added
// on the host in block order).
double global_grad_norm(const float* grads, size_t n);
double clip_grad_norm(float* grads, size_t n, double max_norm);
// Gradient accumulation, as src/optim/grad_accum.h (bit for bit): acc = g
// (first) or acc += g; then g = acc / count.
void accumulate_grads(float* acc, const float* g, size_t n, bool first);
void mean_of_accumulated(float* g, const float* acc, size_t n, int count);

// ----------------------------------------------------------- measurements
// As src/study/measure.h: w_before, w_after (K,C) and x (n,C) on the device; the
// sums run on the GPU (double) and the ratios are formed by the same host
// code as the CPU's (matrix_stats_from_sums). The two products X W^T and
// X ΔW^T are always fp32, whatever the training precision.
MatrixStats measure_matrix(const float* w_before, const float* w_after, int K, int C, const float* x, int n,
                           double lr, double decay, double beta1);
// out (rows.size(), C) = the rows (host list) of x (.., C).
void gather_rows(const float* x, int C, const std::vector<int>& rows, float* out);

// ------------------------- spectral decay and SGD (section added by spectral)
// As src/optim/spectral_decay.h and src/optim/sgd.h; W (fan_out, fan_in),
// v (fan_in), params, grads, buf (n) on the device. spectral_decay sums in
// double in a fixed order (runs repeat bit for bit; the CPU sums in another
// order, so the two agree to rounding); it reads v back to the host once per
// call to see whether it is all zeros, and returns sigma1 (a host sync).
// sgd_update is compiled without fused multiply-adds and matches the CPU bit
// for bit.
double power_iteration(const float* W, int fan_out, int fan_in, float* v, int iters, int first_iters = 10);
double spectral_decay(float* W, int fan_out, int fan_in, float* v, double d, int iters, int first_iters = 10);
void sgd_update(float* params, const float* grads, float* buf, size_t n, double lr, double decay, double momentum,
                bool nesterov);

}  // namespace gpu

// ------------------------------------------------------------------- Muon
// As src/optim/muon.h, on device matrices (fan_out, fan_in) / (rows, cols).
// The Newton–Schulz products are always fp32, whatever options().precision;
// the Frobenius norm is a fixed-order sum in double. Repeats bit for bit;
// agrees with the CPU to float rounding (the products sum in another order).
#include "optim/muon.h"

namespace gpu {

void newton_schulz(float* out, const float* in, int rows, int cols, int steps, NSCoefficients coeffs);
void muon_update(float* params, const float* grads, float* momentum, int fan_out, int fan_in, double lr, double decay,
                 double beta, bool nesterov, int ns_steps, NSCoefficients coeffs, double scale);

}  // namespace gpu
