#include "study/reference.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "io/json.h"
#include "model/model.h"
#include "optim/optimizer.h"
#include "util/rng.h"
#include "util/util.h"

void declare_reference_flags(FlagSet& f, ReferenceConfig& c) {
    declare_model_flags(f, c.model);
    declare_param_flags(f, c.param);
    f.section("Reference state");
    f.add("batch-size", &c.batch_size, "sequences B", between(1, 1024));
    f.add("seq-len", &c.seq_len, "tokens per sequence T", between(1, 4096));
    f.add("steps", &c.steps, "AdamW steps k on the same batch", between(0, 1000));
    f.add("lr", &c.lr, "base learning rate (constant)", positive());
    f.add("beta1", &c.beta1, "Adam beta1", between(0, 0.999999));
    f.add("beta2", &c.beta2, "Adam beta2", between(0, 0.999999));
    f.add("eps", &c.eps, "Adam epsilon", at_least(0));
    f.add("weight-decay", &c.weight_decay, "weight decay lambda (see --wd-mode)", at_least(0));
    f.add("seed", &c.seed, "seed of the initialization (as lrt train's --seed)", at_least(0));
    f.add("data-seed", &c.data_seed, "seed of the random tokens", at_least(0));
    f.add("dtype", &c.dtype, "element type of the floating tensors", {"f32", "f64"});
    f.add("out", &c.out, "safetensors file to write");
}

// Small sizes by default: a reference is for checking code, not for training.
static ReferenceConfig reference_defaults() {
    ReferenceConfig c;
    c.model.vocab_size = 64;
    c.model.width = 32;
    c.model.depth = 2;
    c.model.head_dim = 8;
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
    const ModelConfig sizes = model_sizes(c.model, c.seq_len);
    const ParamConfig pc = with_head_dim_base(c.param, c.model);
    // init exactly as `lrt train` does (float32), then continue in float64
    GPT<float> init_model;
    gpt_build_parameterized(init_model, sizes, pc);
    gpt_init(init_model, (uint64_t)c.seed);
    GPT<double> model;
    const Parameterization p = gpt_build_parameterized(model, sizes, pc);
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

    AdamWConfig adam;
    adam.lr = c.lr;
    adam.beta1 = c.beta1;
    adam.beta2 = c.beta2;
    adam.eps = c.eps;
    adam.weight_decay = c.weight_decay;
    adam.grad_clip = 0;
    adam.independent_decay = p.independent_decay;

    SafeTensors st;
    const bool f64 = c.dtype == "f64";
    if (c.dtype != "f32" && !f64) fail("--dtype must be f32 or f64");
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

    std::vector<double> losses;
    double loss = gpt_forward(model, inputs.data(), targets.data(), B, T);
    losses.push_back(loss);
    add("logits", {B, T, V}, model.logits.data(), (size_t)N * V);
    add("loss", {}, &loss, 1);
    gpt_zero_grad(model);
    gpt_backward(model);
    zero_key_bias_grads(model);
    for (const auto& t : model.table.tensors) add("grad." + t.name, t.shape64(), model.grads.data() + t.offset, t.numel);

    std::vector<double> m(model.table.total, 0.0), v(model.table.total, 0.0);
    for (int step = 0; step < c.steps; step++) {
        if (step > 0) {
            losses.push_back(gpt_forward(model, inputs.data(), targets.data(), B, T));
            gpt_zero_grad(model);
            gpt_backward(model);
            zero_key_bias_grads(model);
        }
        adamw_step(model.params.data(), model.grads.data(), m.data(), v.data(), model.table, adam, c.lr, 1.0, step + 1);
    }
    if (c.steps > 0) losses.push_back(gpt_forward(model, inputs.data(), targets.data(), B, T));
    add("losses", {(int64_t)losses.size()}, losses.data(), losses.size());
    for (const auto& t : model.table.tensors) add("final." + t.name, t.shape64(), model.params.data() + t.offset, t.numel);

    // ---- metadata
    auto num = [](double x) { return JsonValue::make_number(x); };
    auto str = [](const std::string& s) { return JsonValue::make_string(s); };
    JsonValue par = JsonValue::make_object();
    par.set("preset", str(pc.preset));
    par.set("width_multiplier", num(p.m));
    par.set("depth_multiplier", num(p.depth_mult));
    par.set("init", str(p.rules.init_family));
    par.set("attention", str(p.rules.attention == "mup" ? "sqrt(d_head_base)/d_head" : "1/sqrt(d_head)"));
    par.set("head_dim_base", num(p.head_dim_base));
    par.set("wd_mode", str(pc.wd_mode));
    par.set("wd_set", str(pc.wd_set));
    JsonValue opt = JsonValue::make_object();
    opt.set("name", str("AdamW (torch.optim.AdamW order of operations), constant lr, no gradient clipping"));
    opt.set("lr", num(c.lr));
    opt.set("beta1", num(c.beta1));
    opt.set("beta2", num(c.beta2));
    opt.set("eps", num(c.eps));
    opt.set("weight_decay", num(c.weight_decay));
    opt.set("steps", num(c.steps));
    opt.set("decay", str(p.independent_decay ? "p *= 1 - weight_decay * wd_mult (independent of lr)"
                                             : "p *= 1 - lr * lr_mult * weight_decay * wd_mult"));
    JsonValue tensors = JsonValue::make_array();
    for (const auto& t : model.table.tensors) {
        JsonValue row = JsonValue::make_object();
        row.set("name", str(t.name));
        row.set("role", str(role_name(t.role)));
        JsonValue shape = JsonValue::make_array();
        for (int s : t.shape) shape.push(num(s));
        row.set("shape", shape);
        row.set("init_std", num(t.init_std));
        row.set("init_constant", num(t.init_constant));
        row.set("init_zero_rows", num(t.init_zero_rows));
        row.set("lr_multiplier", num(t.lr_multiplier));
        row.set("weight_decay_multiplier", num(t.weight_decay_multiplier));
        row.set("eps_multiplier", num(t.eps_multiplier));
        row.set("lr", num(c.lr * t.lr_multiplier));
        row.set("eps", num(c.eps * t.eps_multiplier));
        row.set("decay_per_step", num(decay_per_step(t, adam, c.lr, 1.0)));
        tensors.push(row);
    }
    st.set_meta("format", "lrtransfer-reference");
    st.set_meta("format_version", "1");
    st.set_meta("model_config", model.config.to_json());
    st.set_meta("parameterization", to_json(par));
    st.set_meta("optimizer", to_json(opt));
    st.set_meta("tensors", to_json(tensors));
    st.set_meta("flags", flags_json);
    return st;
}

