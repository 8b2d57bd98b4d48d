// lrt compare: the F16/BF16 conversions against known bit patterns, the
// comparison rule on small synthetic files, and the command as a user runs it
// on a committed reference state.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "io/dtype_convert.h"
#include "io/safetensors.h"
#include "study/compare.h"
#include "test_helpers.h"

using Catch::Contains;

static const double INF = std::numeric_limits<double>::infinity();

static uint32_t bits_of(float f) {
    uint32_t b;
    std::memcpy(&b, &f, 4);
    return b;
}

// ---------------------------------------------------------------------------
// conversions
// ---------------------------------------------------------------------------

TEST_CASE("compare: F16 bit patterns convert exactly", "[compare]") {
    CHECK(f16_to_float(0x3C00) == 1.0f);
    CHECK(f16_to_float(0xC000) == -2.0f);
    CHECK(f16_to_float(0x3555) == 0.333251953125f);  // nearest half to 1/3
    CHECK(f16_to_float(0x3BFF) == 0.99951171875f);   // just below 1
    CHECK(f16_to_float(0x5640) == 100.0f);
    CHECK(f16_to_float(0x7BFF) == 65504.0f);         // largest finite
    CHECK(f16_to_float(0x0400) == std::ldexp(1.0f, -14));           // smallest normal
    CHECK(f16_to_float(0x03FF) == std::ldexp(1023.0f, -24));        // largest subnormal
    CHECK(f16_to_float(0x0001) == std::ldexp(1.0f, -24));           // smallest subnormal
    CHECK(f16_to_float(0x8001) == -std::ldexp(1.0f, -24));
    CHECK(bits_of(f16_to_float(0x0000)) == 0x00000000u);            // +0
    CHECK(bits_of(f16_to_float(0x8000)) == 0x80000000u);            // -0 keeps its sign
    CHECK(f16_to_float(0x7C00) == std::numeric_limits<float>::infinity());
    CHECK(f16_to_float(0xFC00) == -std::numeric_limits<float>::infinity());
    CHECK(std::isnan(f16_to_float(0x7E00)));                        // quiet NaN
    CHECK(std::isnan(f16_to_float(0x7C01)));                        // signalling NaN, smallest payload
    CHECK(std::isnan(f16_to_float(0xFFFF)));
    CHECK(bits_of(f16_to_float(0x7E00)) == 0x7FC00000u);            // payload moves to the top fraction bits
}

// Every one of the 65536 patterns against the definition, computed another
// way: (-1)^s x fraction x 2^(exponent - 25) with the hidden bit, or
// fraction x 2^-24 for subnormals.
TEST_CASE("compare: every F16 pattern matches the format's definition", "[compare]") {
    int mismatches = 0;
    for (uint32_t b = 0; b < 65536; b++) {
        const int sign = b >> 15, exponent = (b >> 10) & 31, fraction = b & 1023;
        const float got = f16_to_float((uint16_t)b);
        if (exponent == 31) {
            mismatches += fraction ? !std::isnan(got) : got != (sign ? -INF : INF);
            continue;
        }
        double expected = exponent == 0 ? std::ldexp((double)fraction, -24)
                                         : std::ldexp((double)(1024 + fraction), exponent - 25);
        if (sign) expected = -expected;
        mismatches += (double)got != expected || std::signbit(got) != (sign == 1);
    }
    CHECK(mismatches == 0);
}

TEST_CASE("compare: BF16 is the upper half of a float32", "[compare]") {
    CHECK(bf16_to_float(0x3F80) == 1.0f);
    CHECK(bf16_to_float(0xC000) == -2.0f);
    CHECK(bf16_to_float(0x4049) == 3.140625f);          // pi, truncated to 8 bits of precision
    CHECK(bf16_to_float(0x7F7F) == 3.3895313892515355e38f);  // largest finite
    CHECK(bf16_to_float(0x0080) == std::ldexp(1.0f, -126));  // smallest normal
    CHECK(bf16_to_float(0x0001) == std::ldexp(1.0f, -133));  // smallest subnormal
    CHECK(bits_of(bf16_to_float(0x8000)) == 0x80000000u);
    CHECK(bf16_to_float(0x7F80) == std::numeric_limits<float>::infinity());
    CHECK(bf16_to_float(0xFF80) == -std::numeric_limits<float>::infinity());
    CHECK(std::isnan(bf16_to_float(0x7FC0)));
    for (uint32_t b = 0; b < 65536; b += 257) CHECK(bits_of(bf16_to_float((uint16_t)b)) == b << 16);
}

