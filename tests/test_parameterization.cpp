// Parameterizations: the resolved per-tensor numbers against the formulas of
// docs/science.md §4 written out by hand, µP at its base width against SP, the
// Table-3 form against the Table-8 form, and the weight-decay modes (§3).
#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

#include "model/model.h"
#include "optim/optimizer.h"
#include "param/parameterization.h"
#include "train/backend.h"
#include "train/step.h"
#include "util/rng.h"
#include "optim/schedule.h"
#include "test_helpers.h"
#include "util/util.h"

namespace {

ModelConfig small_sizes(int width, int depth = 2, int head_dim = 8) {
    ModelConfig c;
    c.vocab_size = 64;
    c.context_length = 16;
    c.width = width;
    c.depth = depth;
    c.head_dim = head_dim;
    return c;
}


struct Trajectory {
    std::vector<double> losses;
    std::vector<float> params;  // after the last step
    std::vector<float> initial;
};

// Trains `steps` AdamW steps on fresh random batches (the same batches for
// every call), with a warmup-then-cosine schedule so that s_t varies.
Trajectory train(const ModelConfig& sizes, const ParamConfig& pc, int steps, double lr = 1e-2, double wd = 0.1,
                 double clip = 1.0, double eps = 1e-8) {
    OptimizerConfig optim;
    optim.lr = lr;
    optim.weight_decay = wd;
    optim.eps = eps;
    optim.grad_clip = clip;
    GPT<float> model;
    gpt_build_parameterized(model, sizes, pc, optim);
    gpt_init(model, 7);
    Trajectory tr;
    tr.initial = model.params;
    Schedule sched;
    sched.decay = LrDecay::Cosine;
    sched.warmup_steps = 3;
    sched.total_steps = steps;
    sched.min_lr_fraction = 0.1;
    OptimizerState<float> state(model.table);
    CpuBackend<float> backend(model, state);
    const int B = 4, T = 16, N = B * T;
    Rng data(99);
    std::vector<int> in(N), tg(N);
    for (int s = 0; s < steps; s++) {
        for (int i = 0; i < N; i++) {
            in[i] = (int)data.below(sizes.vocab_size);
            tg[i] = (in[i] * 7 + 3) % sizes.vocab_size;  // learnable: a fixed map
        }
        StepPlan plan;
        plan.schedule = schedule_factor(sched, s);
        plan.step = s + 1;
        plan.grad_clip = clip;
        tr.losses.push_back(training_step(backend, model.table, in.data(), tg.data(), B, T, plan).loss);
    }
    tr.params = model.params;
    return tr;
}

bool is_embedding(const TensorInfo& t) {
    return t.role == TensorRole::TokenEmbedding || t.role == TensorRole::PositionEmbedding;
}
bool is_vector(const TensorInfo& t) {
    return t.role == TensorRole::Bias || t.role == TensorRole::NormGain || t.role == TensorRole::NormBias;
}

}  // namespace

TEST_CASE("sp-gpt2, the default, keeps GPT-2's table and forward pass", "[param]") {
    ModelConfig sizes = small_sizes(32, 3);
    GPT<float> a, b;
    gpt_build(a, sizes);  // the table's built-in GPT-2 defaults
    Parameterization p = gpt_build_parameterized(b, sizes, ParamConfig());
    REQUIRE(p.config.preset == Preset::SPGPT2);
    REQUIRE(p.m == 1.0);
    REQUIRE(b.config.resolved_attention_scale() == a.config.resolved_attention_scale());
    REQUIRE(b.config.readout_multiplier == 1.0);
    REQUIRE(a.table.tensors.size() == b.table.tensors.size());
    for (size_t i = 0; i < a.table.tensors.size(); i++) {
        const TensorInfo &x = a.table.tensors[i], &y = b.table.tensors[i];
        INFO(x.name);
        REQUIRE(x.init_std == y.init_std);
        REQUIRE(x.init_constant == y.init_constant);
        REQUIRE(x.lr_multiplier == y.lr_multiplier);
        REQUIRE(x.weight_decay_multiplier == y.weight_decay_multiplier);
        REQUIRE(x.eps_multiplier == y.eps_multiplier);
    }
}

