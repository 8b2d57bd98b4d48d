// What a GPT is made of: its size and its switches. Everything here is saved
// in a checkpoint's metadata and printed at the start of a run.
#pragma once
#include <string>

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

    int num_heads() const { return width / head_dim; }
    int mlp_width() const { return mlp_ratio * width; }
    double resolved_attention_scale() const;
    // Fails with a clear message if the sizes don't fit together.
    void validate() const;
    std::string to_json() const;
};

// Parses what to_json wrote (used when loading checkpoints).
ModelConfig model_config_from_json(const std::string& json);
