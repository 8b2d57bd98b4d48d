#include "model/layers.h"

#include "model/fast_math.h"
#include "model/matmul.h"
#include "model/profile.h"
#include "util/thread_buffer.h"

#include <algorithm>
#include <cmath>
#include <vector>
#ifdef _OPENMP
#include <omp.h>
#endif

// Parallel loops use static schedules over independent outputs, and every
// reduction runs in a fixed order, so results are bitwise reproducible and
// do not depend on the thread count (a resumed run must equal an
// uninterrupted one bit for bit).

// The calling thread's share [begin, end) of n items, inside a parallel region.
static void thread_slice(int n, int* begin, int* end) {
#ifdef _OPENMP
    int nth = omp_get_num_threads(), id = omp_get_thread_num();
#else
    int nth = 1, id = 0;
#endif
    *begin = (int)((long)n * id / nth);
    *end = (int)((long)n * (id + 1) / nth);
}

// Below this many elements a loop runs faster on one thread than the cost of
// waking the others (and on a busy machine, much faster). Each element is
// computed the same way either way, so this never changes results.
[[maybe_unused]] static bool worth_threads(long elements) { return elements >= 16384; }

// ---------------------------------------------------------------- encoder
template <typename T>
void encoder_forward(T* out, const int* inp, const T* wte, const T* wpe, T scale, int B, int Tn, int C) {
    LayerTimer timer(LayerKind::Elementwise);
#pragma omp parallel for collapse(2) schedule(static) if (worth_threads((long)B * Tn * C))
    for (int b = 0; b < B; b++)
        for (int t = 0; t < Tn; t++) {
            T* o = out + ((size_t)b * Tn + t) * C;
            const T* te = wte + (size_t)inp[b * Tn + t] * C;
            const T* pe = wpe + (size_t)t * C;
            for (int c = 0; c < C; c++) o[c] = scale * (te[c] + pe[c]);
        }
}

template <typename T>
void encoder_backward(T* dwte, T* dwpe, const T* dout, const int* inp, T scale, int B, int Tn, int C) {
    LayerTimer timer(LayerKind::Elementwise);
    // Several positions can share a token, so rows of dwte collide; splitting
    // the work over channels keeps every thread on its own columns and the
    // sum over positions in one fixed order.
    if (!dwte && !dwpe) return;  // both frozen
#pragma omp parallel if (worth_threads((long)B * Tn * C))
    {
        int c0, c1;
        thread_slice(C, &c0, &c1);
        for (int b = 0; b < B; b++)
            for (int t = 0; t < Tn; t++) {
                const T* d = dout + ((size_t)b * Tn + t) * C;
                if (dwte) {
                    T* dte = dwte + (size_t)inp[b * Tn + t] * C;
                    for (int c = c0; c < c1; c++) dte[c] += scale * d[c];
                }
                if (dwpe) {
                    T* dpe = dwpe + (size_t)t * C;
                    for (int c = c0; c < c1; c++) dpe[c] += scale * d[c];
                }
            }
    }
}

// -------------------------------------------------------------- layernorm
namespace {
// The sum of term(c) over c in [0, n), in kSumLanes interleaved partial sums
// added up in lane order at the end. A plain running sum is one chain of
// dependent adds (4 cycles each) that GCC may not reorder without
// -ffast-math; the lanes vectorise, and each lane's order is fixed, so the
// bits do not depend on the thread count, nor on the vector width the
// compiler picks (whether it fuses a multiply-add is its choice per target,
// so machines with and without FMA may differ).
constexpr int kSumLanes = 16;
template <typename T, typename F>
inline T lane_sum(int n, F term) {
    T lane[kSumLanes] = {};
    int c = 0;
    for (; c + kSumLanes <= n; c += kSumLanes)
#pragma GCC unroll 16
        for (int j = 0; j < kSumLanes; j++) lane[j] += term(c + j);
    for (; c < n; c++) lane[c % kSumLanes] += term(c);
    T sum = 0;
    for (int j = 0; j < kSumLanes; j++) sum += lane[j];
    return sum;
}
}  // namespace

