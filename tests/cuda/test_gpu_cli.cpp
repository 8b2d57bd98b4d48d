// `lrt train --device cuda` end to end, as a user runs it: a tiny run writes
// every output file and follows the CPU run of the same flags; a run stopped
// part way and resumed equals an uninterrupted one bit for bit (deterministic
// mode is the default); --precision bf16 trains and changes the numbers.
// `lrt finetune --device cuda` with LoRA adapters follows the CPU run.
// (Without a GPU these skip; tests/test_device.cpp covers the error a user
// then gets.)
#include <catch2/catch.hpp>

#include <cmath>
#include <map>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <string>
#include <vector>

#include "../test_helpers.h"
#include "train/checkpoint.h"
#include "gpu_test_helpers.h"
#include "io/json.h"
#include "io/safetensors.h"
#include "util/util.h"

namespace {

// 6 steps of a 1-block model of width 32 in 2 heads, validation every 3
// steps, measurements every 2, a short text sample at the end (sampling runs
// on the host copy, which must be brought up to date).
const std::string TINY =
    " --steps 6 --depth 1 --width 32 --head-dim 16 --batch-size 2 --seq-len 16 --val-every 3 --val-batches 1"
    " --measure-every 2 --measure-tokens 8 --sample-length 8 --synth-train-tokens 8192 --synth-val-tokens 2048"
    " --quiet";

CommandResult train(const std::string& flags) { return run_command(lrt_binary() + " train" + flags); }


std::vector<std::string> lines_of(const std::string& path) {
    std::vector<std::string> out;
    std::istringstream in(text_of(path));
    std::string line;
    while (std::getline(in, line))
        if (!line.empty()) out.push_back(line);
    return out;
}


// The train_loss column of log.csv, one value per step (the final
// validation row has none).
std::vector<double> train_losses(const std::string& log_path) {
    std::vector<std::string> lines = lines_of(log_path);
    REQUIRE(!lines.empty());
    const std::vector<std::string> header = split(lines[0], ',');
    size_t col = 0;
    while (col < header.size() && header[col] != "train_loss") col++;
    REQUIRE(col < header.size());
    std::vector<double> out;
    for (size_t i = 1; i < lines.size(); i++) {
        const std::vector<std::string> row = split(lines[i], ',');
        if (col < row.size() && !row[col].empty()) out.push_back(std::atof(row[col].c_str()));
    }
    return out;
}

// log.csv without the two timing columns (tokens_per_s, elapsed_s), which
// differ between any two runs.
std::vector<std::string> log_without_timing(const std::string& path) {
    std::vector<std::string> rows;
    for (const std::string& line : lines_of(path)) {
        std::vector<std::string> f = split(line, ',');  // without tokens_per_s, elapsed_s (the 7th and 8th)
        if (f.size() > 8) f.erase(f.begin() + 6, f.begin() + 8);
        std::string kept;
        for (const std::string& x : f) kept += x + ",";
        rows.push_back(kept);
    }
    return rows;
}

// A checkpoint's train_flags without the settings that name where a run
// went and where it came from (--out-dir, --resume): a resumed run records
// the checkpoint it resumed from, an uninterrupted one records none.
std::string flags_without_paths(const std::string& json) {
    JsonValue j = parse_json(json), kept = JsonValue::make_object();
    for (const auto& kv : j.obj)
        if (kv.first != "out-dir" && kv.first != "resume") kept.set(kv.first, kv.second);
    return to_json(kept);
}

// An F32 tensor of a checkpoint.
std::vector<float> floats_of(const StTensor& t) {
    REQUIRE(t.dtype == Dtype::F32);
    std::vector<float> out(t.numel());
    std::memcpy(out.data(), t.bytes.data(), 4 * out.size());
    return out;
}

// A GPU run's training losses against the CPU run's of the same flags (both
// `steps` long): same initial parameters and batches, so the first loss
// agrees to float rounding and the rest as training trajectories do
// (test_gpu_model.cpp's LOSS, 1e-5, and TRAJECTORY_LOSS, 1e-4, which say
// why). Shared by the train and the finetune test.
void check_losses_follow(const std::string& gpu_log, const std::string& cpu_log, size_t steps) {
    const std::vector<double> lg = train_losses(gpu_log), lc = train_losses(cpu_log);
    REQUIRE(lg.size() == steps);
    REQUIRE(lc.size() == steps);
    CHECK(gpu_test::scalar_close(lg[0], lc[0], 1e-5));
    for (size_t i = 0; i < lg.size(); i++) {
        INFO("step " << i << ": cuda " << lg[i] << ", cpu " << lc[i]);
        CHECK(gpu_test::scalar_close(lg[i], lc[i], 1e-4));
    }
}

// A GPU run's measure.csv against the CPU run's, row by row: the same header,
// steps and tensors, the LR, multiplier and decay columns identical (the
// host computes them the same way on both devices), every measured value
// within 1e-3 relative. (On the CPU emulation of tests/emu the worst is
// 1.7e-7: the two runs have drifted apart by rounding only; a wrong
// snapshot or LR changes these by 1e-2 and more.) Returns the GPU run's
// lines, header first, for a test's own checks of which rows there are.
std::vector<std::string> check_measurements_agree(const std::string& gpu_csv, const std::string& cpu_csv) {
    const std::vector<std::string> mg = lines_of(gpu_csv), mc = lines_of(cpu_csv);
    REQUIRE(mg.size() == mc.size());
    REQUIRE(!mg.empty());
    CHECK(mg[0] == mc[0]);
    for (size_t row = 1; row < mg.size(); row++) {
        const std::vector<std::string> g = split(mg[row], ','), c = split(mc[row], ',');
        INFO("measure.csv row " << row << "\ncuda: " << mg[row] << "\ncpu:  " << mc[row]);
        REQUIRE(g.size() == c.size());
        for (size_t col = 0; col < 7; col++) CHECK(g[col] == c[col]);  // step,tensor,role,layer,lr,lr_multiplier,decay
        for (size_t col = 7; col < g.size(); col++) {
            // the noise-scale columns are empty without --grad-accum, on both
            if (g[col].empty() || c[col].empty()) {
                CHECK(g[col] == c[col]);
                continue;
            }
            const double x = std::stod(g[col]), y = std::stod(c[col]);
            if (std::isnan(y)) CHECK(std::isnan(x));
            else CHECK(gpu_test::scalar_close(x, y, 1e-3));
        }
    }
    return mg;
}

}  // namespace

