#include "param/parameterization.h"

#include <cmath>
#include <cstdio>

#include "util/util.h"

void declare_param_flags(FlagSet& f, ParamConfig& p, bool for_coordcheck) {
    f.section(for_coordcheck ? "Parameterization overrides (applied to every preset in --params)"
                             : "Parameterization (SCIENCE.md §4) and weight decay (§3)");
    if (!for_coordcheck)
        f.add("param", &p.preset, "parameterization preset", {"sp", "sp-gpt2", "mup", "mup-table3", "completep"});
    f.add("d-base", &p.d_base,
          for_coordcheck ? "base width: m = width / d-base; 0 = the narrowest of --widths"
                         : "base width: width multiplier m = width / d-base; 0 = the model's width (m = 1)",
          at_least(0));
    f.add("depth-base", &p.depth_base, "base depth of completep's depth multiplier L / depth-base; 0 = the depth",
          at_least(0));
    f.add("head-dim-base", &p.head_dim_base,
          "d_head of the base model (µP attention scale); 0 = d-base / num-heads with --num-heads, else head-dim",
          at_least(0));
    f.add("init", &p.init,
          "init family: fan-in (std 1/sqrt(fan_in); µP's readout keeps its base-width value) or gpt2 (0.02, residual "
          "projections 0.02/sqrt(2L)); preset = the preset's",
          {"preset", "fan-in", "gpt2"});
    f.add("embedding-init-std", &p.embedding_init_std, "init std of the embeddings; 0 = the init family's (1 or 0.02)",
          at_least(0));
    f.add("hidden-init-scale", &p.hidden_init_scale, "factor on the hidden matrices' init std", positive());
    f.add("readout-init-scale", &p.readout_init_scale, "factor on the readout's init std", positive());
    f.add("attention", &p.attention, "attention logit scale: sqrt = 1/sqrt(d_head), mup = sqrt(d_head_base)/d_head",
          {"preset", "sqrt", "mup"});
    f.add("attention-multiplier", &p.attention_multiplier, "constant factor on the attention logit scale", positive());
    f.add("embedding-multiplier", &p.embedding_multiplier, "alpha_emb: the embedding output is multiplied by this",
          positive());
    f.add("readout-multiplier", &p.readout_multiplier, "alpha_out: logits multiplied by this (times 1/m under mup)",
          positive());
    f.add("zero-init-readout", &p.zero_init_readout, "start the readout (lm_head) at zero");
    f.add("zero-init-query", &p.zero_init_query, "start the query block of every c_attn at zero");
    f.add("eps-scaling", &p.eps_scaling, "divide Adam's eps by m on hidden matrices (Everett et al. 2024)");
    f.add("lr-mult-embedding", &p.lr_mult_embedding, "extra LR multiplier for token and position embeddings",
          positive());
    f.add("lr-mult-hidden", &p.lr_mult_hidden, "extra LR multiplier for hidden matrices", positive());
    f.add("lr-mult-readout", &p.lr_mult_readout, "extra LR multiplier for the readout", positive());
    f.add("lr-mult-vector", &p.lr_mult_vector, "extra LR multiplier for biases and layernorm gains/biases", positive());
    f.add("completep-alpha", &p.completep_alpha, "completep: residual x (L/L_base)^-alpha, hidden LR x (L/L_base)^(alpha-1)",
          between(0.5, 1));
    if (for_coordcheck) return;
    f.add("wd-mode", &p.wd_mode,
          "coupled: p *= 1 - lr_tensor*wd | independent: p *= 1 - s_t*wd (s_t: schedule factor) | width-scaled: coupled "
          "with wd x m where the LR is / m | none",
          {"coupled", "independent", "width-scaled", "none"});
    f.add("wd-set", &p.wd_set, "tensors that are decayed", {"matrices", "matrices+embeddings", "all"});
}

ParamRules resolve_rules(const ParamConfig& p) {
    ParamRules r;
    r.preset = p.preset;
    const bool mup_like = p.preset == "mup" || p.preset == "mup-table3" || p.preset == "completep";
    if (!mup_like && p.preset != "sp" && p.preset != "sp-gpt2")
        fail("--param must be sp, sp-gpt2, mup, mup-table3 or completep, got '" + p.preset + "'");
    r.init_family = p.init != "preset" ? p.init : p.preset == "sp-gpt2" ? "gpt2" : "fan-in";
    if (r.init_family != "fan-in" && r.init_family != "gpt2") fail("--init must be preset, fan-in or gpt2");
    r.attention = p.attention != "preset" ? p.attention : mup_like ? "mup" : "sqrt";
    if (r.attention != "sqrt" && r.attention != "mup") fail("--attention must be preset, sqrt or mup");
    if (mup_like) {
        // hidden: init ∝ 1/sqrt(fan_in), Adam LR ∝ 1/m
        r.hidden = {-0.5, -1, 0};
        if (p.preset == "mup-table3") r.readout = {-1, -1, +1};  // the 1/m in init and LR (ε: see the header)
        else r.readout_multiplier_exp = -1;                     // Table 8: the 1/m as a forward multiplier
        r.depth_scaling = p.preset == "completep";
    } else {
        // SP: one LR for everything; the init follows its family (fan-in
        // init shrinks with the fan-in, GPT-2's is fixed)
        double e = r.init_family == "fan-in" ? -0.5 : 0.0;
        r.hidden = {e, 0, 0};
        r.readout = {e, 0, 0};
    }
    if (p.eps_scaling) r.hidden.eps -= 1;
    return r;
}