// The flag JSON without --out, which does not change the contents.
static std::string flags_without_out(const FlagSet& f) {
    JsonValue j = parse_json(f.to_json());
    JsonValue kept = JsonValue::make_object();
    for (auto& kv : j.obj)
        if (kv.first != "out") kept.set(kv.first, kv.second);
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
              "parameters, logits, loss, every gradient, and the parameters and losses after --steps AdamW steps,\n"
              "with the parameterization, weight-decay mode and resolved per-tensor settings in the metadata.\n"
              "See README.md (Reference states) for every tensor name and a PyTorch example.");
    declare_reference_flags(f, c);
    if (!f.parse(argc, argv, 2)) return 0;
    check_model_flags(f, c.model);
    if (c.out.empty()) fail("--out is required (the safetensors file to write)");
    const double t0 = wall_seconds();
    SafeTensors st = make_reference(c, flags_without_out(f));
    save_safetensors(c.out, st);
    std::vector<double> losses;
    const StTensor& l = st.get("losses");
    for (size_t i = 0; i < l.numel(); i++) {
        double x;
        if (c.dtype == "f64") std::memcpy(&x, l.bytes.data() + 8 * i, 8);
        else {
            float y;
            std::memcpy(&y, l.bytes.data() + 4 * i, 4);
            x = y;
        }
        losses.push_back(x);
    }
    std::printf("wrote %s: %s, %zu tensors; losses", c.out.c_str(), c.param.preset.c_str(), st.tensors.size());
    for (double x : losses) std::printf(" %.6f", x);
    std::printf(" (%.2fs)\n", wall_seconds() - t0);
    return 0;
}
