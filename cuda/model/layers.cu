// The GPT's layers on the GPU, each the twin of the function of the same name
// in src/model/layers.cpp (read that file for the math; comments here are about how
// the work is split over threads). Every sum runs in a fixed order, so
// results repeat bit for bit (see gpu.h for the one optional exception).
#include <algorithm>
#include <cfloat>
#include <vector>

#include "common.cuh"

namespace gpu {

// ---------------------------------------------------------------- encoder
// One thread per output element (n, c).
__global__ void encoder_forward_kernel(float* out, const int* inp, const float* wte, const float* wpe, float scale,
                                       int Tn, long NC, int C) {
    long i = blockIdx.x * (long)blockDim.x + threadIdx.x;
    if (i >= NC) return;
    long n = i / C;
    int c = (int)(i % C), t = (int)(n % Tn);
    out[i] = scale * (wte[(size_t)inp[n] * C + c] + wpe[(size_t)t * C + c]);
}

void encoder_forward(float* out, const int* inp, const float* wte, const float* wpe, float scale, int B, int Tn,
                     int C) {
    long NC = (long)B * Tn * C;
    encoder_forward_kernel<<<blocks_for(NC, 256), 256>>>(out, inp, wte, wpe, scale, Tn, NC, C);
    LAUNCH_CHECK();
}

// dwpe[t,c] += scale * dout[b,t,c] for b = 0..B-1 in order: one thread per (t,c).
__global__ void encoder_backward_wpe_kernel(float* dwpe, const float* dout, float scale, int B, int Tn, int C) {
    long i = blockIdx.x * (long)blockDim.x + threadIdx.x;
    if (i >= (long)Tn * C) return;
    float acc = dwpe[i];
    for (int b = 0; b < B; b++) acc += scale * dout[(size_t)b * Tn * C + i];
    dwpe[i] = acc;
}

// Deterministic dwte: block j owns the j-th distinct token; its threads walk
// the channels, each adding that token's positions in increasing order (the
// CPU's order). order[] lists positions grouped by token, starts[j] ..
// starts[j+1] is token tokens[j]'s group.
__global__ void encoder_backward_wte_grouped_kernel(float* dwte, const float* dout, const int* tokens,
                                                    const int* starts, const int* order, float scale, int C) {
    const int j = blockIdx.x;
    float* row = dwte + (size_t)tokens[j] * C;
    for (int c = threadIdx.x; c < C; c += blockDim.x) {
        float acc = row[c];
        for (int k = starts[j]; k < starts[j + 1]; k++) acc += scale * dout[(size_t)order[k] * C + c];
        row[c] = acc;
    }
}

// Fast dwte: atomics, so the order of the additions (and the last bits) vary.
__global__ void encoder_backward_wte_atomic_kernel(float* dwte, const float* dout, const int* inp, float scale,
                                                   long NC, int C) {
    long i = blockIdx.x * (long)blockDim.x + threadIdx.x;
    if (i >= NC) return;
    long n = i / C;
    int c = (int)(i % C);
    atomicAdd(dwte + (size_t)inp[n] * C + c, scale * dout[i]);
}

void encoder_backward(float* dwte, float* dwpe, const float* dout, const int* inp, float scale, int B, int Tn, int C,
                      const int* host_inp) {
    const long N = (long)B * Tn;
    if (N <= 0 || C <= 0) return;
    if (dwpe) {  // nullptr: frozen
        encoder_backward_wpe_kernel<<<blocks_for((long)Tn * C, 256), 256>>>(dwpe, dout, scale, B, Tn, C);
        LAUNCH_CHECK();
    }
    if (!dwte) return;  // frozen
    if (!options().deterministic) {
        encoder_backward_wte_atomic_kernel<<<blocks_for(N * C, 256), 256>>>(dwte, dout, inp, scale, N * C, C);
        LAUNCH_CHECK();
        return;
    }
    // Group positions by token on the host (a counting sort keeps each
    // group's positions in increasing order), then one block per token.
    std::vector<int> ids((size_t)N);
    if (host_inp) std::copy(host_inp, host_inp + N, ids.begin());
    else download(ids.data(), inp, (size_t)N);
    int vocab = 0;
    for (int id : ids) vocab = std::max(vocab, id + 1);
    std::vector<int> count((size_t)vocab + 1, 0);
    for (int id : ids) count[(size_t)id + 1]++;
    for (int v = 0; v < vocab; v++) count[(size_t)v + 1] += count[(size_t)v];  // count[v] = first slot of token v
    std::vector<int> order((size_t)N), tokens, starts;
    std::vector<int> next(count.begin(), count.end() - 1);
    for (long n = 0; n < N; n++) order[(size_t)next[(size_t)ids[(size_t)n]]++] = (int)n;
    for (int v = 0; v < vocab; v++)
        if (count[(size_t)v + 1] > count[(size_t)v]) {
            tokens.push_back(v);
            starts.push_back(count[(size_t)v]);
        }
    starts.push_back((int)N);
    const int groups = (int)tokens.size();
    if (groups == 0) return;
    int* index = (int*)scratch(SCRATCH_INDEX, sizeof(int) * ((size_t)N + 2 * groups + 1));
    upload(index, order.data(), (size_t)N);
    upload(index + N, tokens.data(), (size_t)groups);
    upload(index + N + groups, starts.data(), (size_t)groups + 1);
    encoder_backward_wte_grouped_kernel<<<groups, std::min(256, ((C + 31) / 32) * 32)>>>(
        dwte, dout, index + N, index + N + groups, index, scale, C);
    LAUNCH_CHECK();
}

// -------------------------------------------------------------- layernorm
// One warp per row: the mean, then the variance around it (two passes, as on
// the CPU), from the row in global memory (it stays in L1/L2 between passes).
__global__ void layernorm_forward_kernel(float* out, float* mean, float* rstd, const float* inp, const float* weight,
                                         const float* bias, int N, int C) {
    const int row = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32, lane = threadIdx.x % 32;
    if (row >= N) return;
    const float* x = inp + (size_t)row * C;
    float s = 0;
    for (int c = lane; c < C; c += 32) s += x[c];
    const float m = warp_sum(s) / C;
    float v = 0;
    for (int c = lane; c < C; c += 32) v += (x[c] - m) * (x[c] - m);
    v = warp_sum(v) / C;
    const float r = 1.0f / sqrtf(v + 1e-5f);
    float* o = out + (size_t)row * C;
    for (int c = lane; c < C; c += 32) o[c] = (x[c] - m) * r * weight[c] + (bias ? bias[c] : 0.0f);
    if (lane == 0) {
        mean[row] = m;
        rstd[row] = r;
    }
}

void layernorm_forward(float* out, float* mean, float* rstd, const float* inp, const float* weight, const float* bias,
                       int N, int C) {
    layernorm_forward_kernel<<<blocks_for(N, 8), 256>>>(out, mean, rstd, inp, weight, bias, N, C);
    LAUNCH_CHECK();
}

// dinp, one warp per row: dx += rstd * (g - mean(g) - xhat * mean(g xhat)),
// g = dout * weight.
__global__ void layernorm_backward_dinp_kernel(float* dinp, const float* dout, const float* inp, const float* weight,
                                               const float* mean, const float* rstd, int N, int C) {
    const int row = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32, lane = threadIdx.x % 32;
    if (row >= N) return;
    const float* x = inp + (size_t)row * C;
    const float* d = dout + (size_t)row * C;
    const float m = mean[row], s = rstd[row];
    float g_sum = 0, gx_sum = 0;
    for (int c = lane; c < C; c += 32) {
        float g = d[c] * weight[c];
        g_sum += g;
        gx_sum += g * (x[c] - m) * s;
    }
    const float g_mean = warp_sum(g_sum) / C, gx_mean = warp_sum(gx_sum) / C;
    float* dx = dinp + (size_t)row * C;
    for (int c = lane; c < C; c += 32) {
        float xhat = (x[c] - m) * s;
        dx[c] += s * (d[c] * weight[c] - g_mean - xhat * gx_mean);
    }
}

// dweight, dbias: column sums over the rows, in two fixed-order stages as
// matmul.cu's bias gradient. partial is (chunks, 2, C).
__global__ void layernorm_backward_partial_kernel(float* partial, const float* dout, const float* inp,
                                                  const float* mean, const float* rstd, int N, int C,
                                                  int rows_per_chunk) {
    const int c = blockIdx.x * blockDim.x + threadIdx.x, chunk = blockIdx.y;
    if (c >= C) return;
    const int r0 = chunk * rows_per_chunk, r1 = min(N, r0 + rows_per_chunk);
    float dw = 0, db = 0;
    for (int r = r0; r < r1; r++) {
        float d = dout[(size_t)r * C + c];
        dw += d * (inp[(size_t)r * C + c] - mean[r]) * rstd[r];
        db += d;
    }
    partial[((size_t)chunk * 2) * C + c] = dw;
    partial[((size_t)chunk * 2 + 1) * C + c] = db;
}

__global__ void layernorm_backward_sum_kernel(float* dweight, float* dbias, const float* partial, int chunks, int C) {
    const int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= C) return;
    float dw = 0, db = 0;
    for (int k = 0; k < chunks; k++) {
        dw += partial[((size_t)k * 2) * C + c];
        db += partial[((size_t)k * 2 + 1) * C + c];
    }
    if (dweight) dweight[c] += dw;
    if (dbias) dbias[c] += db;
}

