// Shared by the GPU parity tests (tests/cuda/): skipping when there is no
// GPU, comparing a GPU result with the CPU's, and deterministic random data.
//
// How the tests compare. A GPU result and the CPU's are two float
// computations of the same quantity that sum in different orders, so they
// agree to rounding, not bit for bit (cuda/gpu.h). The measure used
// everywhere is
//     relative difference = max_i |got_i - ref_i| / max_i |ref_i|
// i.e. the worst error in units of the array's largest value. Elementwise
// relative error would be meaningless where a value is the small difference
// of large terms (a gradient element that nearly cancels), and an absolute
// bound would depend on the scale of each tensor. A NaN or inf on either side
// that the other side does not have counts as an infinite difference, so it
// always fails.
#pragma once
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "gpu.h"
#include "model/model.h"
#include "study/measure.h"
#include "util/rng.h"

// Catch2 v2 has no SKIP: a test that needs the GPU and finds none says why in
// a warning (shown in the report, not a failure) and returns. Otherwise the
// GPU is (re)initialized with the default options (fp32 matmuls,
// deterministic), so a test never inherits a precision or determinism setting
// that an earlier test changed (or left behind when it failed).
#define REQUIRE_GPU_OR_SKIP()                                   \
    do {                                                        \
        std::string why_no_gpu_;                                \
        if (!gpu::available(&why_no_gpu_)) {                    \
            WARN("SKIPPED (no GPU): " << why_no_gpu_);          \
            return;                                             \
        }                                                       \
        gpu::init(gpu::Options());                              \
    } while (0)

