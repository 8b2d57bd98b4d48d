// Training throughput of the CUDA path (cuda/model/gpt_gpu.h) and its model FLOPs
// utilization (MFU), optionally side by side with the same model in PyTorch
// (bench/torch_gpt.py; bench/gpu_vs_torch.sh runs both).
//
//     make bench                      (or: build/bench_gpu [flags]; --help lists them)
//     build/bench_gpu --torch-csv runs/gpu_vs_torch/torch.csv
//
// Without a usable GPU (a build without nvcc, no driver, no device) it prints
// "bench_gpu: skipped: <why>" and exits 0, so `make bench` still passes on a
// CPU-only machine; --require-gpu makes that an error instead (for scripts
// that must not report an empty benchmark as a success).
//
// What is timed. For each width d and each matmul precision (fp32, tf32,
// bf16) the model is built on the host exactly as `lrt train` builds it
// (gpt_build_parameterized with the sp-gpt2 preset, then gpt_init), copied to
// the GPU (train/backend.h's GpuBackend), and trained on random tokens: a few
// warm-up steps (cuBLAS heuristics, first allocations), then K timed steps of
// lrt train's own training step (train/step.h: forward, backward, clip,
// AdamW). The clock is read after gpu::synchronize(), so the figure is
// the GPU's work, not the launch rate. The batch's tokens are host arrays
// copied up every step, as in training. The host model is built once per
// width and shared by the three precisions, so each starts from the same
// initial weights.
//
// Default configuration, the same grid as torch_gpt.py --all:
//   d in {256, 512, 1024, 2048}, depth L = 6, head_dim 64 (NH = d/64),
//   T = 1024, B = 16 (16384 tokens per step at every width, so the rows
//   compare widths at a fixed batch), vocab 50304 (GPT-2's 50257 rounded up
//   to a multiple of 128, as nanoGPT does).
// Why these: L = 6 keeps the widest model (510M parameters, 16 bytes each
// with gradients and Adam moments) and its activations well inside an 80 GB
// GPU, and keeps torch.compile's time per configuration short. The attention
// keeps its (B, NH, T, T) probabilities for every layer (2 GiB per layer at
// d = 2048, B = 16, as floats), and the logits, their softmax and their
// gradient are three (B*T, V) float arrays (9.2 GiB at B*T = 16384). The
// table's "est GiB" column adds up the buffers of src/model/model.h and four
// copies of the parameters: 13, 17, 26 and 45 GiB for d = 256 ... 2048,
// which leaves room on an 80 GB H100 for what it cannot see (the attention's
// scratch, e.g. a (B, NH, T, T) gradient of the probabilities, and cuBLAS's
// workspace). For wider or longer runs lower --batch: the logits and
// activations grow with B*T, the attention probabilities with B*T*T.
//
// FLOPs per token (the "6N" rule of Kaplan et al. 2020 plus attention, as in
// PaLM's MFU, Chowdhery et al. 2022, appendix B):
//   6 * P + 12 * L * T * d
// where P counts the parameters outside the token and position embeddings,
// the readout (lm_head, V x d) included once: every such parameter is one
// multiply-add per token forward and two backward. 12 L T d is the attention's
// two products (Q K^T and A V), 2 * 2 * T * d per token per layer forward,
// times 3 for forward and backward, with causal attention counted as the
// full T x T square, as PaLM does (a kernel that skips the masked half does
// half of that work). Layernorm, softmax, GELU and the optimizer are not
// counted. MFU = tokens/s * FLOPs/token / (the GPU's dense peak for the
// precision), so it is comparable across implementations of the same model.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "util/flags.h"
#include "model/gpt_gpu.h"
#include "gpu.h"
#include "model/model.h"
#include "model/model_config.h"
#include "optim/optimizer.h"
#include "param/parameterization.h"
#include "train/backend.h"
#include "train/step.h"
#include "util/rng.h"
#include "util/util.h"

