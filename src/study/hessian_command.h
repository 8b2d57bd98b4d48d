// `lrt hessian`: Adam as approximate Newton. Loads a training checkpoint,
// rebuilds the run's model (in double) and data from the settings saved in
// it, estimates diag H of the training loss on the next --batches batches the
// run would have drawn (study/hessian.h), and compares |diag H| with AdamW's
// sqrt(v_hat) from the same checkpoint (study/hessian_compare.h): a table on
// the terminal, hessian.csv and hessian_scatter.svg in --out-dir.
#pragma once
#include <cstdint>
#include <string>

struct HessianConfig {
    std::string checkpoint;  // a checkpoint file or a run directory
    std::string out_dir;     // "" = <the checkpoint's directory>/hessian
    int batches = 4;         // loader batches of the run's shape in the loss
    int probes = 32;         // Hutchinson probes
    double fd_step = 1e-4;   // finite-difference step, relative to the parameters' RMS
    int64_t seed = 1;        // seed of the probes
    int plot_points = 400;   // elements per role in the scatter plot
    int threads = 0;         // OpenMP threads; 0 = all cores
    bool quiet = false;
};

int hessian_command(int argc, char** argv);