TEST_CASE("at m = 1, mup is sp: same initial parameters and the same 20 steps, bit for bit", "[param]") {
    ModelConfig sizes = small_sizes(32);
    for (const char* wd_mode : {"coupled", "independent"}) {
        ParamConfig sp = param_preset("sp"), mup = param_preset("mup", 32), completep = param_preset("completep", 32);
        sp.wd_mode = mup.wd_mode = completep.wd_mode = parse_wd_mode(wd_mode);
        completep.depth_base = sizes.depth;
        double wd = std::string(wd_mode) == "independent" ? 1e-3 : 0.1;
        Trajectory a = train(sizes, sp, 20, 1e-2, wd), b = train(sizes, mup, 20, 1e-2, wd),
                   c = train(sizes, completep, 20, 1e-2, wd);
        INFO("wd mode " << wd_mode);
        REQUIRE(a.initial == b.initial);
        REQUIRE(a.losses == b.losses);
        REQUIRE(a.params == b.params);
        REQUIRE(a.losses == c.losses);
        REQUIRE(a.params == c.params);
        REQUIRE(a.losses.back() < a.losses.front() - 0.2);  // it did train
    }
    // and likewise on GPT-2's init: mup --init gpt2 at m = 1 is sp-gpt2
    ParamConfig mup_gpt2 = param_preset("mup", 32);
    mup_gpt2.init = InitFamily::GPT2;
    Trajectory a = train(sizes, param_preset("sp-gpt2"), 20), b = train(sizes, mup_gpt2, 20);
    REQUIRE(a.initial == b.initial);
    REQUIRE(a.losses == b.losses);
    REQUIRE(a.params == b.params);
    // the same check at m = 2 must see a difference (the test can fail)
    Trajectory wide_sp = train(small_sizes(64), param_preset("sp"), 5),
               wide_mup = train(small_sizes(64), param_preset("mup", 32), 5);
    REQUIRE(wide_sp.losses != wide_mup.losses);
}

