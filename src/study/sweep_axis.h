// Any lrt train flag as a sweep axis (`lrt sweep --axis FLAG=v1,v2,...`) and
// the report's view along it: the optimal LR against the axis value.
//
// The plan applies the axis by turning each configuration into one per value,
// named "<config>+<flag>=<value>" (sweep_plan.h's expand_axis), so every
// other part of the report (optima per width, loss curves, drift with its
// interval) works per value unchanged. This part reads the names back and
// adds, per (configuration, horizon, width):
//   optimum_vs_axis.csv   the optimum at each value: the seed-averaged curve's
//                         fitted LR, and the range and geometric mean of the
//                         per-seed optima (the fits use that mean)
//   optimum_vs_<flag>.svg the optimal LR against the value (log2 axes where
//                         the values are positive numbers spanning 4x or more)
// and, when the flag is batch-size, batch_fit.csv: the McCandlish and surge
// laws fitted to the optima (batch_fit.h) with B_noise's interval over seeds
// and the optimum's slope against log2 B with its interval,
// beside the B_simple the runs measured (log.csv, with --grad-accum >= 2),
// drawn over the data; and noise_trend.h's B_simple over training.
#pragma once
#include <string>
#include <vector>

#include "study/sweep_report.h"

// A configuration name split at its axis: "mup+batch-size=16" gives base
// "mup", flag "batch-size", value "16". False for a name without an axis.
struct AxisPoint {
    std::string base, flag, value;
};
bool parse_axis_point(const std::string& config, AxisPoint* out);

// The optimum at one axis value.
struct AxisOptimum {
    std::string base, flag, value;
    int64_t steps = 0;
    int width = 0;
    double lr = 0, loss = 0;                  // the seed-averaged curve's optimum (fitted)
    bool at_edge = false;                     // the averaged curve's or any seed's optimum at the grid's edge
    std::vector<double> seed_lrs;             // each seed's optimum
};
// In the plan's order of configurations, then horizon and width.
std::vector<AxisOptimum> axis_optima(const std::vector<RunResult>& results);

// The geometric mean of the per-seed optima (NaN with none): what the batch-
// size fits and the slope use. It can differ from `lr`, the optimum of the
// seed-averaged curve, when the seeds' curves are flat and offset.
double seed_mean_lr(const AxisOptimum& a);

// The median of B_simple over the second half of each run's measurements (its
// log.csv as noise_trend.h's read_noise_points reads it), then the median
// over runs; NaN if none measured it.
double measured_b_simple(const std::vector<std::string>& run_dirs);

// The runs (every seed, any status) at an optimum's best grid LR.
std::vector<const RunResult*> runs_at_best_lr(const std::vector<RunResult>& results, const Optimum& o);

// Whether any configuration of the sweep has an axis.
bool sweep_has_axis(const std::vector<RunResult>& results);

// The files above; prints the table when `print`.
void report_axis(const std::string& dir, const std::vector<RunResult>& results, bool print);
