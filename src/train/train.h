// `lrt train`: the training loop, its settings (one flag each) and its
// outputs (console progress, a CSV log, checkpoints).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "util/flags.h"
#include "model/model_flags.h"
#include "gpu.h"
#include "optim/optimizer_config.h"
#include "optim/schedule.h"
#include "param/parameterization.h"
#include "train/run_files.h"

struct Checkpoint;  // train/checkpoint.h

enum class Device { CPU, CUDA };
enum class OnDivergence { Fail, Record };  // an error (exit 1), or result.json says diverged (exit 0)
enum class IfExists { Refuse, Overwrite, Resume };
enum class LoraInit { Standard, Ga };  // A drawn and B = 0, or LoRA-GA (model/lora_ga.h)

// `lrt finetune` (train/finetune.h, docs/lora.md): a run that starts from
// a trained checkpoint, fully or with LoRA adapters. Empty `from`: a plain
// `lrt train` run, and none of these flags exist.
struct FinetuneConfig {
    std::string from;                  // --from: the trained checkpoint (or its run directory)
    int lora_rank = 0;                 // 0: full fine-tuning
    double lora_alpha = 0;             // the adapter path's scale is alpha / rank; 0 = the rank (scale 1)
    std::string lora_targets = "all";  // parsed into ModelConfig::lora_targets (bits) by train_model_sizes
    LoraInit lora_init = LoraInit::Standard;  // applied once, at the start of a fresh run (never on resume)
    // (--lora-plus-ratio is ParamConfig::lora_plus_ratio: a rule of the table's LR multipliers)
};

struct TrainConfig {
    ModelFlags model;
    FinetuneConfig finetune;
    ParamConfig param;  // parameterization and weight-decay mode
    // data
    std::string train_data, val_data;  // llm.c token files; empty: the built-in corpus
    int64_t synth_train_tokens = 8000000;
    int64_t synth_val_tokens = 262144;
    int64_t data_seed = 1;
    int64_t synth_lexicon = 0;  // the built-in corpus's lexicon (synth.h: lexicon ids); 0: the default language
    int batch_size = 16;
    int grad_accum = 1;  // the batch runs as this many micro-batches of batch_size/grad_accum sequences
    int seq_len = 128;
    OptimizerConfig optim;  // which optimizer, LRs, decay and its norm, clipping
    // schedule
    int64_t steps = 1000;
    int64_t tokens = 0;  // > 0: steps = ceil(tokens / (B T)), set by train_command (a budget fixed across batch sizes)
    int64_t warmup_steps = 100;
    double warmup_fraction = 0;  // > 0: warmup = this fraction of --steps instead of --warmup-steps
    LrDecay lr_decay = LrDecay::Cosine;
    double min_lr_fraction = 0.1;
    double wsd_decay_fraction = 0.2;
    // the replacement warmup of docs/science.md §5, on the hidden matrices
    WarmupKind replacement_warmup = WarmupKind::None;
    double replacement_m = 0;    // 0: the run's width multiplier m
    double replacement_tau = 0;  // 0: 1/(eta*lambda) of the hidden matrices
    // measurements (docs/science.md §2-3), per weight matrix, into measure.csv
    int64_t measure_every = 10;  // 0: off
    int measure_tokens = 256;
    // evaluation, logging, checkpoints
    int64_t val_every = 100;
    int val_batches = 16;
    int64_t log_every = 10;
    int64_t checkpoint_every = 0;  // 0: only at the end
    int64_t stop_after = 0;        // stop (with a checkpoint) after this many steps in total; 0: run to --steps
    int64_t sample_every = 0;      // 0: only at the end
    int sample_length = 200;
    std::string out_dir = "runs/train";
    std::string resume;
    int64_t seed = 1;
    int threads = 0;
    bool print_table = false;
    bool quiet = false;
    // device: the CPU (OpenMP) or the GPU twin of every layer (cuda/)
    Device device = Device::CPU;
    gpu::Precision precision = gpu::Precision::FP32;  // cuda matmuls
    bool deterministic = true;        // cuda: bitwise-repeatable runs (the CPU always is)
    // divergence and sweeps
    double diverge_loss = 0;            // stop when the training loss exceeds this; 0: 2 ln V (diverge_threshold)
    OnDivergence on_divergence = OnDivergence::Fail;
    bool skip_if_done = false;          // exit at once if <out-dir>/result.json says done or diverged
    IfExists if_exists = IfExists::Refuse;  // <out-dir> holds a run already
};

