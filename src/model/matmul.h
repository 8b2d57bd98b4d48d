// The matmul layer: the linear layers of the transformer (forward and
// backward) and the general matrix product they are built on.
//
// Every function comes twice: a plain loop version ("_naive") that is easy to
// check by eye, and a fast cache-blocked version that is tested against it.
// The fast versions are deterministic: each output element is computed by the
// same sequence of floating-point operations whatever the number of OpenMP
// threads, so a run (and a resumed run) reproduces bit for bit.
//
// All matrices are row-major. Instantiated for float and double (the double
// build of the model is used for finite-difference gradient checks).
#pragma once

// Linear layer, shapes as in llm.c: inp is (N,C), weight is (OC,C) (the
// PyTorch nn.Linear layout), bias is (OC) or nullptr, out is (N,OC).
// out = inp @ weight^T + bias.
template <typename T>
void matmul_forward(T* out, const T* inp, const T* weight, const T* bias, int N, int C, int OC);

// How a backward pass writes an input's gradient: added to what the buffer
// holds (the default: a tensor used twice receives two calls), or written
// over it (saves the caller zeroing a scratch buffer: a pass over memory).
enum class Grad { Accumulate, Overwrite };

// dout is (N,OC), inp is (N,C), weight is (OC,C). Gradients are ACCUMULATED
// (+=) into dweight (OC,C) and dbias (OC), and into dinp (N,C) unless
// dinp_mode is Overwrite; pass nullptr for any of the three to skip it.
template <typename T>
void matmul_backward(T* dinp, T* dweight, T* dbias, const T* dout, const T* inp, const T* weight,
                     int N, int C, int OC, Grad dinp_mode = Grad::Accumulate);

// The plain triple loops the fast versions are tested against (same shapes,
// same semantics).
template <typename T>
void matmul_forward_naive(T* out, const T* inp, const T* weight, const T* bias, int N, int C,
                          int OC);
template <typename T>
void matmul_backward_naive(T* dinp, T* dweight, T* dbias, const T* dout, const T* inp,
                           const T* weight, int N, int C, int OC);

// General product, for the layers above and for others (e.g. attention):
//     C = alpha * op(A) * op(B) + beta * C
// where op(X) is X or X^T. op(A) is (M,K), op(B) is (K,N), C is (M,N); lda,
// ldb, ldc are the row strides of A, B, C as stored (so A is stored (M,K) with
// lda >= K, or (K,M) with lda >= M when transA). beta == 0 overwrites C
// without reading it (C may hold garbage or NaN). C must not overlap A or B.
// Runs multi-threaded unless called from inside an OpenMP parallel region,
// where it runs serially (so callers may parallelise over, e.g., heads).
template <typename T>
void gemm(bool transA, bool transB, int M, int N, int K, T alpha, const T* A, int lda, const T* B,
          int ldb, T beta, T* C, int ldc);
