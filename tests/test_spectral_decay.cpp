// Spectral-norm weight decay (src/optim/spectral_decay.h) on matrices whose
// SVD is known: W = U diag(s) V^T from random orthonormal U, V (Gram-Schmidt
// in double) and distinct singular values. The singular values after a step
// are computed here independently, as the square roots of the eigenvalues of
// the smaller Gram matrix (W^T W or W W^T) by a Jacobi eigen-solver.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "optim/spectral_decay.h"
#include "util/rng.h"

using Catch::Matchers::Contains;

namespace {

using Matrix = std::vector<double>;  // row-major

// (n, k), k <= n, with orthonormal columns: Gram-Schmidt on normal columns,
// each projection done twice so the columns are orthogonal to rounding.
Matrix random_orthonormal(size_t n, size_t k, Rng& rng) {
    Matrix Q(n * k);
    for (auto& x : Q) x = rng.normal();
    for (size_t c = 0; c < k; c++) {
        for (int pass = 0; pass < 2; pass++)
            for (size_t prev = 0; prev < c; prev++) {
                double dot = 0;
                for (size_t i = 0; i < n; i++) dot += Q[i * k + c] * Q[i * k + prev];
                for (size_t i = 0; i < n; i++) Q[i * k + c] -= dot * Q[i * k + prev];
            }
        double norm = 0;
        for (size_t i = 0; i < n; i++) norm += Q[i * k + c] * Q[i * k + c];
        for (size_t i = 0; i < n; i++) Q[i * k + c] /= std::sqrt(norm);
    }
    return Q;
}

// W = U diag(s) V^T, (fan_out, fan_in), rank s.size(); v1 = V's first column.
struct KnownSvd {
    int fan_out, fan_in;
    std::vector<double> s;
    Matrix W, v1;
};

KnownSvd known_svd(int fan_out, int fan_in, const std::vector<double>& s, uint64_t seed) {
    Rng rng(seed);
    const int r = (int)s.size();
    const Matrix U = random_orthonormal(fan_out, r, rng), V = random_orthonormal(fan_in, r, rng);
    KnownSvd k{fan_out, fan_in, s, Matrix((size_t)fan_out * fan_in, 0.0), Matrix(fan_in)};
    for (int i = 0; i < fan_out; i++)
        for (int j = 0; j < fan_in; j++)
            for (int c = 0; c < r; c++) k.W[(size_t)i * fan_in + j] += U[(size_t)i * r + c] * s[c] * V[(size_t)j * r + c];
    for (int j = 0; j < fan_in; j++) k.v1[j] = V[(size_t)j * r];
    return k;
}

// Eigenvalues of the symmetric A (n, n), largest first: cyclic Jacobi rotations.
std::vector<double> jacobi_eigenvalues(Matrix A, int n) {
    auto at = [&](int i, int j) -> double& { return A[(size_t)i * n + j]; };
    for (int sweep = 0; sweep < 100; sweep++) {
        double off = 0, all = 0;
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) (i == j ? all : off) += at(i, j) * at(i, j);
        if (off <= 1e-34 * (all + off)) break;
        for (int p = 0; p < n; p++)
            for (int q = p + 1; q < n; q++) {
                if (at(p, q) == 0) continue;
                // the rotation that zeroes A[p][q] (Numerical Recipes' jacobi)
                const double theta = (at(q, q) - at(p, p)) / (2 * at(p, q));
                const double t = (theta >= 0 ? 1.0 : -1.0) / (std::fabs(theta) + std::sqrt(theta * theta + 1));
                const double c = 1 / std::sqrt(t * t + 1), s = t * c;
                for (int k = 0; k < n; k++) {
                    const double kp = at(k, p), kq = at(k, q);
                    at(k, p) = c * kp - s * kq;
                    at(k, q) = s * kp + c * kq;
                }
                for (int k = 0; k < n; k++) {
                    const double pk = at(p, k), qk = at(q, k);
                    at(p, k) = c * pk - s * qk;
                    at(q, k) = s * pk + c * qk;
                }
            }
    }
    std::vector<double> e(n);
    for (int i = 0; i < n; i++) e[i] = at(i, i);
    std::sort(e.rbegin(), e.rend());
    return e;
}

