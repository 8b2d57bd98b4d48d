// Every function of cuda/gpu.h against its CPU twin in float (src/model/layers.h,
// src/model/matmul.h, src/optim/optimizer.h, src/study/measure.h), on random inputs of awkward
// sizes: widths that are not multiples of 32, sequence lengths that are not
// powers of two, one position and many, several heads, biases present and
// absent. Backward functions accumulate (+=), so every gradient output starts
// from the same non-zero random values on both sides: a kernel that
// overwrites instead of adding fails.
//
// The CPU float layers are themselves checked against finite differences in
// double (tests/test_layers.cpp), so agreeing with them is agreeing with the
// math. Tolerances are relative differences (gpu_test_helpers.h); each is
// stated below with the reason for its size.
#include <catch2/catch.hpp>

#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "gpu_test_helpers.h"
#include "model/layers.h"
#include "model/matmul.h"
#include "study/measure.h"
#include "model/model.h"
#include "optim/optimizer.h"
#include "param/parameterization.h"

using gpu_test::check_bitwise;
using gpu_test::check_close;
using gpu_test::check_scalar;
using gpu_test::random_floats;
using gpu_test::random_tokens;

namespace {

// ------------------------------------------------------------- tolerances
//
// "Measured" below means: while these tests were written (on a machine
// without a GPU), they were run once against a throwaway stand-in for the
// GPU that computed each layer in double and rounded to float; that stand-in
// is not part of the repository. The differences it showed are the CPU
// float layers' own rounding error, an estimate of what a GPU will show. A
// GPU rounds about as much, in another order, so the two errors add; each
// bound leaves a factor of 3 or more above twice that estimate, and stays
// far below what a wrong formula, index or missing term gives (1e-3 and up).
// Not yet confirmed on a GPU.

// Elementwise kernels (encoder, gelu, residual) perform the CPU loop's float
// operations; they may differ by nvcc contracting a*b+c into one rounding
// and by the device's tanhf/expf, each within a few ulps (2^-23 = 1.2e-7).
// Measured: up to 1.8e-7 of the largest value (gelu's backward, ~10
// operations).
constexpr double ELEMENTWISE = 2e-6;

// Reductions (layernorm statistics and column sums, softmax sums, attention's
// dot products and the cross-entropy gradient that uses them, dwte over
// repeated tokens): float sums of up to a few hundred terms in another order
// than the CPU's, each side off by ~sqrt(terms) * 6e-8 of the terms' size.
// Measured: up to 6.7e-7 (softmax over V = 1000).
constexpr double REDUCTION = 1e-5;

// Matmuls, by precision (cuda/gpu.h's Precision). fp32: cuBLAS in full
// float, K <= 300 terms per output; measured 2.3e-7. tf32: each operand
// keeps 10 of float's 23 mantissa bits, an error up to 2^-11 when rounded
// and 2^-10 when truncated (tensor cores may truncate, which shrinks every
// product by ~1e-3 on average); measured with truncated operands: 9.6e-4.
// bf16: 7 mantissa bits, rounded to nearest (cuda/runtime.cu), up to 2^-9
// per operand; measured: 3.4e-3 (the largest where N = C = OC = 1, a single
// product, or where few terms add). The operands' rounding is the same on
// every machine, so these measurements are what a GPU gives, give or take
// the float accumulation's 1e-6.
constexpr double MATMUL_FP32 = 1e-5;
constexpr double MATMUL_TF32 = 3e-3;
constexpr double MATMUL_BF16 = 1e-2;

// Gradient norm: both sides sum the squares in double, in different orders;
// each sum is within n * 2^-53 (1e-10 for a million elements) of the exact
// value, so 1e-9 is generous and still far below anything a float sum or a
// missing block would give (>= 1e-7).
constexpr double NORM = 1e-9;

// Clipped gradients: g * (float)(max_norm / (norm + 1e-6)) on both sides;
// the norms agree to 1e-10, so the float factor is the same or one ulp apart:
// 2 ulps of the largest value.
constexpr double CLIPPED = 2.5e-7;

// Measurements: the sums are in double on both sides; the two products
// X W^T and X dW^T are float GEMMs (K <= 100 terms), whose rounding reaches
// the norms at ~1e-7. The ratios combine a few of those: 1e-5.
constexpr double MEASURE = 1e-5;

// The inputs a backward pass accumulates into: same values on both sides.
struct Accumulator {
    std::vector<float> cpu;
    gpu::Buffer<float> gpu;
    Accumulator(size_t n, uint64_t seed, double scale = 1.0) : cpu(random_floats(n, seed, scale)), gpu(cpu) {}
    void check(const std::string& what, double tolerance) { check_close(what, gpu.to_host(), cpu, tolerance); }
};

}  // namespace