void layernorm_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                        const float* weight, const float* mean, const float* rstd, int N, int C) {
    if (N <= 0) return;
    layernorm_backward_dinp_kernel<<<blocks_for(N, 8), 256>>>(dinp, dout, inp, weight, mean, rstd, N, C);
    LAUNCH_CHECK();
    if (!dweight && !dbias) return;  // a frozen layernorm
    const int per = N <= 64 ? N : std::max(64, (N + 255) / 256), chunks = (N + per - 1) / per;
    float* partial = (float*)scratch(SCRATCH_PARTIAL, sizeof(float) * (size_t)chunks * 2 * C);
    layernorm_backward_partial_kernel<<<dim3(blocks_for(C, 128), chunks), 128>>>(partial, dout, inp, mean, rstd, N, C,
                                                                                 per);
    LAUNCH_CHECK();
    layernorm_backward_sum_kernel<<<blocks_for(C, 128), 128>>>(dweight, dbias, partial, chunks, C);
    LAUNCH_CHECK();
}

// ------------------------------------------------------ gelu, residual, scale
#define GELU_K 0.7978845608028654f  // sqrt(2/pi)

__global__ void gelu_forward_kernel(float* out, const float* inp, long N) {
    long i = blockIdx.x * (long)blockDim.x + threadIdx.x;
    if (i >= N) return;
    float x = inp[i];
    out[i] = 0.5f * x * (1.0f + tanhf(GELU_K * (x + 0.044715f * x * x * x)));
}

