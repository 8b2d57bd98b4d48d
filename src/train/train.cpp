#include "train/train.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <memory>
#include <set>
#include <sstream>
#ifdef _OPENMP
#include <omp.h>
#endif
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "train/backend.h"
#include "train/checkpoint.h"
#include "train/run_data.h"
#include "train/run_files.h"
#include "train/run_metadata.h"
#include "train/step.h"
#include "data/data.h"
#include "model/gpt_gpu.h"
#include "io/json.h"
#include "model/lora_ga.h"
#include "model/model.h"
#include "study/measure.h"
#include "study/noise_scale.h"
#include "train/memory_estimate.h"
#include "optim/optimizer.h"
#include "util/rng.h"
#include "optim/schedule.h"
#include "data/tokens.h"
#include "util/util.h"

void declare_train_flags(FlagSet& f, TrainConfig& c) {
    declare_model_flags(f, c.model);
    f.section("Data");
    f.add("train-data", &c.train_data, "training token file (llm.c format); empty = built-in synthetic corpus");
    f.add("val-data", &c.val_data, "validation token file (llm.c format); give with --train-data");
    f.add("synth-train-tokens", &c.synth_train_tokens, "built-in corpus: training tokens to generate", at_least(1024));
    f.add("synth-val-tokens", &c.synth_val_tokens, "built-in corpus: validation tokens to generate", at_least(1024));
    f.add("data-seed", &c.data_seed, "seed of the built-in corpus and of the batch order", at_least(0));
    f.add("synth-lexicon", &c.synth_lexicon,
          "built-in corpus: its lexicon (invented words, their frequencies and roles); 0 = the default language, "
          "N >= 1 = another lexicon with the same grammar, e.g. new data for lrt finetune (docs/data.md)",
          at_least(0));
    f.add("batch-size", &c.batch_size, "sequences per batch B", at_least(1));
    f.add("seq-len", &c.seq_len, "tokens per sequence T", at_least(1));
    f.add("grad-accum", &c.grad_accum,
          "gradient accumulation: each step runs K micro-batches of B/K sequences (K must divide --batch-size) and "
          "averages their gradients; with K >= 2 the gradient noise scale is logged every --measure-every steps",
          at_least(1));
    f.section("Optimizer (AdamW as torch.optim.AdamW; Muon or SGD for the hidden matrices)");
    declare_optimizer_flags(f, c.optim, true, "peak learning rate");
    f.section("Schedule");
    f.add("steps", &c.steps, "optimizer steps", at_least(1));
    f.add("tokens", &c.tokens,
          "train on this many tokens instead: --steps = ceil(N / (batch-size x seq-len)), so that a sweep over "
          "--batch-size keeps the token budget fixed; not with --steps; 0 = use --steps",
          at_least(0));
    f.add("warmup-steps", &c.warmup_steps, "linear warmup steps", at_least(0));
    f.add("warmup-fraction", &c.warmup_fraction, "linear warmup as a fraction of --steps (instead of --warmup-steps)",
          between(0, 1));
    f.add("lr-decay", &c.lr_decay, "schedule after warmup (wsd: warmup-stable-decay)",
          {{"constant", LrDecay::Constant}, {"linear", LrDecay::Linear}, {"cosine", LrDecay::Cosine},
           {"wsd", LrDecay::WSD}});
    f.add("min-lr-fraction", &c.min_lr_fraction, "final LR as a fraction of --lr (linear, cosine, wsd)", between(0, 1));
    f.add("wsd-decay-fraction", &c.wsd_decay_fraction, "wsd: the last fraction of the steps decays linearly",
          between(0, 1));
    f.add("replacement-warmup", &c.replacement_warmup,
          "extra warmup on the hidden matrices' LR, from 1/m to 1 (docs/training.md: Schedules), on top of the schedule",
          {{"none", WarmupKind::None}, {"closed-form", WarmupKind::ClosedForm},
           {"exponential", WarmupKind::Exponential}, {"decay-away", WarmupKind::DecayAway}});
    f.add("replacement-m", &c.replacement_m, "its m (it starts at 1/m); 0 = the run's width multiplier", at_least(0));
    f.add("replacement-tau", &c.replacement_tau, "exponential/decay-away time constant in steps; 0 = 1/(lr*wd) "
          "of the hidden matrices", at_least(0));
    declare_param_flags(f, c.param);
    f.section("Evaluation, logging, checkpoints");
    f.add("val-every", &c.val_every, "validation loss every k steps (and at the end); 0 = only at the end",
          at_least(0));
    f.add("val-batches", &c.val_batches, "batches in each validation pass (always the same ones)", at_least(1));
    f.add("log-every", &c.log_every, "print a progress line every k steps", at_least(1));
    f.add("checkpoint-every", &c.checkpoint_every, "write a checkpoint every k steps; 0 = only at the end",
          at_least(0));
    f.add("stop-after", &c.stop_after, "stop after this many steps (checkpointed; resume later); 0 = run all",
          at_least(0));
    f.add("sample-every", &c.sample_every, "print generated text every k steps; 0 = only at the end", at_least(0));
    f.add("sample-length", &c.sample_length, "tokens per text sample; 0 = no samples", at_least(0));
    f.add("out-dir", &c.out_dir, "run directory: log.csv, measure.csv, run_info.txt, run.json, result.json and checkpoint.safetensors go here");
    f.add("resume", &c.resume, "continue the run in this directory (or checkpoint file), bit for bit");
    f.add("seed", &c.seed, "seed of the initialization and of text sampling", at_least(0));
    f.add("threads", &c.threads, "OpenMP threads; 0 = all cores", between(0, 256));
    f.add("print-table", &c.print_table, "print the per-tensor table and exit without training");
    f.add("quiet", &c.quiet, "print only errors and the final result");
    f.section("Measurements (docs/measurements.md), per weight matrix, into <out-dir>/measure.csv");
    f.add("measure-every", &c.measure_every, "measure every k steps; 0 = off", at_least(0));
    f.add("measure-tokens", &c.measure_tokens, "tokens of each layer's input used as X (evenly spaced in the batch)",
          between(1, 1 << 20));
    f.section("Device");
    f.add("device", &c.device, "where to train: cpu (OpenMP) or cuda (the GPU twins in cuda/; needs an NVIDIA GPU)",
          {{"cpu", Device::CPU}, {"cuda", Device::CUDA}});
    f.add("precision", &c.precision,
          "cuda matmuls: fp32, tf32 (tensor cores) or bf16 (bf16 operands, float accumulation and weights)",
          {{"fp32", gpu::Precision::FP32}, {"tf32", gpu::Precision::TF32}, {"bf16", gpu::Precision::BF16}});
    f.add("deterministic", &c.deterministic,
          "cuda: repeat runs bit for bit (--no-deterministic: atomics in the embedding gradient)");
    f.section("Divergence and sweeps");
    f.add("diverge-loss", &c.diverge_loss,
          "a training (or final validation) loss above this counts as diverged, like NaN/inf; 0 = 2 ln V "
          "(1e30: only NaN/inf)", at_least(0));
    f.add("on-divergence", &c.on_divergence, "fail: stop with an error | record: stop, write result.json, exit 0",
          {{"fail", OnDivergence::Fail}, {"record", OnDivergence::Record}});
    f.add("skip-if-done", &c.skip_if_done, "do nothing if <out-dir>/result.json says the run finished (for sweeps)");
    f.add("if-exists", &c.if_exists,
          "<out-dir> holds a run already: refuse (error) | overwrite (start over) | resume (from its checkpoint, "
          "or start over where it has none)",
          {{"refuse", IfExists::Refuse}, {"overwrite", IfExists::Overwrite}, {"resume", IfExists::Resume}});
}

