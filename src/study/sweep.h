// Learning-rate sweeps across widths: widths x learning rates x named
// configurations x seeds (x training lengths, with --horizons), each one
// `lrt train` run.
//
// A sweep lives in one directory:
//   plan.txt     one shell command per line, one line per run: run it with
//                `lrt sweep run` (N parallel jobs), or unchanged with
//                xargs -P, GNU parallel, or a Slurm array
//                (`sed -n "${SLURM_ARRAY_TASK_ID}p" plan.txt | sh`).
//   plan.csv     what each line is: id, config, width, lr, seed, out_dir, steps
//                (steps: the run's horizon with --horizons, else 0)
//   runs/<id>/   each run's output; runs/<id>/result.json (written
//                atomically at the end) marks it finished: done or diverged
//   logs/<id>.txt   the console output of runs started by `lrt sweep run`
//   results.csv  every run's outcome, collected from result.json files
//   optimum.csv, loss_vs_lr.svg   the optimal LR per (horizon,) width and the plot
//   optimum_seeds.csv, drift.csv   with several seeds or --horizons: each
//                seed's optimum, and the drift across widths with its
//                interval over seeds (drift.h)
//   drift_vs_horizon.svg   with --horizons: the drift against training length
// Every command line carries --skip-if-done, so rerunning the plan (by any
// runner) redoes only the runs that did not finish: killing a sweep loses at
// most the runs in flight. Diverged runs stop early and count as diverged.
//
// The code is in four parts, one concern each, with this file as the front
// door (the `lrt sweep` and `lrt demo` commands: flags, then dispatch):
//   sweep_plan.h    configurations, the grid, plan.txt / plan.csv
//   sweep_run.h     `lrt sweep run`: the plan's lines as child processes
//   sweep_report.h  results.csv, the optimum per width, optimum.csv, the plot
//   drift.h         per-seed optima, the drift's interval, drift.csv, its plot
// The runner and the report only read the plan; they meet in the run
// directories (result.json), not in code.
#pragma once
#include "study/sweep_plan.h"
#include "study/sweep_report.h"
#include "study/sweep_run.h"

// `lrt sweep ...`
int sweep_command(int argc, char** argv);

// `lrt demo`: a few-minute sweep on the built-in corpus (SP against µP with
// independent weight decay, three widths), the optimum table and the plot.
int demo_command(int argc, char** argv);
