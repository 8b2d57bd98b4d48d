// The model-size flags every command that builds a GPT shares (train,
// coordcheck, reference), and how they become a ModelConfig.
#pragma once
#include "util/flags.h"
#include "model/model_config.h"
#include "param/parameterization.h"

struct ModelFlags {
    int vocab_size = 256;
    int context_length = 0;  // 0: equal to the sequence length
    int width = 128;
    int depth = 4;
    int head_dim = 32;
    int num_heads = 0;  // 0: width / head_dim; otherwise sets head_dim = width / num_heads
    int mlp_ratio = 4;
    bool bias = true;
    bool tie_embeddings = false;
};

// Declares the flags above in a "Model" section (without --width for
// commands that take a list of widths).
void declare_model_flags(FlagSet& flags, ModelFlags& m, bool with_width = true);

// After parsing: --head-dim and --num-heads both fix the head size, so
// giving both (with --num-heads > 0) is an error rather than one silently
// winning.
void check_model_flags(const FlagSet& flags, const ModelFlags& m);

// The sizes (forward multipliers left at their defaults) for sequences of
// seq_len tokens; fails with a clear message if they do not fit together.
ModelConfig model_sizes(const ModelFlags& m, int seq_len);

// With --num-heads the head count is what stays fixed across widths, so the
// base model's d_head is d_base / num_heads; this fills that in when the
// user left --head-dim-base at 0. Fails if d_base is not a multiple of the
// head count.
ParamConfig with_head_dim_base(ParamConfig p, const ModelFlags& m);