void declare_finetune_flags(FlagSet& f, TrainConfig& c) {
    f.section("Fine-tuning (docs/lora.md): start from a trained checkpoint, fully or with LoRA adapters");
    f.add("from", &c.finetune.from,
          "the trained checkpoint (or run directory) to start from; the model and parameterization flags default to "
          "its own");
    declare_lora_flags(f, c.finetune, c.param);
    f.add("lora-init", &c.finetune.lora_init,
          "standard: A from N(0, 1/fan_in), B = 0 | ga: LoRA-GA, A and B from the singular vectors of each matrix's "
          "gradient on the first training batch, W0 shifted so the output at step 0 is unchanged (a fresh run only)",
          {{"standard", LoraInit::Standard}, {"ga", LoraInit::Ga}});
}

void declare_lora_flags(FlagSet& f, FinetuneConfig& ft, ParamConfig& param) {
    f.add("lora-rank", &ft.lora_rank,
          "rank r of the adapters; 0 = none, every tensor trains (full fine-tuning); else only the adapters do",
          at_least(0));
    f.add("lora-alpha", &ft.lora_alpha, "the adapter path is scaled by alpha / r; 0 = r (scale 1)",
          at_least(0));
    f.add("lora-targets", &ft.lora_targets,
          "the matrices of every block that get an adapter, comma-separated: attn.c_attn, attn.c_proj, mlp.c_fc, "
          "mlp.c_proj, or all");
    f.add("lora-plus-ratio", &param.lora_plus_ratio,
          "LoRA+: B's learning rate over A's (B's LR multiplier; A's is 1)", positive());
    f.add("lora-lr-anchor", &param.lora_lr_anchor,
          "which adapter trains at --lr: a (B at lambda x lr) or b (A at lr / lambda; a sweep of --lr then follows "
          "B's LR)",
          {{"a", LoraAnchor::A}, {"b", LoraAnchor::B}});
}

void declare_run_flags(FlagSet& f, TrainConfig& c, bool finetune) {
    declare_train_flags(f, c);
    if (finetune) declare_finetune_flags(f, c);
}

void apply_token_budget(TrainConfig& cfg, const FlagSet& flags) {
    if (cfg.tokens <= 0) return;
    if (flags.was_set("steps")) fail("give --steps or --tokens, not both");
    const int64_t per_step = (int64_t)cfg.batch_size * cfg.seq_len;
    cfg.steps = (cfg.tokens + per_step - 1) / per_step;
}

ModelConfig train_model_sizes(const TrainConfig& c) {
    ModelConfig sizes = model_sizes(c.model, c.seq_len);
    const FinetuneConfig& ft = c.finetune;
    if (ft.lora_rank > 0) {
        if (ft.from.empty()) fail("--lora-rank needs --from (adapters fine-tune a trained model)");
        sizes = with_adapters(sizes, ft);
    }
    return sizes;
}

ModelConfig with_adapters(ModelConfig sizes, const FinetuneConfig& ft) {
    if (ft.lora_rank == 0) return sizes;
    sizes.lora_rank = ft.lora_rank;
    sizes.lora_alpha = ft.lora_alpha > 0 ? ft.lora_alpha : ft.lora_rank;
    sizes.lora_targets = parse_lora_targets(ft.lora_targets);
    sizes.validate();
    return sizes;
}

double diverge_threshold(const TrainConfig& c) {
    return c.diverge_loss > 0 ? c.diverge_loss : 2 * std::log((double)std::max(2, c.model.vocab_size));
}

// The first trained tensor of a role (for the weight-decay summary), or nullptr.
static const TensorInfo* representative(const TensorTable& table, TensorRole role) {
    for (const TensorInfo& t : table.tensors)
        if (t.role == role && !t.frozen) return &t;
    return nullptr;
}

bool written_by_finetune(const Checkpoint& ckpt) {
    const JsonValue j = parse_json(ckpt.train_flags_json);
    return j.find("from") != nullptr;
}

// Flags that may differ when resuming: they change what is printed or
// saved, never the numbers, except --device and --deterministic, which move
// a run between machines at the cost of rounding-level differences (the
// precision, which changes more than that, is fixed). (--sample-every is not
// one of them: samples draw from the RNG whose state the checkpoint carries.)
static const std::set<std::string> RESUME_CHANGEABLE = {
    "resume", "threads", "log-every", "checkpoint-every", "stop-after", "out-dir", "quiet", "print-table", "skip-if-done",
    "if-exists", "device", "deterministic"};
static const std::set<std::string> RESUME_KEEPS_UNLESS_GIVEN = {"device", "deterministic"};

void set_checkpoint_flags(FlagSet& flags, const Checkpoint& ckpt, const std::string& ckpt_path) {
    JsonValue j = parse_json(ckpt.train_flags_json);
    for (const auto& kv : j.obj) {
        if (!flags.has(kv.first))
            fail(ckpt_path + ": checkpoint has setting --" + kv.first + " that this version does not know" +
                 (kv.first == "from" ? " here (it was written by `lrt finetune`; resume it with lrt finetune --resume)"
                                     : ""));
        flags.set(kv.first, kv.second.as_string());
    }
}

TrainConfig checkpoint_train_config(const Checkpoint& ckpt, const std::string& ckpt_path) {
    TrainConfig saved;
    FlagSet flags("train", "");
    declare_run_flags(flags, saved, written_by_finetune(ckpt));
    set_checkpoint_flags(flags, ckpt, ckpt_path);
    return saved;
}

// The settings of a resumed run: the checkpoint's, with only the harmless
// flags taken from the command line; any other flag that differs is an error.
static TrainConfig resumed_config(const TrainConfig& cmdline_config, const FlagSet& cmdline, const Checkpoint& ckpt,
                                  const std::string& ckpt_path) {
    const bool finetune = written_by_finetune(ckpt);
    TrainConfig saved;
    FlagSet saved_flags("train", "");
    declare_run_flags(saved_flags, saved, finetune);
    set_checkpoint_flags(saved_flags, ckpt, ckpt_path);
    for (const std::string& name : cmdline.names()) {
        if (!cmdline.was_set(name) || RESUME_CHANGEABLE.count(name)) continue;
        std::string now = cmdline.value_string(name), then = saved_flags.value_string(name);
        if (now != then)
            fail("--" + name + " " + now + " differs from the checkpoint's " + then +
                 "; a resumed run keeps the settings it started with");
    }
    TrainConfig merged = saved;
    FlagSet merged_flags("train", "");
    declare_run_flags(merged_flags, merged, finetune);
    // output-only settings are this invocation's, given or default (a saved
    // --stop-after would otherwise stop the resumed run at once)
    // (the device settings stay the checkpoint's unless given: a GPU run
    // resumed without --device goes on on the GPU)
    for (const std::string& name : RESUME_CHANGEABLE)
        if (!RESUME_KEEPS_UNLESS_GIVEN.count(name) || cmdline.was_set(name))
            merged_flags.set(name, cmdline.value_string(name));
    merged.resume = cmdline_config.resume;
    if (!cmdline.was_set("out-dir")) merged.out_dir = parent_dir(ckpt_path);
    return merged;
}

// (the last five columns: the gradient noise scale, study/noise_scale.h, on
// the steps that measure it; empty elsewhere)
static const char* LOG_HEADER =
    "step,lr,hidden_lr,train_loss,val_loss,grad_norm,tokens_per_s,elapsed_s,grad_sq_small,grad_sq_big,noise_g2,"
    "noise_trace,b_simple\n";
static const char* MEASURE_HEADER =
    "step,tensor,role,layer,lr,lr_multiplier,decay,w_norm,dw_norm,x_norm,wx_norm,dwx_norm,rel_update,rrc,alpha_w,"
    "alpha_dw,alignment_ratio,w_rms,u_rms,w_rms_equilibrium,rel_update_equilibrium,angular_update,angular_equilibrium,"
    "noise_g2,noise_trace,b_simple\n";

