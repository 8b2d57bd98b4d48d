// The GPT on the GPU (see gpt_gpu.h). gpu_gpt_forward and gpu_gpt_backward
// are src/model/model.cpp's gpt_forward and gpt_backward line for line, each layer
// call going to its gpu:: twin; read them side by side.
#include <algorithm>
#include <memory>
#include <vector>

#include "common.cuh"
#include "model/gpt_gpu.h"

using gpu::Buffer;

// What the forward pass saves for the backward pass, per block (shapes as in
// model.h's BlockActivations).
struct GpuBlockActivations {
    Buffer<float> ln1, ln1_mean, ln1_rstd, qkv, att, attn_out, attn_proj, residual_mid;
    Buffer<float> ln2, ln2_mean, ln2_rstd, fc, fc_gelu, fc_proj, residual_out;
    Buffer<float> lora_u[LORA_TARGET_COUNT];  // x A^T (N,rank) of each adapter; empty without one
};

struct GpuGPT {
    ModelConfig config;
    TensorTable table;
    long wte = 0, wpe = 0, lnf_w = 0, lnf_b = -1, readout = 0;
    std::vector<BlockOffsets> blocks;
    // where the backward pass writes each gradient: -1 for a frozen tensor (model.h)
    long grad_wte = 0, grad_wpe = 0, grad_lnf_w = 0, grad_lnf_b = -1, grad_readout = 0;
    std::vector<BlockOffsets> grad_blocks;
    Buffer<float> params, grads, adam_m, adam_v, spectral, params_before;  // spectral: the optimizer's v1 vectors
    Buffer<float> grad_accum;  // the micro-batches' gradient sum (--grad-accum K > 1 only)

    int batch = 0, seq_len = 0;
    bool have_targets = false;
    Buffer<int> inputs, targets;
    std::vector<int> host_inputs;  // the same ids, for the embedding gradient's grouping by token
    Buffer<float> encoded;
    std::vector<GpuBlockActivations> acts;
    Buffer<float> lnf, lnf_mean, lnf_rstd, logits, probs, losses;
    Buffer<float> d_logits, d_lnf, d_stream, d_stream_prev, d_branch, d_ln, d_attn_out, d_qkv, d_fc, d_fc_gelu;
    Buffer<float> d_lora_u;  // (N,rank): an adapter's d(x A^T), one adapter at a time
    Buffer<float> x_sample;  // measurements

    float* param(long offset) const { return params.ptr + offset; }
    float* param_or_null(long offset) const { return offset < 0 ? nullptr : params.ptr + offset; }
    float* grad_or_null(long offset) const { return offset < 0 ? nullptr : grads.ptr + offset; }
};

GpuGPT* gpu_gpt_create(const GPT<float>& host, const gpu::Options& options) {
    gpu::init(options);
    std::unique_ptr<GpuGPT> m(new GpuGPT());  // freed if an allocation below fails
    m->config = host.config;
    m->table = host.table;
    m->wte = host.wte;
    m->wpe = host.wpe;
    m->lnf_w = host.lnf_w;
    m->lnf_b = host.lnf_b;
    m->readout = host.readout;
    m->blocks = host.blocks;
    m->grad_wte = host.grad_wte;
    m->grad_wpe = host.grad_wpe;
    m->grad_lnf_w = host.grad_lnf_w;
    m->grad_lnf_b = host.grad_lnf_b;
    m->grad_readout = host.grad_readout;
    m->grad_blocks = host.grad_blocks;
    const size_t n = host.table.total;
    m->params.from_host(host.params);
    m->grads.resize(n);
    m->adam_m.resize(n);
    m->adam_v.resize(n);
    m->spectral.resize(host.table.spectral_total);
    return m.release();
}

void gpu_gpt_free(GpuGPT* m) { delete m; }

void gpu_gpt_upload_state(GpuGPT* m, const float* params, const float* adam_m, const float* adam_v,
                          const float* spectral) {
    const size_t n = m->table.total;
    if (params) gpu::upload(m->params.ptr, params, n);
    if (adam_m) gpu::upload(m->adam_m.ptr, adam_m, n);
    if (adam_v) gpu::upload(m->adam_v.ptr, adam_v, n);
    if (spectral) gpu::upload(m->spectral.ptr, spectral, m->table.spectral_total);
}

