// Figures from a finished sweep's measurements (measure.csv of each run):
//   rrc_alignment.svg   relative representation change and alignment ratio of
//                       one layer over training, one line per width, a row of
//                       panels per configuration
//   weight_norm.svg     the layer's weight RMS beside its equilibrium
//                       prediction sqrt(lr/(2 lambda)) = lr/sqrt(2d) (dashed)
//   implicit_warmup.svg µP's relative update over SP's at the same width and
//                       base LR (measured) against the closed form s_t of
//                       docs/science.md §5 (predicted)
// and figures_summary.csv with the numbers EXPERIMENTS.md quotes: the
// alignment ratio early and late, and the spread of RRC across widths early
// and late, per configuration.
//
// The CSV files are read checked (csv.h): a damaged row fails naming the file
// and line; a last row cut short by a run killed mid-write is skipped with a
// warning on stderr.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

struct FiguresConfig {
    std::string sweep_dir;
    std::string out_dir;       // "" = the sweep directory
    std::string layer = "transformer.h.0.mlp.c_fc.weight";
    double lr = 0;             // base LR of the runs to show; 0 = the grid LR nearest the narrowest width's optimum
    std::string mup_config, sp_config;  // for implicit_warmup.svg; "" = skip it
    double early_fraction = 0.1, late_fraction = 0.25;  // "early" = first 10% of steps, "late" = last 25%
    int64_t steps = 0;         // with a horizon axis: the horizon to draw (required there); 0 = none
};

// Returns the summary text it prints.
std::string make_figures(const FiguresConfig& config);

// `lrt figures`
int figures_command(int argc, char** argv);