// Generates text from the model: starts from EOT, samples each next token
// from the softmax of the last position's logits (temperature 1).
static std::string sample_text(GPT<float>& model, Rng& rng, int length, int max_context) {
    std::vector<int> tokens = {EOT_TOKEN};
    const int V = model.config.vocab_size;
    for (int i = 0; i < length; i++) {
        int n = std::min((int)tokens.size(), max_context);
        gpt_forward(model, tokens.data() + tokens.size() - n, (const int*)nullptr, 1, n);
        const float* logits = model.logits.data() + (size_t)(n - 1) * V;
        double mx = logits[0], z = 0;
        for (int v = 1; v < V; v++) mx = std::max(mx, (double)logits[v]);
        for (int v = 0; v < V; v++) z += std::exp(logits[v] - mx);
        double u = rng.uniform() * z, acc = 0;
        int next = V - 1;
        for (int v = 0; v < V; v++) {
            acc += std::exp(logits[v] - mx);
            if (u < acc) {
                next = v;
                break;
            }
        }
        tokens.push_back(next);
    }
    if (V > BYTE_VOCAB_SIZE) {  // not byte-level: show the ids
        std::string s;
        for (size_t i = 1; i < tokens.size(); i++) s += std::to_string(tokens[i]) + " ";
        return s;
    }
    // printable ASCII and newlines as they are; anything else escaped, so a
    // half-trained model's stray bytes cannot garble the terminal
    std::string s;
    for (size_t i = 1; i < tokens.size(); i++) {
        int t = tokens[i];
        char buf[16];
        if (t == EOT_TOKEN) s += "<|eot|>";
        else if (t == '\n' || (t >= 32 && t < 127)) s += (char)t;
        else {
            std::snprintf(buf, sizeof buf, "\\x%02x", t);
            s += buf;
        }
    }
    return s;
}

// The first non-finite value of the parameters or moments, as a message
// ("" when every value is finite).
static std::string first_non_finite(const TensorTable& table, const std::vector<float>& params,
                                    const std::vector<float>& m, const std::vector<float>& v,
                                    const std::vector<float>& spectral) {
    for (size_t i = 0; i < spectral.size(); i++)
        if (!std::isfinite(spectral[i]))
            return "a spectral-decay vector [" + std::to_string(i) + "] = " + std::to_string(spectral[i]);
    for (const TensorInfo& t : table.tensors)
        for (const auto& part : {std::make_pair("", &params), std::make_pair("optimizer.m.", &m),
                                 std::make_pair("optimizer.v.", &v)})
            for (size_t i = 0; i < t.numel; i++)
                if (!std::isfinite((*part.second)[t.offset + i]))
                    return std::string(part.first) + t.name + "[" + std::to_string(i) + "] = " +
                           std::to_string((*part.second)[t.offset + i]);
    return "";
}

// The directory a run will write: --out-dir, or when resuming without one,
// the checkpoint's own directory (resumed_config decides the same).
static std::string target_dir(const TrainConfig& cfg, const FlagSet& cmdline) {
    if (cfg.resume.empty() || cmdline.was_set("out-dir")) return cfg.out_dir;
    if (!file_exists(cfg.resume)) return "";  // no such checkpoint: loading it says so
    return is_directory(cfg.resume) ? cfg.resume : parent_dir(cfg.resume);
}

// ---------------------------------------------------------------------------
// A run, phase by phase. TrainRun holds what the phases share; each phase is
// one function below, and run_training at the end calls them in order.

// The replacement warmup (optim/schedule.h): a factor on each hidden matrix's
// step size, from 1/m back to 1.
struct WarmupPlan {
    ReplacementWarmup warm;
    std::vector<double> lr_extra;  // this step's factor, one per tensor (1 for all but hidden matrices)
    std::vector<ClosedFormTracker> trackers;
};

struct TrainRun {
    TrainConfig cfg;
    FlagSet own{"train", ""};  // the settings as run, saved with checkpoints
    bool verbose = true, resuming = false, implicit_resume = false;
    std::unique_ptr<DirLock> lock;
    std::string out_target;  // the directory locked before anything in it was read ("" if none yet)
    Checkpoint ckpt;
    std::string ckpt_in;
    Checkpoint base;        // a new fine-tuning run: the trained checkpoint it starts from (--from)
    std::string base_path;
    GPT<float> model;
    Parameterization param;
    Schedule sched;
    RunData data;  // the tokens and their loaders (train/run_data.h)
    std::unique_ptr<OptimizerState<float>> state;
    std::unique_ptr<Backend> backend;
    std::string device_note;
    Rng sample_rng{0};
    int64_t start_step = 0, end_step = 0;
    WarmupPlan warmup;
    MeasureRequest measure;
    std::string decay_summary;
    TrainResult result;
    std::string measure_path;
    std::unique_ptr<LogAppender> log, measure_log;
    std::vector<int> inputs, targets;
    NoiseEma noise;  // the noise scale's averages (--grad-accum >= 2)
    std::vector<NoiseEma> tensor_noise;  // the same per measured matrix (measure.tensors' order)
    double min_train_loss = INFINITY, last_loss = NAN, t_start = 0, step_seconds = 0;
};

static TrainResult skipped_result() {
    TrainResult r;
    r.status = "skipped";
    return r;
}

// Locks an existing run directory before reading anything in it (so that what
// this run decides from its files, finished? a checkpoint to resume?, still
// holds when it writes), then settles a resume: the checkpoint's settings,
// with only the harmless flags taken from the command line. False: the run
// is finished already (--skip-if-done).
static bool open_run(TrainRun& run, const FlagSet& cmdline) {
    TrainConfig& cfg = run.cfg;
    run.out_target = target_dir(cfg, cmdline);
    if (!cfg.print_table && !run.out_target.empty() && is_directory(run.out_target))
        run.lock.reset(new DirLock(run.out_target, "run directory"));
    if (cfg.skip_if_done && !cfg.out_dir.empty() && cfg.resume.empty() && run_is_finished(cfg.out_dir)) {
        if (!cfg.quiet) std::printf("%s/result.json: finished already; skipping\n", cfg.out_dir.c_str());
        return false;
    }
    // --if-exists resume: continue the run in --out-dir from its checkpoint
    // (a sweep rerun after an interruption); with no checkpoint it starts over
    run.implicit_resume = cfg.resume.empty() && cfg.if_exists == IfExists::Resume && !cfg.out_dir.empty() &&
                          file_exists(cfg.out_dir + "/checkpoint.safetensors");
    if (run.implicit_resume) cfg.resume = cfg.out_dir;
    run.resuming = !cfg.resume.empty();
    if (run.resuming) {
        run.ckpt_in = checkpoint_file(cfg.resume);
        run.ckpt = load_checkpoint(run.ckpt_in);
        // its moments are zeros and its step is another run's: resuming would silently go on as a new kind of run
        if (!run.ckpt.state.merged_from.empty())
            fail(run.ckpt_in + " was written by lrt finetune --merge (of " + run.ckpt.state.merged_from +
                 "): a merged checkpoint is a model, not a run: start from it with lrt finetune --from " + run.ckpt_in);
        cfg = resumed_config(cfg, cmdline, run.ckpt, run.ckpt_in);
    }
    if (!run.resuming && !cfg.finetune.from.empty()) {
        run.base_path = checkpoint_file(cfg.finetune.from);
        run.base = load_checkpoint(run.base_path);
        if (run.base.config.has_adapters())
            fail("--from " + run.base_path + " has LoRA adapters; fold them in first (lrt finetune --merge --from " +
                 cfg.finetune.from + " --out FILE) and start from that file");
    }
    declare_run_flags(run.own, cfg, !cfg.finetune.from.empty());
    run.verbose = !cfg.quiet;
#ifdef _OPENMP
    // --threads 0 means the OpenMP default (OMP_NUM_THREADS or all cores), even
    // after an earlier run in this process asked for fewer
    static const int default_threads = omp_get_max_threads();
    omp_set_num_threads(cfg.threads > 0 ? cfg.threads : default_threads);
#endif
    return true;
}