// Singular values of W (fan_out, fan_in), largest first, min(fan_out, fan_in) of them.
template <typename T>
std::vector<double> singular_values(const std::vector<T>& W, int fan_out, int fan_in) {
    const bool by_columns = fan_in <= fan_out;  // the smaller Gram matrix: W^T W or W W^T
    const int n = by_columns ? fan_in : fan_out, len = by_columns ? fan_out : fan_in;
    auto w = [&](int a, int k) { return (double)(by_columns ? W[(size_t)k * fan_in + a] : W[(size_t)a * fan_in + k]); };
    Matrix G((size_t)n * n);
    for (int a = 0; a < n; a++)
        for (int b = 0; b < n; b++)
            for (int k = 0; k < len; k++) G[(size_t)a * n + b] += w(a, k) * w(b, k);
    std::vector<double> s = jacobi_eigenvalues(G, n);
    for (double& x : s) x = std::sqrt(std::max(0.0, x));
    return s;
}

// |<v, v1>| / ||v||: 1 when v is +-v1.
template <typename T>
double alignment(const std::vector<T>& v, const Matrix& v1) {
    double dot = 0, norm = 0;
    for (size_t j = 0; j < v.size(); j++) dot += (double)v[j] * v1[j], norm += (double)v[j] * v[j];
    return std::fabs(dot) / std::sqrt(norm);
}

template <typename T>
std::vector<T> cast(const Matrix& x) {
    return std::vector<T>(x.begin(), x.end());
}

template <typename T>
bool same_bits(const std::vector<T>& a, const std::vector<T>& b) {
    return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0;
}

const std::vector<double> SIGMAS = {3, 2, 1.5, 1, 0.5};
struct Shape {
    int fan_out, fan_in;
};
const Shape SHAPES[] = {{17, 5}, {6, 23}, {40, 31}};  // tall, wide, rank 5 of 31

}  // namespace

TEST_CASE("the test's Jacobi solver finds the singular values W was built with", "[spectral]") {
    for (Shape sh : SHAPES) {
        const KnownSvd k = known_svd(sh.fan_out, sh.fan_in, SIGMAS, 1);
        const std::vector<double> s = singular_values(k.W, sh.fan_out, sh.fan_in);
        for (size_t i = 0; i < s.size(); i++) REQUIRE(s[i] == Approx(i < SIGMAS.size() ? SIGMAS[i] : 0).margin(1e-7));
        for (size_t i = 0; i < SIGMAS.size(); i++) REQUIRE(s[i] == Approx(SIGMAS[i]).epsilon(1e-13));
    }
}

// Converged v (the gap (2/3)^2 per iteration: 60 iterations reach double's
// rounding): sigma1 -> (1 - d) sigma1 and the rest stay (compared squared,
// in units of sigma1^2), to 1e-13 in double and 2e-7 in float. Measured:
// 2.2e-15 in double; 1.8e-8 in float (W's entries and v rounded to float).
TEMPLATE_TEST_CASE("spectral_decay shrinks the top singular value alone", "[spectral]", double, float) {
    const double d = 0.1, tolerance = sizeof(TestType) == 8 ? 1e-13 : 2e-7;
    for (Shape sh : SHAPES) {
        INFO(sh.fan_out << " x " << sh.fan_in);
        const KnownSvd k = known_svd(sh.fan_out, sh.fan_in, SIGMAS, 2);
        std::vector<TestType> W = cast<TestType>(k.W), v(sh.fan_in, 0);
        const double sigma = spectral_decay(W.data(), sh.fan_out, sh.fan_in, v.data(), d, 1, 60);
        CHECK(sigma == Approx(3.0).epsilon(tolerance));
        CHECK(alignment(v, k.v1) == Approx(1.0).epsilon(tolerance));
        const std::vector<double> s = singular_values(W, sh.fan_out, sh.fan_in);
        CHECK(s[0] == Approx(3.0 * (1 - d)).margin(3.0 * tolerance));
        for (size_t i = 1; i < s.size(); i++) {
            // squared: the square root of a Gram eigenvalue that should be 0 is sqrt(rounding)
            const double expected = i < SIGMAS.size() ? SIGMAS[i] : 0;
            INFO("singular value " << i << ": " << s[i]);
            CHECK(s[i] * s[i] == Approx(expected * expected).margin(9.0 * tolerance));
        }
    }
}

