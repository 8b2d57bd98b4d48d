// The optimizer as data: the parameterization resolves, per tensor, which
// optimizer updates it, at what LR and scale, with what decay rule and norm
// (model/tensor_table.h's OptimizerRow); the step reads only those rows. And
// the whole program with Muon, SGD and spectral decay: flags, training,
// checkpoints and bit-for-bit resume.
#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

#include "io/json.h"
#include "model/model.h"
#include "optim/muon.h"
#include "optim/optimizer.h"
#include "optim/sgd.h"
#include "optim/spectral_decay.h"
#include "param/parameterization.h"
#include "test_helpers.h"
#include "train/checkpoint.h"
#include "train/train.h"
#include "util/rng.h"
#include "util/util.h"

using Catch::Contains;

namespace {

ModelConfig sizes_of(int width) {
    ModelConfig c;
    c.vocab_size = 64;
    c.context_length = 16;
    c.width = width;
    c.depth = 2;
    c.head_dim = 8;
    return c;
}

bool is_vector(const TensorInfo& t) { return t.shape.size() == 1; }

}  // namespace

TEST_CASE("the plan: hidden matrices under --optimizer, the rest under AdamW at --adam-lr", "[optimizer][plan]") {
    const int m = 2;
    ParamConfig pc = param_preset("mup", 32);
    for (MuonScale scale : {MuonScale::Keller, MuonScale::Moonlight, MuonScale::Spectral, MuonScale::None}) {
        OptimizerConfig o;
        o.hidden = OptimizerKind::Muon;
        o.lr = 0.02;
        o.adam_lr = 0.005;
        o.muon_scale = scale;
        o.muon_momentum = 0.9;
        o.muon_nesterov = false;
        o.muon_ns_steps = 7;
        o.muon_coefficients = NSCoefficients::Classic;
        GPT<float> model;
        gpt_build_parameterized(model, sizes_of(32 * m), pc, o);
        INFO(muon_scale_name(scale));
        for (const TensorInfo& t : model.table.tensors) {
            INFO(t.name);
            const OptimizerRow& r = t.optim;
            if (t.role == TensorRole::HiddenMatrix) {
                REQUIRE(r.kind == OptimizerKind::Muon);
                REQUIRE(r.base_lr == 0.02);
                // µP's 1/m only where the scale rule restores Adam's per-entry size
                REQUIRE(t.lr_multiplier == Approx(scale == MuonScale::Moonlight ? 1.0 / m : 1.0));
                REQUIRE(r.update_scale == muon_scale_factor(scale, t.fan_out, t.fan_in));
                REQUIRE(r.momentum == 0.9);
                REQUIRE_FALSE(r.nesterov);
                REQUIRE(r.ns_steps == 7);
                REQUIRE(r.ns_coefficients == NSCoefficients::Classic);
            } else {
                REQUIRE(r.kind == OptimizerKind::AdamW);
                REQUIRE(r.base_lr == 0.005);
                REQUIRE(r.beta1 == o.beta1);
                REQUIRE(r.eps == o.eps * t.eps_multiplier);
            }
        }
    }
    // SGD: µP's hidden-matrix rule for SGD is a width-independent LR
    OptimizerConfig sgd;
    sgd.hidden = OptimizerKind::SGD;
    sgd.sgd_momentum = 0.5;
    sgd.sgd_nesterov = true;
    GPT<float> model;
    gpt_build_parameterized(model, sizes_of(32 * m), pc, sgd);
    for (const TensorInfo& t : model.table.tensors)
        if (t.role == TensorRole::HiddenMatrix) {
            REQUIRE(t.optim.kind == OptimizerKind::SGD);
            REQUIRE(t.lr_multiplier == 1.0);
            REQUIRE(t.optim.momentum == 0.5);
            REQUIRE(t.optim.nesterov);
            REQUIRE(t.optim.base_lr == sgd.lr);  // --adam-lr 0: the AdamW tensors share --lr
        }
    // --adam-lr under AdamW too: the hidden matrices keep --lr, the rest take --adam-lr
    OptimizerConfig adam;
    adam.lr = 0.004;
    adam.adam_lr = 0.001;
    gpt_build_parameterized(model, sizes_of(32 * m), pc, adam);
    for (const TensorInfo& t : model.table.tensors) {
        INFO(t.name);
        REQUIRE(t.optim.kind == OptimizerKind::AdamW);
        REQUIRE(t.optim.base_lr == (t.role == TensorRole::HiddenMatrix ? 0.004 : 0.001));
    }
    // width-scaled decay multiplies lambda by m only where the LR is divided by m
    pc.wd_mode = WeightDecayMode::WidthScaled;
    OptimizerConfig keller;
    keller.hidden = OptimizerKind::Muon;
    gpt_build_parameterized(model, sizes_of(32 * m), pc, keller);
    for (const TensorInfo& t : model.table.tensors)
        if (t.role == TensorRole::HiddenMatrix) REQUIRE(t.weight_decay_multiplier == 1.0);
    gpt_build_parameterized(model, sizes_of(32 * m), pc);  // AdamW: LR / m, so lambda x m
    for (const TensorInfo& t : model.table.tensors)
        if (t.role == TensorRole::HiddenMatrix) REQUIRE(t.weight_decay_multiplier == Approx(m));
}