// The memory the run needs, checked before anything large is allocated; and a
// resumed run's flags must describe the checkpoint's model, checked before
// that model is built.
static void check_memory(const TrainRun& run) {
    const TrainConfig& cfg = run.cfg;
    if (cfg.batch_size % cfg.grad_accum != 0)
        fail("--grad-accum " + std::to_string(cfg.grad_accum) + " does not divide --batch-size " +
             std::to_string(cfg.batch_size) + " (each step runs --grad-accum micro-batches of equal size)");
    const ModelConfig sizes = train_model_sizes(cfg);
    const ModelConfig planned =
        parameterized_config(sizes, resolve_parameterization(sizes, with_head_dim_base(cfg.param, cfg.model)));
    planned.validate();
    if (run.resuming && planned.to_json() != run.ckpt.config.to_json())
        fail(run.ckpt_in + ": model_config does not match the checkpoint's train flags");
    if (!run.base_path.empty()) {
        const ModelConfig plain = planned.without_adapters();
        if (plain.to_json() != run.base.config.to_json())
            fail("--from " + run.base_path + ": its model " + run.base.config.to_json() +
                 " is not the one these flags describe, " + plain.to_json() +
                 " (leave out the model and parameterization flags: they default to the checkpoint's)");
    }
    size_t data_tokens = (size_t)(cfg.synth_train_tokens + cfg.synth_val_tokens);
    if (!cfg.train_data.empty()) {  // token files: 2 bytes a token after the header
        data_tokens = 0;
        for (const std::string& f : {cfg.train_data, cfg.val_data}) data_tokens += (size_t)(file_size(f) / 2);
    }
    MemoryEstimate e = estimate_train_memory(planned, build_tensor_table(planned).total, cfg.batch_size, cfg.grad_accum,
                                             cfg.seq_len, cfg.measure_every > 0, data_tokens, cfg.device == Device::CUDA);
    if (!run.resuming && cfg.finetune.lora_init == LoraInit::Ga) {
        const ModelConfig plain = planned.without_adapters();
        e.lora_ga = estimate_lora_ga_memory(plain, build_tensor_table(plain).total, cfg.batch_size, cfg.grad_accum,
                                            cfg.seq_len);
    }
    check_memory_fits(e);
}

template <typename T>
Parameterization build_train_model(GPT<T>& model, const TrainConfig& cfg) {
    return gpt_build_parameterized(model, train_model_sizes(cfg), with_head_dim_base(cfg.param, cfg.model), cfg.optim);
}
template Parameterization build_train_model<float>(GPT<float>&, const TrainConfig&);
template Parameterization build_train_model<double>(GPT<double>&, const TrainConfig&);

// The parameterized model (every table row resolved: init, multipliers,
// optimizer plan), the schedule, and the device's preconditions.
static void build_model(TrainRun& run, const FlagSet& cmdline) {
    const TrainConfig& cfg = run.cfg;
    run.param = build_train_model(run.model, cfg);
    if (cfg.warmup_fraction > 0 && !run.resuming && cmdline.was_set("warmup-steps"))
        fail("give --warmup-steps or --warmup-fraction, not both");
    Schedule& sched = run.sched;
    sched.decay = cfg.lr_decay;
    sched.total_steps = cfg.steps;
    sched.warmup_steps = cfg.warmup_fraction > 0 ? 0 : cfg.warmup_steps;  // the fraction, when given, replaces the steps
    sched.warmup_fraction = cfg.warmup_fraction;
    sched.min_lr_fraction = cfg.min_lr_fraction;
    sched.wsd_decay_fraction = cfg.wsd_decay_fraction;
    validate_schedule(sched);
    const std::string precision = gpu::precision_name(cfg.precision);
    if (cfg.device != Device::CUDA && cfg.precision != gpu::Precision::FP32)
        fail(run.resuming ? run.ckpt_in + " was trained with --precision " + precision +
                                " on the GPU; it can be resumed only with --device cuda (the CPU path computes in fp32)"
                          : "--precision " + precision + " needs --device cuda (the CPU path computes in fp32)");
    if (cfg.device == Device::CUDA) {
        std::string why;
        if (!gpu::available(&why)) fail("--device cuda: " + why + " (train on the CPU with --device cpu)");
    }
}

// LoRA-GA on the batch step 0 will train on: a copy of the loader draws it,
// so the run's own data order is untouched. It runs as step 0 will, in
// --grad-accum micro-batches, so that it needs no more activation memory than
// training (the mean gradient is the whole batch's either way).
static void ga_init(TrainRun& run) {
    const TrainConfig& cfg = run.cfg;
    DataLoader first = run.data.train_loader;
    std::vector<int> in((size_t)cfg.batch_size * cfg.seq_len), tgt(in.size());
    first.next_batch(in.data(), tgt.data());
    const double t0 = wall_seconds();
    lora_ga_init(run.model, in.data(), tgt.data(), cfg.batch_size, cfg.seq_len, cfg.grad_accum);
    if (!cfg.quiet)
        std::printf("LoRA-GA init: adapters from the gradient of the first batch (%.2f s)\n", wall_seconds() - t0);
}

// The parameters and optimizer state, fresh or from the checkpoint, and the
// backend that trains them (on the GPU, its twin holds them from here on and
// the host copies are refreshed only for checkpoints and text samples).
static void init_state(TrainRun& run) {
    const TrainConfig& cfg = run.cfg;
    run.state.reset(new OptimizerState<float>(run.model.table));
    run.sample_rng = Rng((uint64_t)cfg.seed ^ 0x5A4D504C45ull);
    if (run.resuming) {
        restore_checkpoint(run.ckpt, run.model, run.state->m, run.state->v, &run.state->spectral);
        run.start_step = run.ckpt.state.step;
        if (run.start_step < 1 || run.start_step > cfg.steps)
            fail(run.ckpt_in + ": metadata step = " + std::to_string(run.ckpt.state.step) + " is outside the run's 1.." +
                 std::to_string(cfg.steps) + " (--steps); the checkpoint is corrupt");
        run.data.train_loader.set_position(run.ckpt.state.data_epoch, run.ckpt.state.data_window);
        for (int i = 0; i < 4; i++) run.sample_rng.s[i] = run.ckpt.state.rng_state[i];
        run.noise = run.ckpt.state.noise;
        run.tensor_noise = run.ckpt.state.tensor_noise;
    } else {
        gpt_init(run.model, (uint64_t)cfg.seed);
        // fine-tuning: the trained model's tensors, the adapters as drawn (B = 0)
        if (!run.base_path.empty()) restore_base_parameters(run.base, run.model);
        if (cfg.finetune.lora_init == LoraInit::Ga) ga_init(run);
    }
#ifdef _OPENMP
    run.device_note = "cpu (OpenMP), fp32";
#else
    run.device_note = "cpu (one thread: built without OpenMP), fp32";
#endif
    if (cfg.device == Device::CUDA) {
        gpu::Options opt;
        opt.precision = cfg.precision;
        opt.deterministic = cfg.deterministic;
        run.backend.reset(new GpuBackend(run.model, run.state.get(), opt));
        run.device_note = "cuda " + gpu::describe_device() + ", " + gpu::precision_name(cfg.precision) + " matmuls" +
                          (cfg.deterministic ? ", deterministic" : ", not deterministic (atomics)");
    } else {
        run.backend.reset(new CpuBackend<float>(run.model, *run.state));
    }
}

// Steps [start_step, end_step) of this call. False: nothing is left to do
// but it is not an error (a run resumed by --if-exists resume whose
// checkpoint is already at its end, and whose result.json says it ended).
static bool decide_span(TrainRun& run) {
    const TrainConfig& cfg = run.cfg;
    run.end_step = cfg.stop_after > 0 ? std::min(cfg.stop_after, cfg.steps) : cfg.steps;
    // (such a run only redoes the ending otherwise: the final evaluation and
    // result.json, lost when the earlier process died between its last
    // checkpoint and them)
    const RunOutcome::State ended = run.implicit_resume ? read_run_outcome(cfg.out_dir).state : RunOutcome::Missing;
    if (run.end_step == run.start_step && ended != RunOutcome::Missing && ended != RunOutcome::Invalid) {
        if (!cfg.quiet) std::printf("%s: its checkpoint is at step %lld and result.json says it ended; nothing to redo\n",
                                    cfg.out_dir.c_str(), (long long)run.start_step);
        return false;
    }
    if (run.end_step < run.start_step || (run.end_step == run.start_step && !run.implicit_resume))
        fail("nothing to do: the checkpoint is at step " + std::to_string(run.start_step) + " and the run stops at step " +
             std::to_string(run.end_step) + (cfg.stop_after > 0 ? " (--stop-after)" : " (--steps)"));
    if (cfg.out_dir.empty()) fail("--out-dir must not be empty");
    return true;
}

