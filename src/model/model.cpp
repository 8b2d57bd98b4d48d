#include "model/model.h"

#include <algorithm>
#include <cmath>

#include "model/layers.h"
#include "model/lora.h"
#include "model/matmul.h"
#include "util/rng.h"
#include "util/util.h"

// One block's offsets, each looked up by `off` (name -> offset or -1).
template <typename Off>
static BlockOffsets block_offsets(int l, const Off& off) {
    std::string p = "transformer.h." + std::to_string(l) + ".";
    BlockOffsets b = {off(p + "ln_1.weight"), off(p + "ln_1.bias"), off(p + "attn.c_attn.weight"),
                      off(p + "attn.c_attn.bias"), off(p + "attn.c_proj.weight"), off(p + "attn.c_proj.bias"),
                      off(p + "ln_2.weight"), off(p + "ln_2.bias"), off(p + "mlp.c_fc.weight"),
                      off(p + "mlp.c_fc.bias"), off(p + "mlp.c_proj.weight"), off(p + "mlp.c_proj.bias"), {}, {}};
    for (int k = 0; k < LORA_TARGET_COUNT; k++) {
        b.lora_A[k] = off(p + lora_target_name((LoraTarget)k) + ".lora_A");
        b.lora_B[k] = off(p + lora_target_name((LoraTarget)k) + ".lora_B");
    }
    return b;
}

template <typename T>
void gpt_build(GPT<T>& m, const ModelConfig& config) {
    m.config = config;
    m.table = build_tensor_table(config);
    m.params.assign(m.table.total, 0);
    m.grads.assign(m.table.total, 0);
    auto off = [&](const std::string& name) -> long {
        const TensorInfo* t = m.table.find(name);
        return t ? (long)t->offset : -1;
    };
    auto grad_off = [&](const std::string& name) -> long {
        const TensorInfo* t = m.table.find(name);
        return t && !t->frozen ? (long)t->offset : -1;
    };
    m.wte = off("transformer.wte.weight");
    m.wpe = off("transformer.wpe.weight");
    m.lnf_w = off("transformer.ln_f.weight");
    m.lnf_b = off("transformer.ln_f.bias");
    m.readout = config.tie_embeddings ? m.wte : off("lm_head.weight");
    m.grad_wte = grad_off("transformer.wte.weight");
    m.grad_wpe = grad_off("transformer.wpe.weight");
    m.grad_lnf_w = grad_off("transformer.ln_f.weight");
    m.grad_lnf_b = grad_off("transformer.ln_f.bias");
    m.grad_readout = config.tie_embeddings ? m.grad_wte : grad_off("lm_head.weight");
    m.blocks.clear();
    m.grad_blocks.clear();
    for (int l = 0; l < config.depth; l++) {
        m.blocks.push_back(block_offsets(l, off));
        m.grad_blocks.push_back(block_offsets(l, grad_off));
    }
    m.batch = m.seq_len = 0;
}

template <typename T>
void gpt_init(GPT<T>& m, uint64_t seed) {
    for (size_t i = 0; i < m.table.tensors.size(); i++) {
        const TensorInfo& t = m.table.tensors[i];
        T* p = m.params.data() + t.offset;
        if (t.init_std > 0) {
            Rng rng(seed * 0x9E3779B97F4A7C15ull + 0x632BE59BD9B4E019ull * (i + 1));
            for (size_t j = 0; j < t.numel; j++) p[j] = (T)(t.init_std * rng.normal());
            // zeroed after drawing, so the other rows get the same draws either way
            size_t row = t.shape.size() == 2 ? (size_t)t.shape[1] : 1;
            std::fill(p, p + std::min(t.numel, (size_t)t.init_zero_rows * row), (T)0);
        } else {
            std::fill(p, p + t.numel, (T)t.init_constant);
        }
    }
}