template <typename T>
void layernorm_forward(T* out, T* mean, T* rstd, const T* inp, const T* weight, const T* bias, int N, int C) {
    LayerTimer timer(LayerKind::LayerNorm);
    const T eps = (T)1e-5;
#pragma omp parallel for schedule(static) if (worth_threads((long)N * C))
    for (int n = 0; n < N; n++) {
        const T* x = inp + (size_t)n * C;
        const T m = lane_sum<T>(C, [x](int c) { return x[c]; }) / C;
        // two-pass variance: no cancellation for large means
        const T v = lane_sum<T>(C, [x, m](int c) { return (x[c] - m) * (x[c] - m); }) / C;
        T s = 1 / std::sqrt(v + eps);
        T* o = out + (size_t)n * C;
        for (int c = 0; c < C; c++) o[c] = (x[c] - m) * s * weight[c] + (bias ? bias[c] : 0);
        mean[n] = m;
        rstd[n] = s;
    }
}

// Rows go in fixed blocks of kNormRows: each block sums its rows' dweight and
// dbias terms into partial sums of its own, in row order, and the partials
// are added up in block order at the end. So x and dout are read once, in
// the same pass as dinp, and the order of every sum is fixed whatever the
// thread count. (Walking every row again for dweight, one thread per block
// of channels, took a third of the pass's memory traffic.)
namespace {
constexpr int kNormRows = 32;
}

template <typename T>
void layernorm_backward(T* dinp, T* dweight, T* dbias, const T* dout, const T* inp, const T* weight,
                        const T* mean, const T* rstd, int N, int C) {
    LayerTimer timer(LayerKind::LayerNorm);
    // With xhat = (x - mean) * rstd and g = dout * weight:
    // dx = rstd * (g - mean(g) - xhat * mean(g * xhat)); dweight = sum of
    // dout * xhat over rows, dbias = sum of dout. Both nullptr: frozen.
    const bool sums = dweight || dbias;
    const int blocks = (N + kNormRows - 1) / kNormRows;
    T* partial = sums ? thread_buffer<T, ThreadBufferSlot::NormPartials>((size_t)blocks * 2 * C) : nullptr;
#pragma omp parallel for schedule(static) if (blocks > 1 && worth_threads((long)N * C))
    for (int blk = 0; blk < blocks; blk++) {
        T* pw = sums ? partial + (size_t)blk * 2 * C : nullptr;  // this block's dweight sums, then dbias's
        T* pb = sums ? pw + C : nullptr;
        if (sums) std::fill_n(pw, 2 * C, (T)0);
        for (int n = blk * kNormRows; n < std::min(N, (blk + 1) * kNormRows); n++) {
            const T* x = inp + (size_t)n * C;
            const T* d = dout + (size_t)n * C;
            T* dx = dinp + (size_t)n * C;
            const T m = mean[n], s = rstd[n];
            const T g_mean = lane_sum<T>(C, [d, weight](int c) { return d[c] * weight[c]; }) / C;
            const T gx_mean =
                lane_sum<T>(C, [d, weight, x, m, s](int c) { return d[c] * weight[c] * (x[c] - m) * s; }) / C;
#pragma omp simd
            for (int c = 0; c < C; c++) {
                const T xhat = (x[c] - m) * s;
                dx[c] += s * (d[c] * weight[c] - g_mean - xhat * gx_mean);
            }
            if (sums)
#pragma omp simd
                for (int c = 0; c < C; c++) {
                    pw[c] += d[c] * (x[c] - m) * s;
                    pb[c] += d[c];
                }
        }
    }
    if (!sums) return;
#pragma omp parallel if (worth_threads((long)blocks * C))
    {
        int c0, c1;
        thread_slice(C, &c0, &c1);
        for (int blk = 0; blk < blocks; blk++) {
            const T* pw = partial + (size_t)blk * 2 * C;
            if (dweight)
#pragma omp simd
                for (int c = c0; c < c1; c++) dweight[c] += pw[c];
            if (dbias)
#pragma omp simd
                for (int c = c0; c < c1; c++) dbias[c] += pw[C + c];
        }
    }
}

