#include "model/lora_ga.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "model/lora.h"
#include "model/svd.h"
#include "util/util.h"

namespace {

// The plain model (no adapters, nothing frozen) with `adapted`'s matrices,
// so that every hidden matrix gets its full gradient.
void plain_gradient(GPT<float>& plain, const GPT<float>& adapted, const int* inputs, const int* targets, int B, int Tn) {
    gpt_build(plain, adapted.config.without_adapters());
    // the plain tensors are the first part of the adapted buffer (tensor_table.h)
    std::copy(adapted.params.begin(), adapted.params.begin() + plain.table.total, plain.params.begin());
    gpt_forward(plain, inputs, targets, B, Tn);
    gpt_zero_grad(plain);
    gpt_backward(plain);
}

// A, B and the shifted W0 of one adapted matrix from its gradient G.
void init_one(float* W, float* A, float* Bm, const float* G, int fan_out, int fan_in, int r, double s, double gamma) {
    const std::vector<double> g(G, G + (size_t)fan_out * fan_in);
    const TruncatedSvd svd = truncated_svd(g, fan_out, fan_in, 2 * r);
    const double c = std::pow((double)fan_out, 0.25) / std::sqrt(gamma);
    for (int i = 0; i < r; i++)
        for (int j = 0; j < fan_in; j++) A[(size_t)i * fan_in + j] = (float)(c * svd.V[(size_t)j * svd.k + i]);
    for (int o = 0; o < fan_out; o++)
        for (int i = 0; i < r; i++) Bm[(size_t)o * r + i] = (float)(c * svd.U[(size_t)o * svd.k + r + i]);
    // W0 - s B A with the float A and B the model will use, so that the
    // adapted layer computes W0's output to float rounding
    lora_merge(W, A, Bm, (float)-s, fan_in, fan_out, r);
}

}  // namespace

void lora_ga_init(GPT<float>& model, const int* inputs, const int* targets, int B, int Tn, double gamma) {
    const ModelConfig& mc = model.config;
    if (!mc.has_adapters()) fail("lora_ga_init: the model has no adapters");
    // every target checked before any is touched, and before the gradient's cost
    for (int l = 0; l < mc.depth; l++)
        for (int k = 0; k < LORA_TARGET_COUNT; k++) {
            if (!mc.adapts((LoraTarget)k)) continue;
            const TensorInfo& W =
                model.table.get("transformer.h." + std::to_string(l) + "." + lora_target_name((LoraTarget)k) + ".weight");
            if (2 * mc.lora_rank > std::min(W.fan_out, W.fan_in))
                fail("--lora-init ga needs 2 r <= min(fan_out, fan_in) of every adapted matrix (" + W.name + ": " +
                     std::to_string(W.fan_out) + " x " + std::to_string(W.fan_in) + ", r = " +
                     std::to_string(mc.lora_rank) + "); take a smaller --lora-rank");
        }
    GPT<float> plain;
    plain_gradient(plain, model, inputs, targets, B, Tn);
    for (int l = 0; l < mc.depth; l++)
        for (int k = 0; k < LORA_TARGET_COUNT; k++) {
            if (!mc.adapts((LoraTarget)k)) continue;
            const std::string w = "transformer.h." + std::to_string(l) + "." + lora_target_name((LoraTarget)k);
            const TensorInfo& W = model.table.get(w + ".weight");
            init_one(model.param(W.offset), model.param(model.table.get(w + ".lora_A").offset),
                     model.param(model.table.get(w + ".lora_B").offset), plain.grads.data() + W.offset, W.fan_out,
                     W.fan_in, mc.lora_rank, mc.lora_scale(), gamma);
        }
}
