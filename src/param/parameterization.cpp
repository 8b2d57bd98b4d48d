#include "param/parameterization.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "optim/muon.h"
#include "util/util.h"

void declare_param_flags(FlagSet& f, ParamConfig& p, bool for_coordcheck) {
    f.section(for_coordcheck ? "Parameterization overrides (applied to every preset in --params)"
                             : "Parameterization (docs/science.md §4) and weight decay (§3)");
    if (!for_coordcheck)
        f.add("param", &p.preset, "parameterization preset",
              {{"sp", Preset::SP}, {"sp-gpt2", Preset::SPGPT2}, {"mup", Preset::MuP}, {"mup-table3", Preset::MuPTable3},
               {"completep", Preset::CompleteP}});
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
          {{"preset", InitFamily::Preset}, {"fan-in", InitFamily::FanIn}, {"gpt2", InitFamily::GPT2}});
    f.add("embedding-init-std", &p.embedding_init_std, "init std of the embeddings; 0 = the init family's (1 or 0.02)",
          at_least(0));
    f.add("hidden-init-scale", &p.hidden_init_scale, "factor on the hidden matrices' init std", positive());
    f.add("readout-init-scale", &p.readout_init_scale, "factor on the readout's init std", positive());
    f.add("attention", &p.attention, "attention logit scale: sqrt = 1/sqrt(d_head), mup = sqrt(d_head_base)/d_head",
          {{"preset", AttentionRule::Preset}, {"sqrt", AttentionRule::Sqrt}, {"mup", AttentionRule::MuP}});
    f.add("attention-multiplier", &p.attention_multiplier, "constant factor on the attention logit scale", positive());
    f.add("embedding-multiplier", &p.embedding_multiplier, "alpha_emb: the embedding output is multiplied by this",
          positive());
    f.add("readout-multiplier", &p.readout_multiplier, "alpha_out: logits multiplied by this (times 1/m under mup)",
          positive());
    f.add("zero-init-readout", &p.zero_init_readout, "start the readout (lm_head) at zero");
    f.add("zero-init-query", &p.zero_init_query, "start the query block of every c_attn at zero");
    f.add("eps-scaling", &p.eps_scaling, "divide Adam's eps by m on hidden matrices (Everett et al. 2024; completep does)");
    f.add("lr-mult-embedding", &p.lr_mult_embedding, "extra LR multiplier for token and position embeddings",
          positive());
    f.add("lr-mult-hidden", &p.lr_mult_hidden, "extra LR multiplier for hidden matrices", positive());
    f.add("lr-mult-readout", &p.lr_mult_readout, "extra LR multiplier for the readout", positive());
    f.add("lr-mult-vector", &p.lr_mult_vector, "extra LR multiplier for biases and layernorm gains/biases", positive());
    f.add("completep-alpha", &p.completep_alpha,
          "completep: residual x (L/L_base)^-alpha, in-block LRs x (L/L_base)^(alpha-1), eps x (L/L_base)^-alpha",
          between(0.5, 1));
    if (for_coordcheck) return;
    f.add("wd-mode", &p.wd_mode,
          "coupled: p *= 1 - lr_tensor*wd | independent: p *= 1 - s_t*wd (s_t: schedule factor) | width-scaled: coupled "
          "with wd x m where the LR is / m | none",
          {{"coupled", WeightDecayMode::Coupled}, {"independent", WeightDecayMode::Independent},
           {"width-scaled", WeightDecayMode::WidthScaled}, {"none", WeightDecayMode::None}});
    f.add("wd-set", &p.wd_set, "tensors that are decayed",
          {{"matrices", DecaySet::Matrices}, {"matrices+embeddings", DecaySet::MatricesEmbeddings}, {"all", DecaySet::All}});
}

const char* preset_name(Preset p) {
    switch (p) {
        case Preset::SP: return "sp";
        case Preset::SPGPT2: return "sp-gpt2";
        case Preset::MuP: return "mup";
        case Preset::MuPTable3: return "mup-table3";
        case Preset::CompleteP: return "completep";
    }
    return "?";
}

Preset parse_preset(const std::string& name) {
    for (Preset p : {Preset::SP, Preset::SPGPT2, Preset::MuP, Preset::MuPTable3, Preset::CompleteP})
        if (name == preset_name(p)) return p;
    fail("unknown preset '" + name + "' (choose from sp, sp-gpt2, mup, mup-table3, completep)");
}

const char* init_family_name(InitFamily f) {
    return f == InitFamily::FanIn ? "fan-in" : f == InitFamily::GPT2 ? "gpt2" : "preset";
}

const char* wd_mode_name(WeightDecayMode m) {
    switch (m) {
        case WeightDecayMode::Coupled: return "coupled";
        case WeightDecayMode::Independent: return "independent";
        case WeightDecayMode::WidthScaled: return "width-scaled";
        case WeightDecayMode::None: return "none";
    }
    return "?";
}

