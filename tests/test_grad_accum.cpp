// Gradient accumulation (`lrt train --grad-accum K`, src/train/step.cpp): K
// micro-batches give the single big batch's step to rounding, bad K values
// are refused, and the noise scale lands in log.csv.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <vector>

#include "io/csv.h"
#include "model/model.h"
#include "optim/grad_accum.h"
#include "optim/optimizer.h"
#include "param/parameterization.h"
#include "test_helpers.h"
#include "train/backend.h"
#include "train/run_files.h"
#include "train/step.h"
#include "util/rng.h"
#include "util/util.h"

namespace {

ModelConfig accum_sizes() {
    ModelConfig c;
    c.vocab_size = 64;
    c.context_length = 16;
    c.width = 32;
    c.depth = 2;
    c.head_dim = 8;
    return c;
}

struct AccumRun {
    std::vector<double> losses, norms;
    std::vector<double> first_grads;  // the first step's gradient (the mean over micro-batches), unclipped
    std::vector<double> params;       // after the last step; as doubles, whatever T was
};

// Four AdamW steps (clipped) on fixed random batches of B = 4 sequences,
// each run as K micro-batches.
template <typename T>
AccumRun run_steps(int K) {
    OptimizerConfig optim;
    optim.lr = 1e-2;
    optim.weight_decay = 0.1;
    optim.grad_clip = 1.0;
    GPT<T> model;
    gpt_build_parameterized(model, accum_sizes(), param_preset("mup"), optim);
    gpt_init(model, 3);
    OptimizerState<T> state(model.table);
    CpuBackend<T> backend(model, state);
    const int B = 4, Tn = 16, N = B * Tn;
    Rng data(5);
    std::vector<int> in(N), tg(N);
    AccumRun r;
    for (int s = 0; s < 4; s++) {
        for (int i = 0; i < N; i++) {
            in[i] = (int)data.below(64);
            tg[i] = (in[i] * 5 + 1) % 64;
        }
        StepPlan plan;
        plan.step = s + 1;
        plan.grad_clip = optim.grad_clip;
        plan.grad_accum = K;
        StepHooks hooks;
        hooks.after_backward = [&] {
            if (s == 0) r.first_grads.assign(model.grads.begin(), model.grads.end());
        };
        StepResult sr = training_step(backend, model.table, in.data(), tg.data(), B, Tn, plan, nullptr, &hooks);
        r.losses.push_back(sr.loss);
        r.norms.push_back(sr.grad_norm);
    }
    r.params.assign(model.params.begin(), model.params.end());
    return r;
}

// max_i |a_i - b_i| / max_i |b_i| (tests/cuda/gpu_test_helpers.h's measure)
double relative_difference(const std::vector<double>& a, const std::vector<double>& b) {
    double diff = 0, scale = 0;
    for (size_t i = 0; i < a.size(); i++) {
        diff = std::max(diff, std::abs(a[i] - b[i]));
        scale = std::max(scale, std::abs(b[i]));
    }
    return diff / scale;
}

// `tolerance`: for the gradients, losses and norms; `param_tolerance`: for
// the parameters after four steps (see the test case for both).
template <typename T>
void check_accumulation_matches(double tolerance, double param_tolerance) {
    const AccumRun one = run_steps<T>(1);
    for (int K : {2, 4}) {
        const AccumRun acc = run_steps<T>(K);
        INFO("K = " << K);
        const double dg = relative_difference(acc.first_grads, one.first_grads);
        INFO("first gradients differ by " << dg << " of the largest");
        CHECK(dg < tolerance);
        CHECK(dg > 0);  // another summation order: the comparison is of two computations
        for (size_t s = 0; s < one.losses.size(); s++) {
            CHECK(acc.losses[s] == Approx(one.losses[s]).epsilon(tolerance));
            CHECK(acc.norms[s] == Approx(one.norms[s]).epsilon(tolerance));
        }
        const double dp = relative_difference(acc.params, one.params);
        INFO("parameters differ by " << dp << " of the largest");
        CHECK(dp < param_tolerance);
    }
}

}  // namespace

TEST_CASE("gradient accumulation: K micro-batches take the big batch's step, to rounding", "[accum]") {
    // The gradient, losses and norms: each micro-batch sums its rows in its
    // own order, so the mean differs from the big batch's by rounding, a few
    // ulps of the largest element (measured: ~1e-7 in float, ~1e-16 in
    // double); 1e-5 and 1e-12 leave room, and a lost or doubled micro-batch
    // moves them by tens of percent. The parameters after four AdamW steps
    // get a looser bound: Adam divides by sqrt(v) + eps, so a gradient element
    // near zero turns its rounding difference into a step up to lr * noise /
    // eps (docs/reference-states.md), which four steps spread (measured:
    // 5e-4 of the largest parameter in float, 1.3e-12 in double; bounds 5e-3
    // and 1e-10, still far below the 1e-2 of one wrong step at lr 1e-2).
    SECTION("float") { check_accumulation_matches<float>(1e-5, 5e-3); }
    SECTION("double") { check_accumulation_matches<double>(1e-12, 1e-10); }
}

