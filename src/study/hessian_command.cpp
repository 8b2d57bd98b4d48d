// `lrt hessian` (see hessian_command.h): loading, progress, outputs.
#include "study/hessian_command.h"

#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <vector>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "model/model.h"
#include "study/hessian.h"
#include "study/hessian_compare.h"
#include "study/hessian_report.h"
#include "train/checkpoint.h"
#include "train/run_data.h"
#include "train/train.h"
#include "util/flags.h"
#include "util/util.h"

static const char* HESSIAN_USAGE =
    "lrt hessian --checkpoint C [flags]\n\n"
    "Adam as approximate Newton: estimates the diagonal of the training loss's Hessian at a checkpoint and\n"
    "compares |diag H| with AdamW's sqrt(v_hat) (v bias-corrected by the checkpoint's step count).\n"
    "The model and data are rebuilt from the `lrt train` settings saved in the checkpoint; the loss is the\n"
    "mean over the next --batches batches the run would have drawn. diag H is Hutchinson's estimate,\n"
    "the mean over --probes Rademacher probes z of z * (H z), each H z a central difference of exact\n"
    "gradients in double precision, (g(theta + h z) - g(theta - h z)) / 2h, h = --fd-step x RMS(theta).\n"
    "Per tensor, per role and over all AdamW tensors: the Pearson correlation of log |diag H| and\n"
    "log sqrt(v_hat) and the median of sqrt(v_hat) / |diag H| (elements where either is exactly 0 left\n"
    "out). Writes <out-dir>/hessian.csv and <out-dir>/hessian_scatter.svg. CPU only (OpenMP); each\n"
    "probe costs 2 x --batches forward and backward passes in double.";

static void declare_hessian_flags(FlagSet& f, HessianConfig& c) {
    f.add("checkpoint", &c.checkpoint, "checkpoint file, or a run directory (its checkpoint.safetensors)");
    f.add("batches", &c.batches, "batches of the run's --batch-size x --seq-len in the loss", between(1, 1000000));
    f.add("probes", &c.probes, "Hutchinson probes (the noise of each element falls as 1/sqrt(probes))",
          between(1, 1000000));
    f.add("fd-step", &c.fd_step, "finite-difference step h, relative to the RMS of the parameters",
          between(1e-12, 1e-1));
    f.add("seed", &c.seed, "seed of the Rademacher probes", at_least(0));
    f.add("out-dir", &c.out_dir, "where hessian.csv and hessian_scatter.svg go; default <checkpoint dir>/hessian");
    f.add("plot-points", &c.plot_points, "elements per role in the scatter plot", between(1, 1000000));
    f.add("threads", &c.threads, "OpenMP threads; 0 = all cores", between(0, 256));
    f.add("quiet", &c.quiet, "print only the table and the files written");
}

// The run's model at the checkpoint, in double, and AdamW's v from it.
struct LoadedRun {
    Checkpoint ckpt;
    std::string path;
    TrainConfig cfg;
    GPT<double> model;
    std::vector<float> v;
};

static void load_run(LoadedRun& run, const std::string& checkpoint) {
    run.path = checkpoint_file(checkpoint);
    run.ckpt = load_checkpoint(run.path);
    // the comparison's roles are the plain model's (hessian_compare.h); say so
    // now rather than after every probe has run
    if (run.ckpt.config.has_adapters())
        fail(run.path + " has LoRA adapters, which lrt hessian does not handle yet; merge them first "
                        "(lrt finetune --merge) to study the merged model");
    run.cfg = checkpoint_train_config(run.ckpt, run.path);
    // restored in float as saved, then widened: the double model holds the
    // checkpoint's values exactly
    GPT<float> saved;
    build_train_model(saved, run.cfg);
    if (saved.config.to_json() != run.ckpt.config.to_json())
        fail(run.path + ": model_config does not match the checkpoint's train flags");
    std::vector<float> m;
    restore_checkpoint(run.ckpt, saved, m, run.v);
    run.ckpt.file.tensors.clear();  // the file's bytes are copied out; the estimate needs the memory
    build_train_model(run.model, run.cfg);
    for (size_t i = 0; i < saved.params.size(); i++) run.model.params[i] = saved.params[i];
}

// The next `count` training batches after the checkpoint's loader position,
// each cut into the run's --grad-accum micro-batches (as training runs them,
// so no forward pass is larger than the run's).
static BatchSet next_batches(const LoadedRun& run, int count, std::string* note) {
    RunData data;
    load_run_data(data, run.cfg, run.model.config.vocab_size);
    data.train_loader.set_position(run.ckpt.state.data_epoch, run.ckpt.state.data_window);
    *note = data.note;
    const int B = run.cfg.batch_size, K = run.cfg.grad_accum, T = run.cfg.seq_len;
    BatchSet set;
    set.B = B / K;
    set.T = T;
    std::vector<int> in((size_t)B * T), tgt(in.size());
    for (int b = 0; b < count; b++) {
        data.train_loader.next_batch(in.data(), tgt.data());
        for (int k = 0; k < K; k++) set.add(in.data() + (size_t)k * set.B * T, tgt.data() + (size_t)k * set.B * T);
    }
    return set;
}