void gpu_gpt_download_state(GpuGPT* m, float* params, float* adam_m, float* adam_v, float* spectral) {
    const size_t n = m->table.total;
    if (params) gpu::download(params, m->params.ptr, n);
    if (adam_m) gpu::download(adam_m, m->adam_m.ptr, n);
    if (adam_v) gpu::download(adam_v, m->adam_v.ptr, n);
    if (spectral) gpu::download(spectral, m->spectral.ptr, m->table.spectral_total);
}

void gpu_gpt_download_grads(GpuGPT* m, float* grads) { gpu::download(grads, m->grads.ptr, m->table.total); }

void gpu_gpt_download_logits(GpuGPT* m, float* logits) {
    if (m->batch == 0) fail("gpu_gpt_download_logits: no forward pass yet");
    gpu::download(logits, m->logits.ptr, m->logits.n);
}

// Sizes the activation buffers for a (B, T) batch; a no-op when unchanged.
static void ensure_activations(GpuGPT& m, int B, int Tn) {
    if (m.batch == B && m.seq_len == Tn) return;
    m.batch = m.seq_len = 0;  // until every buffer below is sized (an allocation may fail)
    const ModelConfig& c = m.config;
    const size_t N = (size_t)B * Tn, C = c.width, H = c.mlp_width(), NH = c.num_heads(), V = c.vocab_size;
    m.inputs.resize(N);
    m.targets.resize(N);
    m.encoded.resize(N * C);
    m.acts.clear();  // frees the old batch shape's buffers before allocating the new ones
    m.acts.resize(c.depth);
    for (GpuBlockActivations& a : m.acts) {
        for (Buffer<float>* b : {&a.ln1, &a.attn_out, &a.attn_proj, &a.residual_mid, &a.ln2, &a.fc_proj,
                                 &a.residual_out})
            b->resize(N * C);
        for (Buffer<float>* b : {&a.ln1_mean, &a.ln1_rstd, &a.ln2_mean, &a.ln2_rstd}) b->resize(N);
        a.qkv.resize(N * 3 * C);
        a.att.resize((size_t)B * NH * Tn * Tn);
        a.fc.resize(N * H);
        a.fc_gelu.resize(N * H);
        for (int k = 0; k < LORA_TARGET_COUNT; k++)
            if (c.adapts((LoraTarget)k)) a.lora_u[k].resize(N * c.lora_rank);
    }
    m.lnf.resize(N * C);
    m.lnf_mean.resize(N);
    m.lnf_rstd.resize(N);
    m.logits.resize(N * V);
    m.probs.resize(N * V);
    m.losses.resize(N);
    m.d_logits.resize(N * V);
    for (Buffer<float>* d : {&m.d_lnf, &m.d_stream, &m.d_stream_prev, &m.d_branch, &m.d_ln, &m.d_attn_out})
        d->resize(N * C);
    m.d_qkv.resize(N * 3 * C);
    m.d_fc.resize(N * H);
    m.d_fc_gelu.resize(N * H);
    m.d_lora_u.resize(c.has_adapters() ? N * c.lora_rank : 0);
    m.batch = B;
    m.seq_len = Tn;
}

// The adapter of block l's matrix k, if it has one: adds s (x A^T) B^T to
// the out (N,OC) its linear layer just wrote from inp (N,C).
static void adapter_forward(GpuGPT& m, int l, LoraTarget k, float* out, const float* inp, int N, int C, int OC) {
    const BlockOffsets& w = m.blocks[l];
    if (w.lora_A[(int)k] < 0) return;
    gpu::lora_forward(out, m.acts[l].lora_u[(int)k], inp, m.param(w.lora_A[(int)k]), m.param(w.lora_B[(int)k]),
                      (float)m.config.lora_scale(), N, C, OC, m.config.lora_rank);
}

// Its backward: gradients of A and B, and its share of dinp (N,C), added to
// what the linear layer's backward wrote there.
static void adapter_backward(GpuGPT& m, int l, LoraTarget k, float* dinp, const float* dout, const float* inp, int N,
                             int C, int OC) {
    const BlockOffsets& w = m.blocks[l];
    const BlockOffsets& g = m.grad_blocks[l];
    if (w.lora_A[(int)k] < 0) return;
    gpu::lora_backward(dinp, m.grad_or_null(g.lora_A[(int)k]), m.grad_or_null(g.lora_B[(int)k]), m.d_lora_u, dout,
                       inp, m.acts[l].lora_u[(int)k], m.param(w.lora_A[(int)k]), m.param(w.lora_B[(int)k]),
                       (float)m.config.lora_scale(), N, C, OC, m.config.lora_rank);
}