TEST_CASE("resolved multipliers match docs/science.md's formulas for every role, m = 1, 2, 4, 8", "[param]") {
    const int d_base = 32;
    for (int m : {1, 2, 4, 8}) {
        for (bool fixed_heads : {false, true}) {
            // heads grow with width (d_head = 8), or a fixed head count (d_head grows)
            ModelConfig sizes = small_sizes(d_base * m, 2, fixed_heads ? 8 * m : 8);
            const double hd = sizes.head_dim, hd_base = 8;
            for (const char* name : {"sp", "sp-gpt2", "mup", "mup-table3"}) {
                ParamConfig pc = param_preset(name, d_base);
                pc.head_dim_base = hd_base;
                pc.wd_mode = WeightDecayMode::WidthScaled;
                GPT<float> model;
                Parameterization p = gpt_build_parameterized(model, sizes, pc);
                const std::string n = name;
                const bool mup = n == "mup" || n == "mup-table3", gpt2 = n == "sp-gpt2";
                INFO(n << " m=" << m << " fixed heads " << fixed_heads);
                REQUIRE(p.m == Approx(m));
                // forward multipliers
                const ModelConfig& c = model.config;
                REQUIRE(c.embedding_multiplier == 1.0);
                REQUIRE(c.readout_multiplier == Approx(n == "mup" ? 1.0 / m : 1.0));
                REQUIRE(c.resolved_attention_scale() == Approx(mup ? std::sqrt(hd_base) / hd : 1.0 / std::sqrt(hd)));
                REQUIRE(c.residual_multiplier == 1.0);
                for (const TensorInfo& t : model.table.tensors) {
                    INFO(t.name);
                    if (is_embedding(t)) {
                        REQUIRE(t.init_std == Approx(gpt2 ? 0.02 : 1.0));
                        REQUIRE(t.lr_multiplier == 1.0);
                        REQUIRE(t.eps_multiplier == 1.0);
                        REQUIRE(t.weight_decay_multiplier == 0.0);
                    } else if (t.role == TensorRole::HiddenMatrix) {
                        double expect_std = gpt2 ? (t.residual_output ? 0.02 / std::sqrt(2.0 * sizes.depth) : 0.02)
                                                 : 1.0 / std::sqrt((double)t.fan_in);
                        REQUIRE(t.init_std == Approx(expect_std));
                        REQUIRE(t.lr_multiplier == Approx(mup ? 1.0 / m : 1.0));
                        REQUIRE(t.eps_multiplier == 1.0);
                        // width-scaled: lambda x m exactly where the LR is / m
                        REQUIRE(t.weight_decay_multiplier == Approx(mup ? (double)m : 1.0));
                    } else if (t.role == TensorRole::Readout) {
                        const double fan_in_base = (double)t.fan_in / m;
                        double expect_std = gpt2            ? 0.02
                                            : n == "sp"     ? 1.0 / std::sqrt((double)t.fan_in)
                                            : n == "mup"    ? 1.0 / std::sqrt(fan_in_base)
                                                            : 1.0 / std::sqrt(fan_in_base) / m;  // table 3
                        REQUIRE(t.init_std == Approx(expect_std));
                        REQUIRE(t.lr_multiplier == Approx(n == "mup-table3" ? 1.0 / m : 1.0));
                        REQUIRE(t.eps_multiplier == Approx(n == "mup-table3" ? (double)m : 1.0));
                        REQUIRE(t.weight_decay_multiplier == Approx(n == "mup-table3" ? (double)m : 1.0));
                    } else {
                        REQUIRE(is_vector(t));
                        REQUIRE(t.init_std == 0.0);
                        REQUIRE(t.init_constant == (t.role == TensorRole::NormGain ? 1.0 : 0.0));
                        REQUIRE(t.lr_multiplier == 1.0);
                        REQUIRE(t.weight_decay_multiplier == 0.0);
                    }
                }
            }
        }
        // completep: Dey et al. 2025's Table 1 on top of mup, r = L/L_base = 4
        for (double alpha : {0.5, 1.0}) {
            ParamConfig cp = param_preset("completep", d_base);
            cp.depth_base = 2;
            cp.completep_alpha = alpha;
            GPT<float> model;
            gpt_build_parameterized(model, small_sizes(d_base * m, 8), cp);
            const double r = 4;
            INFO("completep alpha " << alpha << " m=" << m);
            REQUIRE(model.config.residual_multiplier == Approx(std::pow(r, -alpha)));
            for (const TensorInfo& t : model.table.tensors) {
                INFO(t.name);
                if (t.role == TensorRole::HiddenMatrix) {
                    REQUIRE(t.lr_multiplier == Approx(std::pow(r, alpha - 1) / m));
                    REQUIRE(t.eps_multiplier == Approx(std::pow(r, -alpha) / m));
                } else if (is_vector(t) && t.layer >= 0) {  // gains and biases inside the blocks
                    REQUIRE(t.lr_multiplier == Approx(std::pow(r, alpha - 1)));
                    REQUIRE(t.eps_multiplier == Approx(std::pow(r, -alpha) / m));
                } else {  // embeddings, readout, final layernorm: as µP
                    REQUIRE(t.lr_multiplier == 1.0);
                    REQUIRE(t.eps_multiplier == 1.0);
                }
            }
        }
        // completep's hidden ε has the 1/m already: --eps-scaling does not add a second
        ParamConfig cp_eps = param_preset("completep", d_base);
        cp_eps.eps_scaling = true;
        GPT<float> ce;
        gpt_build_parameterized(ce, small_sizes(d_base * m), cp_eps);
        for (const TensorInfo& t : ce.table.tensors)
            if (t.role == TensorRole::HiddenMatrix) REQUIRE(t.eps_multiplier == Approx(1.0 / m));
        // ε scaling divides hidden ε by m
        ParamConfig eps = param_preset("mup", d_base);
        eps.eps_scaling = true;
        GPT<float> e;
        gpt_build_parameterized(e, small_sizes(d_base * m), eps);
        for (const TensorInfo& t : e.table.tensors)
            REQUIRE(t.eps_multiplier == Approx(t.role == TensorRole::HiddenMatrix ? 1.0 / m : 1.0));
    }
}