TEST_CASE("compare: F16 and BF16 tensors load from a file and read as numbers", "[compare]") {
    TempDir dir;
    const uint16_t half[4] = {0x3C00, 0xC000, 0x0001, 0x7C00};   // 1, -2, 2^-24, inf
    const uint16_t brain[3] = {0x3F80, 0x4049, 0xFF80};          // 1, 3.140625, -inf
    SafeTensors st;
    st.add_raw("h", Dtype::F16, {2, 2}, half);
    st.add_raw("b", Dtype::BF16, {3}, brain);
    const int64_t ids[2] = {-(int64_t(1) << 40), 63};
    st.add("ids", {2}, ids);
    save_safetensors(dir.file("half.safetensors"), st);

    SafeTensors back = load_safetensors(dir.file("half.safetensors"));
    CHECK(back.get("h").dtype == Dtype::F16);
    CHECK(back.get("b").dtype == Dtype::BF16);
    CHECK(tensor_as_doubles(back.get("h")) == std::vector<double>{1, -2, std::ldexp(1.0, -24), INF});
    CHECK(tensor_as_doubles(back.get("b")) == std::vector<double>{1, 3.140625, -INF});
    CHECK(tensor_as_doubles(back.get("ids")) == std::vector<double>{-1099511627776.0, 63});
    CHECK(dtype_is_integer(Dtype::I64));
    CHECK_FALSE(dtype_is_integer(Dtype::BF16));
    // no C++ type stands for a half: asking for floats names the dtype
    CHECK_THROWS_WITH(back.read_vector<float>("h"), Contains("has dtype F16, expected F32"));
}

// ---------------------------------------------------------------------------
// the comparison
// ---------------------------------------------------------------------------

static SafeTensors one_tensor(const std::string& name, std::vector<int64_t> shape, const std::vector<double>& v) {
    SafeTensors st;
    st.add(name, std::move(shape), v.data());
    return st;
}

// The single tensor's comparison under the given tolerances.
static TensorComparison compare_one(const std::vector<double>& ref, const std::vector<double>& theirs,
                                    double atol, double rtol) {
    CompareOptions o;
    o.atol = atol;
    o.rtol = rtol;
    const int64_t n = (int64_t)ref.size();
    CompareResult r = compare_safetensors(one_tensor("x", {n}, ref), one_tensor("x", {n}, theirs), o);
    REQUIRE(r.tensors.size() == 1);
    return r.tensors[0];
}

TEST_CASE("compare: equal files pass; one perturbed element fails, named", "[compare]") {
    std::vector<double> ref(12);
    for (int i = 0; i < 12; i++) ref[i] = 0.5 * (i + 1);  // 0.5 .. 6
    SafeTensors a = one_tensor("w", {3, 4}, ref);

    CompareResult same = compare_safetensors(a, a, CompareOptions());
    REQUIRE(same.tensors.size() == 1);
    CHECK(same.tensors[0].passed);
    CHECK_FALSE(same.tensors[0].has_worst);
    CHECK(same.tensors[0].max_abs == 0);
    CHECK(same.ok());

    std::vector<double> theirs = ref;
    theirs[9] += 0.25;   // [2, 1], ref 5
    theirs[3] += 1e-5;   // [0, 3], ref 2: inside the default tolerance
    CompareResult r = compare_safetensors(a, one_tensor("w", {3, 4}, theirs), CompareOptions());
    const TensorComparison& t = r.tensors[0];
    CHECK_FALSE(t.passed);
    CHECK_FALSE(r.ok());
    CHECK(r.failed() == 1);
    CHECK(t.compared == 12);
    CHECK(t.outside == 1);
    CHECK(t.worst == 9);
    CHECK(multi_index(t.worst, t.ref_shape) == "[2, 1]");
    CHECK(t.worst_ref == 5.0);
    CHECK(t.worst_theirs == 5.25);
    CHECK(t.max_abs == 0.25);
    CHECK(t.max_rel == 0.25 / 5.0);
}