TEST_CASE("the plan: decay rule and norm per row; spectral vectors laid out per decayed matrix", "[optimizer][plan]") {
    ParamConfig pc = param_preset("mup", 32);
    pc.wd_set = DecaySet::All;
    for (WeightDecayMode mode : {WeightDecayMode::Coupled, WeightDecayMode::Independent}) {
        pc.wd_mode = mode;
        OptimizerConfig o;
        o.weight_decay = 0.05;
        o.wd_norm = DecayNorm::Spectral;
        o.spectral_iters = 3;
        GPT<float> model;
        gpt_build_parameterized(model, sizes_of(64), pc, o);
        size_t expect_offset = 0;
        for (const TensorInfo& t : model.table.tensors) {
            INFO(t.name);
            const OptimizerRow& r = t.optim;
            REQUIRE(r.weight_decay == 0.05 * t.weight_decay_multiplier);
            REQUIRE(r.decay_follows_lr == (mode == WeightDecayMode::Coupled));
            if (is_vector(t)) {
                REQUIRE(r.decay_norm == DecayNorm::Frobenius);  // a vector's only norm
            } else {
                REQUIRE(r.decay_norm == DecayNorm::Spectral);
                REQUIRE(r.spectral_iters == 3);
                REQUIRE(r.spectral_offset == expect_offset);
                expect_offset += (size_t)t.fan_in;
            }
        }
        REQUIRE(model.table.spectral_total == expect_offset);
        // the per-step decay follows the row: lr_t x lambda, or s_t x lambda
        const TensorInfo& h = model.table.get("transformer.h.0.mlp.c_fc.weight");
        const double s_t = 0.4;
        const double expect = mode == WeightDecayMode::Coupled ? o.lr * s_t * h.lr_multiplier * 0.05 : s_t * 0.05;
        REQUIRE(decay_per_step(h, s_t) == Approx(expect));
    }
}

TEST_CASE("Muon or SGD on a tensor that is not a matrix is refused", "[optimizer][plan]") {
    ModelConfig sizes = sizes_of(32);
    ParamConfig pc = param_preset("sp");
    Parameterization p = resolve_parameterization(sizes, pc);
    for (OptimizerKind kind : {OptimizerKind::Muon, OptimizerKind::SGD}) {
        TensorTable table = build_tensor_table(sizes);
        TensorInfo& odd = table.tensors[4];  // a hidden matrix's row, made 1-D
        REQUIRE(odd.role == TensorRole::HiddenMatrix);
        odd.shape = {(int)odd.numel};
        OptimizerConfig o;
        o.hidden = kind;
        REQUIRE_THROWS_WITH(apply_parameterization(table, sizes, p, o),
                            Contains("updates matrices only") && Contains(odd.name));
    }
}

