// Parameterizations (SP, µP, CompleteP, ...) as data. docs/science.md §3–4.
//
// A parameterization says, for each tensor role of the tensor table, how the
// init std, the forward multiplier and Adam's LR and ε multipliers change
// with the width multiplier m = d / d_base (and, for CompleteP, the depth
// multiplier L / L_base). Every quantity is written as
//
//     value = base_value * m^exponent
//
// so a preset is a small table of exponents (RoleRule below), and the only
// code that knows about presets is resolve_rules(). apply_parameterization()
// then walks the tensor table once and fills in each row; the layers and the
// optimizer read the rows and never ask which preset is in use.
//
// Base values (what every preset shares at m = 1, so that µP at its base
// width *is* SP, bit for bit):
//   init "fan-in": matrices N(0, 1/fan_in_base), embeddings N(0, 1)
//   init "gpt2":   N(0, 0.02), residual output projections 0.02/sqrt(2L),
//                  embeddings 0.02
//   biases and layernorm biases 0, layernorm gains 1; all LR multipliers 1.
//
// The width exponents of each preset (init std / forward multiplier / LR / ε):
//
//   preset      hidden matrices     readout                 attention logits
//   sp          -1/2 / - / 0 / 0    -1/2 / 0 / 0 / 0        1/sqrt(d_head)
//   sp-gpt2     0 / - / 0 / 0       0 / 0 / 0 / 0           1/sqrt(d_head)
//   mup         -1/2 / - / -1 / 0   0 / -1 / 0 / 0          sqrt(d_head_base)/d_head
//   mup-table3  -1/2 / - / -1 / 0   -1 / 0 / -1 / +1        sqrt(d_head_base)/d_head
//   completep   as mup, plus the depth rules below
//
// Embeddings, biases and norms: width exponent 0 everywhere, except
// completep's ε (below).
//
// LoRA adapters (docs/lora.md), in every preset: A starts N(0, 1/fan_in)
// (its own fan-in, so x A^T is O(1) at any width), B at 0; both train at
// --lr with the hidden matrices' optimizer, LR and ε multipliers 1 (no width
// exponent), B's LR times --lora-plus-ratio. LoRA+ predicts that the best
// ratio grows like the width; leaving the width out of the rule keeps that
// ratio the one explicit knob the fine-tuning experiment sweeps. Decayed like
// the matrices. Every other tensor is frozen (LR multiplier 0, no decay).
//
// CompleteP (Dey et al. 2025, Table 1; the `completep` branch of
// EleutherAI/nanoGPT-mup), with r = L/L_base and alpha in [0.5, 1]:
//   residual branches (forward)           x r^-alpha
//   hidden matrices: Adam LR              x m^-1 r^(alpha-1)
//                    Adam ε               x m^-1 r^-alpha
//   biases and layernorms inside blocks:  LR x r^(alpha-1), ε x m^-1 r^-alpha
//   embeddings, readout, final layernorm: unchanged (η_base, ε_base)
// Table 1's weight-decay row, λ x m on hidden matrices under PyTorch's
// coupled AdamW (so that lr·λ does not change with width), is this
// project's --wd-mode width-scaled; the preset leaves the decay mode to
// --wd-mode, which is an axis of the study here.
// "sp" and "mup" use the fan-in init, "sp-gpt2" the GPT-2 init; --init swaps
// the init family of any preset (e.g. µP on GPT-2's init).
//
// mup-table3 is Yang et al.'s Table-3 form of the same dynamics: it moves the
// readout's 1/m from a forward multiplier into its init and its LR. It is an
// exact reparameterization of mup (W_table3 = W_mup / m) only if Adam's ε of
// the readout is multiplied by m too (its gradient is m times larger), which
// is the +1 above. Weight decay in "coupled" mode multiplies by the tensor's
// own LR, so under coupled decay the two forms decay the readout differently
// (by η/m against η); under independent, width-scaled or no decay they agree.
// Global-norm gradient clipping also tells them apart (Table 3's readout
// gradient is m times larger), so compare them with clipping off.
#pragma once
#include <string>

