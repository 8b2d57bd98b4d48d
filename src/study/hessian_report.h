// What `lrt hessian` writes and prints: the comparison rows
// (study/hessian_compare.h) as CSV and as a table, and the scatter plot of
// sqrt(v_hat) against |diag H|.
#pragma once
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "io/svg.h"
#include "study/hessian_compare.h"

// How the estimate was made, repeated on every CSV row so that a row stands
// on its own.
struct HessianSetup {
    int64_t checkpoint_step = 0;  // optimizer steps behind the checkpoint (v's bias correction)
    int probes = 0, batches = 0;  // Hutchinson probes; batches of the run's shape in the loss
    double fd_step = 0;           // relative finite-difference step (--fd-step)
    double h = 0;                 // the absolute step: fd_step x RMS of the parameters
    double fd_error = NAN;        // H z's relative finite-difference error at h (hvp_relative_error)
};

// The CSV columns, in order (docs/hessian.md lists what each means).
extern const char* const HESSIAN_CSV_HEADER;

// hessian.csv: one line per row. Pooled rows (role, all) leave layer and eps
// empty; an undefined statistic (no used elements) is "nan".
std::string hessian_csv(const std::vector<ComparisonRow>& rows, const HessianSetup& setup);

// The rows as a fixed-width table for the terminal.
std::string hessian_table(const std::vector<ComparisonRow>& rows);

// One log-log panel: sqrt(v_hat) against |diag H| for up to `per_role` used
// elements of each role's AdamW tensors (evenly spaced through the role's
// elements, so every tensor is represented), one colour per role, and the
// line sqrt(v_hat) = |diag H| for reference.
Figure hessian_scatter(const TensorTable& table, const DiagonalEstimate& estimate,
                       const std::vector<double>& sqrt_vhat, size_t per_role, const HessianSetup& setup);
