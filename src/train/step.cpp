#include "train/step.h"

#include <string>

#include "util/util.h"

double measured_lr(const TensorTable& table, size_t index, const StepPlan& plan) {
    return tensor_lr(table.tensors[index], plan.schedule) * (plan.lr_extra ? plan.lr_extra[index] : 1.0);
}

double momentum_of(const OptimizerRow& row) { return row.kind == OptimizerKind::AdamW ? row.beta1 : row.momentum; }

// The step's loss and gradients: one forward and backward pass per
// micro-batch (rows k*B/K .. (k+1)*B/K - 1 of the batch), the gradients
// summed in micro-batch order and divided by K, the losses likewise. When
// the noise scale is asked for, r gets the mean over micro-batches of each
// gradient's squared norm, whole and per measured tensor (`tensors`, may be
// nullptr).
static void forward_backward(Backend& backend, const TensorTable& table, const int* inputs, const int* targets, int B,
                             int T, const StepPlan& plan, const StepHooks* hooks, const std::vector<size_t>* tensors,
                             StepResult* r) {
    const int K = plan.grad_accum;
    if (K < 1 || B % K != 0)
        fail("--grad-accum " + std::to_string(K) + " must be at least 1 and divide the batch size " + std::to_string(B));
    const int b = B / K;
    const size_t micro = (size_t)b * T;
    const bool noise = K > 1 && plan.noise_scale;
    const size_t n_tensors = noise && tensors ? tensors->size() : 0;
    double loss_sum = 0, sq_sum = 0;
    std::vector<double> tensor_sum(n_tensors, 0.0);
    for (int k = 0; k < K; k++) {
        loss_sum += backend.forward(inputs + k * micro, targets + k * micro, b, T);
        if (hooks && hooks->after_forward) hooks->after_forward();
        backend.backward();
        if (K == 1) break;
        if (noise) sq_sum += backend.grad_sq_norm();
        for (size_t i = 0; i < n_tensors; i++) tensor_sum[i] += backend.tensor_grad_sq_norm(table.tensors[(*tensors)[i]]);
        backend.accumulate_grads(k == 0);
    }
    if (K > 1) backend.mean_of_accumulated(K);
    r->loss = loss_sum / K;
    if (!noise) return;
    r->grad_sq_small = sq_sum / K;
    for (size_t i = 0; i < n_tensors; i++) {
        r->tensor_sq_small.push_back(tensor_sum[i] / K);
        r->tensor_sq_big.push_back(backend.tensor_grad_sq_norm(table.tensors[(*tensors)[i]]));  // the mean, unclipped
    }
}

StepResult training_step(Backend& backend, const TensorTable& table, const int* inputs, const int* targets, int B,
                         int T, const StepPlan& plan, MeasureRequest* measure, const StepHooks* hooks) {
    StepResult r;
    forward_backward(backend, table, inputs, targets, B, T, plan, hooks, measure ? &measure->tensors : nullptr, &r);
    if (hooks && hooks->after_backward) hooks->after_backward();
    r.grad_norm = backend.clip_grad_norm(plan.grad_clip);
    if (!std::isnan(r.grad_sq_small)) r.grad_sq_big = r.grad_norm * r.grad_norm;  // the norm before clipping
    if (measure) {
        const double t0 = wall_seconds();
        backend.snapshot_params();
        measure->seconds += wall_seconds() - t0;
    }
    backend.optimizer_step(plan.schedule, plan.step, plan.lr_extra);
    backend.synchronize();
    if (measure) {
        const double t0 = wall_seconds();
        measure->stats.clear();
        for (size_t index : measure->tensors) {
            const TensorInfo& t = table.tensors[index];
            measure->stats.push_back(backend.measure(t, measure->rows, measured_lr(table, index, plan),
                                                     decay_per_step(t, plan.schedule), momentum_of(t.optim)));
        }
        measure->seconds += wall_seconds() - t0;
    }
    return r;
}