TEST_CASE("gradient accumulation: the running sum and the mean, element by element", "[accum]") {
    std::vector<float> acc(5), g1 = {1, 2, 3, 4, 5}, g2 = {0.5f, -2, 1, 0, 7}, g(5);
    accumulate_grads(acc.data(), g1.data(), 5, true);
    CHECK(acc == g1);  // the first micro-batch copies (whatever was there before)
    accumulate_grads(acc.data(), g2.data(), 5, false);
    mean_of_accumulated(g.data(), acc.data(), 5, 2);
    CHECK(g == std::vector<float>({0.75f, 0, 2, 2, 6}));
}

TEST_CASE("gradient accumulation: a K that does not divide the batch is refused", "[accum][cli]") {
    GPT<float> model;
    gpt_build(model, accum_sizes());
    gpt_init(model, 1);
    OptimizerState<float> state(model.table);
    CpuBackend<float> backend(model, state);
    std::vector<int> in(3 * 16, 1), tg(3 * 16, 2);
    StepPlan plan;
    plan.grad_accum = 2;
    CHECK_THROWS_WITH(training_step(backend, model.table, in.data(), tg.data(), 3, 16, plan),
                      Catch::Contains("--grad-accum 2 must be at least 1 and divide the batch size 3"));
    TempDir dir;
    const std::string lrt = lrt_binary() + " train --width 32 --depth 1 --head-dim 16 --seq-len 16 --steps 2 --quiet";
    CommandResult r = run_command(lrt + " --batch-size 6 --grad-accum 4 --out-dir " + dir.file("a"));
    CHECK(r.exit_code == 1);
    CHECK_THAT(r.output, Catch::Contains("--grad-accum 4 does not divide --batch-size 6"));
    CHECK_FALSE(file_exists(dir.file("a")));
    r = run_command(lrt + " --grad-accum 0 --out-dir " + dir.file("b"));
    CHECK(r.exit_code == 1);
    CHECK_THAT(r.output, Catch::Contains("grad-accum"));
}

TEST_CASE("gradient accumulation: lrt train logs the noise scale in log.csv", "[accum][noise][cli]") {
    TempDir dir;
    const std::string out = dir.file("run");
    CommandResult r = run_command(lrt_binary() +
                                  " train --width 32 --depth 1 --head-dim 16 --batch-size 8 --seq-len 32 --steps 12 "
                                  "--grad-accum 2 --measure-every 3 --measure-tokens 16 --val-every 0 --val-batches 1 "
                                  "--sample-length 0 --synth-train-tokens 20000 --synth-val-tokens 4096 --threads 1 "
                                  "--quiet --out-dir " + out);
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    CsvTable log = read_csv(out + "/log.csv");
    const int c_step = log.col("step"), c_small = log.col("grad_sq_small"), c_big = log.col("grad_sq_big"),
              c_g2 = log.col("noise_g2"), c_trace = log.col("noise_trace"), c_b = log.col("b_simple");
    int measured = 0;
    for (const CsvRow& row : log.rows) {
        const double step = log.finite_number(row, c_step), b = log.optional_number(row, c_b);
        const double small = log.optional_number(row, c_small), big = log.optional_number(row, c_big);
        if (&row == &log.rows.back()) break;  // the final validation row
        INFO("step " << step);
        if ((int)step % 3 != 0) {
            CHECK(std::isnan(small));
            CHECK(std::isnan(b));
            continue;
        }
        measured++;
        CHECK(std::isfinite(small));
        CHECK(big > 0);
        CHECK(small > big);  // a micro-batch's gradient is noisier than the mean of two
        CHECK(std::isfinite(log.optional_number(row, c_g2)));
        CHECK(log.optional_number(row, c_trace) > 0);
        CHECK(std::isfinite(b));
        CHECK(b > 0);
    }
    CHECK(measured == 4);  // steps 0, 3, 6, 9
}

TEST_CASE("a log from before the noise-scale columns is kept, padded, when its run resumes", "[accum][checkpoint]") {
    TempDir dir;
    write_file_atomic(dir.file("log.csv"), "step,lr,train_loss\n0,0.1,5\n1,0.1,4\n2,0.1,3\n");
    KeptLog kept = kept_log_rows(dir.file("log.csv"), 2, "step,lr,train_loss,extra_a,extra_b\n", 2);
    CHECK(kept.text == "step,lr,train_loss,extra_a,extra_b\n0,0.1,5,,\n1,0.1,4,,\n");
    CHECK(kept.last_train_loss == 4);
    // a header that is not a leading part of this one's is still refused
    write_file_atomic(dir.file("other.csv"), "step,loss\n0,5\n");
    CHECK_THROWS_WITH(kept_log_rows(dir.file("other.csv"), 2, "step,lr,train_loss\n", 2),
                      Catch::Contains("not this program's header"));
}