__global__ void gelu_backward_kernel(float* dinp, const float* inp, const float* dout, long N) {
    long i = blockIdx.x * (long)blockDim.x + threadIdx.x;
    if (i >= N) return;
    float x = inp[i];
    float th = tanhf(GELU_K * (x + 0.044715f * x * x * x));
    float sech2 = 1.0f - th * th;
    float grad = 0.5f * (1.0f + th) + 0.5f * x * sech2 * GELU_K * (1.0f + 3.0f * 0.044715f * x * x);
    dinp[i] += grad * dout[i];
}

void gelu_forward(float* out, const float* inp, long N) {
    gelu_forward_kernel<<<blocks_for(N, 256), 256>>>(out, inp, N);
    LAUNCH_CHECK();
}
void gelu_backward(float* dinp, const float* inp, const float* dout, long N) {
    gelu_backward_kernel<<<blocks_for(N, 256), 256>>>(dinp, inp, dout, N);
    LAUNCH_CHECK();
}

__global__ void residual_forward_kernel(float* out, const float* inp1, const float* inp2, float scale, long N) {
    long i = blockIdx.x * (long)blockDim.x + threadIdx.x;
    if (i < N) out[i] = inp1[i] + scale * inp2[i];
}
__global__ void residual_backward_kernel(float* dinp1, float* dinp2, const float* dout, float scale, long N) {
    long i = blockIdx.x * (long)blockDim.x + threadIdx.x;
    if (i >= N) return;
    dinp1[i] += dout[i];
    dinp2[i] += scale * dout[i];
}
__global__ void scale_kernel(float* x, float scale, long N) {
    long i = blockIdx.x * (long)blockDim.x + threadIdx.x;
    if (i < N) x[i] *= scale;
}

void residual_forward(float* out, const float* inp1, const float* inp2, float scale, long N) {
    residual_forward_kernel<<<blocks_for(N, 256), 256>>>(out, inp1, inp2, scale, N);
    LAUNCH_CHECK();
}
void residual_backward(float* dinp1, float* dinp2, const float* dout, float scale, long N) {
    residual_backward_kernel<<<blocks_for(N, 256), 256>>>(dinp1, dinp2, dout, scale, N);
    LAUNCH_CHECK();
}
void scale_forward(float* x, float scale, long N) {
    scale_kernel<<<blocks_for(N, 256), 256>>>(x, scale, N);
    LAUNCH_CHECK();
}

