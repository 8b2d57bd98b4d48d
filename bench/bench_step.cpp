// make bench: the whole CPU training step (lrt train's own: forward, backward,
// clip, AdamW), per configuration: tokens/s, GFLOP/s, % of the fp32 FMA peak
// measured in this process, peak resident memory, and the time of each phase
// of the step; and, where a Python with torch is present, PyTorch's tokens/s
// on the same model (bench/torch_gpt.py --device cpu), the two alternated
// --rounds times, with the median ratio.
//
// FLOPs per token: 6 N + 6 L d T, N the parameters outside the embeddings
// (readout included), the attention products counted for the causal half
// of the T x T square that a step needs.
//
// Each configuration runs in a forked child, so that its peak resident memory
// (getrusage) is its own.
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "model/model.h"
#include "model/profile.h"
#include "optim/optimizer.h"
#include "param/parameterization.h"
#include "train/backend.h"
#include "util/flags.h"
#include "util/rng.h"
#include "util/util.h"

namespace {

struct Settings {
    std::string widths = "128,256,512", seq_lens = "128,256";
    int depth = 4, batch = 16, head_dim = 64, vocab = 256, steps = 5, warmup = 1, threads = 2, rounds = 3;
    std::string python = "/usr/bin/python3";
    std::string openblas_coretype = "auto";
    bool torch = true;
};

// One configuration's figures (the child's report to the parent).
struct Figures {
    double tokens_per_s = 0, forward_ms = 0, backward_ms = 0, clip_ms = 0, update_ms = 0, rss_mib = 0;
    double layer_ms[(int)LayerKind::Count] = {};  // forward + backward, per step, by kind of layer
};

// The fp32 FMA peak of `threads` threads: independent vector FMA chains, as
// many as hide the latency, for about `seconds`.
double measure_fma_peak(int threads, double seconds = 0.3) {
    typedef float v16 __attribute__((vector_size(64)));
    const int CHAINS = 12;
    double gflops = 0;
#ifdef _OPENMP
#pragma omp parallel num_threads(threads) reduction(+ : gflops)
#endif
    {
        v16 acc[CHAINS], mul, add;
        for (int i = 0; i < 16; i++) mul[i] = 0.999999f, add[i] = 1e-7f;
        for (int c = 0; c < CHAINS; c++)
            for (int i = 0; i < 16; i++) acc[c][i] = (float)c;
        long iterations = 0;
        const double t0 = wall_seconds();
        double t = t0;
        while (t - t0 < seconds) {
            for (int k = 0; k < 4096; k++)
                for (int c = 0; c < CHAINS; c++) acc[c] = acc[c] * mul + add;
            iterations += 4096;
            t = wall_seconds();
        }
        float sink = 0;
        for (int c = 0; c < CHAINS; c++) sink += acc[c][0];
        if (sink == 12345.f) std::printf(" ");  // keep the loop
        gflops += (double)iterations * CHAINS * 16 * 2 / (t - t0) * 1e-9;
    }
    (void)threads;
    return gflops;
}

double flops_per_token(const GPT<float>& model, int T) {
    double n = 0;
    for (const TensorInfo& t : model.table.tensors)
        if (t.role != TensorRole::TokenEmbedding && t.role != TensorRole::PositionEmbedding) n += (double)t.numel;
    const ModelConfig& c = model.config;
    return 6 * n + 6.0 * c.depth * c.width * T;
}

// lrt train's step, phase by phase, timed.
Figures run_ours(const Settings& s, int d, int T) {
#ifdef _OPENMP
    omp_set_num_threads(s.threads);
#endif
    ModelConfig sizes;
    sizes.vocab_size = s.vocab;
    sizes.context_length = T;
    sizes.width = d;
    sizes.depth = s.depth;
    sizes.head_dim = s.head_dim;
    GPT<float> model;
    gpt_build_parameterized(model, sizes, ParamConfig(), OptimizerConfig());
    gpt_init(model, 1);
    OptimizerState<float> state(model.table);
    CpuBackend<float> backend(model, state);
    Rng rng(1001);
    std::vector<int> in((size_t)s.batch * T), tg(in.size());
    Figures f;
    g_layer_profile.enabled = true;
    for (int i = 0; i < s.warmup + s.steps; i++) {
        if (i == s.warmup) g_layer_profile.reset();
        for (size_t k = 0; k < in.size(); k++) in[k] = (int)rng.below(s.vocab), tg[k] = (int)rng.below(s.vocab);
        const double t0 = wall_seconds();
        backend.forward(in.data(), tg.data(), s.batch, T);
        const double t1 = wall_seconds();
        backend.backward();
        const double t2 = wall_seconds();
        backend.clip_grad_norm(1.0);
        const double t3 = wall_seconds();
        backend.optimizer_step(1.0, i + 1, nullptr);
        const double t4 = wall_seconds();
        if (i < s.warmup) continue;
        f.forward_ms += (t1 - t0) * 1e3 / s.steps;
        f.backward_ms += (t2 - t1) * 1e3 / s.steps;
        f.clip_ms += (t3 - t2) * 1e3 / s.steps;
        f.update_ms += (t4 - t3) * 1e3 / s.steps;
    }
    for (int k = 0; k < (int)LayerKind::Count; k++) f.layer_ms[k] = g_layer_profile.seconds[k] * 1e3 / s.steps;
    const double step_ms = f.forward_ms + f.backward_ms + f.clip_ms + f.update_ms;
    f.tokens_per_s = (double)s.batch * T / (step_ms * 1e-3);
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    f.rss_mib = u.ru_maxrss / 1024.0;
    return f;
}

// work() in a forked child, its result (plain data) back through a pipe.
// Everything that starts OpenMP threads runs in a child: the parent stays
// single-threaded, so fork never copies a thread pool (libgomp hangs then),
// and each run's peak RSS is its own.
template <typename R, typename Work>
R in_child(const std::string& what, Work work) {
    int fds[2];
    if (pipe(fds) != 0) fail("bench_step: pipe failed");
    std::fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) fail("bench_step: fork failed");
    if (pid == 0) {
        close(fds[0]);
        R r = work();
        ssize_t n = write(fds[1], &r, sizeof r);
        _exit(n == (ssize_t)sizeof r ? 0 : 1);
    }
    close(fds[1]);
    R r{};
    ssize_t n = read(fds[0], &r, sizeof r);
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    if (n != (ssize_t)sizeof r || !WIFEXITED(status) || WEXITSTATUS(status) != 0) fail("bench_step: " + what + " failed");
    return r;
}

