#include "model/model_flags.h"

#include <string>

#include "util/util.h"

void declare_model_flags(FlagSet& f, ModelFlags& c, bool with_width) {
    f.section("Model");
    f.add("vocab-size", &c.vocab_size, "vocabulary size V (256 for byte-level data)", between(2, 65536));
    f.add("context-length", &c.context_length, "positions in the position embedding; 0 = --seq-len", at_least(0));
    if (with_width) f.add("width", &c.width, "model width d", at_least(1));
    f.add("depth", &c.depth, "number of transformer blocks L", at_least(1));
    f.add("head-dim", &c.head_dim, "attention head dimension; heads = width / head-dim", at_least(1));
    f.add("num-heads", &c.num_heads, "number of heads instead of --head-dim; 0 = use --head-dim", at_least(0));
    f.add("mlp-ratio", &c.mlp_ratio, "MLP hidden width / d", at_least(1));
    f.add("bias", &c.bias, "biases in linear layers and layernorms");
    f.add("tie-embeddings", &c.tie_embeddings, "readout shares the token embedding matrix");
}

void check_model_flags(const FlagSet& f, const ModelFlags& c) {
    if (c.num_heads > 0 && f.was_set("head-dim") && f.was_set("num-heads"))
        fail("--head-dim " + std::to_string(c.head_dim) + " and --num-heads " + std::to_string(c.num_heads) +
             " both set the head size; give one of them");
}

ModelConfig model_sizes(const ModelFlags& c, int seq_len) {
    ModelConfig m;
    m.vocab_size = c.vocab_size;
    m.context_length = c.context_length > 0 ? c.context_length : seq_len;
    m.width = c.width;
    m.depth = c.depth;
    if (c.num_heads > 0) {
        if (c.width % c.num_heads != 0)
            fail("--width " + std::to_string(c.width) + " is not divisible by --num-heads " + std::to_string(c.num_heads));
        m.head_dim = c.width / c.num_heads;
    } else {
        m.head_dim = c.head_dim;
    }
    m.mlp_ratio = c.mlp_ratio;
    m.bias = c.bias;
    m.tie_embeddings = c.tie_embeddings;
    m.validate();
    if (seq_len > m.context_length)
        fail("--seq-len " + std::to_string(seq_len) + " exceeds --context-length " + std::to_string(m.context_length));
    return m;
}

ParamConfig with_head_dim_base(ParamConfig p, const ModelFlags& m) {
    if (p.head_dim_base == 0 && m.num_heads > 0) {
        int d_base = p.d_base > 0 ? p.d_base : m.width;
        if (d_base % m.num_heads != 0)
            fail("--d-base " + std::to_string(d_base) + " is not a multiple of --num-heads " + std::to_string(m.num_heads) +
                 ": the base model needs a whole head dimension");
        p.head_dim_base = (double)(d_base / m.num_heads);
    }
    return p;
}
