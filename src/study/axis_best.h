// The best value along a sweep's --axis, when the axis is itself a
// hyperparameter to tune: which value reaches the lowest loss once the
// learning rate is tuned for it. Written for LoRA+'s ratio (`--axis
// lora-plus-ratio=1,2,4,...`: B's LR over A's, with A's LR the swept --lrs),
// and meaningful for any axis (the batch size at a fixed token budget, Adam's
// eps, ...).
//
// Per (base configuration, horizon, width), at each axis value the loss of
// the LR optimum (sweep_axis.h's AxisOptimum: the seed-averaged curve's
// fitted minimum over the LR grid) and each seed's own (drift.h's
// SeedOptimum). The best value is the value of lowest loss, refined, where
// the values are positive numbers and the best has a neighbour on each side,
// by the vertex of the parabola through the three points in log2(value)
// (sweep_report.h's parabola_vertex, the rule the LR optimum uses); a best
// value at the first or last value is only a bound (at_edge). Per seed the
// same on that seed's losses, so the seeds give an interval. A value whose
// curves all diverged has no LR optimum and is left out (its neighbours
// become adjacent); one whose LR optimum is at the LR grid's edge has a
// tuned loss that is only an upper bound, listed in lr_edge_values.
//
// Across widths (numeric values, two widths or more): the slope of
// log2(best value) against log2(width), fitted to the geometric mean of the
// seeds' best values at each width (not to the seed-averaged curve's
// `best`), with the seed interval of
// batch_fit.h's batch_slope (one seed per width per resample; 2.5-97.5%).
// LoRA+'s width argument predicts a positive slope for its ratio.
//
// Files: axis_best.csv (one row per base, horizon, width), axis_best_slope.csv
// (one row per base and horizon) and loss_vs_<flag>.svg (the tuned loss
// against the value, one line per width, bars over seeds).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "study/sweep_axis.h"

struct AxisBest {
    std::string base, flag;
    int64_t steps = 0;
    int width = 0;
    std::vector<const AxisOptimum*> points;  // the values, ascending when all are numbers (else the plan's order)
    std::vector<double> x;                   // the values as numbers (NaN where not one)
    // per value: the lowest and highest of the seeds' optimum losses (NaN where none)
    std::vector<double> seed_loss_lo, seed_loss_hi;
    std::string best_value;                  // the grid value of lowest loss
    double best = NAN, best_loss = NAN;      // refined (or the grid value); NaN when not numeric
    bool at_edge = false;                    // the averaged or any seed's best at the first or last value
    std::vector<double> seed_best;           // each seed's best (numeric axes)
};

// The best value along the axis for a curve of losses at values x (any
// length): the index of the lowest finite loss (-1 when none), and in
// *refined the parabola vertex in log2 x when it has a finite neighbour each
// side and the three are positive and ascending (else x itself); *edge when
// it is the first or last.
int best_along_axis(const std::vector<double>& x, const std::vector<double>& loss, double* refined, bool* edge);

// One per (base, horizon, width) of the optima (sweep_axis.h's order).
std::vector<AxisBest> find_axis_best(const std::vector<AxisOptimum>& optima, const std::vector<RunResult>& results);

// The files above; prints the tables when `print`.
void report_axis_best(const std::string& dir, const std::vector<AxisOptimum>& optima,
                      const std::vector<RunResult>& results, bool print);
