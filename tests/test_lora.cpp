// LoRA adapters (docs/lora.md): their gradients against finite differences
// in double precision, the adapted model at B = 0 against the plain one bit
// for bit, frozen tensors that no optimizer moves, LoRA+'s ratio in the
// optimizer rows, and `lrt finetune` end to end: adapters saved and resumed
// bit for bit, and merged into a plain checkpoint with the same logits.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <vector>

#include "gradcheck.h"
#include "model/model.h"
#include "optim/optimizer.h"
#include "param/parameterization.h"
#include "finetune_helpers.h"
#include "test_helpers.h"
#include "train/backend.h"
#include "train/checkpoint.h"
#include "train/finetune.h"
#include "train/step.h"
#include "train/train.h"
#include "util/rng.h"

using Catch::Contains;

namespace {

ModelConfig lora_config(bool bias, bool tied, int targets) {
    ModelConfig c;
    c.vocab_size = 7;
    c.context_length = 6;
    c.width = 8;
    c.head_dim = 4;
    c.depth = 2;
    c.bias = bias;
    c.tie_embeddings = tied;
    c.embedding_multiplier = 1.3;
    c.readout_multiplier = 0.7;
    c.residual_multiplier = 0.8;
    c.attention_scale = 0.45;
    c.lora_rank = 2;
    c.lora_alpha = 3;  // scale 1.5, so a missing scale factor shows
    c.lora_targets = targets;
    return c;
}

// O(1) values everywhere, B included: with B = 0, A's gradient would be 0
// and its check trivial.
void randomize(GPT<double>& m, uint64_t seed) {
    Rng r(seed);
    for (const auto& t : m.table.tensors) {
        double* p = m.params.data() + t.offset;
        for (size_t i = 0; i < t.numel; i++)
            p[i] = t.role == TensorRole::NormGain ? 1.0 + 0.3 * r.normal() : 0.5 * r.normal();
    }
}

ModelConfig small_sizes() {
    ModelConfig c;
    c.vocab_size = 64;
    c.context_length = 16;
    c.width = 32;
    c.depth = 2;
    c.head_dim = 8;
    return c;
}

float max_abs_f(const float* x, size_t n) {
    float m = 0;
    for (size_t i = 0; i < n; i++) m = std::max(m, std::fabs(x[i]));
    return m;
}

}  // namespace

TEST_CASE("adapter gradients match finite differences; frozen tensors get none", "[lora][gradcheck]") {
    const int attn_proj_and_fc = 1 << (int)LoraTarget::AttnProj | 1 << (int)LoraTarget::MlpFc;
    for (auto setting : {std::make_tuple(true, false, LORA_ALL_TARGETS), std::make_tuple(false, true, attn_proj_and_fc)}) {
        GPT<double> m;
        gpt_build(m, lora_config(std::get<0>(setting), std::get<1>(setting), std::get<2>(setting)));
        randomize(m, 31);
        const int B = 2, T = 5;
        std::vector<int> in = random_tokens(B * T, 7, 32), tgt = random_tokens(B * T, 7, 33);
        gpt_forward(m, in.data(), tgt.data(), B, T);
        gpt_zero_grad(m);
        gpt_backward(m);
        const std::vector<double> analytic = m.grads;
        auto loss = [&] { return gpt_forward(m, in.data(), tgt.data(), B, T); };
        int adapters = 0;
        for (const auto& t : m.table.tensors) {
            INFO(t.name);
            if (t.frozen) {
                CHECK(max_abs(analytic.data() + t.offset, t.numel) == 0.0);
                continue;
            }
            REQUIRE(is_adapter(t.role));
            adapters++;
            check_gradient(t.name, m.params.data() + t.offset, t.numel, analytic.data() + t.offset, loss);
            CHECK(max_abs(analytic.data() + t.offset, t.numel) > 1e-4);
        }
        CHECK(adapters == 2 * 2 * __builtin_popcount(std::get<2>(setting)));
    }
}

TEST_CASE("backward leaves a frozen tensor's gradient slot untouched", "[lora]") {
    GPT<double> m;
    gpt_build(m, lora_config(true, false, LORA_ALL_TARGETS));
    randomize(m, 41);
    std::vector<int> in = random_tokens(10, 7, 42), tgt = random_tokens(10, 7, 43);
    gpt_forward(m, in.data(), tgt.data(), 2, 5);
    std::fill(m.grads.begin(), m.grads.end(), 7.0);
    gpt_backward(m);
    for (const auto& t : m.table.tensors)
        if (t.frozen)
            for (size_t i = 0; i < t.numel; i++) REQUIRE(m.grads[t.offset + i] == 7.0);
}