WeightDecayMode parse_wd_mode(const std::string& name) {
    for (WeightDecayMode m : {WeightDecayMode::Coupled, WeightDecayMode::Independent, WeightDecayMode::WidthScaled,
                              WeightDecayMode::None})
        if (name == wd_mode_name(m)) return m;
    fail("unknown weight-decay mode '" + name + "' (choose from coupled, independent, width-scaled, none)");
}

const char* decay_set_name(DecaySet s) {
    return s == DecaySet::Matrices ? "matrices" : s == DecaySet::MatricesEmbeddings ? "matrices+embeddings" : "all";
}

DecaySet parse_decay_set(const std::string& name) {
    for (DecaySet s : {DecaySet::Matrices, DecaySet::MatricesEmbeddings, DecaySet::All})
        if (name == decay_set_name(s)) return s;
    fail("unknown decay set '" + name + "' (choose from matrices, matrices+embeddings, all)");
}

static bool is_mup_like(Preset p) { return p == Preset::MuP || p == Preset::MuPTable3 || p == Preset::CompleteP; }

ParamRules resolve_rules(const ParamConfig& p) {
    ParamRules r;
    r.preset = p.preset;
    const bool mup_like = is_mup_like(p.preset);
    r.init_family = p.init != InitFamily::Preset ? p.init : p.preset == Preset::SPGPT2 ? InitFamily::GPT2 : InitFamily::FanIn;
    r.attention = p.attention != AttentionRule::Preset ? p.attention : mup_like ? AttentionRule::MuP : AttentionRule::Sqrt;
    if (mup_like) {
        // hidden: init ∝ 1/sqrt(fan_in), Adam LR ∝ 1/m
        r.hidden = {-0.5, -1, 0};
        if (p.preset == Preset::MuPTable3) r.readout = {-1, -1, +1};  // the 1/m in init and LR (ε: see the header)
        else r.readout_multiplier_exp = -1;                          // Table 8: the 1/m as a forward multiplier
        r.depth_scaling = p.preset == Preset::CompleteP;
    } else {
        // SP: one LR for everything; the init follows its family (fan-in
        // init shrinks with the fan-in, GPT-2's is fixed)
        double e = r.init_family == InitFamily::FanIn ? -0.5 : 0.0;
        r.hidden = {e, 0, 0};
        r.readout = {e, 0, 0};
    }
    if (r.depth_scaling) {
        // CompleteP's depth rules (header): everything inside the residual
        // blocks; alpha - 1 <= 0, so a deeper model takes smaller steps there
        const double a = p.completep_alpha;
        r.hidden.lr_depth = a - 1;
        r.hidden.eps = -1;
        r.hidden.eps_depth = -a;
        r.block_vector = {0, 0, -1, a - 1, -a};
    }
    if (p.eps_scaling) r.hidden.eps = -1;  // (completep has it already: not twice)
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
    if (pc.preset == Preset::MuPTable3 && sizes.tie_embeddings)
        fail("--param mup-table3 needs an untied readout: Table 3 puts the readout's 1/m into its own init and LR "
             "(use --param mup, whose 1/m is a forward multiplier, with tied embeddings)");
    if (!(pc.completep_alpha >= 0.5 && pc.completep_alpha <= 1)) fail("--completep-alpha must be in [0.5, 1]");
    return p;
}

// At the base width every factor below is pow(1, e) = 1 exactly, so µP at
// m = 1 computes the same doubles as SP (the "µP at base width ≡ SP" test).
static double width_factor(const Parameterization& p, double exponent) { return std::pow(p.m, exponent); }
// (L/L_base)^exponent; 1 exactly outside completep, where depth_mult is 1
static double depth_factor(const Parameterization& p, double exponent) { return std::pow(p.depth_mult, exponent); }

ModelConfig parameterized_config(const ModelConfig& sizes, const Parameterization& p) {
    ModelConfig c = sizes;
    const ParamConfig& pc = p.config;
    c.embedding_multiplier = pc.embedding_multiplier;
    c.readout_multiplier = pc.readout_multiplier * width_factor(p, p.rules.readout_multiplier_exp);
    const double sqrt_rule = 1.0 / std::sqrt((double)sizes.head_dim);
    // µP: sqrt(d_head_base)/d_head, written as SP's 1/sqrt(d_head) times
    // sqrt(d_head_base)/sqrt(d_head), which is exactly 1 at the base
    const double rule = p.rules.attention == AttentionRule::MuP
                            ? sqrt_rule * (std::sqrt(p.head_dim_base) / std::sqrt((double)sizes.head_dim))
                            : sqrt_rule;
    // plain 1/sqrt(d_head) stays the config's default 0 (which means exactly
    // that), so SP checkpoints keep the model_config they always had
    c.attention_scale = p.rules.attention == AttentionRule::Sqrt && pc.attention_multiplier == 1.0 ? 0.0 : pc.attention_multiplier * rule;
    c.residual_multiplier = p.rules.depth_scaling ? std::pow(p.depth_mult, -pc.completep_alpha) : 1.0;
    c.validate();
    return c;
}