namespace gpu_test {

// ---------------------------------------------------------------- options

// gpu::init with this matmul precision and determinism (device 0).
inline void set_options(gpu::Precision precision, bool deterministic = true) {
    gpu::Options o;
    o.precision = precision;
    o.deterministic = deterministic;
    gpu::init(o);
}

// Puts the default options (fp32, deterministic) back when it goes out of
// scope, also when a REQUIRE inside the scope fails and throws, so that the
// next test does not run in bf16 by accident.
struct RestoreDefaultOptions {
    RestoreDefaultOptions() = default;
    RestoreDefaultOptions(const RestoreDefaultOptions&) = delete;
    RestoreDefaultOptions& operator=(const RestoreDefaultOptions&) = delete;
    ~RestoreDefaultOptions() {
        try {
            gpu::init(gpu::Options());
        } catch (...) {  // a destructor must not throw; the next REQUIRE_GPU_OR_SKIP re-inits anyway
        }
    }
};

// ------------------------------------------------------------ random data

// n normal values, scale * N(0,1) + offset, from their own stream `seed`.
inline std::vector<float> random_floats(size_t n, uint64_t seed, double scale = 1.0, double offset = 0.0) {
    Rng r(seed);
    std::vector<float> v(n);
    for (auto& x : v) x = (float)(offset + scale * r.normal());
    return v;
}

// n token ids uniform in [0, V).
inline std::vector<int> random_tokens(size_t n, int V, uint64_t seed) {
    Rng r(seed);
    std::vector<int> v(n);
    for (auto& x : v) x = (int)r.below((uint64_t)V);
    return v;
}

// ------------------------------------------------------------- comparison

struct Comparison {
    double max_abs_diff = 0;  // inf when one side has a NaN or inf the other lacks
    double max_abs_ref = 0;
    size_t worst = 0;         // index of the largest difference
    double got_at_worst = 0, ref_at_worst = 0;
    // The difference in units of the reference's largest value; the plain
    // absolute difference when the reference is all zeros.
    double relative() const { return max_abs_ref > 0 ? max_abs_diff / max_abs_ref : max_abs_diff; }
};

inline Comparison compare(const float* got, const float* ref, size_t n) {
    Comparison c;
    if (n > 0) c.got_at_worst = got[0], c.ref_at_worst = ref[0];
    for (size_t i = 0; i < n; i++) {
        const double g = got[i], r = ref[i];
        double d;
        if (std::isfinite(g) && std::isfinite(r)) d = std::fabs(g - r);
        else if ((std::isnan(g) && std::isnan(r)) || g == r) d = 0;  // both NaN, or the same inf
        else d = INFINITY;
        if (std::isfinite(r)) c.max_abs_ref = std::max(c.max_abs_ref, std::fabs(r));
        if (d > c.max_abs_diff) {
            c.max_abs_diff = d;
            c.worst = i;
            c.got_at_worst = g;
            c.ref_at_worst = r;
        }
    }
    return c;
}

// CHECKs that `got` agrees with `ref` to `tolerance` (relative difference as
// above); the failure message names `what`, the worst element and both values.
// Returns whether it passed (the test goes on, so every failing tensor shows).
inline bool check_close(const std::string& what, const float* got, const float* ref, size_t n, double tolerance) {
    const Comparison c = compare(got, ref, n);
    std::ostringstream msg;
    msg.precision(9);
    msg << what << ": " << n << " elements, max |diff| " << c.max_abs_diff << " at [" << c.worst << "] (got "
        << c.got_at_worst << ", expected " << c.ref_at_worst << "), max |expected| " << c.max_abs_ref << ", relative "
        << c.relative();
    msg.precision(6);
    msg << ", tolerance " << tolerance;
    INFO(msg.str());
    const double relative = c.relative();
    CHECK(relative <= tolerance);
    return relative <= tolerance;
}
inline bool check_close(const std::string& what, const std::vector<float>& got, const std::vector<float>& ref,
                        double tolerance) {
    INFO(what);
    REQUIRE(got.size() == ref.size());
    return check_close(what, got.data(), ref.data(), got.size(), tolerance);
}

// CHECKs that two float arrays hold the same bits (memcmp: -0 != +0 and a
// NaN equals only the same NaN, as "bit for bit" means).
inline bool check_bitwise(const std::string& what, const float* a, const float* b, size_t n) {
    size_t first = n;
    for (size_t i = 0; i < n && first == n; i++)
        if (std::memcmp(a + i, b + i, sizeof(float)) != 0) first = i;
    std::ostringstream where;
    where.precision(9);
    if (first < n) where << ": first difference at [" << first << "]: " << a[first] << " vs " << b[first];
    INFO(what << ": " << n << " elements" << where.str());
    CHECK(first == n);
    return first == n;
}
inline bool check_bitwise(const std::string& what, const std::vector<float>& a, const std::vector<float>& b) {
    INFO(what);
    REQUIRE(a.size() == b.size());
    return check_bitwise(what, a.data(), b.data(), a.size());
}

// A scalar: |got - ref| <= tolerance * |ref| (absolute when ref == 0); NaN
// must meet NaN, and inf the same inf.
inline bool scalar_close(double got, double ref, double tolerance) {
    if (std::isnan(got) || std::isnan(ref)) return std::isnan(got) && std::isnan(ref);
    if (std::isinf(got) || std::isinf(ref)) return got == ref;
    return std::fabs(got - ref) <= tolerance * (ref != 0 ? std::fabs(ref) : 1.0);
}
inline bool check_scalar(const std::string& what, double got, double ref, double tolerance) {
    std::ostringstream msg;
    msg.precision(17);
    msg << what << ": got " << got << ", expected " << ref;
    msg.precision(6);
    msg << ", relative tolerance " << tolerance;
    INFO(msg.str());
    const bool ok = scalar_close(got, ref, tolerance);
    CHECK(ok);
    return ok;
}

// Every field of a measurement (src/study/measure.h) within `tolerance`
// (relative), NaN exactly where the reference has NaN; `what` names the
// matrix in the message.
inline void check_stats(const std::string& what, const MatrixStats& got, const MatrixStats& ref, double tolerance) {
    static const std::pair<const char*, double MatrixStats::*> fields[] = {
        {"w_norm", &MatrixStats::w_norm},
        {"dw_norm", &MatrixStats::dw_norm},
        {"x_norm", &MatrixStats::x_norm},
        {"wx_norm", &MatrixStats::wx_norm},
        {"dwx_norm", &MatrixStats::dwx_norm},
        {"rel_update", &MatrixStats::rel_update},
        {"rrc", &MatrixStats::rrc},
        {"alpha_w", &MatrixStats::alpha_w},
        {"alpha_dw", &MatrixStats::alpha_dw},
        {"alignment_ratio", &MatrixStats::alignment_ratio},
        {"w_rms", &MatrixStats::w_rms},
        {"u_rms", &MatrixStats::u_rms},
        {"w_rms_equilibrium", &MatrixStats::w_rms_equilibrium},
        {"rel_update_equilibrium", &MatrixStats::rel_update_equilibrium},
        {"angular_update", &MatrixStats::angular_update},
        {"angular_equilibrium", &MatrixStats::angular_equilibrium},
    };
    static_assert(sizeof(MatrixStats) == sizeof(fields) / sizeof(fields[0]) * sizeof(double),
                  "a MatrixStats field is missing from the list above");
    for (const auto& field : fields)
        check_scalar(what + ": " + field.first, got.*field.second, ref.*field.second, tolerance);
}

// The key third of each c_attn bias adds the same number to all of a query's
// attention logits, which softmax ignores: its exact gradient is 0, and what
// either side computes there is rounding noise (see src/study/reference.cpp).
// Adam turns that noise into steps of up to lr, different on each side, so
// those entries are not comparable after training; this copies them from
// `from`.
inline void copy_key_biases(const GPT<float>& model, const std::vector<float>& from, std::vector<float>& to) {
    const size_t C = (size_t)model.config.width;
    for (const BlockOffsets& b : model.blocks)
        if (b.qkv_b >= 0)
            std::copy(from.begin() + b.qkv_b + C, from.begin() + b.qkv_b + 2 * C, to.begin() + b.qkv_b + C);
}

// CHECKs trained parameters `got` against `ref` tensor by tensor (each
// relative to its own largest entry, so a small tensor is not hidden behind a
// large one), after copying the key biases from `ref` (above).
inline void check_trained_params(const GPT<float>& model, std::vector<float> got, const std::vector<float>& ref,
                                 double tolerance) {
    REQUIRE(got.size() == ref.size());
    copy_key_biases(model, ref, got);
    for (const TensorInfo& t : model.table.tensors)
        check_close("trained " + t.name, got.data() + t.offset, ref.data() + t.offset, t.numel, tolerance);
}

}  // namespace gpu_test