TEST_CASE("with B = 0 the adapted model's logits are the plain model's, bit for bit", "[lora]") {
    ModelConfig plain_config = small_sizes();
    ModelConfig lora = plain_config;
    lora.lora_rank = 4;
    lora.lora_alpha = 8;
    lora.lora_targets = LORA_ALL_TARGETS;
    GPT<float> plain, adapted;
    gpt_build(plain, plain_config);
    gpt_build(adapted, lora);
    gpt_init(plain, 3);
    gpt_init(adapted, 3);
    // the plain tensors come first, at the same offsets, with the same draws
    REQUIRE(adapted.table.total > plain.table.total);
    REQUIRE(std::memcmp(plain.params.data(), adapted.params.data(), plain.table.total * sizeof(float)) == 0);
    for (const auto& t : adapted.table.tensors) {
        if (t.role == TensorRole::AdapterB)
            for (size_t i = 0; i < t.numel; i++) REQUIRE(adapted.params[t.offset + i] == 0.0f);
        if (t.role == TensorRole::AdapterA) CHECK(max_abs_f(adapted.params.data() + t.offset, t.numel) > 0);
    }
    CHECK(adapted.table.find("transformer.h.1.mlp.c_proj.lora_A")->shape == std::vector<int>{4, 128});
    CHECK(adapted.table.find("transformer.h.1.mlp.c_proj.lora_B")->shape == std::vector<int>{32, 4});
    const int B = 2, T = 16;
    std::vector<int> in = random_tokens(B * T, 64, 5), tgt = random_tokens(B * T, 64, 6);
    const double loss_plain = gpt_forward(plain, in.data(), tgt.data(), B, T);
    const double loss_adapted = gpt_forward(adapted, in.data(), tgt.data(), B, T);
    REQUIRE(plain.logits.size() == adapted.logits.size());
    REQUIRE(std::memcmp(plain.logits.data(), adapted.logits.data(), plain.logits.size() * sizeof(float)) == 0);
    REQUIRE(loss_plain == loss_adapted);
}

TEST_CASE("training moves only the adapters, under every optimizer, decay and clipping", "[lora][optimizer]") {
    ModelConfig sizes = small_sizes();
    sizes.lora_rank = 4;
    sizes.lora_alpha = 4;
    sizes.lora_targets = LORA_ALL_TARGETS;
    struct Case {
        OptimizerKind kind;
        DecayNorm norm;
    };
    for (Case c : {Case{OptimizerKind::AdamW, DecayNorm::Frobenius}, Case{OptimizerKind::Muon, DecayNorm::Spectral},
                   Case{OptimizerKind::SGD, DecayNorm::Frobenius}}) {
        INFO(optimizer_name(c.kind));
        OptimizerConfig o;
        o.hidden = c.kind;
        o.lr = 0.01;
        o.weight_decay = 0.1;
        o.wd_norm = c.norm;
        ParamConfig pc;
        pc.wd_set = DecaySet::All;  // decay offered to every tensor: the frozen ones must still not move
        GPT<float> model;
        gpt_build_parameterized(model, sizes, pc, o);
        gpt_init(model, 9);
        // B starts at 0; give it values so that A's first gradient is not 0
        for (const auto& t : model.table.tensors)
            if (t.role == TensorRole::AdapterB)
                for (size_t i = 0; i < t.numel; i++) model.params[t.offset + i] = 0.01f * (float)((i % 7) - 3);
        const std::vector<float> before = model.params;
        OptimizerState<float> state(model.table);
        CpuBackend<float> backend(model, state);
        const int B = 4, T = 16;
        for (int step = 0; step < 3; step++) {
            std::vector<int> in = random_tokens(B * T, 64, 100 + step), tgt = random_tokens(B * T, 64, 200 + step);
            StepPlan plan;
            plan.step = step + 1;
            plan.grad_clip = 1e-3;  // clips every step: the norm must be the adapters' alone
            StepResult r = training_step(backend, model.table, in.data(), tgt.data(), B, T, plan);
            REQUIRE(std::isfinite(r.loss));
        }
        for (const auto& t : model.table.tensors) {
            INFO(t.name);
            const bool same = std::memcmp(before.data() + t.offset, model.params.data() + t.offset,
                                          t.numel * sizeof(float)) == 0;
            if (t.frozen) {
                REQUIRE(same);
                CHECK(max_abs_f(state.m.data() + t.offset, t.numel) == 0);
                CHECK(max_abs_f(state.v.data() + t.offset, t.numel) == 0);
                CHECK(max_abs_f(model.grads.data() + t.offset, t.numel) == 0);
            } else {
                REQUIRE(is_adapter(t.role));
                REQUIRE(!same);
            }
        }
    }
}