Parameterization resolve_parameterization(const ModelConfig& sizes, const ParamConfig& pc) {
    Parameterization p;
    p.config = pc;
    p.rules = resolve_rules(pc);
    const int d_base = pc.d_base > 0 ? pc.d_base : sizes.width;
    const int depth_base = pc.depth_base > 0 ? pc.depth_base : sizes.depth;
    p.m = (double)sizes.width / d_base;
    p.depth_mult = p.rules.depth_scaling ? (double)sizes.depth / depth_base : 1.0;
    p.head_dim_base = pc.head_dim_base > 0 ? pc.head_dim_base : sizes.head_dim;
    if (pc.zero_init_readout && sizes.tie_embeddings)
        fail("--zero-init-readout needs an untied readout (the tied readout is the token embedding)");
    if (pc.preset == "mup-table3" && sizes.tie_embeddings)
        fail("--param mup-table3 needs an untied readout: Table 3 puts the readout's 1/m into its own init and LR "
             "(use --param mup, whose 1/m is a forward multiplier, with tied embeddings)");
    if (!(pc.completep_alpha >= 0.5 && pc.completep_alpha <= 1)) fail("--completep-alpha must be in [0.5, 1]");
    if (pc.wd_mode != "coupled" && pc.wd_mode != "independent" && pc.wd_mode != "width-scaled" && pc.wd_mode != "none")
        fail("--wd-mode must be coupled, independent, width-scaled or none, got '" + pc.wd_mode + "'");
    if (pc.wd_set != "matrices" && pc.wd_set != "matrices+embeddings" && pc.wd_set != "all")
        fail("--wd-set must be matrices, matrices+embeddings or all, got '" + pc.wd_set + "'");
    p.independent_decay = pc.wd_mode == "independent";
    return p;
}

// At the base width every factor below is pow(1, e) = 1 exactly, so µP at
// m = 1 computes the same doubles as SP (the "µP at base width ≡ SP" test).
static double width_factor(const Parameterization& p, double exponent) { return std::pow(p.m, exponent); }

ModelConfig parameterized_config(const ModelConfig& sizes, const Parameterization& p) {
    ModelConfig c = sizes;
    const ParamConfig& pc = p.config;
    c.embedding_multiplier = pc.embedding_multiplier;
    c.readout_multiplier = pc.readout_multiplier * width_factor(p, p.rules.readout_multiplier_exp);
    const double sqrt_rule = 1.0 / std::sqrt((double)sizes.head_dim);
    // µP: sqrt(d_head_base)/d_head, written as SP's 1/sqrt(d_head) times
    // sqrt(d_head_base)/sqrt(d_head), which is exactly 1 at the base
    const double rule = p.rules.attention == "mup"
                            ? sqrt_rule * (std::sqrt(p.head_dim_base) / std::sqrt((double)sizes.head_dim))
                            : sqrt_rule;
    // plain 1/sqrt(d_head) stays the config's default 0 (which means exactly
    // that), so SP checkpoints keep the model_config they always had
    c.attention_scale = p.rules.attention == "sqrt" && pc.attention_multiplier == 1.0 ? 0.0 : pc.attention_multiplier * rule;
    c.residual_multiplier = p.rules.depth_scaling ? std::pow(p.depth_mult, -pc.completep_alpha) : 1.0;
    c.validate();
    return c;
}