static void plan_replacement_warmup(TrainRun& run) {
    const TrainConfig& cfg = run.cfg;
    const TensorTable& table = run.model.table;
    WarmupPlan& w = run.warmup;
    const size_t n = table.tensors.size();
    w.lr_extra.assign(n, 1.0);
    w.trackers.assign(n, ClosedFormTracker());
    w.warm.kind = cfg.replacement_warmup;
    w.warm.m = cfg.replacement_m > 0 ? cfg.replacement_m : run.param.m;
    if (w.warm.kind == WarmupKind::None) return;
    // it scales the hidden matrices' LR, and with adapters those are frozen
    if (run.model.config.has_adapters())
        fail("--replacement-warmup acts on the hidden matrices, which LoRA adapters freeze; leave it out");
    const TensorInfo* hidden0 = representative(table, TensorRole::HiddenMatrix);
    // lambda with decay = eta * lambda per step, from the hidden matrices' decay at the peak LR
    const double peak_decay = hidden0 ? decay_per_step(*hidden0, 1.0) : 0.0;
    const double peak_lr = hidden0 ? tensor_lr(*hidden0, 1.0) : cfg.optim.lr;
    w.warm.tau = cfg.replacement_tau > 0 ? cfg.replacement_tau
                 : peak_decay > 0        ? default_replacement_tau(peak_lr, peak_decay / peak_lr)
                                         : 0.0;
    const std::string kind = warmup_kind_name(w.warm.kind);
    if (w.warm.kind != WarmupKind::ClosedForm && !(w.warm.tau > 0))
        fail("--replacement-warmup " + kind + " needs --replacement-tau when the hidden matrices have no decay");
    if (w.warm.kind == WarmupKind::ClosedForm && !(peak_decay > 0))
        fail("--replacement-warmup closed-form needs weight decay on the hidden matrices (its equilibrium sets the shape)");
    validate_replacement_warmup(w.warm);
    for (size_t i = 0; i < n; i++) {
        const TensorInfo& t = table.tensors[i];
        if (t.role != TensorRole::HiddenMatrix) continue;
        w.trackers[i] = {t.init_std, decay_per_step(t, 1.0) / tensor_lr(t, 1.0), w.warm.m};
        for (int64_t s = 0; s < run.start_step; s++) w.trackers[i].advance(tensor_lr(t, schedule_factor(run.sched, s)));
    }
}

// This step's warmup factors (advancing the closed form's recurrences).
static void update_warmup(TrainRun& run, int64_t step, double s_t) {
    WarmupPlan& w = run.warmup;
    if (w.warm.kind == WarmupKind::None) return;
    for (size_t i = 0; i < run.model.table.tensors.size(); i++) {
        const TensorInfo& t = run.model.table.tensors[i];
        if (t.role != TensorRole::HiddenMatrix) continue;
        if (w.warm.kind == WarmupKind::ClosedForm) {
            w.lr_extra[i] = w.trackers[i].factor();
            w.trackers[i].advance(tensor_lr(t, s_t));
        } else {
            w.lr_extra[i] = replacement_factor(w.warm, step);
        }
    }
}

// How far weight decay gets in this run: per-step decay at the peak LR and
// the run's length in equilibrium timescales, sum over steps of d_t
// (the norm equilibrium needs several 1/(eta*lambda)); and the
// checks that refuse a decay that would erase a tensor.
static void describe_decay(TrainRun& run) {
    const TrainConfig& cfg = run.cfg;
    const TensorTable& table = run.model.table;
    const bool independent = cfg.param.wd_mode == WeightDecayMode::Independent;
    std::string& summary = run.decay_summary;
    char line[400];
    std::snprintf(line, sizeof line, "schedule: %lld steps, linear warmup %lld steps, then %s to %g x lr\n",
                  (long long)cfg.steps, (long long)warmup_steps_of(run.sched), lr_decay_name(cfg.lr_decay),
                  cfg.min_lr_fraction);
    summary = line;
    bool warned = false;
    // the first trained tensor of each kind (with LoRA adapters the matrices are
    // frozen, and the adapters are what decays)
    for (const TensorInfo* t : {representative(table, TensorRole::HiddenMatrix), representative(table, TensorRole::Readout),
                                representative(table, TensorRole::AdapterA), representative(table, TensorRole::AdapterB)}) {
        if (!t || t->optim.weight_decay == 0) continue;
        double peak = decay_per_step(*t, 1.0), total = 0;
        for (int64_t s = 0; s < cfg.steps; s++) total += decay_per_step(*t, schedule_factor(run.sched, s));
        std::snprintf(line, sizeof line, "weight decay on %s: %.3g per step at peak LR; the run spans %.3g timescales "
                      "(sum of per-step decay over %lld steps)\n", t->name.c_str(), peak, total, (long long)cfg.steps);
        summary += line;
        if (peak > 0.01 && !warned) {
            warned = true;
            summary += "warning: that removes more than 1% of the weights every step" +
                       std::string(independent ? " (with --wd-mode independent, --weight-decay is the per-step factor "
                                                 "itself, e.g. 1e-3)\n" : "\n");
        }
    }
    for (const TensorInfo& t : table.tensors)
        if (decay_per_step(t, 1.0) >= 1.0)
            fail("weight decay of " + std::to_string(decay_per_step(t, 1.0)) + " per step on " + t.name +
                 " would remove all of it at the peak LR (lower --weight-decay" + (independent ? ")" : " or --lr)"));
    const WarmupPlan& w = run.warmup;
    if (w.warm.kind != WarmupKind::None) {
        std::snprintf(line, sizeof line, "replacement warmup: %s on the hidden matrices' step size, from 1/m = %.4g%s\n",
                      warmup_kind_name(w.warm.kind), 1.0 / w.warm.m,
                      w.warm.kind == WarmupKind::ClosedForm ? " (the two norm recurrences)"
                                                   : (", tau " + std::to_string(w.warm.tau) + " steps").c_str());
        summary += line;
        if (w.warm.m == 1.0)
            summary += "warning: m = 1, so the replacement warmup does nothing (give --d-base or --replacement-m)\n";
    }
}

// Measurements: every trained matrix applied to an activation (the hidden
// matrices, the readout, LoRA adapters), at --measure-tokens evenly spaced
// positions.
static void plan_measurements(TrainRun& run) {
    const TensorTable& table = run.model.table;
    for (size_t i = 0; i < table.tensors.size(); i++) {
        const TensorRole role = table.tensors[i].role;
        if (table.tensors[i].frozen) continue;  // it does not move
        if (role == TensorRole::HiddenMatrix || role == TensorRole::Readout || is_adapter(role))
            run.measure.tensors.push_back(i);
    }
    // (the input X is the last forward pass's: with --grad-accum, the last micro-batch's)
    run.measure.rows = sample_rows(run.cfg.batch_size / run.cfg.grad_accum * run.cfg.seq_len, run.cfg.measure_tokens);
}