TEST_CASE("LoRA+: B's LR multiplier is the ratio times A's, in every preset", "[lora][optimizer][plan]") {
    ModelConfig sizes = small_sizes();
    sizes.lora_rank = 2;
    sizes.lora_alpha = 2;
    sizes.lora_targets = 1 << (int)LoraTarget::AttnQKV | 1 << (int)LoraTarget::MlpProj;
    for (const char* preset : {"sp", "mup"}) {
        INFO(preset);
        ParamConfig pc = param_preset(preset, 16);  // m = 2
        pc.lora_plus_ratio = 16;
        OptimizerConfig o;
        o.lr = 0.003;
        GPT<float> model;
        gpt_build_parameterized(model, sizes, pc, o);
        int pairs = 0;
        for (const auto& a : model.table.tensors) {
            if (a.role != TensorRole::AdapterA) continue;
            const TensorInfo& b = model.table.get(a.name.substr(0, a.name.size() - 1) + "B");
            CHECK(a.lr_multiplier == 1.0);
            CHECK(b.lr_multiplier == 16.0);
            CHECK(tensor_lr(b, 0.5) == Approx(16 * tensor_lr(a, 0.5)).epsilon(1e-15));
            CHECK(a.optim.base_lr == o.lr);
            CHECK(a.init_std == Approx(1 / std::sqrt((double)a.fan_in)));
            CHECK(b.init_std == 0);
            CHECK(b.init_constant == 0);
            pairs++;
        }
        CHECK(pairs == 4);
        for (const auto& t : model.table.tensors)
            if (t.frozen) {
                CHECK(tensor_lr(t, 1.0) == 0);
                CHECK(decay_per_step(t, 1.0) == 0);
            }
        CHECK_THAT(describe_tensor_table(model.table), Contains("frozen") && Contains("trainable parameters: "));
        // --lora-lr-anchor b: B at --lr, A at lr / 16; the same ratio
        pc.lora_lr_anchor = LoraAnchor::B;
        GPT<float> anchored;
        gpt_build_parameterized(anchored, sizes, pc, o);
        for (const auto& a : anchored.table.tensors) {
            if (a.role != TensorRole::AdapterA) continue;
            const TensorInfo& b = anchored.table.get(a.name.substr(0, a.name.size() - 1) + "B");
            CHECK(a.lr_multiplier == 1.0 / 16);
            CHECK(b.lr_multiplier == 1.0);
            CHECK(tensor_lr(b, 0.5) == Approx(16 * tensor_lr(a, 0.5)).epsilon(1e-15));
        }
    }
}

TEST_CASE("adapter settings round-trip through the model config's JSON; plain configs keep theirs", "[lora]") {
    ModelConfig plain = small_sizes();
    CHECK(plain.to_json().find("lora") == std::string::npos);
    ModelConfig c = plain;
    c.lora_rank = 3;
    c.lora_alpha = 6;
    c.lora_targets = parse_lora_targets("attn.c_attn,mlp_proj");
    const ModelConfig back = model_config_from_json(c.to_json());
    CHECK(back.to_json() == c.to_json());
    CHECK(back.lora_targets == (1 << 0 | 1 << 3));
    CHECK(lora_targets_text(parse_lora_targets("all")) == "attn.c_attn,attn.c_proj,mlp.c_fc,mlp.c_proj");
    CHECK_THROWS_WITH(parse_lora_targets("attn.q"), Contains("unknown matrix 'attn.q'"));
}

// ---- lrt finetune, in process ----

namespace {

// The logits of a checkpoint's model on a fixed batch.
std::vector<float> checkpoint_logits(const std::string& path) {
    Checkpoint c = load_checkpoint(path);
    GPT<float> m;
    gpt_build(m, c.config);
    std::vector<float> am, av;
    restore_checkpoint(c, m, am, av);
    std::vector<int> in = random_tokens(2 * 16, m.config.vocab_size, 77);
    gpt_forward(m, in.data(), (const int*)nullptr, 2, 16);
    return m.logits;
}

}  // namespace

