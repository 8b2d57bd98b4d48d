// The report of a sweep: each run's outcome, collected from its result.json
// into results.csv; the optimal LR per (configuration, horizon, width) with
// its parabola fit, in optimum.csv; the loss-against-LR figure,
// loss_vs_lr.svg; and the printed table with each configuration's drift. When
// the sweep has several seeds or a horizon axis, drift.h adds the per-seed
// optima and the drift with its interval. It reads the plan (sweep_plan.h)
// and whatever the runs (sweep_run.h, or any other runner) have finished so
// far.
#pragma once
#include <cmath>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "study/sweep_plan.h"

struct RunResult {
    PlanEntry entry;
    std::string status;  // done | diverged | stopped | missing | invalid (result.json is not a valid result: read_run_outcome)
    double final_val_loss = 0, min_train_loss = 0, elapsed_s = 0;
    int64_t steps_run = 0;
};
std::vector<RunResult> collect_results(const std::string& dir);  // also writes results.csv

// The optimum of one loss-against-LR curve (lr -> loss, diverged = +inf):
// the grid point with the lowest loss, refined by a parabola in log2(lr)
// through it and its two neighbours when both exist, are finite, and the
// parabola opens upward with its vertex between them.
struct CurveOptimum {
    double best_lr = NAN, best_loss = NAN;  // grid point; NaN when no point is finite
    double lr = NAN, loss = NAN;            // fitted (equal to the grid point when no fit)
    bool fitted = false, at_edge = false;   // at_edge: the best LR is the smallest or largest tried
};
CurveOptimum curve_optimum(const std::map<double, double>& curve);

// The optimum of one (config, horizon, width) curve: curve_optimum of the
// mean loss over seeds.
struct Optimum {
    std::string config;
    int64_t steps = 0;  // the horizon; 0 = the sweep has no horizon axis
    int width = 0;
    double best_lr = 0, best_loss = 0;  // grid point
    double lr = 0, loss = 0;            // fitted (equal to the grid point when no fit)
    bool fitted = false, at_edge = false;  // at_edge: the best LR is the smallest or largest tried
    int diverged = 0, runs = 0;
};
// Mean loss per (config, horizon, width, lr), diverged = +inf.
std::vector<Optimum> find_optima(const std::vector<RunResult>& results);
// Vertex of the parabola through three points (x, y); false if it opens downward or is degenerate.
bool parabola_vertex(const double x[3], const double y[3], double* vx, double* vy);

// Whether a run counts in a fit (done or diverged), and its loss there
// (diverged, or a non-finite loss, = +inf).
bool counts_in_fit(const RunResult& r);
double fit_loss(const RunResult& r);

// "mup" or "mup, 2000 steps": how a (config, horizon) is named in titles and tables.
std::string curve_group_name(const std::string& config, int64_t steps);

// results.csv, optimum.csv and loss_vs_lr.svg; prints the table of optimal
// LR per width and each configuration's drift in octaves. With several
// seeds or a horizon axis, also drift.csv, optimum_seeds.csv and (with a
// horizon axis) drift_vs_horizon.svg (drift.h). Returns the optima.
std::vector<Optimum> report_sweep(const std::string& dir, bool print);
