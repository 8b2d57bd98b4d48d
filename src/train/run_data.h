// A run's data: the built-in corpus (generated from --data-seed) or the
// token files, and the loaders that cut them into batches, set up from the
// run's `lrt train` settings. `lrt train` trains on these; `lrt hessian`
// rebuilds them from a checkpoint's saved settings, so that it measures the
// loss on the very batches the run would draw next.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "data/data.h"
#include "train/train.h"

// The loaders point into the token vectors, so a RunData stays where it was
// filled (no copies).
struct RunData {
    std::vector<uint16_t> train_tokens, val_tokens;
    std::string note;  // one line for the run's header: where the tokens came from, how many
    DataLoader train_loader, val_loader;  // training: shuffled by --data-seed; validation: in order

    RunData() = default;
    RunData(const RunData&) = delete;
    RunData& operator=(const RunData&) = delete;
};

// Fills `data` for cfg's data flags and a model of vocab_size tokens (the
// built-in corpus needs 256). Errors name the file (or the corpus) at fault.
void load_run_data(RunData& data, const TrainConfig& cfg, int vocab_size);