// -------------------------------------------------------------- attention
// Blocked through the packed GEMM. Each (batch, head) is one task; its query
// positions go in blocks of kAttentionRows. The logits of block [i0, i1)
// against keys [0, i1) are one product (the keys past i1 are masked for every
// row of the block, so they are skipped: the causal triangle costs about half
// the square), then each row's softmax, then out = P V over the same keys.
// Inside the task loop gemm runs on the calling thread, so every sum has one
// fixed order whatever the thread count.
//
// A task first copies its head's q, k and v (hs-wide pieces of rows 3C
// apart in the fused projection, which is in memory) into contiguous
// (Tn, hs) buffers of its own, and the backward pass gathers dq, dk, dv there
// before writing them out. The products then pack their operands from L2:
// packing straight from the projection fetched every key row once per row
// block, and the cache misses of those strided reads took about a tenth of
// attention's time (perf, d=512, T=256).
namespace {
constexpr int kAttentionRows = 64;

// dst (rows, width), contiguous <- src (rows, width) with row stride ld.
// The rows are kilobytes apart, a stride the hardware prefetcher does not
// follow, so ask for the rows 8 ahead while copying.
template <typename T>
void gather_rows(T* dst, const T* src, int rows, int width, int ld) {
    constexpr int kAhead = 8, kLine = 64 / (int)sizeof(T);
    for (int t = 0; t < rows; t++) {
        const T* row = src + (size_t)t * ld;
        if (t + kAhead < rows)
            for (int j = 0; j < width; j += kLine) __builtin_prefetch(row + (size_t)kAhead * ld + j);
#pragma omp simd
        for (int j = 0; j < width; j++) dst[(size_t)t * width + j] = row[j];
    }
}

// Row of logits a[0, n) -> softmax probabilities; a[n, len) = 0 (masked).
template <typename T>
void causal_softmax_row(T* a, int n, int len) {
    T maxv = a[0];
#pragma omp simd reduction(max : maxv)
    for (int i = 1; i < n; i++) maxv = std::max(maxv, a[i]);
    T sum = 0;
#pragma omp simd reduction(+ : sum)
    for (int i = 0; i < n; i++) {
        a[i] = exp_fast(a[i] - maxv);
        sum += a[i];
    }
    const T inv = 1 / sum;
#pragma omp simd
    for (int i = 0; i < n; i++) a[i] *= inv;
    for (int i = n; i < len; i++) a[i] = 0;
}
}  // namespace

template <typename T>
void attention_forward(T* out, T* att, const T* inp, T scale, int B, int Tn, int C, int NH) {
    LayerTimer timer(LayerKind::Attention);
    const int hs = C / NH, ld = 3 * C;
    const size_t head = (size_t)Tn * hs;
#pragma omp parallel
    {
        T* q = thread_buffer<T, ThreadBufferSlot::AttentionForward>(3 * head);  // this task's q, k, v: (Tn, hs) each
        T *k = q + head, *v = k + head;
#pragma omp for collapse(2) schedule(static)
        for (int b = 0; b < B; b++)
            for (int h = 0; h < NH; h++) {
                const T* src = inp + (size_t)b * Tn * ld + h * hs;
                gather_rows(q, src, Tn, hs, ld);
                gather_rows(k, src + C, Tn, hs, ld);
                gather_rows(v, src + 2 * C, Tn, hs, ld);
                T* a = att + ((size_t)b * NH + h) * Tn * Tn;  // (Tn, Tn)
                T* o = out + (size_t)b * Tn * C + h * hs;      // (Tn, hs) with row stride C
                for (int i0 = 0; i0 < Tn; i0 += kAttentionRows) {
                    const int i1 = std::min(Tn, i0 + kAttentionRows), rows = i1 - i0;
                    // a[i0:i1, 0:i1] = scale * q[i0:i1] k[0:i1]^T
                    gemm(false, true, rows, i1, hs, scale, q + (size_t)i0 * hs, hs, k, hs, (T)0, a + (size_t)i0 * Tn, Tn);
                    for (int t = i0; t < i1; t++) causal_softmax_row(a + (size_t)t * Tn, t + 1, Tn);
                    // o[i0:i1] = a[i0:i1, 0:i1] v[0:i1]
                    gemm(false, false, rows, hs, i1, (T)1, a + (size_t)i0 * Tn, Tn, v, hs, (T)0, o + (size_t)i0 * C, C);
                }
            }
    }
}

