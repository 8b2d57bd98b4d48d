#include "optim/optimizer.h"

// Every operation rounded on its own, as PyTorch's kernels do: no fused
// multiply-adds here (GCC would otherwise contract a*b+c under -march=native).
#pragma GCC optimize("fp-contract=off")

#include <algorithm>
#include <cmath>
#include <vector>

#include "optim/muon.h"
#include "optim/sgd.h"
#include "optim/spectral_decay.h"
#include "util/util.h"

template <typename T>
void adamw_update(T* p, const T* g, T* m, T* v, size_t n, double lr, double decay, double beta1, double beta2,
                  double eps, int64_t step) {
    const T decay_factor = (T)(1.0 - decay);
    const T weight = (T)(1.0 - beta1), b2 = (T)beta2, one_minus_b2 = (T)(1.0 - beta2);
    const bool small_weight = std::fabs(weight) < (T)0.5;
    const double bias_correction1 = 1.0 - std::pow(beta1, (double)step);
    const double bias_correction2 = 1.0 - std::pow(beta2, (double)step);
    const T neg_step_size = (T)(-(lr / bias_correction1));
    const T bc2_sqrt = (T)std::sqrt(bias_correction2);
    const T e = (T)eps;
#pragma omp parallel for schedule(static) if (n > 16384)
    for (size_t i = 0; i < n; i++) {
        if (decay != 0.0) p[i] *= decay_factor;
        // torch's lerp_(grad, weight) picks its formula by the weight's size
        m[i] = small_weight ? m[i] + weight * (g[i] - m[i]) : g[i] - (g[i] - m[i]) * ((T)1 - weight);
        v[i] = v[i] * b2 + one_minus_b2 * g[i] * g[i];  // mul_(beta2).addcmul_(g, g, 1 - beta2)
        T denom = std::sqrt(v[i]) / bc2_sqrt + e;
        p[i] = p[i] + neg_step_size * m[i] / denom;  // addcdiv_(m, denom, -step_size)
    }
}

double tensor_lr(const TensorInfo& t, double schedule) { return t.optim.base_lr * schedule * t.lr_multiplier; }

double decay_per_step(const TensorInfo& t, double schedule) {
    const OptimizerRow& o = t.optim;
    if (o.weight_decay == 0.0) return 0.0;
    // coupled: the product in PyTorch's order, lr * weight_decay, so that the
    // float bits match torch.optim.AdamW for a tensor whose group has this lr
    return o.decay_follows_lr ? tensor_lr(t, schedule) * o.weight_decay : schedule * o.weight_decay;
}

template <typename T>
void optimizer_step(T* params, const T* grads, OptimizerState<T>& state, const TensorTable& table, double schedule,
                    int64_t step, const double* lr_extra) {
    for (size_t i = 0; i < table.tensors.size(); i++) {
        const TensorInfo& t = table.tensors[i];
        if (t.frozen) continue;  // not updated, not decayed; its state stays untouched (zeros)
        const OptimizerRow& o = t.optim;
        T* p = params + t.offset;
        const T* g = grads + t.offset;
        T* m = state.m.data() + t.offset;
        const double lr = tensor_lr(t, schedule) * (lr_extra ? lr_extra[i] : 1.0);
        double decay = decay_per_step(t, schedule);
        if (o.decay_norm == DecayNorm::Spectral && decay != 0.0) {
            spectral_decay(p, t.fan_out, t.fan_in, state.spectral.data() + o.spectral_offset, decay, o.spectral_iters);
            decay = 0.0;  // done: the update below must not decay again
        }
        switch (o.kind) {
            case OptimizerKind::AdamW:
                adamw_update(p, g, m, state.v.data() + t.offset, t.numel, lr, decay, o.beta1, o.beta2, o.eps, step);
                break;
            case OptimizerKind::Muon:
                muon_update(p, g, m, t.fan_out, t.fan_in, lr, decay, o.momentum, o.nesterov, o.ns_steps,
                            o.ns_coefficients, o.update_scale);
                break;
            case OptimizerKind::SGD: sgd_update(p, g, m, t.numel, lr, decay, o.momentum, o.nesterov); break;
        }
    }
}

template <typename T>
double global_grad_norm(const T* g, size_t n) {
    double sum = 0;
    for (size_t i = 0; i < n; i++) sum += (double)g[i] * (double)g[i];
    return std::sqrt(sum);
}

// The same norm for the whole gradient buffer, fast: a serial sum is one
// dependent add per element (about 17 ms for 12.6M parameters). Here the sum
// of squares is cut into fixed chunks, each summed in kLanes interleaved
// partial sums (which vectorise) and the chunk sums added in chunk order, so
// the bits depend on n only, never on the thread count. (global_grad_norm
// keeps the plain order for Muon's normalisation, which the reference states
// pin down.)
template <typename T>
double parallel_grad_norm(const T* g, size_t n) {
    constexpr size_t kChunk = 1 << 16;
    constexpr int kLanes = 8;
    const size_t chunks = (n + kChunk - 1) / kChunk;
    std::vector<double> partial(chunks);
#pragma omp parallel for schedule(static) if (chunks > 1)
    for (size_t c = 0; c < chunks; c++) {
        const size_t begin = c * kChunk, end = std::min(n, begin + kChunk);
        double lane[kLanes] = {};
        size_t i = begin;
        for (; i + kLanes <= end; i += kLanes)
            for (int j = 0; j < kLanes; j++) lane[j] += (double)g[i + j] * (double)g[i + j];
        for (; i < end; i++) lane[0] += (double)g[i] * (double)g[i];
        double sum = 0;
        for (int j = 0; j < kLanes; j++) sum += lane[j];
        partial[c] = sum;
    }
    double sum = 0;
    for (double p : partial) sum += p;
    return std::sqrt(sum);
}

template <typename T>
double clip_grad_norm(T* g, size_t n, double max_norm) {
    double norm = parallel_grad_norm(g, n);
    if (max_norm > 0) {
        double coef = max_norm / (norm + 1e-6);
        if (coef < 1.0) {
            T s = (T)coef;
#pragma omp parallel for schedule(static) if (n > 16384)
            for (size_t i = 0; i < n; i++) g[i] *= s;
        }
    }
    return norm;
}

#define INSTANTIATE(T)                                                                                          \
    template void adamw_update<T>(T*, const T*, T*, T*, size_t, double, double, double, double, double, int64_t); \
    template void optimizer_step<T>(T*, const T*, OptimizerState<T>&, const TensorTable&, double, int64_t,           \
                                    const double*);                                                             \
    template double global_grad_norm<T>(const T*, size_t);                                                      \
    template double parallel_grad_norm<T>(const T*, size_t);                                                    \
    template double clip_grad_norm<T>(T*, size_t, double);
INSTANTIATE(float)
INSTANTIATE(double)
