// Finite-difference checks of every layer's backward pass, in double.
// Each layer gets a scalar test loss L = sum(out * R) with fixed random R,
// so dL/dout = R is fed to the backward pass.
#include <catch2/catch.hpp>

#include <vector>

#include "gradcheck.h"
#include "model/layers.h"
#include "model/matmul.h"
#include "util/rng.h"

using Vec = std::vector<double>;

static Vec random_vec(size_t n, Rng& r, double scale = 1.0) {
    Vec v(n);
    for (auto& x : v) x = scale * r.normal();
    return v;
}
static double dot(const Vec& a, const Vec& b) {
    double s = 0;
    for (size_t i = 0; i < a.size(); i++) s += a[i] * b[i];
    return s;
}

TEST_CASE("encoder backward matches finite differences", "[layers][gradcheck]") {
    Rng r(1);
    const int B = 2, T = 3, C = 4, V = 5, maxT = 4;
    std::vector<int> tok = {1, 4, 1, 0, 1, 3};  // token 1 repeats: gradients must accumulate
    Vec wte = random_vec(V * C, r), wpe = random_vec(maxT * C, r), R = random_vec(B * T * C, r);
    const double scale = 1.7;
    Vec out(B * T * C);
    auto loss = [&] {
        encoder_forward(out.data(), tok.data(), wte.data(), wpe.data(), scale, B, T, C);
        return dot(out, R);
    };
    Vec dwte(V * C, 0), dwpe(maxT * C, 0);
    encoder_backward(dwte.data(), dwpe.data(), R.data(), tok.data(), scale, B, T, C);
    check_gradient("wte", wte.data(), wte.size(), dwte.data(), loss);
    check_gradient("wpe", wpe.data(), wpe.size(), dwpe.data(), loss);
    REQUIRE(max_abs(dwte.data(), dwte.size()) > 0.1);
}

TEST_CASE("layernorm backward matches finite differences", "[layers][gradcheck]") {
    Rng r(2);
    const int N = 5, C = 7;
    Vec x = random_vec(N * C, r, 2.0), w = random_vec(C, r), b = random_vec(C, r), R = random_vec(N * C, r);
    for (int n = 0; n < N; n++) x[n * C] += 3.0;  // non-zero means
    Vec out(N * C), mean(N), rstd(N);
    for (bool with_bias : {true, false}) {
        auto loss = [&] {
            layernorm_forward(out.data(), mean.data(), rstd.data(), x.data(), w.data(), with_bias ? b.data() : nullptr,
                              N, C);
            return dot(out, R);
        };
        loss();
        Vec dx(N * C, 0), dw(C, 0), db(C, 0);
        layernorm_backward(dx.data(), dw.data(), with_bias ? db.data() : nullptr, R.data(), x.data(), w.data(),
                           mean.data(), rstd.data(), N, C);
        check_gradient("layernorm input", x.data(), x.size(), dx.data(), loss);
        check_gradient("layernorm weight", w.data(), w.size(), dw.data(), loss);
        if (with_bias) check_gradient("layernorm bias", b.data(), b.size(), db.data(), loss);
        REQUIRE(max_abs(dx.data(), dx.size()) > 0.01);
    }
}

TEST_CASE("matmul backward matches finite differences", "[layers][gradcheck]") {
    Rng r(3);
    const int N = 6, C = 5, OC = 4;
    Vec x = random_vec(N * C, r), w = random_vec(OC * C, r), b = random_vec(OC, r), R = random_vec(N * OC, r);
    Vec out(N * OC);
    auto loss = [&] {
        matmul_forward(out.data(), x.data(), w.data(), b.data(), N, C, OC);
        return dot(out, R);
    };
    Vec dx(N * C, 0), dw(OC * C, 0), db(OC, 0);
    matmul_backward(dx.data(), dw.data(), db.data(), R.data(), x.data(), w.data(), N, C, OC);
    check_gradient("matmul input", x.data(), x.size(), dx.data(), loss);
    check_gradient("matmul weight", w.data(), w.size(), dw.data(), loss);
    check_gradient("matmul bias", b.data(), b.size(), db.data(), loss);
}