// With P the probabilities and dO the output's gradient, per row block:
//   dP = dO V^T;  dS = P * (dP - rowsum(P * dP)) * scale  (softmax backward);
//   dQ += dS K;  dK += dS^T Q;  dV += P^T dO.
// dK and dV gather from every later block, always in block order.
template <typename T>
void attention_backward(T* dinp, const T* dout, const T* inp, const T* att, T scale, int B, int Tn, int C, int NH,
                        Grad mode) {
    LayerTimer timer(LayerKind::Attention);
    const int hs = C / NH, ld = 3 * C;
    const size_t head = (size_t)Tn * hs;
#pragma omp parallel
    {
        // This task's q, k, v, dO and dq, dk, dv, (Tn, hs) each; then the dP
        // (later dS) of one row block.
        T* q = thread_buffer<T, ThreadBufferSlot::AttentionBackward>(7 * head + (size_t)kAttentionRows * Tn);
        T *k = q + head, *v = k + head, *d = v + head;
        T *dq = d + head, *dk = dq + head, *dv = dk + head, *ds = dv + head;
#pragma omp for collapse(2) schedule(static)
        for (int b = 0; b < B; b++)
            for (int h = 0; h < NH; h++) {
                const size_t base = (size_t)b * Tn * ld + h * hs;
                gather_rows(q, inp + base, Tn, hs, ld);
                gather_rows(k, inp + base + C, Tn, hs, ld);
                gather_rows(v, inp + base + 2 * C, Tn, hs, ld);
                gather_rows(d, dout + (size_t)b * Tn * C + h * hs, Tn, hs, C);
                std::fill_n(dq, 3 * head, (T)0);
                const T* a = att + ((size_t)b * NH + h) * Tn * Tn;
                for (int i0 = 0; i0 < Tn; i0 += kAttentionRows) {
                    const int i1 = std::min(Tn, i0 + kAttentionRows), rows = i1 - i0;
                    const T* ab = a + (size_t)i0 * Tn;
                    // dP[0:rows, 0:i1] = dO[i0:i1] v[0:i1]^T
                    gemm(false, true, rows, i1, hs, (T)1, d + (size_t)i0 * hs, hs, v, hs, (T)0, ds, Tn);
                    for (int r = 0; r < rows; r++) {
                        const T* p = ab + (size_t)r * Tn;
                        T* g = ds + (size_t)r * Tn;
                        const int n = i0 + r + 1;  // the causal window of row i0 + r
                        T dot = 0;
#pragma omp simd reduction(+ : dot)
                        for (int j = 0; j < n; j++) dot += p[j] * g[j];
#pragma omp simd
                        for (int j = 0; j < n; j++) g[j] = p[j] * (g[j] - dot) * scale;
                        for (int j = n; j < i1; j++) g[j] = 0;
                    }
                    gemm(false, false, rows, hs, i1, (T)1, ds, Tn, k, hs, (T)1, dq + (size_t)i0 * hs, hs);
                    gemm(true, false, i1, hs, rows, (T)1, ds, Tn, q + (size_t)i0 * hs, hs, (T)1, dk, hs);
                    gemm(true, false, i1, hs, rows, (T)1, ab, Tn, d + (size_t)i0 * hs, hs, (T)1, dv, hs);
                }
                // Write (or add) the task's gradients into its columns of dinp.
                const T* grads[3] = {dq, dk, dv};
                for (int part = 0; part < 3; part++)
                    for (int t = 0; t < Tn; t++) {
                        const T* g = grads[part] + (size_t)t * hs;
                        T* dst = dinp + base + part * C + (size_t)t * ld;
                        if (mode == Grad::Overwrite)
                            std::copy_n(g, hs, dst);
                        else
#pragma omp simd
                            for (int j = 0; j < hs; j++) dst[j] += g[j];
                    }
            }
    }
}

