#include "model/tensor_table.h"

#include <cmath>
#include <cstdio>
#include <sstream>

#include "optim/optimizer.h"  // the row's LR and decay, as the step computes them
#include "util/util.h"

const char* role_name(TensorRole role) {
    switch (role) {
        case TensorRole::TokenEmbedding: return "token_embedding";
        case TensorRole::PositionEmbedding: return "position_embedding";
        case TensorRole::HiddenMatrix: return "hidden_matrix";
        case TensorRole::Readout: return "readout";
        case TensorRole::Bias: return "bias";
        case TensorRole::NormGain: return "norm_gain";
        case TensorRole::NormBias: return "norm_bias";
        case TensorRole::AdapterA: return "adapter_a";
        case TensorRole::AdapterB: return "adapter_b";
    }
    return "?";
}

const TensorInfo* TensorTable::find(const std::string& name) const {
    for (const auto& t : tensors)
        if (t.name == name) return &t;
    return nullptr;
}

const TensorInfo& TensorTable::get(const std::string& name) const {
    const TensorInfo* t = find(name);
    if (!t) fail("no parameter tensor named " + name);
    return *t;
}

// The adapter rows (after the plain model's) and the freezing of everything
// else: LoRA trains the adapters only.
template <typename Add>
static void add_adapters(TensorTable& table, const ModelConfig& c, Add& add) {
    for (TensorInfo& t : table.tensors) t.frozen = true;
    const int r = c.lora_rank;
    for (int l = 0; l < c.depth; l++)
        for (int k = 0; k < LORA_TARGET_COUNT; k++) {
            if (!c.adapts((LoraTarget)k)) continue;
            const std::string w = "transformer.h." + std::to_string(l) + "." + lora_target_name((LoraTarget)k);
            const TensorInfo& base = table.get(w + ".weight");
            const int fan_in = base.fan_in, fan_out = base.fan_out;  // (copied: add() may move the rows)
            add(w + ".lora_A", {r, fan_in}, TensorRole::AdapterA, l);
            add(w + ".lora_B", {fan_out, r}, TensorRole::AdapterB, l);
        }
}

TensorTable build_tensor_table(const ModelConfig& c) {
    c.validate();
    TensorTable table;
    const int C = c.width, H = c.mlp_width();
    // GPT-2's initialization: N(0, 0.02) for matrices and embeddings, and
    // 0.02/sqrt(2L) for the two projections that write into the residual
    // stream, so the stream's variance does not grow with depth.
    const double std_base = 0.02, std_residual = 0.02 / std::sqrt(2.0 * c.depth);

    auto add = [&](std::string name, std::vector<int> shape, TensorRole role, int layer) -> TensorInfo& {
        TensorInfo t;
        t.name = std::move(name);
        t.shape = std::move(shape);
        t.role = role;
        t.layer = layer;
        t.numel = 1;
        for (int s : t.shape) t.numel *= (size_t)s;
        if (t.shape.size() == 2) {
            t.fan_out = t.shape[0];
            t.fan_in = t.shape[1];
        }
        switch (role) {
            case TensorRole::TokenEmbedding:
            case TensorRole::PositionEmbedding: t.init_std = std_base; break;
            case TensorRole::HiddenMatrix:
            case TensorRole::Readout:
                t.init_std = std_base;
                t.weight_decay_multiplier = 1.0;  // decay matrices only (the default decayed set)
                break;
            case TensorRole::Bias:
            case TensorRole::NormBias: t.init_constant = 0.0; break;
            case TensorRole::NormGain: t.init_constant = 1.0; break;
            case TensorRole::AdapterA:
                // LoRA+'s Init[1]: variance 1/fan_in, so x A^T is O(1) at every width
                t.init_std = 1.0 / std::sqrt((double)t.fan_in);
                t.weight_decay_multiplier = 1.0;
                break;
            case TensorRole::AdapterB:
                t.init_constant = 0.0;  // B = 0: the adapted model starts as the plain one
                t.weight_decay_multiplier = 1.0;
                break;
        }
        t.offset = table.total;
        table.total += t.numel;
        table.tensors.push_back(t);
        return table.tensors.back();
    };

    add("transformer.wte.weight", {c.vocab_size, C}, TensorRole::TokenEmbedding, -1);
    add("transformer.wpe.weight", {c.context_length, C}, TensorRole::PositionEmbedding, -1);
    for (int l = 0; l < c.depth; l++) {
        std::string p = "transformer.h." + std::to_string(l) + ".";
        add(p + "ln_1.weight", {C}, TensorRole::NormGain, l);
        if (c.bias) add(p + "ln_1.bias", {C}, TensorRole::NormBias, l);
        add(p + "attn.c_attn.weight", {3 * C, C}, TensorRole::HiddenMatrix, l);
        if (c.bias) add(p + "attn.c_attn.bias", {3 * C}, TensorRole::Bias, l);
        TensorInfo& attn_proj = add(p + "attn.c_proj.weight", {C, C}, TensorRole::HiddenMatrix, l);
        attn_proj.residual_output = true;
        attn_proj.init_std = std_residual;
        if (c.bias) add(p + "attn.c_proj.bias", {C}, TensorRole::Bias, l);
        add(p + "ln_2.weight", {C}, TensorRole::NormGain, l);
        if (c.bias) add(p + "ln_2.bias", {C}, TensorRole::NormBias, l);
        add(p + "mlp.c_fc.weight", {H, C}, TensorRole::HiddenMatrix, l);
        if (c.bias) add(p + "mlp.c_fc.bias", {H}, TensorRole::Bias, l);
        TensorInfo& mlp_proj = add(p + "mlp.c_proj.weight", {C, H}, TensorRole::HiddenMatrix, l);
        mlp_proj.residual_output = true;
        mlp_proj.init_std = std_residual;
        if (c.bias) add(p + "mlp.c_proj.bias", {C}, TensorRole::Bias, l);
    }
    add("transformer.ln_f.weight", {C}, TensorRole::NormGain, -1);
    if (c.bias) add("transformer.ln_f.bias", {C}, TensorRole::NormBias, -1);
    if (!c.tie_embeddings) add("lm_head.weight", {c.vocab_size, C}, TensorRole::Readout, -1);
    if (c.has_adapters()) add_adapters(table, c, add);
    return table;
}

