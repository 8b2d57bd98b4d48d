// The optimizer step on the GPU (twin of src/optim/optimizer.cpp): every
// tensor by its table row, AdamW's rows in one launch, Muon's, SGD's and the
// spectral decays through their own files (muon.cu, sgd.cu,
// spectral_decay.cu); and gradient clipping.
//
// The Makefile compiles this file with -fmad=false: like optimizer.cpp
// (fp-contract=off) every operation is rounded on its own, and float
// division and square root are IEEE-rounded (nvcc's default without
// --use_fast_math), so adamw_update gives the CPU's result bit for bit.
#include <cmath>
#include <vector>

#include "common.cuh"

namespace gpu {

// One tensor's constants, formed on the host exactly as the CPU forms them.
struct AdamWTensor {
    size_t offset, n;
    float decay_factor;   // 1 - decay
    float neg_step_size;  // -(lr / (1 - beta1^t))
    float bc2_sqrt;       // sqrt(1 - beta2^t)
    float eps;
    int has_decay;
};

struct AdamWShared {
    float weight, one_minus_weight, b2, one_minus_b2;
    int small_weight;
};

static AdamWTensor tensor_constants(size_t offset, size_t n, double lr, double decay, double beta1, double beta2,
                                    double eps, int64_t step) {
    const double bias_correction1 = 1.0 - std::pow(beta1, (double)step);
    const double bias_correction2 = 1.0 - std::pow(beta2, (double)step);
    return {offset, n, (float)(1.0 - decay), (float)(-(lr / bias_correction1)), (float)std::sqrt(bias_correction2),
            (float)eps, decay != 0.0};
}

static AdamWShared shared_constants(double beta1, double beta2) {
    AdamWShared s;
    s.weight = (float)(1.0 - beta1);
    s.one_minus_weight = 1.0f - s.weight;
    s.b2 = (float)beta2;
    s.one_minus_b2 = (float)(1.0 - beta2);
    s.small_weight = std::fabs(s.weight) < 0.5f;
    return s;
}

// blockIdx.y is the tensor; blocks along x stride over its elements.
__global__ void adamw_kernel(float* params, const float* grads, float* m, float* v, const AdamWTensor* tensors,
                             AdamWShared s) {
    const AdamWTensor t = tensors[blockIdx.y];
    float* p = params + t.offset;
    const float* g = grads + t.offset;
    float* mt = m + t.offset;
    float* vt = v + t.offset;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < t.n; i += (size_t)gridDim.x * blockDim.x) {
        float pi = p[i], gi = g[i], mi = mt[i], vi = vt[i];
        if (t.has_decay) pi *= t.decay_factor;
        // torch's lerp_(grad, weight) picks its formula by the weight's size
        mi = s.small_weight ? mi + s.weight * (gi - mi) : gi - (gi - mi) * s.one_minus_weight;
        vi = vi * s.b2 + s.one_minus_b2 * gi * gi;
        float denom = sqrtf(vi) / t.bc2_sqrt + t.eps;
        pi = pi + t.neg_step_size * mi / denom;
        p[i] = pi;
        mt[i] = mi;
        vt[i] = vi;
    }
}

static void launch_adamw(float* params, const float* grads, float* m, float* v, const std::vector<AdamWTensor>& list,
                         const AdamWShared& s) {
    if (list.empty()) return;
    size_t largest = 0;
    for (const AdamWTensor& t : list) largest = std::max(largest, t.n);
    if (largest == 0) return;
    if (list.size() > 65535) fail("optimizer_step: more than 65535 AdamW tensors");
    AdamWTensor* dev = (AdamWTensor*)scratch(SCRATCH_INDEX, sizeof(AdamWTensor) * list.size());
    upload(dev, list.data(), list.size());
    unsigned bx = std::min(blocks_for((long)largest, 256), 1024u);
    adamw_kernel<<<dim3(bx, (unsigned)list.size()), 256>>>(params, grads, m, v, dev, s);
    LAUNCH_CHECK();
}

void adamw_update(float* params, const float* grads, float* m, float* v, size_t n, double lr, double decay,
                  double beta1, double beta2, double eps, int64_t step) {
    launch_adamw(params, grads, m, v, {tensor_constants(0, n, lr, decay, beta1, beta2, eps, step)},
                 shared_constants(beta1, beta2));
}

