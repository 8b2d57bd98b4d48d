// run.json: a run's settings for programs (run_info.txt is the same for
// people). `lrt figures` and the sweep report read this file, never the
// text. Written atomically when the run directory is prepared:
//   format = "lrtransfer-run", format_version = 1
//   flags             every `lrt train` flag as run (text values, as in checkpoints)
//   device            where it ran, in words
//   model_config      sizes and forward multipliers in effect
//   parameterization  preset, width_multiplier, depth_multiplier, init, attention,
//                     head_dim_base, wd_mode, wd_set
//   optimizer         the hidden matrices' optimizer and every optimizer setting
//   replacement_warmup  none | closed-form | exponential | decay-away
//   tensors           the table, one object per tensor (tensor_table_json)
#pragma once
#include <string>

#include "io/json.h"
#include "model/model_config.h"
#include "model/tensor_table.h"
#include "optim/optimizer_config.h"
#include "optim/schedule.h"
#include "param/parameterization.h"

// One object per tensor: name, role, shape, fan_in, fan_out, init (std,
// constant, zeroed rows), the parameterization's multipliers, and the
// optimizer row resolved at the peak LR: optimizer, lr, decay_per_step,
// decay_follows_lr, decay_norm (spectral_iters), eps (AdamW's, on every
// row), and the optimizer's own settings (AdamW: beta1, beta2; Muon: momentum, nesterov,
// ns_coefficients [a, b, c] with their name, ns_steps, scale; SGD:
// momentum, nesterov).
JsonValue tensor_table_json(const TensorTable& table);
JsonValue parameterization_json(const Parameterization& p);
JsonValue optimizer_json(const OptimizerConfig& o);

std::string run_metadata_json(const std::string& flags_json, const ModelConfig& config, const Parameterization& p,
                              const OptimizerConfig& optimizer, const TensorTable& table, const std::string& device,
                              const std::string& replacement_warmup);

// What the studies need from a run's run.json, checked: a missing file, bad
// JSON or an out-of-range field fails naming the file and the field.
struct RunMetadata {
    double width_multiplier = 1;
    Preset preset = Preset::SPGPT2;
    WarmupKind replacement_warmup = WarmupKind::None;
    OptimizerKind hidden_optimizer = OptimizerKind::AdamW;
};
RunMetadata read_run_metadata(const std::string& run_dir);
