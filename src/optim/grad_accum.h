// Gradient accumulation (`lrt train --grad-accum K`): a step's batch runs as
// K micro-batches, each backward pass writing its micro-batch's gradient into
// the model's gradients; these two element-wise loops keep the running sum in
// a separate buffer and then put the mean back. Each micro-batch loss is a
// mean over the same number of tokens, so the mean of the K gradients is the
// whole batch's gradient (to rounding). Element-wise, so the result never
// depends on the thread count; cuda/optim/grad_accum.cu is the GPU twin, bit
// for bit.
#pragma once
#include <cstddef>

// acc = g (first micro-batch) or acc += g
template <typename T>
void accumulate_grads(T* acc, const T* g, size_t n, bool first);

// g = acc / count
template <typename T>
void mean_of_accumulated(T* g, const T* acc, size_t n, int count);