double gpu_gpt_forward(GpuGPT* mp, const int* inputs, const int* targets, int B, int Tn) {
    GpuGPT& m = *mp;
    const ModelConfig& c = m.config;
    gpt_check_batch(c, inputs, targets, B, Tn);
    const int N = B * Tn;
    ensure_activations(m, B, Tn);
    gpu::upload(m.inputs.ptr, inputs, (size_t)N);
    m.host_inputs.assign(inputs, inputs + N);
    m.have_targets = targets != nullptr;
    if (targets) gpu::upload(m.targets.ptr, targets, (size_t)N);

    const int C = c.width, H = c.mlp_width(), NH = c.num_heads(), V = c.vocab_size;
    const float attn_scale = (float)c.resolved_attention_scale(), res_mult = (float)c.residual_multiplier;

    // token + position embedding
    gpu::encoder_forward(m.encoded, m.inputs, m.param(m.wte), m.param(m.wpe), (float)c.embedding_multiplier, B, Tn,
                         C);
    const float* stream = m.encoded;
    for (int l = 0; l < c.depth; l++) {
        const BlockOffsets& w = m.blocks[l];
        GpuBlockActivations& a = m.acts[l];
        // attention branch: x + attn(ln_1(x))
        gpu::layernorm_forward(a.ln1, a.ln1_mean, a.ln1_rstd, stream, m.param(w.ln1_w), m.param_or_null(w.ln1_b), N,
                               C);
        gpu::matmul_forward(a.qkv, a.ln1, m.param(w.qkv_w), m.param_or_null(w.qkv_b), N, C, 3 * C);
        adapter_forward(m, l, LoraTarget::AttnQKV, a.qkv, a.ln1, N, C, 3 * C);
        gpu::attention_forward(a.attn_out, a.att, a.qkv, attn_scale, B, Tn, C, NH);
        gpu::matmul_forward(a.attn_proj, a.attn_out, m.param(w.attn_proj_w), m.param_or_null(w.attn_proj_b), N, C, C);
        adapter_forward(m, l, LoraTarget::AttnProj, a.attn_proj, a.attn_out, N, C, C);
        gpu::residual_forward(a.residual_mid, stream, a.attn_proj, res_mult, (long)N * C);
        // MLP branch: x + mlp(ln_2(x))
        gpu::layernorm_forward(a.ln2, a.ln2_mean, a.ln2_rstd, a.residual_mid, m.param(w.ln2_w),
                               m.param_or_null(w.ln2_b), N, C);
        gpu::matmul_forward(a.fc, a.ln2, m.param(w.fc_w), m.param_or_null(w.fc_b), N, C, H);
        adapter_forward(m, l, LoraTarget::MlpFc, a.fc, a.ln2, N, C, H);
        gpu::gelu_forward(a.fc_gelu, a.fc, (long)N * H);
        gpu::matmul_forward(a.fc_proj, a.fc_gelu, m.param(w.fc_proj_w), m.param_or_null(w.fc_proj_b), N, H, C);
        adapter_forward(m, l, LoraTarget::MlpProj, a.fc_proj, a.fc_gelu, N, H, C);
        gpu::residual_forward(a.residual_out, a.residual_mid, a.fc_proj, res_mult, (long)N * C);
        stream = a.residual_out;
    }
    gpu::layernorm_forward(m.lnf, m.lnf_mean, m.lnf_rstd, stream, m.param(m.lnf_w), m.param_or_null(m.lnf_b), N, C);
    // readout (no bias, as in GPT-2), then the readout multiplier
    gpu::matmul_forward(m.logits, m.lnf, m.param(m.readout), nullptr, N, C, V);
    if (c.readout_multiplier != 1.0) gpu::scale_forward(m.logits, (float)c.readout_multiplier, (long)N * V);
    if (!targets) return 0.0;
    return gpu::softmax_crossentropy_forward(m.losses, m.probs, m.logits, m.targets, N, V);
}

void gpu_gpt_zero_grad(GpuGPT* m) { m->grads.zero(); }

