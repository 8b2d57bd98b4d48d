// The blocked attention against the plain loops kept beside it (layers.h):
// in double to rounding, in float to float rounding; over several row
// blocks with a partial last one; with a finite-difference check across
// blocks; and bitwise the same on one thread and on two. Then layernorm's
// lane sums and row blocks, the same two ways.
#include <catch2/catch.hpp>

#include <cmath>
#include <vector>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "gradcheck.h"
#include "model/layers.h"
#include "util/rng.h"

namespace {

template <typename T>
std::vector<T> random_values(size_t n, Rng& r, double scale = 1.0) {
    std::vector<T> v(n);
    for (auto& x : v) x = (T)(scale * r.normal());
    return v;
}

template <typename T>
double worst_relative(const std::vector<T>& a, const std::vector<T>& b) {
    double worst = 0;
    for (size_t i = 0; i < a.size(); i++)
        worst = std::max(worst, std::fabs((double)a[i] - (double)b[i]) / std::max(1.0, std::fabs((double)b[i])));
    return worst;
}

// Blocked and plain attention, forward and backward, on the same inputs:
// the worst relative difference of out, of att (lower triangle) and of dqkv.
template <typename T>
void compare_attention(int B, int Tn, int C, int NH, double tolerance) {
    Rng r(41);
    const size_t N = (size_t)B * Tn;
    std::vector<T> qkv = random_values<T>(N * 3 * C, r, 1.5), dout = random_values<T>(N * C, r);
    std::vector<T> out(N * C), out_ref(N * C), att((size_t)B * NH * Tn * Tn, (T)7), att_ref(att.size(), 0);
    // the gradient buffers start non-zero: both must accumulate
    std::vector<T> dqkv = random_values<T>(N * 3 * C, r), dqkv_ref = dqkv;
    const T scale = (T)0.3;
    attention_forward(out.data(), att.data(), qkv.data(), scale, B, Tn, C, NH);
    attention_forward_naive(out_ref.data(), att_ref.data(), qkv.data(), scale, B, Tn, C, NH);
    attention_backward(dqkv.data(), dout.data(), qkv.data(), att.data(), scale, B, Tn, C, NH);
    attention_backward_naive(dqkv_ref.data(), dout.data(), qkv.data(), att_ref.data(), scale, B, Tn, C, NH);
    double worst_att = 0;
    size_t masked_nonzero = 0;  // the masked part must be written as zeros
    for (int bh = 0; bh < B * NH; bh++)
        for (int t = 0; t < Tn; t++)
            for (int t2 = 0; t2 < Tn; t2++) {
                const size_t i = ((size_t)bh * Tn + t) * Tn + t2;
                if (t2 > t) masked_nonzero += att[i] != 0;
                else worst_att = std::max(worst_att, std::fabs((double)att[i] - (double)att_ref[i]));
            }
    INFO("T=" << Tn << " out " << worst_relative(out, out_ref) << " att " << worst_att << " dqkv "
              << worst_relative(dqkv, dqkv_ref));
    CHECK(masked_nonzero == 0);
    CHECK(worst_relative(out, out_ref) < tolerance);
    CHECK(worst_att < tolerance);
    CHECK(worst_relative(dqkv, dqkv_ref) < tolerance);
}

}  // namespace

TEST_CASE("blocked attention equals the plain loops", "[layers][attention]") {
    // T = 1, within one block, exactly two blocks, several with a partial last
    for (int Tn : {1, 37, 128, 150}) {
        compare_attention<double>(2, Tn, 24, 3, 1e-12);
        compare_attention<float>(2, Tn, 24, 3, 2e-5);
    }
}

