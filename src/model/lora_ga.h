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

// Overwrites every adapter of `model` (which has adapters) and the matrices
// they sit beside, from the gradient of the plain model (the adapters left
// out) on inputs/targets (B, Tn). One forward and backward pass of the plain
// model, then one truncated SVD per adapted matrix.
void lora_ga_init(GPT<float>& model, const int* inputs, const int* targets, int B, int Tn,
                  double gamma = LORA_GA_GAMMA);