// -------------------------------------------------- attention, plain loops
// The reference the blocked version below is tested against: one query
// position at a time, dot products and sums written out.
template <typename T>
void attention_forward_naive(T* out, T* att, const T* inp, T scale, int B, int Tn, int C, int NH) {
    const int hs = C / NH;
    const size_t C3 = (size_t)3 * C;
#pragma omp parallel for collapse(3) schedule(static)
    for (int b = 0; b < B; b++)
        for (int h = 0; h < NH; h++)
            for (int t = 0; t < Tn; t++) {
                const T* q = inp + ((size_t)b * Tn + t) * C3 + h * hs;
                T* a = att + (((size_t)b * NH + h) * Tn + t) * Tn;
                // logits over the causal window t2 <= t, then a stable softmax
                T maxv = -INFINITY;
                for (int t2 = 0; t2 <= t; t2++) {
                    const T* k = inp + ((size_t)b * Tn + t2) * C3 + C + h * hs;
                    T dot = 0;
                    // omp simd lets the compiler vectorize the sum in a fixed
                    // (compile-time) order, so results stay reproducible
#pragma omp simd reduction(+ : dot)
                    for (int i = 0; i < hs; i++) dot += q[i] * k[i];
                    a[t2] = dot * scale;
                    maxv = std::max(maxv, a[t2]);
                }
                T sum = 0;
                for (int t2 = 0; t2 <= t; t2++) {
                    a[t2] = std::exp(a[t2] - maxv);
                    sum += a[t2];
                }
                T inv = 1 / sum;
                for (int t2 = 0; t2 <= t; t2++) a[t2] *= inv;
                // out = att @ v
                T* o = out + ((size_t)b * Tn + t) * C + h * hs;
                for (int i = 0; i < hs; i++) o[i] = 0;
                for (int t2 = 0; t2 <= t; t2++) {
                    const T* v = inp + ((size_t)b * Tn + t2) * C3 + 2 * C + h * hs;
                    T w = a[t2];
                    for (int i = 0; i < hs; i++) o[i] += w * v[i];
                }
            }
}

