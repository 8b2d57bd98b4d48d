#include "study/reference.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "io/json.h"
#include "model/model.h"
#include "optim/optimizer.h"
#include "train/backend.h"
#include "train/run_metadata.h"
#include "train/step.h"
#include "util/rng.h"
#include "util/util.h"

void declare_reference_flags(FlagSet& f, ReferenceConfig& c) {
    declare_model_flags(f, c.model);
    declare_param_flags(f, c.param);
    f.section("Reference state");
    f.add("batch-size", &c.batch_size, "sequences B", between(1, 1024));
    f.add("seq-len", &c.seq_len, "tokens per sequence T", between(1, 4096));
    f.add("steps", &c.steps, "optimizer steps k on the same batch", between(0, 1000));
    f.add("seed", &c.seed, "seed of the initialization (as lrt train's --seed)", at_least(0));
    f.add("data-seed", &c.data_seed, "seed of the random tokens", at_least(0));
    f.add("dtype", &c.dtype, "element type of the floating tensors", {{"f32", Dtype::F32}, {"f64", Dtype::F64}});
    f.add("out", &c.out, "safetensors file to write");
    f.section("Optimizer (as lrt train's; constant LR, no gradient clipping)");
    declare_optimizer_flags(f, c.optim, false, "base learning rate (constant)");
    f.section("LoRA adapters (as lrt finetune's; only the adapters train)");
    declare_lora_flags(f, c.lora, c.param);
    f.add("lora-b-init-std", &c.lora_b_init_std,
          "B's init std (lrt finetune starts B at 0, which makes A's gradient exactly 0: nothing to check)",
          at_least(0));
}

// The adapter flags, which a plain reference's flags JSON leaves out (it was
// written before they existed, and is regenerated bit for bit).
static bool is_lora_flag(const std::string& name) { return name.compare(0, 5, "lora-") == 0; }

// Small sizes by default: a reference is for checking code, not for training.
static ReferenceConfig reference_defaults() {
    ReferenceConfig c;
    c.model.vocab_size = 64;
    c.model.width = 32;
    c.model.depth = 2;
    c.model.head_dim = 8;
    c.optim.lr = 1e-2;
    c.optim.grad_clip = 0;
    return c;
}

// The key third of each c_attn bias adds the same number to all of a query's
// attention logits, which softmax ignores: its gradient is exactly 0. What the
// backward pass computes there is rounding noise (~1e-18) that changes with
// the SIMD width and compiler, and Adam would turn it into machine-dependent
// parameter changes. The reference states the exact value, 0.
static void zero_key_bias_grads(GPT<double>& model) {
    const size_t C = (size_t)model.config.width;
    for (const auto& b : model.blocks)
        if (b.qkv_b >= 0) std::fill(model.grads.begin() + b.qkv_b + C, model.grads.begin() + b.qkv_b + 2 * C, 0.0);
}

