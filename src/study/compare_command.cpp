// `lrt compare` (see compare_command.h): flags, loading, printing.
#include "study/compare_command.h"

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "io/safetensors.h"
#include "study/compare.h"
#include "util/flags.h"
#include "util/util.h"

static const char* COMPARE_USAGE =
    "lrt compare REFERENCE.safetensors THEIRS.safetensors [--rtol X] [--atol X] [--quiet] [--only PATTERNS]\n\n"
    "Compares two safetensors files tensor by tensor, for checking another implementation (PyTorch, JAX,\n"
    "numpy) against a reference state of `lrt reference` (data/reference/). Tensors are matched by name;\n"
    "shapes must be equal; dtypes may differ (F32, F64, F16, BF16 and integers are all read as numbers).\n"
    "An element passes when |theirs - ref| <= atol + rtol * |ref| (numpy.allclose with the first file\n"
    "as the reference); NaN in both at the same place is equal, NaN on one side fails, infinities must\n"
    "be equal, and a reference of integer dtype (token ids) must be matched exactly. Per tensor: PASS or\n"
    "FAIL, max |theirs - ref|, max |theirs - ref| / |ref| (over ref != 0), and the worst element (the\n"
    "furthest outside its tolerance) with its index and both values. The key third of each\n"
    "*attn.c_attn.bias is left out (its gradient is exactly 0 by construction; see\n"
    "docs/reference-states.md).\n"
    "Tensors of the reference missing from THEIRS fail; tensors only in THEIRS are listed.\n"
    "Exit status: 0 when every tensor passed and none is missing, 1 otherwise (and on bad input).\n"
    "A correct float32 AdamW run can put a few elements of some final.* tensors outside the defaults\n"
    "(a gradient below eps makes a step ill-conditioned); a bug moves most of a tensor.\n"
    "See docs/reference-states.md.";

struct CompareFlags {
    std::string only;
    bool quiet = false;
    CompareOptions options;
};

static void declare_compare_flags(FlagSet& f, CompareFlags& c) {
    f.add("rtol", &c.options.rtol, "relative tolerance (times |ref|)", at_least(0));
    f.add("atol", &c.options.atol, "absolute tolerance", at_least(0));
    f.add("only", &c.only, "compare only tensors matching these comma-separated globs (* and ?), e.g. 'grad.*,loss'");
    f.add("skip-key-bias", &c.options.skip_key_bias,
          "leave out the key third of each *attn.c_attn.bias (exactly 0 in the reference by construction)");
    f.add("quiet", &c.quiet, "print only failures, missing tensors and the summary");
}

// A metadata value if short, else its length: enough to see which file it is.
static std::string brief_value(const std::string& v) {
    if (v.size() <= 40 && v.find('\n') == std::string::npos) return "=" + v;
    return " (" + std::to_string(v.size()) + " chars)";
}

static void print_metadata(const char* label, const SafeTensors& st) {
    if (st.metadata.empty()) return;
    std::string line;
    for (const auto& kv : st.metadata) line += (line.empty() ? "" : ", ") + kv.first + brief_value(kv.second);
    std::printf("%s metadata: %s\n", label, line.c_str());
}

static std::string dtypes_and_shapes(const TensorComparison& t) {
    if (t.shape_mismatch)
        return format_shape(t.ref_shape) + " " + dtype_name(t.ref_dtype) + " | " + format_shape(t.their_shape) + " " +
               dtype_name(t.their_dtype);
    return format_shape(t.ref_shape) + " " + dtype_name(t.ref_dtype) + " | " + dtype_name(t.their_dtype);
}

// What follows the shapes on a tensor's line.
static std::string details(const TensorComparison& t) {
    if (t.shape_mismatch) {
        std::string s = "shape mismatch: reference " + format_shape(t.ref_shape) + ", theirs " + format_shape(t.their_shape);
        size_t a = 1, b = 1;
        for (int64_t d : t.ref_shape) a *= (size_t)d;
        for (int64_t d : t.their_shape) b *= (size_t)d;
        return a == b ? s + " (same element count: reshaped or transposed?)" : s;
    }
    std::string s = strprintf("max abs %.3g  max rel %.3g", t.max_abs, t.max_rel);
    if (t.has_worst)
        s += strprintf("  worst #%zu %s: ref %.9g theirs %.9g", t.worst, multi_index(t.worst, t.ref_shape).c_str(),
                       t.worst_ref, t.worst_theirs);
    else
        s += "  identical";
    if (t.outside) s += strprintf("  (%zu of %zu outside)", t.outside, t.compared);
    if (t.nan_mismatches) s += strprintf("  (%zu NaN on one side)", t.nan_mismatches);
    if (t.exact) s += "  (integers: exact)";
    if (t.skip_end > t.skip_begin) s += strprintf("  (key bias [%zu, %zu) not compared)", t.skip_begin, t.skip_end);
    return s;
}

static void print_tensors(const CompareResult& r, bool quiet) {
    size_t width = 0;
    for (const TensorComparison& t : r.tensors) width = std::max(width, t.name.size());
    for (const TensorComparison& t : r.tensors) {
        if (quiet && t.passed) continue;
        std::printf("%s  %-*s  %s  %s\n", t.passed ? "PASS" : "FAIL", (int)width, t.name.c_str(),
                    dtypes_and_shapes(t).c_str(), details(t).c_str());
    }
}

static void print_missing_and_extra(const CompareResult& r, const std::string& theirs, bool quiet) {
    for (const std::string& name : r.missing)
        std::printf("MISSING  %s  (in the reference, not in %s)\n", name.c_str(), theirs.c_str());
    if (quiet || r.extra.empty()) return;
    std::printf("note: %zu tensor%s only in %s, not compared:", r.extra.size(), r.extra.size() == 1 ? "" : "s",
                theirs.c_str());
    for (const std::string& name : r.extra) std::printf(" %s", name.c_str());
    std::printf("\n");
}

static void print_summary(const CompareResult& r) {
    std::printf("%zu tensors compared, %zu passed, %zu failed, %zu missing, %zu extra, %zu skipped: %s\n",
                r.tensors.size(), r.passed(), r.failed(), r.missing.size(), r.extra.size(), r.not_selected.size(),
                r.ok() ? "PASS" : "FAIL");
}

int compare_command(int argc, char** argv) {
    CompareFlags c;
    FlagSet f("compare", COMPARE_USAGE);
    declare_compare_flags(f, c);
    std::vector<std::string> files;
    if (!f.parse(argc, argv, 2, &files)) return 0;
    if (files.size() != 2)
        fail("expected two files, REFERENCE and THEIRS, got " + std::to_string(files.size()) +
             " (see `lrt compare --help`)");
    for (const std::string& pattern : split(c.only, ','))
        if (!pattern.empty()) c.options.only.push_back(pattern);
    const SafeTensors ref = load_safetensors(files[0]), theirs = load_safetensors(files[1]);
    const CompareResult r = compare_safetensors(ref, theirs, c.options);
    if (!c.options.only.empty() && r.tensors.empty() && r.missing.empty())
        fail("--only " + c.only + " matches no tensor of " + files[0]);
    if (!c.quiet) {
        std::printf("lrt compare: %s (reference) against %s\n", files[0].c_str(), files[1].c_str());
        print_metadata("reference", ref);
        print_metadata("theirs", theirs);
        std::printf("rule: |theirs - ref| <= %g + %g * |ref| per element (integer references: equal)\n",
                    c.options.atol, c.options.rtol);
    }
    print_tensors(r, c.quiet);
    print_missing_and_extra(r, files[1], c.quiet);
    print_summary(r);
    return r.ok() ? 0 : 1;
}
