// Hutchinson's estimate of the Hessian diagonal (see hessian.h).
#include "study/hessian.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "util/rng.h"
#include "util/util.h"

void BatchSet::add(const int* in, const int* tgt) {
    const size_t n = (size_t)B * T;
    inputs.emplace_back(in, in + n);
    targets.emplace_back(tgt, tgt + n);
}

double mean_loss_gradient(GPT<double>& model, const BatchSet& batches, std::vector<double>& grad) {
    if (batches.size() == 0) fail("mean_loss_gradient: no batches");
    grad.assign(model.params.size(), 0.0);
    double loss = 0;
    // every batch has B*T tokens, so the mean of the batch means is the mean
    // over all tokens
    for (size_t b = 0; b < batches.size(); b++) {
        loss += gpt_forward(model, batches.inputs[b].data(), batches.targets[b].data(), batches.B, batches.T);
        gpt_zero_grad(model);
        gpt_backward(model);
        for (size_t i = 0; i < grad.size(); i++) grad[i] += model.grads[i];
    }
    const double inv = 1.0 / (double)batches.size();
    for (double& g : grad) g *= inv;
    return loss * inv;
}

void hessian_vector_product(GPT<double>& model, const BatchSet& batches, const std::vector<double>& z, double h,
                            std::vector<double>& hz) {
    if (z.size() != model.params.size()) fail("hessian_vector_product: the vector does not match the parameters");
    if (!(h > 0)) fail("hessian_vector_product: the step must be positive");
    const std::vector<double> theta = model.params;
    std::vector<double> g_minus;
    for (size_t i = 0; i < theta.size(); i++) model.params[i] = theta[i] + h * z[i];
    mean_loss_gradient(model, batches, hz);
    for (size_t i = 0; i < theta.size(); i++) model.params[i] = theta[i] - h * z[i];
    mean_loss_gradient(model, batches, g_minus);
    model.params = theta;
    const double inv = 1.0 / (2 * h);
    for (size_t i = 0; i < hz.size(); i++) hz[i] = (hz[i] - g_minus[i]) * inv;
}

double hessian_step(const std::vector<double>& params, double relative) {
    if (params.empty()) fail("hessian_step: no parameters");
    double sum = 0;
    for (double p : params) sum += p * p;
    const double rms = std::sqrt(sum / (double)params.size());
    if (!(rms > 0) || !std::isfinite(rms)) fail("hessian_step: the parameters' RMS is " + std::to_string(rms));
    return relative * rms;
}

double hvp_relative_error(GPT<double>& model, const BatchSet& batches, const std::vector<double>& z, double h) {
    std::vector<double> at_h, at_2h;
    hessian_vector_product(model, batches, z, h, at_h);
    hessian_vector_product(model, batches, z, 2 * h, at_2h);
    double diff = 0, norm = 0;
    for (size_t i = 0; i < at_h.size(); i++) {
        diff += (at_2h[i] - at_h[i]) * (at_2h[i] - at_h[i]);
        norm += at_h[i] * at_h[i];
    }
    return norm > 0 ? std::sqrt(diff / norm) / 3 : NAN;
}

std::vector<double> rademacher_probe(uint64_t seed, int k, size_t n) {
    // (seed, k) -> one stream; splitmix inside Rng spreads nearby seeds apart
    Rng rng(seed * 0x9E3779B97F4A7C15ull + (uint64_t)k * 0xD1B54A32D192ED03ull + 0x48657373ull);
    std::vector<double> z(n);
    uint64_t bits = 0;
    for (size_t i = 0; i < n; i++) {
        if (i % 64 == 0) bits = rng.next_u64();
        z[i] = (bits >> (i % 64)) & 1 ? 1.0 : -1.0;
    }
    return z;
}

DiagonalEstimate hutchinson_diagonal(GPT<double>& model, const BatchSet& batches, int probes, uint64_t seed,
                                     double h, const ProbeProgress& progress) {
    if (probes < 1) fail("hutchinson_diagonal: at least one probe is needed");
    const size_t n = model.params.size();
    std::vector<double> sum(n, 0.0), sum_sq(n, 0.0), hz;
    for (int k = 0; k < probes; k++) {
        const std::vector<double> z = rademacher_probe(seed, k, n);
        hessian_vector_product(model, batches, z, h, hz);
        for (size_t i = 0; i < n; i++) {
            const double s = z[i] * hz[i];
            sum[i] += s;
            sum_sq[i] += s * s;
        }
        if (progress) progress(k + 1, probes);
    }
    DiagonalEstimate e;
    e.probes = probes;
    e.h = h;
    e.diag.resize(n);
    e.std_error.assign(n, NAN);
    for (size_t i = 0; i < n; i++) {
        const double mean = sum[i] / probes;
        e.diag[i] = mean;
        if (probes < 2) continue;
        // sample variance; the max guards the rounding of a near-constant sample
        const double var = std::max(0.0, (sum_sq[i] - probes * mean * mean) / (probes - 1));
        e.std_error[i] = std::sqrt(var / probes);
    }
    return e;
}