TEST_CASE("blocked attention backward matches finite differences across row blocks", "[layers][gradcheck]") {
    Rng r(42);
    const int B = 1, Tn = 70, C = 4, NH = 2;  // two row blocks, the second partial
    std::vector<double> qkv = random_values<double>((size_t)B * Tn * 3 * C, r);
    std::vector<double> R = random_values<double>((size_t)B * Tn * C, r);
    std::vector<double> out(R.size()), att((size_t)B * NH * Tn * Tn);
    auto loss = [&] {
        attention_forward(out.data(), att.data(), qkv.data(), 0.7, B, Tn, C, NH);
        double s = 0;
        for (size_t i = 0; i < out.size(); i++) s += out[i] * R[i];
        return s;
    };
    loss();
    std::vector<double> dqkv(qkv.size(), 0);
    attention_backward(dqkv.data(), R.data(), qkv.data(), att.data(), 0.7, B, Tn, C, NH);
    // q, k and v of early, boundary and late positions
    std::vector<size_t> idx;
    for (int t : {0, 1, 40, 63, 64, 65, 69})
        for (int c = 0; c < 3 * C; c++) idx.push_back((size_t)t * 3 * C + c);
    check_gradient("blocked attention qkv", qkv.data(), qkv.size(), dqkv.data(), loss, idx);
}

TEST_CASE("blocked attention gives the same bits on one thread and on two", "[layers][attention]") {
#ifdef _OPENMP
    Rng r(43);
    const int B = 3, Tn = 100, C = 32, NH = 2;
    const size_t N = (size_t)B * Tn;
    std::vector<float> qkv = random_values<float>(N * 3 * C, r), dout = random_values<float>(N * C, r);
    auto run = [&](int threads, std::vector<float>& out, std::vector<float>& dqkv) {
        const int saved = omp_get_max_threads();
        omp_set_num_threads(threads);
        std::vector<float> att((size_t)B * NH * Tn * Tn);
        out.assign(N * C, 0);
        dqkv.assign(N * 3 * C, 0);
        attention_forward(out.data(), att.data(), qkv.data(), 0.25f, B, Tn, C, NH);
        attention_backward(dqkv.data(), dout.data(), qkv.data(), att.data(), 0.25f, B, Tn, C, NH);
        omp_set_num_threads(saved);
    };
    std::vector<float> out1, d1, out2, d2;
    run(1, out1, d1);
    run(2, out2, d2);
    REQUIRE(out1 == out2);
    REQUIRE(d1 == d2);
#else
    SUCCEED("built without OpenMP: one thread only");
#endif
}

// Layernorm sums each row in 16 lanes and its weight and bias gradients in
// blocks of 32 rows: a width with a partial lane group and several row
// blocks, the last partial, against finite differences; then float bits on
// one thread and on two (big enough to run threaded).
TEST_CASE("layernorm across lane groups and row blocks matches finite differences", "[layers][gradcheck]") {
    Rng r(45);
    const int N = 70, C = 37;
    std::vector<double> x = random_values<double>((size_t)N * C, r, 2.0), w = random_values<double>(C, r);
    std::vector<double> b = random_values<double>(C, r), R = random_values<double>((size_t)N * C, r);
    for (int n = 0; n < N; n++) x[(size_t)n * C + n % C] += 3.0;  // non-zero means
    std::vector<double> out((size_t)N * C), mean(N), rstd(N);
    auto loss = [&] {
        layernorm_forward(out.data(), mean.data(), rstd.data(), x.data(), w.data(), b.data(), N, C);
        double s = 0;
        for (size_t i = 0; i < out.size(); i++) s += out[i] * R[i];
        return s;
    };
    loss();
    std::vector<double> dx((size_t)N * C, 0), dw(C, 0), db(C, 0);
    layernorm_backward(dx.data(), dw.data(), db.data(), R.data(), x.data(), w.data(), mean.data(), rstd.data(), N, C);
    std::vector<size_t> rows;  // rows at the block edges, every channel
    for (int n : {0, 31, 32, 63, 64, 69})
        for (int c = 0; c < C; c++) rows.push_back((size_t)n * C + c);
    check_gradient("layernorm input", x.data(), x.size(), dx.data(), loss, rows);
    check_gradient("layernorm weight", w.data(), w.size(), dw.data(), loss);
    check_gradient("layernorm bias", b.data(), b.size(), db.data(), loss);
}

