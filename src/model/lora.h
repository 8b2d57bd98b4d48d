// The LoRA adapter path beside a linear layer (Hu et al. 2021; docs/lora.md):
//
//     y = x W0^T + b + s (x A^T) B^T,      s = alpha / rank
//
// with W0 (OC,C) the frozen weight, A (r,C) and B (OC,r) the adapter. The
// linear layer (matmul.h) computes x W0^T + b; these functions add the
// low-rank path on top, and its gradients. Argument order as in layers.h:
// outputs, saved buffers, inputs, weights, sizes. Shapes: inp (N,C),
// u = x A^T (N,r) saved by the forward pass, out (N,OC).
#pragma once

// u (N,r) = inp (N,C) A^T; out (N,OC) += scale * u B^T.
template <typename T>
void lora_forward(T* out, T* u, const T* inp, const T* A, const T* B, T scale, int N, int C, int OC, int r);

// Given dout (N,OC), ACCUMULATES:
//   dB (OC,r)  += scale * dout^T u
//   du (N,r)    = scale * dout B          (scratch, written over)
//   dA (r,C)   += du^T inp
//   dinp (N,C) += du A
// dA and dB may be nullptr (a frozen adapter); du is still needed for dinp.
template <typename T>
void lora_backward(T* dinp, T* dA, T* dB, T* du, const T* dout, const T* inp, const T* u, const T* A, const T* B,
                   T scale, int N, int C, int OC, int r);

// Folds the adapter into the weight: W (OC,C) += scale * B A.
template <typename T>
void lora_merge(T* W, const T* A, const T* B, T scale, int C, int OC, int r);
