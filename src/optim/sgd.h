// SGD with momentum, in torch.optim.SGD's order of operations (dampening 0),
// but with decoupled weight decay as in AdamW (optimizer.h) instead of
// PyTorch's L2 term added to the gradient.
#pragma once
#include <cstddef>

// One update of one tensor; params, grads, buf (n). Each operation rounded
// on its own (this file is compiled without FMA contraction):
//   buf = momentum * buf + g      buf starts at 0, so the first step gives
//                                 buf = g, as PyTorch's clone of the gradient
//                                 (but +0 for a gradient of -0)
//   u   = nesterov ? g + momentum * buf : buf
//   p  *= 1 - decay               decoupled decay d_t from the caller (0 = none)
//   p  += -lr * u
// momentum = 0 is plain SGD (buf then just holds the last gradient).
// Fails for momentum outside [0, 1).
template <typename T>
void sgd_update(T* params, const T* grads, T* buf, size_t n, double lr, double decay, double momentum,
                bool nesterov);