// ---------------------------------------------------------------- encoder

TEST_CASE("gpu encoder forward and backward agree with the CPU", "[cuda]") {
    REQUIRE_GPU_OR_SKIP();
    struct Size {
        int B, T, C, V;
    };
    // one position and one channel; odd sizes; more positions than a block of threads
    for (Size s : {Size{1, 1, 1, 2}, Size{2, 7, 37, 11}, Size{3, 65, 100, 50}}) {
        INFO("B " << s.B << " T " << s.T << " C " << s.C << " V " << s.V);
        const int N = s.B * s.T, maxT = s.T + 3;  // wpe rows past T exist and must get no gradient
        const float scale = 1.3f;
        const std::vector<int> tok = random_tokens(N, s.V, 1);
        const std::vector<float> wte = random_floats((size_t)s.V * s.C, 2), wpe = random_floats((size_t)maxT * s.C, 3);
        std::vector<float> out((size_t)N * s.C);
        encoder_forward(out.data(), tok.data(), wte.data(), wpe.data(), scale, s.B, s.T, s.C);
        gpu::Buffer<int> d_tok(tok);
        gpu::Buffer<float> d_wte(wte), d_wpe(wpe), d_out(out.size());
        gpu::encoder_forward(d_out, d_tok, d_wte, d_wpe, scale, s.B, s.T, s.C);
        check_close("encoder out", d_out.to_host(), out, ELEMENTWISE);

        const std::vector<float> dout = random_floats(out.size(), 4);
        gpu::Buffer<float> d_dout(dout);
        Accumulator dwte(wte.size(), 5), dwpe(wpe.size(), 6);
        encoder_backward(dwte.cpu.data(), dwpe.cpu.data(), dout.data(), tok.data(), scale, s.B, s.T, s.C);
        gpu::encoder_backward(dwte.gpu, dwpe.gpu, d_dout, d_tok, scale, s.B, s.T, s.C);
        dwte.check("encoder dwte", REDUCTION);
        dwpe.check("encoder dwpe", REDUCTION);
    }
}

TEST_CASE("gpu encoder backward: deterministic mode repeats bit for bit, atomic mode agrees with the CPU", "[cuda]") {
    REQUIRE_GPU_OR_SKIP();
    gpu_test::RestoreDefaultOptions restore;
    // 256 positions on 3 tokens: each row of dwte sums ~85 positions, where
    // atomics would add in a varying order
    const int B = 4, T = 64, C = 48, V = 3, N = B * T;
    const float scale = 0.9f;
    const std::vector<int> tok = random_tokens(N, V, 10);
    const std::vector<float> dout = random_floats((size_t)N * C, 11);
    const std::vector<float> dwte0 = random_floats((size_t)V * C, 12), dwpe0 = random_floats((size_t)T * C, 13);
    std::vector<float> dwte = dwte0, dwpe = dwpe0;
    encoder_backward(dwte.data(), dwpe.data(), dout.data(), tok.data(), scale, B, T, C);
    gpu::Buffer<int> d_tok(tok);
    gpu::Buffer<float> d_dout(dout);
    for (bool deterministic : {true, false}) {
        INFO((deterministic ? "deterministic" : "atomics"));
        gpu_test::set_options(gpu::Precision::FP32, deterministic);
        std::vector<std::vector<float>> runs;
        for (int run = 0; run < 2; run++) {
            gpu::Buffer<float> d_dwte(dwte0), d_dwpe(dwpe0);
            gpu::encoder_backward(d_dwte, d_dwpe, d_dout, d_tok, scale, B, T, C);
            runs.push_back(d_dwte.to_host());
            check_close("dwte", runs.back(), dwte, REDUCTION);
            check_close("dwpe", d_dwpe.to_host(), dwpe, REDUCTION);
        }
        if (deterministic) {
            check_bitwise("dwte of two identical calls", runs[0], runs[1]);
            // the grouping from the caller's host copy of the ids is the same grouping
            gpu::Buffer<float> d_dwte(dwte0), d_dwpe(dwpe0);
            gpu::encoder_backward(d_dwte, d_dwpe, d_dout, d_tok, scale, B, T, C, tok.data());
            check_bitwise("dwte with the ids given on the host", d_dwte.to_host(), runs[0]);
        }
    }
}