// The run directory: everything above is checked, so only now is it
// touched. It is locked for this process's life (a second run into it fails
// naming this one), an earlier run in it is replaced only when --if-exists
// says so, and a resumed run keeps the log rows before its checkpoint.
static void prepare_directory(TrainRun& run) {
    const TrainConfig& cfg = run.cfg;
    make_dirs(cfg.out_dir);
    if (!run.lock) {
        run.lock.reset(new DirLock(cfg.out_dir, "run directory"));
        // the directory appeared after this run decided from its (absent)
        // files whether it had finished or could be resumed
        if (!run.resuming && cfg.if_exists != IfExists::Overwrite && !existing_run_files(cfg.out_dir).empty())
            fail(cfg.out_dir + " gained a run's files while this run was starting; run the command again");
    } else if (!same_directory(run.out_target, cfg.out_dir)) {
        fail("internal error: locked " + run.out_target + " but writing " + cfg.out_dir);
    }
    remove_stale_temporaries(cfg.out_dir);
    TrainResult& result = run.result;
    result.first_step = run.start_step;
    result.checkpoint_path = cfg.out_dir + "/checkpoint.safetensors";
    result.log_path = cfg.out_dir + "/log.csv";
    run.measure_path = cfg.out_dir + "/measure.csv";
    const std::string source_dir = run.resuming ? parent_dir(run.ckpt_in) : "";
    // the logs' rows before the checkpoint, read and checked in full before
    // anything in the directory changes (a bad row refuses the resume)
    const KeptLog kept_log =
        run.resuming ? kept_log_rows(source_dir + "/log.csv", run.start_step, LOG_HEADER, 3) : KeptLog{LOG_HEADER};
    const KeptLog kept_measure = run.resuming ? kept_log_rows(source_dir + "/measure.csv", run.start_step, MEASURE_HEADER, -1)
                                              : KeptLog{MEASURE_HEADER};
    const bool own_run = run.resuming && same_directory(source_dir, cfg.out_dir);
    if (!own_run) {
        std::vector<std::string> found = existing_run_files(cfg.out_dir);
        if (!found.empty() && (cfg.if_exists == IfExists::Refuse || (cfg.if_exists == IfExists::Resume && run.resuming))) {
            std::string list;
            for (const std::string& f : found) list += (list.empty() ? "" : ", ") + f;
            fail(cfg.out_dir + " holds a run already (" + list + "); continue it with --resume " + cfg.out_dir +
                 ", start it over with --if-exists overwrite, or give another --out-dir");
        }
        // the old run's checkpoint goes, so that an interruption from here on
        // cannot leave it beside this run's logs
        if (!found.empty() && unlink(result.checkpoint_path.c_str()) != 0 && errno != ENOENT)
            fail("cannot remove " + result.checkpoint_path + ": " + std::strerror(errno));
    }
    // result.json describes a run that ended; this one is starting or going on
    if (unlink((cfg.out_dir + "/result.json").c_str()) != 0 && errno != ENOENT)
        fail("cannot remove " + cfg.out_dir + "/result.json: " + std::strerror(errno));
    write_file_atomic(result.log_path, kept_log.text);
    write_file_atomic(run.measure_path, kept_measure.text);
    // the settings as run: text for people, JSON for programs
    write_file_atomic(cfg.out_dir + "/run_info.txt",
                      "flags: " + run.own.to_json() + "\n" + "device: " + run.device_note + "\n" +
                          describe_parameterization(run.param, run.model.config) + describe_optimizer(cfg.optim) +
                          run.decay_summary + describe_tensor_table(run.model.table));
    write_file_atomic(cfg.out_dir + "/run.json",
                      run_metadata_json(run.own.to_json(), run.model.config, run.param, cfg.optim, run.model.table,
                                        run.device_note, warmup_kind_name(cfg.replacement_warmup)));
    run.log.reset(new LogAppender(result.log_path));
    run.measure_log.reset(new LogAppender(run.measure_path));
    // (a resumed run's result covers the steps before its checkpoint too)
    run.min_train_loss = kept_log.min_train_loss;
    run.last_loss = kept_log.last_train_loss;
}

static void print_header(const TrainRun& run) {
    const TrainConfig& cfg = run.cfg;
    const ModelConfig& mc = run.model.config;
    std::printf("lrt %s: %s\n", cfg.finetune.from.empty() ? "train" : "finetune",
                run.resuming     ? ("resuming " + run.ckpt_in + " at step " + std::to_string(run.start_step)).c_str()
                : cfg.finetune.from.empty() ? "new run"
                : ("from " + run.base_path + (mc.has_adapters() ? ", LoRA rank " + std::to_string(mc.lora_rank) +
                                                                      " on " + lora_targets_text(mc.lora_targets)
                                                                : std::string(", every tensor trains")))
                      .c_str());
    std::printf("model: V=%d T=%d d=%d L=%d heads=%d mlp=%d bias=%s tied=%s, %zu parameters\n", mc.vocab_size,
                mc.context_length, mc.width, mc.depth, mc.num_heads(), mc.mlp_width(), mc.bias ? "on" : "off",
                mc.tie_embeddings ? "yes" : "no", run.model.table.total);
    std::printf("data: %s\n", run.data.note.c_str());
    std::fputs(describe_optimizer(cfg.optim).c_str(), stdout);
    std::printf("schedule: %lld steps, warmup %lld, %s decay to %g x lr; batch %dx%d = %d tokens/step%s\n",
                (long long)cfg.steps, (long long)warmup_steps_of(run.sched), lr_decay_name(cfg.lr_decay), cfg.min_lr_fraction,
                cfg.batch_size, cfg.seq_len, cfg.batch_size * cfg.seq_len,
                cfg.grad_accum > 1 ? strprintf(" in %d micro-batches of %d sequences", cfg.grad_accum,
                                               cfg.batch_size / cfg.grad_accum).c_str() : "");
    std::printf("device: %s\n", run.device_note.c_str());
    std::printf("output: %s\n", cfg.out_dir.c_str());
    std::fputs(describe_parameterization(run.param, mc).c_str(), stdout);
    std::fputs(run.decay_summary.c_str(), stdout);
    std::fputs(describe_tensor_table(run.model.table).c_str(), stdout);
    std::fflush(stdout);
}

// The mean loss over --val-batches, always the same batches; with
// --grad-accum K each batch in K micro-batches, as training runs them (the
// activations never exceed a micro-batch's; the mean is the same to rounding).
static double evaluate(TrainRun& run) {
    const int K = run.cfg.grad_accum, b = run.cfg.batch_size / K, T = run.cfg.seq_len;
    run.data.val_loader.reset();
    double sum = 0;
    for (int i = 0; i < run.cfg.val_batches; i++) {
        run.data.val_loader.next_batch(run.inputs.data(), run.targets.data());
        double batch_sum = 0;
        for (int k = 0; k < K; k++)
            batch_sum += run.backend->forward(run.inputs.data() + (size_t)k * b * T,
                                              run.targets.data() + (size_t)k * b * T, b, T);
        sum += batch_sum / K;
    }
    return sum / run.cfg.val_batches;
}

// Writes the checkpoint, unless a parameter or moment is not finite: a run's
// checkpoint is always a state it can go on from, so a broken one keeps the
// last good file (and returns what is wrong).
static std::string save(TrainRun& run, int64_t steps_done) {
    TrainState st;
    st.step = steps_done;
    st.data_epoch = run.data.train_loader.epoch();
    st.data_window = run.data.train_loader.window_index();
    for (int i = 0; i < 4; i++) st.rng_state[i] = run.sample_rng.s[i];
    st.noise = run.noise;
    st.tensor_noise = run.tensor_noise;
    run.backend->to_host(true);
    std::string bad = first_non_finite(run.model.table, run.model.params, run.state->m, run.state->v, run.state->spectral);
    if (!bad.empty()) {
        std::fprintf(stderr, "warning: not writing the checkpoint after step %lld: %s; %s keeps the last finite state\n",
                     (long long)steps_done, bad.c_str(), run.result.checkpoint_path.c_str());
        return bad;
    }
    save_checkpoint(run.result.checkpoint_path, run.model, run.state->m, run.state->v, st, run.own.to_json(),
                    &run.state->spectral);
    return "";
}