// ------------------------------------------------- softmax + cross-entropy
// One block per position: max, sum of exponentials, normalize, and the loss
// as logsumexp - logit[target] (exact even when the probability underflows).
__global__ void softmax_crossentropy_forward_kernel(float* losses, float* probs, const float* logits,
                                                    const int* targets, int V) {
    __shared__ float shared[32];
    const size_t n = blockIdx.x;
    const float* l = logits + n * V;
    float* p = probs + n * V;
    float maxv = -FLT_MAX;
    for (int v = threadIdx.x; v < V; v += blockDim.x) maxv = fmaxf(maxv, l[v]);
    maxv = block_max(maxv, shared, -FLT_MAX);
    float sum = 0;
    for (int v = threadIdx.x; v < V; v += blockDim.x) {
        float e = expf(l[v] - maxv);
        p[v] = e;
        sum += e;
    }
    sum = block_sum(sum, shared);
    const float inv = 1.0f / sum;
    for (int v = threadIdx.x; v < V; v += blockDim.x) p[v] *= inv;
    if (threadIdx.x == 0) losses[n] = logf(sum) + maxv - l[targets[n]];
}

double softmax_crossentropy_forward(float* losses, float* probs, const float* logits, const int* targets, int N,
                                    int V) {
    if (N <= 0) return 0.0;
    if (V <= 0) fail("softmax_crossentropy_forward: empty vocabulary");
    softmax_crossentropy_forward_kernel<<<N, V >= 1024 ? 1024 : ((V + 31) / 32) * 32>>>(losses, probs, logits,
                                                                                        targets, V);
    LAUNCH_CHECK();
    std::vector<float> host((size_t)N);
    download(host.data(), losses, (size_t)N);
    double total = 0;  // in position order, in double: as the CPU
    for (float x : host) total += x;
    return total / N;
}

__global__ void softmax_crossentropy_backward_kernel(float* dlogits, const float* probs, const int* targets,
                                                     float dloss, long N, int V) {
    long i = blockIdx.x * (long)blockDim.x + threadIdx.x;
    if (i >= N * V) return;
    long n = i / V;
    float d = dlogits[i] + dloss * probs[i];
    if (i % V == targets[n]) d -= dloss;
    dlogits[i] = d;
}

void softmax_crossentropy_backward(float* dlogits, const float* probs, const int* targets, float dloss, int N, int V) {
    softmax_crossentropy_backward_kernel<<<blocks_for((long)N * V, 256), 256>>>(dlogits, probs, targets, dloss, N, V);
    LAUNCH_CHECK();
}

// -------------------------------------------------------------- attention
// The products run as cuBLAS batched GEMMs over the B*NH heads, on per-head
// copies q, k, v (B,NH,T,hs) of the fused projection; the softmax with its
// causal mask is our kernel. Row-major (T,hs) per head is column-major
// (hs,T), so in cuBLAS's terms (see matmul.cu):
//   preatt (T,T) = q k^T      <=>  preatt^T = k q^T : gemm(T, N, ..) on (k, q)
//   y (T,hs)     = att v      <=>  y^T = v^T att^T
// and in the backward pass the same two shapes with the roles swapped.

// Element i of a per-head (B,NH,T,hs) array sits at row b*T + t, column
// h*hs + d of the token-major (B,T,NH*hs) layout; returns that row and column.
__device__ inline void head_to_token(long i, int Tn, int NH, int hs, size_t* row, int* col) {
    const int d = (int)(i % hs);
    long r = i / hs;
    const int t = (int)(r % Tn);
    r /= Tn;
    const int h = (int)(r % NH), b = (int)(r / NH);
    *row = (size_t)b * Tn + t;
    *col = h * hs + d;
}

// qkv (B,T,3,NH,hs) -> q, k, v (B,NH,T,hs); one thread per element of q.
__global__ void split_heads_kernel(float* q, float* k, float* v, const float* inp, int B, int Tn, int NH, int hs) {
    const long total = (long)B * NH * Tn * hs;
    long i = blockIdx.x * (long)blockDim.x + threadIdx.x;
    if (i >= total) return;
    size_t row;
    int col;
    head_to_token(i, Tn, NH, hs, &row, &col);
    const int C = NH * hs;
    const float* src = inp + row * 3 * C + col;
    q[i] = src[0];
    k[i] = src[C];
    v[i] = src[2 * C];
}