template <typename T>
const T* gpt_matrix_input(const GPT<T>& m, const TensorInfo& t) {
    if (t.role == TensorRole::Readout) return m.lnf.data();
    const bool adapter = is_adapter(t.role);
    if ((t.role != TensorRole::HiddenMatrix && !adapter) || t.layer < 0 || t.layer >= (int)m.acts.size()) return nullptr;
    const BlockActivations<T>& a = m.acts[t.layer];
    const BlockOffsets& b = m.blocks[t.layer];
    // each target matrix's input, in LoraTarget order
    const long weight[LORA_TARGET_COUNT] = {b.qkv_w, b.attn_proj_w, b.fc_w, b.fc_proj_w};
    const T* input[LORA_TARGET_COUNT] = {a.ln1.data(), a.attn_out.data(), a.ln2.data(), a.fc_gelu.data()};
    for (int k = 0; k < LORA_TARGET_COUNT; k++) {
        if ((long)t.offset == weight[k] || (long)t.offset == b.lora_A[k]) return input[k];
        if ((long)t.offset == b.lora_B[k]) return a.lora_u[k].data();
    }
    return nullptr;
}

// Sizes the activation buffers for a (B, T) batch; a no-op when unchanged.
template <typename T>
static void ensure_activations(GPT<T>& m, int B, int Tn) {
    if (m.batch == B && m.seq_len == Tn) return;
    m.batch = m.seq_len = 0;  // until every buffer below is sized (an allocation may fail)
    const ModelConfig& c = m.config;
    const size_t N = (size_t)B * Tn, C = c.width, H = c.mlp_width(), NH = c.num_heads(), V = c.vocab_size;
    m.encoded.assign(N * C, 0);
    m.acts.assign(c.depth, BlockActivations<T>());
    for (auto& a : m.acts) {
        a.ln1.assign(N * C, 0);
        a.ln1_mean.assign(N, 0);
        a.ln1_rstd.assign(N, 0);
        a.qkv.assign(N * 3 * C, 0);
        a.att.assign((size_t)B * NH * Tn * Tn, 0);
        a.attn_out.assign(N * C, 0);
        a.attn_proj.assign(N * C, 0);
        a.residual_mid.assign(N * C, 0);
        a.ln2.assign(N * C, 0);
        a.ln2_mean.assign(N, 0);
        a.ln2_rstd.assign(N, 0);
        a.fc.assign(N * H, 0);
        a.fc_gelu.assign(N * H, 0);
        a.fc_proj.assign(N * C, 0);
        a.residual_out.assign(N * C, 0);
        for (int k = 0; k < LORA_TARGET_COUNT; k++)
            if (c.adapts((LoraTarget)k)) a.lora_u[k].assign(N * c.lora_rank, 0);
    }
    m.lnf.assign(N * C, 0);
    m.lnf_mean.assign(N, 0);
    m.lnf_rstd.assign(N, 0);
    m.logits.assign(N * V, 0);
    m.probs.assign(N * V, 0);
    m.losses.assign(N, 0);
    m.d_logits.assign(N * V, 0);
    for (auto* d : {&m.d_lnf, &m.d_stream, &m.d_branch, &m.d_ln, &m.d_attn_out}) d->assign(N * C, 0);
    m.d_qkv.assign(N * 3 * C, 0);
    m.d_fc.assign(N * H, 0);
    m.d_lora_u.assign(c.has_adapters() ? N * c.lora_rank : 0, 0);
    m.batch = B;
    m.seq_len = Tn;
}

void gpt_check_batch(const ModelConfig& c, const int* inputs, const int* targets, int B, int Tn) {
    if (B <= 0 || Tn <= 0) fail("batch size and sequence length must be positive");
    if ((int64_t)B * Tn > (1 << 28))
        fail("batch of " + std::to_string(B) + " x " + std::to_string(Tn) + " positions is too large (limit 2^28)");
    if (Tn > c.context_length)
        fail("sequence length " + std::to_string(Tn) + " exceeds the model's context length " +
             std::to_string(c.context_length));
    const int N = B * Tn;
    auto check_ids = [&](const int* ids, const char* what) {
        for (int i = 0; i < N; i++)
            if (ids[i] < 0 || ids[i] >= c.vocab_size)
                fail(std::string(what) + " token id " + std::to_string(ids[i]) + " at batch position " +
                     std::to_string(i) + " is outside the vocabulary [0, " + std::to_string(c.vocab_size) + ")");
    };
    check_ids(inputs, "input");
    if (targets) check_ids(targets, "target");
}