#include "util/flags.h"
#include "model/model.h"
#include "model/model_config.h"
#include "model/tensor_table.h"

// The choices, as enums from the flag parser on (the names are the flags').
enum class Preset { SP, SPGPT2, MuP, MuPTable3, CompleteP };
enum class InitFamily { Preset, FanIn, GPT2 };    // Preset: the preset's own (only in ParamConfig)
enum class AttentionRule { Preset, Sqrt, MuP };   // 1/sqrt(d_head) | sqrt(d_head_base)/d_head
enum class WeightDecayMode { Coupled, Independent, WidthScaled, None };
enum class LoraAnchor { A, B };
enum class DecaySet { Matrices, MatricesEmbeddings, All };
const char* preset_name(Preset preset);  // "sp", "sp-gpt2", "mup", "mup-table3", "completep"
Preset parse_preset(const std::string& name);  // fails naming the choices
const char* init_family_name(InitFamily family);
const char* wd_mode_name(WeightDecayMode mode);
WeightDecayMode parse_wd_mode(const std::string& name);
const char* decay_set_name(DecaySet set);
DecaySet parse_decay_set(const std::string& name);

// What the user chose: a preset and overrides (flags of `lrt train`,
// `lrt coordcheck`, `lrt reference`).
struct ParamConfig {
    Preset preset = Preset::SPGPT2;
    int d_base = 0;                  // base width; 0 = the model's own width (m = 1)
    int depth_base = 0;              // base depth for completep; 0 = the model's own depth
    double head_dim_base = 0;        // d_head at the base width; 0 = derived (with_head_dim_base in model_flags.h)
    InitFamily init = InitFamily::Preset;
    double embedding_init_std = 0;   // 0 = the init family's (fan-in: 1, gpt2: 0.02)
    double hidden_init_scale = 1;    // times the hidden matrices' base init std (fan-in gain, or GPT-2's 0.02)
    double readout_init_scale = 1;   // times the readout's base init std
    AttentionRule attention = AttentionRule::Preset;
    double attention_multiplier = 1;   // times the attention scale rule
    double embedding_multiplier = 1;   // alpha_emb: x0 = alpha_emb * (wte + wpe)
    double readout_multiplier = 1;     // alpha_out: logits = alpha_out * m^exp * (W x)
    bool zero_init_readout = false;
    bool zero_init_query = false;
    bool eps_scaling = false;          // Adam ε / m on hidden matrices (Everett et al. 2024)
    double lr_mult_embedding = 1, lr_mult_hidden = 1, lr_mult_readout = 1, lr_mult_vector = 1;
    double completep_alpha = 1.0;      // in [0.5, 1]
    // LoRA+'s ratio lambda: the LR multiplier of every adapter B over its A's
    // (--lora-plus-ratio; a flag of `lrt finetune`, not of declare_param_flags)
    double lora_plus_ratio = 1;
    // Which adapter trains at the matrices' --lr (--lora-lr-anchor): A, with B
    // at lambda x lr (LoRA+'s own convention), or B, with A at lr / lambda.
    // The same pair of LRs either way; with B as the anchor a sweep of --lr
    // follows B's LR, whose optimum moves little as lambda changes, so one
    // LR grid serves every lambda.
    LoraAnchor lora_lr_anchor = LoraAnchor::A;
    WeightDecayMode wd_mode = WeightDecayMode::Coupled;
    DecaySet wd_set = DecaySet::Matrices;
};

// Declares the flags above (section "Parameterization and weight decay").
// for_coordcheck leaves out what `lrt coordcheck` sets itself: the preset
// (it takes a list) and weight decay (it trains without), and says there
// that --d-base 0 means the narrowest width.
void declare_param_flags(FlagSet& flags, ParamConfig& p, bool for_coordcheck = false);

