#include "optim/sgd.h"

// Every operation rounded on its own, as PyTorch's kernels do: no fused
// multiply-adds (the Makefile adds -ffp-contract=off too; this pragma is for
// readers and other build systems).
#pragma GCC optimize("fp-contract=off")

#include <string>

#include "util/util.h"

// p, g, buf (n); the scalars rounded to T first, as PyTorch's kernels do.
template <typename T>
void sgd_update(T* p, const T* g, T* buf, size_t n, double lr, double decay, double momentum, bool nesterov) {
    if (!(momentum >= 0 && momentum < 1))
        fail("sgd_update: momentum must be in [0, 1) (got " + std::to_string(momentum) + ")");
    const T mom = (T)momentum, decay_factor = (T)(1.0 - decay), neg_lr = (T)(-lr);
#pragma omp parallel for schedule(static) if (n > 16384)
    for (size_t i = 0; i < n; i++) {
        buf[i] = mom * buf[i] + g[i];                         // buf.mul_(momentum).add_(grad)
        const T u = nesterov ? g[i] + mom * buf[i] : buf[i];  // grad.add(buf, alpha=momentum)
        if (decay != 0.0) p[i] *= decay_factor;               // param.mul_(1 - decay)
        p[i] = p[i] + neg_lr * u;                             // param.add_(u, alpha=-lr)
    }
}

template void sgd_update<float>(float*, const float*, float*, size_t, double, double, double, bool);
template void sgd_update<double>(double*, const double*, double*, size_t, double, double, double, bool);