TEST_CASE("layernorm gives the same bits on one thread and on two", "[layers]") {
#ifdef _OPENMP
    Rng r(46);
    // N * C and the 32 row blocks' partial sums (blocks * C) both above the
    // threading threshold; the last block holds 8 rows, C is not a multiple of 16
    const int N = 1000, C = 520;
    std::vector<float> x = random_values<float>((size_t)N * C, r), w = random_values<float>(C, r);
    std::vector<float> b = random_values<float>(C, r), d = random_values<float>((size_t)N * C, r);
    auto run = [&](int threads) {
        const int saved = omp_get_max_threads();
        omp_set_num_threads(threads);
        std::vector<float> out((size_t)N * C), mean(N), rstd(N), dx((size_t)N * C, 0.5f), dw(C, 0.25f), db(C, 0);
        layernorm_forward(out.data(), mean.data(), rstd.data(), x.data(), w.data(), b.data(), N, C);
        layernorm_backward(dx.data(), dw.data(), db.data(), d.data(), x.data(), w.data(), mean.data(), rstd.data(),
                           N, C);
        omp_set_num_threads(saved);
        out.insert(out.end(), dx.begin(), dx.end());
        out.insert(out.end(), dw.begin(), dw.end());
        out.insert(out.end(), db.begin(), db.end());
        return out;
    };
    REQUIRE(run(1) == run(2));
#else
    SUCCEED("built without OpenMP: one thread only");
#endif
}

// Grad::Overwrite must give what Accumulate gives into a zeroed buffer,
// whatever the buffer held before (here NaN), and GELU's may run in place.
TEST_CASE("backward passes in Overwrite mode ignore what the buffer held", "[layers]") {
    Rng r(44);
    const int B = 2, Tn = 70, C = 8, NH = 2, OC = 12, N = B * Tn;
    const double nan = std::nan("");
    std::vector<double> x = random_values<double>((size_t)N * C, r), w = random_values<double>((size_t)OC * C, r);
    std::vector<double> dout = random_values<double>((size_t)N * OC, r);
    std::vector<double> zeroed((size_t)N * C, 0.0), garbage((size_t)N * C, nan), dw1((size_t)OC * C, 0.0), dw2 = dw1;
    matmul_backward(zeroed.data(), dw1.data(), (double*)nullptr, dout.data(), x.data(), w.data(), N, C, OC);
    matmul_backward(garbage.data(), dw2.data(), (double*)nullptr, dout.data(), x.data(), w.data(), N, C, OC,
                    Grad::Overwrite);
    CHECK(garbage == zeroed);
    CHECK(dw2 == dw1);  // the weight's gradient still accumulates

    std::vector<double> qkv = random_values<double>((size_t)N * 3 * C, r), dattn = random_values<double>((size_t)N * C, r);
    std::vector<double> out((size_t)N * C), att((size_t)B * NH * Tn * Tn);
    attention_forward(out.data(), att.data(), qkv.data(), 0.5, B, Tn, C, NH);
    std::vector<double> dq0((size_t)N * 3 * C, 0.0), dq1((size_t)N * 3 * C, nan);
    attention_backward(dq0.data(), dattn.data(), qkv.data(), att.data(), 0.5, B, Tn, C, NH);
    attention_backward(dq1.data(), dattn.data(), qkv.data(), att.data(), 0.5, B, Tn, C, NH, Grad::Overwrite);
    CHECK(dq1 == dq0);

    std::vector<double> g0((size_t)N * C, 0.0), in_place = dattn;
    gelu_backward(g0.data(), x.data(), dattn.data(), (long)N * C);
    gelu_backward(in_place.data(), x.data(), in_place.data(), (long)N * C, Grad::Overwrite);
    CHECK(in_place == g0);
}