TEST_CASE("compare: the worst element is the one furthest outside its tolerance", "[compare]") {
    // index 0 differs more in absolute terms, index 1 relative to its tolerance
    TensorComparison t = compare_one({1000, 1}, {1000.5, 1.25}, 0, 1e-3);
    CHECK(t.outside == 1);
    CHECK(t.max_abs == 0.5);
    CHECK(t.worst == 1);
    // with every element inside, it is the one closest to its bound
    t = compare_one({1000, 1}, {1000.5, 1.0001}, 0, 1e-3);
    CHECK(t.passed);
    CHECK(t.worst == 0);
}

TEST_CASE("compare: |theirs - ref| <= atol + rtol |ref| holds at the boundary", "[compare]") {
    // 0.25 + 0.5 x |ref| with ref = +-1: a bound of exactly 0.75 (all exact in binary)
    CHECK(compare_one({1}, {1.75}, 0.25, 0.5).passed);
    CHECK(compare_one({1}, {0.25}, 0.25, 0.5).passed);
    CHECK(compare_one({-1}, {-1.75}, 0.25, 0.5).passed);
    CHECK_FALSE(compare_one({1}, {std::nextafter(1.75, 2.0)}, 0.25, 0.5).passed);
    CHECK_FALSE(compare_one({-1}, {std::nextafter(-1.75, -2.0)}, 0.25, 0.5).passed);
    // rtol scales with the reference, not with theirs: ref 0.25, theirs 1 is 0.75 away, bound 0.375
    CHECK_FALSE(compare_one({0.25}, {1}, 0.25, 0.5).passed);
    CHECK(compare_one({1}, {0.25}, 0.25, 0.5).passed);
    // ref 0: atol alone decides, and the relative difference leaves it out
    TensorComparison zero = compare_one({0, 2}, {0.25, 2}, 0.25, 0.5);
    CHECK(zero.passed);
    CHECK(zero.max_abs == 0.25);
    CHECK(zero.max_rel == 0);
    CHECK_FALSE(compare_one({0}, {std::nextafter(0.25, 1.0)}, 0.25, 0.5).passed);
    // tolerances of 0 ask for equality; -0 equals +0
    CHECK(compare_one({0.0, 3}, {-0.0, 3}, 0, 0).passed);
    CHECK_FALSE(compare_one({3}, {std::nextafter(3.0, 4.0)}, 0, 0).passed);
}

TEST_CASE("compare: NaN and infinity rules", "[compare]") {
    const double nan = std::numeric_limits<double>::quiet_NaN();
    TensorComparison both = compare_one({1, nan, 3}, {1, nan, 3}, 0, 0);
    CHECK(both.passed);
    CHECK(both.nan_mismatches == 0);

    TensorComparison theirs_nan = compare_one({1, 2, 3}, {1, nan, 3}, 1, 1);
    CHECK_FALSE(theirs_nan.passed);
    CHECK(theirs_nan.nan_mismatches == 1);
    CHECK(theirs_nan.worst == 1);
    CHECK(theirs_nan.max_abs == 0);  // NaN is not a difference size

    TensorComparison ref_nan = compare_one({nan, 2}, {1, 2}, 1, 1);
    CHECK_FALSE(ref_nan.passed);
    CHECK(ref_nan.worst == 0);

    // NaN in both, but at different places: both places fail
    CHECK(compare_one({nan, 2}, {1, nan}, 1, 1).outside == 2);

    CHECK(compare_one({INF, -INF}, {INF, -INF}, 0, 0).passed);
    CHECK_FALSE(compare_one({INF}, {-INF}, 1, 1).passed);
    CHECK_FALSE(compare_one({INF}, {1e308}, 1, 1).passed);  // inf - 1e308 is inf, never inside
    CHECK_FALSE(compare_one({1e308}, {INF}, 1, 1).passed);
}

