#include "train/run_metadata.h"

#include <cmath>

#include "optim/muon.h"
#include "optim/optimizer.h"
#include "util/util.h"

static JsonValue num(double x) { return JsonValue::make_number(x); }
static JsonValue str(const std::string& s) { return JsonValue::make_string(s); }

JsonValue tensor_table_json(const TensorTable& table) {
    JsonValue tensors = JsonValue::make_array();
    for (const TensorInfo& t : table.tensors) {
        const OptimizerRow& o = t.optim;
        JsonValue row = JsonValue::make_object();
        row.set("name", str(t.name));
        row.set("role", str(role_name(t.role)));
        // only when true, so plain models' JSON (and their reference files) stay as they were
        if (t.frozen) row.set("frozen", JsonValue::make_bool(true));
        JsonValue shape = JsonValue::make_array();
        for (int s : t.shape) shape.push(num(s));
        row.set("shape", shape);
        row.set("fan_in", num(t.fan_in));
        row.set("fan_out", num(t.fan_out));
        row.set("init_std", num(t.init_std));
        row.set("init_constant", num(t.init_constant));
        row.set("init_zero_rows", num(t.init_zero_rows));
        row.set("lr_multiplier", num(t.lr_multiplier));
        row.set("weight_decay_multiplier", num(t.weight_decay_multiplier));
        row.set("eps_multiplier", num(t.eps_multiplier));
        row.set("optimizer", str(optimizer_name(o.kind)));
        row.set("lr", num(tensor_lr(t, 1.0)));
        row.set("eps", num(o.eps));
        row.set("decay_per_step", num(decay_per_step(t, 1.0)));
        row.set("decay_follows_lr", JsonValue::make_bool(o.decay_follows_lr));
        row.set("decay_norm", str(decay_norm_name(o.decay_norm)));
        if (o.decay_norm == DecayNorm::Spectral) row.set("spectral_iters", num(o.spectral_iters));
        switch (o.kind) {
            case OptimizerKind::AdamW:
                row.set("beta1", num(o.beta1));
                row.set("beta2", num(o.beta2));
                break;
            case OptimizerKind::Muon: {
                row.set("momentum", num(o.momentum));
                row.set("nesterov", JsonValue::make_bool(o.nesterov));
                const NSCoeffs c = ns_coeffs(o.ns_coefficients);
                JsonValue abc = JsonValue::make_array();
                for (double x : {c.a, c.b, c.c}) abc.push(num(x));
                row.set("ns_coefficients", abc);
                row.set("ns_coefficients_name", str(ns_coefficients_name(o.ns_coefficients)));
                row.set("ns_steps", num(o.ns_steps));
                row.set("scale", num(o.update_scale));
                break;
            }
            case OptimizerKind::SGD:
                row.set("momentum", num(o.momentum));
                row.set("nesterov", JsonValue::make_bool(o.nesterov));
                break;
        }
        tensors.push(row);
    }
    return tensors;
}

JsonValue parameterization_json(const Parameterization& p) {
    const ParamConfig& pc = p.config;
    JsonValue par = JsonValue::make_object();
    par.set("preset", str(preset_name(pc.preset)));
    par.set("width_multiplier", num(p.m));
    par.set("depth_multiplier", num(p.depth_mult));
    par.set("init", str(init_family_name(p.rules.init_family)));
    par.set("attention", str(p.rules.attention == AttentionRule::MuP ? "sqrt(d_head_base)/d_head" : "1/sqrt(d_head)"));
    par.set("head_dim_base", num(p.head_dim_base));
    par.set("wd_mode", str(wd_mode_name(pc.wd_mode)));
    par.set("wd_set", str(decay_set_name(pc.wd_set)));
    return par;
}

JsonValue optimizer_json(const OptimizerConfig& o) {
    JsonValue j = JsonValue::make_object();
    j.set("hidden", str(optimizer_name(o.hidden)));
    j.set("lr", num(o.lr));
    j.set("adam_lr", num(o.resolved_adam_lr()));
    j.set("beta1", num(o.beta1));
    j.set("beta2", num(o.beta2));
    j.set("eps", num(o.eps));
    j.set("weight_decay", num(o.weight_decay));
    j.set("grad_clip", num(o.grad_clip));
    j.set("wd_norm", str(decay_norm_name(o.wd_norm)));
    j.set("spectral_iters", num(o.spectral_iters));
    j.set("muon_momentum", num(o.muon_momentum));
    j.set("muon_nesterov", JsonValue::make_bool(o.muon_nesterov));
    j.set("muon_ns_steps", num(o.muon_ns_steps));
    j.set("muon_coefficients", str(ns_coefficients_name(o.muon_coefficients)));
    j.set("muon_scale", str(muon_scale_name(o.muon_scale)));
    j.set("sgd_momentum", num(o.sgd_momentum));
    j.set("sgd_nesterov", JsonValue::make_bool(o.sgd_nesterov));
    return j;
}

std::string run_metadata_json(const std::string& flags_json, const ModelConfig& config, const Parameterization& p,
                              const OptimizerConfig& optimizer, const TensorTable& table, const std::string& device,
                              const std::string& replacement_warmup) {
    JsonValue j = JsonValue::make_object();
    j.set("format", str("lrtransfer-run"));
    j.set("format_version", num(1));
    j.set("flags", parse_json(flags_json));
    j.set("device", str(device));
    j.set("model_config", parse_json(config.to_json()));
    j.set("parameterization", parameterization_json(p));
    j.set("optimizer", optimizer_json(optimizer));
    j.set("replacement_warmup", str(replacement_warmup));
    j.set("tensors", tensor_table_json(table));
    return to_json(j) + "\n";
}

RunMetadata read_run_metadata(const std::string& run_dir) {
    const std::string path = run_dir + "/run.json";
    RunMetadata r;
    if (!file_exists(path))
        fail(path + " is missing: runs record their settings for programs there (lrt train writes it); a run made "
             "before run.json existed has only run_info.txt and must be run again");
    try {
        std::vector<uint8_t> bytes = read_file(path, 64 << 20);
        JsonValue j = parse_json(std::string(bytes.begin(), bytes.end()));
        if (j.type != JsonValue::Object) fail("not a JSON object");
        if (j.at("format").as_string() != "lrtransfer-run") fail("\"format\" is not \"lrtransfer-run\"");
        const JsonValue& par = j.at("parameterization");
        const JsonValue& m = par.at("width_multiplier");
        if (m.type != JsonValue::Number || !std::isfinite(m.num) || !(m.num > 0))
            fail("parameterization.width_multiplier = " + to_json(m) + " is not a positive number");
        r.width_multiplier = m.num;
        r.preset = parse_preset(par.at("preset").as_string());
        r.replacement_warmup = parse_warmup_kind(j.at("replacement_warmup").as_string());
        const std::string hidden = j.at("optimizer").at("hidden").as_string();
        bool known = false;
        for (OptimizerKind k : {OptimizerKind::AdamW, OptimizerKind::Muon, OptimizerKind::SGD})
            if (hidden == optimizer_name(k)) r.hidden_optimizer = k, known = true;
        if (!known) fail("optimizer.hidden \"" + hidden + "\" is not adamw, muon or sgd");
    } catch (const std::exception& e) {
        fail(path + ": " + e.what());
    }
    return r;
}
