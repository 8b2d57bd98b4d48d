// AdamW against steps computed by hand from the textbook formulas, gradient
// clipping, and the learning-rate schedule.
// Like optimizer.cpp, no fused multiply-adds: the float test below spells
// out PyTorch's operations one rounding at a time.
#pragma GCC optimize("fp-contract=off")
#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

#include "optim/optimizer.h"
#include "util/rng.h"

#ifdef _OPENMP
#include <omp.h>
#endif

TEST_CASE("AdamW matches a hand-computed update", "[optimizer]") {
    const double lr = 0.01, b1 = 0.9, b2 = 0.95, eps = 1e-8, wd = 0.1;
    std::vector<double> p = {0.5, -1.0, 2.0}, m(3, 0), v(3, 0);
    std::vector<std::vector<double>> grads = {{0.1, -0.2, 0.0}, {0.3, 0.1, -0.05}, {-0.2, 0.0, 0.4}};
    // by hand: Loshchilov & Hutter's AdamW with PyTorch's coupling of the
    // decay to the learning rate
    std::vector<double> ep = p, em(3, 0), ev(3, 0);
    for (int t = 1; t <= 3; t++) {
        const std::vector<double>& g = grads[t - 1];
        adamw_update(p.data(), g.data(), m.data(), v.data(), 3, lr, lr * wd, b1, b2, eps, t);
        for (int i = 0; i < 3; i++) {
            em[i] = b1 * em[i] + (1 - b1) * g[i];
            ev[i] = b2 * ev[i] + (1 - b2) * g[i] * g[i];
            double mhat = em[i] / (1 - std::pow(b1, t)), vhat = ev[i] / (1 - std::pow(b2, t));
            ep[i] = ep[i] * (1 - lr * wd) - lr * mhat / (std::sqrt(vhat) + eps);
        }
        for (int i = 0; i < 3; i++) {
            REQUIRE(p[i] == Approx(ep[i]).epsilon(1e-14));
            REQUIRE(m[i] == Approx(em[i]).epsilon(1e-14));
            REQUIRE(v[i] == Approx(ev[i]).epsilon(1e-14).margin(1e-300));
        }
    }
    // first step moves every coordinate with a non-zero gradient by about lr
    std::vector<double> q = {1.0}, mq = {0}, vq = {0}, gq = {1e-3};
    adamw_update(q.data(), gq.data(), mq.data(), vq.data(), 1, lr, 0.0, b1, b2, eps, 1);
    REQUIRE(q[0] == Approx(1.0 - lr).epsilon(1e-6));
}

// PyTorch's single-tensor AdamW on float32, one kernel at a time, with its
// scalars rounded to float as the kernels do. Our update must give the same
// bits; beta1 = 0.3 exercises the other branch of torch.lerp.
TEST_CASE("AdamW in float follows PyTorch's operations bit for bit", "[optimizer]") {
    for (double beta1 : {0.9, 0.3}) {
        const double lr = 3e-3, beta2 = 0.95, eps = 1e-8, wd = 0.1;
        Rng r(3);
        std::vector<float> p(64), m(64, 0), v(64, 0), tp, tm(64, 0), tv(64, 0);
        for (auto& x : p) x = (float)r.normal();
        tp = p;
        for (int step = 1; step <= 4; step++) {
            std::vector<float> g(64);
            for (auto& x : g) x = (float)(0.1 * r.normal());
            adamw_update(p.data(), g.data(), m.data(), v.data(), 64, lr, lr * wd, beta1, beta2, eps, step);
            const float decay = (float)(1 - lr * wd), w = (float)(1 - beta1), b2 = (float)beta2,
                        omb2 = (float)(1 - beta2), bc2_sqrt = (float)std::sqrt(1 - std::pow(beta2, step)),
                        neg_step = (float)(-(lr / (1 - std::pow(beta1, step)))), e = (float)eps;
            for (int i = 0; i < 64; i++) {
                tp[i] = tp[i] * decay;                                                          // param.mul_
                tm[i] = w < 0.5f ? tm[i] + w * (g[i] - tm[i]) : g[i] - (g[i] - tm[i]) * (1 - w);  // lerp_
                tv[i] = tv[i] * b2;                                                             // mul_
                tv[i] = tv[i] + omb2 * g[i] * g[i];                                             // addcmul_
                float denom = std::sqrt(tv[i]) / bc2_sqrt;                                      // sqrt, div
                denom = denom + e;                                                              // add_
                tp[i] = tp[i] + neg_step * tm[i] / denom;                                       // addcdiv_
            }
            for (int i = 0; i < 64; i++) {
                INFO("beta1 " << beta1 << " step " << step << " element " << i);
                REQUIRE(p[i] == tp[i]);
                REQUIRE(m[i] == tm[i]);
                REQUIRE(v[i] == tv[i]);
            }
        }
    }
}

