#include "optim/grad_accum.h"

template <typename T>
void accumulate_grads(T* acc, const T* g, size_t n, bool first) {
#pragma omp parallel for schedule(static) if (n > 16384)
    for (size_t i = 0; i < n; i++) acc[i] = first ? g[i] : acc[i] + g[i];
}

template <typename T>
void mean_of_accumulated(T* g, const T* acc, size_t n, int count) {
    const T k = (T)count;
#pragma omp parallel for schedule(static) if (n > 16384)
    for (size_t i = 0; i < n; i++) g[i] = acc[i] / k;
}

template void accumulate_grads<float>(float*, const float*, size_t, bool);
template void accumulate_grads<double>(double*, const double*, size_t, bool);
template void mean_of_accumulated<float>(float*, const float*, size_t, int);
template void mean_of_accumulated<double>(double*, const double*, size_t, int);
