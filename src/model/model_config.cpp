#include "model/model_config.h"

#include <cmath>
#include <sstream>

#include "io/json.h"
#include "util/util.h"

const char* lora_target_name(LoraTarget t) {
    switch (t) {
        case LoraTarget::AttnQKV: return "attn.c_attn";
        case LoraTarget::AttnProj: return "attn.c_proj";
        case LoraTarget::MlpFc: return "mlp.c_fc";
        case LoraTarget::MlpProj: return "mlp.c_proj";
    }
    return "?";
}

int parse_lora_targets(const std::string& list) {
    static const char* SHORT[LORA_TARGET_COUNT] = {"c_attn", "attn_proj", "c_fc", "mlp_proj"};
    int bits = 0;
    for (const std::string& item : split(list, ',')) {
        if (item == "all") {
            bits |= LORA_ALL_TARGETS;
            continue;
        }
        int found = -1;
        for (int k = 0; k < LORA_TARGET_COUNT; k++)
            if (item == lora_target_name((LoraTarget)k) || item == SHORT[k]) found = k;
        if (found < 0)
            fail("--lora-targets: unknown matrix '" + item +
                 "' (choose from attn.c_attn, attn.c_proj, mlp.c_fc, mlp.c_proj, or all)");
        bits |= 1 << found;
    }
    if (bits == 0) fail("--lora-targets names no matrix");
    return bits;
}

std::string lora_targets_text(int bits) {
    std::string s;
    for (int k = 0; k < LORA_TARGET_COUNT; k++)
        if (bits >> k & 1) s += (s.empty() ? "" : ",") + std::string(lora_target_name((LoraTarget)k));
    return s;
}

double ModelConfig::resolved_attention_scale() const {
    return attention_scale > 0 ? attention_scale : 1.0 / std::sqrt((double)head_dim);
}

void ModelConfig::validate() const {
    auto positive = [](const char* flag, int v) {
        if (v <= 0) fail(std::string(flag) + " must be positive, got " + std::to_string(v));
    };
    positive("--vocab-size", vocab_size);
    positive("--context-length", context_length);
    positive("--width", width);
    positive("--depth", depth);
    positive("--head-dim", head_dim);
    positive("--mlp-ratio", mlp_ratio);
    if (vocab_size > 65536) fail("--vocab-size " + std::to_string(vocab_size) + " exceeds 65536 (tokens are uint16)");
    // Bounds far above anything a CPU or one GPU trains, low enough that no
    // size product (3d, ratio*d, V*d, maxT*d) can overflow an int.
    auto at_most = [](const char* flag, int v, int limit) {
        if (v > limit) fail(std::string(flag) + " " + std::to_string(v) + " exceeds " + std::to_string(limit));
    };
    at_most("--width", width, 1 << 16);
    at_most("--depth", depth, 1 << 12);
    at_most("--context-length", context_length, 1 << 20);
    at_most("--mlp-ratio", mlp_ratio, 64);
    if (width % head_dim != 0)
        fail("--width " + std::to_string(width) + " is not a multiple of --head-dim " + std::to_string(head_dim));
    if (!(embedding_multiplier > 0) || !(readout_multiplier > 0) || !(residual_multiplier > 0) ||
        !(attention_scale >= 0))
        fail("forward multipliers must be positive");
    if (lora_rank < 0 || lora_rank > width) fail("--lora-rank must be in [0, width], got " + std::to_string(lora_rank));
    if (lora_rank > 0 && (!(lora_alpha > 0) || lora_targets <= 0 || lora_targets > LORA_ALL_TARGETS))
        fail("adapters need --lora-alpha > 0 and at least one --lora-targets matrix");
}

std::string ModelConfig::to_json() const {
    std::ostringstream s;
    s.precision(17);
    s << "{\"vocab_size\":" << vocab_size << ",\"context_length\":" << context_length << ",\"width\":" << width
      << ",\"depth\":" << depth << ",\"head_dim\":" << head_dim << ",\"mlp_ratio\":" << mlp_ratio
      << ",\"bias\":" << (bias ? "true" : "false") << ",\"tie_embeddings\":" << (tie_embeddings ? "true" : "false")
      << ",\"embedding_multiplier\":" << embedding_multiplier << ",\"readout_multiplier\":" << readout_multiplier
      << ",\"attention_scale\":" << attention_scale << ",\"residual_multiplier\":" << residual_multiplier;
    if (lora_rank > 0)
        s << ",\"lora_rank\":" << lora_rank << ",\"lora_alpha\":" << lora_alpha << ",\"lora_targets\":\""
          << lora_targets_text(lora_targets) << "\"";
    s << "}";
    return s.str();
}

ModelConfig model_config_from_json(const std::string& json) {
    JsonValue v = parse_json(json);
    if (v.type != JsonValue::Object) fail("model config is not a JSON object");
    ModelConfig c;
    auto num = [&](const char* key, double fallback) {
        const JsonValue* x = v.find(key);
        if (!x) return fallback;
        if (x->type != JsonValue::Number) fail(std::string("model config: ") + key + " is not a number");
        return x->num;
    };
    auto integer = [&](const char* key, int fallback) {
        const JsonValue* x = v.find(key);
        if (!x) return fallback;
        int64_t i = x->as_int();
        if (i < 0 || i > 1 << 30) fail(std::string("model config: ") + key + " = " + std::to_string(i) + " is out of range");
        return (int)i;
    };
    auto flag = [&](const char* key, bool fallback) {
        const JsonValue* x = v.find(key);
        if (!x) return fallback;
        if (x->type != JsonValue::Bool) fail(std::string("model config: ") + key + " is not true/false");
        return x->b;
    };
    c.vocab_size = integer("vocab_size", c.vocab_size);
    c.context_length = integer("context_length", c.context_length);
    c.width = integer("width", c.width);
    c.depth = integer("depth", c.depth);
    c.head_dim = integer("head_dim", c.head_dim);
    c.mlp_ratio = integer("mlp_ratio", c.mlp_ratio);
    c.bias = flag("bias", c.bias);
    c.tie_embeddings = flag("tie_embeddings", c.tie_embeddings);
    c.embedding_multiplier = num("embedding_multiplier", c.embedding_multiplier);
    c.readout_multiplier = num("readout_multiplier", c.readout_multiplier);
    c.attention_scale = num("attention_scale", c.attention_scale);
    c.residual_multiplier = num("residual_multiplier", c.residual_multiplier);
    c.lora_rank = integer("lora_rank", 0);
    if (c.lora_rank > 0) {
        c.lora_alpha = num("lora_alpha", 0);
        const JsonValue* targets = v.find("lora_targets");
        if (!targets || targets->type != JsonValue::String) fail("model config: lora_targets is missing or not a string");
        c.lora_targets = parse_lora_targets(targets->str);
    }
    c.validate();
    return c;
}