// -------------------------------------------------------------- layernorm

TEST_CASE("gpu layernorm forward and backward agree with the CPU, with and without bias", "[cuda]") {
    REQUIRE_GPU_OR_SKIP();
    struct Size {
        int N, C;
    };
    // C below, at and above a warp, not a multiple of 32; C = 769 makes each
    // lane sum ~24 values. (C = 1 is left out: its variance is 0, rstd =
    // 1/sqrt(1e-5) = 316 multiplies rounding noise and no tolerance is fair.)
    for (Size s : {Size{1, 5}, Size{3, 37}, Size{70, 100}, Size{16, 769}})
        for (bool with_bias : {true, false}) {
            INFO("N " << s.N << " C " << s.C << (with_bias ? " with bias" : " without bias"));
            const size_t NC = (size_t)s.N * s.C;
            const std::vector<float> x = random_floats(NC, 20, 2.0, 3.0);  // mean 3: the two-pass variance matters
            const std::vector<float> w = random_floats(s.C, 21, 0.3, 1.0), b = random_floats(s.C, 22, 0.3);
            std::vector<float> out(NC), mean(s.N), rstd(s.N);
            layernorm_forward(out.data(), mean.data(), rstd.data(), x.data(), w.data(), with_bias ? b.data() : nullptr,
                              s.N, s.C);
            gpu::Buffer<float> d_x(x), d_w(w), d_b(b), d_out(NC), d_mean(s.N), d_rstd(s.N);
            gpu::layernorm_forward(d_out, d_mean, d_rstd, d_x, d_w, with_bias ? d_b.ptr : nullptr, s.N, s.C);
            check_close("layernorm out", d_out.to_host(), out, REDUCTION);
            check_close("layernorm mean", d_mean.to_host(), mean, REDUCTION);
            check_close("layernorm rstd", d_rstd.to_host(), rstd, REDUCTION);

            const std::vector<float> dout = random_floats(NC, 23);
            gpu::Buffer<float> d_dout(dout);
            Accumulator dx(NC, 24), dw(s.C, 25), db(s.C, 26);
            layernorm_backward(dx.cpu.data(), dw.cpu.data(), with_bias ? db.cpu.data() : nullptr, dout.data(),
                               x.data(), w.data(), mean.data(), rstd.data(), s.N, s.C);
            // the GPU's own mean and rstd, as in the model
            gpu::layernorm_backward(dx.gpu, dw.gpu, with_bias ? db.gpu.ptr : nullptr, d_dout, d_x, d_w, d_mean, d_rstd,
                                    s.N, s.C);
            dx.check("layernorm dinp", REDUCTION);
            dw.check("layernorm dweight", REDUCTION);
            db.check(with_bias ? "layernorm dbias" : "layernorm dbias (nullptr: untouched)", REDUCTION);
        }
}

// -------------------------------------------------------------- attention