// The training loss above which a run counts as diverged: --diverge-loss, or
// when that is 0, 2 ln V (a model twice as surprised as one that guesses
// uniformly; a healthy run starts at ln V and only goes down).
double diverge_threshold(const TrainConfig& config);

// Declares every flag of `lrt train`, bound to the fields of `config`.
void declare_train_flags(FlagSet& flags, TrainConfig& config);
// The flags `lrt finetune` adds (section "Fine-tuning"): --from, --lora-*.
void declare_finetune_flags(FlagSet& flags, TrainConfig& config);
// Its adapter flags alone (--lora-rank, --lora-alpha, --lora-targets,
// --lora-plus-ratio), for the other commands that build adapters (`lrt
// reference`).
void declare_lora_flags(FlagSet& flags, FinetuneConfig& lora, ParamConfig& param);
// `lrt train`'s flags, and `lrt finetune`'s too when `finetune`: the
// settings a run saves with its checkpoints.
void declare_run_flags(FlagSet& flags, TrainConfig& config, bool finetune);

// --tokens N: --steps = ceil(N / (batch-size x seq-len)); refused beside an
// explicit --steps (lrt train and lrt finetune).
void apply_token_budget(TrainConfig& cfg, const FlagSet& flags);

// The model's sizes as the flags give them (model_flags.h's model_sizes),
// with the adapters of a fine-tuning run (rank, alpha, targets).
ModelConfig train_model_sizes(const TrainConfig& config);
// `sizes` with the adapters `lora` describes (unchanged at rank 0).
ModelConfig with_adapters(ModelConfig sizes, const FinetuneConfig& lora);

struct TrainResult {
    std::vector<double> train_losses;          // one per step run in this call
    std::vector<std::pair<int64_t, double>> val_losses;  // (step, loss)
    int64_t first_step = 0, last_step = 0;     // steps [first, last) were run
    double final_val_loss = 0;
    std::vector<std::string> samples;          // text samples printed, in order
    std::string checkpoint_path, log_path;
    std::string status;                        // done | stopped (--stop-after) | diverged | skipped
};

// Runs (or resumes) training as `config` says. `flags` is the FlagSet the
// config was parsed with; it is saved in checkpoints and used to refuse
// setting changes on resume.
TrainResult run_training(TrainConfig config, const FlagSet& flags);

// The settings a checkpoint was trained with: its saved `lrt train` flags
// set into `flags` (declared by declare_train_flags), or as a TrainConfig.
// Fails naming the checkpoint on a setting this version does not know.
// (`lrt train --resume` starts from these; `lrt hessian` rebuilds the run's
// model and data from them.)
void set_checkpoint_flags(FlagSet& flags, const Checkpoint& ckpt, const std::string& ckpt_path);
TrainConfig checkpoint_train_config(const Checkpoint& ckpt, const std::string& ckpt_path);
// Whether its settings are a fine-tuning run's (they have --from).
bool written_by_finetune(const Checkpoint& ckpt);

// The run's model as `lrt train` builds it from its settings: sizes,
// parameterization and optimizer plan (every table row resolved), parameters
// zero (gpt_init or a checkpoint fills them). float and double.
template <typename T>
Parameterization build_train_model(GPT<T>& model, const TrainConfig& cfg);

// The `lrt train` command: parses flags and runs. Returns the exit status.
int train_command(int argc, char** argv);
