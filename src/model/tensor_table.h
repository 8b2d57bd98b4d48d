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
#include "optim/optimizer_config.h"

enum class TensorRole {
    TokenEmbedding,     // wte (V, C)
    PositionEmbedding,  // wpe (maxT, C)
    HiddenMatrix,       // q/k/v, attention out, MLP in, MLP out: both dims grow with width
    Readout,            // lm_head (V, C): only the fan-in grows with width
    Bias,               // linear-layer biases
    NormGain,           // layernorm weights
    NormBias,           // layernorm biases
    AdapterA,           // LoRA's A (rank, fan_in) beside a hidden matrix: only the fan-in grows with width
    AdapterB,           // LoRA's B (fan_out, rank): only the fan-out grows with width
};
const char* role_name(TensorRole role);
inline bool is_adapter(TensorRole role) { return role == TensorRole::AdapterA || role == TensorRole::AdapterB; }

// How the optimizer updates one tensor, fully resolved by the
// parameterization (plan_optimizer): the optimizer code reads these fields
// and nothing else. At step t with schedule factor s_t:
//   lr_t = (base_lr * s_t) * lr_multiplier          (times the replacement warmup's factor, if any)
//   d_t  = decay_follows_lr ? lr_t * weight_decay   (coupled; without that warmup factor)
//                           : s_t * weight_decay    (independent of the LR)
// and d_t shrinks the tensor's Frobenius or spectral norm before the update.
struct OptimizerRow {
    OptimizerKind kind = OptimizerKind::AdamW;
    double base_lr = 0;            // the peak LR of this tensor's optimizer (--lr, or --adam-lr beside Muon/SGD)
    double weight_decay = 0;       // lambda of this tensor: --weight-decay x weight_decay_multiplier; 0 = none
    bool decay_follows_lr = true;  // coupled (and width-scaled) decay; false: independent
    DecayNorm decay_norm = DecayNorm::Frobenius;
    int spectral_iters = 1;        // power iterations per step (spectral decay)
    size_t spectral_offset = 0;    // where this matrix's v1 (fan_in floats) lives in the spectral-vector state
    double eps = 1e-8;             // AdamW: --eps x eps_multiplier
    double beta1 = 0.9, beta2 = 0.95;  // AdamW
    double momentum = 0;           // Muon, SGD
    bool nesterov = false;         // Muon, SGD
    int ns_steps = 5;              // Muon
    NSCoefficients ns_coefficients = NSCoefficients::Quintic;  // Muon
    double update_scale = 1;       // Muon: the scale rule's factor for this matrix's shape
};

struct TensorInfo {
    std::string name;        // PyTorch/nanoGPT state_dict name, e.g. "transformer.h.0.attn.c_attn.weight"
    std::vector<int> shape;  // row-major; matrices are (fan_out, fan_in) like nn.Linear
    TensorRole role;
    int layer = -1;          // block index, -1 outside the blocks
    int fan_in = 0;          // for matrices: the input dimension
    int fan_out = 0;
    bool residual_output = false;  // writes into the residual stream (attn c_proj, mlp c_proj)
    // Frozen: no gradient is formed for it (the backward pass skips it, its
    // gradient stays 0), no optimizer touches it and it has no optimizer
    // state in checkpoints. With LoRA adapters every tensor but the adapters
    // is frozen (docs/lora.md).
    bool frozen = false;
    size_t offset = 0;       // into the parameter buffer, in elements
    size_t numel = 0;

    // Filled by the parameterization (defaults: GPT-2 standard parameterization).
    double init_std = 0.0;   // 0 with init_constant set means a constant init
    double init_constant = 0.0;
    int init_zero_rows = 0;  // the first rows start at exactly 0 (the query block of c_attn under zero-init query)
    double lr_multiplier = 1.0;
    double weight_decay_multiplier = 0.0;  // 0 = not decayed
    double eps_multiplier = 1.0;
    OptimizerRow optim;      // filled by plan_optimizer from the multipliers above and the optimizer settings

    std::vector<int64_t> shape64() const { return std::vector<int64_t>(shape.begin(), shape.end()); }  // for safetensors
};

struct TensorTable {
    std::vector<TensorInfo> tensors;
    size_t total = 0;  // elements in the whole buffer
    size_t spectral_total = 0;  // elements of the spectral-decay vectors (one fan_in per such matrix)
    const TensorInfo& get(const std::string& name) const;  // fails if absent
    const TensorInfo* find(const std::string& name) const;
};

// Builds the rows for a config, with GPT-2's default init (0.02, and
// 0.02/sqrt(2L) for residual outputs), weight decay on matrices only.
// With adapters (config.lora_rank > 0) their rows come after every tensor of
// the plain model, block by block, A then B for each targeted matrix, named
// "<matrix>.lora_A" / ".lora_B" (transformer.h.0.attn.c_attn.lora_A): the
// plain model's tensors keep their offsets, so its part of the buffer is the
// plain model's buffer. A starts N(0, 1/fan_in), B at exactly 0.
TensorTable build_tensor_table(const ModelConfig& config);

// One line per tensor: name, shape, role, init, multipliers.
// (The parameterization's own summary is parameterization.h's describe_parameterization.)
std::string describe_tensor_table(const TensorTable& table);