TEST_CASE("overrides: multipliers, per-role LR, zero init, decayed sets", "[param]") {
    ModelConfig sizes = small_sizes(64);
    ParamConfig pc = param_preset("mup", 32);
    pc.readout_multiplier = 3;
    pc.embedding_multiplier = 2;
    pc.attention_multiplier = 0.5;
    pc.attention = AttentionRule::Sqrt;
    pc.lr_mult_embedding = 5;
    pc.lr_mult_hidden = 7;
    pc.lr_mult_readout = 11;
    pc.lr_mult_vector = 13;
    pc.zero_init_readout = true;
    pc.zero_init_query = true;
    pc.wd_set = DecaySet::MatricesEmbeddings;
    GPT<float> model;
    gpt_build_parameterized(model, sizes, pc);
    REQUIRE(model.config.readout_multiplier == Approx(3.0 / 2));
    REQUIRE(model.config.embedding_multiplier == 2.0);
    REQUIRE(model.config.resolved_attention_scale() == Approx(0.5 / std::sqrt(8.0)));
    for (const TensorInfo& t : model.table.tensors) {
        INFO(t.name);
        double expect_lr = is_embedding(t) ? 5 : t.role == TensorRole::HiddenMatrix ? 7 / 2.0 : t.role == TensorRole::Readout ? 11 : 13;
        REQUIRE(t.lr_multiplier == Approx(expect_lr));
        REQUIRE(t.weight_decay_multiplier == (is_vector(t) ? 0.0 : 1.0));
    }
    gpt_init(model, 3);
    const TensorInfo& readout = model.table.get("lm_head.weight");
    for (size_t i = 0; i < readout.numel; i++) REQUIRE(model.params[readout.offset + i] == 0.0f);
    // zero-init query: the first C rows of c_attn are 0; k and v get the
    // same draws as without the option
    GPT<float> plain;
    ParamConfig pq = pc;
    pq.zero_init_query = false;
    gpt_build_parameterized(plain, sizes, pq);
    gpt_init(plain, 3);
    const TensorInfo& qkv = model.table.get("transformer.h.1.attn.c_attn.weight");
    const size_t C = sizes.width;
    for (size_t i = 0; i < qkv.numel; i++) {
        float got = model.params[qkv.offset + i], other = plain.params[qkv.offset + i];
        if (i < C * C) REQUIRE(got == 0.0f);
        else REQUIRE(got == other);
    }
    REQUIRE(plain.params[qkv.offset] != 0.0f);
    pc.wd_set = DecaySet::All;
    gpt_build_parameterized(model, sizes, pc);
    for (const TensorInfo& t : model.table.tensors) REQUIRE(t.weight_decay_multiplier == 1.0);
    pc.wd_mode = WeightDecayMode::None;
    gpt_build_parameterized(model, sizes, pc);
    for (const TensorInfo& t : model.table.tensors) REQUIRE(t.weight_decay_multiplier == 0.0);
    // refusals
    ModelConfig tied = sizes;
    tied.tie_embeddings = true;
    REQUIRE_THROWS_WITH(gpt_build_parameterized(model, tied, pc), Catch::Contains("untied readout"));
    REQUIRE_THROWS_WITH(param_preset("mu-p"), Catch::Contains("unknown preset 'mu-p'"));
}

TEST_CASE("mup-table3 trains like mup at m = 4 (Table 3 and Table 8 forms)", "[param]") {
    ModelConfig sizes = small_sizes(128);
    for (const char* wd_mode : {"independent", "width-scaled", "none"}) {
        ParamConfig a = param_preset("mup", 32), b = param_preset("mup-table3", 32);
        a.wd_mode = b.wd_mode = parse_wd_mode(wd_mode);
        double wd = std::string(wd_mode) == "independent" ? 1e-3 : 0.1;
        // no clipping: the global norm sees the readout's gradient m times
        // larger in the Table-3 form, so clipping is not invariant either.
        // A large eps, so that the readout's eps x m matters (with 1e-8 a
        // wrong eps rule would pass unnoticed).
        Trajectory ta = train(sizes, a, 20, 1e-2, wd, 0.0, 1e-4), tb = train(sizes, b, 20, 1e-2, wd, 0.0, 1e-4);
        INFO("wd mode " << wd_mode);
        for (int s = 0; s < 20; s++) REQUIRE(tb.losses[s] == Approx(ta.losses[s]).epsilon(2e-5));
        REQUIRE(ta.losses.back() < ta.losses.front() - 0.2);
        // the readouts differ by the factor m = 4 the forms move around
        GPT<float> g;
        gpt_build(g, sizes);
        const TensorInfo& r = g.table.get("lm_head.weight");
        for (size_t i = 0; i < r.numel; i += 97)
            REQUIRE(4.0 * tb.params[r.offset + i] == Approx(ta.params[r.offset + i]).epsilon(1e-3).margin(1e-6));
    }
    // Under coupled decay the two forms are not the same dynamics: the readout's
    // decay follows its own LR, which Table 3 divides by m.
    GPT<float> a, b;
    OptimizerConfig optim;
    optim.lr = 1e-2;
    optim.weight_decay = 0.1;
    gpt_build_parameterized(a, sizes, param_preset("mup", 32), optim);
    gpt_build_parameterized(b, sizes, param_preset("mup-table3", 32), optim);
    double da = decay_per_step(a.table.get("lm_head.weight"), 1.0);
    double db = decay_per_step(b.table.get("lm_head.weight"), 1.0);
    REQUIRE(da == Approx(1e-3));
    REQUIRE(db == Approx(1e-3 / 4));
}

