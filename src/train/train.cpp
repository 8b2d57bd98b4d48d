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

#include "train/checkpoint.h"
#include "data/data.h"
#include "model/gpt_gpu.h"
#include "io/json.h"
#include "model/model.h"
#include "study/measure.h"
#include "train/memory_estimate.h"
#include "optim/optimizer.h"
#include "util/rng.h"
#include "optim/schedule.h"
#include "data/synth.h"
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
    f.add("batch-size", &c.batch_size, "sequences per batch B", at_least(1));
    f.add("seq-len", &c.seq_len, "tokens per sequence T", at_least(1));
    f.section("Optimizer (AdamW, as torch.optim.AdamW)");
    f.add("lr", &c.lr, "peak learning rate", positive());
    f.add("beta1", &c.beta1, "Adam beta1", between(0, 0.999999));
    f.add("beta2", &c.beta2, "Adam beta2", between(0, 0.999999));
    f.add("eps", &c.eps, "Adam epsilon (added outside the square root)", at_least(0));
    f.add("weight-decay", &c.weight_decay,
          "weight decay lambda (wd); how it applies: --wd-mode and --wd-set below", at_least(0));
    f.add("grad-clip", &c.grad_clip, "clip the global gradient norm to this; 0 = off", at_least(0));
    f.add("steps", &c.steps, "optimizer steps", at_least(1));
    f.add("warmup-steps", &c.warmup_steps, "linear warmup steps", at_least(0));
    f.add("warmup-fraction", &c.warmup_fraction, "linear warmup as a fraction of --steps (instead of --warmup-steps)",
          between(0, 1));
    f.add("lr-decay", &c.lr_decay, "schedule after warmup (wsd: warmup-stable-decay)",
          {"constant", "linear", "cosine", "wsd"});
    f.add("min-lr-fraction", &c.min_lr_fraction, "final LR as a fraction of --lr (linear, cosine, wsd)", between(0, 1));
    f.add("wsd-decay-fraction", &c.wsd_decay_fraction, "wsd: the last fraction of the steps decays linearly",
          between(0, 1));
    f.add("replacement-warmup", &c.replacement_warmup,
          "extra warmup on the hidden matrices' LR, from 1/m to 1 (SCIENCE.md §5), on top of the schedule",
          {"none", "closed-form", "exponential", "decay-away"});
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
    f.add("out-dir", &c.out_dir, "run directory: log.csv, run_info.txt and checkpoint.safetensors go here");
    f.add("resume", &c.resume, "continue the run in this directory (or checkpoint file), bit for bit");
    f.add("seed", &c.seed, "seed of the initialization and of text sampling", at_least(0));
    f.add("threads", &c.threads, "OpenMP threads; 0 = all cores", between(0, 256));
    f.add("print-table", &c.print_table, "print the per-tensor table and exit without training");
    f.add("quiet", &c.quiet, "print only errors and the final result");
    f.section("Measurements (SCIENCE.md §2-3), per weight matrix, into <out-dir>/measure.csv");
    f.add("measure-every", &c.measure_every, "measure every k steps; 0 = off", at_least(0));
    f.add("measure-tokens", &c.measure_tokens, "tokens of each layer's input used as X (evenly spaced in the batch)",
          between(1, 1 << 20));
    f.section("Device");
    f.add("device", &c.device, "where to train: cpu (OpenMP) or cuda (the GPU twins in cuda/; needs an NVIDIA GPU)",
          {"cpu", "cuda"});
    f.add("precision", &c.precision,
          "cuda matmuls: fp32, tf32 (tensor cores) or bf16 (bf16 operands, float accumulation and weights)",
          {"fp32", "tf32", "bf16"});
    f.add("deterministic", &c.deterministic,
          "cuda: repeat runs bit for bit (--no-deterministic: atomics in the embedding gradient)");
    f.section("Divergence and sweeps");
    f.add("diverge-loss", &c.diverge_loss,
          "a training (or final validation) loss above this counts as diverged, like NaN/inf; 0 = 2 ln V "
          "(1e30: only NaN/inf)", at_least(0));
    f.add("on-divergence", &c.on_divergence, "fail: stop with an error | record: stop, write result.json, exit 0",
          {"fail", "record"});
    f.add("skip-if-done", &c.skip_if_done, "do nothing if <out-dir>/result.json says the run finished (for sweeps)");
    f.add("if-exists", &c.if_exists,
          "<out-dir> holds a run already: refuse (error) | overwrite (start over) | resume (from its checkpoint, "
          "or start over where it has none)", {"refuse", "overwrite", "resume"});
}

const char* outcome_name(RunOutcome::State state) {
    switch (state) {
        case RunOutcome::Missing: return "missing";
        case RunOutcome::Invalid: return "invalid";
        case RunOutcome::Done: return "done";
        case RunOutcome::Diverged: return "diverged";
        case RunOutcome::Stopped: return "stopped";
    }
    return "?";
}

// A number field of result.json: absent or null gives NaN when `nullable`;
// otherwise it must be a finite number in [lo, hi].
static double checked_number(const JsonValue& j, const char* key, bool nullable, double lo, double hi) {
    const JsonValue* v = j.find(key);
    if ((!v || v->type == JsonValue::Null) && nullable) return NAN;
    if (!v) fail(std::string("no \"") + key + "\"");
    if (v->type != JsonValue::Number) fail(std::string("\"") + key + "\" is " + json_type_name(v->type) + ", not a number");
    if (!(v->num >= lo && v->num <= hi))
        fail(std::string("\"") + key + "\" = " + to_json(*v) + " is outside [" + to_json(JsonValue::make_number(lo)) +
             ", " + to_json(JsonValue::make_number(hi)) + "]");
    return v->num;
}

static int64_t checked_count(const JsonValue& j, const char* key, int64_t lo) {
    const JsonValue* v = j.find(key);
    if (!v) fail(std::string("no \"") + key + "\"");
    int64_t n;
    try {
        n = v->as_int();
    } catch (const std::exception& e) {
        fail(std::string("\"") + key + "\": " + e.what());
    }
    if (n < lo) fail(std::string("\"") + key + "\" = " + std::to_string(n) + " is below " + std::to_string(lo));
    return n;
}

