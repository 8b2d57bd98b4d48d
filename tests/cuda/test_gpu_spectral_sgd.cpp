// The GPU twins of spectral decay and SGD (cuda/optim/spectral_decay.cu,
// cuda/optim/sgd.cu) against the CPU (src/optim/), which tests/
// test_spectral_decay.cpp and tests/test_sgd.cpp check against the math.
#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

#include "gpu_test_helpers.h"
#include "optim/sgd.h"
#include "optim/spectral_decay.h"

using Catch::Matchers::Contains;
using gpu_test::check_bitwise;
using gpu_test::check_close;
using gpu_test::check_scalar;
using gpu_test::random_floats;

namespace {

// Spectral decay: both sides sum in double, in different orders, so the
// sums differ by ~1e-16 relative; what can differ visibly is the rounding of
// v and W to float (2^-24 = 6e-8), where one side may round a value the other
// way, and sigma1 through W's rounding. Measured on the CPU emulation: W and
// v identical, sigma1 within 2e-16. Bounds: 5e-7 (8 float roundings) for W
// and v, 1e-6 for sigma1; a step with another iteration count or a wrong
// term differs by 1e-5 and more.
constexpr double SPECTRAL_W = 5e-7, SPECTRAL_V = 5e-7, SPECTRAL_SIGMA = 1e-6;
// Few iterations from no vector, one per step after it: v is not yet
// converged, so the steps show whether each side ran as many iterations.
constexpr int ITERS = 1, FIRST_ITERS = 3;

// (fan_out, fan_in): noise 0.05 N(0,1) plus a spike 3 a b^T (a, b unit
// vectors), so sigma1 ~ 3 stands well above the rest (~0.05 (sqrt(fan_out) +
// sqrt(fan_in)) < 1) and v1 is well defined: the two sides' rounding does
// not get amplified by a small gap.
std::vector<float> spiked_matrix(int fan_out, int fan_in, uint64_t seed) {
    std::vector<float> W = random_floats((size_t)fan_out * fan_in, seed, 0.05);
    std::vector<float> a = random_floats(fan_out, seed + 1), b = random_floats(fan_in, seed + 2);
    double na = 0, nb = 0;
    for (float x : a) na += (double)x * x;
    for (float x : b) nb += (double)x * x;
    for (int i = 0; i < fan_out; i++)
        for (int j = 0; j < fan_in; j++) W[(size_t)i * fan_in + j] += (float)(3.0 * a[i] * b[j] / std::sqrt(na * nb));
    return W;
}

struct Setting {
    double momentum, decay;
    bool nesterov;
};

}  // namespace

TEST_CASE("gpu spectral_decay agrees with the CPU over successive steps", "[cuda][spectral]") {
    REQUIRE_GPU_OR_SKIP();
    struct Shape {
        int fan_out, fan_in;
    };
    for (Shape sh : {Shape{70, 33}, Shape{33, 300}}) {  // tall; wide with two blocks of columns
        INFO(sh.fan_out << " x " << sh.fan_in);
        std::vector<float> W = spiked_matrix(sh.fan_out, sh.fan_in, 20), v(sh.fan_in, 0.0f);
        gpu::Buffer<float> d_W(W), d_v(v);
        std::vector<float> W_before_last, v_before_last;
        for (int step = 1; step <= 3; step++) {
            INFO("step " << step);
            if (step == 3) W_before_last = d_W.to_host(), v_before_last = d_v.to_host();
            const double sigma = spectral_decay(W.data(), sh.fan_out, sh.fan_in, v.data(), 0.1, ITERS, FIRST_ITERS);
            const double d_sigma = gpu::spectral_decay(d_W, sh.fan_out, sh.fan_in, d_v, 0.1, ITERS, FIRST_ITERS);
            check_scalar("sigma1", d_sigma, sigma, SPECTRAL_SIGMA);
            check_close("W", d_W.to_host(), W, SPECTRAL_W);
            check_close("v", d_v.to_host(), v, SPECTRAL_V);
        }
        // the GPU repeats its own last step bit for bit from saved W and v (a resumed run)
        const std::vector<float> W_last = d_W.to_host(), v_last = d_v.to_host();
        d_W.from_host(W_before_last);
        d_v.from_host(v_before_last);
        gpu::spectral_decay(d_W, sh.fan_out, sh.fan_in, d_v, 0.1, ITERS, FIRST_ITERS);
        check_bitwise("W repeated", d_W.to_host(), W_last);
        check_bitwise("v repeated", d_v.to_host(), v_last);
        // power iteration alone, warm, several iterations
        const double p = power_iteration(W.data(), sh.fan_out, sh.fan_in, v.data(), 3);
        const double d_p = gpu::power_iteration(d_W, sh.fan_out, sh.fan_in, d_v, 3);
        check_scalar("power_iteration sigma1", d_p, p, SPECTRAL_SIGMA);
        check_close("power_iteration v", d_v.to_host(), v, SPECTRAL_V);
    }
}