TEST_CASE("each weight-decay mode shrinks a tensor by its formula", "[param][optimizer]") {
    // A zero gradient leaves Adam's direction at 0, so a step only decays.
    const double lr = 3e-3, lambda = 0.1, s_t = 0.6, lr_t = lr * s_t;
    for (int m : {1, 2, 4, 8}) {
        ModelConfig sizes = small_sizes(32 * m);
        for (const char* mode : {"coupled", "independent", "width-scaled", "none"}) {
            ParamConfig pc = param_preset("mup", 32);
            pc.wd_mode = parse_wd_mode(mode);
            OptimizerConfig optim;
            optim.lr = lr;
            optim.weight_decay = lambda;
            GPT<double> model;
            gpt_build_parameterized(model, sizes, pc, optim);
            gpt_init(model, 1);
            std::vector<double> before = model.params;
            OptimizerState<double> state(model.table);
            std::fill(model.grads.begin(), model.grads.end(), 0.0);
            optimizer_step(model.params.data(), model.grads.data(), state, model.table, s_t, 1);
            const std::string md = mode;
            for (const TensorInfo& t : model.table.tensors) {
                // the formulas of docs/science.md §3, by hand; under mup hidden LR is lr/m
                const bool matrix = t.role == TensorRole::HiddenMatrix || t.role == TensorRole::Readout;
                const double tensor_lr = lr_t * (t.role == TensorRole::HiddenMatrix ? 1.0 / m : 1.0);
                double d = 0;
                if (matrix && md == "coupled") d = tensor_lr * lambda;
                if (matrix && md == "independent") d = s_t * lambda;
                if (matrix && md == "width-scaled")
                    d = tensor_lr * lambda * (t.role == TensorRole::HiddenMatrix ? m : 1);
                INFO(md << " m=" << m << " " << t.name);
                REQUIRE(decay_per_step(t, s_t) == Approx(d).margin(1e-300));
                for (size_t i = 0; i < t.numel; i += 13)
                    REQUIRE(model.params[t.offset + i] == Approx(before[t.offset + i] * (1 - d)).epsilon(1e-15));
            }
        }
    }
    // independent and width-scaled: the same eta*lambda product at every width
    // for the hidden matrices (with lambda_ind = eta * lambda), while coupled
    // decay shrinks by m
    for (int m : {1, 2, 4, 8}) {
        GPT<float> ws, ind, co;
        ParamConfig a = param_preset("mup", 32), b = a, c = a;
        a.wd_mode = WeightDecayMode::WidthScaled;
        b.wd_mode = WeightDecayMode::Independent;
        c.wd_mode = WeightDecayMode::Coupled;
        OptimizerConfig coupled, independent;
        coupled.lr = independent.lr = lr;
        coupled.weight_decay = lambda;
        independent.weight_decay = lr * lambda;
        gpt_build_parameterized(ws, small_sizes(32 * m), a, coupled);
        gpt_build_parameterized(ind, small_sizes(32 * m), b, independent);
        gpt_build_parameterized(co, small_sizes(32 * m), c, coupled);
        const std::string h = "transformer.h.0.mlp.c_fc.weight";
        double d_ws = decay_per_step(ws.table.get(h), 1.0);
        double d_ind = decay_per_step(ind.table.get(h), 1.0);
        double d_co = decay_per_step(co.table.get(h), 1.0);
        REQUIRE(d_ws == Approx(lr * lambda));
        REQUIRE(d_ind == Approx(lr * lambda));
        REQUIRE(d_co == Approx(lr * lambda / m));
    }
}