TEST_CASE("compare: shapes must match; dtypes may differ; integers exactly", "[compare]") {
    const std::vector<double> v = {1, 2, 3, 4, 5, 6};
    CompareResult r = compare_safetensors(one_tensor("w", {2, 3}, v), one_tensor("w", {3, 2}, v), CompareOptions());
    REQUIRE(r.tensors.size() == 1);
    CHECK(r.tensors[0].shape_mismatch);
    CHECK_FALSE(r.tensors[0].passed);
    CHECK(r.tensors[0].their_shape == std::vector<int64_t>{3, 2});
    CHECK_FALSE(r.ok());

    // F32 reference against F16 and BF16 copies of exactly representable values
    const float f[3] = {1.0f, -2.0f, 0.5f};
    const uint16_t h[3] = {0x3C00, 0xC000, 0x3800}, b[3] = {0x3F80, 0xC000, 0x3F00};
    SafeTensors ref, half, brain;
    ref.add("w", {3}, f);
    half.add_raw("w", Dtype::F16, {3}, h);
    brain.add_raw("w", Dtype::BF16, {3}, b);
    CompareOptions exact;
    exact.atol = exact.rtol = 0;
    CHECK(compare_safetensors(ref, half, exact).ok());
    CHECK(compare_safetensors(ref, brain, exact).ok());
    CHECK(compare_safetensors(ref, half, exact).tensors[0].their_dtype == Dtype::F16);

    // token ids: equal, whatever the tolerances
    const int64_t ids[2] = {1000, 7}, off[2] = {1001, 7};
    const float as_float[2] = {1000.0f, 7.0f};
    SafeTensors a, b2, c;
    a.add("inputs", {2}, ids);
    b2.add("inputs", {2}, off);
    c.add("inputs", {2}, as_float);
    CompareOptions loose;
    loose.rtol = 0.1;
    loose.atol = 10;
    CompareResult ints = compare_safetensors(a, b2, loose);
    CHECK(ints.tensors[0].exact);
    CHECK_FALSE(ints.ok());
    CHECK(compare_safetensors(a, c, loose).ok());
}

TEST_CASE("compare: missing tensors fail, extra ones are listed", "[compare]") {
    const std::vector<double> v = {1, 2};
    SafeTensors ref, theirs;
    ref.add("a", {2}, v.data());
    ref.add("b", {2}, v.data());
    theirs.add("a", {2}, v.data());
    theirs.add("c", {2}, v.data());

    CompareResult r = compare_safetensors(ref, theirs, CompareOptions());
    CHECK(r.tensors.size() == 1);
    CHECK(r.passed() == 1);
    CHECK(r.failed() == 0);
    CHECK(r.missing == std::vector<std::string>{"b"});
    CHECK(r.extra == std::vector<std::string>{"c"});
    CHECK_FALSE(r.ok());

    // extra tensors alone do not fail
    CompareResult extra_only = compare_safetensors(theirs, ref, CompareOptions());
    CHECK(extra_only.missing == std::vector<std::string>{"c"});
    CompareResult more = compare_safetensors(one_tensor("a", {2}, v), theirs, CompareOptions());
    CHECK(more.extra == std::vector<std::string>{"c"});
    CHECK(more.ok());
}

TEST_CASE("compare: the key third of a fused attention bias is left out", "[compare]") {
    // [q; k; v] with C = 2: elements 2 and 3 are the key bias
    const std::vector<double> ref = {1, 2, 0, 0, 5, 6}, theirs = {1, 2, 0.3, -0.7, 5, 6};
    const std::string name = "final.transformer.h.0.attn.c_attn.bias";
    CompareOptions o;
    CompareResult r = compare_safetensors(one_tensor(name, {6}, ref), one_tensor(name, {6}, theirs), o);
    CHECK(r.ok());
    CHECK(r.tensors[0].skip_begin == 2);
    CHECK(r.tensors[0].skip_end == 4);
    CHECK(r.tensors[0].compared == 4);

    o.skip_key_bias = false;
    r = compare_safetensors(one_tensor(name, {6}, ref), one_tensor(name, {6}, theirs), o);
    CHECK_FALSE(r.ok());
    CHECK(r.tensors[0].worst == 3);

    // other names, and shapes that are not 3C, are compared in full
    size_t begin, end;
    CHECK(key_bias_slice("grad.transformer.h.1.attn.c_attn.bias", {96}, &begin, &end));
    CHECK((begin == 32 && end == 64));
    CHECK_FALSE(key_bias_slice("grad.transformer.h.1.attn.c_proj.bias", {96}, &begin, &end));
    CHECK_FALSE(key_bias_slice("grad.transformer.h.1.attn.c_attn.bias", {95}, &begin, &end));
    CHECK_FALSE(key_bias_slice("grad.transformer.h.1.attn.c_attn.bias", {3, 32}, &begin, &end));
    CHECK_FALSE(key_bias_slice("grad.transformer.h.1.attn.c_attn.weight", {96}, &begin, &end));
}

