// Adam as an approximate Newton method: AdamW divides each gradient element
// by sqrt(v_hat) + eps, a diagonal Newton step by |H_ii|. If Adam's second
// moment tracked the curvature, sqrt(v_hat) would be proportional to
// |diag H| element by element: log sqrt(v_hat) and log |diag H| would
// correlate, and the ratio sqrt(v_hat) / |diag H| would be the same
// everywhere (its size is the effective learning rate of the Newton step).
// This file computes those two numbers per tensor, per tensor role and over
// all AdamW tensors, from a Hutchinson estimate of diag H (study/hessian.h).
#pragma once
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "model/tensor_table.h"
#include "study/hessian.h"

// Adam's sqrt(v_hat) per element: sqrt(v / (1 - beta2^step)), with each
// row's beta2 and the checkpoint's step count (the bias correction AdamW
// applied at that step); 0 on rows not under AdamW (Muon and SGD leave v at 0).
std::vector<double> adam_sqrt_vhat(const TensorTable& table, const std::vector<float>& v, int64_t step);

// An element takes part when both values are finite and neither is exactly
// zero (a zero has no logarithm: a token that no batch holds has no
// curvature, an element that never had a gradient no v).
inline bool comparable(double diag_h, double sqrt_vhat) {
    return std::isfinite(diag_h) && std::isfinite(sqrt_vhat) && diag_h != 0 && sqrt_vhat != 0;
}

// Pearson's r of x and y; NaN for fewer than two pairs or a constant side.
double pearson_correlation(const std::vector<double>& x, const std::vector<double>& y);

struct ComparisonStats {
    size_t numel = 0;            // elements in the scope (a role's or all: of its AdamW tensors)
    size_t used = 0;             // of them comparable (above)
    double corr_log = NAN;       // Pearson r of log |diag H| and log sqrt(v_hat) over the used
    double median_ratio = NAN;   // median of sqrt(v_hat) / |diag H| over the used
    double median_abs_h = NAN, median_sqrt_vhat = NAN;
    double frac_resolved = NAN;  // of the used: |diag H| above two standard errors (its estimate is not mostly noise)
    double frac_below_eps = NAN; // of the used: sqrt(v_hat) < eps, where AdamW's eps rather than v sets the step
};

// The elements of one scope (a tensor, a role, everything), gathered tensor
// by tensor, then summarized.
class ElementPool {
public:
    // n elements: the estimate, its standard error, sqrt(v_hat), and the
    // tensor's AdamW eps.
    void add(const double* diag_h, const double* std_error, const double* sqrt_vhat, size_t n, double eps);
    ComparisonStats summarize() const;

private:
    std::vector<double> abs_h_, sqrt_vhat_;  // the used elements
    size_t numel_ = 0, resolved_ = 0, below_eps_ = 0;
};

enum class ComparisonScope { Tensor, Role, All };
const char* scope_name(ComparisonScope scope);  // "tensor", "role", "all"

struct ComparisonRow {
    ComparisonScope scope = ComparisonScope::Tensor;
    const TensorInfo* tensor = nullptr;  // Tensor rows: the table's row
    TensorRole role = TensorRole::HiddenMatrix;  // Tensor and Role rows
    ComparisonStats stats;
};

// One row per tensor of the table (in its order), then one per role present
// (in the enum's order, pooling that role's AdamW tensors), then one over all
// AdamW tensors. Rows of tensors under Muon or SGD have no used elements.
std::vector<ComparisonRow> compare_with_adam(const TensorTable& table, const DiagonalEstimate& estimate,
                                             const std::vector<double>& sqrt_vhat);