static bool ends_with(const std::string& s, const std::string& tail) {
    return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

void apply_parameterization(TensorTable& table, const ModelConfig& c, const Parameterization& p) {
    const ParamConfig& pc = p.config;
    const ParamRules& r = p.rules;
    const bool fan_in = r.init_family == "fan-in";
    const double emb_std = pc.embedding_init_std > 0 ? pc.embedding_init_std : fan_in ? 1.0 : 0.02;
    const double gpt2_std = 0.02, gpt2_residual_std = 0.02 / std::sqrt(2.0 * c.depth);
    for (TensorInfo& t : table.tensors) {
        const RoleRule* rule = nullptr;
        double lr_mult = 1, base_std = 0;
        bool decayed = false;
        t.init_std = 0;
        t.init_constant = 0;
        t.init_zero_rows = 0;
        switch (t.role) {
            case TensorRole::TokenEmbedding:
            case TensorRole::PositionEmbedding:
                rule = &r.embedding;
                base_std = emb_std;
                lr_mult = pc.lr_mult_embedding;
                decayed = pc.wd_set != "matrices";
                break;
            case TensorRole::HiddenMatrix:
                rule = &r.hidden;
                // fan_in_base = fan_in / m: the fan-in this matrix has in the base model
                base_std = pc.hidden_init_scale *
                           (fan_in ? 1.0 / std::sqrt(t.fan_in / p.m) : t.residual_output ? gpt2_residual_std : gpt2_std);
                lr_mult = pc.lr_mult_hidden;
                if (r.depth_scaling) lr_mult *= std::pow(p.depth_mult, pc.completep_alpha - 1.0);
                decayed = true;
                if (pc.zero_init_query && ends_with(t.name, "attn.c_attn.weight")) t.init_zero_rows = c.width;
                break;
            case TensorRole::Readout:
                rule = &r.readout;
                base_std = pc.zero_init_readout ? 0.0
                                                : pc.readout_init_scale * (fan_in ? 1.0 / std::sqrt(t.fan_in / p.m) : gpt2_std);
                lr_mult = pc.lr_mult_readout;
                decayed = true;
                break;
            case TensorRole::Bias:
            case TensorRole::NormGain:
            case TensorRole::NormBias:
                rule = &r.vector;
                t.init_constant = t.role == TensorRole::NormGain ? 1.0 : 0.0;
                lr_mult = pc.lr_mult_vector;
                decayed = pc.wd_set == "all";
                break;
        }
        t.init_std = base_std * width_factor(p, rule->init);
        t.lr_multiplier = width_factor(p, rule->lr) * lr_mult;
        t.eps_multiplier = width_factor(p, rule->eps);
        double wd = decayed && pc.wd_mode != "none" ? 1.0 : 0.0;
        // width-scaled: lambda x m for tensors whose LR the width divides by m,
        // so their product lr * lambda is the same at every width
        if (pc.wd_mode == "width-scaled" && rule->lr < 0) wd *= width_factor(p, -rule->lr);
        t.weight_decay_multiplier = wd;
    }
}

std::string describe_parameterization(const Parameterization& p, const ModelConfig& c) {
    const ParamConfig& pc = p.config;
    char buf[1024];
    std::string s;
    std::snprintf(buf, sizeof buf,
                  "parameterization: %s | width multiplier m = %g (width %d, d-base %d) | init %s | attention %s\n",
                  pc.preset.c_str(), p.m, c.width, (int)std::lround(c.width / p.m), p.rules.init_family.c_str(),
                  p.rules.attention == "mup" ? "sqrt(d_head_base)/d_head" : "1/sqrt(d_head)");
    s += buf;
    if (p.rules.depth_scaling) {
        std::snprintf(buf, sizeof buf, "depth multiplier L/L_base = %g, alpha = %g\n", p.depth_mult, pc.completep_alpha);
        s += buf;
    }
    std::snprintf(buf, sizeof buf,
                  "forward multipliers: embedding x%.6g | readout x%.6g | attention logits x%.6g (d_head %d, "
                  "d_head_base %g) | residual branches x%.6g\n",
                  c.embedding_multiplier, c.readout_multiplier, c.resolved_attention_scale(), c.head_dim,
                  p.head_dim_base, c.residual_multiplier);
    s += buf;
    const char* formula = pc.wd_mode == "coupled"       ? "p *= 1 - lr_t*lr_mult*wd"
                          : pc.wd_mode == "independent" ? "p *= 1 - s_t*wd, s_t = schedule factor"
                          : pc.wd_mode == "width-scaled" ? "p *= 1 - lr_t*lr_mult*wd*wd_mult, wd_mult = m where LR is /m"
                                                         : "no decay";
    const char* set = pc.wd_set == "matrices"
                          ? (c.tie_embeddings ? "hidden matrices; the tied readout is the token embedding, not decayed"
                                              : "hidden matrices and readout")
                      : pc.wd_set == "matrices+embeddings" ? "matrices and embeddings"
                                                           : "every tensor";
    std::snprintf(buf, sizeof buf, "weight decay: %s (%s); decayed: %s (%s)\n", pc.wd_mode.c_str(), formula,
                  pc.wd_set.c_str(), pc.wd_mode == "none" ? "none" : set);
    s += buf;
    // settings that do nothing in this run, said once rather than silently ignored
    if (!p.rules.depth_scaling && (pc.depth_base != 0 || pc.completep_alpha != 1.0))
        s += "note: --depth-base and --completep-alpha apply to --param completep only\n";
    if (pc.preset != "sp" && pc.preset != "sp-gpt2" && p.m == 1.0 && pc.d_base == 0)
        s += "note: m = 1 (no --d-base given), where " + pc.preset + " is the same as SP; set --d-base to scale\n";
    return s;
}

template <typename T>
Parameterization gpt_build_parameterized(GPT<T>& model, const ModelConfig& sizes, const ParamConfig& pc) {
    Parameterization p = resolve_parameterization(sizes, pc);
    gpt_build(model, parameterized_config(sizes, p));
    apply_parameterization(model.table, model.config, p);
    return p;
}
template Parameterization gpt_build_parameterized<float>(GPT<float>&, const ModelConfig&, const ParamConfig&);
template Parameterization gpt_build_parameterized<double>(GPT<double>&, const ModelConfig&, const ParamConfig&);