TEST_CASE("attention backward matches finite differences", "[layers][gradcheck]") {
    Rng r(4);
    const int B = 2, T = 4, C = 6, NH = 2;
    const double scale = 0.6;
    Vec qkv = random_vec(B * T * 3 * C, r), R = random_vec(B * T * C, r);
    Vec out(B * T * C), att(B * NH * T * T);
    auto loss = [&] {
        attention_forward(out.data(), att.data(), qkv.data(), scale, B, T, C, NH);
        return dot(out, R);
    };
    loss();
    Vec dqkv(qkv.size(), 0);
    attention_backward(dqkv.data(), R.data(), qkv.data(), att.data(), scale, B, T, C, NH);
    check_gradient("attention qkv", qkv.data(), qkv.size(), dqkv.data(), loss);
    REQUIRE(max_abs(dqkv.data(), dqkv.size()) > 0.01);
}

TEST_CASE("attention is causal and its rows are distributions", "[layers]") {
    Rng r(5);
    const int B = 1, T = 5, C = 4, NH = 2;
    Vec qkv = random_vec(B * T * 3 * C, r), out(B * T * C), att(B * NH * T * T, 0);
    attention_forward(out.data(), att.data(), qkv.data(), 0.5, B, T, C, NH);
    Vec out_before = out;
    // changing the last position's k and v must not change earlier outputs
    for (int c = C; c < 3 * C; c++) qkv[(T - 1) * 3 * C + c] += 1.0;
    attention_forward(out.data(), att.data(), qkv.data(), 0.5, B, T, C, NH);
    for (int t = 0; t < T - 1; t++)
        for (int c = 0; c < C; c++) REQUIRE(out[t * C + c] == out_before[t * C + c]);
    for (int h = 0; h < NH; h++)
        for (int t = 0; t < T; t++) {
            double s = 0;
            for (int t2 = 0; t2 <= t; t2++) s += att[(h * T + t) * T + t2];
            REQUIRE(s == Approx(1.0).epsilon(1e-12));
        }
}

TEST_CASE("gelu backward matches finite differences", "[layers][gradcheck]") {
    Rng r(6);
    const int N = 40;
    Vec x = random_vec(N, r, 2.5), R = random_vec(N, r), out(N);
    auto loss = [&] {
        gelu_forward(out.data(), x.data(), N);
        return dot(out, R);
    };
    Vec dx(N, 0);
    gelu_backward(dx.data(), x.data(), R.data(), N);
    check_gradient("gelu", x.data(), N, dx.data(), loss);
    // tanh-approximate GELU at a few known points
    Vec pts = {0.0, 1.0, -1.0}, vals(3);
    gelu_forward(vals.data(), pts.data(), 3);
    CHECK(vals[0] == 0.0);
    CHECK(vals[1] == Approx(0.8411919906082768).epsilon(1e-12));
    CHECK(vals[2] == Approx(-0.15880800939172324).epsilon(1e-12));
}

TEST_CASE("residual backward matches finite differences", "[layers][gradcheck]") {
    Rng r(7);
    const int N = 10;
    Vec a = random_vec(N, r), b = random_vec(N, r), R = random_vec(N, r), out(N);
    const double scale = 0.4;
    auto loss = [&] {
        residual_forward(out.data(), a.data(), b.data(), scale, N);
        return dot(out, R);
    };
    Vec da(N, 0), db(N, 0);
    residual_backward(da.data(), db.data(), R.data(), scale, N);
    check_gradient("residual skip", a.data(), N, da.data(), loss);
    check_gradient("residual branch", b.data(), N, db.data(), loss);
}

TEST_CASE("softmax cross-entropy backward matches finite differences", "[layers][gradcheck]") {
    Rng r(8);
    const int N = 4, V = 6;
    Vec logits = random_vec(N * V, r, 3.0), probs(N * V), losses(N);
    std::vector<int> targets = {0, 5, 2, 2};
    auto loss = [&] { return softmax_crossentropy_forward(losses.data(), probs.data(), logits.data(), targets.data(), N, V); };
    loss();
    Vec dlogits(N * V, 0);
    softmax_crossentropy_backward(dlogits.data(), probs.data(), targets.data(), 1.0 / N, N, V);
    check_gradient("cross-entropy logits", logits.data(), logits.size(), dlogits.data(), loss);
    // uniform logits give ln V exactly
    Vec flat(N * V, 0.25);
    CHECK(softmax_crossentropy_forward(losses.data(), probs.data(), flat.data(), targets.data(), N, V) ==
          Approx(std::log((double)V)).epsilon(1e-14));
    // a huge logit margin: the loss stays finite and accurate (no log(0))
    Vec sharp(V, 0.0);
    sharp[1] = 200.0;
    int t0 = 0;
    double l = softmax_crossentropy_forward(losses.data(), probs.data(), sharp.data(), &t0, 1, V);
    CHECK(l == Approx(200.0).epsilon(1e-12));
}

