// The optimizer step: a loop over the tensor table, where each row's
// OptimizerRow (model/tensor_table.h) says which optimizer updates it (AdamW
// as torch.optim.AdamW computes it, Muon in optim/muon.h, SGD in optim/sgd.h),
// with what LR, ε and decay, and which norm the decay shrinks (Frobenius, or
// spectral in optim/spectral_decay.h). Also global-norm gradient clipping.
// (The learning-rate schedule is in schedule.h.)
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "model/tensor_table.h"

// The optimizer's state, in the parameter buffer's layout: AdamW's first and
// second moments m and v (Muon and SGD keep their momentum in m and leave v
// at 0), and each spectrally decayed matrix's top right singular vector v1
// (fan_in values at its row's spectral_offset; all zeros until the first
// step finds it).
template <typename T>
struct OptimizerState {
    std::vector<T> m, v, spectral;
    explicit OptimizerState(const TensorTable& table)
        : m(table.total, T(0)), v(table.total, T(0)), spectral(table.spectral_total, T(0)) {}
};
// One AdamW update of one tensor, in the order of operations of PyTorch's
// single-tensor AdamW (the CPU default), each operation rounded separately
// (this file is compiled without FMA contraction):
//   p *= 1 - decay            weight decay: decoupled from the gradient (AdamW,
//                             not an L2 term); PyTorch passes lr * lambda here
//   m = lerp(m, g, 1 - beta1)                 (= beta1 m + (1 - beta1) g)
//   v = v * beta2 + (1 - beta2) * g * g
//   p += (-(lr / (1 - beta1^t)) * m) / (sqrt(v) / sqrt(1 - beta2^t) + eps)
// `decay` is this step's decay factor d_t (0 = none); `step` is 1-based.
template <typename T>
void adamw_update(T* params, const T* grads, T* m, T* v, size_t n, double lr, double decay, double beta1,
                  double beta2, double eps, int64_t step);

// One tensor's step size at schedule factor s_t: (base_lr * s_t) * lr_multiplier.
double tensor_lr(const TensorInfo& t, double schedule);

// The per-step decay d_t of one tensor (p *= 1 - d_t, or its spectral
// counterpart): lambda times the tensor's LR (decay_follows_lr) or times s_t.
double decay_per_step(const TensorInfo& t, double schedule);

// One step of every tensor of the table that is not frozen, each by its row: first its decay
// (Frobenius inside the update, or spectral before it), then its optimizer's
// update. `step` is 1-based. lr_extra (optional, one per tensor) multiplies
// the step size of each tensor but not its decay: the replacement warmup
// (optim/schedule.h) changes the update size while keeping the product of LR
// and decay of the run it imitates.
template <typename T>
void optimizer_step(T* params, const T* grads, OptimizerState<T>& state, const TensorTable& table, double schedule,
                    int64_t step, const double* lr_extra = nullptr);

// L2 norm of all gradients (summed in double, in a fixed order).
template <typename T>
double global_grad_norm(const T* grads, size_t n);
// The same norm summed in fixed chunks and lanes, in parallel: equal to
// global_grad_norm to rounding, and independent of the thread count.
template <typename T>
double parallel_grad_norm(const T* grads, size_t n);

// torch.nn.utils.clip_grad_norm_: if the norm exceeds max_norm, scales all
// gradients by max_norm / (norm + 1e-6). Returns the norm before clipping.
template <typename T>
double clip_grad_norm(T* grads, size_t n, double max_norm);
