// What a GPT is made of: its size and its switches. Everything here is saved
// in a checkpoint's metadata and printed at the start of a run.
#pragma once
#include <string>

// The hidden matrices a LoRA adapter can sit beside (docs/lora.md), as bits
// of ModelConfig::lora_targets. The order is the order of the adapters in
// the tensor table and of BlockOffsets' adapter arrays.
enum class LoraTarget { AttnQKV = 0, AttnProj = 1, MlpFc = 2, MlpProj = 3 };
constexpr int LORA_TARGET_COUNT = 4;
constexpr int LORA_ALL_TARGETS = (1 << LORA_TARGET_COUNT) - 1;
// "attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj": the matrix's name in a block
const char* lora_target_name(LoraTarget target);
// "attn.c_attn,mlp.c_fc" (also the short forms c_attn, attn_proj, c_fc,
// mlp_proj, and "all") -> bits; fails naming the choices.
int parse_lora_targets(const std::string& list);
std::string lora_targets_text(int targets);  // bits -> the comma list parse_lora_targets reads

struct ModelConfig {
    int vocab_size = 256;      // V
    int context_length = 128;  // maxT: rows of the position embedding
    int width = 128;           // d (C in shape comments)
    int depth = 4;             // L, number of transformer blocks
    int head_dim = 32;         // d_head; heads = d / d_head
    int mlp_ratio = 4;         // hidden width of the MLP is mlp_ratio * d
    bool bias = true;          // biases on linear layers and layernorms
    bool tie_embeddings = false;  // readout shares the token embedding

    // Forward multipliers. These are the knobs a parameterization turns (µP
    // multiplies the readout by 1/m and scales attention logits by 1/d_head);
    // the defaults below are the standard GPT-2 forward pass.
    double embedding_multiplier = 1.0;  // x0 = mult * (wte[tok] + wpe[t])
    double readout_multiplier = 1.0;    // logits = mult * (x @ W_out^T)
    double attention_scale = 0.0;       // logit scale; 0 means 1/sqrt(d_head)
    double residual_multiplier = 1.0;   // x = x + mult * branch(x) (depth scaling)

    // Low-rank adapters (LoRA, docs/lora.md): beside each targeted hidden
    // matrix W0 (fan_out, fan_in) an A (rank, fan_in) and a B (fan_out, rank),
    // and y = x W0^T + (alpha / rank) (x A^T) B^T. rank 0: no adapters (and
    // none of these fields in the JSON, so plain checkpoints read as before).
    // With adapters every other tensor is frozen (tensor_table.h).
    int lora_rank = 0;
    double lora_alpha = 0;   // > 0 with adapters
    int lora_targets = 0;    // bits of LoraTarget; nonzero with adapters

    bool has_adapters() const { return lora_rank > 0; }
    // The same model without its adapters (the frozen base they sit on).
    ModelConfig without_adapters() const {
        ModelConfig c = *this;
        c.lora_rank = 0, c.lora_alpha = 0, c.lora_targets = 0;
        return c;
    }
    bool adapts(LoraTarget t) const { return lora_rank > 0 && (lora_targets >> (int)t & 1); }
    double lora_scale() const { return lora_alpha / lora_rank; }
    int num_heads() const { return width / head_dim; }
    int mlp_width() const { return mlp_ratio * width; }
    double resolved_attention_scale() const;
    // Fails with a clear message if the sizes don't fit together.
    void validate() const;
    std::string to_json() const;
};

// Parses what to_json wrote (used when loading checkpoints).
ModelConfig model_config_from_json(const std::string& json);