// The backward contract is "accumulate": a backward pass into buffers that
// already hold values must add to them, not overwrite them.
TEST_CASE("backward passes accumulate into their gradient buffers", "[layers]") {
    Rng r(9);
    const int B = 2, T = 3, C = 4, NH = 2, V = 5, N = B * T;
    auto twice = [&r](const std::string& what, const std::function<void(Vec&)>& backward, size_t n) {
        Vec once(n, 0), prefilled = random_vec(n, r), before = prefilled;
        backward(once);
        backward(prefilled);
        INFO(what);
        for (size_t i = 0; i < n; i++) REQUIRE(prefilled[i] == Approx(before[i] + once[i]).epsilon(1e-12).margin(1e-14));
        REQUIRE(max_abs(once.data(), n) > 0);
    };
    std::vector<int> tok = {1, 4, 1, 0, 2, 3};
    Vec dout = random_vec(N * C, r), x = random_vec(N * C, r), w = random_vec(C, r), w2 = random_vec(C * C, r);
    Vec mean(N), rstd(N), out(N * C);
    layernorm_forward(out.data(), mean.data(), rstd.data(), x.data(), w.data(), (const double*)nullptr, N, C);
    twice("encoder wte", [&](Vec& g) { Vec p(T * C, 0); encoder_backward(g.data(), p.data(), dout.data(), tok.data(), 1.5, B, T, C); }, V * C);
    twice("layernorm input", [&](Vec& g) { Vec a(C, 0), b(C, 0); layernorm_backward(g.data(), a.data(), b.data(), dout.data(), x.data(), w.data(), mean.data(), rstd.data(), N, C); }, N * C);
    twice("layernorm weight", [&](Vec& g) { Vec a(N * C, 0), b(C, 0); layernorm_backward(a.data(), g.data(), b.data(), dout.data(), x.data(), w.data(), mean.data(), rstd.data(), N, C); }, C);
    twice("matmul input", [&](Vec& g) { matmul_backward(g.data(), (double*)nullptr, (double*)nullptr, dout.data(), x.data(), w2.data(), N, C, C); }, N * C);
    twice("matmul weight", [&](Vec& g) { matmul_backward((double*)nullptr, g.data(), (double*)nullptr, dout.data(), x.data(), w2.data(), N, C, C); }, C * C);
    twice("matmul bias", [&](Vec& g) { matmul_backward((double*)nullptr, (double*)nullptr, g.data(), dout.data(), x.data(), w2.data(), N, C, C); }, C);
    Vec qkv = random_vec(N * 3 * C, r), att(B * NH * T * T), aout(N * C);
    attention_forward(aout.data(), att.data(), qkv.data(), 0.5, B, T, C, NH);
    twice("attention", [&](Vec& g) { attention_backward(g.data(), dout.data(), qkv.data(), att.data(), 0.5, B, T, C, NH); }, N * 3 * C);
    twice("gelu", [&](Vec& g) { gelu_backward(g.data(), x.data(), dout.data(), N * C); }, N * C);
    twice("residual", [&](Vec& g) { Vec a(N * C, 0); residual_backward(a.data(), g.data(), dout.data(), 0.7, N * C); }, N * C);
    Vec logits = random_vec(N * V, r), probs(N * V), losses(N);
    std::vector<int> targets = {0, 1, 2, 3, 4, 0};
    softmax_crossentropy_forward(losses.data(), probs.data(), logits.data(), targets.data(), N, V);
    twice("cross-entropy", [&](Vec& g) { softmax_crossentropy_backward(g.data(), probs.data(), targets.data(), 0.25, N, V); }, N * V);
}