TEST_CASE("per-tensor noise scale: the tensors' squared norms add up, and equal halves give equal norms", "[accum][noise]") {
    GPT<float> model;  // (the measurements run on the float model)
    OptimizerConfig optim;
    gpt_build_parameterized(model, accum_sizes(), param_preset("mup"), optim);
    gpt_init(model, 4);
    OptimizerState<float> state(model.table);
    CpuBackend<float> backend(model, state);
    const int B = 4, Tn = 16, half = B / 2 * Tn;
    Rng data(8);
    std::vector<int> in(B * Tn), tg(B * Tn);
    for (int i = 0; i < half; i++) {  // the second micro-batch repeats the first
        in[i] = in[i + half] = (int)data.below(64);
        tg[i] = tg[i + half] = (in[i] * 3 + 2) % 64;
    }
    MeasureRequest measure;
    for (size_t i = 0; i < model.table.tensors.size(); i++) {
        const TensorRole role = model.table.tensors[i].role;
        if (role == TensorRole::HiddenMatrix || role == TensorRole::Readout) measure.tensors.push_back(i);
    }
    measure.rows = {0, 5, 17};
    StepPlan plan;
    plan.grad_accum = 2;
    plan.noise_scale = true;
    double whole = 0;
    std::vector<double> parts;
    StepHooks hooks;
    hooks.after_backward = [&] {  // the step's gradient, before clipping and the update
        whole = backend.grad_sq_norm();
        for (const TensorInfo& t : model.table.tensors) parts.push_back(backend.tensor_grad_sq_norm(t));
    };
    StepResult r = training_step(backend, model.table, in.data(), tg.data(), B, Tn, plan, &measure, &hooks);
    double sum = 0;
    for (double p : parts) sum += p;
    CHECK(sum == Approx(whole).epsilon(1e-12));
    REQUIRE(r.tensor_sq_small.size() == measure.tensors.size());
    REQUIRE(r.tensor_sq_big.size() == measure.tensors.size());
    for (size_t k = 0; k < measure.tensors.size(); k++) {
        INFO(model.table.tensors[measure.tensors[k]].name);
        CHECK(r.tensor_sq_big[k] == Approx(parts[measure.tensors[k]]).epsilon(1e-12));
        // two equal micro-batches: each one's gradient is the mean's
        CHECK(r.tensor_sq_small[k] == Approx(r.tensor_sq_big[k]).epsilon(1e-10));
        CHECK(r.tensor_sq_big[k] > 0);
    }
    // without a measurement, or without accumulation, no per-tensor norms
    plan.noise_scale = false;
    CHECK(training_step(backend, model.table, in.data(), tg.data(), B, Tn, plan, &measure).tensor_sq_small.empty());
}

TEST_CASE("per-tensor noise scale: measure.csv carries it, and a resumed run goes on bit for bit", "[accum][noise][cli]") {
    TempDir dir;
    const std::string flags = " --width 32 --depth 1 --head-dim 16 --batch-size 8 --seq-len 32 --steps 12 "
                              "--measure-every 2 --measure-tokens 16 --val-every 0 --val-batches 1 --sample-length 0 "
                              "--synth-train-tokens 20000 --synth-val-tokens 4096 --threads 1 --quiet";
    CommandResult r = run_command(lrt_binary() + " train" + flags + " --grad-accum 2 --out-dir " + dir.file("full"));
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    CsvTable m = read_csv(dir.file("full/measure.csv"));
    const int c_g2 = m.col("noise_g2"), c_trace = m.col("noise_trace"), c_b = m.col("b_simple");
    int with_b = 0;
    for (const CsvRow& row : m.rows) {
        CHECK(std::isfinite(m.optional_number(row, c_g2)));
        CHECK(m.optional_number(row, c_trace) > 0);  // a half batch's gradient is noisier than the whole's
        with_b += std::isfinite(m.optional_number(row, c_b));
    }
    CHECK(with_b > (int)m.rows.size() / 2);
    // interrupted after 5 steps and resumed: the same measure.csv, byte for byte
    r = run_command(lrt_binary() + " train" + flags + " --grad-accum 2 --stop-after 5 --out-dir " + dir.file("part"));
    REQUIRE(r.exit_code == 0);
    r = run_command(lrt_binary() + " train --resume " + dir.file("part") + " --quiet");
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    CHECK(text_of(dir.file("part/measure.csv")) == text_of(dir.file("full/measure.csv")));
    // without accumulation the columns are there, empty
    r = run_command(lrt_binary() + " train" + flags + " --out-dir " + dir.file("plain"));
    REQUIRE(r.exit_code == 0);
    CsvTable p = read_csv(dir.file("plain/measure.csv"));
    REQUIRE(!p.rows.empty());
    CHECK(std::isnan(p.optional_number(p.rows[0], p.col("b_simple"))));
}