SafeTensors make_reference(const ReferenceConfig& c, const std::string& flags_json) {
    const ModelConfig sizes = with_adapters(model_sizes(c.model, c.seq_len), c.lora);
    const ParamConfig pc = with_head_dim_base(c.param, c.model);
    OptimizerConfig optim = c.optim;
    optim.grad_clip = 0;  // a reference is unclipped: every implementation's step is the plain formula
    // init exactly as `lrt train` does (float32), then continue in float64
    GPT<float> init_model;
    gpt_build_parameterized(init_model, sizes, pc, optim);
    GPT<double> model;
    const Parameterization p = gpt_build_parameterized(model, sizes, pc, optim);
    // B's init: set in both tables, so the metadata's row says what was drawn
    for (size_t i = 0; i < model.table.tensors.size(); i++)
        if (model.table.tensors[i].role == TensorRole::AdapterB)
            model.table.tensors[i].init_std = init_model.table.tensors[i].init_std = c.lora_b_init_std;
    gpt_init(init_model, (uint64_t)c.seed);
    for (size_t i = 0; i < model.params.size(); i++) model.params[i] = init_model.params[i];

    const int B = c.batch_size, T = c.seq_len, V = sizes.vocab_size, N = B * T;
    // random tokens: a stream of T + 1 per row, targets are the next tokens
    Rng rng((uint64_t)c.data_seed * 0x9E3779B97F4A7C15ull + 17);
    std::vector<int64_t> inputs64(N), targets64(N);
    std::vector<int> inputs(N), targets(N);
    for (int b = 0; b < B; b++) {
        std::vector<int> row(T + 1);
        for (int& t : row) t = (int)rng.below((uint64_t)V);
        for (int t = 0; t < T; t++) {
            inputs[b * T + t] = row[t];
            targets[b * T + t] = row[t + 1];
        }
    }
    for (int i = 0; i < N; i++) inputs64[i] = inputs[i], targets64[i] = targets[i];

    SafeTensors st;
    const bool f64 = c.dtype == Dtype::F64;
    auto add = [&](const std::string& name, std::vector<int64_t> shape, const double* data, size_t n) {
        if (f64) {
            st.add(name, std::move(shape), data);
        } else {
            std::vector<float> f(data, data + n);
            st.add(name, std::move(shape), f.data());
        }
    };
    st.add("inputs", {B, T}, inputs64.data());
    st.add("targets", {B, T}, targets64.data());
    for (const auto& t : model.table.tensors) add("init." + t.name, t.shape64(), model.params.data() + t.offset, t.numel);

    // k steps of lrt train's own step function on the same batch, at s_t = 1;
    // the first pass's logits and gradients are kept for the file
    OptimizerState<double> state(model.table);
    CpuBackend<double> backend(model, state);
    std::vector<double> losses, logits0, grads0;
    StepHooks hooks;
    hooks.after_forward = [&] {
        if (logits0.empty()) logits0 = model.logits;
    };
    hooks.after_backward = [&] {
        zero_key_bias_grads(model);
        if (grads0.empty()) grads0 = model.grads;
    };
    if (c.steps == 0) {
        // no step: the logits, loss and gradients at the initial parameters
        losses.push_back(backend.forward(inputs.data(), targets.data(), B, T));
        hooks.after_forward();
        backend.backward();
        hooks.after_backward();
    }
    for (int step = 0; step < c.steps; step++) {
        StepPlan plan;
        plan.step = step + 1;
        losses.push_back(training_step(backend, model.table, inputs.data(), targets.data(), B, T, plan, nullptr, &hooks).loss);
    }
    // the loss at the parameters after the last step
    if (c.steps > 0) losses.push_back(backend.forward(inputs.data(), targets.data(), B, T));
    add("logits", {B, T, V}, logits0.data(), (size_t)N * V);
    add("loss", {}, &losses[0], 1);
    // a frozen tensor (beside adapters) has neither: absent, not zeros
    for (const auto& t : model.table.tensors)
        if (!t.frozen) add("grad." + t.name, t.shape64(), grads0.data() + t.offset, t.numel);
    add("losses", {(int64_t)losses.size()}, losses.data(), losses.size());
    for (const auto& t : model.table.tensors)
        if (!t.frozen) add("final." + t.name, t.shape64(), model.params.data() + t.offset, t.numel);

    // ---- metadata
    JsonValue opt = optimizer_json(optim);
    opt.set("name", JsonValue::make_string(
                        std::string(optimizer_name(optim.hidden)) + " for the hidden matrices, AdamW (torch.optim.AdamW "
                        "order of operations) for the rest; constant lr, no gradient clipping"));
    opt.set("steps", JsonValue::make_number(c.steps));
    const std::string d = pc.wd_mode == WeightDecayMode::Independent ? "d = weight_decay * wd_mult (independent of lr)"
                                                                      : "d = lr * lr_mult * weight_decay * wd_mult";
    opt.set("decay", JsonValue::make_string(optim.wd_norm == DecayNorm::Spectral
                                                ? d + "; matrices: W -= d (W v1) v1^T (spectral), vectors: p *= 1 - d"
                                                : d + "; p *= 1 - d"));
    st.set_meta("format", "lrtransfer-reference");
    st.set_meta("format_version", "1");
    st.set_meta("model_config", model.config.to_json());
    st.set_meta("parameterization", to_json(parameterization_json(p)));
    st.set_meta("optimizer", to_json(opt));
    st.set_meta("tensors", to_json(tensor_table_json(model.table)));
    st.set_meta("flags", flags_json);
    if (sizes.has_adapters()) {
        JsonValue lora = JsonValue::make_object();
        lora.set("rank", JsonValue::make_number(sizes.lora_rank));
        lora.set("alpha", JsonValue::make_number(sizes.lora_alpha));
        lora.set("scale", JsonValue::make_number(sizes.lora_scale()));
        lora.set("targets", JsonValue::make_string(lora_targets_text(sizes.lora_targets)));
        lora.set("plus_ratio", JsonValue::make_number(pc.lora_plus_ratio));
        lora.set("lr_anchor", JsonValue::make_string(pc.lora_lr_anchor == LoraAnchor::A ? "a" : "b"));
        lora.set("forward", JsonValue::make_string("y = x W0^T + b + scale (x A^T) B^T; A (r, fan_in), B (fan_out, r)"));
        lora.set("a_init", JsonValue::make_string("N(0, 1/fan_in), as lrt finetune"));
        lora.set("b_init_std", JsonValue::make_number(c.lora_b_init_std));
        lora.set("b_init", JsonValue::make_string("N(0, b_init_std^2), drawn like every other tensor (lrt finetune "
                                                  "starts B at 0, where A's gradient is exactly 0)"));
        lora.set("frozen_tensors", JsonValue::make_string("every tensor but the adapters: init.<name> only, no grad. "
                                                          "or final. entry (their value never changes)"));
        st.set_meta("lora", to_json(lora));
    }
    return st;
}

