#include "model/lora.h"

#include "model/matmul.h"

template <typename T>
void lora_forward(T* out, T* u, const T* inp, const T* A, const T* B, T scale, int N, int C, int OC, int r) {
    // u (N,r) = inp (N,C) @ A^T (C,r)
    gemm(false, true, N, r, C, T(1), inp, C, A, C, T(0), u, r);
    // out (N,OC) += scale * u (N,r) @ B^T (r,OC). With B = 0 every term is
    // an exact 0, so out is the plain layer's output bit for bit.
    gemm(false, true, N, OC, r, scale, u, r, B, r, T(1), out, OC);
}

template <typename T>
void lora_backward(T* dinp, T* dA, T* dB, T* du, const T* dout, const T* inp, const T* u, const T* A, const T* B,
                   T scale, int N, int C, int OC, int r) {
    // dB (OC,r) += scale * dout^T (OC,N) @ u (N,r)
    if (dB) gemm(true, false, OC, r, N, scale, dout, OC, u, r, T(1), dB, r);
    // du (N,r) = scale * dout (N,OC) @ B (OC,r)
    gemm(false, false, N, r, OC, scale, dout, OC, B, r, T(0), du, r);
    // dA (r,C) += du^T (r,N) @ inp (N,C)
    if (dA) gemm(true, false, r, C, N, T(1), du, r, inp, C, T(1), dA, C);
    // dinp (N,C) += du (N,r) @ A (r,C)
    gemm(false, false, N, C, r, T(1), du, r, A, C, T(1), dinp, C);
}

template <typename T>
void lora_merge(T* W, const T* A, const T* B, T scale, int C, int OC, int r) {
    // W (OC,C) += scale * B (OC,r) @ A (r,C)
    gemm(false, false, OC, C, r, scale, B, r, A, C, T(1), W, C);
}

#define LRT_INSTANTIATE_LORA(T)                                                                                     \
    template void lora_forward<T>(T*, T*, const T*, const T*, const T*, T, int, int, int, int);                     \
    template void lora_backward<T>(T*, T*, T*, T*, const T*, const T*, const T*, const T*, const T*, T, int, int, int, \
                                   int);                                                                            \
    template void lora_merge<T>(T*, const T*, const T*, T, int, int, int);
LRT_INSTANTIATE_LORA(float)
LRT_INSTANTIATE_LORA(double)