TEST_CASE("gpu attention agrees with the CPU: probabilities (exactly 0 above the diagonal), output, gradient", "[cuda]") {
    REQUIRE_GPU_OR_SKIP();
    struct Size {
        int B, T, C, NH;
        float scale;  // 0: 1/sqrt(head size), SP's
    };
    // one position; 3 heads of 8; head size 5 (not a multiple of anything);
    // one head of 64 over 65 positions; µP's 1/d_head-like scale
    for (Size s : {Size{1, 1, 8, 2, 0}, Size{2, 7, 24, 3, 0}, Size{3, 37, 20, 4, 0}, Size{2, 65, 64, 1, 0},
                   Size{2, 19, 48, 3, 0.1f}}) {
        const int hs = s.C / s.NH, N = s.B * s.T;
        const float scale = s.scale > 0 ? s.scale : 1.0f / std::sqrt((float)hs);
        INFO("B " << s.B << " T " << s.T << " C " << s.C << " NH " << s.NH << " scale " << scale);
        const size_t att_size = (size_t)s.B * s.NH * s.T * s.T;
        const std::vector<float> inp = random_floats((size_t)N * 3 * s.C, 30);
        std::vector<float> out((size_t)N * s.C), att(att_size, 0.0f);
        attention_forward(out.data(), att.data(), inp.data(), scale, s.B, s.T, s.C, s.NH);
        // att starts non-zero on the GPU, so a kernel that leaves the upper
        // triangle unwritten shows
        gpu::Buffer<float> d_inp(inp), d_out(out.size()), d_att(std::vector<float>(att_size, 0.5f));
        gpu::attention_forward(d_out, d_att, d_inp, scale, s.B, s.T, s.C, s.NH);
        const std::vector<float> att_gpu = d_att.to_host();
        check_close("attention probabilities", att_gpu, att, REDUCTION);
        check_close("attention out", d_out.to_host(), out, REDUCTION);
        size_t above = 0, first = 0;
        for (size_t row = 0; row < (size_t)s.B * s.NH * s.T; row++)
            for (int t2 = (int)(row % s.T) + 1; t2 < s.T; t2++)
                if (att_gpu[row * s.T + t2] != 0.0f && above++ == 0) first = row * s.T + t2;
        INFO(above << " probabilities above the diagonal are not 0, the first at [" << first << "]");
        CHECK(above == 0);

        const std::vector<float> dout = random_floats(out.size(), 31);
        gpu::Buffer<float> d_dout(dout);
        Accumulator dinp(inp.size(), 32);
        attention_backward(dinp.cpu.data(), dout.data(), inp.data(), att.data(), scale, s.B, s.T, s.C, s.NH);
        gpu::attention_backward(dinp.gpu, d_dout, d_inp, d_att, scale, s.B, s.T, s.C, s.NH);
        dinp.check("attention dinp", REDUCTION);
    }
}

// -------------------------------------------------- gelu, residual, scale

TEST_CASE("gpu gelu, residual and scale agree with the CPU", "[cuda]") {
    REQUIRE_GPU_OR_SKIP();
    for (long N : {1L, 37L, 10007L}) {
        INFO("N " << N);
        std::vector<float> x = random_floats(N, 40, 3.0);
        if (N > 2) x[1] = 12.0f, x[2] = -12.0f;  // tanh saturated
        std::vector<float> out(N);
        gelu_forward(out.data(), x.data(), N);
        gpu::Buffer<float> d_x(x), d_out(N);
        gpu::gelu_forward(d_out, d_x, N);
        check_close("gelu out", d_out.to_host(), out, ELEMENTWISE);
        const std::vector<float> dout = random_floats(N, 41);
        gpu::Buffer<float> d_dout(dout);
        Accumulator dx(N, 42);
        gelu_backward(dx.cpu.data(), x.data(), dout.data(), N);
        gpu::gelu_backward(dx.gpu, d_x, d_dout, N);
        dx.check("gelu dinp", ELEMENTWISE);

        const float scale = 0.7f;
        const std::vector<float> a = random_floats(N, 43), b = random_floats(N, 44);
        std::vector<float> sum(N);
        residual_forward(sum.data(), a.data(), b.data(), scale, N);
        gpu::Buffer<float> d_a(a), d_b(b), d_sum(N);
        gpu::residual_forward(d_sum, d_a, d_b, scale, N);
        check_close("residual out", d_sum.to_host(), sum, ELEMENTWISE);
        Accumulator d1(N, 45), d2(N, 46);
        residual_backward(d1.cpu.data(), d2.cpu.data(), dout.data(), scale, N);
        gpu::residual_backward(d1.gpu, d2.gpu, d_dout, scale, N);
        d1.check("residual dinp1", ELEMENTWISE);
        d2.check("residual dinp2", ELEMENTWISE);

        // one correctly rounded multiply per element on both sides: the same bits
        std::vector<float> y = a;
        scale_forward(y.data(), scale, N);
        gpu::Buffer<float> d_y(a);
        gpu::scale_forward(d_y, scale, N);
        check_bitwise("scale", d_y.to_host(), y);
    }
}