TEST_CASE("gpu spectral_decay: d = 0 does nothing, no iterations fail", "[cuda][spectral]") {
    REQUIRE_GPU_OR_SKIP();
    const std::vector<float> W = spiked_matrix(9, 5, 30), v(5, 0.0f);
    gpu::Buffer<float> d_W(W), d_v(v);
    CHECK(gpu::spectral_decay(d_W, 9, 5, d_v, 0.0, 3) == 0.0);
    check_bitwise("W", d_W.to_host(), W);
    check_bitwise("v", d_v.to_host(), v);
    REQUIRE_THROWS_WITH(gpu::power_iteration(d_W, 9, 5, d_v, 0), Contains("at least 1 iteration"));
    REQUIRE_THROWS_WITH(gpu::spectral_decay(d_W, 9, 5, d_v, 0.1, 1, 0), Contains("at least 1 iteration"));
    REQUIRE_THROWS_WITH(gpu::spectral_decay(d_W, 0, 5, d_v, 0.1, 1), Contains("at least one row and column"));
    REQUIRE_THROWS_WITH(gpu::spectral_decay(d_W, 9, 5, d_v, -1.0, 1), Contains("must be in [0, 1]"));
}

TEST_CASE("gpu sgd_update equals the CPU bit for bit", "[cuda][sgd]") {
    REQUIRE_GPU_OR_SKIP();
    const Setting settings[] = {{0.9, 0.0, false}, {0.9, 0.0, true}, {0.9, 1e-3, false},
                                {0.9, 1e-3, true}, {0.0, 1e-3, false}};
    for (size_t n : {(size_t)1, (size_t)1000, (size_t)70001})
        for (const Setting& s : settings) {
            INFO("n " << n << " momentum " << s.momentum << " decay " << s.decay << " nesterov " << s.nesterov);
            std::vector<float> p = random_floats(n, 40), buf(n, 0.0f);
            gpu::Buffer<float> d_p(p), d_buf(buf), d_g(n);
            for (int step = 1; step <= 3; step++) {
                INFO("step " << step);
                std::vector<float> g = random_floats(n, 40 + (uint64_t)step, 0.1);
                d_g.from_host(g);
                sgd_update(p.data(), g.data(), buf.data(), n, 0.03, s.decay, s.momentum, s.nesterov);
                gpu::sgd_update(d_p, d_g, d_buf, n, 0.03, s.decay, s.momentum, s.nesterov);
                check_bitwise("params", d_p.to_host(), p);
                check_bitwise("momentum buffer", d_buf.to_host(), buf);
            }
        }
    gpu::Buffer<float> one(1);
    REQUIRE_THROWS_WITH(gpu::sgd_update(one, one, one, 1, 0.1, 0.0, -0.1, false), Contains("momentum must be in [0, 1)"));
}
