#include "model/lora_ga.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "model/lora.h"
#include "model/svd.h"
#include "optim/grad_accum.h"
#include "util/util.h"

namespace {

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

void lora_ga_gradient(GPT<float>& plain, const GPT<float>& adapted, const int* inputs, const int* targets, int B,
                      int Tn, int grad_accum) {
    const int K = grad_accum;
    if (K < 1 || B % K != 0)
        fail("--grad-accum " + std::to_string(K) + " must be at least 1 and divide the batch size " + std::to_string(B));
    gpt_build(plain, adapted.config.without_adapters());
    // the plain tensors are the first part of the adapted buffer (tensor_table.h)
    std::copy(adapted.params.begin(), adapted.params.begin() + plain.table.total, plain.params.begin());
    const int b = B / K;
    const size_t micro = (size_t)b * Tn;
    std::vector<float> sum;  // the running sum, as CpuBackend keeps it (only when K > 1)
    for (int k = 0; k < K; k++) {
        gpt_forward(plain, inputs + k * micro, targets + k * micro, b, Tn);
        gpt_zero_grad(plain);
        gpt_backward(plain);
        if (K == 1) return;  // the pass's own gradient, bit for bit a step's
        sum.resize(plain.grads.size());
        accumulate_grads(sum.data(), plain.grads.data(), sum.size(), k == 0);
    }
    mean_of_accumulated(plain.grads.data(), sum.data(), sum.size(), K);
}

void lora_ga_init(GPT<float>& model, const int* inputs, const int* targets, int B, int Tn, int grad_accum,
                  double gamma) {
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
    lora_ga_gradient(plain, model, inputs, targets, B, Tn, grad_accum);
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