std::string describe_tensor_table(const TensorTable& table) {
    std::ostringstream s;
    char line[400];
    std::snprintf(line, sizeof line, "%-36s %-12s %-18s %6s %7s %13s %8s %8s %8s %6s %10s %10s %9s %7s\n", "tensor", "shape",
                  "role", "fan_in", "fan_out", "init", "lr_mult", "wd_mult", "eps_mult", "optim", "peak_lr", "decay",
                  "wd_norm", "scale");
    s << line;
    for (const auto& t : table.tensors) {
        std::string shape;
        for (size_t i = 0; i < t.shape.size(); i++) shape += (i ? "x" : "") + std::to_string(t.shape[i]);
        char init[40];
        if (t.init_std > 0) std::snprintf(init, sizeof init, "N(0,%.4g)%s", t.init_std, t.init_zero_rows ? "*" : "");
        else std::snprintf(init, sizeof init, "const %.4g", t.init_constant);
        const OptimizerRow& o = t.optim;
        if (t.frozen) {
            std::snprintf(line, sizeof line, "%-36s %-12s %-18s %6d %7d %13s %8s\n", t.name.c_str(), shape.c_str(),
                          role_name(t.role), t.fan_in, t.fan_out, init, "frozen");
            s << line;
            continue;
        }
        const double decay = decay_per_step(t, 1.0);  // at the peak LR
        std::snprintf(line, sizeof line, "%-36s %-12s %-18s %6d %7d %13s %8.4g %8.4g %8.4g %6s %10.4g %10.4g %9s %7.4g\n",
                      t.name.c_str(), shape.c_str(), role_name(t.role), t.fan_in, t.fan_out, init, t.lr_multiplier,
                      t.weight_decay_multiplier, t.eps_multiplier, optimizer_name(o.kind), tensor_lr(t, 1.0),
                      decay, o.weight_decay > 0 ? decay_norm_name(o.decay_norm) : "-", o.update_scale);
        s << line;
    }
    for (const auto& t : table.tensors)
        if (t.init_zero_rows) {
            s << "* the first " << t.init_zero_rows << " rows (the query block) start at 0\n";
            break;
        }
    size_t trainable = 0;
    for (const auto& t : table.tensors) trainable += t.frozen ? 0 : t.numel;
    s << "total parameters: " << table.total << "\n";
    if (trainable != table.total) s << "trainable parameters: " << trainable << " (the rest is frozen)\n";
    return s.str();
}