template <typename T>
void attention_backward_naive(T* dinp, const T* dout, const T* inp, const T* att, T scale, int B, int Tn, int C, int NH) {
    const int hs = C / NH;
    const size_t C3 = (size_t)3 * C;
    // One (batch, head) per task: its dq, dk, dv columns belong to no other
    // task, so there are no write conflicts and the order of sums is fixed.
#pragma omp parallel for collapse(2) schedule(static)
    for (int b = 0; b < B; b++)
        for (int h = 0; h < NH; h++) {
            std::vector<T> datt(Tn), dpre(Tn);
            for (int t = 0; t < Tn; t++) {
                const T* a = att + (((size_t)b * NH + h) * Tn + t) * Tn;
                const T* d = dout + ((size_t)b * Tn + t) * C + h * hs;
                const T* q = inp + ((size_t)b * Tn + t) * C3 + h * hs;
                T* dq = dinp + ((size_t)b * Tn + t) * C3 + h * hs;
                // out[t] = sum_t2 a[t2] v[t2]  =>  datt[t2] = d . v[t2],  dv[t2] += a[t2] d
                for (int t2 = 0; t2 <= t; t2++) {
                    const T* v = inp + ((size_t)b * Tn + t2) * C3 + 2 * C + h * hs;
                    T* dv = dinp + ((size_t)b * Tn + t2) * C3 + 2 * C + h * hs;
                    T s = 0;
#pragma omp simd reduction(+ : s)
                    for (int i = 0; i < hs; i++) {
                        s += d[i] * v[i];
                        dv[i] += a[t2] * d[i];
                    }
                    datt[t2] = s;
                }
                // softmax backward: dpre = a * (datt - sum(a * datt))
                T dot = 0;
                for (int t2 = 0; t2 <= t; t2++) dot += a[t2] * datt[t2];
                for (int t2 = 0; t2 <= t; t2++) dpre[t2] = a[t2] * (datt[t2] - dot) * scale;
                // logits = scale * q . k[t2]
                for (int t2 = 0; t2 <= t; t2++) {
                    const T* k = inp + ((size_t)b * Tn + t2) * C3 + C + h * hs;
                    T* dk = dinp + ((size_t)b * Tn + t2) * C3 + C + h * hs;
                    T g = dpre[t2];
                    for (int i = 0; i < hs; i++) {
                        dq[i] += g * k[i];
                        dk[i] += g * q[i];
                    }
                }
            }
        }
}

// ------------------------------------------------------------------- gelu
// gelu(x) = 0.5 x (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715 x^3), computed
// as a sigmoid: 0.5 (1 + tanh u) = 1 / (1 + e^(-2u)) = s. Then gelu = x s,
// and gelu' = s + x s (1 - s) 2 u', with s (1 - s) = e^(-2u) s^2 (no
// cancellation where s is near 1). One exp per element, vectorized in float
// (fast_math.h); the division by 1 + e stays exact where e overflows the
// clamp (x / 1.6e38 ~ 0).
namespace {
constexpr double kGeluK = 0.7978845608028654;  // sqrt(2/pi)
constexpr double kGeluCubic = 0.044715;
}  // namespace

template <typename T>
void gelu_forward(T* out, const T* inp, long N) {
    LayerTimer timer(LayerKind::Gelu);
    const T k = (T)kGeluK, c = (T)kGeluCubic;
#pragma omp parallel for simd schedule(static) if (worth_threads(N))
    for (long i = 0; i < N; i++) {
        const T x = inp[i];
        const T e = exp_fast(-2 * k * (x + c * x * x * x));
        out[i] = x / (1 + e);
    }
}

template <typename T>
void gelu_backward(T* dinp, const T* inp, const T* dout, long N, Grad mode) {
    LayerTimer timer(LayerKind::Gelu);
    const T k = (T)kGeluK, c = (T)kGeluCubic;
#pragma omp parallel for simd schedule(static) if (worth_threads(N))
    for (long i = 0; i < N; i++) {
        const T x = inp[i];
        const T e = exp_fast(-2 * k * (x + c * x * x * x));
        const T s = 1 / (1 + e);
        const T es = e * s;  // <= 1; e * s * s in another order overflows for x << 0
        const T grad = s + (2 * x * k * (1 + 3 * c * x * x)) * (es * s);
        dinp[i] = (mode == Grad::Overwrite ? (T)0 : dinp[i]) + grad * dout[i];
    }
}

// --------------------------------------------------------------- residual
template <typename T>
void residual_forward(T* out, const T* inp1, const T* inp2, T scale, long N) {
    LayerTimer timer(LayerKind::Elementwise);
#pragma omp parallel for schedule(static) if (worth_threads(N))
    for (long i = 0; i < N; i++) out[i] = inp1[i] + scale * inp2[i];
}

template <typename T>
void residual_backward(T* dinp1, T* dinp2, const T* dout, T scale, long N) {
    LayerTimer timer(LayerKind::Elementwise);
#pragma omp parallel for schedule(static) if (worth_threads(N))
    for (long i = 0; i < N; i++) {
        dinp1[i] += dout[i];
        dinp2[i] += scale * dout[i];
    }
}

