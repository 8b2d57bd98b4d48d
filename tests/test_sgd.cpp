// SGD with momentum (src/optim/sgd.h) against steps written out by hand:
// torch.optim.SGD's momentum buffer and Nesterov step, with decoupled decay.
// Like sgd.cpp, no fused multiply-adds: the float test below spells out the
// operations one rounding at a time.
#pragma GCC optimize("fp-contract=off")
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <vector>

#include "optim/sgd.h"
#include "util/rng.h"

using Catch::Matchers::Contains;

namespace {
struct Setting {
    double momentum, decay;
    bool nesterov;
};
// momentum with and without Nesterov, with and without decay, and plain SGD
const Setting SETTINGS[] = {{0.9, 0.0, false}, {0.9, 0.0, true}, {0.9, 0.01, false},
                            {0.9, 0.01, true}, {0.0, 0.0, false}, {0.0, 0.01, false}};
}  // namespace

TEST_CASE("SGD matches a hand-computed update", "[sgd]") {
    const double lr = 0.1;
    const std::vector<std::vector<double>> grads = {{0.5, -0.2, 0.0}, {0.3, 0.1, -0.05}, {-0.2, 0.0, 0.4}};
    for (const Setting& s : SETTINGS) {
        INFO("momentum " << s.momentum << " decay " << s.decay << " nesterov " << s.nesterov);
        std::vector<double> p = {1.0, -1.0, 2.0}, buf(3, 0.0);
        std::vector<double> ep = p, ebuf(3);
        for (int t = 1; t <= 3; t++) {
            const std::vector<double>& g = grads[t - 1];
            sgd_update(p.data(), g.data(), buf.data(), 3, lr, s.decay, s.momentum, s.nesterov);
            for (int i = 0; i < 3; i++) {
                ebuf[i] = t == 1 ? g[i] : s.momentum * ebuf[i] + g[i];  // PyTorch clones the first gradient
                const double u = s.nesterov ? g[i] + s.momentum * ebuf[i] : ebuf[i];
                ep[i] = ep[i] * (1 - s.decay) - lr * u;
            }
            for (int i = 0; i < 3; i++) {
                INFO("step " << t << " element " << i);
                REQUIRE(p[i] == Approx(ep[i]).epsilon(1e-14));
                REQUIRE(buf[i] == Approx(ebuf[i]).epsilon(1e-14));
            }
        }
    }
    // one step by hand: buf = g = 0.5; Nesterov's u = 0.5 + 0.9 * 0.5 = 0.95
    std::vector<double> p = {1.0}, g = {0.5}, buf = {0.0};
    sgd_update(p.data(), g.data(), buf.data(), 1, 0.1, 0.0, 0.9, true);
    CHECK(p[0] == Approx(1.0 - 0.095).epsilon(1e-15));
    CHECK(buf[0] == 0.5);
    // and the second: buf = 0.9 * 0.5 + 0.5 = 0.95; u = 0.5 + 0.9 * 0.95 = 1.355
    sgd_update(p.data(), g.data(), buf.data(), 1, 0.1, 0.0, 0.9, true);
    CHECK(p[0] == Approx(0.905 - 0.1355).epsilon(1e-15));
    CHECK(buf[0] == Approx(0.95).epsilon(1e-15));
}

// Each operation in float, its scalars rounded to float first, as PyTorch's
// kernels do on float32 tensors. n = 20000 runs the OpenMP branch.
TEST_CASE("SGD in float follows the written-out operations bit for bit", "[sgd]") {
    const double lr = 0.03;
    for (size_t n : {(size_t)64, (size_t)20000})
        for (const Setting& s : SETTINGS) {
            INFO("n " << n << " momentum " << s.momentum << " decay " << s.decay << " nesterov " << s.nesterov);
            Rng r(11);
            std::vector<float> p(n), buf(n, 0.0f);
            for (auto& x : p) x = (float)r.normal();
            std::vector<float> tp = p, tbuf = buf;
            for (int step = 1; step <= 3; step++) {
                std::vector<float> g(n);
                for (auto& x : g) x = (float)(0.1 * r.normal());
                sgd_update(p.data(), g.data(), buf.data(), n, lr, s.decay, s.momentum, s.nesterov);
                const float mom = (float)s.momentum, decay = (float)(1 - s.decay), neg_lr = (float)(-lr);
                for (size_t i = 0; i < n; i++) {
                    tbuf[i] = tbuf[i] * mom;                                  // buf.mul_(momentum)
                    tbuf[i] = tbuf[i] + g[i];                                 // .add_(grad)
                    float u = tbuf[i];
                    if (s.nesterov) u = g[i] + mom * tbuf[i];                 // grad.add(buf, alpha=momentum)
                    if (s.decay != 0) tp[i] = tp[i] * decay;                  // param.mul_(1 - decay)
                    tp[i] = tp[i] + neg_lr * u;                               // param.add_(u, alpha=-lr)
                }
                INFO("step " << step);
                REQUIRE(std::memcmp(p.data(), tp.data(), n * sizeof(float)) == 0);
                REQUIRE(std::memcmp(buf.data(), tbuf.data(), n * sizeof(float)) == 0);
            }
        }
}

TEST_CASE("SGD fails on a momentum outside [0, 1)", "[sgd]") {
    std::vector<float> p = {1.0f}, g = {0.5f}, buf = {0.0f};
    REQUIRE_THROWS_WITH(sgd_update(p.data(), g.data(), buf.data(), 1, 0.1, 0.0, -0.5, false),
                        Contains("momentum must be in [0, 1)") && Contains("-0.5"));
    REQUIRE_THROWS_WITH(sgd_update(p.data(), g.data(), buf.data(), 1, 0.1, 0.0, 1.0, false),
                        Contains("momentum must be in [0, 1)"));
    CHECK(p[0] == 1.0f);  // nothing touched
    CHECK(buf[0] == 0.0f);
}