static bool ends_with(const std::string& s, const std::string& tail) {
    return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

static void plan_optimizer(TensorTable& table, const Parameterization& p, const OptimizerConfig& o);

void apply_parameterization(TensorTable& table, const ModelConfig& c, const Parameterization& p,
                            const OptimizerConfig& optimizer) {
    const ParamConfig& pc = p.config;
    const ParamRules& r = p.rules;
    const bool fan_in = r.init_family == InitFamily::FanIn;
    const double emb_std = pc.embedding_init_std > 0 ? pc.embedding_init_std : fan_in ? 1.0 : 0.02;
    const double gpt2_std = 0.02, gpt2_residual_std = 0.02 / std::sqrt(2.0 * c.depth);
    static const RoleRule adapter_rule;  // width exponents 0: see the header
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
                decayed = pc.wd_set != DecaySet::Matrices;
                break;
            case TensorRole::HiddenMatrix:
                rule = &r.hidden;
                // fan_in_base = fan_in / m: the fan-in this matrix has in the base model
                base_std = pc.hidden_init_scale *
                           (fan_in ? 1.0 / std::sqrt(t.fan_in / p.m) : t.residual_output ? gpt2_residual_std : gpt2_std);
                lr_mult = pc.lr_mult_hidden;
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
                rule = t.layer >= 0 ? &r.block_vector : &r.final_norm;
                t.init_constant = t.role == TensorRole::NormGain ? 1.0 : 0.0;
                lr_mult = pc.lr_mult_vector;
                decayed = pc.wd_set == DecaySet::All;
                break;
            case TensorRole::AdapterA:
            case TensorRole::AdapterB:
                rule = &adapter_rule;
                base_std = t.role == TensorRole::AdapterA ? 1.0 / std::sqrt((double)t.fan_in) : 0.0;
                // B's LR over A's is the ratio whichever of the two --lr sets
                if (pc.lora_lr_anchor == LoraAnchor::A)
                    lr_mult = t.role == TensorRole::AdapterB ? pc.lora_plus_ratio : 1.0;
                else
                    lr_mult = t.role == TensorRole::AdapterB ? 1.0 : 1.0 / pc.lora_plus_ratio;
                decayed = true;
                break;
        }
        t.init_std = base_std * width_factor(p, rule->init);
        // (the depth factor only where a rule has one, so that every other
        // product is the same double as before CompleteP's rules existed)
        // the hidden matrices' LR follows the width rule of their optimizer
        const double lr_exp = t.role == TensorRole::HiddenMatrix ? hidden_lr_width_exponent(r, optimizer) : rule->lr;
        t.lr_multiplier = width_factor(p, lr_exp) * lr_mult;
        if (rule->lr_depth != 0) t.lr_multiplier *= depth_factor(p, rule->lr_depth);
        t.eps_multiplier = width_factor(p, rule->eps);
        if (rule->eps_depth != 0) t.eps_multiplier *= depth_factor(p, rule->eps_depth);
        double wd = decayed && pc.wd_mode != WeightDecayMode::None ? 1.0 : 0.0;
        // width-scaled: lambda x m for tensors whose LR the width divides by m,
        // so their product lr * lambda is the same at every width
        if (pc.wd_mode == WeightDecayMode::WidthScaled && lr_exp < 0) wd *= width_factor(p, -lr_exp);
        t.weight_decay_multiplier = wd;
        if (t.frozen) t.lr_multiplier = t.weight_decay_multiplier = 0;  // it does not train (its init still applies)
    }
    plan_optimizer(table, p, optimizer);
}