TEST_CASE("optimizer_step runs each row's optimizer, decay before update", "[optimizer][plan]") {
    // three tensors: an AdamW vector, a Muon matrix under spectral decay, an
    // SGD matrix under Frobenius decay; the step against the kernels called by hand
    TensorTable table;
    auto add = [&](const char* name, std::vector<int> shape, OptimizerKind kind) -> TensorInfo& {
        TensorInfo t;
        t.name = name;
        t.shape = shape;
        t.numel = 1;
        for (int s : shape) t.numel *= (size_t)s;
        if (shape.size() == 2) t.fan_out = shape[0], t.fan_in = shape[1];
        t.offset = table.total;
        table.total += t.numel;
        t.optim.kind = kind;
        t.optim.base_lr = 0.01;
        t.optim.weight_decay = 0.5;
        table.tensors.push_back(t);
        return table.tensors.back();
    };
    add("gain", {6}, OptimizerKind::AdamW);
    TensorInfo& muon = add("muon", {6, 10}, OptimizerKind::Muon);
    muon.optim.momentum = 0.95;
    muon.optim.nesterov = true;
    muon.optim.update_scale = 1.7;
    muon.optim.decay_norm = DecayNorm::Spectral;
    muon.optim.spectral_iters = 2;
    muon.optim.spectral_offset = 0;
    table.spectral_total = 10;
    TensorInfo& sgd = add("sgd", {5, 4}, OptimizerKind::SGD);
    sgd.optim.momentum = 0.8;
    sgd.optim.decay_follows_lr = false;
    const TensorInfo &g0 = table.tensors[0], &m0 = table.tensors[1], &s0 = table.tensors[2];

    Rng rng(3);
    std::vector<float> params(table.total), grads(table.total);
    for (float& x : params) x = (float)rng.normal();
    OptimizerState<float> state(table);
    std::vector<float> p = params, mom(table.total, 0.0f), vel(table.total, 0.0f), v1(10, 0.0f);
    const double s_t = 0.5;
    for (int step = 1; step <= 3; step++) {
        for (float& x : grads) x = (float)(0.1 * rng.normal());
        optimizer_step(params.data(), grads.data(), state, table, s_t, step);
        // by hand, from the rows' own numbers
        const double lr = 0.01 * s_t;
        adamw_update(p.data(), grads.data(), mom.data(), vel.data(), g0.numel, lr, lr * 0.5, g0.optim.beta1,
                     g0.optim.beta2, g0.optim.eps, step);
        spectral_decay(p.data() + m0.offset, 6, 10, v1.data(), lr * 0.5, 2);
        muon_update(p.data() + m0.offset, grads.data() + m0.offset, mom.data() + m0.offset, 6, 10, lr, 0.0, 0.95, true,
                    m0.optim.ns_steps, m0.optim.ns_coefficients, 1.7);
        sgd_update(p.data() + s0.offset, grads.data() + s0.offset, mom.data() + s0.offset, s0.numel, lr, s_t * 0.5,
                   0.8, false);
        INFO("step " << step);
        REQUIRE(params == p);
        REQUIRE(state.m == mom);
        REQUIRE(state.v == vel);
        REQUIRE(state.spectral == v1);
    }
    REQUIRE(std::fabs(v1[0]) > 0);  // the spectral vector was found and kept
}

// ---------------------------------------------------------------------------
// the program

static const std::string SMALL_RUN = " --width 32 --depth 2 --head-dim 16 --batch-size 8 --seq-len 64 "
                                     "--synth-train-tokens 400000 --synth-val-tokens 20000 --val-batches 4 "
                                     "--sample-length 0 --quiet";

TEST_CASE("bad optimizer flags are refused with the reason", "[optimizer][cli]") {
    TempDir dir;
    const std::string lrt = lrt_binary() + " train --steps 2 --out-dir " + dir.file("run");
    struct Case {
        std::string flags, message;
    };
    for (const Case& c : std::vector<Case>{
             {"--optimizer adam", "--optimizer must be one of adamw, muon, sgd, got 'adam'"},
             {"--muon-scale huge", "--muon-scale must be one of keller, moonlight, spectral, none"},
             {"--muon-coefficients cubic", "--muon-coefficients must be one of quintic, classic"},
             {"--wd-norm nuclear", "--wd-norm must be one of frobenius, spectral"},
             {"--spectral-iters 0", "--spectral-iters must be in [1, 1000]"},
             {"--muon-momentum -0.1", "--muon-momentum must be in [0, 0.999999]"},
             {"--sgd-momentum -1", "--sgd-momentum must be in [0, 0.999999]"},
             {"--muon-ns-steps 0", "--muon-ns-steps must be in [1, 100]"},
             {"--adam-lr -1", "--adam-lr must be >= 0"}}) {
        CommandResult r = run_command(lrt + " " + c.flags);
        INFO(c.flags << "\n" << r.output);
        REQUIRE(r.exit_code == 1);
        REQUIRE(r.output.find(c.message) != std::string::npos);
    }
}

