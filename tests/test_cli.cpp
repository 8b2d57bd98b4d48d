// The program run as a user runs it: bad input gets a clear message and a
// non-zero exit, never a crash.
#include <catch2/catch.hpp>

#include <cstdint>
#include <vector>

#include "data/data.h"
#include "test_helpers.h"
#include "util/util.h"

static void expect_error(const std::string& args, const std::string& message) {
    CommandResult r = run_command(lrt_binary() + " " + args);
    INFO("lrt " << args << "\n" << r.output);
    REQUIRE_FALSE(r.crashed);
    REQUIRE(r.exit_code == 1);
    REQUIRE_THAT(r.output, Catch::Contains("error: ") && Catch::Contains(message));
}

// header (256 int32) + tokens, with the header fields given
static void write_raw_token_file(const std::string& path, int32_t magic, int32_t version, int32_t count,
                                 const std::vector<uint16_t>& tokens) {
    std::vector<int32_t> header(256, 0);
    header[0] = magic;
    header[1] = version;
    header[2] = count;
    std::string bytes((const char*)header.data(), 1024);
    bytes.append((const char*)tokens.data(), tokens.size() * 2);
    write_file_atomic(path, bytes);
}

TEST_CASE("lrt rejects bad files with clear messages", "[cli]") {
    TempDir dir;
    std::vector<uint16_t> ok(5000, 'a');
    std::string good = dir.file("good.bin");
    write_token_file(good, ok);
    std::string tiny = " --width 16 --depth 1 --head-dim 8 --seq-len 16 --batch-size 2 --steps 1 --out-dir " + dir.file("run");

    expect_error("train --train-data " + dir.file("missing.bin") + " --val-data " + good + tiny, "does not exist");

    write_raw_token_file(dir.file("magic.bin"), 12345, 1, 5000, ok);
    expect_error("train --train-data " + dir.file("magic.bin") + " --val-data " + good + tiny, "magic");

    write_raw_token_file(dir.file("version.bin"), 20240520, 7, 5000, ok);
    expect_error("train --train-data " + dir.file("version.bin") + " --val-data " + good + tiny, "version");

    write_raw_token_file(dir.file("truncated.bin"), 20240520, 1, 6000, ok);
    expect_error("train --train-data " + dir.file("truncated.bin") + " --val-data " + good + tiny, "truncated");

    std::vector<uint16_t> big = ok;
    big[1234] = 300;
    write_token_file(dir.file("big.bin"), big);
    expect_error("train --train-data " + dir.file("big.bin") + " --val-data " + good + tiny,
                 "token id 300 at position 1234 is >= vocab size 256");

    expect_error("train --train-data " + good + tiny, "give both --train-data and --val-data");

    write_token_file(dir.file("short.bin"), std::vector<uint16_t>(10, 'b'));
    expect_error("train --train-data " + good + " --val-data " + dir.file("short.bin") + tiny,
                 "short.bin: token stream has 10 tokens, too few for one window");
    expect_error("train --resume " + dir.file("nothing"), "cannot open");
    write_file_atomic(dir.file("not_ckpt.safetensors"), std::string("garbage!"));
    expect_error("train --resume " + dir.file("not_ckpt.safetensors"), "not_ckpt.safetensors");
    expect_error("tokenize --train-out " + dir.file("t.bin") + " --val-out " + dir.file("v.bin") + " " +
                     dir.file("absent.txt"),
                 "cannot open");
}

TEST_CASE("lrt rejects bad flags with clear messages", "[cli]") {
    expect_error("train --widht 64", "unknown flag --widht");
    expect_error("train --lr abc", "--lr expects a number, got 'abc'");
    expect_error("train --width 12.5", "--width expects an integer");
    expect_error("train --width 0", "--width must be >= 1, got 0");
    expect_error("train --lr -1", "--lr must be > 0");
    expect_error("train --beta2 1.5", "--beta2 must be in [0, 0.999999]");
    expect_error("train --lr-decay exponential", "--lr-decay must be one of constant, linear, cosine, wsd");
    expect_error("train --steps", "--steps needs a value");
    expect_error("train --seq-len 64 --context-length 32", "--seq-len 64 exceeds --context-length 32");
    expect_error("train --width 100 --head-dim 32", "not a multiple of --head-dim");
    expect_error("train stray", "unexpected argument 'stray'");
    expect_error("train --threads 100000", "--threads must be in [0, 256]");
    expect_error("train --out-dir= --steps 1", "--out-dir must not be empty");
    expect_error("train --width 4 --head-dim 4 --mlp-ratio 1073741825", "--mlp-ratio 1073741825 exceeds 64");
    expect_error("tokenize --val-fraction 0.9 --train-out a --val-out b x", "--val-fraction must be in");
    CommandResult r = run_command(lrt_binary() + " frobnicate");
    REQUIRE(r.exit_code == 2);
    REQUIRE_THAT(r.output, Catch::Contains("unknown command 'frobnicate'"));
}

TEST_CASE("every command has --help", "[cli]") {
    for (const char* cmd : {"train", "tokenize", "synth", "demo", "coordcheck", "sweep", "figures", "hessian",
                            "reference", "compare"}) {
        CommandResult r = run_command(lrt_binary() + " " + cmd + " --help");
        INFO(cmd << "\n" << r.output);
        REQUIRE(r.exit_code == 0);
        REQUIRE_THAT(r.output, Catch::Contains("usage: lrt " + std::string(cmd)));
    }
    CommandResult r = run_command(lrt_binary() + " train --help");
    for (const char* flag : {"--lr ", "--weight-decay", "--resume", "--warmup-steps", "--lr-decay", "--grad-clip"})
        REQUIRE_THAT(r.output, Catch::Contains(flag));
}

TEST_CASE("lrt tokenize and lrt train work together", "[cli]") {
    TempDir dir;
    std::string text;
    for (int i = 0; i < 200; i++) text += "the quick brown fox jumps over the lazy dog. ";
    write_file_atomic(dir.file("a.txt"), text);
    write_file_atomic(dir.file("b.txt"), text + "and again.");
    CommandResult t = run_command(lrt_binary() + " tokenize --train-out " + dir.file("train.bin") + " --val-out " +
                                  dir.file("val.bin") + " --val-fraction 0.2 " + dir.file("a.txt") + " " +
                                  dir.file("b.txt"));
    INFO(t.output);
    REQUIRE(t.exit_code == 0);
    std::vector<uint16_t> train = read_token_file(dir.file("train.bin")), val = read_token_file(dir.file("val.bin"));
    REQUIRE(train.size() + val.size() == 2 + 2 * text.size() + 10);
    REQUIRE(train[0] == 0);  // documents start with the end-of-document token
    CommandResult r = run_command(lrt_binary() + " train --train-data " + dir.file("train.bin") + " --val-data " +
                                  dir.file("val.bin") + " --width 16 --depth 1 --head-dim 8 --seq-len 32 "
                                  "--batch-size 4 --steps 3 --sample-length 0 --out-dir " + dir.file("run"));
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    REQUIRE_THAT(r.output, Catch::Contains("final: step 3 val loss"));
    REQUIRE(file_exists(dir.file("run/checkpoint.safetensors")));
}
