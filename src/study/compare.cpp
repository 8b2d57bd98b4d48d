#include "study/compare.h"

#include <algorithm>
#include <cmath>
#include <fnmatch.h>
#include <limits>

#include "io/dtype_convert.h"

static const double INF = std::numeric_limits<double>::infinity();

size_t CompareResult::passed() const {
    size_t n = 0;
    for (const TensorComparison& t : tensors) n += t.passed;
    return n;
}

size_t CompareResult::failed() const { return tensors.size() - passed(); }

bool name_selected(const std::string& name, const std::vector<std::string>& patterns) {
    if (patterns.empty()) return true;
    for (const std::string& p : patterns)
        if (fnmatch(p.c_str(), name.c_str(), 0) == 0) return true;  // no flags: * also crosses the dots
    return false;
}

static bool ends_with(const std::string& s, const std::string& tail) {
    return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

bool key_bias_slice(const std::string& name, const std::vector<int64_t>& shape, size_t* begin, size_t* end) {
    if (!ends_with(name, "attn.c_attn.bias") || shape.size() != 1 || shape[0] == 0 || shape[0] % 3 != 0) return false;
    const size_t C = (size_t)shape[0] / 3;  // [query; key; value], C each
    *begin = C;
    *end = 2 * C;
    return true;
}

std::string multi_index(size_t flat, const std::vector<int64_t>& shape) {
    std::vector<size_t> index(shape.size());
    for (size_t d = shape.size(); d-- > 0;) {
        const size_t extent = (size_t)shape[d];
        index[d] = extent ? flat % extent : 0;
        flat = extent ? flat / extent : 0;
    }
    std::string s = "[";
    for (size_t d = 0; d < index.size(); d++) s += (d ? ", " : "") + std::to_string(index[d]);
    return s + "]";
}

namespace {
// One element held against the rule.
struct ElementCheck {
    bool ok = true;
    bool nan_mismatch = false;
    double diff = 0;   // |theirs - ref|; NaN for a NaN mismatch
    double ratio = 0;  // diff / tolerance: > 1 outside, INF when the tolerance is 0 and diff is not
};
}  // namespace

static ElementCheck check_element(double ref, double theirs, double atol, double rtol) {
    ElementCheck c;
    const bool ref_nan = std::isnan(ref), their_nan = std::isnan(theirs);
    if (ref_nan || their_nan) {
        c.ok = ref_nan && their_nan;
        c.nan_mismatch = !c.ok;
        c.diff = c.ok ? 0 : NAN;
        c.ratio = c.ok ? 0 : INF;
        return c;
    }
    if (ref == theirs) return c;  // equal infinities included
    c.diff = std::fabs(theirs - ref);  // INF when either is infinite
    const double tolerance = atol + rtol * std::fabs(ref);
    c.ok = !std::isinf(ref) && !std::isinf(theirs) && c.diff <= tolerance;
    c.ratio = std::isinf(c.diff) || tolerance == 0 ? INF : c.diff / tolerance;
    return c;
}

// Whether element check `c` is worse than the current worst (ratio, then diff).
static bool worse_than(const ElementCheck& c, const TensorComparison& t, double worst_ratio, double worst_diff) {
    if (!t.has_worst) return c.ratio > 0 || c.nan_mismatch;
    if (c.ratio != worst_ratio) return c.ratio > worst_ratio;
    const double d = c.nan_mismatch ? INF : c.diff, w = std::isnan(worst_diff) ? INF : worst_diff;
    return d > w;
}

// The elementwise comparison of two tensors of the same shape.
static void compare_elements(TensorComparison& t, const StTensor& ref, const StTensor& theirs, double atol,
                             double rtol) {
    const std::vector<double> a = tensor_as_doubles(ref), b = tensor_as_doubles(theirs);
    double worst_ratio = 0, worst_diff = 0;
    for (size_t i = 0; i < a.size(); i++) {
        if (i >= t.skip_begin && i < t.skip_end) continue;
        t.compared++;
        const ElementCheck c = check_element(a[i], b[i], atol, rtol);
        t.outside += !c.ok;
        t.nan_mismatches += c.nan_mismatch;
        if (!std::isnan(c.diff)) {
            t.max_abs = std::max(t.max_abs, c.diff);
            if (a[i] != 0 && c.diff > 0) t.max_rel = std::max(t.max_rel, c.diff / std::fabs(a[i]));
        }
        if (worse_than(c, t, worst_ratio, worst_diff)) {
            t.has_worst = true;
            t.worst = i;
            t.worst_ref = a[i];
            t.worst_theirs = b[i];
            worst_ratio = c.ratio;
            worst_diff = c.diff;
        }
    }
    t.passed = t.outside == 0;
}

static TensorComparison compare_tensor(const StTensor& ref, const StTensor& theirs, const CompareOptions& o) {
    TensorComparison t;
    t.name = ref.name;
    t.ref_dtype = ref.dtype;
    t.their_dtype = theirs.dtype;
    t.ref_shape = ref.shape;
    t.their_shape = theirs.shape;
    if (ref.shape != theirs.shape) {
        t.shape_mismatch = true;
        return t;  // passed stays false
    }
    t.exact = dtype_is_integer(ref.dtype);
    if (o.skip_key_bias) key_bias_slice(ref.name, ref.shape, &t.skip_begin, &t.skip_end);
    compare_elements(t, ref, theirs, t.exact ? 0 : o.atol, t.exact ? 0 : o.rtol);
    return t;
}

CompareResult compare_safetensors(const SafeTensors& ref, const SafeTensors& theirs, const CompareOptions& options) {
    CompareResult r;
    for (const StTensor& t : ref.tensors) {
        if (!name_selected(t.name, options.only)) {
            r.not_selected.push_back(t.name);
            continue;
        }
        const StTensor* other = theirs.find(t.name);
        if (other) r.tensors.push_back(compare_tensor(t, *other, options));
        else r.missing.push_back(t.name);
    }
    for (const StTensor& t : theirs.tensors)
        if (!ref.find(t.name) && name_selected(t.name, options.only)) r.extra.push_back(t.name);
    return r;
}