TEST_CASE("lrt finetune with adapters: W0 stays, adapters are saved, resume is bit for bit, merge keeps the logits",
          "[lora][checkpoint][train]") {
    TempDir base_dir, whole_dir, part_dir;
    const TrainResult base = pretrain(base_dir.path);
    REQUIRE(base.status == "done");
    const Settings lora = {{"from", base_dir.path}, {"lora-rank", "4"}, {"lora-alpha", "8"},
                           {"lora-plus-ratio", "16"}, {"steps", "12"}, {"warmup-steps", "2"}, {"lr", "0.01"},
                           {"val-every", "5"}, {"measure-every", "4"}};
    Settings whole_settings = lora;
    whole_settings.push_back({"out-dir", whole_dir.path});
    const TrainResult whole = finetune(whole_settings);
    REQUIRE(whole.status == "done");

    const Checkpoint b = load_checkpoint(base.checkpoint_path), w = load_checkpoint(whole.checkpoint_path);
    CHECK(w.config.lora_rank == 4);
    CHECK(w.config.lora_scale() == 2.0);
    CHECK(w.file.find("transformer.h.0.attn.c_attn.lora_A"));
    CHECK(w.file.find("transformer.h.1.mlp.c_proj.lora_B"));
    CHECK(w.file.find("optimizer.m.transformer.h.1.mlp.c_proj.lora_B"));
    CHECK_FALSE(w.file.find("optimizer.m.transformer.h.0.attn.c_attn.weight"));  // frozen: no state
    for (const auto& t : b.file.tensors)
        if (t.name.rfind("optimizer.", 0) != 0) {
            INFO(t.name);
            REQUIRE(t.bytes == w.file.get(t.name).bytes);  // every plain tensor unchanged, bit for bit
        }
    CHECK(w.file.get("transformer.h.0.attn.c_attn.lora_B").bytes !=
          std::vector<uint8_t>(w.file.get("transformer.h.0.attn.c_attn.lora_B").bytes.size(), 0));
    CHECK(file_exists(whole_dir.file("measure.csv")));
    CHECK_THAT(text_of(whole_dir.file("measure.csv")), Contains("lora_A,adapter_a"));
    // run.json marks the frozen tensors; a plain run's has no such field
    CHECK_THAT(text_of(whole_dir.file("run.json")), Contains("\"frozen\":true"));
    CHECK_THAT(text_of(base_dir.file("run.json")), !Contains("frozen"));

    // interrupted after 5 steps and resumed: the same run
    check_resume_matches(lora, part_dir.path, 5, whole, w);

    // merged: a plain checkpoint whose logits are the adapted model's to float rounding
    const std::string merged = whole_dir.file("merged.safetensors");
    merge_adapters(whole.checkpoint_path, merged);
    const Checkpoint mc = load_checkpoint(merged);
    CHECK_FALSE(mc.config.has_adapters());
    CHECK_FALSE(mc.file.find("transformer.h.0.attn.c_attn.lora_A"));
    CHECK(mc.file.get("transformer.h.0.attn.c_attn.weight").bytes !=
          b.file.get("transformer.h.0.attn.c_attn.weight").bytes);
    const std::vector<float> la = checkpoint_logits(whole.checkpoint_path), lm = checkpoint_logits(merged);
    REQUIRE(la.size() == lm.size());
    for (size_t i = 0; i < la.size(); i++) REQUIRE(lm[i] == Approx(la[i]).epsilon(1e-4).margin(1e-4));
    // lrt hessian does not take adapters yet: it says so before any probe
    const CommandResult h = run_command(lrt_binary() + " hessian --checkpoint " + whole.checkpoint_path + " --quiet");
    CHECK(h.exit_code != 0);
    CHECK_THAT(h.output, Contains("has LoRA adapters"));
    // the decay summary describes the adapters, which are what decays (the matrices are frozen)
    TempDir decayed;
    const CommandResult d = run_command(
        lrt_binary() + " finetune --from " + base_dir.path + " --lora-rank 2 --lr 0.1 --weight-decay 0.5 --steps 1 " +
        "--warmup-steps 0 --batch-size 4 --seq-len 32 --synth-train-tokens 100000 --synth-val-tokens 8192 " +
        "--val-batches 2 --sample-length 0 --out-dir " + decayed.path);
    INFO(d.output);
    CHECK(d.exit_code == 0);
    CHECK_THAT(d.output, Contains("weight decay on transformer.h.0.attn.c_attn.lora_A"));
    CHECK_THAT(d.output, Contains("removes more than 1% of the weights"));
    // the replacement warmup would act on frozen matrices: refused
    TempDir warm;
    Settings warm_settings = lora;
    warm_settings.push_back({"out-dir", warm.path});
    warm_settings.push_back({"replacement-warmup", "exponential"});
    warm_settings.push_back({"replacement-tau", "10"});
    CHECK_THROWS_WITH(finetune(warm_settings), Contains("LoRA adapters freeze"));
    // it is a model, not a run: --resume refuses it (zero moments, the fine-tuning run's step), naming --from
    CHECK(mc.state.merged_from == whole.checkpoint_path);
    for (const char* command : {" train", " finetune"}) {
        TempDir out;
        const CommandResult r = run_command(lrt_binary() + command + " --resume " + merged + " --out-dir " + out.path);
        INFO(r.output);
        CHECK(r.exit_code != 0);
        CHECK_THAT(r.output, Contains("a merged checkpoint is a model, not a run: start from it with lrt finetune --from"));
    }
    // and it is a model `lrt finetune` starts from
    TempDir again;
    const TrainResult next = finetune({{"from", merged}, {"steps", "2"}, {"warmup-steps", "0"}, {"out-dir", again.path}});
    CHECK(next.status == "done");
}

