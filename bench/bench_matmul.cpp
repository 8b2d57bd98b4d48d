// Speed of the matmul layer on the shapes of a d=256 transformer: the naive
// loops against the blocked gemm, for the forward product and the two
// backward products (dinp and dweight), in GFLOP/s (fp32).
//
//     make bench          (or: build/bench_matmul)
//
// Each blocked figure is the best of several timed repetitions, the one least
// disturbed by other processes on the machine. The naive loops are slow, so
// they run once per shape, at N = 4096; their ratio to the blocked figure at
// the same N is the speedup.
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <functional>
#include <string>
#include <vector>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "model/matmul.h"
#include "util/rng.h"
#include "util/util.h"

namespace {

// Best GFLOP/s of `fn` (which does `flops` floating-point operations) over
// at least `min_reps` repetitions lasting at least `min_seconds` in all,
// after one warm-up call if `warm_up`.
double gflops(double flops, const std::function<void()>& fn, bool warm_up, int min_reps,
              double min_seconds) {
    if (warm_up) fn();
    double best = 1e30, total = 0;
    int reps = 0;
    while (total < min_seconds || reps < min_reps) {
        double t0 = wall_seconds();
        fn();
        double dt = wall_seconds() - t0;
        best = std::min(best, dt);
        total += dt;
        ++reps;
    }
    return flops / best * 1e-9;
}

std::vector<float> random_vector(Rng& rng, size_t n) {
    std::vector<float> v(n);
    for (auto& x : v) x = (float)rng.normal();
    return v;
}

struct Rates {
    double forward, dinp, dweight;
};

// GFLOP/s of the three products of one linear layer, inp (N,C) -> out (N,OC).
Rates measure(int N, int C, int OC, bool naive) {
    Rng rng(1);
    auto inp = random_vector(rng, (size_t)N * C), weight = random_vector(rng, (size_t)OC * C);
    auto bias = random_vector(rng, OC), dout = random_vector(rng, (size_t)N * OC);
    std::vector<float> out((size_t)N * OC), dinp((size_t)N * C), dweight((size_t)OC * C);
    const double flops = 2.0 * N * C * OC;
    auto forward = naive ? matmul_forward_naive<float> : matmul_forward<float>;
    // The fast backward's last argument (Grad) has a default, which a
    // function pointer does not carry: wrap both in the same signature.
    std::function<void(float*, float*, float*, const float*, const float*, const float*, int, int,
                       int)>
        backward = matmul_backward_naive<float>;
    if (!naive)
        backward = [](float* di, float* dw, float* db, const float* d, const float* x,
                      const float* w, int n, int c, int oc) {
            matmul_backward<float>(di, dw, db, d, x, w, n, c, oc);
        };
    // The buffers are written already (so no first-touch page faults in the
    // timing); the naive loops take long enough to time once.
    auto rate = [&](const std::function<void()>& fn) {
        return naive ? gflops(flops, fn, false, 1, 0) : gflops(flops, fn, true, 3, 0.25);
    };
    Rates r;
    r.forward =
        rate([&] { forward(out.data(), inp.data(), weight.data(), bias.data(), N, C, OC); });
    r.dinp = rate([&] {
        backward(dinp.data(), nullptr, nullptr, dout.data(), inp.data(), weight.data(), N, C, OC);
    });
    r.dweight = rate([&] {
        backward(nullptr, dweight.data(), nullptr, dout.data(), inp.data(), weight.data(), N, C,
                 OC);
    });
    return r;
}

}  // namespace

int main() {
#ifdef _OPENMP
    const int threads = omp_get_max_threads();
#else
    const int threads = 1;
#endif
    std::printf("matmul benchmark: %s, %d thread%s, fp32, GFLOP/s (best of repeats)\n",
                cpu_model_name().c_str(), threads, threads == 1 ? "" : "s");
    std::printf("fwd: out = inp @ weight^T + bias, dinp = dout @ weight, dweight = dout^T @ inp\n");
    std::printf("naive: the plain loops, timed once at N = 4096; x: blocked / naive\n\n");
    std::printf("%6s %5s %5s | %-23s | %-23s | %s\n", "", "", "", "naive", "blocked", "speedup x");
    std::printf("%6s %5s %5s | %7s %7s %7s | %7s %7s %7s | %6s %6s %6s\n", "N", "C", "OC", "fwd",
                "dinp", "dweight", "fwd", "dinp", "dweight", "fwd", "dinp", "dweight");

    const int shapes[][2] = {{256, 768}, {256, 256}, {256, 1024}, {1024, 256}};
    double t0 = wall_seconds();
    for (const auto& s : shapes) {
        const int C = s[0], OC = s[1];
        Rates naive = measure(4096, C, OC, true);
        for (int N : {4096, 8192}) {
            Rates fast = measure(N, C, OC, false);
            std::printf("%6d %5d %5d | ", N, C, OC);
            if (N == 4096)  // the naive figures were measured at this N
                std::printf("%7.1f %7.1f %7.1f | ", naive.forward, naive.dinp, naive.dweight);
            else
                std::printf("%7s %7s %7s | ", "", "", "");
            std::printf("%7.1f %7.1f %7.1f", fast.forward, fast.dinp, fast.dweight);
            if (N == 4096)
                std::printf(" | %6.1f %6.1f %6.1f", fast.forward / naive.forward,
                            fast.dinp / naive.dinp, fast.dweight / naive.dweight);
            std::printf("\n");
        }
    }
    std::printf("\n(total %.1f s)\n", wall_seconds() - t0);
    return 0;
}