namespace {

// ------------------------------------------------------------- peak FLOP/s

// Dense (no 2:4 sparsity) peaks in TFLOP/s from NVIDIA's datasheets; the
// tensor-core figures there are usually quoted with sparsity, i.e. twice
// these. fp32 is the CUDA-core figure (no tensor cores). Keep in step with
// PEAKS in bench/torch_gpt.py.
struct PeakEntry {
    const char* match;  // a substring of the device name (case-insensitive); first match wins
    const char* label;
    double fp32, tf32, bf16;
};
const PeakEntry PEAKS[] = {
    {"H100 PCIe", "H100 PCIe", 51, 378, 756},
    {"GH200", "GH200 (as H100 SXM)", 67, 494.7, 989.4},  // before "H200", which it contains
    {"H200 NVL", "H200 NVL", 60, 417.5, 835.5},
    {"H200", "H200 SXM (as H100 SXM)", 67, 494.7, 989.4},
    // H100 NVL has its own (lower-clocked) figures that we have not checked:
    // it falls through to "unknown" (no MFU unless --peak-tflops) rather than
    // being reported against the SXM peak.
    {"H100 NVL", nullptr, 0, 0, 0},
    {"H100", "H100 SXM", 67, 494.7, 989.4},
    {"A100", "A100", 19.5, 156, 312},  // SXM and PCIe have the same peaks
};

std::string lower(std::string s) {
    for (char& c : s) c = (char)std::tolower((unsigned char)c);
    return s;
}

struct Peak {
    std::string label;           // empty: unknown device
    double fp32 = 0, tf32 = 0, bf16 = 0;  // TFLOP/s; 0 = unknown
    double of(gpu::Precision p) const {
        return p == gpu::Precision::FP32 ? fp32 : p == gpu::Precision::TF32 ? tf32 : bf16;
    }
};

Peak detect_peak(const std::string& device) {
    Peak p;
    const std::string dev = lower(device);
    for (const PeakEntry& e : PEAKS)
        if (dev.find(lower(e.match)) != std::string::npos) {
            if (e.label) p = {e.label, e.fp32, e.tf32, e.bf16};
            break;
        }
    return p;
}

// ------------------------------------------------------------------- CSV

// The columns of bench_gpu's CSV and of torch_gpt.py's, in this order, so
// that the two files can be concatenated and read by the same code. mode is
// "lrt" for this program, "eager" or "compile" for PyTorch. Empty peak_tflops
// and mfu: the device's peak is unknown. peak_mem_gib: PyTorch's
// max_memory_allocated; empty here (gpu.h has no memory query).
const char* const CSV_COLUMNS[] = {"d",       "depth",         "seq_len",   "batch",           "vocab",
                                   "head_dim", "precision",    "mode",      "tokens_per_s",    "step_ms",
                                   "flops_per_token", "achieved_tflops", "peak_tflops", "mfu", "loss",
                                   "steps",   "warmup",        "warmup_s",  "peak_mem_gib",    "device",
                                   "software"};

std::string csv_field(const std::string& s) {
    if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
    std::string q = "\"";
    for (char c : s) {
        if (c == '"') q += '"';
        q += c;
    }
    return q + "\"";
}

// RFC 4180 records: quoted fields may hold commas, doubled quotes and line
// breaks; \r\n and \n both end a record; blank lines are skipped.
std::vector<std::vector<std::string>> parse_csv(const std::string& text, const std::string& path) {
    std::vector<std::vector<std::string>> rows;
    std::vector<std::string> row;
    std::string field;
    bool quoted = false, any = false;
    for (size_t i = 0; i < text.size(); i++) {
        char c = text[i];
        if (quoted) {
            if (c == '"') {
                if (i + 1 < text.size() && text[i + 1] == '"') {
                    field += '"';
                    i++;
                } else {
                    quoted = false;
                }
            } else {
                field += c;
            }
        } else if (c == '"') {
            quoted = true;
            any = true;
        } else if (c == ',') {
            row.push_back(field);
            field.clear();
            any = true;
        } else if (c == '\n' || c == '\r') {
            if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') i++;
            if (any || !field.empty()) {
                row.push_back(field);
                rows.push_back(row);
            }
            row.clear();
            field.clear();
            any = false;
        } else {
            field += c;
            any = true;
        }
    }
    if (quoted) fail(path + ": unterminated quoted field");
    if (any || !field.empty()) {
        row.push_back(field);
        rows.push_back(row);
    }
    return rows;
}

// One row of either CSV.
struct Result {
    int d = 0, depth = 0, seq_len = 0, batch = 0, vocab = 0, head_dim = 0;
    std::string precision, mode;
    double tokens_per_s = 0, step_ms = 0, flops_per_token = 0, achieved_tflops = 0;
    double peak_tflops = 0;  // 0: unknown
    double loss = 0;
    int steps = 0, warmup = 0;
    double warmup_s = 0;
    std::string peak_mem_gib, device, software;
    std::string error;  // set when the configuration failed (not written to the CSV)

