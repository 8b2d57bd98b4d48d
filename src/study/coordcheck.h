// The coordinate check (docs/science.md §4), the standard µP diagnostic: build the
// model at several widths, train a few optimizer steps (lrt train's step:
// AdamW, or Muon or SGD for the hidden matrices) on one fixed batch at a
// large learning rate, and record the mean |activation| of every layer's
// output before each step. Under a correct µP the numbers do not change with
// width (flat lines on a log-log plot of mean |x| against width); under SP the
// hidden and output layers grow with width once the model has taken a step.
#pragma once
#include <string>
#include <vector>

#include "model/model_flags.h"
#include "optim/optimizer_config.h"
#include "param/parameterization.h"

struct CoordCheckConfig {
    ModelFlags model;             // sizes; model.width is replaced by each width
    std::vector<int> widths = {64, 128, 256, 512, 1024};
    std::vector<ParamConfig> params;  // one curve set per parameterization (d_base 0: the narrowest width)
    int steps = 4;                // optimizer steps; activations are recorded at steps 0..steps
    double lr = 1e-2;             // base learning rate, the same for every parameterization
    OptimizerKind optimizer = OptimizerKind::AdamW;  // of the hidden matrices
    MuonScale muon_scale = MuonScale::Keller;
    int batch_size = 4, seq_len = 64;
    int seeds = 3;                // initializations averaged per point
    int64_t data_seed = 1;        // the fixed batch comes from the built-in corpus
    bool quiet = false;
};

struct CoordCheckRow {
    std::string param;  // preset name (or the label of a variant)
    int width = 0;
    int step = 0;       // activations of the forward pass after `step` updates
    std::string layer;  // "embedding", "h0.attn.qkv", ..., "logits"
    double mean_abs = 0;  // mean over the layer's output entries and the seeds
};

// The layer names recorded for a model of this depth, in forward order.
std::vector<std::string> coord_check_layers(int depth);

// Runs every (parameterization, width, seed) and returns the rows; `labels`
// names the parameterizations (default: their preset names).
std::vector<CoordCheckRow> run_coord_check(const CoordCheckConfig& config, const std::vector<std::string>& labels = {});

// max over widths / min over widths of one layer's mean |x| at one step: 1
// for a perfectly flat line.
double coord_check_spread(const std::vector<CoordCheckRow>& rows, const std::string& param, int step,
                          const std::string& layer);

// The `lrt coordcheck` command: runs, writes coordcheck.csv and
// coordcheck.svg in --out-dir, and prints the spread per step.
int coordcheck_command(int argc, char** argv);
