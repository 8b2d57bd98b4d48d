// `lrt finetune` (docs/lora.md): training that starts from a trained
// checkpoint instead of an initialization, either every tensor (full
// fine-tuning) or only LoRA adapters beside chosen hidden matrices, with the
// rest frozen. It is `lrt train`'s loop (train.h) with two differences: the
// model's flags default to the checkpoint's, and the parameters start as the
// checkpoint's (adapters: A drawn, B = 0; a fresh optimizer at step 0).
// And --merge, which folds trained adapters into their matrices.
#pragma once
#include <string>

#include "train/train.h"

// The model and parameterization flags the user did not give, set from the
// --from checkpoint's saved settings (and its context length), so the
// fine-tuned model is the trained one. Its data, optimizer and schedule
// flags stay the user's. A no-op when resuming (--resume).
void take_model_flags_from_checkpoint(FlagSet& flags, const TrainConfig& config);

// The run: take_model_flags_from_checkpoint, then run_training. `config` is
// the one `flags` is bound to (the checkpoint's values are set through them).
TrainResult run_finetune(TrainConfig& config, FlagSet& flags);

// Writes to `out` a plain checkpoint (no adapters, no optimizer moments: for
// evaluation or as the next --from, not for --resume) whose every adapted
// matrix is W0 + (alpha/r) B A; the model's output is the adapted one's to
// float rounding. Its metadata merged_from names `from`, and --resume
// refuses it (checkpoint.h).
void merge_adapters(const std::string& from, const std::string& out);

// The `lrt finetune` command: parses flags and runs. Returns the exit status.
int finetune_command(int argc, char** argv);
