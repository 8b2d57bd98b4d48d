// The float exp that GELU and the softmaxes use (model/fast_math.h), against
// libm in double; and the float GELU built on it, against the double one.
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <vector>

#include "model/fast_math.h"
#include "model/layers.h"

TEST_CASE("exp_fast in float is within 1e-7 of libm's exp over its whole range", "[fast_math]") {
    double worst = 0, worst_x = 0;
    // every 2^-12 over [-87, 88] (716,800 points) and the float just past each end
    for (double x = -87.0; x <= 88.0; x += 1.0 / 4096) {
        const float xf = (float)x;
        const double exact = std::exp((double)xf);
        const double err = std::fabs((double)exp_fast(xf) - exact) / exact;
        if (err > worst) worst = err, worst_x = xf;
    }
    INFO("worst relative error " << worst << " at x = " << worst_x);
    CHECK(worst < 1e-7);
    CHECK(exp_fast(0.0f) == 1.0f);
    // outside the range: clamped to e^-87 and e^88, finite and positive; NaN stays NaN
    CHECK(exp_fast(-1000.0f) == exp_fast(-87.0f));
    CHECK(exp_fast(1000.0f) == exp_fast(88.0f));
    CHECK(std::isfinite(exp_fast(std::numeric_limits<float>::infinity())));
    CHECK(exp_fast(-std::numeric_limits<float>::infinity()) > 0.0f);
    CHECK(std::isnan(exp_fast(std::numeric_limits<float>::quiet_NaN())));
}

TEST_CASE("float GELU forward and backward agree with the double ones to float rounding", "[fast_math][layers]") {
    // x over [-12, 12] in steps of 1/256 (both tails and the bend)
    std::vector<float> xf;
    for (double x = -12; x <= 12; x += 1.0 / 256) xf.push_back((float)x);
    const long N = (long)xf.size();
    std::vector<double> xd(xf.begin(), xf.end());
    std::vector<float> yf(N), gf(N, 0.0f), onesf(N, 1.0f);
    std::vector<double> yd(N), gd(N, 0.0), onesd(N, 1.0);
    gelu_forward(yf.data(), xf.data(), N);
    gelu_forward(yd.data(), xd.data(), N);
    gelu_backward(gf.data(), xf.data(), onesf.data(), N);
    gelu_backward(gd.data(), xd.data(), onesd.data(), N);
    double worst_y = 0, worst_g = 0;
    for (long i = 0; i < N; i++) {
        // relative to max(1, |value|): absolute near zero, relative in the linear tail
        worst_y = std::max(worst_y, std::fabs(yf[i] - yd[i]) / std::max(1.0, std::fabs(yd[i])));
        worst_g = std::max(worst_g, std::fabs(gf[i] - gd[i]) / std::max(1.0, std::fabs(gd[i])));
    }
    INFO("forward " << worst_y << ", backward " << worst_g);
    CHECK(worst_y < 1e-6);
    CHECK(worst_g < 1e-6);
    // far into the negative tail (e^(-2u) past double's range): 0, not NaN
    std::vector<double> far = {-25.0, -100.0, -1e6}, yfar(3), gfar(3, 0.0), ones3(3, 1.0);
    gelu_forward(yfar.data(), far.data(), 3);
    gelu_backward(gfar.data(), far.data(), ones3.data(), 3);
    for (int i = 0; i < 3; i++) {
        CHECK(std::fabs(yfar[i]) < 1e-100);
        CHECK(std::fabs(gfar[i]) < 1e-100);
    }
}