TEST_CASE("compare: --only patterns select tensors on both sides", "[compare]") {
    CHECK(name_selected("grad.lm_head.weight", {}));
    CHECK(name_selected("grad.lm_head.weight", {"grad.*"}));
    CHECK(name_selected("grad.transformer.h.0.attn.c_attn.bias", {"*.c_attn.*"}));
    CHECK(name_selected("loss", {"grad.*", "loss"}));
    CHECK(name_selected("losses", {"loss??"}));
    CHECK_FALSE(name_selected("final.lm_head.weight", {"grad.*", "loss"}));

    const std::vector<double> v = {1};
    SafeTensors ref, theirs;
    for (const char* n : {"grad.a", "grad.b", "final.a"}) ref.add(n, {1}, v.data());
    for (const char* n : {"grad.a", "grad.extra", "final.extra"}) theirs.add(n, {1}, v.data());
    CompareOptions o;
    o.only = {"grad.*"};
    CompareResult r = compare_safetensors(ref, theirs, o);
    CHECK(r.tensors.size() == 1);
    CHECK(r.missing == std::vector<std::string>{"grad.b"});
    CHECK(r.extra == std::vector<std::string>{"grad.extra"});
    CHECK(r.not_selected == std::vector<std::string>{"final.a"});
}

TEST_CASE("compare: multi-indices are row-major", "[compare]") {
    CHECK(multi_index(0, {}) == "[]");
    CHECK(multi_index(5, {8}) == "[5]");
    CHECK(multi_index(23, {2, 3, 4}) == "[1, 2, 3]");
    CHECK(multi_index(13, {2, 3, 4}) == "[1, 0, 1]");
    CHECK(multi_index(0, {2, 0, 4}) == "[0, 0, 0]");
}

// ---------------------------------------------------------------------------
// the command
// ---------------------------------------------------------------------------

static const char* COMMITTED = "data/reference/w32_mup-coupled.safetensors";

static CommandResult lrt_compare(const std::string& args) {
    CommandResult r = run_command(lrt_binary() + " compare " + args);
    INFO("lrt compare " << args << "\n" << r.output);
    REQUIRE_FALSE(r.crashed);
    return r;
}

TEST_CASE("lrt compare: a committed reference against itself passes", "[compare][cli]") {
    CommandResult r = lrt_compare(std::string(COMMITTED) + " " + COMMITTED);
    INFO(r.output);
    CHECK(r.exit_code == 0);
    CHECK_THAT(r.output, Contains("92 tensors compared, 92 passed, 0 failed, 0 missing, 0 extra, 0 skipped: PASS"));
    CHECK_THAT(r.output, Contains("PASS  final.lm_head.weight"));
    CHECK_THAT(r.output, Contains("(key bias [32, 64) not compared)"));
    CHECK_THAT(r.output, Contains("reference metadata: format=lrtransfer-reference"));
    CHECK_THAT(r.output, !Contains("FAIL  "));

    CommandResult quiet = lrt_compare(std::string("--quiet ") + COMMITTED + " " + COMMITTED);
    CHECK(quiet.exit_code == 0);
    CHECK(quiet.output == "92 tensors compared, 92 passed, 0 failed, 0 missing, 0 extra, 0 skipped: PASS\n");
}