// Power iteration on W^T W: tan(angle to v1) shrinks by at least
// (s2/s1)^2 = 4/9 per iteration (exact arithmetic; 1e-15 for rounding), so
// one iteration per call, warm-started from the last call, converges.
TEST_CASE("power iteration warm-started with one iteration per call converges to +-v1", "[spectral]") {
    for (Shape sh : SHAPES) {
        INFO(sh.fan_out << " x " << sh.fan_in);
        const KnownSvd k = known_svd(sh.fan_out, sh.fan_in, SIGMAS, 3);
        std::vector<double> v(sh.fan_in, 0);
        Rng rng(4);
        for (double& x : v) x = rng.normal();  // a warm start far from v1
        auto tangent = [&] {  // |v's part across v1| / |its part along v1|, without 1 - cos^2's cancellation
            double along = 0, across = 0;
            for (int j = 0; j < sh.fan_in; j++) along += v[j] * k.v1[j];
            for (int j = 0; j < sh.fan_in; j++) across += std::pow(v[j] - along * k.v1[j], 2);
            return std::sqrt(across) / std::fabs(along);
        };
        double tan_before = tangent(), sigma = 0;
        for (int call = 0; call < 45; call++) {
            sigma = power_iteration(k.W.data(), sh.fan_out, sh.fan_in, v.data(), 1, 1000);  // 1000 unused: v != 0
            const double tan_after = tangent();
            INFO("call " << call << " tan " << tan_before << " -> " << tan_after);
            REQUIRE(tan_after <= 4.0 / 9.0 * tan_before + 1e-15);
            tan_before = tan_after;
        }
        CHECK(alignment(v, k.v1) == Approx(1.0).epsilon(1e-14));
        CHECK(sigma == Approx(3.0).epsilon(1e-14));
        double norm = 0;
        for (double x : v) norm += x * x;
        CHECK(norm == Approx(1.0).epsilon(1e-14));
    }
}

TEST_CASE("power iteration from no vector yet starts at ones / sqrt(fan_in) with first_iters", "[spectral]") {
    const KnownSvd k = known_svd(17, 5, SIGMAS, 5);
    std::vector<double> fresh(5, 0.0), warm(5, 1 / std::sqrt(5.0));
    const double a = power_iteration(k.W.data(), 17, 5, fresh.data(), 1, 7);
    const double b = power_iteration(k.W.data(), 17, 5, warm.data(), 7);
    CHECK(a == b);
    CHECK(same_bits(fresh, warm));
    // the defaults: 10 iterations when fresh, so the second call differs from the first
    std::vector<double> v10(5, 0.0);
    power_iteration(k.W.data(), 17, 5, v10.data(), 1);
    CHECK(!same_bits(v10, fresh));
    // W = 0: no direction to find, v stays at the start and sigma is 0
    std::vector<double> zero(17 * 5, 0.0), v(5, 0.0);
    CHECK(power_iteration(zero.data(), 17, 5, v.data(), 3) == 0.0);
    for (double x : v) CHECK(x == 1 / std::sqrt(5.0));
    CHECK(spectral_decay(zero.data(), 17, 5, v.data(), 0.5, 3) == 0.0);
    for (double x : zero) CHECK(x == 0.0);
}

TEST_CASE("spectral decay fails on no iterations, empty matrices and a decay outside [0, 1]", "[spectral]") {
    std::vector<float> W(12, 1.0f), v(4, 0.0f);
    REQUIRE_THROWS_WITH(power_iteration(W.data(), 3, 4, v.data(), 0),
                        Contains("power_iteration") && Contains("at least 1 iteration") && Contains("iters 0"));
    REQUIRE_THROWS_WITH(power_iteration(W.data(), 3, 4, v.data(), 1, 0), Contains("first_iters 0"));
    REQUIRE_THROWS_WITH(spectral_decay(W.data(), 3, 4, v.data(), 0.1, 0), Contains("at least 1 iteration"));
    // also when this step's decay is 0, so a bad setting shows in the first step
    REQUIRE_THROWS_WITH(spectral_decay(W.data(), 3, 4, v.data(), 0.0, 0), Contains("at least 1 iteration"));
    REQUIRE_THROWS_WITH(power_iteration(W.data(), 0, 4, v.data(), 1), Contains("at least one row and column"));
    REQUIRE_THROWS_WITH(spectral_decay(W.data(), 3, -1, v.data(), 0.1, 1), Contains("3 x -1"));
    REQUIRE_THROWS_WITH(spectral_decay(W.data(), 3, 4, v.data(), -0.1, 1), Contains("must be in [0, 1]"));
    REQUIRE_THROWS_WITH(spectral_decay(W.data(), 3, 4, v.data(), 1.5, 1), Contains("must be in [0, 1]"));
    REQUIRE_THROWS_WITH(spectral_decay(W.data(), 3, 4, v.data(), NAN, 1), Contains("must be in [0, 1]"));
    for (float x : v) CHECK(x == 0.0f);  // nothing touched on the way
    for (float x : W) CHECK(x == 1.0f);
}