TEST_CASE("lrt finetune without adapters trains every tensor from the checkpoint", "[lora][train]") {
    TempDir base_dir, out;
    const TrainResult base = pretrain(base_dir.path);
    const TrainResult full = finetune({{"from", base.checkpoint_path}, {"steps", "3"}, {"warmup-steps", "0"},
                                       {"out-dir", out.path}});
    REQUIRE(full.status == "done");
    const Checkpoint c = load_checkpoint(full.checkpoint_path);
    CHECK_FALSE(c.config.has_adapters());
    CHECK(c.file.find("optimizer.m.transformer.h.0.attn.c_attn.weight"));
    CHECK(c.file.get("transformer.h.0.attn.c_attn.weight").bytes !=
          load_checkpoint(base.checkpoint_path).file.get("transformer.h.0.attn.c_attn.weight").bytes);
    // the model flags come from the checkpoint; one that changes the model is refused
    TempDir bad;
    CHECK_THROWS_WITH(finetune({{"from", base.checkpoint_path}, {"steps", "3"}, {"width", "64"}, {"out-dir", bad.path}}),
                      Contains("is not the one these flags describe"));
    CHECK_THROWS_WITH(finetune({{"lora-rank", "2"}, {"steps", "3"}, {"out-dir", bad.path}}), Contains("--from"));
    // adapter flags without a rank would be ignored: refused
    for (const char* flag : {"lora-alpha", "lora-plus-ratio"})
        CHECK_THROWS_WITH(finetune({{"from", base.checkpoint_path}, {flag, "4"}, {"steps", "3"}, {"out-dir", bad.path}}),
                          Contains("needs --lora-rank"));
    CHECK_THROWS_WITH(
        finetune({{"from", base.checkpoint_path}, {"lora-targets", "mlp.c_fc"}, {"steps", "3"}, {"out-dir", bad.path}}),
        Contains("needs --lora-rank"));
    CHECK_THROWS_WITH(
        finetune({{"from", base.checkpoint_path}, {"lora-lr-anchor", "b"}, {"steps", "3"}, {"out-dir", bad.path}}),
        Contains("needs --lora-rank"));
    // the data flags are the fine-tune's own: a base trained on the default
    // language fine-tunes on another lexicon (new words, same grammar)
    TempDir relexed;
    const TrainResult lex1 = finetune({{"from", base.checkpoint_path}, {"synth-lexicon", "1"}, {"steps", "2"},
                                       {"warmup-steps", "0"}, {"out-dir", relexed.path}});
    CHECK(lex1.status == "done");
    CHECK(lex1.train_losses[0] != full.train_losses[0]);  // same model, other text
    // a shorter --seq-len than the base's: the model (its position table) is the base's
    TempDir shorter;
    const TrainResult s16 = finetune({{"from", base.checkpoint_path}, {"seq-len", "16"}, {"steps", "2"},
                                      {"warmup-steps", "0"}, {"out-dir", shorter.path}});
    CHECK(s16.status == "done");
    CHECK(load_checkpoint(s16.checkpoint_path).config.context_length ==
          load_checkpoint(base.checkpoint_path).config.context_length);
}

TEST_CASE("lrt finetune --help names its flags", "[lora][cli]") {
    const CommandResult r = run_command(lrt_binary() + " finetune --help");
    CHECK(r.exit_code == 0);
    for (const char* flag : {"--from", "--lora-rank", "--lora-alpha", "--lora-targets", "--lora-plus-ratio", "--lora-init",
                             "--lora-lr-anchor", "--merge"})
        CHECK_THAT(r.output, Contains(flag));
}

TEST_CASE("lrt finetune --merge takes only --from and --out", "[lora][cli]") {
    const CommandResult r = run_command(lrt_binary() + " finetune --merge --from x.safetensors --out y.safetensors --steps 3");
    CHECK(r.exit_code != 0);
    CHECK_THAT(r.output, Contains("--merge takes only --from and --out"));
}