// One role's exponents: value = base * m^width * (L/L_base)^depth.
struct RoleRule {
    double init = 0, lr = 0, eps = 0;  // width exponents
    double lr_depth = 0, eps_depth = 0;  // depth exponents (completep)
};

// A preset with the overrides applied: everything apply_parameterization needs.
struct ParamRules {
    Preset preset = Preset::SPGPT2;
    InitFamily init_family = InitFamily::FanIn;    // resolved: FanIn or GPT2
    AttentionRule attention = AttentionRule::Sqrt;  // resolved: Sqrt or MuP
    RoleRule embedding, hidden, readout;
    RoleRule block_vector;  // biases and layernorm gains/biases inside the blocks
    RoleRule final_norm;    // the final layernorm (ln_f), outside the residual blocks
    double readout_multiplier_exp = 0;            // logits scale m^exp
    bool depth_scaling = false;                   // completep
};
ParamRules resolve_rules(const ParamConfig& p);

// The resolved numbers for one model size.
struct Parameterization {
    ParamConfig config;
    ParamRules rules;
    double m = 1, depth_mult = 1;  // width and depth multipliers
    double head_dim_base = 0;
};

// Resolves rules and multipliers for a model of these sizes; fails with a
// clear message on inconsistent choices (e.g. zero-init readout or the
// Table-3 form with tied embeddings).
Parameterization resolve_parameterization(const ModelConfig& sizes, const ParamConfig& p);

// The model config with the forward multipliers (embedding, readout,
// attention scale, residual) the parameterization prescribes.
ModelConfig parameterized_config(const ModelConfig& sizes, const Parameterization& p);

// Fills every row of the table: init std or constant, zeroed rows, LR, weight
// decay and ε multipliers, and the row's OptimizerRow: which optimizer
// updates it (`optimizer.hidden` for the hidden matrices, AdamW for the
// rest), its peak LR, its decay rule and norm, ε and the optimizer's own
// settings. The hidden matrices' LR multiplier follows their optimizer's
// width rule (hidden_lr_width_exponent). Fails on choices that cannot apply
// (Muon or SGD on a tensor that is not a matrix).
void apply_parameterization(TensorTable& table, const ModelConfig& config, const Parameterization& p,
                            const OptimizerConfig& optimizer = OptimizerConfig());

// The width exponent of the hidden matrices' LR under Muon or SGD. µP gives
// Adam's hidden LR a 1/m because an Adam update has entries of size ~lr
// whatever the width, so its spectral norm grows like fan-in. Muon's
// orthogonalized update has spectral norm ~1 by construction, times the
// scale rule's factor: keller's, spectral's and none's depend only on the
// matrix's aspect ratio (the same at every width), so they need no 1/m;
// moonlight's 0.2 sqrt(max(out, in)) restores Adam's per-entry size and so
// takes Adam's 1/m. SGD's hidden-matrix rule in µP is a width-independent LR
// (Yang & Hu 2021, Table 3). SP uses one LR for all: exponent 0.
double hidden_lr_width_exponent(const ParamRules& rules, const OptimizerConfig& optimizer);

// Lines printed at the start of a run: preset, m, forward multipliers, the
// weight-decay mode and which tensors are decayed, and notes on settings
// that have no effect here.
std::string describe_parameterization(const Parameterization& p, const ModelConfig& config);

// Resolves the parameterization for `sizes`, builds the model with the
// forward multipliers it prescribes and fills its tensor table. (gpt_init
// then draws the parameters from the table.)
// With `optimizer` (default: AdamW with OptimizerConfig's defaults) the rows'
// optimizer plan is filled too (plan_optimizer).
template <typename T>
Parameterization gpt_build_parameterized(GPT<T>& model, const ModelConfig& sizes, const ParamConfig& p,
                                         const OptimizerConfig& optimizer = OptimizerConfig());