// The adapter of block l's matrix k, if it has one: adds s (x A^T) B^T to
// the out (N,OC) its linear layer just wrote from inp (N,C).
template <typename T>
static void adapter_forward(GPT<T>& m, int l, LoraTarget k, T* out, const T* inp, int N, int C, int OC) {
    const BlockOffsets& w = m.blocks[l];
    if (w.lora_A[(int)k] < 0) return;
    lora_forward(out, m.acts[l].lora_u[(int)k].data(), inp, m.param(w.lora_A[(int)k]), m.param(w.lora_B[(int)k]),
                 (T)m.config.lora_scale(), N, C, OC, m.config.lora_rank);
}

// Its backward: gradients of A and B, and its share of dinp (N,C), added to
// what the linear layer's backward wrote there.
template <typename T>
static void adapter_backward(GPT<T>& m, int l, LoraTarget k, T* dinp, const T* dout, const T* inp, int N, int C,
                             int OC) {
    const BlockOffsets& w = m.blocks[l];
    const BlockOffsets& g = m.grad_blocks[l];
    if (w.lora_A[(int)k] < 0) return;
    lora_backward(dinp, m.grad_or_null(g.lora_A[(int)k]), m.grad_or_null(g.lora_B[(int)k]), m.d_lora_u.data(), dout,
                  inp, m.acts[l].lora_u[(int)k].data(), m.param(w.lora_A[(int)k]), m.param(w.lora_B[(int)k]),
                  (T)m.config.lora_scale(), N, C, OC, m.config.lora_rank);
}

template <typename T>
double gpt_forward(GPT<T>& m, const int* inputs, const int* targets, int B, int Tn) {
    const ModelConfig& c = m.config;
    gpt_check_batch(c, inputs, targets, B, Tn);
    const int N = B * Tn;
    ensure_activations(m, B, Tn);
    m.inputs.assign(inputs, inputs + N);
    m.have_targets = targets != nullptr;
    if (targets) m.targets.assign(targets, targets + N);

    const int C = c.width, H = c.mlp_width(), NH = c.num_heads(), V = c.vocab_size;
    const T attn_scale = (T)c.resolved_attention_scale(), res_mult = (T)c.residual_multiplier;

    // token + position embedding
    encoder_forward(m.encoded.data(), inputs, m.param(m.wte), m.param(m.wpe), (T)c.embedding_multiplier, B, Tn, C);
    const T* stream = m.encoded.data();
    for (int l = 0; l < c.depth; l++) {
        const BlockOffsets& w = m.blocks[l];
        BlockActivations<T>& a = m.acts[l];
        // attention branch: x + attn(ln_1(x))
        layernorm_forward(a.ln1.data(), a.ln1_mean.data(), a.ln1_rstd.data(), stream, m.param(w.ln1_w),
                          m.param_or_null(w.ln1_b), N, C);
        matmul_forward(a.qkv.data(), a.ln1.data(), m.param(w.qkv_w), m.param_or_null(w.qkv_b), N, C, 3 * C);
        adapter_forward(m, l, LoraTarget::AttnQKV, a.qkv.data(), a.ln1.data(), N, C, 3 * C);
        attention_forward(a.attn_out.data(), a.att.data(), a.qkv.data(), attn_scale, B, Tn, C, NH);
        matmul_forward(a.attn_proj.data(), a.attn_out.data(), m.param(w.attn_proj_w), m.param_or_null(w.attn_proj_b),
                       N, C, C);
        adapter_forward(m, l, LoraTarget::AttnProj, a.attn_proj.data(), a.attn_out.data(), N, C, C);
        residual_forward(a.residual_mid.data(), stream, a.attn_proj.data(), res_mult, (long)N * C);
        // MLP branch: x + mlp(ln_2(x))
        layernorm_forward(a.ln2.data(), a.ln2_mean.data(), a.ln2_rstd.data(), a.residual_mid.data(),
                          m.param(w.ln2_w), m.param_or_null(w.ln2_b), N, C);
        matmul_forward(a.fc.data(), a.ln2.data(), m.param(w.fc_w), m.param_or_null(w.fc_b), N, C, H);
        adapter_forward(m, l, LoraTarget::MlpFc, a.fc.data(), a.ln2.data(), N, C, H);
        gelu_forward(a.fc_gelu.data(), a.fc.data(), (long)N * H);
        matmul_forward(a.fc_proj.data(), a.fc_gelu.data(), m.param(w.fc_proj_w), m.param_or_null(w.fc_proj_b), N, H,
                       C);
        adapter_forward(m, l, LoraTarget::MlpProj, a.fc_proj.data(), a.fc_gelu.data(), N, H, C);
        residual_forward(a.residual_out.data(), a.residual_mid.data(), a.fc_proj.data(), res_mult, (long)N * C);
        stream = a.residual_out.data();
    }
    layernorm_forward(m.lnf.data(), m.lnf_mean.data(), m.lnf_rstd.data(), stream, m.param(m.lnf_w),
                      m.param_or_null(m.lnf_b), N, C);
    // readout (no bias, as in GPT-2), then the readout multiplier
    matmul_forward(m.logits.data(), m.lnf.data(), m.param(m.readout), (const T*)nullptr, N, C, V);
    if (c.readout_multiplier != 1.0) scale_forward(m.logits.data(), (T)c.readout_multiplier, (long)N * V);
    if (!targets) return 0.0;
    return softmax_crossentropy_forward(m.losses.data(), m.probs.data(), m.logits.data(), targets, N, V);
}

