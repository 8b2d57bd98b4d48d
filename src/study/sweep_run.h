// The runner of a sweep, `lrt sweep run`: one runner per sweep directory (a
// lock), the plan's unfinished lines (sweep_plan.h) run as child processes,
// N at a time, each in its own process group with its output in logs/<id>.txt
// and a parent-death signal, so that an interrupted or killed runner stops
// its runs. What the runs leave is read by sweep_report.h.
#pragma once
#include <string>

// Runs the plan's unfinished lines with `jobs` processes at a time, each with
// OMP_NUM_THREADS = threads (0: cores / jobs). Returns the number that failed.
int run_plan(const std::string& dir, int jobs, int threads, bool quiet);
