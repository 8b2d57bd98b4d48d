#include "optim/optimizer.h"

// Every operation rounded on its own, as PyTorch's kernels do: no fused
// multiply-adds here (GCC would otherwise contract a*b+c under -march=native).
#pragma GCC optimize("fp-contract=off")

#include <cmath>

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

double decay_per_step(const TensorInfo& t, const AdamWConfig& c, double lr_t, double schedule) {
    const double lambda = c.weight_decay * t.weight_decay_multiplier;
    if (lambda == 0.0) return 0.0;
    // coupled: the product in PyTorch's order, lr * weight_decay, so that the
    // float bits match torch.optim.AdamW for a tensor whose group has this lr
    return c.independent_decay ? schedule * lambda : (lr_t * t.lr_multiplier) * lambda;
}

template <typename T>
void adamw_step(T* params, const T* grads, T* m, T* v, const TensorTable& table, const AdamWConfig& c, double lr_t,
                double schedule, int64_t step, const double* lr_extra) {
    for (size_t i = 0; i < table.tensors.size(); i++) {
        const TensorInfo& t = table.tensors[i];
        double lr = lr_t * t.lr_multiplier * (lr_extra ? lr_extra[i] : 1.0);
        adamw_update(params + t.offset, grads + t.offset, m + t.offset, v + t.offset, t.numel, lr,
                     decay_per_step(t, c, lr_t, schedule), c.beta1, c.beta2, c.eps * t.eps_multiplier, step);
    }
}

template <typename T>
double global_grad_norm(const T* g, size_t n) {
    double sum = 0;
    for (size_t i = 0; i < n; i++) sum += (double)g[i] * (double)g[i];
    return std::sqrt(sum);
}

template <typename T>
double clip_grad_norm(T* g, size_t n, double max_norm) {
    double norm = global_grad_norm(g, n);
    if (max_norm > 0) {
        double coef = max_norm / (norm + 1e-6);
        if (coef < 1.0) {
            T s = (T)coef;
            for (size_t i = 0; i < n; i++) g[i] *= s;
        }
    }
    return norm;
}

#define INSTANTIATE(T)                                                                                          \
    template void adamw_update<T>(T*, const T*, T*, T*, size_t, double, double, double, double, double, int64_t); \
    template void adamw_step<T>(T*, const T*, T*, T*, const TensorTable&, const AdamWConfig&, double, double, int64_t, const double*); \
    template double global_grad_norm<T>(const T*, size_t);                                                      \
    template double clip_grad_norm<T>(T*, size_t, double);
INSTANTIATE(float)
INSTANTIATE(double)
