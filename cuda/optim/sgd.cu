// SGD with momentum on the GPU, twin of src/optim/sgd.cpp.
//
// The Makefile compiles this file with -fmad=false: like sgd.cpp
// (fp-contract=off) every operation is rounded on its own, so sgd_update
// gives the CPU's result bit for bit.
#include <algorithm>
#include <string>

#include "common.cuh"

namespace gpu {

// p, g, buf (n); the scalars are rounded to float on the host, as the CPU does.
__global__ void sgd_kernel(float* p, const float* g, float* buf, size_t n, float mom, float decay_factor,
                           float neg_lr, int has_decay, int nesterov) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        const float gi = g[i];
        const float b = mom * buf[i] + gi;
        const float u = nesterov ? gi + mom * b : b;
        float pi = p[i];
        if (has_decay) pi *= decay_factor;
        p[i] = pi + neg_lr * u;
        buf[i] = b;
    }
}

void sgd_update(float* params, const float* grads, float* buf, size_t n, double lr, double decay, double momentum,
                bool nesterov) {
    if (!(momentum >= 0 && momentum < 1))
        fail("sgd_update: momentum must be in [0, 1) (got " + std::to_string(momentum) + ")");
    if (n == 0) return;
    const unsigned blocks = std::min(blocks_for((long)n, 256), 4096u);
    sgd_kernel<<<blocks, 256>>>(params, grads, buf, n, (float)momentum, (float)(1.0 - decay), (float)(-lr), decay != 0.0, nesterov);
    LAUNCH_CHECK();
}

}  // namespace gpu
