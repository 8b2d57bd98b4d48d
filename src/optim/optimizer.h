// AdamW as torch.optim.AdamW computes it, and global-norm gradient clipping
// (the learning-rate schedule is in schedule.h). The optimizer is a loop over the tensor table:
// each row supplies its LR, weight-decay and epsilon multipliers, and the
// inner loop over that row's elements is the same for every tensor.
#pragma once
#include <cstdint>
#include <string>

#include "model/tensor_table.h"

struct AdamWConfig {
    double lr = 1e-3;  // base (peak) learning rate eta
    double beta1 = 0.9;
    double beta2 = 0.95;
    double eps = 1e-8;
    double weight_decay = 0.0;  // lambda (see independent_decay for what it multiplies)
    double grad_clip = 1.0;     // max global grad norm; 0 turns clipping off
    // How the per-step decay d_t (p *= 1 - d_t) is formed, SCIENCE.md §3:
    //   false: d_t = lr_t * lr_mult * lambda * wd_mult  (coupled to the tensor's
    //          LR, as PyTorch's AdamW; the "coupled" and "width-scaled" modes,
    //          which differ only in the table's wd_mult)
    //   true:  d_t = s_t * lambda * wd_mult  (independent: the schedule factor
    //          alone, no base LR and no per-tensor LR multiplier)
    bool independent_decay = false;
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

// The per-step decay d_t of one tensor (see AdamWConfig::independent_decay).
// lr_t is the base LR times the schedule factor, schedule is that factor s_t.
double decay_per_step(const TensorInfo& t, const AdamWConfig& config, double lr_t, double schedule);

// Applies adamw_update to every tensor of the table, with the tensor's
// lr_multiplier, eps_multiplier and its decay_per_step.
// lr_extra (optional, one per tensor) multiplies the Adam step size of each
// tensor but not its decay: the replacement warmup (SCIENCE.md §5) changes
// the update size while keeping the product of LR and decay of the run it
// imitates.
template <typename T>
void adamw_step(T* params, const T* grads, T* m, T* v, const TensorTable& table, const AdamWConfig& config,
                double lr_t, double schedule, int64_t step, const double* lr_extra = nullptr);

// L2 norm of all gradients (summed in double, in a fixed order).
template <typename T>
double global_grad_norm(const T* grads, size_t n);

// torch.nn.utils.clip_grad_norm_: if the norm exceeds max_norm, scales all
// gradients by max_norm / (norm + 1e-6). Returns the norm before clipping.
template <typename T>
double clip_grad_norm(T* grads, size_t n, double max_norm);