TEST_CASE("lrt train --device cuda: a tiny run writes every output file and follows the CPU run", "[cuda][cli]") {
    REQUIRE_GPU_OR_SKIP();
    TempDir gpu_dir, cpu_dir;
    CommandResult r = train(" --device cuda" + TINY + " --out-dir " + gpu_dir.path);
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    REQUIRE_FALSE(r.crashed);
    for (const char* f : {"log.csv", "measure.csv", "checkpoint.safetensors", "result.json", "run_info.txt"}) {
        INFO(f);
        CHECK(file_exists(gpu_dir.file(f)));
    }
    // log.csv: a header, one row per step, and the final validation row
    CHECK(lines_of(gpu_dir.file("log.csv")).size() == 1 + 6 + 1);
    // measure.csv: steps 0, 2, 4, each with 4 matrices in the block and the readout
    CHECK(lines_of(gpu_dir.file("measure.csv")).size() == 1 + 3 * 5);
    const JsonValue result = parse_json(text_of(gpu_dir.file("result.json")));
    CHECK(result.at("status").as_string() == "done");
    CHECK(std::isfinite(result.at("final_val_loss").as_number()));
    const Checkpoint ckpt = load_checkpoint(gpu_dir.file("checkpoint.safetensors"));
    CHECK(ckpt.state.step == 6);
    CHECK(text_of(gpu_dir.file("run_info.txt")).find("device: cuda") != std::string::npos);

    // The CPU run of the same flags: the losses follow it, and the
    // measurements agree row by row.
    CommandResult c = train(" --device cpu" + TINY + " --out-dir " + cpu_dir.path);
    INFO(c.output);
    REQUIRE(c.exit_code == 0);
    check_losses_follow(gpu_dir.file("log.csv"), cpu_dir.file("log.csv"), 6);
    check_measurements_agree(gpu_dir.file("measure.csv"), cpu_dir.file("measure.csv"));
}