TEST_CASE("lrt train: one flag switches the parameterization; the table and wd mode are printed and logged",
          "[param][cli]") {
    std::string lrt = lrt_binary();
    CommandResult table = run_command(lrt + " train --print-table --param mup --width 128 --d-base 64 --wd-mode independent");
    INFO(table.output);
    REQUIRE(table.exit_code == 0);
    REQUIRE(table.output.find("parameterization: mup | width multiplier m = 2") != std::string::npos);
    REQUIRE(table.output.find("readout x0.5") != std::string::npos);
    REQUIRE(table.output.find("weight decay: independent") != std::string::npos);
    // the hidden rows show LR multiplier 1/m = 0.5
    size_t row = table.output.find("transformer.h.0.mlp.c_fc.weight");
    REQUIRE(row != std::string::npos);
    std::string line = table.output.substr(row, table.output.find('\n', row) - row);
    REQUIRE(line.find(" 0.5 ") != std::string::npos);

    TempDir dir;
    CommandResult run = run_command(lrt + " train --quiet --param completep --depth-base 1 --depth 2 --width 32 --d-base 16 "
                                          "--head-dim 8 --steps 3 --batch-size 2 --seq-len 16 --val-batches 1 "
                                          "--synth-train-tokens 4096 --synth-val-tokens 4096 --sample-length 0 "
                                          "--wd-mode width-scaled --wd-set all --out-dir " + dir.path);
    INFO(run.output);
    REQUIRE(run.exit_code == 0);
    std::vector<uint8_t> info = read_file(dir.file("run_info.txt"));
    std::string text(info.begin(), info.end());
    REQUIRE(text.find("parameterization: completep") != std::string::npos);
    REQUIRE(text.find("depth multiplier L/L_base = 2") != std::string::npos);
    REQUIRE(text.find("weight decay: width-scaled") != std::string::npos);
    REQUIRE(text.find("decayed: all") != std::string::npos);
    // a fixed head count: d_head grows with width, so µP's attention scale
    // sqrt(d_head_base)/d_head differs from 1/sqrt(d_head)
    CommandResult heads = run_command(lrt + " train --print-table --param mup --width 256 --d-base 64 --num-heads 4");
    INFO(heads.output);
    REQUIRE(heads.exit_code == 0);
    REQUIRE(heads.output.find("attention logits x0.0625 (d_head 64, d_head_base 16)") != std::string::npos);
    CommandResult odd = run_command(lrt + " train --print-table --param mup --width 256 --d-base 96 --num-heads 64");
    REQUIRE(odd.exit_code == 1);
    REQUIRE(odd.output.find("--d-base 96 is not a multiple of --num-heads 64") != std::string::npos);
    // --head-dim and --num-heads both fix the head size: giving both is an
    // error in every command that builds a model (one used to be ignored)
    const std::vector<std::string> commands = {" train --print-table",
                                               " reference --out " + dir.file("unused.safetensors"),
                                               " coordcheck --out-dir " + dir.file("unused")};
    for (const std::string& cmd : commands) {
        CommandResult both = run_command(lrt + cmd + " --head-dim 16 --num-heads 4");
        INFO(cmd << "\n" << both.output);
        REQUIRE(both.exit_code == 1);
        REQUIRE(both.output.find("--head-dim 16 and --num-heads 4 both set the head size") != std::string::npos);
    }
    REQUIRE_FALSE(file_exists(dir.file("unused.safetensors")));
    CommandResult one = run_command(lrt + " train --print-table --head-dim 16 --num-heads 0");
    INFO(one.output);
    REQUIRE(one.exit_code == 0);
    CommandResult table3 = run_command(lrt + " train --print-table --param mup-table3 --tie-embeddings");
    REQUIRE(table3.exit_code == 1);
    REQUIRE(table3.output.find("mup-table3 needs an untied readout") != std::string::npos);
    // bad combinations fail with a message
    CommandResult bad = run_command(lrt + " train --print-table --param mup --tie-embeddings --zero-init-readout");
    REQUIRE(bad.exit_code == 1);
    REQUIRE(bad.output.find("untied readout") != std::string::npos);
    CommandResult mode = run_command(lrt + " train --print-table --wd-mode decoupled");
    REQUIRE(mode.exit_code == 1);
    REQUIRE(mode.output.find("--wd-mode") != std::string::npos);
}
