// Training end to end, in-process: the loss falls on the built-in corpus,
// checkpoints round-trip, and a resumed run equals an uninterrupted one bit
// for bit.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>

#include "data/data.h"
#include "data/synth.h"
#include "io/json.h"
#include "train/checkpoint.h"
#include "test_helpers.h"
#include "train/train.h"
#include "util/util.h"

// A small, fast configuration; `settings` are flag/value pairs on top.
static TrainResult train_small(const std::string& out_dir,
                               std::vector<std::pair<std::string, std::string>> settings) {
    TrainConfig c;
    FlagSet f("train", "");
    declare_train_flags(f, c);
    std::vector<std::pair<std::string, std::string>> base = {
        {"width", "32"},         {"depth", "2"},          {"head-dim", "16"},
        {"batch-size", "8"},     {"seq-len", "64"},       {"synth-train-tokens", "400000"},
        {"synth-val-tokens", "20000"}, {"val-batches", "4"}, {"sample-length", "0"},
        {"quiet", "true"},       {"out-dir", out_dir}};
    for (auto& kv : base) f.set(kv.first, kv.second);
    for (auto& kv : settings) f.set(kv.first, kv.second);
    return run_training(c, f);
}

TEST_CASE("a few hundred steps on the built-in corpus lower the loss well below ln V", "[train]") {
    TempDir dir;
    TrainResult r = train_small(dir.path, {{"steps", "300"}, {"warmup-steps", "30"}, {"val-every", "100"}});
    REQUIRE(r.val_losses.size() == 4);  // steps 0, 100, 200 and the end
    double initial = r.val_losses.front().second, final_loss = r.final_val_loss;
    INFO("val loss " << initial << " -> " << final_loss);
    REQUIRE(initial == Approx(std::log(256.0)).margin(0.1));  // GPT-2 init: near-uniform predictions
    // the byte unigram entropy of the corpus is about 3.06 nats: going below
    // it means the model uses context, not just letter frequencies
    REQUIRE(final_loss < 2.9);
    REQUIRE(final_loss < initial - 2.5);
    // the log has one row per step plus the final validation row
    std::vector<uint8_t> log = read_file(r.log_path);
    size_t lines = 0;
    for (uint8_t b : log) lines += b == '\n';
    REQUIRE(lines == 1 + 300 + 1);
}

TEST_CASE("checkpoints round-trip parameters, moments and state", "[train][checkpoint]") {
    TempDir dir;
    TrainResult r = train_small(dir.path, {{"steps", "5"}, {"val-every", "0"}});
    Checkpoint c = load_checkpoint(r.checkpoint_path);
    REQUIRE(c.state.step == 5);
    REQUIRE(c.config.width == 32);
    GPT<float> model;
    gpt_build(model, c.config);
    std::vector<float> m, v;
    restore_checkpoint(c, model, m, v);
    // write it again and read it back: identical tensors and state
    TrainState st = c.state;
    std::string again = dir.file("again.safetensors");
    save_checkpoint(again, model, m, v, st, c.train_flags_json);
    Checkpoint c2 = load_checkpoint(again);
    GPT<float> model2;
    gpt_build(model2, c2.config);
    std::vector<float> m2, v2;
    restore_checkpoint(c2, model2, m2, v2);
    REQUIRE(std::memcmp(model.params.data(), model2.params.data(), model.params.size() * 4) == 0);
    REQUIRE(std::memcmp(m.data(), m2.data(), m.size() * 4) == 0);
    REQUIRE(std::memcmp(v.data(), v2.data(), v.size() * 4) == 0);
    for (int i = 0; i < 4; i++) REQUIRE(c2.state.rng_state[i] == c.state.rng_state[i]);
    REQUIRE(c2.state.data_window == c.state.data_window);
    // a model of another size refuses the checkpoint
    ModelConfig other = c.config;
    other.width = 48;
    GPT<float> wrong;
    gpt_build(wrong, other);
    REQUIRE_THROWS_WITH(restore_checkpoint(c, wrong, m, v), Catch::Contains("has shape [256, 32], expected [256, 48]"));
}