// A diverged run: an error (--on-divergence fail) or a result.json that says
// so. `step` is the last step run.
static TrainResult diverged(TrainRun& run, int64_t step, const std::string& what) {
    run.log->close();
    run.measure_log->close();
    if (run.cfg.on_divergence != OnDivergence::Record) fail("training diverged: " + what + " (try a smaller --lr)");
    run.result.status = "diverged";
    run.result.last_step = step + 1;
    write_file_atomic(run.cfg.out_dir + "/result.json",
                      "{\"status\":\"diverged\",\"steps_run\":" + std::to_string(step + 1) +
                          ",\"final_val_loss\":null,\"last_train_loss\":" + json_number_or_null(run.last_loss) +
                          ",\"min_train_loss\":" + json_number_or_null(run.min_train_loss) +
                          ",\"diverged_at\":" + std::to_string(step) +
                          ",\"elapsed_s\":" + json_number_or_null(wall_seconds() - run.t_start) + "}\n");
    std::printf("diverged at step %lld (%s); recorded in %s/result.json\n", (long long)step, what.c_str(),
                run.cfg.out_dir.c_str());
    return run.result;
}

// Sampling runs on the host copy of the parameters (a forward pass over the
// growing prefix per token: slow for a large model; --sample-length 0 skips it).
static void print_sample(TrainRun& run, int64_t step) {
    if (run.cfg.sample_length <= 0) return;
    run.backend->to_host(false);
    std::string text = sample_text(run.model, run.sample_rng, run.cfg.sample_length, run.model.config.context_length);
    run.result.samples.push_back(text);
    if (run.verbose) std::printf("---- sample at step %lld ----\n%s\n----\n", (long long)step, text.c_str());
}

// The per-tensor noise scale (measure.csv): each measured matrix's two
// squared norms into its own averages, as run.noise gets the whole model's.
static void add_tensor_noise(TrainRun& run, const StepResult& r) {
    if (r.tensor_sq_small.empty()) return;
    if (run.tensor_noise.empty()) run.tensor_noise.resize(r.tensor_sq_small.size());
    if (run.tensor_noise.size() != r.tensor_sq_small.size())
        fail("the checkpoint carries the noise scale of " + std::to_string(run.tensor_noise.size()) +
             " matrices, but this run measures " + std::to_string(r.tensor_sq_small.size()) + "; it is corrupt");
    const double b_small = run.cfg.batch_size / run.cfg.grad_accum, b_big = run.cfg.batch_size;
    for (size_t k = 0; k < r.tensor_sq_small.size(); k++)
        if (std::isfinite(r.tensor_sq_small[k]) && std::isfinite(r.tensor_sq_big[k]))
            run.tensor_noise[k].add(two_batch_estimate(r.tensor_sq_small[k], r.tensor_sq_big[k], b_small, b_big));
}

// measure.csv's last three columns for matrix k: its smoothed |G|², tr Σ and
// B_simple (empty while not positive), or empty fields without --grad-accum.
static std::string tensor_noise_columns(const TrainRun& run, size_t k, bool measured) {
    if (!measured || k >= run.tensor_noise.size()) return ",,\n";
    const NoiseEstimate s = run.tensor_noise[k].smoothed();
    const double b = run.tensor_noise[k].b_simple();
    return strprintf("%.9g,%.9g,", s.g2, s.trace) + (std::isfinite(b) ? strprintf("%.9g", b) : std::string()) + "\n";
}

// One optimizer step on the next training batch, with its measurements
// written to measure.csv; returns the loss and gradient norm.
static StepResult train_one_step(TrainRun& run, int64_t step) {
    const TrainConfig& cfg = run.cfg;
    run.data.train_loader.next_batch(run.inputs.data(), run.targets.data());
    StepPlan plan;
    plan.schedule = schedule_factor(run.sched, step);
    plan.step = step + 1;
    plan.grad_clip = cfg.optim.grad_clip;
    update_warmup(run, step, plan.schedule);
    plan.lr_extra = run.warmup.lr_extra.data();
    const bool measuring = cfg.measure_every > 0 && step % cfg.measure_every == 0;
    plan.grad_accum = cfg.grad_accum;
    plan.noise_scale = measuring && cfg.grad_accum > 1;
    StepResult r = training_step(*run.backend, run.model.table, run.inputs.data(), run.targets.data(), cfg.batch_size,
                                 cfg.seq_len, plan, measuring ? &run.measure : nullptr);
    // a non-finite measurement (a diverging step) would poison the averages for good
    if (std::isfinite(r.grad_sq_small) && std::isfinite(r.grad_sq_big))
        run.noise.add(two_batch_estimate(r.grad_sq_small, r.grad_sq_big, cfg.batch_size / cfg.grad_accum, cfg.batch_size));
    add_tensor_noise(run, r);
    if (measuring) {
        const double t0 = wall_seconds();
        std::string rows;
        for (size_t k = 0; k < run.measure.tensors.size(); k++) {
            const size_t index = run.measure.tensors[k];
            const TensorInfo& t = run.model.table.tensors[index];
            const MatrixStats& st = run.measure.stats[k];
            const double lr_i = measured_lr(run.model.table, index, plan);
            rows += strprintf("%lld,%s,%s,%d,%.9g,%.9g,%.9g,%.9g,%.9g,%.9g,%.9g,%.9g,%.9g,%.9g,%.9g,%.9g,%.9g,%.9g,%.9g,"
                              "%.9g,%.9g,%.9g,%.9g,",
                              (long long)step, t.name.c_str(), role_name(t.role), t.layer, lr_i, lr_i / t.optim.base_lr,
                              decay_per_step(t, plan.schedule), st.w_norm, st.dw_norm, st.x_norm, st.wx_norm,
                              st.dwx_norm, st.rel_update, st.rrc, st.alpha_w, st.alpha_dw, st.alignment_ratio,
                              st.w_rms, st.u_rms, st.w_rms_equilibrium, st.rel_update_equilibrium, st.angular_update,
                              st.angular_equilibrium) +
                    tensor_noise_columns(run, k, !r.tensor_sq_small.empty());
        }
        run.measure_log->row(rows);
        run.measure.seconds += wall_seconds() - t0;
    }
    return r;
}

// log.csv's noise-scale columns: this step's two squared norms, the smoothed
// |G|² and tr Σ and their ratio B_simple (empty while not positive), or
// five empty fields on a step that did not measure them.
static std::string noise_columns(const TrainRun& run, const StepResult& r) {
    if (std::isnan(r.grad_sq_small)) return ",,,,";
    const NoiseEstimate s = run.noise.smoothed();
    const double b = run.noise.b_simple();
    return strprintf("%.9g,%.9g,%.9g,%.9g,", r.grad_sq_small, r.grad_sq_big, s.g2, s.trace) +
           (std::isfinite(b) ? strprintf("%.9g", b) : std::string());
}

// One row of log.csv and the run's loss record; the LR columns are the schedule's LR of the hidden
// matrices' optimizer (--lr times s_t) and the first hidden matrix's own
// step size (its multiplier and warmup factor included).
static void log_step(TrainRun& run, int64_t step, const StepResult& r, double val, double step_start, double now) {
    const TensorTable& table = run.model.table;
    const double s_t = schedule_factor(run.sched, step), lr_t = run.cfg.optim.lr * s_t;
    const TensorInfo* hidden0 = representative(table, TensorRole::HiddenMatrix);
    const double hidden_lr =
        hidden0 ? tensor_lr(*hidden0, s_t) * run.warmup.lr_extra[hidden0 - table.tensors.data()] : lr_t;
    const double tok_per_s = run.cfg.batch_size * run.cfg.seq_len / std::max(1e-9, now - step_start);
    run.step_seconds += now - step_start;
    run.log->row(strprintf("%lld,%.6g,%.6g,%.9g,%s,%.6g,%.1f,%.3f,%s\n", (long long)step, lr_t, hidden_lr, r.loss,
                           std::isnan(val) ? "" : std::to_string(val).c_str(), r.grad_norm, tok_per_s,
                           now - run.t_start, noise_columns(run, r).c_str()));
    run.result.train_losses.push_back(r.loss);
    run.last_loss = r.loss;
    run.min_train_loss = std::min(run.min_train_loss, r.loss);
}