// ------------------------------------------------- softmax + cross-entropy

TEST_CASE("gpu softmax cross-entropy agrees with the CPU: probabilities, losses, mean loss, gradient", "[cuda]") {
    REQUIRE_GPU_OR_SKIP();
    struct Size {
        int N, V;
        double logit_scale;  // 30: exp overflows unless the row's max is subtracted
    };
    // V = 2; V below a warp with huge logits; V of 1000 and of 2049 (more
    // than a block of 1024 threads)
    for (Size s : {Size{1, 2, 1}, Size{7, 37, 30}, Size{64, 1000, 1}, Size{5, 2049, 3}}) {
        INFO("N " << s.N << " V " << s.V << " logit scale " << s.logit_scale);
        const size_t NV = (size_t)s.N * s.V;
        const std::vector<float> logits = random_floats(NV, 50, s.logit_scale);
        const std::vector<int> targets = random_tokens(s.N, s.V, 51);
        std::vector<float> losses(s.N), probs(NV);
        const double mean =
            softmax_crossentropy_forward(losses.data(), probs.data(), logits.data(), targets.data(), s.N, s.V);
        gpu::Buffer<float> d_logits(logits), d_losses(s.N), d_probs(NV);
        gpu::Buffer<int> d_targets(targets);
        const double mean_gpu = gpu::softmax_crossentropy_forward(d_losses, d_probs, d_logits, d_targets, s.N, s.V);
        check_close("probabilities", d_probs.to_host(), probs, REDUCTION);
        check_close("losses", d_losses.to_host(), losses, REDUCTION);
        check_scalar("mean loss", mean_gpu, mean, REDUCTION);

        const float dloss = 1.0f / s.N;
        Accumulator dlogits(NV, 52, dloss);  // the size of the gradient itself
        softmax_crossentropy_backward(dlogits.cpu.data(), probs.data(), targets.data(), dloss, s.N, s.V);
        gpu::softmax_crossentropy_backward(dlogits.gpu, d_probs, d_targets, dloss, s.N, s.V);
        // from the GPU's own probabilities, which carry REDUCTION's error
        dlogits.check("dlogits", REDUCTION);
    }
}

// ----------------------------------------------------------------- matmul