TEST_CASE("lrt train --device cuda: a run stopped and resumed equals an uninterrupted one bit for bit", "[cuda][cli]") {
    REQUIRE_GPU_OR_SKIP();
    // plain, and with --grad-accum 2 (micro-batches of one sequence, the noise
    // scale measured every 2 steps and carried by the checkpoint)
    const std::string accum = GENERATE(as<std::string>(), "", " --grad-accum 2");
    INFO("flags:" << accum);
    const std::string TINY = ::TINY + accum;
    TempDir whole, parts;
    CommandResult a = train(" --device cuda" + TINY + " --out-dir " + whole.path);
    INFO(a.output);
    REQUIRE(a.exit_code == 0);
    // stopped after step 3: between validations (every 3) and measurements (every 2)
    CommandResult b = train(" --device cuda" + TINY + " --stop-after 3 --out-dir " + parts.path);
    INFO(b.output);
    REQUIRE(b.exit_code == 0);
    CHECK(parse_json(text_of(parts.file("result.json"))).at("status").as_string() == "stopped");
    // --device may change on resuming (train.cpp), so it is given again
    CommandResult resumed = run_command(lrt_binary() + " train --resume " + parts.path + " --device cuda --quiet");
    INFO(resumed.output);
    REQUIRE(resumed.exit_code == 0);

    // Every tensor (parameters and both Adam moments) byte for byte, and all
    // the metadata (step, data position, sampling RNG). The files as a whole
    // differ only in train_flags' --out-dir and --resume, which record paths.
    const SafeTensors x = load_safetensors(whole.file("checkpoint.safetensors"));
    const SafeTensors y = load_safetensors(parts.file("checkpoint.safetensors"));
    REQUIRE(x.tensors.size() == y.tensors.size());
    for (const StTensor& t : x.tensors) {
        INFO(t.name);
        CHECK(t.bytes == y.get(t.name).bytes);
    }
    REQUIRE(x.metadata.size() == y.metadata.size());
    for (const auto& kv : x.metadata) {
        INFO("metadata " << kv.first);
        if (kv.first == "train_flags") CHECK(flags_without_paths(kv.second) == flags_without_paths(y.meta(kv.first)));
        else CHECK(kv.second == y.meta(kv.first));
    }
    // the logs and measurements: the same numbers, every step once
    CHECK(log_without_timing(whole.file("log.csv")) == log_without_timing(parts.file("log.csv")));
    CHECK(text_of(whole.file("measure.csv")) == text_of(parts.file("measure.csv")));
}

