// The fast matmul layer against the naive loops: forward, backward (all three
// gradients, accumulating), the general gemm with every transpose and
// alpha/beta, and bitwise determinism across runs and thread counts.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "model/matmul.h"
#include "util/rng.h"

namespace {

// Uniform in [-1, 1): cheap to draw, and the mixed signs make the sums cancel
// the way real activations and gradients do.
template <typename T>
std::vector<T> random_vector(Rng& rng, size_t n) {
    std::vector<T> v(n);
    for (auto& x : v) x = (T)(2 * rng.uniform() - 1);
    return v;
}

// Tolerance relative to the size of the numbers involved: sums of up to a few
// thousand products, summed in different orders, agree to ~1e-6 in fp32 and
// ~1e-15 in fp64; a wrong index or a lost term is off by far more.
template <typename T>
double tolerance() {
    return sizeof(T) == 4 ? 1e-4 : 1e-12;
}

// Largest |got - want| divided by the largest |want| (at least 1), so that one
// tiny expected value cannot make a correct result look wrong.
template <typename T>
double relative_error(const std::vector<T>& got, const std::vector<T>& want) {
    REQUIRE(got.size() == want.size());
    double scale = 1, worst = 0;
    for (size_t i = 0; i < want.size(); ++i) scale = std::max(scale, std::fabs((double)want[i]));
    for (size_t i = 0; i < want.size(); ++i) {
        double d = std::fabs((double)got[i] - (double)want[i]);
        if (!(d <= worst)) worst = d;  // NaN in got propagates to the result
    }
    return worst / scale;
}

bool bitwise_equal(const std::vector<float>& a, const std::vector<float>& b) {
    return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

struct Shape {
    int N, C, OC;
};

// Awkward shapes: degenerate, primes, and sizes just past the block sizes of
// every build (MR 4-12 rows, NR 8-32 columns, KC 256-1024, NC 128-256), so
// edge tiles and several K and column blocks all occur. In the linear layer
// K is C for the forward pass, OC for dinp and N for dweight. Last, one real
// d=256 layer.
const std::vector<Shape> kShapes = {
    {1, 1, 1},     {1, 7, 1},      {5, 1, 3},      {37, 53, 29},   {2, 3, 64},    {9, 17, 33},
    {13, 129, 31}, {64, 256, 96},  {129, 257, 65}, {7, 513, 40},   {515, 31, 47}, {600, 130, 33},
    {1, 300, 700}, {33, 1037, 17}, {1030, 20, 9},  {11, 40, 1050}, {4, 0, 6},     {256, 256, 768}};

// Runs the forward and backward passes on one shape in both versions and
// checks the fast one against the naive one.
template <typename T>
void check_linear_layer(const Shape& s, bool with_bias, uint64_t seed) {
    const int N = s.N, C = s.C, OC = s.OC;
    Rng rng(seed);
    auto inp = random_vector<T>(rng, (size_t)N * C);
    auto weight = random_vector<T>(rng, (size_t)OC * C);
    auto bias = random_vector<T>(rng, OC);
    auto dout = random_vector<T>(rng, (size_t)N * OC);
    // Non-zero starting gradients check that backward accumulates.
    auto dinp0 = random_vector<T>(rng, (size_t)N * C);
    auto dweight0 = random_vector<T>(rng, (size_t)OC * C);
    auto dbias0 = random_vector<T>(rng, OC);
    const T* b = with_bias ? bias.data() : nullptr;

    std::vector<T> out(N * (size_t)OC, T(-7)), out_ref(N * (size_t)OC, T(-7));
    matmul_forward(out.data(), inp.data(), weight.data(), b, N, C, OC);
    matmul_forward_naive(out_ref.data(), inp.data(), weight.data(), b, N, C, OC);
    CHECK(relative_error(out, out_ref) < tolerance<T>());

    auto dinp = dinp0, dweight = dweight0, dbias = dbias0;
    auto dinp_ref = dinp0, dweight_ref = dweight0, dbias_ref = dbias0;
    T* db = with_bias ? dbias.data() : nullptr;
    T* db_ref = with_bias ? dbias_ref.data() : nullptr;
    matmul_backward(dinp.data(), dweight.data(), db, dout.data(), inp.data(), weight.data(), N, C,
                    OC);
    matmul_backward_naive(dinp_ref.data(), dweight_ref.data(), db_ref, dout.data(), inp.data(),
                          weight.data(), N, C, OC);
    CHECK(relative_error(dinp, dinp_ref) < tolerance<T>());
    CHECK(relative_error(dweight, dweight_ref) < tolerance<T>());
    CHECK(relative_error(dbias, dbias_ref) < tolerance<T>());
    if (!with_bias) CHECK(dbias == dbias0);  // nullptr dbias: untouched copy stays equal
}

// C (M,N) = alpha op(A) op(B) + beta C by the definition, in double.
template <typename T>
std::vector<T> gemm_reference(bool tA, bool tB, int M, int N, int K, T alpha,
                              const std::vector<T>& A, int lda, const std::vector<T>& B, int ldb,
                              T beta, std::vector<T> C, int ldc) {
    for (int i = 0; i < M; ++i)
        for (int j = 0; j < N; ++j) {
            double sum = 0;
            for (int k = 0; k < K; ++k) {
                double a = tA ? A[(size_t)k * lda + i] : A[(size_t)i * lda + k];
                double b = tB ? B[(size_t)j * ldb + k] : B[(size_t)k * ldb + j];
                sum += a * b;
            }
            T& c = C[(size_t)i * ldc + j];
            c = beta == T(0) ? (T)(alpha * sum) : (T)(alpha * sum + beta * (double)c);
        }
    return C;
}

template <typename T>
void check_gemm(bool tA, bool tB, int M, int N, int K, T alpha, T beta, uint64_t seed) {
    INFO("transA=" << tA << " transB=" << tB << " M=" << M << " N=" << N << " K=" << K
                   << " alpha=" << alpha << " beta=" << beta);
    Rng rng(seed);
    // Leading dimensions larger than the rows they hold, to catch stride bugs.
    const int lda = (tA ? M : K) + 3, ldb = (tB ? K : N) + 5, ldc = N + 2;
    auto A = random_vector<T>(rng, (size_t)(tA ? K : M) * lda);
    auto B = random_vector<T>(rng, (size_t)(tB ? N : K) * ldb);
    auto C = random_vector<T>(rng, (size_t)M * ldc);
    if (beta == T(0)) std::fill(C.begin(), C.end(), std::numeric_limits<T>::quiet_NaN());
    auto want = gemm_reference(tA, tB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    gemm(tA, tB, M, N, K, alpha, A.data(), lda, B.data(), ldb, beta, C.data(), ldc);

    // Only the (M,N) part may change; the padding columns must be untouched.
    std::vector<T> got_part, want_part;
    bool padding_intact = true;
    for (int i = 0; i < M; ++i)
        for (int j = 0; j < ldc; ++j) {
            T g = C[(size_t)i * ldc + j], w = want[(size_t)i * ldc + j];
            if (j < N) {
                got_part.push_back(g);
                want_part.push_back(w);
            } else if (!(g == w || (std::isnan(g) && std::isnan(w)))) {
                padding_intact = false;
            }
        }
    CHECK(relative_error(got_part, want_part) < tolerance<T>());
    CHECK(padding_intact);
}

}  // namespace

TEST_CASE("matmul forward and backward match the naive loops (float)", "[matmul]") {
    uint64_t seed = 1;
    for (const Shape& s : kShapes)
        for (bool with_bias : {true, false}) {
            INFO("N=" << s.N << " C=" << s.C << " OC=" << s.OC << " bias=" << with_bias);
            check_linear_layer<float>(s, with_bias, seed++);
        }
}

TEST_CASE("matmul forward and backward match the naive loops (double)", "[matmul]") {
    uint64_t seed = 100;
    for (const Shape& s : kShapes)
        for (bool with_bias : {true, false}) {
            INFO("N=" << s.N << " C=" << s.C << " OC=" << s.OC << " bias=" << with_bias);
            check_linear_layer<double>(s, with_bias, seed++);
        }
}

TEST_CASE("matmul backward skips the gradients passed as nullptr", "[matmul]") {
    const int N = 19, C = 23, OC = 41;
    Rng rng(7);
    auto inp = random_vector<float>(rng, N * C), weight = random_vector<float>(rng, OC * C);
    auto dout = random_vector<float>(rng, N * OC);
    auto dweight = random_vector<float>(rng, OC * C), dweight_ref = dweight;
    matmul_backward<float>(nullptr, dweight.data(), nullptr, dout.data(), inp.data(), weight.data(),
                           N, C, OC);
    matmul_backward_naive<float>(nullptr, dweight_ref.data(), nullptr, dout.data(), inp.data(),
                                 weight.data(), N, C, OC);
    CHECK(relative_error(dweight, dweight_ref) < 1e-4);
    auto dbias = random_vector<float>(rng, OC), dbias_ref = dbias;
    matmul_backward<float>(nullptr, nullptr, dbias.data(), dout.data(), inp.data(), weight.data(),
                           N, C, OC);
    matmul_backward_naive<float>(nullptr, nullptr, dbias_ref.data(), dout.data(), inp.data(),
                                 weight.data(), N, C, OC);
    CHECK(relative_error(dbias, dbias_ref) < 1e-4);
}

TEST_CASE("gemm handles every transpose, alpha and beta", "[matmul][gemm]") {
    // (M, N, K), including a C with a single row sliver (split by columns)
    // and a K so long that op(B) is packed in several panels along K.
    const int sizes[][3] = {{1, 1, 1},       {37, 53, 29},    {8, 32, 128},   {65, 33, 257},
                            {130, 100, 600}, {20, 300, 1100}, {5, 1500, 200}, {3, 40, 40000}};
    uint64_t seed = 1000;
    for (bool tA : {false, true})
        for (bool tB : {false, true})
            for (const auto& mnk : sizes) {
                check_gemm<float>(tA, tB, mnk[0], mnk[1], mnk[2], 1.0f, 0.0f, seed++);
                check_gemm<float>(tA, tB, mnk[0], mnk[1], mnk[2], -0.5f, 1.0f, seed++);
                check_gemm<float>(tA, tB, mnk[0], mnk[1], mnk[2], 2.0f, -1.5f, seed++);
                check_gemm<double>(tA, tB, mnk[0], mnk[1], mnk[2], 1.0, 0.0, seed++);
                check_gemm<double>(tA, tB, mnk[0], mnk[1], mnk[2], 0.25, 0.5, seed++);
            }
}

TEST_CASE("gemm with K = 0 or alpha = 0 only scales C", "[matmul][gemm]") {
    for (bool tA : {false, true}) {
        check_gemm<float>(tA, !tA, 9, 13, 0, 1.0f, 0.0f, 1);  // C of NaN becomes 0
        check_gemm<float>(tA, !tA, 9, 13, 0, 1.0f, 3.0f, 2);
        check_gemm<double>(tA, tA, 9, 13, 20, 0.0, 0.5, 3);
    }
    // beta = 0 with a NaN-filled C must give zeros, not NaN.
    std::vector<float> C(6, std::numeric_limits<float>::quiet_NaN());
    gemm<float>(false, false, 2, 3, 0, 1.0f, nullptr, 1, nullptr, 3, 0.0f, C.data(), 3);
    for (float c : C) CHECK(c == 0.0f);
}

TEST_CASE("matmul is bitwise deterministic across runs and thread counts",
          "[matmul][determinism]") {
    // Big enough that gemm runs threaded and spans several K and M blocks.
    const int N = 1000, C = 300, OC = 520;
    Rng rng(42);
    auto inp = random_vector<float>(rng, (size_t)N * C);
    auto weight = random_vector<float>(rng, (size_t)OC * C);
    auto bias = random_vector<float>(rng, OC);
    auto dout = random_vector<float>(rng, (size_t)N * OC);

    struct Result {
        std::vector<float> out, dinp, dweight, dbias;
    };
    auto run = [&]() {
        Result r{std::vector<float>((size_t)N * OC), std::vector<float>((size_t)N * C, 0.5f),
                 std::vector<float>((size_t)OC * C, 0.25f), std::vector<float>(OC, 1.0f)};
        matmul_forward(r.out.data(), inp.data(), weight.data(), bias.data(), N, C, OC);
        matmul_backward(r.dinp.data(), r.dweight.data(), r.dbias.data(), dout.data(), inp.data(),
                        weight.data(), N, C, OC);
        return r;
    };
    auto same = [](const Result& a, const Result& b) {
        return bitwise_equal(a.out, b.out) && bitwise_equal(a.dinp, b.dinp) &&
               bitwise_equal(a.dweight, b.dweight) && bitwise_equal(a.dbias, b.dbias);
    };

    Result first = run(), second = run();
    CHECK(same(first, second));

#ifdef _OPENMP
    const int saved = omp_get_max_threads();
    for (int threads : {1, 2, 3, 7}) {
        INFO("threads=" << threads);
        omp_set_num_threads(threads);
        CHECK(same(run(), first));
    }
    // A C too short to split by rows is split by columns, differently for
    // each thread count; the bits must not change.
    const int M = 5, Ncols = 1500, K = 300;  // B is dout read as (1500, 300)
    std::vector<float> C_one((size_t)M * Ncols);
    omp_set_num_threads(1);
    gemm(false, true, M, Ncols, K, 1.0f, inp.data(), K, dout.data(), K, 0.0f, C_one.data(), Ncols);
    for (int threads : {2, 3, 7}) {
        INFO("threads=" << threads);
        omp_set_num_threads(threads);
        std::vector<float> C_many((size_t)M * Ncols);
        gemm(false, true, M, Ncols, K, 1.0f, inp.data(), K, dout.data(), K, 0.0f, C_many.data(),
             Ncols);
        CHECK(bitwise_equal(C_many, C_one));
    }
    // Called from inside a parallel region gemm runs serially, same bits.
    Result inside;
#pragma omp parallel num_threads(2)
    {
#pragma omp single
        inside = run();
    }
    CHECK(same(inside, first));
    // ... also when op(B) is packed in several panels, both along N and
    // along K (the serial path has its own loop over them), with edges.
    {
        const int m = 7, n = 600, k = 20000;
        auto A = random_vector<float>(rng, (size_t)m * k);
        auto Bm = random_vector<float>(rng, (size_t)k * n);
        omp_set_num_threads(2);
        // B is read as (k, n), or transposed as (n, k): each packs by its own branch
        for (bool transB : {false, true}) {
            INFO("transB=" << transB);
            const int ldb = transB ? k : n;
            std::vector<float> threaded((size_t)m * n, 0.5f), serial((size_t)m * n, 0.5f);
            gemm(false, transB, m, n, k, 1.0f, A.data(), k, Bm.data(), ldb, 0.5f, threaded.data(), n);
#pragma omp parallel num_threads(2)
            {
#pragma omp single
                gemm(false, transB, m, n, k, 1.0f, A.data(), k, Bm.data(), ldb, 0.5f, serial.data(), n);
            }
            CHECK(bitwise_equal(serial, threaded));
        }
    }
    omp_set_num_threads(saved);
#endif
}
