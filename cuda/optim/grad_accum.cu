// Gradient accumulation on the GPU: src/optim/grad_accum.h's two loops, one
// thread per element (a grid-stride loop), the same single rounding per
// element as the CPU, so the two agree bit for bit.
#include <algorithm>

#include "common.cuh"

namespace gpu {

__global__ void accumulate_grads_kernel(float* acc, const float* g, size_t n, bool first) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        acc[i] = first ? g[i] : acc[i] + g[i];
}

__global__ void mean_of_accumulated_kernel(float* g, const float* acc, size_t n, float count) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        g[i] = acc[i] / count;
}

void accumulate_grads(float* acc, const float* g, size_t n, bool first) {
    accumulate_grads_kernel<<<std::min(blocks_for((long)n, 256), 4096u), 256>>>(acc, g, n, first);
    LAUNCH_CHECK();
}

void mean_of_accumulated(float* g, const float* acc, size_t n, int count) {
    mean_of_accumulated_kernel<<<std::min(blocks_for((long)n, 256), 4096u), 256>>>(g, acc, n, (float)count);
    LAUNCH_CHECK();
}

}  // namespace gpu
