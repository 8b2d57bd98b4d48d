#include "train/step.h"

#include "util/util.h"

double measured_lr(const TensorTable& table, size_t index, const StepPlan& plan) {
    return tensor_lr(table.tensors[index], plan.schedule) * (plan.lr_extra ? plan.lr_extra[index] : 1.0);
}

double momentum_of(const OptimizerRow& row) { return row.kind == OptimizerKind::AdamW ? row.beta1 : row.momentum; }

StepResult training_step(Backend& backend, const TensorTable& table, const int* inputs, const int* targets, int B,
                         int T, const StepPlan& plan, MeasureRequest* measure, const StepHooks* hooks) {
    StepResult r;
    r.loss = backend.forward(inputs, targets, B, T);
    if (hooks && hooks->after_forward) hooks->after_forward();
    backend.backward();
    if (hooks && hooks->after_backward) hooks->after_backward();
    r.grad_norm = backend.clip_grad_norm(plan.grad_clip);
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