// The log's rows without the timing columns (tokens_per_s, elapsed_s: the
// 7th and 8th).
static std::vector<std::string> log_rows_without_timing(const std::string& path) {
    std::vector<uint8_t> bytes = read_file(path);
    std::vector<std::string> rows;
    std::string line;
    for (uint8_t b : bytes) {
        if (b != '\n') {
            line += (char)b;
            continue;
        }
        std::vector<std::string> f = split(line, ',');
        REQUIRE(f.size() > 8);
        f.erase(f.begin() + 6, f.begin() + 8);
        std::string kept;
        for (const std::string& x : f) kept += x + ",";
        rows.push_back(kept);
        line.clear();
    }
    return rows;
}

static void require_same_run(const TrainResult& whole, const std::vector<const TrainResult*>& parts) {
    std::vector<double> joined;
    std::vector<std::string> samples;
    for (const TrainResult* p : parts) {
        joined.insert(joined.end(), p->train_losses.begin(), p->train_losses.end());
        samples.insert(samples.end(), p->samples.begin(), p->samples.end());
    }
    REQUIRE(joined.size() == whole.train_losses.size());
    for (size_t i = 0; i < joined.size(); i++) {
        INFO("step " << i);
        REQUIRE(joined[i] == whole.train_losses[i]);  // exact, not approximate
    }
    REQUIRE(samples == whole.samples);
    const TrainResult& last = *parts.back();
    REQUIRE(last.final_val_loss == whole.final_val_loss);
    Checkpoint ca = load_checkpoint(whole.checkpoint_path), cb = load_checkpoint(last.checkpoint_path);
    REQUIRE(ca.file.tensors.size() == cb.file.tensors.size());
    for (const auto& t : ca.file.tensors) REQUIRE(t.bytes == cb.file.get(t.name).bytes);
    for (int i = 0; i < 4; i++) REQUIRE(ca.state.rng_state[i] == cb.state.rng_state[i]);
    // the resumed run's log has every step once, with the same numbers
    REQUIRE(log_rows_without_timing(last.log_path) == log_rows_without_timing(whole.log_path));
}

static TrainResult resume(const std::string& dir, std::vector<std::pair<std::string, std::string>> settings = {}) {
    TrainConfig c;
    FlagSet f("train", "");
    declare_train_flags(f, c);
    f.set("resume", dir);
    f.set("quiet", "true");
    for (auto& kv : settings) f.set(kv.first, kv.second);
    return run_training(c, f);
}

static const std::vector<std::pair<std::string, std::string>> RESUME_RUN = {
    {"steps", "24"}, {"warmup-steps", "5"}, {"val-every", "8"}, {"sample-every", "10"}, {"sample-length", "8"}};

TEST_CASE("a resumed run equals an uninterrupted one bit for bit", "[train][checkpoint]") {
    TempDir a, b;
    TrainResult whole = train_small(a.path, RESUME_RUN);
    REQUIRE(whole.samples.size() == 3);  // steps 10, 20 and the end
    auto first_part = RESUME_RUN;
    first_part.push_back({"stop-after", "13"});  // not a multiple of val-every or sample-every
    TrainResult first = train_small(b.path, first_part);
    REQUIRE(first.last_step == 13);
    // the second part in two pieces, the first on one thread (allowed to differ)
    TrainResult second = resume(b.path, {{"stop-after", "16"}, {"threads", "1"}});
    REQUIRE(second.first_step == 13);
    TrainResult third = resume(b.path);
    REQUIRE(third.first_step == 16);
    require_same_run(whole, {&first, &second, &third});
}

TEST_CASE("a resumed run with --grad-accum 2 equals an uninterrupted one bit for bit, noise scale included",
          "[train][checkpoint][accum]") {
    TempDir a, b;
    auto settings = RESUME_RUN;
    settings.push_back({"grad-accum", "2"});
    settings.push_back({"measure-every", "3"});
    TrainResult whole = train_small(a.path, settings);
    settings.push_back({"stop-after", "13"});
    TrainResult first = train_small(b.path, settings);
    REQUIRE(first.last_step == 13);
    TrainResult second = resume(b.path, {{"threads", "1"}});
    REQUIRE(second.first_step == 13);
    require_same_run(whole, {&first, &second});
    // the noise scale's averages went on across the interruption
    const Checkpoint ca = load_checkpoint(whole.checkpoint_path), cb = load_checkpoint(second.checkpoint_path);
    CHECK(ca.state.noise.count == 8);  // steps 0, 3, ..., 21
    CHECK(ca.state.noise.g2 == cb.state.noise.g2);
    CHECK(ca.state.noise.trace == cb.state.noise.trace);
    CHECK(cb.state.noise.count == 8);
}

