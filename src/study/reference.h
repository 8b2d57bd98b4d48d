// Reference states for other implementations: one safetensors file per
// (config, parameterization, weight-decay mode) holding everything needed to
// check a PyTorch or JAX GPT against ours, step by step:
//
//   inputs, targets     I64 (B, T)    token ids; targets are the inputs shifted by one
//   init.<name>         (shape)       initial parameters, nanoGPT names and shapes
//   logits              (B, T, V)     at the initial parameters, readout multiplier included
//   loss                ()            mean cross-entropy at the initial parameters
//   grad.<name>         (shape)       d loss / d param at the initial parameters (no clipping); the
//                                     key third of each c_attn.bias is exactly 0 (see reference.cpp)
//   losses              (k + 1)       loss before each of the k optimizer steps, then after the last
//   final.<name>        (shape)       parameters after k optimizer steps on the same batch
//
// Floating tensors are F32 (or F64 with --dtype f64). The initial parameters
// are drawn as `lrt train` draws them (in float32); everything after that is
// computed in float64 from exactly those values and rounded once when
// stored, so the file is an accurate reference, not a float32 trajectory.
// The steps are `lrt train`'s own (train/step.h): the hidden matrices under
// --optimizer (AdamW, Muon or SGD), everything else under AdamW, with a
// constant learning rate, no gradient clipping, the resolved per-tensor
// multipliers, the chosen weight-decay mode and norm; the metadata spells
// all of it out:
//   format = "lrtransfer-reference", format_version = "1"
//   model_config      JSON: sizes and the forward multipliers in effect
//   parameterization  JSON: preset, m, depth multiplier, init family, attention rule, wd mode, decayed set
//   optimizer         JSON: every optimizer setting, steps, and the decay formula
//   tensors           JSON list: per tensor its role, init, lr / wd / eps multipliers, and its
//                     optimizer row: optimizer, lr, decay_per_step d (p *= 1 - d, or the spectral
//                     form), decay_norm, and AdamW's eps, beta1, beta2, or Muon's momentum,
//                     nesterov, ns_coefficients, ns_steps, scale, or SGD's momentum, nesterov
//   flags             JSON: every `lrt reference` flag, to regenerate the file
//
// With LoRA adapters (--lora-rank r > 0; docs/reference-states.md, LoRA
// files) the model is the plain one above with an adapter beside each
// targeted matrix, and only the adapters train, as in `lrt finetune`. The
// file then holds init.<name> for every tensor (the frozen ones keep these
// values throughout), but grad.<name> and final.<name> for the adapters
// only: a frozen tensor has no gradient and no final value, and is absent
// there, not stored as zeros. A is drawn as `lrt finetune` draws it; B,
// which `lrt finetune` starts at 0, is drawn here from N(0, --lora-b-init-std^2)
// in the same per-tensor stream as every other tensor, because at B = 0 A's
// gradient is exactly 0 and the file would check nothing of A. The metadata
// adds
//   lora              JSON: rank, alpha, scale alpha/r, targets, plus_ratio, b_init_std, frozen_tensors
// and the flags JSON holds the adapter flags only when r > 0 (so the plain
// files are as they were before adapters existed).
#pragma once
#include <cstdint>
#include <string>

#include "util/flags.h"
#include "model/model_flags.h"
#include "optim/optimizer_config.h"
#include "param/parameterization.h"
#include "io/safetensors.h"
#include "train/train.h"

struct ReferenceConfig {
    ModelFlags model;
    ParamConfig param;
    int batch_size = 2, seq_len = 8;
    int steps = 3;
    OptimizerConfig optim;  // lr 1e-2 and no clipping by default (reference_defaults)
    int64_t seed = 1, data_seed = 1;
    Dtype dtype = Dtype::F32;  // of the floating tensors: F32 or F64
    std::string out;
    FinetuneConfig lora;         // --lora-rank etc. (its `from` stays empty); ParamConfig has --lora-plus-ratio
    double lora_b_init_std = 0.02;  // B's init std here (lrt finetune's B starts at 0)
};

// Declares every flag (with the small defaults of a reference state).
void declare_reference_flags(FlagSet& flags, ReferenceConfig& config);

// Computes the reference state; `flags_json` goes into the metadata.
SafeTensors make_reference(const ReferenceConfig& config, const std::string& flags_json);

// The settings a reference file was made with (its "flags" metadata), for
// regenerating it.
ReferenceConfig reference_config_from_json(const std::string& flags_json, std::string* canonical_json);

// `lrt reference`: parses flags, writes --out atomically, prints a summary.
int reference_command(int argc, char** argv);
