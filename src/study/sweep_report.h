// The report of a sweep: each run's outcome, collected from its result.json
// into results.csv; the optimal LR per (configuration, width) with its
// parabola fit, in optimum.csv; the loss-against-LR figure, loss_vs_lr.svg;
// and the printed table with each configuration's drift. It reads the plan
// (sweep_plan.h) and whatever the runs (sweep_run.h, or any other runner)
// have finished so far.
#pragma once
#include <cstdint>
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

// The optimum of one (config, width) curve: the grid point with the lowest
// mean loss over seeds, refined by a parabola in log2(lr) through it and its
// two neighbours when both exist and the parabola opens upward.
struct Optimum {
    std::string config;
    int width = 0;
    double best_lr = 0, best_loss = 0;  // grid point
    double lr = 0, loss = 0;            // fitted (equal to the grid point when no fit)
    bool fitted = false, at_edge = false;  // at_edge: the best LR is the smallest or largest tried
    int diverged = 0, runs = 0;
};
// Mean loss per (config, width, lr), diverged = +inf.
std::vector<Optimum> find_optima(const std::vector<RunResult>& results);
// Vertex of the parabola through three points (x, y); false if it opens downward or is degenerate.
bool parabola_vertex(const double x[3], const double y[3], double* vx, double* vy);

// results.csv, optimum.csv and loss_vs_lr.svg; prints the table of optimal
// LR per width and each configuration's drift in octaves. Returns the optima.
std::vector<Optimum> report_sweep(const std::string& dir, bool print);