TEST_CASE("lrt train --device cuda --precision bf16 trains, and differs from fp32", "[cuda][cli]") {
    REQUIRE_GPU_OR_SKIP();
    TempDir fp32, bf16;
    CommandResult a = train(" --device cuda" + TINY + " --out-dir " + fp32.path);
    INFO(a.output);
    REQUIRE(a.exit_code == 0);
    CommandResult b = train(" --device cuda --precision bf16" + TINY + " --out-dir " + bf16.path);
    INFO(b.output);
    REQUIRE(b.exit_code == 0);
    CHECK(parse_json(text_of(bf16.file("result.json"))).at("status").as_string() == "done");
    CHECK(text_of(bf16.file("run_info.txt")).find("bf16") != std::string::npos);
    const std::vector<double> la = train_losses(fp32.file("log.csv")), lb = train_losses(bf16.file("log.csv"));
    REQUIRE(lb.size() == la.size());
    // bf16 operands move the first loss by ~1e-3 at most (test_gpu_layers.cpp:
    // MATMUL_BF16 is 1e-2 of the largest logit); the loss is an average, so 1e-2.
    CHECK(gpu_test::scalar_close(lb[0], la[0], 1e-2));
    for (double loss : lb) CHECK(std::isfinite(loss));
    // and the precision reached the GPU: the trained parameters differ
    const SafeTensors x = load_safetensors(fp32.file("checkpoint.safetensors"));
    const SafeTensors y = load_safetensors(bf16.file("checkpoint.safetensors"));
    size_t differing = 0;
    for (const StTensor& t : x.tensors) differing += t.bytes != y.get(t.name).bytes;
    CHECK(differing > 0);
}

// `lrt finetune --device cuda` with adapters, against the CPU run of the same
// flags from the same base checkpoint: the losses as the train test above,
// the measurements of the adapters, and the frozen tensors left with the
// base's bits. Standard init, and LoRA-GA (computed on the host model before
// the GPU twin is made, so both devices start from the same adapters).
TEST_CASE("lrt finetune --device cuda with LoRA adapters follows the CPU run; frozen tensors keep the base's bits",
          "[cuda][cli][lora]") {
    REQUIRE_GPU_OR_SKIP();
    const std::string init = GENERATE(as<std::string>(), "standard", "ga");
    INFO("--lora-init " << init);
    TempDir base, gpu_dir, cpu_dir;
    CommandResult b = train(" --device cpu" + TINY + " --out-dir " + base.path);
    INFO(b.output);
    REQUIRE(b.exit_code == 0);
    const std::string flags = " --from " + base.file("checkpoint.safetensors") +
                              " --data-seed 2 --steps 6 --lr 1e-2 --lora-rank 4 --lora-alpha 8 --lora-plus-ratio 4"
                              " --lora-init " + init + " --batch-size 2 --seq-len 16 --val-every 3 --val-batches 1"
                              " --measure-every 2 --measure-tokens 8 --sample-length 8 --synth-train-tokens 8192"
                              " --synth-val-tokens 2048 --quiet";
    CommandResult g = run_command(lrt_binary() + " finetune --device cuda" + flags + " --out-dir " + gpu_dir.path);
    INFO(g.output);
    REQUIRE(g.exit_code == 0);
    REQUIRE_FALSE(g.crashed);
    CommandResult c = run_command(lrt_binary() + " finetune --device cpu" + flags + " --out-dir " + cpu_dir.path);
    INFO(c.output);
    REQUIRE(c.exit_code == 0);
    CHECK(text_of(gpu_dir.file("run_info.txt")).find("device: cuda") != std::string::npos);

    check_losses_follow(gpu_dir.file("log.csv"), cpu_dir.file("log.csv"), 6);
    // measure.csv: the adapters only (the frozen matrices do not move), the
    // same rows on both devices, the values within 1e-3 as in the train test
    const std::vector<std::string> mg =
        check_measurements_agree(gpu_dir.file("measure.csv"), cpu_dir.file("measure.csv"));
    REQUIRE(mg.size() == 1 + 3 * 2 * 4);  // steps 0, 2, 4; A and B beside each of the block's 4 matrices
    for (size_t row = 1; row < mg.size(); row++) {
        INFO("measure.csv row " << row << ": " << mg[row]);
        CHECK(split(mg[row], ',')[1].find(".lora_") != std::string::npos);
    }
    // Every tensor of the base is frozen: the GPU run's checkpoint holds it
    // bit for bit (LoRA-GA shifts each adapted W0 once, on the host, the
    // same on both devices, so there the CPU run's copy is the reference),
    // and the adapters moved.
    const SafeTensors from = load_safetensors(base.file("checkpoint.safetensors"));
    const SafeTensors x = load_safetensors(gpu_dir.file("checkpoint.safetensors"));
    const SafeTensors y = load_safetensors(cpu_dir.file("checkpoint.safetensors"));
    int frozen = 0, adapters = 0;
    for (const StTensor& t : x.tensors) {
        INFO(t.name);
        if (t.name.compare(0, 10, "optimizer.") == 0) continue;
        if (t.name.find(".lora_") != std::string::npos) {
            adapters++;
            // test_gpu_model.cpp's TRAJECTORY_PARAMS, relative to the tensor's largest entry
            gpu_test::check_close(t.name, floats_of(t), floats_of(y.get(t.name)), 2e-3);
            continue;
        }
        frozen++;
        CHECK(t.bytes == (init == "ga" ? y : from).get(t.name).bytes);
        CHECK(x.find("optimizer.m." + t.name) == nullptr);  // no optimizer state for a frozen tensor
    }
    CHECK(adapters == 2 * 4);
    CHECK(frozen > 0);
}