TEST_CASE("resuming into another directory carries the log over", "[train][checkpoint]") {
    TempDir a, b, c;
    TrainResult whole = train_small(a.path, RESUME_RUN);
    auto first_part = RESUME_RUN;
    first_part.push_back({"stop-after", "9"});
    TrainResult first = train_small(b.path, first_part);
    TrainResult second = resume(b.path, {{"out-dir", c.path}});
    REQUIRE(second.log_path == c.file("log.csv"));
    require_same_run(whole, {&first, &second});
}

TEST_CASE("resuming with nothing left to do is refused", "[train][checkpoint]") {
    TempDir dir;
    train_small(dir.path, {{"steps", "6"}, {"stop-after", "4"}, {"val-every", "0"}});
    REQUIRE_THROWS_WITH(resume(dir.path, {{"stop-after", "3"}}),
                        Catch::Contains("the checkpoint is at step 4 and the run stops at step 3"));
    // and the checkpoint is untouched: resuming properly still works
    TrainResult r = resume(dir.path);
    REQUIRE(r.first_step == 4);
    REQUIRE(r.last_step == 6);
}

TEST_CASE("lrt train --synth-lexicon trains on another language, is recorded, and a resume keeps it", "[train][checkpoint]") {
    TempDir other_dir, base_dir;
    const std::vector<std::pair<std::string, std::string>> half = {
        {"steps", "4"}, {"stop-after", "2"}, {"val-every", "0"}, {"seed", "3"}};
    auto with_lexicon = half;
    with_lexicon.push_back({"synth-lexicon", "1"});
    TrainResult other = train_small(other_dir.path, with_lexicon), base = train_small(base_dir.path, half);
    // the same initialization sees other text from the first batch on
    REQUIRE(other.train_losses.size() == 2);
    REQUIRE(other.train_losses[0] != base.train_losses[0]);
    // recorded with the run's settings, as --data-seed is
    const JsonValue run = parse_json(text_of(other_dir.path + "/run.json"));
    REQUIRE(run.at("flags").at("synth-lexicon").as_string() == "1");
    // a resume may not switch the language; left out, it stays the checkpoint's
    REQUIRE_THROWS_WITH(resume(other_dir.path, {{"synth-lexicon", "2"}}),
                        Catch::Contains("--synth-lexicon 2 differs from the checkpoint's 1"));
    REQUIRE_THROWS_WITH(resume(base_dir.path, {{"synth-lexicon", "1"}}),
                        Catch::Contains("--synth-lexicon 1 differs from the checkpoint's 0"));
    TrainResult rest = resume(other_dir.path);
    REQUIRE(rest.first_step == 2);
    REQUIRE(rest.last_step == 4);
    // token files have their own words: the flag beside them is refused, not ignored
    TempDir files;
    write_token_file(files.path + "/train.bin", synth_generate(9, 20000));
    write_token_file(files.path + "/val.bin", synth_generate(9, 20000));
    REQUIRE_THROWS_WITH(train_small(files.path + "/run", {{"steps", "2"},
                                                          {"train-data", files.path + "/train.bin"},
                                                          {"val-data", files.path + "/val.bin"},
                                                          {"synth-lexicon", "1"}}),
                        Catch::Contains("--synth-lexicon"));
}

TEST_CASE("resuming refuses changed settings", "[train][checkpoint]") {
    TempDir dir;
    train_small(dir.path, {{"steps", "6"}, {"stop-after", "3"}, {"val-every", "0"}});
    TrainConfig c;
    FlagSet f("train", "");
    declare_train_flags(f, c);
    f.set("resume", dir.path);
    f.set("lr", "0.01");
    REQUIRE_THROWS_WITH(run_training(c, f), Catch::Contains("--lr 0.01 differs from the checkpoint's 0.003"));
}
