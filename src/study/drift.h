// The drift of the optimal learning rate across widths, with an interval
// over seeds: does the optimum move as the model widens, and does that
// movement depend on the training length (the horizon axis of a sweep)?
//
// Each seed's own loss-against-LR curve gives a per-seed optimum (the rule of
// sweep_report.h's curve_optimum: best grid point, parabola refinement in
// log2 lr; diverged runs count as +inf). The drift of a (config, horizon) is
// the least-squares slope of log2(lr*) against log2(width), times
// log2(widest / narrowest): "octaves over the width range" (with two widths,
// exactly log2 of the widest's optimum over the narrowest's).
//
// Its interval is a bootstrap over seeds that respects the design: each
// resample picks, independently for each width, one of that width's seeds,
// and the drift of those optima is one bootstrap drift. With at most 4096
// combinations all of them are enumerated (the interval is then exact for
// the seeds at hand, no randomness); otherwise 2000 draws from util/rng.h
// with a fixed seed, so a report is the same every time. The interval is the
// 2.5 and 97.5 percentiles of the bootstrap drifts; the point estimate is the
// drift of the seed-averaged optima (mean of log2 lr* over a width's seeds),
// which, the drift being linear in the optima, is also the mean of the
// enumerated bootstrap drifts. With one seed per width the interval is the
// point. The interval is the spread of single-seed drifts, wider than the
// uncertainty of the seed-averaged point by about sqrt(n seeds): it errs
// towards "inconclusive". An optimum at the grid's edge makes the drift only
// a bound: flagged.
#pragma once
#include <cmath>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "study/sweep_report.h"

// The optimum of one seed's curve at one (config, horizon, width).
struct SeedOptimum {
    std::string config;
    int64_t steps = 0;  // the horizon; 0 = no horizon axis
    int width = 0;
    int64_t seed = 0;
    double lr = NAN, loss = NAN;  // fitted (or the grid point); NaN when no run of the seed has a finite loss
    bool fitted = false, at_edge = false;
    int runs = 0, diverged = 0;  // finished runs on the seed's curve, and how many of them diverged
};
// One per (config, horizon, width, seed) with a finished run: configurations
// in the plan's order, then horizon, width and seed ascending.
std::vector<SeedOptimum> find_seed_optima(const std::vector<RunResult>& results);

// The drift, in octaves over the width range, of optima y (log2 lr*) at
// widths x (log2 width): least-squares slope times (max x - min x). NaN
// with fewer than two distinct widths.
double drift_octaves(const std::vector<double>& log2_widths, const std::vector<double>& log2_lrs);

// The q-quantile (q in [0, 1]) of v, interpolating linearly between order
// statistics at position q (n - 1) (numpy's default): for 8 values, q = 0.025
// sits 0.175 of the way from the smallest to the second smallest.
double quantile(std::vector<double> v, double q);

struct DriftInterval {
    double mean = NAN, lo = NAN, hi = NAN;  // octaves
    int64_t resamples = 0;                  // bootstrap drifts behind lo and hi
    bool enumerated = false;                // every combination, not random draws
};
// The bootstrap above: per_width[i] holds the log2 optima of width i's
// seeds (each non-empty). Enumerates when the combinations number at most
// ENUMERATE_MAX, else draws BOOTSTRAP_DRAWS of them.
constexpr int64_t DRIFT_ENUMERATE_MAX = 4096;
constexpr int DRIFT_BOOTSTRAP_DRAWS = 2000;
// The resampling behind it, for any statistic of one value per group: calls
// `visit` with every way of picking one value from each group (per_group[i]
// non-empty) when there are at most DRIFT_ENUMERATE_MAX of them, and returns
// true; else with DRIFT_BOOTSTRAP_DRAWS random picks (fixed seed), false.
bool for_each_seed_pick(const std::vector<std::vector<double>>& per_group,
                        const std::function<void(const std::vector<double>&)>& visit);
DriftInterval bootstrap_drift(const std::vector<double>& log2_widths, const std::vector<std::vector<double>>& per_width);

// The drift of one (config, horizon).
struct DriftEstimate {
    std::string config;
    int64_t steps = 0;
    int n_widths = 0;   // widths with at least one seed optimum
    int n_seeds = 0;    // the fewest seed optima at any of those widths (1: the interval is the point)
    DriftInterval drift;
    bool any_edge = false;  // some per-seed optimum at the grid's edge: the drift is a bound
    std::vector<int> widths;
    std::vector<double> mean_lr;  // per width: 2^(mean over seeds of log2 lr*)
};
std::vector<DriftEstimate> estimate_drifts(const std::vector<SeedOptimum>& seeds);

// A claim about the drift's sign, judged on its interval [lo, hi]:
//   Grows (+1):   holds if lo > 0; does not hold if hi <= 0; else inconclusive.
//   Shrinks (-1): holds if hi < 0; does not hold if lo >= 0; else inconclusive.
//   None (0):     holds if the interval lies within [-tol, tol]; does not hold
//                 if it lies entirely outside (lo > tol or hi < -tol); else
//                 inconclusive.
// A NaN bound (no drift measured) is inconclusive. tol is in octaves, >= 0.
enum class DriftClaim { Shrinks = -1, None = 0, Grows = 1 };
enum class Verdict { Holds, DoesNotHold, Inconclusive };
Verdict drift_verdict(double lo, double hi, DriftClaim claim, double tol);
const char* verdict_name(Verdict v);  // "holds", "does not hold", "inconclusive"

// Whether the report has anything to add here: several seeds, or a horizon axis.
bool sweep_has_drift_axes(const std::vector<RunResult>& results);

// optimum_seeds.csv (one row per seed optimum), drift.csv (one row per
// (config, horizon)) and, with a horizon axis, drift_vs_horizon.svg; prints
// the drift table when `print`.
void report_drift(const std::string& dir, const std::vector<RunResult>& results, bool print);