TEST_CASE("gpu matmul forward and backward agree with the CPU in fp32, tf32 and bf16", "[cuda]") {
    REQUIRE_GPU_OR_SKIP();
    gpu_test::RestoreDefaultOptions restore;  // fp32 again afterwards, even if a check throws
    struct Size {
        int N, C, OC;
    };
    struct Mode {
        gpu::Precision precision;
        double tolerance;
    };
    const Mode modes[] = {{gpu::Precision::FP32, MATMUL_FP32},
                          {gpu::Precision::TF32, MATMUL_TF32},
                          {gpu::Precision::BF16, MATMUL_BF16}};
    for (Size s : {Size{1, 1, 1}, Size{7, 37, 19}, Size{64, 100, 300}, Size{130, 96, 288}})
        for (bool with_bias : {true, false}) {
            const size_t NC = (size_t)s.N * s.C, NOC = (size_t)s.N * s.OC, WC = (size_t)s.OC * s.C;
            const std::vector<float> x = random_floats(NC, 60), w = random_floats(WC, 61), b = random_floats(s.OC, 62);
            const std::vector<float> dout = random_floats(NOC, 63);
            const std::vector<float> dx0 = random_floats(NC, 64), dw0 = random_floats(WC, 65),
                                     db0 = random_floats(s.OC, 66);
            std::vector<float> out(NOC), dx = dx0, dw = dw0, db = db0;
            matmul_forward(out.data(), x.data(), w.data(), with_bias ? b.data() : nullptr, s.N, s.C, s.OC);
            matmul_backward(dx.data(), dw.data(), with_bias ? db.data() : nullptr, dout.data(), x.data(), w.data(), s.N,
                            s.C, s.OC);
            gpu::Buffer<float> d_x(x), d_w(w), d_b(b), d_dout(dout);
            std::vector<float> out_fp32;
            for (const Mode& mode : modes) {
                const std::string name = gpu::precision_name(mode.precision);
                INFO(name << ": N " << s.N << " C " << s.C << " OC " << s.OC
                          << (with_bias ? " with bias" : " no bias"));
                gpu_test::set_options(mode.precision);
                gpu::Buffer<float> d_out(NOC), d_dx(dx0), d_dw(dw0), d_db(db0);
                gpu::matmul_forward(d_out, d_x, d_w, with_bias ? d_b.ptr : nullptr, s.N, s.C, s.OC);
                gpu::matmul_backward(d_dx, d_dw, with_bias ? d_db.ptr : nullptr, d_dout, d_x, d_w, s.N, s.C, s.OC);
                const std::vector<float> out_gpu = d_out.to_host();
                check_close(name + " matmul out", out_gpu, out, mode.tolerance);
                check_close(name + " matmul dinp", d_dx.to_host(), dx, mode.tolerance);
                check_close(name + " matmul dweight", d_dw.to_host(), dw, mode.tolerance);
                check_close(name + " matmul dbias", d_db.to_host(), db, mode.tolerance);  // untouched when no bias
                // The reduced precisions must really be in use, or the fp32
                // numbers above would pass their looser checks trivially.
                if (mode.precision == gpu::Precision::FP32) out_fp32 = out_gpu;
                else if (s.C >= 64) {
                    const double moved = gpu_test::compare(out_gpu.data(), out_fp32.data(), NOC).relative();
                    if (mode.precision == gpu::Precision::BF16) {
                        INFO("bf16 against fp32 on the GPU: relative difference " << moved);
                        CHECK(moved > 1e-5);  // operands rounded to 8 significant bits move it by ~1e-3
                    } else if (moved == 0) {
                        WARN("tf32 gave the fp32 bits: this GPU has no TF32 tensor cores?");
                    }
                }
            }
        }
}

// -------------------------------------------------------------- optimizer

TEST_CASE("gpu adamw_update equals the CPU bit for bit", "[cuda]") {
    REQUIRE_GPU_OR_SKIP();
    struct Hyper {
        double lr, decay, beta1, beta2, eps;
    };
    const Hyper hypers[] = {
        {1e-3, 0.0, 0.9, 0.95, 1e-8},    // no weight decay
        {3e-3, 3e-4, 0.9, 0.999, 1e-8},  // decay; PyTorch's default beta2
        {1e-2, 1e-3, 0.3, 0.95, 1e-6},   // beta1 < 0.5: torch.lerp's other formula
        {0.1, 0.05, 0.0, 0.5, 1e-3},     // no momentum, large eps
    };
    const int64_t steps[] = {1, 2, 3, 250};  // bias corrections at the start and far from it
    for (size_t n : {(size_t)1, (size_t)1000, (size_t)70001})
        for (const Hyper& h : hypers) {
            INFO("n " << n << " lr " << h.lr << " decay " << h.decay << " beta1 " << h.beta1 << " beta2 " << h.beta2
                      << " eps " << h.eps);
            std::vector<float> p = random_floats(n, 70), m(n, 0.0f), v(n, 0.0f);
            gpu::Buffer<float> d_p(p), d_m(m), d_v(v), d_g(n);
            for (int64_t step : steps) {
                INFO("step " << step);
                std::vector<float> g = random_floats(n, 71 + (uint64_t)step, 0.1);
                for (size_t i = 0; i < n; i += 7) g[i] = 0.0f;  // no gradient: the update is 0 / eps
                if (n > 5) {
                    g[3] = 1e3f;   // huge
                    g[5] = 1e-20f;  // g*g is a float subnormal: a GPU flushing subnormals to 0 differs
                }
                d_g.from_host(g);
                adamw_update(p.data(), g.data(), m.data(), v.data(), n, h.lr, h.decay, h.beta1, h.beta2, h.eps, step);
                gpu::adamw_update(d_p, d_g, d_m, d_v, n, h.lr, h.decay, h.beta1, h.beta2, h.eps, step);
                check_bitwise("params", d_p.to_host(), p);
                check_bitwise("first moment", d_m.to_host(), m);
                check_bitwise("second moment", d_v.to_host(), v);
            }
        }
}