// The AdamW rows go to one launch; Muon's and SGD's, and every spectral
// decay, run tensor by tensor (each tensor's step depends on no other's, so
// the order does not matter). Frozen tensors are left out.
void optimizer_step(float* params, const float* grads, float* m, float* v, float* spectral, const TensorTable& table,
                    double schedule, int64_t step, const double* lr_extra) {
    std::vector<AdamWTensor> adam;
    double beta1 = 0, beta2 = 0;
    for (size_t i = 0; i < table.tensors.size(); i++) {
        const TensorInfo& t = table.tensors[i];
        if (t.frozen) continue;  // not updated, not decayed; its state stays untouched (zeros), as on the CPU
        const OptimizerRow& o = t.optim;
        const double lr = tensor_lr(t, schedule) * (lr_extra ? lr_extra[i] : 1.0);
        double decay = decay_per_step(t, schedule);
        float* p = params + t.offset;
        if (o.decay_norm == DecayNorm::Spectral && decay != 0.0) {
            spectral_decay(p, t.fan_out, t.fan_in, spectral + o.spectral_offset, decay, o.spectral_iters);
            decay = 0.0;
        }
        switch (o.kind) {
            case OptimizerKind::AdamW:
                // one launch shares beta1 and beta2 (every AdamW row has the same)
                if (!adam.empty() && (o.beta1 != beta1 || o.beta2 != beta2))
                    fail("optimizer_step: AdamW rows with different betas");
                beta1 = o.beta1, beta2 = o.beta2;
                adam.push_back(tensor_constants(t.offset, t.numel, lr, decay, o.beta1, o.beta2, o.eps, step));
                break;
            case OptimizerKind::Muon:
                muon_update(p, grads + t.offset, m + t.offset, t.fan_out, t.fan_in, lr, decay, o.momentum, o.nesterov,
                            o.ns_steps, o.ns_coefficients, o.update_scale);
                break;
            case OptimizerKind::SGD:
                sgd_update(p, grads + t.offset, m + t.offset, t.numel, lr, decay, o.momentum, o.nesterov);
                break;
        }
    }
    launch_adamw(params, grads, m, v, adam, shared_constants(beta1, beta2));
}

// Sum of squares: a fixed grid (independent of the GPU), each thread over a
// fixed stride of elements, each block's sum in a fixed tree order; the host
// adds the block sums in order. All in double, as the CPU.
static const int NORM_BLOCKS = 512, NORM_THREADS = 256;

__global__ void sum_of_squares_kernel(double* partial, const float* x, size_t n) {
    __shared__ double shared[32];
    double s = 0;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        s += (double)x[i] * (double)x[i];
    s = block_sum(s, shared);
    if (threadIdx.x == 0) partial[blockIdx.x] = s;
}

void squares_partials(double* partial, const float* x, size_t n, unsigned blocks, unsigned threads) {
    sum_of_squares_kernel<<<blocks, threads>>>(partial, x, n);
    LAUNCH_CHECK();
}

double global_grad_norm(const float* grads, size_t n) {
    double* partial = (double*)scratch(SCRATCH_PARTIAL, sizeof(double) * NORM_BLOCKS);
    squares_partials(partial, grads, n, NORM_BLOCKS, NORM_THREADS);
    std::vector<double> host(NORM_BLOCKS);
    download(host.data(), partial, NORM_BLOCKS);
    double sum = 0;
    for (double x : host) sum += x;
    return std::sqrt(sum);
}

__global__ void scale_all_kernel(float* x, float s, size_t n) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        x[i] *= s;
}

double clip_grad_norm(float* grads, size_t n, double max_norm) {
    double norm = global_grad_norm(grads, n);
    if (max_norm > 0) {
        double coef = max_norm / (norm + 1e-6);
        if (coef < 1.0) {
            scale_all_kernel<<<std::min(blocks_for((long)n, 256), 4096u), 256>>>(grads, (float)coef, n);
            LAUNCH_CHECK();
        }
    }
    return norm;
}

}  // namespace gpu
