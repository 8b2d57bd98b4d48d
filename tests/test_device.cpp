// The device flags as a user meets them on any machine: without a usable GPU
// (or without CUDA in the build), asking for one is a clear error, never a
// crash or a half-written run. (Where a GPU is present, tests/cuda/ runs the
// GPU path itself and these cases skip.)
#include <catch2/catch.hpp>

#include "gpu.h"
#include "io/safetensors.h"
#include "test_helpers.h"
#include "util/util.h"

static const std::string TINY = " --steps 2 --depth 1 --width 32 --head-dim 16 --batch-size 2 --seq-len 16"
                                " --synth-train-tokens 4096 --synth-val-tokens 2048 --val-batches 1 --quiet";

TEST_CASE("--device cuda without a usable GPU fails with the reason", "[device][cli]") {
    std::string why;
    if (gpu::available(&why)) {
        WARN("SKIPPED: a GPU is available here; tests/cuda/ covers --device cuda");
        return;
    }
    REQUIRE_FALSE(why.empty());
    TempDir tmp;
    CommandResult r = run_command(lrt_binary() + " train --device cuda" + TINY + " --out-dir " + tmp.file("run"));
    CHECK(r.exit_code == 1);
    CHECK_FALSE(r.crashed);
    CHECK(r.output.find("error: --device cuda: " + why) != std::string::npos);
    CHECK(r.output.find("--device cpu") != std::string::npos);  // says what to do instead
    CHECK_FALSE(file_exists(tmp.file("run/result.json")));

    r = run_command(lrt_binary() + " demo --device cuda --dir " + tmp.file("demo"));
    CHECK(r.exit_code == 1);
    CHECK(r.output.find("error: --device cuda: " + why) != std::string::npos);
    CHECK_FALSE(file_exists(tmp.file("demo/plan.txt")));
}

TEST_CASE("--precision other than fp32 needs --device cuda", "[device][cli]") {
    TempDir tmp;
    for (const char* p : {"tf32", "bf16"}) {
        CommandResult r = run_command(lrt_binary() + " train --precision " + p + TINY + " --out-dir " + tmp.file("run"));
        INFO(r.output);
        CHECK(r.exit_code == 1);
        CHECK(r.output.find("needs --device cuda") != std::string::npos);
    }
    CommandResult r = run_command(lrt_binary() + " train --precision fp16" + TINY + " --out-dir " + tmp.file("run"));
    CHECK(r.exit_code == 1);
    CHECK(r.output.find("fp16") != std::string::npos);
}

TEST_CASE("gpu::parse_precision names the choices", "[device]") {
    CHECK(gpu::parse_precision("fp32") == gpu::Precision::FP32);
    CHECK(gpu::parse_precision("tf32") == gpu::Precision::TF32);
    CHECK(gpu::parse_precision("bf16") == gpu::Precision::BF16);
    for (gpu::Precision p : {gpu::Precision::FP32, gpu::Precision::TF32, gpu::Precision::BF16})
        CHECK(gpu::parse_precision(gpu::precision_name(p)) == p);
    try {
        gpu::parse_precision("fp16");
        FAIL("fp16 was accepted");
    } catch (const std::runtime_error& e) {
        CHECK(std::string(e.what()).find("fp32, tf32 or bf16") != std::string::npos);
    }
}

TEST_CASE("a CPU run says where it ran", "[device][cli]") {
    TempDir tmp;
    CommandResult r = run_command(lrt_binary() + " train --device cpu" + TINY + " --out-dir " + tmp.file("run"));
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    std::vector<uint8_t> bytes = read_file(tmp.file("run/run_info.txt"));
    std::string info(bytes.begin(), bytes.end());
    CHECK(info.find("device: cpu (OpenMP), fp32") != std::string::npos);
}

// Rewrites one setting in a checkpoint's saved flags (as if the run had been
// started with it): `from` and `to` are JSON pieces such as "device":"cpu".
static void relabel_checkpoint(const std::string& ckpt, const std::string& from, const std::string& to) {
    SafeTensors st = load_safetensors(ckpt);
    std::string flags = st.meta("train_flags");
    REQUIRE(flags.find(from) != std::string::npos);
    flags.replace(flags.find(from), from.size(), to);
    st.set_meta("train_flags", flags);
    save_safetensors(ckpt, st);
}

// A run keeps its device on --resume unless --device is given: a GPU run
// resumed without the flag must not quietly go on on the CPU. Checked here
// with a CPU run whose checkpoint is relabelled as a GPU run's.
TEST_CASE("--resume keeps the checkpoint's device unless --device is given", "[device][cli]") {
    std::string why;
    if (gpu::available(&why)) {
        WARN("SKIPPED: a GPU is available here; tests/cuda/ resumes GPU runs");
        return;
    }
    TempDir tmp;
    const std::string dir = tmp.file("run");
    CommandResult r = run_command(lrt_binary() + " train" + TINY + " --steps 4 --stop-after 2 --out-dir " + dir);
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    relabel_checkpoint(dir + "/checkpoint.safetensors", "\"device\":\"cpu\"", "\"device\":\"cuda\"");

    r = run_command(lrt_binary() + " train --resume " + dir + " --quiet");
    CHECK(r.exit_code == 1);
    CHECK(r.output.find("error: --device cuda: " + why) != std::string::npos);
    r = run_command(lrt_binary() + " train --resume " + dir + " --device cpu --quiet");
    INFO(r.output);
    CHECK(r.exit_code == 0);
    CHECK(file_exists(dir + "/result.json"));
}

// The same for --deterministic, and a tf32/bf16 run (GPU only) resumed on
// the CPU is refused with the reason.
TEST_CASE("--resume keeps --deterministic unless given; a bf16 checkpoint needs the GPU", "[device][cli]") {
    TempDir tmp;
    const std::string dir = tmp.file("run");
    CommandResult r = run_command(lrt_binary() + " train" + TINY + " --steps 6 --stop-after 2 --out-dir " + dir);
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    const std::string ckpt = dir + "/checkpoint.safetensors";
    auto relabel = [&](const std::string& from, const std::string& to) { relabel_checkpoint(ckpt, from, to); };
    relabel("\"deterministic\":\"true\"", "\"deterministic\":\"false\"");
    r = run_command(lrt_binary() + " train --resume " + dir + " --stop-after 4 --quiet");
    REQUIRE(r.exit_code == 0);
    CHECK(load_safetensors(ckpt).meta("train_flags").find("\"deterministic\":\"false\"") != std::string::npos);
    r = run_command(lrt_binary() + " train --resume " + dir + " --stop-after 5 --deterministic --quiet");
    REQUIRE(r.exit_code == 0);
    CHECK(load_safetensors(ckpt).meta("train_flags").find("\"deterministic\":\"true\"") != std::string::npos);

    relabel("\"precision\":\"fp32\"", "\"precision\":\"bf16\"");
    r = run_command(lrt_binary() + " train --resume " + dir + " --device cpu --quiet");
    CHECK(r.exit_code == 1);
    CHECK(r.output.find("was trained with --precision bf16 on the GPU; it can be resumed only with --device cuda") !=
          std::string::npos);
}