// The sweep check in miniature: a learning-rate sweep with every run
// on the GPU finds the CPU sweep's optimal LR at each width. The two sweeps
// are one `lrt sweep` with a cpu and a gpu configuration, so they share
// widths, LRs, data and seeds. Per-run losses differ by rounding only (see
// test_gpu_model.cpp), far less than the loss differences between LRs a
// factor of 2 apart, so the fitted optima must agree closely: within 0.05
// octaves (a wrong LR multiplier on the GPU moves them by 1 octave or more).
TEST_CASE("lrt sweep --device cuda finds the CPU sweep's optimal LR at each width", "[cuda][sweep]") {
    REQUIRE_GPU_OR_SKIP();
    TempDir dir;
    const std::string lrt = lrt_binary(), sweep = dir.file("sweep");
    write_file_atomic(dir.file("configs.txt"), "cpu --param mup --d-base 16 --device cpu\n"
                                               "gpu --param mup --d-base 16 --device cuda\n");
    const std::string common = "--steps 40 --warmup-steps 4 --depth 1 --head-dim 8 --batch-size 4 --seq-len 16 "
                               "--val-every 0 --val-batches 4 --sample-length 0 --measure-every 0 "
                               "--synth-train-tokens 20000 --synth-val-tokens 4096 --quiet";
    CommandResult r = run_command(lrt + " sweep --dir " + sweep + " --configs " + dir.file("configs.txt") +
                                  " --widths 16,32 --lrs 0.004,0.008,0.016,0.032,0.064,0.128 --jobs 2 --lrt " + lrt +
                                  " --common \"" + common + "\"");
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    // optimum.csv: config,width,best_lr,best_loss,fitted_lr,fitted_loss,fitted,at_edge,diverged,runs,steps
    std::map<std::pair<std::string, std::string>, std::vector<std::string>> rows;
    for (const std::string& line : lines_of(sweep + "/optimum.csv")) {
        std::vector<std::string> f = split(line, ',');
        if (f.size() >= 8 && f[0] != "config") rows[{f[0], f[1]}] = f;
    }
    for (const char* width : {"16", "32"}) {
        INFO("width " << width);
        REQUIRE(rows.count({"cpu", width}));
        REQUIRE(rows.count({"gpu", width}));
        const std::vector<std::string>&cpu = rows[{"cpu", width}], &gpu = rows[{"gpu", width}];
        CHECK(cpu[7] == "0");  // an interior optimum, or the comparison says little
        CHECK(std::fabs(std::log2(std::stod(gpu[4]) / std::stod(cpu[4]))) < 0.05);
        CHECK(std::fabs(std::stod(gpu[3]) - std::stod(cpu[3])) < 1e-3 * std::stod(cpu[3]));
    }
}