RunOutcome read_run_outcome(const std::string& out_dir) {
    RunOutcome r;
    const std::string path = out_dir + "/result.json";
    if (!file_exists(path)) return r;
    try {
        std::vector<uint8_t> bytes = read_file(path, 1 << 16);
        JsonValue j = parse_json(std::string(bytes.begin(), bytes.end()));
        if (j.type != JsonValue::Object) fail("not a JSON object");
        const std::string status = j.at("status").as_string();
        r.steps_run = checked_count(j, "steps_run", 1);
        r.elapsed_s = checked_number(j, "elapsed_s", false, 0, 1e12);
        r.last_train_loss = checked_number(j, "last_train_loss", true, -INFINITY, INFINITY);
        r.min_train_loss = checked_number(j, "min_train_loss", true, -INFINITY, INFINITY);
        if (status == "done") {
            r.state = RunOutcome::Done;
            r.final_val_loss = checked_number(j, "final_val_loss", false, 0, MAX_SANE_LOSS);
        } else if (status == "diverged") {
            r.state = RunOutcome::Diverged;
            r.final_val_loss = NAN;
            r.diverged_at = checked_count(j, "diverged_at", 0);
            if (r.diverged_at + 1 != r.steps_run)
                fail("\"diverged_at\" = " + std::to_string(r.diverged_at) + " does not match \"steps_run\" = " +
                     std::to_string(r.steps_run));
        } else if (status == "stopped") {
            r.state = RunOutcome::Stopped;
            r.final_val_loss = NAN;
        } else {
            fail("status \"" + status + "\" is not a finished run's (done, diverged or stopped)");
        }
    } catch (const std::exception& e) {
        r = RunOutcome();
        r.state = RunOutcome::Invalid;
        r.problem = path + ": " + e.what();
    }
    return r;
}

bool run_is_finished(const std::string& out_dir) {
    RunOutcome r = read_run_outcome(out_dir);
    return r.state == RunOutcome::Done || r.state == RunOutcome::Diverged;
}

double diverge_threshold(const TrainConfig& c) {
    return c.diverge_loss > 0 ? c.diverge_loss : 2 * std::log((double)std::max(2, c.model.vocab_size));
}

static std::string json_number_or_null(double x) {
    if (!std::isfinite(x)) return "null";
    char buf[40];
    std::snprintf(buf, sizeof buf, "%.9g", x);
    return buf;
}