TEST_CASE("lrt compare: a perturbed or incomplete copy fails, naming the tensor", "[compare][cli]") {
    TempDir dir;
    SafeTensors st = load_safetensors(COMMITTED);
    for (StTensor& t : st.tensors) {
        if (t.name != "grad.transformer.h.1.mlp.c_fc.weight") continue;
        float x;  // element [3, 5] = flat 101, moved by 1% of itself plus a bit
        std::memcpy(&x, t.bytes.data() + 4 * 101, 4);
        x = x * 1.01f + 1e-4f;
        std::memcpy(t.bytes.data() + 4 * 101, &x, 4);
    }
    save_safetensors(dir.file("perturbed.safetensors"), st);
    CommandResult r = lrt_compare(std::string(COMMITTED) + " " + dir.file("perturbed.safetensors"));
    CHECK(r.exit_code == 1);
    CHECK_THAT(r.output, Contains("FAIL  grad.transformer.h.1.mlp.c_fc.weight"));
    CHECK_THAT(r.output, Contains("worst #101 [3, 5]"));
    CHECK_THAT(r.output, Contains("(1 of 4096 outside)"));
    CHECK_THAT(r.output, Contains("92 tensors compared, 91 passed, 1 failed, 0 missing, 0 extra, 0 skipped: FAIL"));

    // the same, compared only where it matches, passes
    CommandResult only = lrt_compare("--only 'final.*,loss' " + std::string(COMMITTED) + " " +
                                     dir.file("perturbed.safetensors"));
    CHECK(only.exit_code == 0);
    CHECK_THAT(only.output, Contains("30 tensors compared, 30 passed, 0 failed, 0 missing, 0 extra, 62 skipped: PASS"));

    // a tensor removed and one added: missing fails, extra is a note
    SafeTensors cut = load_safetensors(COMMITTED);
    cut.tensors.erase(cut.tensors.begin() + 2);  // init.transformer.wte.weight
    const float one = 1;
    cut.add("my.extra", {}, &one);
    save_safetensors(dir.file("cut.safetensors"), cut);
    CommandResult m = lrt_compare(std::string(COMMITTED) + " " + dir.file("cut.safetensors"));
    CHECK(m.exit_code == 1);
    CHECK_THAT(m.output, Contains("MISSING  init.transformer.wte.weight"));
    CHECK_THAT(m.output, Contains("1 tensor only in") && Contains("my.extra"));
    CHECK_THAT(m.output, Contains("91 tensors compared, 91 passed, 0 failed, 1 missing, 1 extra, 0 skipped: FAIL"));

    // the shapes told apart
    SafeTensors reshaped = load_safetensors(COMMITTED);
    for (StTensor& t : reshaped.tensors)
        if (t.name == "logits") t.shape = {16, 64};
    save_safetensors(dir.file("reshaped.safetensors"), reshaped);
    CommandResult s = lrt_compare(std::string(COMMITTED) + " " + dir.file("reshaped.safetensors"));
    CHECK(s.exit_code == 1);
    CHECK_THAT(s.output, Contains("FAIL  logits") && Contains("shape mismatch: reference [2, 8, 64], theirs [16, 64]"));
}

TEST_CASE("lrt compare: bad input fails with a clear message", "[compare][cli]") {
    TempDir dir;
    write_file_atomic(dir.file("junk.safetensors"), std::string("not a safetensors file at all"));
    const std::string ref = COMMITTED;
    struct Case {
        std::string args, message;
    };
    for (const Case& c : std::vector<Case>{
             {ref + " " + dir.file("absent.safetensors"), "cannot open"},
             {ref + " " + dir.file("junk.safetensors"), "junk.safetensors: header length field"},
             {ref, "expected two files, REFERENCE and THEIRS, got 1"},
             {ref + " " + ref + " " + ref, "got 3"},
             {"--rtol -1 " + ref + " " + ref, "--rtol must be >= 0"},
             {"--atol x " + ref + " " + ref, "--atol expects a number"},
             {"--tolerance 1 " + ref + " " + ref, "unknown flag --tolerance"},
             {"--only 'nothing.*' " + ref + " " + ref, "--only nothing.* matches no tensor"}}) {
        CommandResult r = lrt_compare(c.args);
        INFO(c.args << "\n" << r.output);
        CHECK(r.exit_code == 1);
        CHECK_THAT(r.output, Contains("error: ") && Contains(c.message));
    }
    CommandResult help = lrt_compare("--help");
    CHECK(help.exit_code == 0);
    CHECK_THAT(help.output, Contains("usage: lrt compare") && Contains("atol + rtol * |ref|") &&
                                Contains("--rtol") && Contains("--atol") && Contains("--only") && Contains("--quiet"));
}