// y (B,NH,T,hs) -> out (B,T,NH*hs).
__global__ void merge_heads_kernel(float* out, const float* y, int B, int Tn, int NH, int hs) {
    const long total = (long)B * NH * Tn * hs;
    long i = blockIdx.x * (long)blockDim.x + threadIdx.x;
    if (i >= total) return;
    size_t row;
    int col;
    head_to_token(i, Tn, NH, hs, &row, &col);
    out[row * NH * hs + col] = y[i];
}

// x (B,T,NH*hs) -> y (B,NH,T,hs): the inverse of merge_heads.
__global__ void gather_heads_kernel(float* y, const float* x, int B, int Tn, int NH, int hs) {
    const long total = (long)B * NH * Tn * hs;
    long i = blockIdx.x * (long)blockDim.x + threadIdx.x;
    if (i >= total) return;
    size_t row;
    int col;
    head_to_token(i, Tn, NH, hs, &row, &col);
    y[i] = x[row * NH * hs + col];
}

// dinp (B,T,3C) += dq | dk | dv, each (B,NH,T,hs).
__global__ void merge_heads_qkv_grad_kernel(float* dinp, const float* dq, const float* dk, const float* dv, int B,
                                            int Tn, int NH, int hs) {
    const long total = (long)B * NH * Tn * hs;
    long i = blockIdx.x * (long)blockDim.x + threadIdx.x;
    if (i >= total) return;
    size_t row;
    int col;
    head_to_token(i, Tn, NH, hs, &row, &col);
    const int C = NH * hs;
    float* dst = dinp + row * 3 * C + col;
    dst[0] += dq[i];
    dst[C] += dk[i];
    dst[2 * C] += dv[i];
}

// One warp per row t of one head: softmax of scale * preatt over t2 <= t,
// zero above the diagonal (the att @ v product reads the whole square).
__global__ void causal_softmax_kernel(float* att, const float* preatt, float scale, long rows, int Tn) {
    const long row = blockIdx.x * (long)(blockDim.x / 32) + threadIdx.x / 32;
    const int lane = threadIdx.x % 32;
    if (row >= rows) return;
    const int t = (int)(row % Tn);
    const float* x = preatt + row * Tn;
    float* a = att + row * Tn;
    float maxv = -FLT_MAX;
    for (int t2 = lane; t2 <= t; t2 += 32) maxv = fmaxf(maxv, x[t2] * scale);
    maxv = warp_max(maxv);
    float sum = 0;
    for (int t2 = lane; t2 <= t; t2 += 32) sum += expf(x[t2] * scale - maxv);
    const float inv = 1.0f / warp_sum(sum);
    for (int t2 = lane; t2 < Tn; t2 += 32) a[t2] = t2 <= t ? expf(x[t2] * scale - maxv) * inv : 0.0f;
}

// Softmax backward, in place on datt: dpre = scale * a * (datt - sum(a datt)).
__global__ void causal_softmax_backward_kernel(float* dpre, const float* att, float scale, long rows, int Tn) {
    const long row = blockIdx.x * (long)(blockDim.x / 32) + threadIdx.x / 32;
    const int lane = threadIdx.x % 32;
    if (row >= rows) return;
    const int t = (int)(row % Tn);
    const float* a = att + row * Tn;
    float* d = dpre + row * Tn;
    float dot = 0;
    for (int t2 = lane; t2 <= t; t2 += 32) dot += a[t2] * d[t2];
    dot = warp_sum(dot);
    for (int t2 = lane; t2 < Tn; t2 += 32) d[t2] = t2 <= t ? a[t2] * (d[t2] - dot) * scale : 0.0f;
}

struct HeadScratch {
    float *q, *k, *v, *y, *square;
};
static HeadScratch head_scratch(int B, int Tn, int C, int NH) {
    const size_t per = sizeof(float) * (size_t)B * Tn * C, square = sizeof(float) * (size_t)B * NH * Tn * Tn;
    return {(float*)scratch(SCRATCH_Q, per), (float*)scratch(SCRATCH_K, per), (float*)scratch(SCRATCH_V, per),
            (float*)scratch(SCRATCH_Y, per), (float*)scratch(SCRATCH_PREATT, square)};
}