Figures run_ours_forked(const Settings& s, int d, int T) {
    return in_child<Figures>("the run at d=" + std::to_string(d) + " T=" + std::to_string(T),
                             [&] { return run_ours(s, d, T); });
}

// The OpenBLAS kernel for this CPU's widest FMA: SkylakeX (AVX-512), Haswell
// (AVX2), or "" (let OpenBLAS choose).
std::string best_openblas_core() {
    std::ifstream in("/proc/cpuinfo");  // (a /proc file has no size: read it as a stream)
    const std::string info((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (info.find(" avx512f") != std::string::npos) return "SkylakeX";
    if (info.find(" avx2") != std::string::npos && info.find(" fma") != std::string::npos) return "Haswell";
    return "";
}

// PyTorch's tokens/s on the same model, or 0 when it cannot run.
double run_torch(const Settings& s, int d, int T, std::string* why) {
    const std::string csv = "build/bench_step_torch.csv";
    std::remove(csv.c_str());
    // PyTorch's matmuls are OpenBLAS's: give it the best kernel this CPU runs
    // (on a CPU it does not recognize it falls back to a generic SSE3 one, 4-5x
    // slower here), and none of the environment's old-build workarounds
    std::string env = "env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE ";
    const std::string core = s.openblas_coretype == "auto" ? best_openblas_core() : s.openblas_coretype;
    if (core != "none" && !core.empty()) env += "OPENBLAS_CORETYPE=" + core + " ";
    const std::string cmd = env + s.python +
                            " bench/torch_gpt.py --device cpu --threads " + std::to_string(s.threads) + " --d " +
                            std::to_string(d) + " --depth " + std::to_string(s.depth) + " --seq-len " +
                            std::to_string(T) + " --batch " + std::to_string(s.batch) + " --vocab " +
                            std::to_string(s.vocab) + " --head-dim " + std::to_string(s.head_dim) + " --steps " +
                            std::to_string(s.steps) + " --warmup " + std::to_string(s.warmup) + " --csv-append " +
                            csv + " > build/bench_step_torch.log 2>&1";
    if (std::system(cmd.c_str()) != 0) {
        std::vector<uint8_t> log = file_exists("build/bench_step_torch.log") ? read_file("build/bench_step_torch.log")
                                                                            : std::vector<uint8_t>();
        std::string text(log.begin(), log.end());
        *why = text.substr(text.rfind('\n', text.size() >= 2 ? text.size() - 2 : 0) + 1);
        return 0;
    }
    std::vector<uint8_t> bytes = read_file(csv);
    std::string text(bytes.begin(), bytes.end());
    std::vector<std::string> lines = split(text, '\n');
    if (lines.size() < 2) return 0;
    std::vector<std::string> header = split(lines[0], ','), row = split(lines[1], ',');
    for (size_t i = 0; i < header.size() && i < row.size(); i++)
        if (header[i] == "tokens_per_s") return std::atof(row[i].c_str());
    return 0;
}

double median(std::vector<double> x) {
    std::sort(x.begin(), x.end());
    return x.empty() ? 0 : x[x.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
    Settings s;
    FlagSet f("bench_step",
              "build/bench_step [flags]\n\nThe CPU training step (lrt train's) against PyTorch's on the same model and threads.");
    f.add("widths", &s.widths, "model widths d");
    f.add("seq-lens", &s.seq_lens, "sequence lengths T");
    f.add("depth", &s.depth, "blocks L", at_least(1));
    f.add("batch", &s.batch, "sequences per step B", at_least(1));
    f.add("head-dim", &s.head_dim, "attention head dimension", at_least(1));
    f.add("vocab", &s.vocab, "vocabulary size", between(2, 65536));
    f.add("steps", &s.steps, "timed steps per run", at_least(1));
    f.add("warmup", &s.warmup, "untimed steps before them", at_least(0));
    f.add("threads", &s.threads, "threads, for both programs", between(1, 256));
    f.add("rounds", &s.rounds, "ours and PyTorch's alternated this many times; the median ratio", at_least(1));
    f.add("python", &s.python, "the Python that has torch");
    f.add("openblas-coretype", &s.openblas_coretype,
          "PyTorch's OpenBLAS kernel: auto (SkylakeX with AVX-512, Haswell with AVX2), none (OpenBLAS's own choice), "
          "or a name");
    f.add("torch", &s.torch, "compare with PyTorch (--no-torch: our figures only)");
    try {
        if (!f.parse(argc, argv, 1)) return 0;
        const double peak = in_child<double>("the FMA peak", [&] { return measure_fma_peak(s.threads); });
        std::printf("bench_step: %s, %d threads; fp32 FMA peak measured here: %.1f GFLOP/s\n", cpu_model_name().c_str(),
                    s.threads, peak);
        std::printf("L=%d B=%d head_dim=%d V=%d, %d timed steps after %d; FLOPs/token = 6N + 6LdT\n", s.depth, s.batch,
                    s.head_dim, s.vocab, s.steps, s.warmup);
        bool torch = s.torch;
        std::vector<std::string> breakdown;  // printed after the table
        std::string why;
        std::printf("%5s %4s | %9s %8s %6s %8s | fwd ms  bwd ms  clip ms  adamw ms | %9s %6s\n", "d", "T", "tok/s",
                    "GFLOP/s", "%peak", "RSS MiB", "torch", "ratio");
        for (int64_t d : parse_int_list(s.widths, "--widths", 1, 1 << 16))
            for (int64_t T : parse_int_list(s.seq_lens, "--seq-lens", 1, 1 << 16)) {
                std::vector<double> ours, theirs, ratios;
                Figures best;
                for (int r = 0; r < s.rounds; r++) {
                    Figures fig = run_ours_forked(s, (int)d, (int)T);
                    ours.push_back(fig.tokens_per_s);
                    if (fig.tokens_per_s >= best.tokens_per_s) best = fig;
                    if (!torch) continue;
                    double t = run_torch(s, (int)d, (int)T, &why);
                    if (t <= 0) {
                        torch = false;
                        continue;
                    }
                    theirs.push_back(t);
                    ratios.push_back(fig.tokens_per_s / t);
                }
                GPT<float> probe;
                ModelConfig sizes;
                sizes.vocab_size = s.vocab, sizes.context_length = (int)T, sizes.width = (int)d;
                sizes.depth = s.depth, sizes.head_dim = s.head_dim;
                gpt_build(probe, sizes);
                const double tok = median(ours), gflops = tok * flops_per_token(probe, (int)T) * 1e-9;
                std::printf("%5lld %4lld | %9.0f %8.1f %5.1f%% %8.0f | %6.1f  %6.1f  %7.1f  %8.1f | ", (long long)d,
                            (long long)T, tok, gflops, 100 * gflops / peak, best.rss_mib, best.forward_ms,
                            best.backward_ms, best.clip_ms, best.update_ms);
                if (!theirs.empty()) std::printf("%9.0f %6.2f\n", median(theirs), median(ratios));
                else std::printf("%9s %6s\n", "-", "-");
                std::fflush(stdout);
                std::string row = strprintf("%5lld %4lld |", (long long)d, (long long)T);
                double attributed = 0;
                for (int k = 0; k < (int)LayerKind::Count; k++) {
                    row += strprintf(" %9.1f", best.layer_ms[k]);
                    attributed += best.layer_ms[k];
                }
                breakdown.push_back(row + strprintf(" %9.1f", best.forward_ms + best.backward_ms - attributed));
            }
        std::printf("\nForward + backward by kind of layer, ms per step (the fastest round; rest: zeroing and calls):\n");
        std::printf("%5s %4s |", "d", "T");
        for (int k = 0; k < (int)LayerKind::Count; k++) std::printf(" %9s", layer_kind_name((LayerKind)k));
        std::printf(" %9s\n", "rest");
        for (const std::string& row : breakdown) std::printf("%s\n", row.c_str());
        if (!torch && s.torch)
            std::printf("PyTorch did not run (%s). To compare: apt-get install python3-torch libopenblas0-pthread "
                        "(and run with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset; this program unsets them)\n",
                        why.empty() ? "not installed?" : why.c_str());
    } catch (const std::exception& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        return 1;
    }
    return 0;
}
