// AdamW as torch.optim.AdamW computes it, global-norm gradient clipping, and
// the learning-rate schedule. The optimizer is a loop over the tensor table:
// each row supplies its LR, weight-decay and epsilon multipliers, and the
// inner loop over that row's elements is the same for every tensor.
#pragma once
#include <cstdint>
#include <string>

#include "tensor_table.h"

struct AdamWConfig {
    double lr = 1e-3;  // base (peak) learning rate eta
    double beta1 = 0.9;
    double beta2 = 0.95;
    double eps = 1e-8;
    double weight_decay = 0.0;  // lambda; coupled as in PyTorch: p *= 1 - lr_t * lambda
    double grad_clip = 1.0;     // max global grad norm; 0 turns clipping off
};

// One AdamW update of one tensor, in the order of operations of PyTorch's
// single-tensor AdamW (the CPU default), each operation rounded separately
// (this file is compiled without FMA contraction):
//   p *= 1 - lr * decay       weight decay: decoupled from the gradient (AdamW,
//                             not an L2 term), coupled to the LR as in PyTorch
//                             (SCIENCE.md's "coupled" mode)
//   m = lerp(m, g, 1 - beta1)                 (= beta1 m + (1 - beta1) g)
//   v = v * beta2 + (1 - beta2) * g * g
//   p += (-(lr / (1 - beta1^t)) * m) / (sqrt(v) / sqrt(1 - beta2^t) + eps)
// `decay` is the weight-decay coefficient lambda for this tensor; `step` is 1-based.
template <typename T>
void adamw_update(T* params, const T* grads, T* m, T* v, size_t n, double lr, double decay, double beta1,
                  double beta2, double eps, int64_t step);

// Applies adamw_update to every tensor of the table, with the tensor's
// lr_multiplier, weight_decay_multiplier and eps_multiplier. lr_t is the base
// LR times the schedule factor for this step.
template <typename T>
void adamw_step(T* params, const T* grads, T* m, T* v, const TensorTable& table, const AdamWConfig& config,
                double lr_t, int64_t step);

// L2 norm of all gradients (summed in double, in a fixed order).
template <typename T>
double global_grad_norm(const T* grads, size_t n);

// torch.nn.utils.clip_grad_norm_: if the norm exceeds max_norm, scales all
// gradients by max_norm / (norm + 1e-6). Returns the norm before clipping.
template <typename T>
double clip_grad_norm(T* grads, size_t n, double max_norm);

// Learning-rate schedule: linear warmup over warmup_steps (step s < warmup
// gets (s+1)/warmup), then constant, linear or cosine decay from 1 down to
// min_lr_fraction at the last step.
struct ScheduleConfig {
    std::string decay = "cosine";  // constant | linear | cosine
    int64_t warmup_steps = 0;
    int64_t total_steps = 1;
    double min_lr_fraction = 0.0;
};
void validate_schedule(const ScheduleConfig& s);
double schedule_factor(const ScheduleConfig& s, int64_t step);  // step is 0-based
