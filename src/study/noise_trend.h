// The gradient noise scale over training, along a sweep's --axis: does
// B_simple grow as the loss falls (McCandlish et al. 2018), and where does
// each batch size sit against it? For every (configuration, axis value,
// horizon, width) it follows the runs at the best grid LR (every seed, when
// they measured the noise scale: --grad-accum >= 2) and writes
//   noise_trend.csv          config,flag,value,steps,width,lr,runs,step,train_loss,b_simple:
//                            at each measured step, the train loss averaged
//                            over the steps since the previous measurement
//                            (one batch's loss is too noisy to read), and
//                            B_simple; both averaged over seeds (B_simple
//                            geometrically), at the steps where every seed
//                            has an estimate (finite and positive; log.csv
//                            leaves it empty while the averaged |G|² is not)
//   noise_scale_vs_loss.svg  B_simple against that loss, one panel per
//                            configuration, one line per axis value, and for a
//                            batch-size axis each batch size as a level line
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "study/sweep_report.h"

struct NoisePoint {
    int64_t step = 0;
    double train_loss = 0;  // mean over the logged steps in (previous measured step, step]
    double b_simple = 0;
};

// One run's log.csv: a point per row with a finite, positive b_simple.
// Empty when the file is missing or never measured the noise scale.
std::vector<NoisePoint> read_noise_points(const std::string& log_csv);

// Several runs' points at the steps all of them have: the mean loss and
// the geometric mean of B_simple. Empty when any run has no points.
std::vector<NoisePoint> average_noise_points(const std::vector<std::vector<NoisePoint>>& runs);

struct NoiseTrend {
    std::string base, flag, value;
    int64_t steps = 0;
    int width = 0;
    double lr = 0;  // the best grid LR of the seed-averaged curve
    int runs = 0;   // the seeds averaged
    std::vector<NoisePoint> points;
};
// For every axis configuration's optimum whose runs measured B_simple; in the
// order of `optima`.
std::vector<NoiseTrend> noise_trends(const std::vector<RunResult>& results, const std::vector<Optimum>& optima);

// The two files above (nothing when no run measured the noise scale); prints
// a table of each trend's first and late B_simple when `print`.
void report_noise_trend(const std::string& dir, const std::vector<RunResult>& results,
                        const std::vector<Optimum>& optima, bool print);
