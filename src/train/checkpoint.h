// Checkpoints: a safetensors file (readable from PyTorch, JAX, numpy) with
//   <param name>            fp32 parameters, PyTorch/nanoGPT names and shapes
//   optimizer.m.<name>      Adam first moment, same shape (none for a frozen
//                           tensor: with LoRA adapters, every other one)
//   optimizer.v.<name>      Adam second moment (0 for tensors under Muon or SGD,
//                           whose momentum is optimizer.m)
//   optimizer.spectral_v1.<name>  (fan_in) the top right singular vector of a
//                           matrix under spectral weight decay (the power
//                           iteration's warm start), only for those matrices
// and metadata (all strings, as safetensors requires):
//   format = "lrtransfer-checkpoint", format_version = "1",
//   model_config (JSON), train_flags (JSON of every `lrt train` flag),
//   step (optimizer steps completed), data_epoch, data_window (the training
//   data loader's position), rng_state (four hex words of the sampling RNG),
//   noise_scale_ema (the noise scale's averages, study/noise_scale.h, as
//   "g2,trace,count", the two doubles in C's exact hex notation; absent from
//   checkpoints written before --grad-accum, which read as no measurements),
//   noise_scale_ema_tensors (the same per measured matrix, in the table's
//   order, ';'-separated; empty without measurements; absent from older
//   checkpoints, which read as none),
//   merged_from (only in a file `lrt finetune --merge` wrote: the adapter
//   checkpoint it folded. Such a file is a model, not a run: its optimizer
//   moments are zeros and its step is the fine-tuning run's, so --resume
//   refuses it; --from takes it).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "model/model.h"
#include "io/safetensors.h"
#include "study/noise_scale.h"

struct TrainState {
    int64_t step = 0;
    uint64_t data_epoch = 0, data_window = 0;
    uint64_t rng_state[4] = {0, 0, 0, 0};
    NoiseEma noise;  // carried so that a resumed run's noise scale goes on bit for bit
    std::vector<NoiseEma> tensor_noise;  // per measured matrix (measure.csv), likewise
    std::string merged_from;  // non-empty: written by lrt finetune --merge (a model, not a run to resume)
};

// spectral: the spectral-decay vectors (table.spectral_total), or nullptr
// when the table has none.
void save_checkpoint(const std::string& path, const GPT<float>& model, const std::vector<float>& adam_m,
                     const std::vector<float>& adam_v, const TrainState& state, const std::string& train_flags_json,
                     const std::vector<float>* spectral = nullptr);

struct Checkpoint {
    ModelConfig config;
    std::string train_flags_json;
    TrainState state;
    SafeTensors file;
};

// The checkpoint file a command was given: a run directory means its
// checkpoint.safetensors, anything else is the file itself.
std::string checkpoint_file(const std::string& path_or_dir);

// Reads and checks the format; the tensors are checked when restored.
Checkpoint load_checkpoint(const std::string& path);

// The plain model's parameters of a checkpoint without adapters, into a
// model that has the same plain tensors and perhaps adapters (left as they
// are): the start of `lrt finetune`. Fails if ckpt has adapters itself.
void restore_base_parameters(const Checkpoint& ckpt, GPT<float>& model);

// Copies parameters and moments into a model built from ckpt.config (and,
// given `spectral`, the vectors of the matrices the model's table decays
// spectrally); fails if any tensor is missing or has the wrong shape.
void restore_checkpoint(const Checkpoint& ckpt, GPT<float>& model, std::vector<float>& adam_m,
                        std::vector<float>& adam_v, std::vector<float>* spectral = nullptr);