TEST_CASE("gpu optimizer_step (AdamW) equals the CPU bit for bit over a parameterized tensor table", "[cuda]") {
    REQUIRE_GPU_OR_SKIP();
    ModelConfig sizes;
    sizes.vocab_size = 67;
    sizes.context_length = 16;
    sizes.width = 48;
    sizes.depth = 2;
    sizes.head_dim = 16;
    for (const char* preset : {"sp", "mup"})
        for (const char* wd_mode : {"coupled", "independent"}) {
            ParamConfig pc;
            pc.preset = parse_preset(preset);
            pc.d_base = std::string(preset) == "mup" ? 16 : 0;  // m = 3: per-tensor LR multipliers differ
            pc.wd_mode = parse_wd_mode(wd_mode);
            OptimizerConfig adam;
            adam.lr = 1e-2;
            adam.weight_decay = std::string(wd_mode) == "independent" ? 1e-3 : 0.1;
            GPT<float> model;
            gpt_build_parameterized(model, sizes, pc, adam);
            gpt_init(model, 5);
            std::vector<double> lr_extra;  // as a replacement warmup gives: per tensor, on top of the schedule
            Rng r(6);
            for (size_t i = 0; i < model.table.tensors.size(); i++) lr_extra.push_back(0.5 + r.uniform());
            const size_t n = model.table.total;
            for (bool with_extra : {false, true}) {
                INFO(preset << " " << wd_mode << (with_extra ? " with lr_extra" : ""));
                std::vector<float> p = model.params;
                OptimizerState<float> state(model.table);
                gpu::Buffer<float> d_p(p), d_m(state.m), d_v(state.v), d_g(n);
                const double schedule[] = {0.3, 1.0, 0.55};
                for (int64_t step = 1; step <= 3; step++) {
                    const double s_t = schedule[step - 1];
                    std::vector<float> g = random_floats(n, 80 + (uint64_t)step, 0.01);
                    d_g.from_host(g);
                    const double* extra = with_extra ? lr_extra.data() : nullptr;  // a host array (cuda/optim/optimizer.cu)
                    optimizer_step(p.data(), g.data(), state, model.table, s_t, step, extra);
                    gpu::optimizer_step(d_p, d_g, d_m, d_v, nullptr, model.table, s_t, step, extra);
                    INFO("step " << step);
                    check_bitwise("params", d_p.to_host(), p);
                    check_bitwise("first moment", d_m.to_host(), state.m);
                    check_bitwise("second moment", d_v.to_host(), state.v);
                }
            }
        }
}

TEST_CASE("gpu gradient norm and clipping agree with the CPU", "[cuda]") {
    REQUIRE_GPU_OR_SKIP();
    for (size_t n : {(size_t)1, (size_t)1000, (size_t)(1 << 20) + 3}) {
        INFO("n " << n);
        const std::vector<float> g = random_floats(n, 90, 0.01);
        gpu::Buffer<float> d_g(g);
        const double norm = global_grad_norm(g.data(), n);
        check_scalar("global norm", gpu::global_grad_norm(d_g, n), norm, NORM);

        // clipping to half the norm scales every gradient
        std::vector<float> clipped = g;
        const double returned = clip_grad_norm(clipped.data(), n, 0.5 * norm);
        check_scalar("norm returned by clip", gpu::clip_grad_norm(d_g, n, 0.5 * norm), returned, NORM);
        check_close("clipped gradients", d_g.to_host(), clipped, CLIPPED);

        // under the limit, and with clipping off: untouched
        for (double max_norm : {2.0 * norm, 0.0}) {
            INFO("max_norm " << max_norm);
            gpu::Buffer<float> d_h(g);
            check_scalar("norm returned by clip", gpu::clip_grad_norm(d_h, n, max_norm), norm, NORM);
            check_bitwise("gradients not clipped", d_h.to_host(), g);
        }
    }
}