static void print_setup(const LoadedRun& run, const HessianConfig& c, const BatchSet& set, const std::string& note,
                        double h) {
    const ModelConfig& mc = run.model.config;
    std::printf("lrt hessian: %s at step %" PRId64 "\n", run.path.c_str(), run.ckpt.state.step);
    std::printf("model: V=%d T=%d d=%d L=%d, %zu parameters (double precision, on the CPU)\n", mc.vocab_size,
                mc.context_length, mc.width, mc.depth, run.model.params.size());
    std::printf("data: %s\n", note.c_str());
    std::printf("loss: mean over %d batches of %dx%d tokens (%zu forward passes of %dx%d), the next the run would draw\n",
                c.batches, run.cfg.batch_size, run.cfg.seq_len, set.size(), set.B, set.T);
    std::printf("Hutchinson: %d Rademacher probes (seed %" PRId64 "), H z by central difference, h = %.3g x RMS = %.4g\n",
                c.probes, c.seed, c.fd_step, h);
    if (run.cfg.device == Device::CUDA)
        std::printf("note: the run trained on the GPU; this computes its loss in double on the CPU\n");
    std::fflush(stdout);
}

// The finite differences' own error, on probe 0 (two products, as much as
// two probes), with a warning when it is not small against Hutchinson's
// noise of about 1/sqrt(probes) per element.
static double checked_fd_error(GPT<double>& model, const BatchSet& set, const HessianConfig& c, double h) {
    const double err = hvp_relative_error(model, set, rademacher_probe((uint64_t)c.seed, 0, model.params.size()), h);
    if (!c.quiet) std::printf("finite differences: H z has a relative error of %.2g at h (from h against 2h)\n", err);
    if (!(err < 0.1 / std::sqrt((double)c.probes)))
        std::fprintf(stderr, "warning: the finite-difference error %.2g is not small against Hutchinson's noise "
                             "(1/sqrt(%d) = %.2g); try another --fd-step\n", err, c.probes, 1 / std::sqrt((double)c.probes));
    return err;
}

// One line per probe: how far, how long, how much longer.
static ProbeProgress progress_printer(bool quiet, double t0) {
    if (quiet) return {};
    return [t0](int done, int total) {
        const double elapsed = wall_seconds() - t0;
        std::printf("probe %d/%d | %s elapsed | ETA %s\n", done, total, format_duration(elapsed).c_str(),
                    format_duration(elapsed / done * (total - done)).c_str());
        std::fflush(stdout);
    };
}

static void write_outputs(const std::string& dir, const LoadedRun& run, const DiagonalEstimate& est,
                          const std::vector<double>& sqrt_vhat, const std::vector<ComparisonRow>& rows,
                          const HessianSetup& setup, size_t plot_points) {
    const std::string csv = dir + "/hessian.csv", svg = dir + "/hessian_scatter.svg";
    write_file_atomic(csv, hessian_csv(rows, setup));
    write_svg(svg, hessian_scatter(run.model.table, est, sqrt_vhat, plot_points, setup));
    std::printf("wrote %s and %s\n", csv.c_str(), svg.c_str());
}

int hessian_command(int argc, char** argv) {
    HessianConfig c;
    FlagSet f("hessian", HESSIAN_USAGE);
    declare_hessian_flags(f, c);
    if (!f.parse(argc, argv, 2)) return 0;
    if (c.checkpoint.empty()) fail("--checkpoint is required (see `lrt hessian --help`)");
#ifdef _OPENMP
    if (c.threads > 0) omp_set_num_threads(c.threads);
#endif
    LoadedRun run;
    load_run(run, c.checkpoint);
    const std::string out_dir = c.out_dir.empty() ? parent_dir(run.path) + "/hessian" : c.out_dir;
    make_dirs(out_dir);  // now, so that a bad --out-dir fails before the long part
    std::string note;
    const BatchSet set = next_batches(run, c.batches, &note);
    const double h = hessian_step(run.model.params, c.fd_step);
    if (!c.quiet) print_setup(run, c, set, note, h);
    std::vector<double> grad;
    const double loss = mean_loss_gradient(run.model, set, grad);
    if (!c.quiet) std::printf("loss at the checkpoint: %.6f\n", loss);
    const double fd_error = checked_fd_error(run.model, set, c, h);
    const DiagonalEstimate est = hutchinson_diagonal(run.model, set, c.probes, (uint64_t)c.seed, h,
                                                     progress_printer(c.quiet, wall_seconds()));
    const std::vector<double> sqrt_vhat = adam_sqrt_vhat(run.model.table, run.v, run.ckpt.state.step);
    const std::vector<ComparisonRow> rows = compare_with_adam(run.model.table, est, sqrt_vhat);
    std::printf("\n%s\n", hessian_table(rows).c_str());
    HessianSetup setup{run.ckpt.state.step, c.probes, c.batches, c.fd_step, h, fd_error};
    write_outputs(out_dir, run, est, sqrt_vhat, rows, setup, (size_t)c.plot_points);
    return 0;
}