// The flag JSON without --out, which does not change the contents.
static std::string flags_without_out(const FlagSet& f) {
    JsonValue j = parse_json(f.to_json());
    JsonValue kept = JsonValue::make_object();
    const bool adapters = f.value_string("lora-rank") != "0";
    for (auto& kv : j.obj)
        if (kv.first != "out" && (adapters || !is_lora_flag(kv.first))) kept.set(kv.first, kv.second);
    return to_json(kept);
}

ReferenceConfig reference_config_from_json(const std::string& flags_json, std::string* canonical_json) {
    ReferenceConfig c = reference_defaults();
    FlagSet f("reference", "");
    declare_reference_flags(f, c);
    JsonValue j = parse_json(flags_json);
    for (const auto& kv : j.obj) {
        if (!f.has(kv.first)) fail("reference flags: unknown setting --" + kv.first);
        f.set(kv.first, kv.second.as_string());
    }
    if (canonical_json) *canonical_json = flags_without_out(f);
    return c;
}

int reference_command(int argc, char** argv) {
    ReferenceConfig c = reference_defaults();
    FlagSet f("reference",
              "lrt reference --out FILE [flags]\n\n"
              "Writes a reference state for checking another implementation against this one: tokens, initial\n"
              "parameters, logits, loss, every gradient, and the parameters and losses after --steps optimizer\n"
              "steps (AdamW, or Muon or SGD for the hidden matrices), with the parameterization, optimizer,\n"
              "weight-decay mode and norm, and the resolved per-tensor settings in the metadata.\n"
              "With --lora-rank r > 0, LoRA adapters sit beside the chosen matrices and only they train, as in lrt\n"
              "finetune, but B starts from N(0, --lora-b-init-std^2) rather than 0 so that A's gradient is not 0.\n"
              "See docs/reference-states.md for every tensor name and a PyTorch example.");
    declare_reference_flags(f, c);
    if (!f.parse(argc, argv, 2)) return 0;
    check_model_flags(f, c.model);
    if (c.lora.lora_rank == 0)
        for (const std::string& name : f.names())
            if (is_lora_flag(name) && f.was_set(name))
                fail("--" + name + " needs --lora-rank r > 0 (without adapters there is nothing for it to set)");
    if (c.out.empty()) fail("--out is required (the safetensors file to write)");
    const double t0 = wall_seconds();
    SafeTensors st = make_reference(c, flags_without_out(f));
    save_safetensors(c.out, st);
    std::vector<double> losses;
    const StTensor& l = st.get("losses");
    for (size_t i = 0; i < l.numel(); i++) {
        double x;
        if (c.dtype == Dtype::F64) std::memcpy(&x, l.bytes.data() + 8 * i, 8);
        else {
            float y;
            std::memcpy(&y, l.bytes.data() + 4 * i, 4);
            x = y;
        }
        losses.push_back(x);
    }
    std::printf("wrote %s: %s, %s, %zu tensors; losses", c.out.c_str(), preset_name(c.param.preset),
                optimizer_name(c.optim.hidden), st.tensors.size());
    for (double x : losses) std::printf(" %.6f", x);
    std::printf(" (%.2fs)\n", wall_seconds() - t0);
    return 0;
}
