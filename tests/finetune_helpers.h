// In-process `lrt train` and `lrt finetune` for the fine-tuning tests
// (test_lora.cpp, test_lora_ga.cpp): a small base model on the built-in
// corpus, and fine-tuning runs on the same corpus with another data seed
// (and that data, loaded apart from a run). Include it after Catch2: the
// resume check asserts.
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "train/checkpoint.h"
#include "train/finetune.h"
#include "train/run_data.h"
#include "train/train.h"

using Settings = std::vector<std::pair<std::string, std::string>>;

// Width 32, depth 2, 10 steps of 4 x 32 tokens, into out_dir.
inline TrainResult pretrain(const std::string& out_dir) {
    TrainConfig c;
    FlagSet f("train", "");
    declare_train_flags(f, c);
    for (auto& kv : Settings{{"width", "32"}, {"depth", "2"}, {"head-dim", "16"}, {"batch-size", "4"},
                             {"seq-len", "32"}, {"synth-train-tokens", "100000"}, {"synth-val-tokens", "8192"},
                             {"val-batches", "2"}, {"sample-length", "0"}, {"steps", "10"}, {"warmup-steps", "2"},
                             {"quiet", "true"}, {"out-dir", out_dir}})
        f.set(kv.first, kv.second);
    return run_training(c, f);
}

// The fine-tuning runs' flags: the data flags above (data seed 7), then `settings`.
inline void set_finetune_flags(FlagSet& f, const Settings& settings) {
    for (auto& kv : Settings{{"batch-size", "4"}, {"seq-len", "32"}, {"synth-train-tokens", "100000"},
                             {"synth-val-tokens", "8192"}, {"val-batches", "2"}, {"sample-length", "0"},
                             {"data-seed", "7"}, {"quiet", "true"}})
        f.set(kv.first, kv.second);
    for (auto& kv : settings) f.set(kv.first, kv.second);
}

// `lrt finetune` with set_finetune_flags(settings).
inline TrainResult finetune(const Settings& settings) {
    TrainConfig c;
    FlagSet f("finetune", "");
    declare_run_flags(f, c, true);
    set_finetune_flags(f, settings);
    return run_finetune(c, f);
}

// An interrupted and resumed fine-tune is the same run as `whole`: the run of
// `settings` into part_dir stopped after stop_after steps, then --resume, gives
// the same losses and a checkpoint with the bytes of `whole_checkpoint`'s.
inline void check_resume_matches(Settings settings, const std::string& part_dir, int64_t stop_after,
                                 const TrainResult& whole, const Checkpoint& whole_checkpoint) {
    settings.push_back({"out-dir", part_dir});
    settings.push_back({"stop-after", std::to_string(stop_after)});
    const TrainResult first = finetune(settings);
    REQUIRE(first.last_step == stop_after);
    const TrainResult second = finetune({{"resume", part_dir}});
    REQUIRE(second.first_step == stop_after);
    std::vector<double> joined = first.train_losses;
    joined.insert(joined.end(), second.train_losses.begin(), second.train_losses.end());
    REQUIRE(joined == whole.train_losses);
    const Checkpoint p = load_checkpoint(second.checkpoint_path);
    REQUIRE(p.file.tensors.size() == whole_checkpoint.file.tensors.size());
    for (const auto& t : whole_checkpoint.file.tensors) {
        INFO(t.name);
        REQUIRE(t.bytes == p.file.get(t.name).bytes);
    }
}

// The data such a run trains on (the built-in corpus, 256 tokens), loaded
// apart from the run: its train_loader draws the run's batches from step 0.
inline void load_finetune_data(RunData& data, const Settings& settings) {
    TrainConfig c;
    FlagSet f("finetune", "");
    declare_run_flags(f, c, true);
    set_finetune_flags(f, settings);
    load_run_data(data, c, 256);
}