TEST_CASE("Muon with the spectral scale and spectral decay trains, and resumes bit for bit", "[optimizer][train]") {
    TempDir dir;
    const std::string flags = SMALL_RUN + " --optimizer muon --muon-scale spectral --wd-norm spectral --lr 0.02 "
                                          "--adam-lr 0.003 --steps 60 --warmup-steps 6 --val-every 0";
    CommandResult whole = run_command(lrt_binary() + " train" + flags + " --out-dir " + dir.file("whole"));
    INFO(whole.output);
    REQUIRE(whole.exit_code == 0);
    RunOutcome o = read_run_outcome(dir.file("whole"));
    REQUIRE(o.state == RunOutcome::Done);
    REQUIRE(o.final_val_loss < std::log(256.0) - 2.0);  // it learned (ln V = 5.55 at the start)
    // the checkpoint carries each spectrally decayed matrix's vector
    Checkpoint c = load_checkpoint(dir.file("whole/checkpoint.safetensors"));
    const StTensor* v1 = c.file.find("optimizer.spectral_v1.transformer.h.0.mlp.c_fc.weight");
    REQUIRE(v1 != nullptr);
    REQUIRE(v1->shape == std::vector<int64_t>{32});
    // interrupted at 25 and resumed: the same bits
    CommandResult part = run_command(lrt_binary() + " train" + flags + " --stop-after 25 --out-dir " + dir.file("part"));
    REQUIRE(part.exit_code == 0);
    CommandResult rest = run_command(lrt_binary() + " train --quiet --resume " + dir.file("part"));
    INFO(rest.output);
    REQUIRE(rest.exit_code == 0);
    Checkpoint a = load_checkpoint(dir.file("whole/checkpoint.safetensors")),
               b = load_checkpoint(dir.file("part/checkpoint.safetensors"));
    REQUIRE(a.file.tensors.size() == b.file.tensors.size());
    for (const StTensor& t : a.file.tensors) {
        INFO(t.name);
        REQUIRE(t.bytes == b.file.get(t.name).bytes);
    }
    REQUIRE(read_run_outcome(dir.file("part")).final_val_loss == o.final_val_loss);
}

TEST_CASE("SGD trains the hidden matrices; run.json and run_info.txt say who updates what", "[optimizer][train]") {
    TempDir dir;
    CommandResult r = run_command(lrt_binary() + " train" + SMALL_RUN +
                                  " --optimizer sgd --lr 0.5 --adam-lr 0.003 --steps 40 --val-every 0 --out-dir " +
                                  dir.file("run"));
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    REQUIRE(read_run_outcome(dir.file("run")).final_val_loss < std::log(256.0) - 1.0);
    std::vector<uint8_t> bytes = read_file(dir.file("run/run.json"));
    JsonValue j = parse_json(std::string(bytes.begin(), bytes.end()));
    REQUIRE(j.at("optimizer").at("hidden").as_string() == "sgd");
    REQUIRE(j.at("optimizer").at("adam_lr").as_number() == 0.003);
    int sgd_rows = 0;
    for (size_t i = 0; i < j.at("tensors").size(); i++) {
        const JsonValue& t = j.at("tensors").at(i);
        const bool hidden = t.at("role").as_string() == "hidden_matrix";
        REQUIRE(t.at("optimizer").as_string() == (hidden ? "sgd" : "adamw"));
        REQUIRE(t.at("lr").as_number() == Approx(hidden ? 0.5 : 0.003));
        sgd_rows += hidden;
    }
    REQUIRE(sgd_rows == 8);  // 4 matrices x 2 blocks
    std::vector<uint8_t> info = read_file(dir.file("run/run_info.txt"));
    REQUIRE(std::string(info.begin(), info.end()).find("hidden matrices SGD (momentum 0.9)") != std::string::npos);
}