// Batched (T x T) = (T x hs)(hs x T)-shaped products of attention: for every
// head, C^T = op(A) op(B) with A, B per-head (T,hs) row-major arrays.
static void head_gemm(bool transA, bool transB, int m, int n, int k, const float* A, int lda, long long strideA,
                      const float* B, int ldb, long long strideB, float beta, float* C, int ldc, long long strideC,
                      int heads) {
    gemm(transA, transB, m, n, k, 1.0f, A, lda, strideA, (size_t)strideA * heads, B, ldb, strideB,
         (size_t)strideB * heads, beta, C, ldc, strideC, heads, options().precision);
}

void attention_forward(float* out, float* att, const float* inp, float scale, int B, int Tn, int C, int NH) {
    const int hs = C / NH, heads = B * NH;
    const long head_elems = (long)B * Tn * C;
    const long long sq = (long long)Tn * hs, ss = (long long)Tn * Tn;
    HeadScratch s = head_scratch(B, Tn, C, NH);
    split_heads_kernel<<<blocks_for(head_elems, 256), 256>>>(s.q, s.k, s.v, inp, B, Tn, NH, hs);
    LAUNCH_CHECK();
    // preatt[t][t2] = q_t . k_t2   (column-major: preatt^T = k^T' q, i.e. op(A) = k^T)
    head_gemm(true, false, Tn, Tn, hs, s.k, hs, sq, s.q, hs, sq, 0.0f, s.square, Tn, ss, heads);
    const long rows = (long)heads * Tn;
    causal_softmax_kernel<<<blocks_for(rows, 8), 256>>>(att, s.square, scale, rows, Tn);
    LAUNCH_CHECK();
    // y[t] = sum_t2 att[t][t2] v[t2]   (column-major: y^T = v^T att^T)
    head_gemm(false, false, hs, Tn, Tn, s.v, hs, sq, att, Tn, ss, 0.0f, s.y, hs, sq, heads);
    merge_heads_kernel<<<blocks_for(head_elems, 256), 256>>>(out, s.y, B, Tn, NH, hs);
    LAUNCH_CHECK();
}

void attention_backward(float* dinp, const float* dout, const float* inp, const float* att, float scale, int B,
                        int Tn, int C, int NH) {
    const int hs = C / NH, heads = B * NH;
    const long head_elems = (long)B * Tn * C;
    const long long sq = (long long)Tn * hs, ss = (long long)Tn * Tn;
    HeadScratch s = head_scratch(B, Tn, C, NH);
    split_heads_kernel<<<blocks_for(head_elems, 256), 256>>>(s.q, s.k, s.v, inp, B, Tn, NH, hs);
    LAUNCH_CHECK();
    float* dy = s.y;  // dout (B,T,C) -> dy (B,NH,T,hs)
    gather_heads_kernel<<<blocks_for(head_elems, 256), 256>>>(dy, dout, B, Tn, NH, hs);
    LAUNCH_CHECK();
    float* datt = s.square;
    // datt[t][t2] = dy_t . v_t2           (the shape of preatt = q k^T)
    head_gemm(true, false, Tn, Tn, hs, s.v, hs, sq, dy, hs, sq, 0.0f, datt, Tn, ss, heads);
    // dv[t2] = sum_t att[t][t2] dy_t       (column-major: dv^T = dy^T att)
    float* dv = (float*)scratch(SCRATCH_DV, sizeof(float) * (size_t)head_elems);
    head_gemm(false, true, hs, Tn, Tn, dy, hs, sq, att, Tn, ss, 0.0f, dv, hs, sq, heads);
    const long rows = (long)heads * Tn;
    causal_softmax_backward_kernel<<<blocks_for(rows, 8), 256>>>(datt, att, scale, rows, Tn);
    LAUNCH_CHECK();
    // dq[t] = sum_t2 dpre[t][t2] k_t2      (the shape of y = att v)
    float* dq = dy;  // dy is no longer needed
    head_gemm(false, false, hs, Tn, Tn, s.k, hs, sq, datt, Tn, ss, 0.0f, dq, hs, sq, heads);
    // dk[t2] = sum_t dpre[t][t2] q_t       (the shape of dv)
    float* dk = s.k;  // k is no longer needed once dq is done (same stream: in order)
    head_gemm(false, true, hs, Tn, Tn, s.q, hs, sq, datt, Tn, ss, 0.0f, dk, hs, sq, heads);
    merge_heads_qkv_grad_kernel<<<blocks_for(head_elems, 256), 256>>>(dinp, dq, dk, dv, B, Tn, NH, hs);
    LAUNCH_CHECK();
}

}  // namespace gpu