// The first tensor of a role (for the weight-decay summary), or nullptr.
static const TensorInfo* representative(const TensorTable& table, TensorRole role) {
    for (const TensorInfo& t : table.tensors)
        if (t.role == role) return &t;
    return nullptr;
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

// The settings of a resumed run: the checkpoint's, with only the harmless
// flags taken from the command line; any other flag that differs is an error.
static TrainConfig resumed_config(const TrainConfig& cmdline_config, const FlagSet& cmdline, const Checkpoint& ckpt,
                                  const std::string& ckpt_path) {
    TrainConfig saved;
    FlagSet saved_flags("train", "");
    declare_train_flags(saved_flags, saved);
    JsonValue j = parse_json(ckpt.train_flags_json);
    for (const auto& kv : j.obj) {
        if (!saved_flags.has(kv.first))
            fail(ckpt_path + ": checkpoint has setting --" + kv.first + " that this version does not know");
        saved_flags.set(kv.first, kv.second.as_string());
    }
    for (const std::string& name : cmdline.names()) {
        if (!cmdline.was_set(name) || RESUME_CHANGEABLE.count(name)) continue;
        std::string now = cmdline.value_string(name), then = saved_flags.value_string(name);
        if (now != then)
            fail("--" + name + " " + now + " differs from the checkpoint's " + then +
                 "; a resumed run keeps the settings it started with");
    }
    TrainConfig merged = saved;
    FlagSet merged_flags("train", "");
    declare_train_flags(merged_flags, merged);
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

static const char* LOG_HEADER = "step,lr,hidden_lr,train_loss,val_loss,grad_norm,tokens_per_s,elapsed_s\n";
static const char* MEASURE_HEADER =
    "step,tensor,role,layer,lr,lr_multiplier,decay,w_norm,dw_norm,x_norm,wx_norm,dwx_norm,rel_update,rrc,alpha_w,"
    "alpha_dw,alignment_ratio,w_rms,u_rms,w_rms_equilibrium,rel_update_equilibrium,angular_update,angular_equilibrium\n";

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

// The rows of a run's log that a resume keeps, and what they say.
struct KeptLog {
    std::string text;                // the header and the rows of steps before the checkpoint
    double min_train_loss = INFINITY;  // over those rows (log.csv's train_loss column)
    double last_train_loss = NAN;
};

// The header and the rows of steps before `step` from the log `src` (the run
// being resumed): rows after its checkpoint are redone by the resumed run, so
// they must not appear twice. A missing `src` gives only the header. The rule
// is src/csv.h's: a last line without its newline is a row torn by an
// interrupted write and is dropped (its step is redone); any other row must
// have the header's number of fields and a step, in order, or it is an error
// naming the line. (Line by line, not through parse_csv: a long run's
// measure.csv is large, and a table of every field would be several times
// its size.) `loss_column` >= 0: that column's numbers give the losses.
static KeptLog kept_log_rows(const std::string& src, int64_t step, const char* header, int loss_column) {
    KeptLog kept;
    kept.text = header;
    if (!file_exists(src)) return kept;
    std::vector<uint8_t> bytes = read_file(src);
    const std::string text(bytes.begin(), bytes.end());
    if (text.empty()) return kept;
    const size_t header_end = text.find('\n');
    if (header_end == std::string::npos || text.compare(0, header_end + 1, header) != 0)
        fail(src + ":1: not this program's header (expected " + std::string(header, std::strlen(header) - 1) + ")");
    const size_t fields = (size_t)std::count(header, header + std::strlen(header), ',') + 1;
    long long previous = -1;
    int lineno = 1;
    for (size_t start = header_end + 1; start < text.size();) {
        lineno++;
        const size_t end = text.find('\n', start);
        if (end == std::string::npos) {
            std::fprintf(stderr, "note: %s:%d: the last line has no newline (cut short by an interrupted write); "
                         "dropped, its step is redone\n", src.c_str(), lineno);
            break;
        }
        const std::string line = text.substr(start, end - start);
        start = end + 1;
        const std::string where = src + ":" + std::to_string(lineno);
        const size_t n = (size_t)std::count(line.begin(), line.end(), ',') + 1;
        if (n != fields) fail(where + ": " + std::to_string(n) + " fields, but the header has " + std::to_string(fields));
        char* after = nullptr;
        errno = 0;
        long long row_step = std::strtoll(line.c_str(), &after, 10);
        if (after == line.c_str() || *after != ',' || errno != 0 || row_step < 0 || row_step < previous)
            fail(where + ": not a step after " + std::to_string(previous) + ": " + line.substr(0, 60));
        previous = row_step;
        if (row_step >= step) continue;
        kept.text += line + "\n";
        if (loss_column >= 0) {
            std::vector<std::string> f = split(line, ',');
            double loss = f[loss_column].empty() ? NAN : std::strtod(f[loss_column].c_str(), nullptr);
            if (!f[loss_column].empty()) {
                kept.last_train_loss = loss;
                kept.min_train_loss = std::min(kept.min_train_loss, loss);
            }
        }
    }
    return kept;
}

// A CSV file the run appends rows to, every write checked: a full disk or a
// file-size limit stops the run with the reason instead of silently dropping
// rows. Each row is flushed, so a kill loses at most the row being written.
class LogAppender {
public:
    LogAppender(const std::string& path) : path_(path) {
        f_ = std::fopen(path.c_str(), "a");
        if (!f_) fail("cannot append to " + path + ": " + std::strerror(errno));
    }
    ~LogAppender() {
        if (f_) std::fclose(f_);
    }
    LogAppender(const LogAppender&) = delete;
    LogAppender& operator=(const LogAppender&) = delete;
    void row(const std::string& text) {
        errno = 0;
        if (std::fwrite(text.data(), 1, text.size(), f_) != text.size() || std::fflush(f_) != 0 || std::ferror(f_)) {
            int e = errno;
            std::clearerr(f_);
            fail("cannot write " + path_ + ": " + (e ? std::strerror(e) : "write error") +
                 "; the run stops here and keeps its last checkpoint (free space, then resume it with --resume)");
        }
    }
    void close() {
        FILE* f = f_;
        f_ = nullptr;
        if (f && std::fclose(f) != 0) fail("cannot write " + path_ + ": " + std::strerror(errno));
    }

private:
    std::string path_;
    FILE* f_ = nullptr;
};

// printf into a std::string (for log rows)
static std::string strprintf(const char* format, ...) __attribute__((format(printf, 1, 2)));
static std::string strprintf(const char* format, ...) {
    va_list args, copy;
    va_start(args, format);
    va_copy(copy, args);
    int n = std::vsnprintf(nullptr, 0, format, copy);
    va_end(copy);
    std::string out(n > 0 ? (size_t)n : 0, '\0');
    if (n > 0) std::vsnprintf(&out[0], (size_t)n + 1, format, args);
    va_end(args);
    return out;
}

// The first non-finite value of the parameters or moments, as a message
// ("" when every value is finite).
static std::string first_non_finite(const TensorTable& table, const std::vector<float>& params,
                                    const std::vector<float>& m, const std::vector<float>& v) {
    for (const TensorInfo& t : table.tensors)
        for (const auto& part : {std::make_pair("", &params), std::make_pair("optimizer.m.", &m),
                                 std::make_pair("optimizer.v.", &v)})
            for (size_t i = 0; i < t.numel; i++)
                if (!std::isfinite((*part.second)[t.offset + i]))
                    return std::string(part.first) + t.name + "[" + std::to_string(i) + "] = " +
                           std::to_string((*part.second)[t.offset + i]);
    return "";
}

// The files a run writes into its directory; any of them means the directory
// holds a run.
static const char* RUN_FILES[] = {"result.json", "checkpoint.safetensors", "log.csv", "measure.csv", "run_info.txt"};

static std::vector<std::string> existing_run_files(const std::string& dir) {
    std::vector<std::string> found;
    for (const char* f : RUN_FILES)
        if (file_exists(dir + "/" + f)) found.push_back(f);
    return found;
}


// The directory a run will write: --out-dir, or when resuming without one,
// the checkpoint's own directory (resumed_config decides the same).
static std::string target_dir(const TrainConfig& cfg, const FlagSet& cmdline) {
    if (cfg.resume.empty() || cmdline.was_set("out-dir")) return cfg.out_dir;
    if (!file_exists(cfg.resume)) return "";  // no such checkpoint: loading it says so
    return is_directory(cfg.resume) ? cfg.resume : parent_dir(cfg.resume);
}

TrainResult run_training(TrainConfig cfg, const FlagSet& cmdline) {
    // An existing run directory is locked before anything in it is read, so
    // that what this run decides from its files (finished? a checkpoint to
    // resume?) still holds when it writes. A new one is locked when created.
    std::unique_ptr<DirLock> lock;
    const std::string out_target = target_dir(cfg, cmdline);
    if (!cfg.print_table && !out_target.empty() && is_directory(out_target))
        lock.reset(new DirLock(out_target, "run directory"));
    if (cfg.skip_if_done && !cfg.out_dir.empty() && cfg.resume.empty() && run_is_finished(cfg.out_dir)) {
        if (!cfg.quiet) std::printf("%s/result.json: finished already; skipping\n", cfg.out_dir.c_str());
        TrainResult r;
        r.status = "skipped";
        return r;
    }
    // --if-exists resume: continue the run in --out-dir from its checkpoint
    // (a sweep rerun after an interruption); with no checkpoint it starts over
    const bool implicit_resume = cfg.resume.empty() && cfg.if_exists == "resume" && !cfg.out_dir.empty() &&
                                 file_exists(cfg.out_dir + "/checkpoint.safetensors");
    if (implicit_resume) cfg.resume = cfg.out_dir;
    Checkpoint ckpt;
    std::string ckpt_in;
    const bool resuming = !cfg.resume.empty();
    if (resuming) {
        ckpt_in = is_directory(cfg.resume) ? cfg.resume + "/checkpoint.safetensors" : cfg.resume;
        ckpt = load_checkpoint(ckpt_in);
        cfg = resumed_config(cfg, cmdline, ckpt, ckpt_in);
    }
    FlagSet own("train", "");
    declare_train_flags(own, cfg);  // the settings as run, saved with checkpoints
    const bool verbose = !cfg.quiet;
#ifdef _OPENMP
    // --threads 0 means the OpenMP default (OMP_NUM_THREADS or all cores), even
    // after an earlier run in this process asked for fewer
    static const int default_threads = omp_get_max_threads();
    omp_set_num_threads(cfg.threads > 0 ? cfg.threads : default_threads);
#endif
    const bool on_gpu = cfg.device == "cuda";
    {
        // the memory the run needs, before anything large is allocated
        const ModelConfig sizes = model_sizes(cfg.model, cfg.seq_len);
        const ModelConfig planned =
            parameterized_config(sizes, resolve_parameterization(sizes, with_head_dim_base(cfg.param, cfg.model)));
        planned.validate();
        // a resumed run's flags must describe the checkpoint's model, checked
        // before that model is built
        if (resuming && planned.to_json() != ckpt.config.to_json())
            fail(ckpt_in + ": model_config does not match the checkpoint's train flags");
        size_t data_tokens = (size_t)(cfg.synth_train_tokens + cfg.synth_val_tokens);
        if (!cfg.train_data.empty()) {  // token files: 2 bytes a token after the header
            data_tokens = 0;
            for (const std::string& f : {cfg.train_data, cfg.val_data}) data_tokens += (size_t)(file_size(f) / 2);
        }
        check_memory_fits(estimate_train_memory(planned, build_tensor_table(planned).total, cfg.batch_size,
                                                cfg.seq_len, cfg.measure_every > 0, data_tokens, on_gpu));
    }
    GPT<float> model;
    const Parameterization param =
        gpt_build_parameterized(model, model_sizes(cfg.model, cfg.seq_len), with_head_dim_base(cfg.param, cfg.model));
    const ModelConfig& mc = model.config;
    if (cfg.warmup_fraction > 0 && !resuming && cmdline.was_set("warmup-steps"))
        fail("give --warmup-steps or --warmup-fraction, not both");
    Schedule sched;
    sched.decay = cfg.lr_decay;
    sched.total_steps = cfg.steps;
    sched.warmup_steps = cfg.warmup_fraction > 0 ? 0 : cfg.warmup_steps;  // the fraction, when given, replaces the steps
    sched.warmup_fraction = cfg.warmup_fraction;
    sched.min_lr_fraction = cfg.min_lr_fraction;
    sched.wsd_decay_fraction = cfg.wsd_decay_fraction;
    validate_schedule(sched);
    if (!on_gpu && cfg.precision != "fp32")
        fail(resuming ? ckpt_in + " was trained with --precision " + cfg.precision +
                            " on the GPU; it can be resumed only with --device cuda (the CPU path computes in fp32)"
                      : "--precision " + cfg.precision + " needs --device cuda (the CPU path computes in fp32)");
    if (on_gpu) {
        std::string why;
        if (!gpu::available(&why)) fail("--device cuda: " + why + " (train on the CPU with --device cpu)");
    }
    AdamWConfig adam{cfg.lr, cfg.beta1, cfg.beta2, cfg.eps, cfg.weight_decay, cfg.grad_clip, param.independent_decay};
    const int B = cfg.batch_size, T = cfg.seq_len;
    if (cfg.print_table) {
        std::fputs(describe_parameterization(param, mc).c_str(), stdout);
        std::fputs(describe_tensor_table(model.table).c_str(), stdout);
        return {};
    }

    // ---- data
    std::vector<uint16_t> train_tokens, val_tokens;
    std::string data_note;
    if (cfg.train_data.empty() != cfg.val_data.empty())
        fail("give both --train-data and --val-data, or neither (to use the built-in corpus)");
    if (cfg.train_data.empty()) {
        if (mc.vocab_size < BYTE_VOCAB_SIZE)
            fail("the built-in corpus is byte-level and needs --vocab-size >= 256, got " + std::to_string(mc.vocab_size));
        SynthStats val_stats;
        train_tokens = synth_generate(synth_train_seed(cfg.data_seed), (size_t)cfg.synth_train_tokens);
        val_tokens = synth_generate(synth_val_seed(cfg.data_seed), (size_t)cfg.synth_val_tokens, &val_stats);
        char buf[256];
        std::snprintf(buf, sizeof buf,
                      "built-in synthetic corpus: %zu train / %zu val tokens; validation entropy rate %.4f nats/token "
                      "(the lowest loss any model can reach), unigram entropy %.4f",
                      train_tokens.size(), val_tokens.size(), val_stats.nats / std::max<size_t>(1, val_stats.tokens),
                      unigram_entropy(val_tokens.data(), val_tokens.size(), BYTE_VOCAB_SIZE));
        data_note = buf;
    } else {
        train_tokens = read_token_file(cfg.train_data);
        val_tokens = read_token_file(cfg.val_data);
        check_token_range(train_tokens, mc.vocab_size, cfg.train_data);
        check_token_range(val_tokens, mc.vocab_size, cfg.val_data);
        data_note = cfg.train_data + " (" + std::to_string(train_tokens.size()) + " tokens), " + cfg.val_data + " (" +
                    std::to_string(val_tokens.size()) + " tokens)";
    }
    DataLoader train_loader, val_loader;
    // loader errors (e.g. a file too short for one sequence) name the file
    auto init_loader = [&](DataLoader& loader, const std::vector<uint16_t>& tokens, const std::string& source,
                           uint64_t seed, bool shuffle) {
        try {
            loader.init(&tokens, B, T, seed, shuffle);
        } catch (const std::exception& e) {
            fail(source + ": " + e.what());
        }
    };
    init_loader(train_loader, train_tokens, cfg.train_data.empty() ? "built-in training corpus" : cfg.train_data,
                (uint64_t)cfg.data_seed, true);
    init_loader(val_loader, val_tokens, cfg.val_data.empty() ? "built-in validation corpus" : cfg.val_data, 0, false);

    // ---- state: fresh or from the checkpoint
    std::vector<float> adam_m(model.table.total, 0.0f), adam_v(model.table.total, 0.0f);
    Rng sample_rng((uint64_t)cfg.seed ^ 0x5A4D504C45ull);
    int64_t start_step = 0;
    if (resuming) {
        restore_checkpoint(ckpt, model, adam_m, adam_v);
        start_step = ckpt.state.step;
        if (start_step < 1 || start_step > cfg.steps)
            fail(ckpt_in + ": metadata step = " + std::to_string(ckpt.state.step) + " is outside the run's 1.." +
                 std::to_string(cfg.steps) + " (--steps); the checkpoint is corrupt");
        train_loader.set_position(ckpt.state.data_epoch, ckpt.state.data_window);
        for (int i = 0; i < 4; i++) sample_rng.s[i] = ckpt.state.rng_state[i];
    } else {
        gpt_init(model, (uint64_t)cfg.seed);
    }
    // ---- the GPU twin of the model, when training there: it holds the
    // parameters and Adam moments from here on; the host copies above are
    // refreshed only for checkpoints and text samples
    std::unique_ptr<GpuGPT, void (*)(GpuGPT*)> gpu_model(nullptr, gpu_gpt_free);
#ifdef _OPENMP
    std::string device_note = "cpu (OpenMP), fp32";
#else
    std::string device_note = "cpu (one thread: built without OpenMP), fp32";
#endif
    if (on_gpu) {
        gpu::Options opt;
        opt.precision = gpu::parse_precision(cfg.precision);
        opt.deterministic = cfg.deterministic;
        gpu_model.reset(gpu_gpt_create(model, opt));
        gpu_gpt_upload_state(gpu_model.get(), nullptr, adam_m.data(), adam_v.data());
        device_note = "cuda " + gpu::describe_device() + ", " + cfg.precision + " matmuls" +
                      (cfg.deterministic ? ", deterministic" : ", not deterministic (atomics)");
    }
    auto forward = [&](const int* in, const int* tg) {
        return gpu_model ? gpu_gpt_forward(gpu_model.get(), in, tg, B, T) : gpt_forward(model, in, tg, B, T);
    };
    auto sync_to_host = [&]() {  // the GPU's parameters and moments into model.params, adam_m, adam_v
        if (gpu_model) gpu_gpt_download_state(gpu_model.get(), model.params.data(), adam_m.data(), adam_v.data());
    };
    const int64_t end_step = cfg.stop_after > 0 ? std::min(cfg.stop_after, cfg.steps) : cfg.steps;
    // (a run resumed by --if-exists resume whose checkpoint is already at its
    // end only redoes the ending: the final evaluation and result.json, lost
    // when the earlier process died between its last checkpoint and them)
    const RunOutcome::State ended = implicit_resume ? read_run_outcome(cfg.out_dir).state : RunOutcome::Missing;
    if (end_step == start_step && ended != RunOutcome::Missing && ended != RunOutcome::Invalid) {
        if (!cfg.quiet) std::printf("%s: its checkpoint is at step %lld and result.json says it ended; nothing to redo\n",
                                    cfg.out_dir.c_str(), (long long)start_step);
        TrainResult r;
        r.status = "skipped";
        return r;
    }
    if (end_step < start_step || (end_step == start_step && !implicit_resume))
        fail("nothing to do: the checkpoint is at step " + std::to_string(start_step) + " and the run stops at step " +
             std::to_string(end_step) + (cfg.stop_after > 0 ? " (--stop-after)" : " (--steps)"));
    if (cfg.out_dir.empty()) fail("--out-dir must not be empty");

    // ---- the replacement warmup: a factor on each hidden matrix's step size
    const size_t n_tensors = model.table.tensors.size();
    std::vector<double> lr_extra(n_tensors, 1.0);
    ReplacementWarmup warm;
    warm.kind = cfg.replacement_warmup;
    warm.m = cfg.replacement_m > 0 ? cfg.replacement_m : param.m;
    std::vector<ClosedFormTracker> trackers(n_tensors);
    const TensorInfo* hidden0 = representative(model.table, TensorRole::HiddenMatrix);
    if (warm.kind != "none") {
        // lambda with decay = eta * lambda per step, from the hidden matrices' decay at the peak LR
        double peak_decay = hidden0 ? decay_per_step(*hidden0, adam, cfg.lr, 1.0) : 0.0;
        double peak_lr = hidden0 ? cfg.lr * hidden0->lr_multiplier : cfg.lr;
        warm.tau = cfg.replacement_tau > 0 ? cfg.replacement_tau
                   : peak_decay > 0        ? default_replacement_tau(peak_lr, peak_decay / peak_lr)
                                           : 0.0;
        if (warm.kind != "closed-form" && !(warm.tau > 0))
            fail("--replacement-warmup " + warm.kind + " needs --replacement-tau when the hidden matrices have no decay");
        if (warm.kind == "closed-form" && !(peak_decay > 0))
            fail("--replacement-warmup closed-form needs weight decay on the hidden matrices (its equilibrium sets the shape)");
        validate_replacement_warmup(warm);
        for (size_t i = 0; i < n_tensors; i++) {
            const TensorInfo& t = model.table.tensors[i];
            if (t.role != TensorRole::HiddenMatrix) continue;
            double lr_i = cfg.lr * t.lr_multiplier;
            trackers[i] = {t.init_std, decay_per_step(t, adam, cfg.lr, 1.0) / lr_i, warm.m};
            for (int64_t s = 0; s < start_step; s++) trackers[i].advance(cfg.lr * schedule_factor(sched, s) * t.lr_multiplier);
        }
    }
    auto update_lr_extra = [&](int64_t step, double s_t) {
        if (warm.kind == "none") return;
        for (size_t i = 0; i < n_tensors; i++) {
            const TensorInfo& t = model.table.tensors[i];
            if (t.role != TensorRole::HiddenMatrix) continue;
            if (warm.kind == "closed-form") {
                double eta_i = cfg.lr * s_t * t.lr_multiplier;
                lr_extra[i] = trackers[i].factor();
                trackers[i].advance(eta_i);
            } else {
                lr_extra[i] = replacement_factor(warm, step);
            }
        }
    };

    // ---- measurements: every matrix applied to an activation (gpt_matrix_input gives its X)
    std::vector<size_t> measured;
    for (size_t i = 0; i < n_tensors; i++) {
        const TensorInfo& t = model.table.tensors[i];
        if ((t.role == TensorRole::HiddenMatrix || t.role == TensorRole::Readout)) measured.push_back(i);
    }
    const std::vector<int> sample = sample_rows(B * T, cfg.measure_tokens);
    std::vector<float> params_before, x_sample;
    double measure_seconds = 0, step_seconds = 0;  // measurements; whole training steps (measurements included)
    // How far weight decay gets in this run: per-step decay at the peak LR and
    // the run's length in equilibrium timescales, sum over steps of d_t
    // (SCIENCE.md §3: the norm equilibrium needs several 1/(eta*lambda)).
    std::string decay_summary;
    bool warned = false;
    for (const TensorInfo* t : {representative(model.table, TensorRole::HiddenMatrix),
                                representative(model.table, TensorRole::Readout)}) {
        if (!t || t->weight_decay_multiplier == 0 || cfg.weight_decay == 0) continue;
        double peak = decay_per_step(*t, adam, cfg.lr, 1.0), total = 0;
        for (int64_t s = 0; s < cfg.steps; s++) {
            double s_t = schedule_factor(sched, s);
            total += decay_per_step(*t, adam, cfg.lr * s_t, s_t);
        }
        char line[320];
        std::snprintf(line, sizeof line, "weight decay on %s: %.3g per step at peak LR; the run spans %.3g timescales "
                      "(sum of per-step decay over %lld steps)\n", t->name.c_str(), peak, total, (long long)cfg.steps);
        decay_summary += line;
        if (peak > 0.01 && !warned) {
            warned = true;
            decay_summary += "warning: that removes more than 1% of the weights every step" +
                             std::string(param.independent_decay ? " (with --wd-mode independent, --weight-decay is the "
                                                                   "per-step factor itself, e.g. 1e-3)\n" : "\n");
        }
    }
    for (const TensorInfo& t : model.table.tensors)
        if (decay_per_step(t, adam, cfg.lr, 1.0) >= 1.0)
            fail("weight decay of " + std::to_string(decay_per_step(t, adam, cfg.lr, 1.0)) + " per step on " + t.name +
                 " would remove all of it at the peak LR (lower --weight-decay" +
                 (param.independent_decay ? ")" : " or --lr)"));
    char sched_line[400];
    std::snprintf(sched_line, sizeof sched_line, "schedule: %lld steps, linear warmup %lld steps, then %s to %g x lr\n",
                  (long long)cfg.steps, (long long)warmup_steps_of(sched), cfg.lr_decay.c_str(), cfg.min_lr_fraction);
    decay_summary = sched_line + decay_summary;
    if (warm.kind != "none") {
        char line[400];
        std::snprintf(line, sizeof line, "replacement warmup: %s on the hidden matrices' step size, from 1/m = %.4g%s\n",
                      warm.kind.c_str(), 1.0 / warm.m,
                      warm.kind == "closed-form" ? " (the two norm recurrences)"
                                                 : (", tau " + std::to_string(warm.tau) + " steps").c_str());
        decay_summary += line;
        if (warm.m == 1.0)
            decay_summary += "warning: m = 1, so the replacement warmup does nothing (give --d-base or --replacement-m)\n";
    }
    // ---- the run directory: everything above is checked, so only now is it
    // touched. It is locked for this process's life (a second run into it
    // fails naming this one), and an earlier run in it is replaced only when
    // --if-exists says so.
    make_dirs(cfg.out_dir);
    if (!lock) {
        lock.reset(new DirLock(cfg.out_dir, "run directory"));
        // the directory appeared after this run decided from its (absent)
        // files whether it had finished or could be resumed
        if (!resuming && cfg.if_exists != "overwrite" && !existing_run_files(cfg.out_dir).empty())
            fail(cfg.out_dir + " gained a run's files while this run was starting; run the command again");
    } else if (!same_directory(out_target, cfg.out_dir)) {
        fail("internal error: locked " + out_target + " but writing " + cfg.out_dir);
    }
    remove_stale_temporaries(cfg.out_dir);
    TrainResult result;
    result.first_step = start_step;
    result.checkpoint_path = cfg.out_dir + "/checkpoint.safetensors";
    result.log_path = cfg.out_dir + "/log.csv";
    const std::string measure_path = cfg.out_dir + "/measure.csv";
    const std::string source_dir = resuming ? parent_dir(ckpt_in) : "";
    // the logs' rows before the checkpoint, read and checked in full before
    // anything in the directory changes (a bad row refuses the resume)
    const KeptLog kept_log = resuming ? kept_log_rows(source_dir + "/log.csv", start_step, LOG_HEADER, 3) : KeptLog{LOG_HEADER};
    const KeptLog kept_measure =
        resuming ? kept_log_rows(source_dir + "/measure.csv", start_step, MEASURE_HEADER, -1) : KeptLog{MEASURE_HEADER};
    const bool own_run = resuming && same_directory(source_dir, cfg.out_dir);
    if (!own_run) {
        std::vector<std::string> found = existing_run_files(cfg.out_dir);
        if (!found.empty() && (cfg.if_exists == "refuse" || (cfg.if_exists == "resume" && resuming))) {
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
    write_file_atomic(measure_path, kept_measure.text);

    // the settings as run, next to the log: flags, parameterization, weight
    // decay mode and decayed set, and the resolved per-tensor table
    write_file_atomic(cfg.out_dir + "/run_info.txt", "flags: " + own.to_json() + "\n" + "device: " + device_note +
                                                          "\n" + describe_parameterization(param, mc) + decay_summary +
                                                          describe_tensor_table(model.table));
    LogAppender log(result.log_path), measure_log(measure_path);

    if (verbose) {
        std::printf("lrt train: %s\n", resuming ? ("resuming " + ckpt_in + " at step " + std::to_string(start_step)).c_str() : "new run");
        std::printf("model: V=%d T=%d d=%d L=%d heads=%d mlp=%d bias=%s tied=%s, %zu parameters\n", mc.vocab_size,
                    mc.context_length, mc.width, mc.depth, mc.num_heads(), mc.mlp_width(), mc.bias ? "on" : "off",
                    mc.tie_embeddings ? "yes" : "no", model.table.total);
        std::printf("data: %s\n", data_note.c_str());
        std::printf("optimizer: AdamW lr=%g beta1=%g beta2=%g eps=%g weight_decay=%g clip=%g\n", cfg.lr, cfg.beta1,
                    cfg.beta2, cfg.eps, cfg.weight_decay, cfg.grad_clip);
        std::printf("schedule: %lld steps, warmup %lld, %s decay to %g x lr; batch %dx%d = %d tokens/step\n",
                    (long long)cfg.steps, (long long)warmup_steps_of(sched), cfg.lr_decay.c_str(), cfg.min_lr_fraction, B, T,
                    B * T);
        std::printf("device: %s\n", device_note.c_str());
        std::printf("output: %s\n", cfg.out_dir.c_str());
        std::fputs(describe_parameterization(param, mc).c_str(), stdout);
        std::fputs(decay_summary.c_str(), stdout);
        std::fputs(describe_tensor_table(model.table).c_str(), stdout);
        std::fflush(stdout);
    }

    std::vector<int> inputs((size_t)B * T), targets((size_t)B * T);
    auto evaluate = [&]() {
        val_loader.reset();
        double sum = 0;
        for (int i = 0; i < cfg.val_batches; i++) {
            val_loader.next_batch(inputs.data(), targets.data());
            sum += forward(inputs.data(), targets.data());
        }
        return sum / cfg.val_batches;
    };
    // Writes the checkpoint, unless a parameter or moment is not finite: a
    // run's checkpoint is always a state it can go on from, so a broken one
    // keeps the last good file (and returns what is wrong).
    auto save = [&](int64_t steps_done) -> std::string {
        TrainState st;
        st.step = steps_done;
        st.data_epoch = train_loader.epoch();
        st.data_window = train_loader.window_index();
        for (int i = 0; i < 4; i++) st.rng_state[i] = sample_rng.s[i];
        sync_to_host();
        std::string bad = first_non_finite(model.table, model.params, adam_m, adam_v);
        if (!bad.empty()) {
            std::fprintf(stderr, "warning: not writing the checkpoint after step %lld: %s; %s keeps the last finite "
                         "state\n", (long long)steps_done, bad.c_str(), result.checkpoint_path.c_str());
            return bad;
        }
        save_checkpoint(result.checkpoint_path, model, adam_m, adam_v, st, own.to_json());
        return "";
    };
    const double diverge_above = diverge_threshold(cfg);
    // (a resumed run's result covers the steps before its checkpoint too)
    double min_train_loss = kept_log.min_train_loss, last_loss = kept_log.last_train_loss;
    const double t_start = wall_seconds();
    // A diverged run: an error (--on-divergence fail) or a result.json that
    // says so. `step` is the last step run.
    auto diverged = [&](int64_t step, const std::string& what) {
        log.close();
        measure_log.close();
        if (cfg.on_divergence != "record") fail("training diverged: " + what + " (try a smaller --lr)");
        result.status = "diverged";
        result.last_step = step + 1;
        write_file_atomic(cfg.out_dir + "/result.json",
                          "{\"status\":\"diverged\",\"steps_run\":" + std::to_string(step + 1) +
                              ",\"final_val_loss\":null,\"last_train_loss\":" + json_number_or_null(last_loss) +
                              ",\"min_train_loss\":" + json_number_or_null(min_train_loss) +
                              ",\"diverged_at\":" + std::to_string(step) +
                              ",\"elapsed_s\":" + json_number_or_null(wall_seconds() - t_start) + "}\n");
        std::printf("diverged at step %lld (%s); recorded in %s/result.json\n", (long long)step, what.c_str(),
                    cfg.out_dir.c_str());
        return result;
    };
    auto print_sample = [&](int64_t step) {
        if (cfg.sample_length <= 0) return;
        // sampling runs on the CPU copy of the parameters (a forward pass over
        // the growing prefix per token: slow for a large model; --sample-length 0 skips it)
        if (gpu_model) gpu_gpt_download_state(gpu_model.get(), model.params.data(), nullptr, nullptr);
        std::string text = sample_text(model, sample_rng, cfg.sample_length, mc.context_length);
        result.samples.push_back(text);
        if (verbose) std::printf("---- sample at step %lld ----\n%s\n----\n", (long long)step, text.c_str());
    };

    for (int64_t step = start_step; step < end_step; step++) {
        double val = NAN;
        if (cfg.val_every > 0 && step % cfg.val_every == 0) {
            val = evaluate();
            result.val_losses.push_back({step, val});
        }
        double t0 = wall_seconds();
        train_loader.next_batch(inputs.data(), targets.data());
        double loss = forward(inputs.data(), targets.data()), norm;
        if (gpu_model) {
            gpu_gpt_zero_grad(gpu_model.get());
            gpu_gpt_backward(gpu_model.get());
            norm = gpu_gpt_clip_grad_norm(gpu_model.get(), cfg.grad_clip);
        } else {
            gpt_zero_grad(model);
            gpt_backward(model);
            norm = clip_grad_norm(model.grads.data(), model.grads.size(), cfg.grad_clip);
        }
        double s_t = schedule_factor(sched, step), lr_t = cfg.lr * s_t;
        update_lr_extra(step, s_t);
        const bool measuring = cfg.measure_every > 0 && step % cfg.measure_every == 0;
        double t_copy = wall_seconds();
        if (measuring) {
            if (gpu_model) gpu_gpt_snapshot_params(gpu_model.get());
            else params_before = model.params;
            measure_seconds += wall_seconds() - t_copy;
        }
        if (gpu_model)
            gpu_gpt_adamw_step(gpu_model.get(), adam, lr_t, s_t, step + 1, lr_extra.data());
        else
            adamw_step(model.params.data(), model.grads.data(), adam_m.data(), adam_v.data(), model.table, adam, lr_t,
                       s_t, step + 1, lr_extra.data());
        if (gpu_model) gpu::synchronize();  // the step's GPU work is done: time it, not the next call that waits
        double t_step_end = wall_seconds();
        if (measuring) {
            std::string measure_rows;
            for (size_t index : measured) {
                const TensorInfo& t = model.table.tensors[index];
                const int K = t.fan_out, C = t.fan_in;
                double lr_i = lr_t * t.lr_multiplier * lr_extra[index], d = decay_per_step(t, adam, lr_t, s_t);
                MatrixStats st;
                if (gpu_model) {
                    st = gpu_gpt_measure(gpu_model.get(), t, sample, lr_i, d, cfg.beta1);
                } else {
                    x_sample.resize(sample.size() * (size_t)C);
                    gather_rows(gpt_matrix_input(model, t), C, sample, x_sample.data());
                    st = measure_matrix(params_before.data() + t.offset, model.params.data() + t.offset, K, C,
                                        x_sample.data(), (int)sample.size(), lr_i, d, cfg.beta1);
                }
                measure_rows += strprintf(
                             "%lld,%s,%s,%d,%.9g,%.9g,%.9g,%.9g,%.9g,%.9g,%.9g,%.9g,%.9g,%.9g,%.9g,%.9g,%.9g,%.9g,%.9g,%.9g,"
                             "%.9g,%.9g,%.9g\n",
                             (long long)step, t.name.c_str(), role_name(t.role), t.layer, lr_i, lr_i / cfg.lr, d, st.w_norm,
                             st.dw_norm, st.x_norm, st.wx_norm, st.dwx_norm, st.rel_update, st.rrc, st.alpha_w,
                             st.alpha_dw, st.alignment_ratio, st.w_rms, st.u_rms, st.w_rms_equilibrium,
                             st.rel_update_equilibrium, st.angular_update, st.angular_equilibrium);
            }
            measure_log.row(measure_rows);
            measure_seconds += wall_seconds() - t_step_end;
        }
        double now = wall_seconds(), tok_per_s = B * T / std::max(1e-9, now - t0), elapsed = now - t_start;
        step_seconds += now - t0;
        result.train_losses.push_back(loss);
        last_loss = loss;
        double hidden_lr = hidden0 ? lr_t * hidden0->lr_multiplier * lr_extra[hidden0 - model.table.tensors.data()] : lr_t;
        log.row(strprintf("%lld,%.6g,%.6g,%.9g,%s,%.6g,%.1f,%.3f\n", (long long)step, lr_t, hidden_lr, loss,
                          std::isnan(val) ? "" : std::to_string(val).c_str(), norm, tok_per_s, elapsed));
        min_train_loss = std::min(min_train_loss, loss);
        if (!std::isfinite(loss) || loss > diverge_above)
            return diverged(step, "the loss is " + std::to_string(loss) + " at step " + std::to_string(step) +
                                      (std::isfinite(loss) ? " (above --diverge-loss " + std::to_string(diverge_above) + ")" : ""));
        if (verbose && (step % cfg.log_every == 0 || step == end_step - 1 || !std::isnan(val))) {
            double eta = elapsed / (step - start_step + 1) * (end_step - step - 1);
            char valtxt[32] = "";
            if (!std::isnan(val)) std::snprintf(valtxt, sizeof valtxt, " | val %.4f", val);
            std::printf("step %5lld/%lld | loss %.4f%s | lr %.3e | norm %.3f | %.1fk tok/s | %s elapsed | ETA %s\n",
                        (long long)step, (long long)cfg.steps, loss, valtxt, lr_t, norm, tok_per_s / 1000,
                        format_duration(elapsed).c_str(), format_duration(eta).c_str());
            std::fflush(stdout);
        }
        if (cfg.sample_every > 0 && (step + 1) % cfg.sample_every == 0) print_sample(step + 1);
        if (cfg.checkpoint_every > 0 && (step + 1) % cfg.checkpoint_every == 0 && step + 1 < end_step) {
            std::string broken = save(step + 1);
            if (!broken.empty()) return diverged(step, broken + " after step " + std::to_string(step + 1));
        }
    }
    result.last_step = end_step;
    if (end_step == cfg.steps) {
        result.final_val_loss = evaluate();
        result.val_losses.push_back({end_step, result.final_val_loss});
        if (!std::isfinite(result.final_val_loss) || result.final_val_loss > std::min(diverge_above, MAX_SANE_LOSS))
            return diverged(end_step - 1, "the final validation loss is " + std::to_string(result.final_val_loss));
        log.row(strprintf("%lld,,,,%.6f,,,%.3f\n", (long long)end_step, result.final_val_loss, wall_seconds() - t_start));
    }
    log.close();
    measure_log.close();
    if (verbose && cfg.measure_every > 0)
        std::printf("measurements (every %lld steps, %zu tokens, %zu matrices) took %.1f%% of the training steps' time\n",
                    (long long)cfg.measure_every, sample.size(), measured.size(),
                    100 * measure_seconds / std::max(1e-9, step_seconds));
    std::string broken = save(end_step);
    if (!broken.empty()) return diverged(end_step - 1, broken + " after step " + std::to_string(end_step));
    result.status = end_step == cfg.steps ? "done" : "stopped";
    const double measure_fraction = measure_seconds / std::max(1e-9, step_seconds);
    write_file_atomic(cfg.out_dir + "/result.json",
                      "{\"status\":\"" + result.status + "\",\"steps_run\":" + std::to_string(end_step) +
                          ",\"final_val_loss\":" + json_number_or_null(end_step == cfg.steps ? result.final_val_loss : NAN) +
                          ",\"last_train_loss\":" + json_number_or_null(last_loss) +
                          ",\"min_train_loss\":" + json_number_or_null(min_train_loss) +
                          ",\"diverged_at\":null,\"elapsed_s\":" + json_number_or_null(wall_seconds() - t_start) +
                          ",\"measure_fraction\":" + json_number_or_null(measure_fraction) + "}\n");
    if (end_step == cfg.steps) {
        if (!(cfg.sample_every > 0 && end_step % cfg.sample_every == 0)) print_sample(end_step);  // not twice
        std::printf("final: step %lld val loss %.4f | %s elapsed | log %s | checkpoint %s\n", (long long)end_step,
                    result.final_val_loss, format_duration(wall_seconds() - t_start).c_str(), result.log_path.c_str(),
                    result.checkpoint_path.c_str());
    } else {
        std::printf("stopped after step %lld of %lld; continue with: lrt train --resume %s\n", (long long)end_step,
                    (long long)cfg.steps, cfg.out_dir.c_str());
    }
    return result;
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
                  "lrt train [flags]\n\nTrains a GPT with AdamW on the built-in synthetic corpus (default) or on llm.c "
                  "token files, printing progress and writing <out-dir>/log.csv, <out-dir>/run_info.txt and <out-dir>/checkpoint.safetensors.");
    declare_train_flags(flags, cfg);
    if (!flags.parse(argc, argv, 2)) return 0;
    check_model_flags(flags, cfg.model);
    run_training(cfg, flags);
    return 0;
}
