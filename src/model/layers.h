// The GPT's layers as plain functions, each a `_forward` / `_backward` pair.
// Argument order everywhere: outputs, saved buffers, inputs, weights, sizes.
// Backward functions ACCUMULATE (+=) into gradient outputs, so a tensor used
// twice (tied embeddings, the residual stream) just receives two calls. A
// parameter's gradient output may be nullptr: a frozen tensor, none formed.
// Every function is a template compiled for float (training) and double
// (the finite-difference gradient tests).
//
// Sizes: B batch, T sequence length, C width, NH heads, V vocab,
// N = B*T token positions. The matmul layer lives in matmul.h.
#pragma once
#include "model/matmul.h"  // Grad

// out (B,T,C) = scale * (wte[inp[b,t]] + wpe[t]); inp (B,T) token ids,
// wte (V,C), wpe (maxT,C).
template <typename T>
void encoder_forward(T* out, const int* inp, const T* wte, const T* wpe, T scale, int B, int Tn, int C);
template <typename T>
void encoder_backward(T* dwte, T* dwpe, const T* dout, const int* inp, T scale, int B, int Tn, int C);

// LayerNorm over the last dim: out (N,C), mean and rstd (N) saved for the
// backward pass, inp (N,C), weight (C), bias (C) or nullptr. eps = 1e-5.
template <typename T>
void layernorm_forward(T* out, T* mean, T* rstd, const T* inp, const T* weight, const T* bias, int N, int C);
template <typename T>
void layernorm_backward(T* dinp, T* dweight, T* dbias, const T* dout, const T* inp, const T* weight,
                        const T* mean, const T* rstd, int N, int C);

// Causal multi-head self-attention on a fused projection.
// inp (B,T,3C) holds q | k | v along the last dim, head h using channels
// [h*hs, (h+1)*hs) of each (hs = C/NH), as in nanoGPT's split + view.
// att (B,NH,T,T) saves the softmax probabilities, zero above the diagonal;
// out (B,T,C). Logits are scale * q.k (scale = 1/sqrt(hs) in SP).
// Blocked through the packed GEMM (matmul.h).
template <typename T>
void attention_forward(T* out, T* att, const T* inp, T scale, int B, int Tn, int C, int NH);
// dinp (B,T,3C) is accumulated into, or overwritten with mode Overwrite.
template <typename T>
void attention_backward(T* dinp, const T* dout, const T* inp, const T* att, T scale, int B, int Tn, int C, int NH,
                        Grad mode = Grad::Accumulate);
// The same as plain loops over positions, the reference the blocked version
// is tested against (only t2 <= t of att is written).
template <typename T>
void attention_forward_naive(T* out, T* att, const T* inp, T scale, int B, int Tn, int C, int NH);
template <typename T>
void attention_backward_naive(T* dinp, const T* dout, const T* inp, const T* att, T scale, int B, int Tn, int C,
                              int NH);

// GELU, tanh approximation (GPT-2's): out (N) from inp (N).
template <typename T>
void gelu_forward(T* out, const T* inp, long N);
// With mode Overwrite, dinp may be dout itself (the gradient in place).
template <typename T>
void gelu_backward(T* dinp, const T* inp, const T* dout, long N, Grad mode = Grad::Accumulate);

// Residual add with a branch multiplier: out = inp1 + scale * inp2, all (N).
template <typename T>
void residual_forward(T* out, const T* inp1, const T* inp2, T scale, long N);
template <typename T>
void residual_backward(T* dinp1, T* dinp2, const T* dout, T scale, long N);

// Scales a tensor in place (the readout multiplier on the logits).
template <typename T>
void scale_forward(T* x, T scale, long N);
// out = scale * inp, all (N).
template <typename T>
void scale_copy(T* out, const T* inp, T scale, long N);

// Softmax + cross-entropy, fused. logits (N,V) -> probs (N,V) saved for the
// backward pass, losses (N) = -log softmax(logits)[target]; returns their mean
// (accumulated in double). targets (N).
template <typename T>
double softmax_crossentropy_forward(T* losses, T* probs, const T* logits, const int* targets, int N, int V);
// dlogits (N,V) += dloss * (probs - onehot(target)), with dloss = 1/N for
// the mean loss.
template <typename T>
void softmax_crossentropy_backward(T* dlogits, const T* probs, const int* targets, T dloss, int N, int V);
