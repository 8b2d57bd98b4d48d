// The tensor table: every parameter of the model is one row here, and all of
// them live in one contiguous buffer at the row's offset. Gradients and Adam
// moments use the same layout, so an optimizer is a loop over rows and a
// checkpoint is a loop over rows. A parameterization (SP, µP, ...) is data
// about these rows: it reads the role and fan-in/fan-out and fills in the
// per-tensor init std and optimizer multipliers.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "model/model_config.h"

enum class TensorRole {
    TokenEmbedding,     // wte (V, C)
    PositionEmbedding,  // wpe (maxT, C)
    HiddenMatrix,       // q/k/v, attention out, MLP in, MLP out: both dims grow with width
    Readout,            // lm_head (V, C): only the fan-in grows with width
    Bias,               // linear-layer biases
    NormGain,           // layernorm weights
    NormBias,           // layernorm biases
};
const char* role_name(TensorRole role);

struct TensorInfo {
    std::string name;        // PyTorch/nanoGPT state_dict name, e.g. "transformer.h.0.attn.c_attn.weight"
    std::vector<int> shape;  // row-major; matrices are (fan_out, fan_in) like nn.Linear
    TensorRole role;
    int layer = -1;          // block index, -1 outside the blocks
    int fan_in = 0;          // for matrices: the input dimension
    int fan_out = 0;
    bool residual_output = false;  // writes into the residual stream (attn c_proj, mlp c_proj)
    size_t offset = 0;       // into the parameter buffer, in elements
    size_t numel = 0;

    // Filled by the parameterization (defaults: GPT-2 standard parameterization).
    double init_std = 0.0;   // 0 with init_constant set means a constant init
    double init_constant = 0.0;
    int init_zero_rows = 0;  // the first rows start at exactly 0 (the query block of c_attn under zero-init query)
    double lr_multiplier = 1.0;
    double weight_decay_multiplier = 0.0;  // 0 = not decayed
    double eps_multiplier = 1.0;

    std::vector<int64_t> shape64() const { return std::vector<int64_t>(shape.begin(), shape.end()); }  // for safetensors
};

struct TensorTable {
    std::vector<TensorInfo> tensors;
    size_t total = 0;  // elements in the whole buffer
    const TensorInfo& get(const std::string& name) const;  // fails if absent
    const TensorInfo* find(const std::string& name) const;
};

// Builds the rows for a config, with GPT-2's default init (0.02, and
// 0.02/sqrt(2L) for residual outputs), weight decay on matrices only.
TensorTable build_tensor_table(const ModelConfig& config);

// One line per tensor: name, shape, role, init, multipliers.
// (The parameterization's own summary is parameterization.h's describe_parameterization.)
std::string describe_tensor_table(const TensorTable& table);