    double mfu() const { return peak_tflops > 0 ? achieved_tflops / peak_tflops : -1; }
    // The model and batch, without the precision and mode.
    bool same_shape(const Result& o) const {
        return d == o.d && depth == o.depth && seq_len == o.seq_len && batch == o.batch && vocab == o.vocab &&
               head_dim == o.head_dim;
    }
};

std::string fmt(const char* f, double x) {
    char buf[64];
    std::snprintf(buf, sizeof buf, f, x);
    return buf;
}

std::string csv_text(const std::vector<Result>& rows) {
    std::string s;
    for (const char* c : CSV_COLUMNS) s += std::string(s.empty() ? "" : ",") + c;
    s += "\n";
    for (const Result& r : rows) {
        if (!r.error.empty()) continue;
        std::vector<std::string> f = {std::to_string(r.d),
                                      std::to_string(r.depth),
                                      std::to_string(r.seq_len),
                                      std::to_string(r.batch),
                                      std::to_string(r.vocab),
                                      std::to_string(r.head_dim),
                                      r.precision,
                                      r.mode,
                                      fmt("%.1f", r.tokens_per_s),
                                      fmt("%.3f", r.step_ms),
                                      fmt("%.0f", r.flops_per_token),  // an integer, exact in a double
                                      fmt("%.6g", r.achieved_tflops),
                                      r.peak_tflops > 0 ? fmt("%g", r.peak_tflops) : "",
                                      r.peak_tflops > 0 ? fmt("%.6g", r.mfu()) : "",
                                      fmt("%.5f", r.loss),
                                      std::to_string(r.steps),
                                      std::to_string(r.warmup),
                                      fmt("%.2f", r.warmup_s),
                                      r.peak_mem_gib,
                                      r.device,
                                      r.software};
        for (size_t i = 0; i < f.size(); i++) s += (i ? "," : "") + csv_field(f[i]);
        s += "\n";
    }
    return s;
}

// Reads torch_gpt.py's CSV: the columns the comparison needs, by name.
std::vector<Result> read_torch_csv(const std::string& path) {
    const std::vector<uint8_t> bytes = read_file(path);
    const auto rows = parse_csv(std::string(bytes.begin(), bytes.end()), path);
    if (rows.empty()) fail(path + ": empty (expected the CSV that bench/torch_gpt.py --csv-append writes)");
    std::map<std::string, size_t> col;
    for (size_t i = 0; i < rows[0].size(); i++) col[rows[0][i]] = i;
    for (const char* need : {"d", "depth", "seq_len", "batch", "vocab", "head_dim", "precision", "mode",
                             "tokens_per_s", "flops_per_token"})
        if (!col.count(need))
            fail(path + ": no column '" + need + "' in the header (expected the CSV of bench/torch_gpt.py)");
    std::vector<Result> out;
    for (size_t r = 1; r < rows.size(); r++) {
        const std::vector<std::string>& row = rows[r];
        const std::string where = path + " record " + std::to_string(r + 1);
        auto get = [&](const char* name) -> std::string {
            size_t i = col.at(name);
            return i < row.size() ? row[i] : std::string();
        };
        auto number = [&](const char* name) {
            const std::string s = get(name);
            char* end = nullptr;
            double v = std::strtod(s.c_str(), &end);
            if (s.empty() || *end != '\0' || !std::isfinite(v))
                fail(where + ": column " + name + " is '" + s + "', not a number");
            return v;
        };
        auto optional = [&](const char* name) {
            if (!col.count(name) || get(name).empty()) return 0.0;
            return number(name);
        };
        Result t;
        t.d = (int)number("d");
        t.depth = (int)number("depth");
        t.seq_len = (int)number("seq_len");
        t.batch = (int)number("batch");
        t.vocab = (int)number("vocab");
        t.head_dim = (int)number("head_dim");
        t.precision = get("precision");
        t.mode = get("mode");
        t.tokens_per_s = number("tokens_per_s");
        t.flops_per_token = number("flops_per_token");
        t.peak_tflops = optional("peak_tflops");
        if (col.count("device")) t.device = get("device");
        if (col.count("software")) t.software = get("software");
        out.push_back(t);
    }
    return out;
}

// ------------------------------------------------------------ the model

// 6 P + 12 L T d; see the comment at the top.
double flops_per_token(const GPT<float>& model, int Tn) {
    const ModelConfig& c = model.config;
    double p = 0;
    for (const TensorInfo& t : model.table.tensors)
        if (t.role != TensorRole::TokenEmbedding && t.role != TensorRole::PositionEmbedding) p += (double)t.numel;
    // a tied readout has no row of its own but still costs its matmul
    if (c.tie_embeddings) p += (double)c.vocab_size * c.width;
    return 6.0 * p + 12.0 * c.depth * (double)Tn * c.width;
}

// GiB of the buffers src/model/model.h's GPT keeps for a (B, T) batch, which the
// GPU twin mirrors, plus parameters, gradients and the two Adam moments. It
// leaves out the attention's scratch (per-head q, k, v copies and the
// probabilities' gradient), cuBLAS's workspace and the parameter snapshot
// for measurements, none of which gpu.h lets us see.
double estimated_gib(const ModelConfig& c, size_t params, int B, int Tn) {
    const double N = (double)B * Tn, C = c.width, H = c.mlp_width(), V = c.vocab_size;
    const double att = (double)B * c.num_heads() * Tn * Tn;
    const double per_block = 10 * N * C + 2 * N * H + 4 * N + att;  // BlockActivations
    const double global = 2 * N * C + 3 * N + 3 * N * V   // encoded, ln_f (+ stats), logits, probs, d_logits, losses
                          + 9 * N * C + 2 * N * H;         // backward scratch (d_stream, d_qkv, d_fc, ...)
    return (c.depth * per_block + global + 4.0 * params) * sizeof(float) / (1024.0 * 1024 * 1024);
}

struct Batch {
    std::vector<int> inputs, targets;
};

// Uniform random tokens. The speed of every kernel is independent of the
// token values except the token embedding's gradient, whose deterministic
// form groups positions by token (how often tokens repeat changes its work;
// uniform draws over 50304 ids repeat less than text does).
std::vector<Batch> random_batches(int count, int B, int Tn, int V, uint64_t seed) {
    Rng rng(seed);
    std::vector<Batch> out(count);
    for (Batch& b : out) {
        b.inputs.resize((size_t)B * Tn);
        b.targets.resize((size_t)B * Tn);
        for (int s = 0; s < B; s++) {
            // one sequence of T+1 tokens: targets are the inputs shifted by one
            std::vector<int> seq(Tn + 1);
            for (int& t : seq) t = (int)rng.below((uint64_t)V);
            for (int t = 0; t < Tn; t++) {
                b.inputs[(size_t)s * Tn + t] = seq[t];
                b.targets[(size_t)s * Tn + t] = seq[t + 1];
            }
        }
    }
    return out;
}


struct Settings {
    std::string widths = "256,512,1024,2048";
    std::string precisions = "fp32,tf32,bf16";
    int depth = 6, seq_len = 1024, batch = 16, vocab = 50304, head_dim = 64;
    int steps = 10, warmup = 3, device = 0, seed = 1;
    double lr = 6e-4, weight_decay = 0.1, grad_clip = 1.0;
    bool deterministic = true, require_gpu = false, check_only = false;
    std::string csv = "runs/bench_gpu.csv", torch_csv, peak_tflops;
};

// Trains `steps` steps after `warmup` steps; fills the timing fields of r.
// (lrt train's own step, train/step.h, at a constant LR: the schedule costs
// nothing on the GPU)
void time_training(Backend& g, const TensorTable& table, const std::vector<Batch>& batches, const Settings& s,
                   Result& r) {
    int64_t step = 0;
    double loss = 0;
    auto one_step = [&] {
        const Batch& b = batches[(size_t)step % batches.size()];
        StepPlan plan;
        plan.step = ++step;  // 1-based
        plan.grad_clip = s.grad_clip;
        loss = training_step(g, table, b.inputs.data(), b.targets.data(), s.batch, s.seq_len, plan).loss;
    };
    gpu::synchronize();
    const double w0 = wall_seconds();
    for (int i = 0; i < s.warmup; i++) one_step();
    gpu::synchronize();
    const double t0 = wall_seconds();
    for (int i = 0; i < s.steps; i++) one_step();
    gpu::synchronize();  // the clock stops when the GPU has finished, not when the launches have
    const double t1 = wall_seconds();
    r.warmup_s = t0 - w0;
    r.step_ms = (t1 - t0) / s.steps * 1e3;
    r.tokens_per_s = (double)s.batch * s.seq_len * s.steps / (t1 - t0);
    r.achieved_tflops = r.tokens_per_s * r.flops_per_token * 1e-12;
    r.loss = loss;
}

std::string mfu_text(double mfu) { return mfu < 0 ? "n/a" : fmt("%.1f%%", 100 * mfu); }

// Writes the CSV after every configuration, so a run stopped part way keeps
// what it measured.
void save_csv(const Settings& s, const std::vector<Result>& results) {
    if (s.csv.empty()) return;
    const size_t slash = s.csv.rfind('/');
    if (slash != std::string::npos && slash > 0) make_dirs(s.csv.substr(0, slash));
    write_file_atomic(s.csv, csv_text(results));
}

void print_comparison(const std::vector<Result>& ours, const std::vector<Result>& torch, const std::string& path,
                      const std::string& preset) {
    std::printf("\nagainst PyTorch (%s): ratio = lrt tokens/s / PyTorch tokens/s (> 1: lrt is faster)\n",
                path.c_str());
    if (preset != "sp-gpt2")
        std::printf("note: --param %s here, while torch_gpt.py is always the sp-gpt2 forward pass\n",
                    preset.c_str());
    std::printf("%6s %-5s %-8s | %12s %8s | %12s %8s | %7s\n", "d", "prec", "torch", "torch tok/s", "MFU",
                "lrt tok/s", "MFU", "ratio");
    int missing = 0;
    for (const Result& o : ours) {
        if (!o.error.empty()) continue;
        for (const char* mode : {"eager", "compile"}) {
            // the last matching row: a CSV appended to again holds the newest run last
            const Result* t = nullptr;
            for (const Result& x : torch)
                if (x.same_shape(o) && x.precision == o.precision && x.mode == mode) t = &x;
            if (!t) {
                std::printf("%6d %-5s %-8s | %12s\n", o.d, o.precision.c_str(), mode, "(no row)");
                missing++;
                continue;
            }
            // Both MFUs against this run's peak (the same GPU is assumed; see
            // the device column of the torch CSV), from each side's own count
            // of FLOPs per token, which must agree if the models are the same.
            const double torch_mfu = o.peak_tflops > 0 ? t->tokens_per_s * t->flops_per_token * 1e-12 / o.peak_tflops
                                                       : -1;
            std::printf("%6d %-5s %-8s | %12.0f %8s | %12.0f %8s | %7.3f", o.d, o.precision.c_str(), mode,
                        t->tokens_per_s, mfu_text(torch_mfu).c_str(), o.tokens_per_s, mfu_text(o.mfu()).c_str(),
                        o.tokens_per_s / t->tokens_per_s);
            if (std::fabs(t->flops_per_token - o.flops_per_token) > 0.5)
                std::printf("  MODEL MISMATCH: torch counts %.0f FLOPs/token, lrt %.0f", t->flops_per_token,
                            o.flops_per_token);
            std::printf("\n");
        }
    }
    if (missing)
        std::printf("(%d comparison%s without a PyTorch row of the same d, depth, seq_len, batch, vocab, head_dim "
                    "and precision)\n",
                    missing, missing == 1 ? "" : "s");
    std::string torch_device;
    for (const Result& x : torch)
        if (!x.device.empty()) torch_device = x.device;
    if (!torch_device.empty()) std::printf("PyTorch rows measured on: %s\n", torch_device.c_str());
}

int run(int argc, char** argv) {
    Settings s;
    ParamConfig pc;  // sp-gpt2 by default, as `lrt train`
    FlagSet f("bench_gpu",
              "build/bench_gpu [flags]\n\n"
              "Training throughput (tokens/s) and model FLOPs utilization of the CUDA path, per width and matmul\n"
              "precision; with --torch-csv, the ratio to PyTorch on the same model (bench/torch_gpt.py).\n"
              "FLOPs/token = 6 * (parameters outside the embeddings, readout included) + 12 * L * T * d.");
    f.section("Grid");
    f.add("widths", &s.widths, "comma-separated model widths d");
    f.add("precisions", &s.precisions, "comma-separated matmul precisions (fp32, tf32, bf16)");
    f.add("depth", &s.depth, "transformer blocks L", between(1, 4096));
    f.add("seq-len", &s.seq_len, "tokens per sequence T (also the context length)", between(1, 1 << 20));
    f.add("batch", &s.batch, "sequences per step B", at_least(1));
    f.add("vocab", &s.vocab, "vocabulary size V (50304 = GPT-2's 50257 rounded up to 128s)", between(2, 65536));
    f.add("head-dim", &s.head_dim, "attention head dimension; heads = d / head-dim", at_least(1));
    f.section("Timing");
    f.add("steps", &s.steps, "timed training steps per configuration", at_least(1));
    f.add("warmup", &s.warmup, "untimed training steps before them", at_least(0));
    f.add("seed", &s.seed, "seed of the initial weights and of the random tokens", at_least(0));
    f.add("lr", &s.lr, "AdamW learning rate (constant)", positive());
    f.add("weight-decay", &s.weight_decay, "AdamW weight decay", at_least(0));
    f.add("grad-clip", &s.grad_clip, "global gradient-norm clip; 0 = only measure the norm", at_least(0));
    f.section("GPU");
    f.add("device", &s.device, "CUDA device index", at_least(0));
    f.add("deterministic", &s.deterministic,
          "deterministic token-embedding gradient (gpu::Options; --no-deterministic uses atomics)");
    f.add("require-gpu", &s.require_gpu, "fail (exit 1) instead of skipping when no GPU can be used");
    f.add("check-only", &s.check_only,
          "print the device, its peaks and the settings, then exit: 0 with a usable GPU, 1 without (for scripts)");
    f.add("peak-tflops", &s.peak_tflops,
          "dense peak TFLOP/s for MFU: one number for every precision, or three for fp32,tf32,bf16; "
          "empty = detect from the device name");
    f.section("Output");
    f.add("csv", &s.csv, "write the results here (atomically, after every configuration); empty = no CSV");
    f.add("torch-csv", &s.torch_csv, "CSV from bench/torch_gpt.py: print lrt / PyTorch per row");
    declare_param_flags(f, pc);
    if (!f.parse(argc, argv, 1)) return 0;

    // Everything the flags can get wrong fails here, before any GPU time.
    std::vector<int> widths;
    for (int64_t d : parse_int_list(s.widths, "--widths", 1, 1 << 16)) widths.push_back((int)d);
    std::vector<gpu::Precision> precisions;
    for (const std::string& p : split(s.precisions, ',')) {
        if (p != "fp32" && p != "tf32" && p != "bf16")
            fail("--precisions: '" + p + "' is not fp32, tf32 or bf16");
        precisions.push_back(p == "fp32" ? gpu::Precision::FP32
                                         : p == "tf32" ? gpu::Precision::TF32 : gpu::Precision::BF16);
    }
    if (precisions.empty()) fail("--precisions is empty");
    std::vector<double> peak_override;
    if (!s.peak_tflops.empty()) {
        peak_override = parse_positive_list(s.peak_tflops, "--peak-tflops");
        if (peak_override.size() != 1 && peak_override.size() != 3)
            fail("--peak-tflops takes one number or three (fp32,tf32,bf16), got " +
                 std::to_string(peak_override.size()));
    }
    std::vector<ModelConfig> sizes;
    for (int d : widths) {
        if (d % s.head_dim != 0)
            fail("--widths: " + std::to_string(d) + " is not a multiple of --head-dim " + std::to_string(s.head_dim));
        ModelConfig c;
        c.vocab_size = s.vocab;
        c.context_length = s.seq_len;
        c.width = d;
        c.depth = s.depth;
        c.head_dim = s.head_dim;
        c.validate();  // e.g. d not a multiple of --head-dim
        sizes.push_back(c);
    }
    if ((int64_t)s.batch * s.seq_len > (1 << 28)) fail("--batch x --seq-len exceeds 2^28 positions");
    std::vector<Result> torch_rows;
    if (!s.torch_csv.empty()) torch_rows = read_torch_csv(s.torch_csv);  // a bad file fails before the GPU work

    std::string why;
    if (!gpu::available(&why, s.device)) {
        if (s.require_gpu || s.check_only) fail("no usable GPU: " + why);
        std::printf("bench_gpu: skipped: %s\n", why.c_str());
        return 0;
    }
    gpu::Options opt;
    opt.device = s.device;
    opt.deterministic = s.deterministic;
    gpu::init(opt);  // so that describe_device() has a device to describe
    const std::string device = gpu::describe_device();
    Peak peak = detect_peak(device);
    if (!peak_override.empty()) {
        const bool one = peak_override.size() == 1;
        peak = {"--peak-tflops", peak_override[0], one ? peak_override[0] : peak_override[1],
                one ? peak_override[0] : peak_override[2]};
    }
    const int tokens_per_step = s.batch * s.seq_len;

    std::printf("bench_gpu: training throughput of the CUDA path (cuda/model/gpt_gpu.h)\n");
    std::printf("device:  %s\n", device.c_str());
    std::printf("host:    %s; compiled by g++ %s\n", cpu_model_name().c_str(), __VERSION__);
    if (peak.label.empty())
        std::printf("peak:    unknown device, MFU n/a (give --peak-tflops fp32,tf32,bf16)\n");
    else
        std::printf("peak:    %s, dense TFLOP/s: fp32 %g, tf32 %g, bf16 %g\n", peak.label.c_str(), peak.fp32,
                    peak.tf32, peak.bf16);
    std::printf("model:   GPT-2 blocks, L=%d, T=%d, B=%d (%d tokens/step), head_dim %d, vocab %d, --param %s\n",
                s.depth, s.seq_len, s.batch, tokens_per_step, s.head_dim, s.vocab, preset_name(pc.preset));
    std::printf("step:    forward, zero_grad, backward, clip %g, AdamW (lr %g, wd %g); %d warm-up + %d timed steps, "
                "random tokens%s\n",
                s.grad_clip, s.lr, s.weight_decay, s.warmup, s.steps,
                s.deterministic ? "" : ", non-deterministic embedding gradient");
    std::printf("FLOPs/token = 6 * (params outside the embeddings, readout included) + 12 * L * T * d\n"
                "  (causal attention counted as the full T x T square, as PaLM's MFU does); MFU = that x tokens/s "
                "/ peak\n");
    std::printf("est GiB: the model.h buffers + 4 x params (no attention scratch or cuBLAS workspace)\n");
    if (s.check_only) return 0;
    std::printf("\n");
    std::printf("%6s %-5s %9s %9s %8s | %9s %10s %8s %7s %8s %8s\n", "d", "prec", "params M", "GFLOP/tok",
                "est GiB", "step ms", "tok/s", "TFLOP/s", "MFU", "loss", "warmup s");
    std::fflush(stdout);

    std::vector<Result> results;
    int failures = 0;
    const double start = wall_seconds();
    for (size_t wi = 0; wi < widths.size(); wi++) {
        const int d = widths[wi];
        // The host model: built and initialized as `lrt train` does, once per
        // width (drawing 500M normals takes a while at d = 2048).
        GPT<float> host;
        OptimizerConfig optim;
        optim.lr = s.lr;
        optim.weight_decay = s.weight_decay;
        optim.grad_clip = s.grad_clip;
        gpt_build_parameterized(host, sizes[wi], pc, optim);
        gpt_init(host, (uint64_t)s.seed);
        const double fpt = flops_per_token(host, s.seq_len);
        const double est = estimated_gib(host.config, host.table.total, s.batch, s.seq_len);
        const std::vector<Batch> batches = random_batches(4, s.batch, s.seq_len, s.vocab, (uint64_t)s.seed + 1000);
        for (gpu::Precision prec : precisions) {
            Result r;
            r.d = d;
            r.depth = s.depth;
            r.seq_len = s.seq_len;
            r.batch = s.batch;
            r.vocab = s.vocab;
            r.head_dim = s.head_dim;
            r.precision = gpu::precision_name(prec);
            r.mode = "lrt";
            r.flops_per_token = fpt;
            r.peak_tflops = peak.of(prec);
            r.steps = s.steps;
            r.warmup = s.warmup;
            r.device = device;
            r.software = std::string("lrt cuda/model/gpt_gpu.h, ") + (s.deterministic ? "deterministic" : "atomics") +
                         ", --param " + preset_name(pc.preset);
            std::printf("%6d %-5s %9.1f %9.3f %8.1f | ", d, r.precision.c_str(), host.table.total / 1e6,
                        fpt * 1e-9, est);
            std::fflush(stdout);
            try {
                gpu::Options o = opt;
                o.precision = prec;
                GpuBackend g(host, nullptr, o);  // freed on any exit, errors included
                time_training(g, host.table, batches, s, r);
                if (!std::isfinite(r.loss)) r.error = "loss is " + fmt("%g", r.loss);
            } catch (const std::exception& e) {
                r.error = e.what();
            }
            if (r.error.empty())
                std::printf("%9.2f %10.0f %8.1f %7s %8.4f %8.1f\n", r.step_ms, r.tokens_per_s, r.achieved_tflops,
                            mfu_text(r.mfu()).c_str(), r.loss, r.warmup_s);
            else
                std::printf("failed: %s\n", r.error.c_str());
            std::fflush(stdout);
            failures += !r.error.empty();
            results.push_back(r);
            save_csv(s, results);
        }
    }
    std::printf("\n(%zu configuration%s in %s%s)\n", results.size(), results.size() == 1 ? "" : "s",
                format_duration(wall_seconds() - start).c_str(),
                s.csv.empty() ? "" : ("; CSV " + s.csv).c_str());
    if (!s.torch_csv.empty()) print_comparison(results, torch_rows, s.torch_csv, preset_name(pc.preset));
    if (failures) {
        std::fprintf(stderr, "bench_gpu: %d configuration%s failed\n", failures, failures == 1 ? "" : "s");
        return 1;
    }
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    try {
        return run(argc, argv);
    } catch (const std::exception& e) {
        std::fflush(stdout);
        std::fprintf(stderr, "bench_gpu: error: %s\n", e.what());
        return 1;
    }
}