// ----------------------------------------------------------- measurements


TEST_CASE("gpu measure_matrix agrees with the CPU in every field, NaN where the CPU has NaN", "[cuda]") {
    REQUIRE_GPU_OR_SKIP();
    gpu_test::RestoreDefaultOptions restore;
    struct Case {
        const char* name;
        int K, C, n;
        double lr, decay, update;  // update: the step's size relative to W's entries
        bool zero_w, zero_x;
    };
    const Case cases[] = {
        {"typical", 19, 37, 5, 1e-2, 1e-3, 1e-2, false, false},
        {"a tiny update (rrc must survive)", 96, 100, 64, 1e-4, 1e-5, 1e-4, false, false},
        {"no decay (no equilibria: NaN)", 33, 20, 7, 1e-2, 0.0, 1e-2, false, false},
        {"lr 0 (u_rms NaN)", 8, 8, 3, 0.0, 1e-3, 1e-2, false, false},
        {"no tokens (x ratios NaN)", 12, 9, 0, 1e-2, 1e-3, 1e-2, false, false},
        {"zero W (ratios over ||W|| NaN)", 10, 11, 4, 1e-2, 1e-3, 1e-2, true, false},
        {"zero step (alpha_dw NaN)", 10, 11, 4, 1e-2, 0.0, 0.0, false, false},
        {"zero X", 10, 11, 4, 1e-2, 1e-3, 1e-2, false, true},
    };
    for (const Case& k : cases)
        for (gpu::Precision precision : {gpu::Precision::FP32, gpu::Precision::BF16}) {
            // The products are fp32 whatever the training precision, so bf16
            // must meet the same tolerance.
            gpu_test::set_options(precision);
            INFO(k.name << " K " << k.K << " C " << k.C << " n " << k.n << ", training in "
                        << gpu::precision_name(precision));
            const size_t KC = (size_t)k.K * k.C;
            std::vector<float> before = random_floats(KC, 100, 0.2), step = random_floats(KC, 101, 0.2 * k.update);
            if (k.zero_w) before.assign(KC, 0.0f);
            std::vector<float> after(KC);
            for (size_t i = 0; i < KC; i++) after[i] = (float)((1 - k.decay) * before[i]) + step[i];
            std::vector<float> x = random_floats((size_t)k.n * k.C, 102);
            if (k.zero_x) x.assign(x.size(), 0.0f);
            const double beta1 = 0.9;
            const MatrixStats cpu = measure_matrix(before.data(), after.data(), k.K, k.C, k.n ? x.data() : nullptr,
                                                   k.n, k.lr, k.decay, beta1);
            gpu::Buffer<float> d_before(before), d_after(after), d_x(x);
            const MatrixStats gpu_stats = gpu::measure_matrix(d_before, d_after, k.K, k.C, k.n ? d_x.ptr : nullptr, k.n,
                                                              k.lr, k.decay, beta1);
            gpu_test::check_stats(k.name, gpu_stats, cpu, MEASURE);
        }
}

TEST_CASE("gpu gather_rows copies the same rows as the CPU", "[cuda]") {
    REQUIRE_GPU_OR_SKIP();
    const int N = 50, C = 37;
    const std::vector<float> x = random_floats((size_t)N * C, 110);
    gpu::Buffer<float> d_x(x);
    // measure.h's sample, and a hand-made list: unsorted, repeated, both ends
    for (const std::vector<int>& rows : {sample_rows(N, 7), std::vector<int>{49, 0, 3, 3, 17}}) {
        std::vector<float> out(rows.size() * C);
        gather_rows(x.data(), C, rows, out.data());
        gpu::Buffer<float> d_out(out.size());
        gpu::gather_rows(d_x, C, rows, d_out);
        check_bitwise("gathered rows", d_out.to_host(), out);
    }
}
