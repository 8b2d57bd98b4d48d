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
    // Any other lrt train flag as an axis (--axis FLAG=v1,v2,...): each
    // configuration becomes one per value, named "<config>+<flag>=<value>",
    // whose flags end with --<flag> <value> (sweep_axis.h). Empty: no axis.
    std::string axis_flag;
    std::vector<std::string> axis_values;
    std::string common;     // flags for every run
    // Fine-tuning sweeps (--finetune-from): each line runs `lrt finetune
    // --from <this, with {width} and {seed} replaced by the run's width and
    // seed>` instead of `lrt train`, so every width (and seed, if the
    // pattern says so) starts from its own pretrained base.
    // Empty: lrt train.
    std::string finetune_from;
    std::string lrt = "./lrt";
};

std::vector<PlanEntry> make_plan(const SweepSpec& spec);
// --axis FLAG=v1,v2,...: the flag's name and its values, checked (a flag
// name of letters, digits and -; values plain text without spaces; not one
// of the grid's own flags).
void parse_sweep_axis(const std::string& text, std::string* flag, std::vector<std::string>* values);
// The configurations with the axis applied (unchanged when there is none).
std::vector<SweepConfig> expand_axis(const std::vector<SweepConfig>& configs, const std::string& flag,
                                     const std::vector<std::string>& values);
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