template <typename T>
void gpt_zero_grad(GPT<T>& m) {
    std::fill(m.grads.begin(), m.grads.end(), (T)0);
}

template <typename T>
void gpt_backward(GPT<T>& m) {
    if (m.batch == 0 || !m.have_targets) fail("gpt_backward needs a forward pass with targets first");
    const ModelConfig& c = m.config;
    const int B = m.batch, Tn = m.seq_len, N = B * Tn;
    const int C = c.width, H = c.mlp_width(), NH = c.num_heads(), V = c.vocab_size;
    const T attn_scale = (T)c.resolved_attention_scale(), res_mult = (T)c.residual_multiplier;
    // (a frozen tensor's gradient offset is -1: gp gives nullptr, which every
    // backward function takes as "no gradient for this one")
    auto gp = [&](long off) { return m.grad_or_null(off); };

    // Activation gradients live in the model's scratch buffers. dstream is
    // d loss / d (the residual stream) at the current point, walked back
    // block by block: each layernorm's backward adds its share into it in
    // place, which is the residual's skip path. The other buffers are written
    // over (Grad::Overwrite), so none needs zeroing first.
    std::vector<T>&dlogits = m.d_logits, &dlnf = m.d_lnf, &dstream = m.d_stream, &dbranch_scaled = m.d_branch;
    std::vector<T>&dln = m.d_ln, &dattn_out = m.d_attn_out, &dqkv = m.d_qkv, &dfc = m.d_fc;
    std::fill(dlogits.begin(), dlogits.end(), (T)0);
    std::fill(dstream.begin(), dstream.end(), (T)0);

    // loss = mean over N positions; logits = readout_multiplier * z
    softmax_crossentropy_backward(dlogits.data(), m.probs.data(), m.targets.data(),
                                  (T)(c.readout_multiplier / N), N, V);
    matmul_backward(dlnf.data(), gp(m.grad_readout), (T*)nullptr, dlogits.data(), m.lnf.data(), m.param(m.readout), N,
                    C, V, Grad::Overwrite);
    const T* last_stream = c.depth > 0 ? m.acts[c.depth - 1].residual_out.data() : m.encoded.data();
    layernorm_backward(dstream.data(), gp(m.grad_lnf_w), gp(m.grad_lnf_b), dlnf.data(), last_stream, m.param(m.lnf_w),
                       m.lnf_mean.data(), m.lnf_rstd.data(), N, C);

    // A branch's output is scaled by res_mult, so its gradient is
    // res_mult * dstream: dstream itself when res_mult is 1, else a scaled copy.
    auto branch_gradient = [&]() -> const T* {
        if (res_mult == (T)1) return dstream.data();
        scale_copy(dbranch_scaled.data(), dstream.data(), res_mult, (long)N * C);
        return dbranch_scaled.data();
    };
    for (int l = c.depth - 1; l >= 0; l--) {
        const BlockOffsets& w = m.blocks[l];
        const BlockOffsets& gw = m.grad_blocks[l];
        BlockActivations<T>& a = m.acts[l];
        const T* stream_in = l > 0 ? m.acts[l - 1].residual_out.data() : m.encoded.data();
        // residual_out = residual_mid + res_mult * mlp(ln_2(residual_mid))
        const T* dbranch = branch_gradient();
        matmul_backward(dfc.data(), gp(gw.fc_proj_w), gp(gw.fc_proj_b), dbranch, a.fc_gelu.data(),
                        m.param(w.fc_proj_w), N, H, C, Grad::Overwrite);
        adapter_backward(m, l, LoraTarget::MlpProj, dfc.data(), dbranch, a.fc_gelu.data(), N, H, C);
        gelu_backward(dfc.data(), a.fc.data(), dfc.data(), (long)N * H, Grad::Overwrite);  // in place
        matmul_backward(dln.data(), gp(gw.fc_w), gp(gw.fc_b), dfc.data(), a.ln2.data(), m.param(w.fc_w), N, C, H,
                        Grad::Overwrite);
        adapter_backward(m, l, LoraTarget::MlpFc, dln.data(), dfc.data(), a.ln2.data(), N, C, H);
        layernorm_backward(dstream.data(), gp(gw.ln2_w), gp(gw.ln2_b), dln.data(), a.residual_mid.data(),
                           m.param(w.ln2_w), a.ln2_mean.data(), a.ln2_rstd.data(), N, C);
        // dstream = d residual_mid. residual_mid = stream_in + res_mult * attn(ln_1(stream_in))
        dbranch = branch_gradient();
        matmul_backward(dattn_out.data(), gp(gw.attn_proj_w), gp(gw.attn_proj_b), dbranch, a.attn_out.data(),
                        m.param(w.attn_proj_w), N, C, C, Grad::Overwrite);
        adapter_backward(m, l, LoraTarget::AttnProj, dattn_out.data(), dbranch, a.attn_out.data(), N, C, C);
        attention_backward(dqkv.data(), dattn_out.data(), a.qkv.data(), a.att.data(), attn_scale, B, Tn, C, NH,
                           Grad::Overwrite);
        matmul_backward(dln.data(), gp(gw.qkv_w), gp(gw.qkv_b), dqkv.data(), a.ln1.data(), m.param(w.qkv_w), N, C,
                        3 * C, Grad::Overwrite);
        adapter_backward(m, l, LoraTarget::AttnQKV, dln.data(), dqkv.data(), a.ln1.data(), N, C, 3 * C);
        layernorm_backward(dstream.data(), gp(gw.ln1_w), gp(gw.ln1_b), dln.data(), stream_in, m.param(w.ln1_w),
                           a.ln1_mean.data(), a.ln1_rstd.data(), N, C);
        // dstream = d stream_in
    }
    encoder_backward(gp(m.grad_wte), gp(m.grad_wpe), dstream.data(), m.inputs.data(), (T)c.embedding_multiplier, B, Tn,
                     C);
}

#define INSTANTIATE(T)                                                       \
    template struct GPT<T>;                                                  \
    template void gpt_build<T>(GPT<T>&, const ModelConfig&);                 \
    template void gpt_init<T>(GPT<T>&, uint64_t);                            \
    template double gpt_forward<T>(GPT<T>&, const int*, const int*, int, int); \
    template const T* gpt_matrix_input<T>(const GPT<T>&, const TensorInfo&);   \
    template void gpt_zero_grad<T>(GPT<T>&);                                 \
    template void gpt_backward<T>(GPT<T>&);
INSTANTIATE(float)
INSTANTIATE(double)