TEST_CASE("the optimizer step applies each tensor's row of the table", "[optimizer]") {
    TensorTable table;
    TensorInfo a, b;
    a.name = "a";
    a.offset = 0;
    a.numel = 2;
    a.lr_multiplier = 1.0;
    a.weight_decay_multiplier = 1.0;
    b.name = "b";
    b.offset = 2;
    b.numel = 2;
    b.lr_multiplier = 0.25;
    b.weight_decay_multiplier = 0.0;
    b.eps_multiplier = 1e6;
    // the rows as the parameterization resolves them: peak LR 0.02, lambda
    // 0.5 x the decay multiplier, eps 1e-3 x the eps multiplier
    for (TensorInfo* t : {&a, &b}) {
        t->optim.base_lr = 0.02;
        t->optim.weight_decay = 0.5 * t->weight_decay_multiplier;
        t->optim.eps = 1e-3 * t->eps_multiplier;
    }
    table.tensors = {a, b};
    table.total = 4;
    const double beta1 = a.optim.beta1, beta2 = a.optim.beta2;
    std::vector<double> p = {1, 2, 3, 4}, g = {0.1, 0.2, 0.3, 0.4};
    std::vector<double> p_expect = p, m_ref(4, 0), v_ref(4, 0);
    adamw_update(p_expect.data(), g.data(), m_ref.data(), v_ref.data(), 2, 0.02, 0.02 * 0.5, beta1, beta2, 1e-3, 1);
    adamw_update(p_expect.data() + 2, g.data() + 2, m_ref.data() + 2, v_ref.data() + 2, 2, 0.005, 0.0, beta1, beta2,
                 1e3, 1);
    OptimizerState<double> state(table);
    optimizer_step(p.data(), g.data(), state, table, 1.0, 1);
    for (int i = 0; i < 4; i++) REQUIRE(p[i] == p_expect[i]);
    // and the multipliers did change something: b moved far less than a would
    REQUIRE(std::fabs(p[2] - 3.0) < 0.2 * std::fabs(p[0] - 1.0));
}

TEST_CASE("gradient clipping follows torch.nn.utils.clip_grad_norm_", "[optimizer]") {
    std::vector<float> g = {3, 4};
    double norm = clip_grad_norm(g.data(), g.size(), 1.0);
    REQUIRE(norm == Approx(5.0));
    REQUIRE(g[0] == Approx(3.0 / (5.0 + 1e-6)));
    REQUIRE(g[1] == Approx(4.0 / (5.0 + 1e-6)));
    std::vector<float> small = {0.3f, 0.4f};
    clip_grad_norm(small.data(), small.size(), 1.0);
    REQUIRE(small[0] == 0.3f);  // under the limit: untouched
    std::vector<float> off = {30, 40};
    REQUIRE(clip_grad_norm(off.data(), off.size(), 0.0) == Approx(50.0));
    REQUIRE(off[0] == 30.0f);  // 0 turns clipping off
}

TEST_CASE("the parallel gradient norm equals the plain one, on any thread count", "[optimizer]") {
    Rng rng(5);
    // Sizes around the chunk (2^16) and lane (8) boundaries.
    for (size_t n : {(size_t)0, (size_t)1, (size_t)7, (size_t)65536, (size_t)65537, (size_t)200003}) {
        std::vector<float> g(n);
        for (auto& x : g) x = (float)rng.normal();
        const double plain = global_grad_norm(g.data(), n);
        const double fast = parallel_grad_norm(g.data(), n);
        REQUIRE(std::fabs(fast - plain) <= 1e-13 * plain);
#ifdef _OPENMP
        const int saved = omp_get_max_threads();
        omp_set_num_threads(1);
        const double one = parallel_grad_norm(g.data(), n);
        omp_set_num_threads(2);
        const double two = parallel_grad_norm(g.data(), n);
        omp_set_num_threads(saved);
        REQUIRE(one == two);
#endif
    }
}
