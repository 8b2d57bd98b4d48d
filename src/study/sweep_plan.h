// The plan of a sweep (see sweep.h for the directory): the grid of runs,
// built from configurations x horizons (training lengths, optional) x widths
// x learning rates x seeds, written as plan.txt (one `lrt train` command per
// line) and plan.csv (what each line is), and read back. The other two parts
// work from a plan on disk: sweep_run.h runs its lines, sweep_report.h
// collects and fits their results.
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
    int64_t steps = 0;  // the run's --steps when the sweep has a horizon axis; 0 = not an axis
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
    // Training lengths as a sweep axis (--horizons): each run gets --steps H
    // after the common and configuration flags, and its id gets _h<H>. Empty:
    // no horizon axis (the plan, ids and commands as before the axis existed).
    std::vector<int64_t> horizons;
    std::string common;     // flags for every run
    std::string lrt = "./lrt";
};

std::vector<PlanEntry> make_plan(const SweepSpec& spec);
// plan.txt and plan.csv, atomically
void write_plan(const std::string& dir, const std::vector<PlanEntry>& plan);
std::vector<PlanEntry> read_plan(const std::string& dir);

// Shared with the runner (sweep_run.cpp), which runs a plan line without a
// shell only when it is plain text, and prints a run's loss as %g.
// What a plan line may contain without quoting: no character the shell
// would treat specially (quotes, ; | & ` $ # < > * ? ( ) and the like).
bool plain_shell_text(const std::string& text, bool spaces_ok);
// x as printf's %g.
std::string fmt_g(double x);
