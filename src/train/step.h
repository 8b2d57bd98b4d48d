// One training step, the same everywhere (`lrt train`, `lrt coordcheck`,
// `lrt reference`, the benchmarks), on either backend:
//
//   loss  = forward(batch)                      mean cross-entropy
//   grads = backward()                          zeroed first
//   (with grad_accum K > 1, those two run once per micro-batch of B/K
//   sequences, each gradient added into the backend's accumulator; the loss
//   and the gradients are then the means over the K micro-batches, which are
//   the whole batch's to rounding)
//   norm  = clip(grads, grad_clip)              global L2 norm, before clipping
//   [snapshot the parameters]                   when measuring
//   update(schedule factor s_t, step t)         every tensor by its table row
//   [measure each listed matrix's update]       study/measure.h
//
// The callers differ only in what they do around it: hooks see the model
// after the forward pass (the coordinate check reads activations there) and
// after the backward pass (the reference state records the gradients).
#pragma once
#include <cmath>
#include <cstdint>
#include <functional>
#include <vector>

#include "model/tensor_table.h"
#include "study/measure.h"
#include "train/backend.h"

struct StepPlan {
    double schedule = 1.0;            // s_t: the LR schedule's factor at this step
    int64_t step = 1;                 // 1-based (Adam's bias corrections)
    const double* lr_extra = nullptr; // per tensor: the replacement warmup's factor on the step size, or nullptr
    double grad_clip = 0;             // max global gradient norm; 0 = no clipping
    int grad_accum = 1;               // K: micro-batches of B/K sequences (K must divide B)
    bool noise_scale = false;         // K > 1: report the squared norms the noise scale needs
};

// Which matrices to measure and at which rows of their inputs; the step
// fills `stats` (one per tensor, in order) and adds its time to `seconds`.
struct MeasureRequest {
    std::vector<size_t> tensors;  // indices into the table
    std::vector<int> rows;        // positions of the batch (study/measure.h's sample_rows)
    std::vector<MatrixStats> stats;
    double seconds = 0;
};

// after_forward runs after each micro-batch's forward pass; after_backward
// once, when the step's gradients (the mean over micro-batches) are formed.
struct StepHooks {
    std::function<void()> after_forward, after_backward;
};

struct StepResult {
    double loss = 0, grad_norm = 0;  // the gradient norm before clipping
    // plan.noise_scale: the mean over micro-batches of each micro-batch
    // gradient's squared norm, and the squared norm of their mean (the step's
    // gradient, unclipped); NaN otherwise (study/noise_scale.h)
    double grad_sq_small = NAN, grad_sq_big = NAN;
    // The same per measured tensor (measure->tensors' order), when the step
    // also measures: the per-role noise scale of measure.csv. Empty otherwise.
    std::vector<double> tensor_sq_small, tensor_sq_big;
};

StepResult training_step(Backend& backend, const TensorTable& table, const int* inputs, const int* targets, int B,
                         int T, const StepPlan& plan, MeasureRequest* measure = nullptr,
                         const StepHooks* hooks = nullptr);

// The step size and β of one tensor as the measurements see them (the LR
// with the warmup's factor; Adam's β1, or the momentum of Muon and SGD).
double measured_lr(const TensorTable& table, size_t index, const StepPlan& plan);
double momentum_of(const OptimizerRow& row);