std::string describe_parameterization(const Parameterization& p, const ModelConfig& c) {
    const ParamConfig& pc = p.config;
    char buf[1024];
    std::string s;
    std::snprintf(buf, sizeof buf,
                  "parameterization: %s | width multiplier m = %g (width %d, d-base %d) | init %s | attention %s\n",
                  preset_name(pc.preset), p.m, c.width, (int)std::lround(c.width / p.m), init_family_name(p.rules.init_family),
                  p.rules.attention == AttentionRule::MuP ? "sqrt(d_head_base)/d_head" : "1/sqrt(d_head)");
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
    const char* formula = pc.wd_mode == WeightDecayMode::Coupled       ? "p *= 1 - lr_t*lr_mult*wd"
                          : pc.wd_mode == WeightDecayMode::Independent ? "p *= 1 - s_t*wd, s_t = schedule factor"
                          : pc.wd_mode == WeightDecayMode::WidthScaled
                              ? "p *= 1 - lr_t*lr_mult*wd*wd_mult, wd_mult = m where LR is /m"
                              : "no decay";
    const char* set = pc.wd_set == DecaySet::Matrices
                          ? (c.tie_embeddings ? "hidden matrices; the tied readout is the token embedding, not decayed"
                                              : "hidden matrices and readout")
                      : pc.wd_set == DecaySet::MatricesEmbeddings ? "matrices and embeddings"
                                                                  : "every tensor";
    std::snprintf(buf, sizeof buf, "weight decay: %s (%s); decayed: %s (%s)\n", wd_mode_name(pc.wd_mode), formula,
                  decay_set_name(pc.wd_set), pc.wd_mode == WeightDecayMode::None ? "none" : set);
    s += buf;
    // settings that do nothing in this run, said once rather than silently ignored
    if (!p.rules.depth_scaling && (pc.depth_base != 0 || pc.completep_alpha != 1.0))
        s += "note: --depth-base and --completep-alpha apply to --param completep only\n";
    if (is_mup_like(pc.preset) && p.m == 1.0 && pc.d_base == 0)
        s += std::string("note: m = 1 (no --d-base given), where ") + preset_name(pc.preset) +
             " is the same as SP; set --d-base to scale\n";
    return s;
}

double hidden_lr_width_exponent(const ParamRules& rules, const OptimizerConfig& o) {
    switch (o.hidden) {
        case OptimizerKind::AdamW: return rules.hidden.lr;
        case OptimizerKind::Muon: return o.muon_scale == MuonScale::Moonlight ? rules.hidden.lr : 0.0;
        case OptimizerKind::SGD: return 0.0;
    }
    return 0.0;
}

static void plan_optimizer(TensorTable& table, const Parameterization& p, const OptimizerConfig& o) {
    const ParamConfig& pc = p.config;
    table.spectral_total = 0;
    for (TensorInfo& t : table.tensors) {
        OptimizerRow& row = t.optim;
        row = OptimizerRow();
        if (t.frozen) continue;  // no optimizer: a default row with lr 0, no decay
        // the adapters are matrices too: the hidden matrices' optimizer and LR
        const bool hidden_side = t.role == TensorRole::HiddenMatrix || is_adapter(t.role);
        row.kind = hidden_side ? o.hidden : OptimizerKind::AdamW;
        // --lr for the hidden matrices whatever updates them, --adam-lr for the
        // tensors that are always AdamW's
        row.base_lr = hidden_side ? o.lr : o.resolved_adam_lr();
        if (row.kind != OptimizerKind::AdamW && t.shape.size() != 2)
            fail(std::string("--optimizer ") + optimizer_name(row.kind) + " updates matrices only; " + t.name +
                 " has " + std::to_string(t.shape.size()) + " dimension(s)");
        row.weight_decay = o.weight_decay * t.weight_decay_multiplier;
        row.decay_follows_lr = pc.wd_mode != WeightDecayMode::Independent;
        row.decay_norm = o.wd_norm == DecayNorm::Spectral && t.shape.size() == 2 && row.weight_decay > 0
                             ? DecayNorm::Spectral
                             : DecayNorm::Frobenius;
        row.spectral_iters = o.spectral_iters;
        if (row.decay_norm == DecayNorm::Spectral) {
            row.spectral_offset = table.spectral_total;
            table.spectral_total += (size_t)t.fan_in;
        }
        row.eps = o.eps * t.eps_multiplier;
        row.beta1 = o.beta1;
        row.beta2 = o.beta2;
        if (row.kind == OptimizerKind::Muon) {
            row.momentum = o.muon_momentum;
            row.nesterov = o.muon_nesterov;
            row.ns_steps = o.muon_ns_steps;
            row.ns_coefficients = o.muon_coefficients;
            row.update_scale = muon_scale_factor(o.muon_scale, t.fan_out, t.fan_in);
        } else if (row.kind == OptimizerKind::SGD) {
            row.momentum = o.sgd_momentum;
            row.nesterov = o.sgd_nesterov;
        }
    }
}

template <typename T>
Parameterization gpt_build_parameterized(GPT<T>& model, const ModelConfig& sizes, const ParamConfig& pc,
                                         const OptimizerConfig& optimizer) {
    Parameterization p = resolve_parameterization(sizes, pc);
    gpt_build(model, parameterized_config(sizes, p));
    apply_parameterization(model.table, model.config, p, optimizer);
    return p;
}
template Parameterization gpt_build_parameterized<float>(GPT<float>&, const ModelConfig&, const ParamConfig&,
                                                         const OptimizerConfig&);
template Parameterization gpt_build_parameterized<double>(GPT<double>&, const ModelConfig&, const ParamConfig&,
                                                          const OptimizerConfig&);
