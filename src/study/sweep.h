// Learning-rate sweeps across widths: widths x learning rates x named
// configurations x seeds, each one `lrt train` run.
//
// A sweep lives in one directory:
//   plan.txt     one shell command per line, one line per run: run it with
//                `lrt sweep run` (N parallel jobs), or unchanged with
//                xargs -P, GNU parallel, or a Slurm array
//                (`sed -n "${SLURM_ARRAY_TASK_ID}p" plan.txt | sh`).
//   plan.csv     what each line is: id, config, width, lr, seed, out_dir
//   runs/<id>/   each run's output; runs/<id>/result.json (written
//                atomically at the end) marks it finished: done or diverged
//   logs/<id>.txt   the console output of runs started by `lrt sweep run`
//   results.csv  every run's outcome, collected from result.json files
//   optimum.csv, loss_vs_lr.svg   the optimal LR per width and the plot
// Every command line carries --skip-if-done, so rerunning the plan (by any
// runner) redoes only the runs that did not finish: killing a sweep loses at
// most the runs in flight. Diverged runs stop early and count as diverged.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

struct SweepConfig {
    std::string name;   // e.g. mup-independent
    std::string flags;  // lrt train flags, e.g. "--param mup --wd-mode independent --weight-decay 1e-3"
};

// Reads "name flags..." lines; blank lines and lines starting with # are skipped.
std::vector<SweepConfig> read_sweep_configs(const std::string& path);
std::vector<SweepConfig> parse_sweep_configs(const std::string& text, const std::string& source);

struct PlanEntry {
    std::string id, config;
    int width = 0;
    double lr = 0;
    int64_t seed = 0;
    std::string out_dir, command;
};

struct SweepSpec {
    std::string dir;
    std::vector<SweepConfig> configs;
    std::vector<int> widths;
    std::vector<double> lrs;
    std::vector<int64_t> seeds = {1};
    std::string common;     // flags for every run
    std::string lrt = "./lrt";
};

std::vector<PlanEntry> make_plan(const SweepSpec& spec);
// plan.txt and plan.csv, atomically
void write_plan(const std::string& dir, const std::vector<PlanEntry>& plan);
std::vector<PlanEntry> read_plan(const std::string& dir);

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

// Runs the plan's unfinished lines with `jobs` processes at a time, each with
// OMP_NUM_THREADS = threads (0: cores / jobs). Returns the number that failed.
int run_plan(const std::string& dir, int jobs, int threads, bool quiet);

// `lrt sweep ...`
int sweep_command(int argc, char** argv);

// `lrt demo`: a few-minute sweep on the built-in corpus (SP against µP with
// independent weight decay, three widths), the optimum table and the plot.
int demo_command(int argc, char** argv);