// The progress line, every --log-every steps, at validations and at the end.
static void report_progress(const TrainRun& run, int64_t step, const StepResult& r, double val, double step_start,
                            double step_end) {
    if (!run.verbose || !(step % run.cfg.log_every == 0 || step == run.end_step - 1 || !std::isnan(val))) return;
    const double lr_t = run.cfg.optim.lr * schedule_factor(run.sched, step);
    const double tok_per_s = run.cfg.batch_size * run.cfg.seq_len / std::max(1e-9, step_end - step_start);
    const double elapsed = step_end - run.t_start;
    const double eta = elapsed / (step - run.start_step + 1) * (run.end_step - step - 1);
    char valtxt[32] = "";
    if (!std::isnan(val)) std::snprintf(valtxt, sizeof valtxt, " | val %.4f", val);
    std::printf("step %5lld/%lld | loss %.4f%s | lr %.3e | norm %.3f | %.1fk tok/s | %s elapsed | ETA %s\n",
                (long long)step, (long long)run.cfg.steps, r.loss, valtxt, lr_t, r.grad_norm, tok_per_s / 1000,
                format_duration(elapsed).c_str(), format_duration(eta).c_str());
    std::fflush(stdout);
}

// The end of this call: the final evaluation (a run that reached --steps),
// the last checkpoint and result.json.
static TrainResult finish(TrainRun& run) {
    const TrainConfig& cfg = run.cfg;
    TrainResult& result = run.result;
    const double diverge_above = diverge_threshold(cfg);
    result.last_step = run.end_step;
    const bool complete = run.end_step == cfg.steps;
    if (complete) {
        result.final_val_loss = evaluate(run);
        result.val_losses.push_back({run.end_step, result.final_val_loss});
        if (!std::isfinite(result.final_val_loss) || result.final_val_loss > std::min(diverge_above, MAX_SANE_LOSS))
            return diverged(run, run.end_step - 1,
                            "the final validation loss is " + std::to_string(result.final_val_loss));
        run.log->row(strprintf("%lld,,,,%.6f,,,%.3f,,,,,\n", (long long)run.end_step, result.final_val_loss,
                               wall_seconds() - run.t_start));
    }
    run.log->close();
    run.measure_log->close();
    const double measure_fraction = run.measure.seconds / std::max(1e-9, run.step_seconds);
    if (run.verbose && cfg.measure_every > 0)
        std::printf("measurements (every %lld steps, %zu tokens, %zu matrices) took %.1f%% of the training steps' time\n",
                    (long long)cfg.measure_every, run.measure.rows.size(), run.measure.tensors.size(),
                    100 * measure_fraction);
    std::string broken = save(run, run.end_step);
    if (!broken.empty()) return diverged(run, run.end_step - 1, broken + " after step " + std::to_string(run.end_step));
    result.status = complete ? "done" : "stopped";
    write_file_atomic(cfg.out_dir + "/result.json",
                      "{\"status\":\"" + result.status + "\",\"steps_run\":" + std::to_string(run.end_step) +
                          ",\"final_val_loss\":" + json_number_or_null(complete ? result.final_val_loss : NAN) +
                          ",\"last_train_loss\":" + json_number_or_null(run.last_loss) +
                          ",\"min_train_loss\":" + json_number_or_null(run.min_train_loss) +
                          ",\"diverged_at\":null,\"elapsed_s\":" + json_number_or_null(wall_seconds() - run.t_start) +
                          ",\"measure_fraction\":" + json_number_or_null(measure_fraction) + "}\n");
    if (complete) {
        if (!(cfg.sample_every > 0 && run.end_step % cfg.sample_every == 0)) print_sample(run, run.end_step);  // not twice
        std::printf("final: step %lld val loss %.4f | %s elapsed | log %s | checkpoint %s\n", (long long)run.end_step,
                    result.final_val_loss, format_duration(wall_seconds() - run.t_start).c_str(),
                    result.log_path.c_str(), result.checkpoint_path.c_str());
    } else {
        std::printf("stopped after step %lld of %lld; continue with: lrt %s --resume %s\n", (long long)run.end_step,
                    (long long)cfg.steps, cfg.finetune.from.empty() ? "train" : "finetune", cfg.out_dir.c_str());
    }
    return result;
}

TrainResult run_training(TrainConfig config, const FlagSet& cmdline) {
    TrainRun run;
    run.cfg = config;
    if (!open_run(run, cmdline)) return skipped_result();
    check_memory(run);
    build_model(run, cmdline);
    if (run.cfg.print_table) {
        std::fputs(describe_parameterization(run.param, run.model.config).c_str(), stdout);
        std::fputs(describe_optimizer(run.cfg.optim).c_str(), stdout);
        std::fputs(describe_tensor_table(run.model.table).c_str(), stdout);
        return {};
    }
    load_run_data(run.data, run.cfg, run.model.config.vocab_size);
    init_state(run);
    if (!decide_span(run)) return skipped_result();
    plan_replacement_warmup(run);
    describe_decay(run);
    plan_measurements(run);
    prepare_directory(run);
    if (run.verbose) print_header(run);

    const TrainConfig& cfg = run.cfg;
    run.inputs.resize((size_t)cfg.batch_size * cfg.seq_len);
    run.targets.resize(run.inputs.size());
    const double diverge_above = diverge_threshold(cfg);
    run.t_start = wall_seconds();
    for (int64_t step = run.start_step; step < run.end_step; step++) {
        double val = NAN;
        if (cfg.val_every > 0 && step % cfg.val_every == 0) {
            val = evaluate(run);
            run.result.val_losses.push_back({step, val});
        }
        const double step_start = wall_seconds();
        const StepResult r = train_one_step(run, step);
        const double step_end = wall_seconds();
        log_step(run, step, r, val, step_start, step_end);
        if (!std::isfinite(r.loss) || r.loss > diverge_above)
            return diverged(run, step, "the loss is " + std::to_string(r.loss) + " at step " + std::to_string(step) +
                                           (std::isfinite(r.loss) ? " (above --diverge-loss " + std::to_string(diverge_above) + ")" : ""));
        report_progress(run, step, r, val, step_start, step_end);
        if (cfg.sample_every > 0 && (step + 1) % cfg.sample_every == 0) print_sample(run, step + 1);
        if (cfg.checkpoint_every > 0 && (step + 1) % cfg.checkpoint_every == 0 && step + 1 < run.end_step) {
            std::string broken = save(run, step + 1);
            if (!broken.empty()) return diverged(run, step, broken + " after step " + std::to_string(step + 1));
        }
    }
    return finish(run);
}

int train_command(int argc, char** argv) {
    // Started by `lrt sweep run` (through a shell, perhaps): stop when the
    // process that started this one dies, so that a killed sweep leaves no
    // run behind writing into a directory its rerun will use.
    if (const char* runner = std::getenv("LRT_SWEEP_RUNNER")) {
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        // the runner may have died before that line took effect
        long pid = std::atol(runner);
        if (pid > 1 && kill((pid_t)pid, 0) != 0 && errno == ESRCH) fail("the sweep runner (pid " + std::string(runner) + ") is gone");
    }
    TrainConfig cfg;
    FlagSet flags("train",
                  "lrt train [flags]\n\nTrains a GPT (AdamW, or Muon or SGD for the hidden matrices) on the built-in synthetic "
                  "corpus (default) or on llm.c token files, printing progress and writing <out-dir>/log.csv, "
                  "<out-dir>/run_info.txt, <out-dir>/run.json and <out-dir>/checkpoint.safetensors.");
    declare_train_flags(flags, cfg);
    if (!flags.parse(argc, argv, 2)) return 0;
    check_model_flags(flags, cfg.model);
    apply_token_budget(cfg, flags);
    run_training(cfg, flags);
    return 0;
}