template <typename T>
void scale_forward(T* x, T scale, long N) {
    LayerTimer timer(LayerKind::Elementwise);
#pragma omp parallel for schedule(static) if (worth_threads(N))
    for (long i = 0; i < N; i++) x[i] *= scale;
}

template <typename T>
void scale_copy(T* out, const T* inp, T scale, long N) {
    LayerTimer timer(LayerKind::Elementwise);
#pragma omp parallel for schedule(static) if (worth_threads(N))
    for (long i = 0; i < N; i++) out[i] = scale * inp[i];
}

// ------------------------------------------------- softmax + cross-entropy
template <typename T>
double softmax_crossentropy_forward(T* losses, T* probs, const T* logits, const int* targets, int N, int V) {
    LayerTimer timer(LayerKind::Loss);
#pragma omp parallel for schedule(static) if (worth_threads((long)N * V))
    for (int n = 0; n < N; n++) {
        const T* l = logits + (size_t)n * V;
        T* p = probs + (size_t)n * V;
        T maxv = l[0];
        for (int v = 1; v < V; v++) maxv = std::max(maxv, l[v]);
        T sum = 0;
        for (int v = 0; v < V; v++) {
            p[v] = std::exp(l[v] - maxv);
            sum += p[v];
        }
        T inv = 1 / sum;
        for (int v = 0; v < V; v++) p[v] *= inv;
        // -log p[target] as logsumexp - logit: exact even when p underflows
        losses[n] = std::log(sum) + maxv - l[targets[n]];
    }
    double total = 0;
    for (int n = 0; n < N; n++) total += losses[n];
    return total / N;
}

template <typename T>
void softmax_crossentropy_backward(T* dlogits, const T* probs, const int* targets, T dloss, int N, int V) {
    LayerTimer timer(LayerKind::Loss);
#pragma omp parallel for schedule(static) if (worth_threads((long)N * V))
    for (int n = 0; n < N; n++) {
        const T* p = probs + (size_t)n * V;
        T* d = dlogits + (size_t)n * V;
        for (int v = 0; v < V; v++) d[v] += dloss * p[v];
        d[targets[n]] -= dloss;
    }
}

#define INSTANTIATE(T)                                                                                        \
    template void encoder_forward<T>(T*, const int*, const T*, const T*, T, int, int, int);                  \
    template void encoder_backward<T>(T*, T*, const T*, const int*, T, int, int, int);                       \
    template void layernorm_forward<T>(T*, T*, T*, const T*, const T*, const T*, int, int);                  \
    template void layernorm_backward<T>(T*, T*, T*, const T*, const T*, const T*, const T*, const T*, int,   \
                                        int);                                                                 \
    template void attention_forward<T>(T*, T*, const T*, T, int, int, int, int);                             \
    template void attention_backward<T>(T*, const T*, const T*, const T*, T, int, int, int, int, Grad);      \
    template void attention_forward_naive<T>(T*, T*, const T*, T, int, int, int, int);                       \
    template void attention_backward_naive<T>(T*, const T*, const T*, const T*, T, int, int, int, int);      \
    template void gelu_forward<T>(T*, const T*, long);                                                        \
    template void gelu_backward<T>(T*, const T*, const T*, long, Grad);                                       \
    template void residual_forward<T>(T*, const T*, const T*, T, long);                                       \
    template void residual_backward<T>(T*, T*, const T*, T, long);                                            \
    template void scale_forward<T>(T*, T, long);                                                              \
    template void scale_copy<T>(T*, const T*, T, long);                                                       \
    template double softmax_crossentropy_forward<T>(T*, T*, const T*, const int*, int, int);                  \
    template void softmax_crossentropy_backward<T>(T*, const T*, const int*, T, int, int);
INSTANTIATE(float)
INSTANTIATE(double)