void gpu_gpt_backward(GpuGPT* mp) {
    GpuGPT& m = *mp;
    if (m.batch == 0 || !m.have_targets) fail("gpu_gpt_backward needs a forward pass with targets first");
    const ModelConfig& c = m.config;
    const int B = m.batch, Tn = m.seq_len, N = B * Tn;
    const int C = c.width, H = c.mlp_width(), NH = c.num_heads(), V = c.vocab_size;
    const float attn_scale = (float)c.resolved_attention_scale(), res_mult = (float)c.residual_multiplier;
    // (a frozen tensor's gradient offset is -1: gp gives nullptr, which every
    // backward function takes as "no gradient for this one")
    auto gp = [&](long off) { return m.grad_or_null(off); };
    // scratch buffers swap roles as in model.cpp; std::swap on Buffer moves pointers
    Buffer<float>&dlogits = m.d_logits, &dlnf = m.d_lnf, &dstream = m.d_stream, &dstream_prev = m.d_stream_prev;
    Buffer<float>&dbranch = m.d_branch, &dln = m.d_ln, &dattn_out = m.d_attn_out, &dqkv = m.d_qkv;
    Buffer<float>&dfc = m.d_fc, &dfc_gelu = m.d_fc_gelu;
    dlogits.zero();
    dlnf.zero();
    dstream.zero();

    // loss = mean over N positions; logits = readout_multiplier * z
    gpu::softmax_crossentropy_backward(dlogits, m.probs, m.targets, (float)(c.readout_multiplier / N), N, V);
    gpu::matmul_backward(dlnf, gp(m.grad_readout), nullptr, dlogits, m.lnf, m.param(m.readout), N, C, V);
    const float* last_stream = c.depth > 0 ? m.acts[c.depth - 1].residual_out.ptr : m.encoded.ptr;
    gpu::layernorm_backward(dstream, gp(m.grad_lnf_w), gp(m.grad_lnf_b), dlnf, last_stream, m.param(m.lnf_w),
                            m.lnf_mean, m.lnf_rstd, N, C);

    for (int l = c.depth - 1; l >= 0; l--) {
        const BlockOffsets& w = m.blocks[l];
        const BlockOffsets& gw = m.grad_blocks[l];
        GpuBlockActivations& a = m.acts[l];
        const float* stream_in = l > 0 ? m.acts[l - 1].residual_out.ptr : m.encoded.ptr;
        // residual_out = residual_mid + res_mult * fc_proj
        dstream_prev.zero();  // becomes d residual_mid
        dbranch.zero();
        gpu::residual_backward(dstream_prev, dbranch, dstream, res_mult, (long)N * C);
        dfc_gelu.zero();
        gpu::matmul_backward(dfc_gelu, gp(gw.fc_proj_w), gp(gw.fc_proj_b), dbranch, a.fc_gelu, m.param(w.fc_proj_w),
                             N, H, C);
        adapter_backward(m, l, LoraTarget::MlpProj, dfc_gelu, dbranch, a.fc_gelu, N, H, C);
        dfc.zero();
        gpu::gelu_backward(dfc, a.fc, dfc_gelu, (long)N * H);
        dln.zero();
        gpu::matmul_backward(dln, gp(gw.fc_w), gp(gw.fc_b), dfc, a.ln2, m.param(w.fc_w), N, C, H);
        adapter_backward(m, l, LoraTarget::MlpFc, dln, dfc, a.ln2, N, C, H);
        gpu::layernorm_backward(dstream_prev, gp(gw.ln2_w), gp(gw.ln2_b), dln, a.residual_mid, m.param(w.ln2_w),
                                a.ln2_mean, a.ln2_rstd, N, C);
        std::swap(dstream, dstream_prev);  // dstream = d residual_mid
        // residual_mid = stream_in + res_mult * attn_proj
        dstream_prev.zero();  // becomes d stream_in
        dbranch.zero();
        gpu::residual_backward(dstream_prev, dbranch, dstream, res_mult, (long)N * C);
        dattn_out.zero();
        gpu::matmul_backward(dattn_out, gp(gw.attn_proj_w), gp(gw.attn_proj_b), dbranch, a.attn_out,
                             m.param(w.attn_proj_w), N, C, C);
        adapter_backward(m, l, LoraTarget::AttnProj, dattn_out, dbranch, a.attn_out, N, C, C);
        dqkv.zero();
        gpu::attention_backward(dqkv, dattn_out, a.qkv, a.att, attn_scale, B, Tn, C, NH);
        dln.zero();
        gpu::matmul_backward(dln, gp(gw.qkv_w), gp(gw.qkv_b), dqkv, a.ln1, m.param(w.qkv_w), N, C, 3 * C);
        adapter_backward(m, l, LoraTarget::AttnQKV, dln, dqkv, a.ln1, N, C, 3 * C);
        gpu::layernorm_backward(dstream_prev, gp(gw.ln1_w), gp(gw.ln1_b), dln, stream_in, m.param(w.ln1_w), a.ln1_mean,
                                a.ln1_rstd, N, C);
        std::swap(dstream, dstream_prev);  // dstream = d stream_in
    }
    gpu::encoder_backward(gp(m.grad_wte), gp(m.grad_wpe), dstream, m.inputs, (float)c.embedding_multiplier, B, Tn, C,
                          m.host_inputs.data());
}

