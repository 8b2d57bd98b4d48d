#include "model/profile.h"

#include "util/util.h"

LayerProfile g_layer_profile;

const char* layer_kind_name(LayerKind kind) {
    switch (kind) {
        case LayerKind::Matmul: return "matmul";
        case LayerKind::Attention: return "attention";
        case LayerKind::LayerNorm: return "layernorm";
        case LayerKind::Gelu: return "gelu";
        case LayerKind::Loss: return "loss";
        case LayerKind::Elementwise: return "other";
        case LayerKind::Count: break;
    }
    return "?";
}

LayerTimer::LayerTimer(LayerKind kind) : kind_(kind) {
    if (g_layer_profile.enabled) start_ = wall_seconds();
}

LayerTimer::~LayerTimer() {
    if (start_ >= 0) g_layer_profile.seconds[(int)kind_] += wall_seconds() - start_;
}
