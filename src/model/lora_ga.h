// LoRA-GA initialization (Wang, Yu & Li 2024; docs/lora.md "LoRA-GA"): the
// adapters start from the singular vectors of the full gradient of each
// target matrix on one batch, so that the first steps move W0 + s B A along
// the directions full fine-tuning would; W0 is shifted by -s B A so that the
// model's output at step 0 is unchanged.
//
// With G = d(mean loss)/dW0 (fan_out, fan_in) = U S V^T (top 2r triplets,
// model/svd.h), s = alpha / r and the stable-output factor
// c = fan_out^(1/4) / sqrt(gamma):
//
//     A = c V[:, 0:r]^T        (r, fan_in)     the top r right vectors
//     B = c U[:, r:2r]         (fan_out, r)    the next r left vectors
//     W0 <- W0 - s B A
#pragma once
#include "model/model.h"

// The default gamma of the stable-output scale (the paper's and PEFT's).
constexpr double LORA_GA_GAMMA = 16.0;

// The gradient LoRA-GA reads: `plain` is built as the plain model (no
// adapters, nothing frozen) with `adapted`'s matrices, and left holding in
// its grads the mean gradient over the batch inputs/targets (B, Tn). The
// batch runs as grad_accum micro-batches of B/grad_accum rows, summed and
// divided the way a training step's gradient accumulation does
// (train/step.cpp, optim/grad_accum.h), so that the pass holds one
// micro-batch's activations, as training does; with grad_accum 1 it is one
// forward and backward pass.
void lora_ga_gradient(GPT<float>& plain, const GPT<float>& adapted, const int* inputs, const int* targets, int B,
                      int Tn, int grad_accum);

// Overwrites every adapter of `model` (which has adapters) and the matrices
// they sit beside, from lora_ga_gradient on inputs/targets (B, Tn), then one
// truncated SVD per adapted matrix.
void lora_ga_init(GPT<float>& model, const int* inputs, const int* targets, int B, int Tn, int grad_accum = 1,
                  double gamma = LORA_GA_GAMMA);