TEMPLATE_TEST_CASE("spectral decay with d = 0 leaves W and v as they are", "[spectral]", double, float) {
    const KnownSvd k = known_svd(6, 23, SIGMAS, 6);
    for (double start : {0.0, 0.3}) {
        std::vector<TestType> W = cast<TestType>(k.W), v(23, (TestType)start);
        const std::vector<TestType> W0 = W, v0 = v;
        CHECK(spectral_decay(W.data(), 6, 23, v.data(), 0.0, 5) == 0.0);
        CHECK(same_bits(W, W0));
        CHECK(same_bits(v, v0));
    }
}

// Three steps from the same float-representable W and a fresh v: the float
// run follows the double run to float rounding (2^-24 = 6e-8). Measured: W
// within 1.1e-7 of its largest entry, v within 1.9e-8, sigma within 2.1e-8
// (relative); bounds 5e-7, 2e-7, 2e-7.
TEST_CASE("spectral decay in float agrees with double to float rounding", "[spectral]") {
    for (Shape sh : {Shape{17, 5}, Shape{6, 23}, Shape{300, 200}}) {  // long sums: a float sum would show
        INFO(sh.fan_out << " x " << sh.fan_in);
        const KnownSvd k = known_svd(sh.fan_out, sh.fan_in, SIGMAS, 7);
        std::vector<float> Wf = cast<float>(k.W), vf(sh.fan_in, 0.0f);
        std::vector<double> Wd(Wf.begin(), Wf.end()), vd(sh.fan_in, 0.0);
        for (int step = 0; step < 3; step++) {
            INFO("step " << step);
            const double sf = spectral_decay(Wf.data(), sh.fan_out, sh.fan_in, vf.data(), 0.05, 2);
            const double sd = spectral_decay(Wd.data(), sh.fan_out, sh.fan_in, vd.data(), 0.05, 2);
            CHECK(sf == Approx(sd).epsilon(2e-7));
            double w_diff = 0, w_max = 0, v_diff = 0;
            for (size_t i = 0; i < Wd.size(); i++)
                w_diff = std::max(w_diff, std::fabs(Wf[i] - Wd[i])), w_max = std::max(w_max, std::fabs(Wd[i]));
            for (size_t j = 0; j < vd.size(); j++) v_diff = std::max(v_diff, std::fabs(vf[j] - vd[j]));
            CHECK(w_diff <= 5e-7 * w_max);
            CHECK(v_diff <= 2e-7);
        }
    }
}

// What a resumed run relies on: from saved copies of W and v the next step
// repeats bit for bit, whatever the number of OpenMP threads (a matrix large
// enough to be split among threads).
TEMPLATE_TEST_CASE("spectral decay repeats bit for bit from a saved v", "[spectral]", double, float) {
    const int fan_out = 300, fan_in = 260;
    Rng rng(8);
    std::vector<TestType> W((size_t)fan_out * fan_in), v(fan_in, 0);
    for (auto& x : W) x = (TestType)rng.normal();
    spectral_decay(W.data(), fan_out, fan_in, v.data(), 0.01, 1);  // a first step: v is warm now
    const std::vector<TestType> W_saved = W, v_saved = v;
    const double sigma = spectral_decay(W.data(), fan_out, fan_in, v.data(), 0.01, 2);
    const std::vector<TestType> W_next = W, v_next = v;
    CHECK(!same_bits(v_next, v_saved));  // the step did move v, so the comparison below means something
#ifdef _OPENMP
    const int saved_threads = omp_get_max_threads();
    for (int threads : {1, 2, 3}) {
        omp_set_num_threads(threads);
#else
    for (int threads : {1}) {
#endif
        INFO("threads " << threads);
        W = W_saved;
        v = v_saved;
        CHECK(spectral_decay(W.data(), fan_out, fan_in, v.data(), 0.01, 2) == sigma);
        CHECK(same_bits(W, W_next));
        CHECK(same_bits(v, v_next));
    }
#ifdef _OPENMP
    omp_set_num_threads(saved_threads);
#endif
}
