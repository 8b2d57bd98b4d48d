// One training step, the same everywhere (`lrt train`, `lrt coordcheck`,
// `lrt reference`, the benchmarks), on either backend:
//
//   loss  = forward(batch)                      mean cross-entropy
//   grads = backward()                          zeroed first
//   norm  = clip(grads, grad_clip)              global L2 norm, before clipping
//   [snapshot the parameters]                   when measuring
//   update(schedule factor s_t, step t)         every tensor by its table row
//   [measure each listed matrix's update]       study/measure.h
//
// The callers differ only in what they do around it: hooks see the model
// after the forward pass (the coordinate check reads activations there) and
// after the backward pass (the reference state records the gradients).
#pragma once
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
};

// Which matrices to measure and at which rows of their inputs; the step
// fills `stats` (one per tensor, in order) and adds its time to `seconds`.
struct MeasureRequest {
    std::vector<size_t> tensors;  // indices into the table
    std::vector<int> rows;        // positions of the batch (study/measure.h's sample_rows)
    std::vector<MatrixStats> stats;
    double seconds = 0;
};

struct StepHooks {
    std::function<void()> after_forward, after_backward;
};

struct StepResult {
    double loss = 0, grad_norm = 0;
};

StepResult training_step(Backend& backend, const TensorTable& table, const int* inputs, const int* targets, int B,
                         int T, const StepPlan& plan, MeasureRequest* measure = nullptr,
                         const StepHooks* hooks = nullptr);

// The step size and β of one tensor as the measurements see them (the LR
// with the warmup's factor; Adam's β1, or the momentum of Muon and SGD).
double measured_lr(const TensorTable& table, size_t index, const StepPlan& plan);
double momentum_of(const OptimizerRow& row);