double gpu_gpt_clip_grad_norm(GpuGPT* m, double max_norm) {
    return gpu::clip_grad_norm(m->grads, m->table.total, max_norm);
}

double gpu_gpt_grad_sq_norm(GpuGPT* m) {
    const double norm = gpu::global_grad_norm(m->grads, m->table.total);
    return norm * norm;
}

double gpu_gpt_tensor_grad_sq_norm(GpuGPT* m, size_t offset, size_t n) {
    if (offset + n > m->table.total) fail("gpu_gpt_tensor_grad_sq_norm: the range is outside the gradients");
    const double norm = gpu::global_grad_norm(m->grads.ptr + offset, n);
    return norm * norm;
}

void gpu_gpt_accumulate_grads(GpuGPT* m, bool first) {
    m->grad_accum.resize(m->table.total);
    gpu::accumulate_grads(m->grad_accum, m->grads, m->table.total, first);
}

void gpu_gpt_mean_of_accumulated(GpuGPT* m, int count) {
    if (m->grad_accum.n != m->table.total) fail("gpu_gpt_mean_of_accumulated: nothing was accumulated");
    gpu::mean_of_accumulated(m->grads, m->grad_accum, m->table.total, count);
}

void gpu_gpt_optimizer_step(GpuGPT* m, double schedule, int64_t step, const double* lr_extra) {
    gpu::optimizer_step(m->params, m->grads, m->adam_m, m->adam_v, m->spectral, m->table, schedule, step, lr_extra);
}

void gpu_gpt_snapshot_params(GpuGPT* m) {
    m->params_before.resize(m->table.total);
    gpu::copy_bytes(m->params_before.ptr, m->params.ptr, sizeof(float) * m->table.total);
}

// The activation a weight matrix multiplies in the last forward pass, as
// model.cpp's gpt_matrix_input.
static const float* matrix_input(const GpuGPT& m, const TensorInfo& t) {
    if (t.role == TensorRole::Readout) return m.lnf;
    const bool adapter = is_adapter(t.role);
    if ((t.role != TensorRole::HiddenMatrix && !adapter) || t.layer < 0 || t.layer >= (int)m.acts.size()) return nullptr;
    const GpuBlockActivations& a = m.acts[t.layer];
    const BlockOffsets& b = m.blocks[t.layer];
    // each target matrix's input, in LoraTarget order
    const long weight[LORA_TARGET_COUNT] = {b.qkv_w, b.attn_proj_w, b.fc_w, b.fc_proj_w};
    const float* input[LORA_TARGET_COUNT] = {a.ln1, a.attn_out, a.ln2, a.fc_gelu};
    for (int k = 0; k < LORA_TARGET_COUNT; k++) {
        if ((long)t.offset == weight[k] || (long)t.offset == b.lora_A[k]) return input[k];
        if ((long)t.offset == b.lora_B[k]) return a.lora_u[k];
    }
    return nullptr;
}

MatrixStats gpu_gpt_measure(GpuGPT* m, const TensorInfo& t, const std::vector<int>& rows, double lr, double decay,
                            double beta1) {
    if (m->params_before.n != m->table.total) fail("gpu_gpt_measure: gpu_gpt_snapshot_params was not called");
    const float* x = m->batch > 0 ? matrix_input(*m, t) : nullptr;
    if (!x) fail("gpu_gpt_measure: " + t.name + " has no input activation (not a weight matrix, or no forward pass)");
    const int K = t.fan_out, C = t.fan_in, N = m->batch * m->seq_len;
    for (int r : rows)
        if (r < 0 || r >= N) fail("gpu_gpt_measure: row " + std::to_string(r) + " outside the batch's " +
                                  std::to_string(N) + " positions");
    m->x_sample.resize(std::max<size_t>(m->x_sample.n, rows.size() * (size_t)C));
    gpu::gather_rows(x, C, rows, m->x_sample);
    return gpu::measure_matrix(m->params_before.ptr + t.offset, m->params.ptr + t.offset, K, C, m->x_sample,
                               (int)rows.size(), lr, decay, beta1);
}
