// Every file reader under attack: damaged, truncated, oversized or wrong
// files (a directory, /dev/zero) give a clear error, or where documented a
// warning, and never a crash, a hang or a read until memory runs out.
#include <catch2/catch.hpp>

#include <fstream>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/csv.h"
#include "data/data.h"
#include "io/safetensors.h"
#include "test_helpers.h"
#include "util/util.h"

using Catch::Contains;

namespace {

// A file of `size` bytes that starts with `start` and is zero after it,
// made sparse so a multi-GiB file costs no disk (and reading it all would
// take long enough to notice). False where the file system refuses.
bool write_sparse_file(const std::string& path, const std::vector<uint8_t>& start, uint64_t size) {
    int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) return false;
    bool ok = write(fd, start.data(), start.size()) == (ssize_t)start.size() && ftruncate(fd, (off_t)size) == 0;
    close(fd);
    return ok;
}

std::vector<uint8_t> bytes_of(const std::string& path) { return read_file(path); }

// ---- a sweep built by hand: two configurations (mup, sp), width 32, lr 0.01

const char* LAYER = "transformer.h.0.mlp.c_fc.weight";
const char* MEASURE_HEADER =
    "step,tensor,role,layer,lr,lr_multiplier,decay,w_norm,dw_norm,x_norm,wx_norm,dwx_norm,rel_update,rrc,alpha_w,"
    "alpha_dw,alignment_ratio,w_rms,u_rms,w_rms_equilibrium,rel_update_equilibrium,angular_update,angular_equilibrium\n";
const char* LOG_HEADER = "step,lr,hidden_lr,train_loss,val_loss,grad_norm,tokens_per_s,elapsed_s\n";

std::string measure_row(int step) {
    return std::to_string(step) + "," + LAYER +
           ",hidden,0,0.01,1,0.0001,1,0.1,1,1,0.1,0.01,0.1,1,1,1,0.02,1,nan,nan,0.01,nan\n";
}

std::string log_rows(int steps) {
    std::string s;
    for (int i = 0; i < steps; i++) s += std::to_string(i) + ",0.01,0.01,3.5,,1.2,1000.0,0.5\n";
    return s;
}

// the row train writes at the end: the final validation loss, no LR
std::string final_log_row(int step) { return std::to_string(step) + ",,,,3.400000,,,0.600\n";
}

// the fields of run.json that lrt figures reads
std::string run_json(const std::string& preset, const std::string& m) {
    return "{\"format\":\"lrtransfer-run\",\"parameterization\":{\"preset\":\"" + preset +
           "\",\"width_multiplier\":" + m + "},\"replacement_warmup\":\"none\",\"optimizer\":{\"hidden\":\"adamw\"}}\n";
}

struct HandSweep {
    TempDir tmp;
    std::string dir;
    HandSweep() : dir(tmp.file("sweep")) {
        std::string plan_csv = "id,config,width,lr,seed,out_dir\n", plan_txt;
        for (const char* config : {"mup", "sp"}) {
            std::string id = std::string(config) + "_w32_lr0.01_s1", out = dir + "/runs/" + id;
            make_dirs(out);
            plan_csv += id + "," + config + ",32,0.01,1," + out + "\n";
            plan_txt += "true\n";
            write_file_atomic(out + "/result.json", "{\"status\":\"done\",\"final_val_loss\":3.0,\"min_train_loss\":2.9,"
                                                    "\"elapsed_s\":1,\"steps_run\":4}\n");
            write_file_atomic(out + "/measure.csv", std::string(MEASURE_HEADER) + measure_row(0) + measure_row(2));
            write_file_atomic(out + "/log.csv", std::string(LOG_HEADER) + log_rows(4) + final_log_row(4));
            write_file_atomic(out + "/run.json", run_json(config, "1"));
        }
        write_file_atomic(dir + "/plan.csv", plan_csv);
        write_file_atomic(dir + "/plan.txt", plan_txt);
    }
    std::string run(const std::string& config) const { return dir + "/runs/" + config + "_w32_lr0.01_s1"; }
    CommandResult figures() const {
        return run_command(lrt_binary() + " figures --sweep " + dir + " --mup-config mup --sp-config sp");
    }
};

}  // namespace

// ---------------------------------------------------------------------------
// the checked CSV reader
// ---------------------------------------------------------------------------

TEST_CASE("csv: rows are checked against the header; a torn last line is skipped with a warning", "[readers]") {
    SECTION("a good file") {
        CsvTable t = parse_csv("a,b\n1,2\n\n3,nan\r\n", "f.csv");
        REQUIRE(t.rows.size() == 2);
        REQUIRE(t.warning.empty());
        CHECK(t.rows[1].line == 4);
        CHECK(t.number(t.rows[0], t.col("b")) == 2);
        CHECK(std::isnan(t.number(t.rows[1], t.col("b"))));
        CHECK_THROWS_WITH(t.finite_number(t.rows[1], t.col("b")), Contains("f.csv:4: column 'b'") && Contains("finite"));
        CHECK_THROWS_WITH(t.col("c"), Contains("f.csv: no column 'c'"));
        CHECK_THROWS_WITH(t.number(t.rows[0], 7), Contains("f.csv:2"));
    }
    SECTION("header only, with or without its newline") {
        CHECK(parse_csv("a,b\n", "f.csv").rows.empty());
        CHECK(parse_csv("a,b", "f.csv").rows.empty());
    }
    SECTION("empty") {
        CHECK_THROWS_WITH(parse_csv("", "f.csv"), Contains("f.csv: empty file"));
        CHECK_THROWS_WITH(parse_csv("\n1,2\n", "f.csv"), Contains("f.csv:1: empty header line"));
    }
    SECTION("a torn last line") {
        CsvTable t = parse_csv("a,b\n1,2\n3", "f.csv");
        CHECK(t.rows.size() == 1);
        CHECK_THAT(t.warning, Contains("f.csv:3") && Contains("no newline"));
        // even one with the right field count: its last number may be cut short
        CHECK(parse_csv("a,b\n1,2\n3,4", "f.csv").rows.size() == 1);
    }
    SECTION("a short or long row in the middle") {
        CHECK_THROWS_WITH(parse_csv("a,b,c\n1,2,3\n4,5\n6,7,8\n", "f.csv"),
                          Contains("f.csv:3: 2 fields, but the header has 3"));
        CHECK_THROWS_WITH(parse_csv("a,b\n1,2,3\n", "f.csv"), Contains("f.csv:2: 3 fields"));
        // the last line too, when it does end in a newline
        CHECK_THROWS_WITH(parse_csv("a,b\n1,2\n3\n", "f.csv"), Contains("f.csv:3: 1 fields"));
    }
    SECTION("fields that are not numbers") {
        CsvTable t = parse_csv("a,b\n1,\n1,2x\n1, 2\n1,0x\n", "f.csv");
        CHECK_THROWS_WITH(t.number(t.rows[0], 1), Contains("f.csv:2: column 'b': '' is not a number"));
        CHECK_THROWS_WITH(t.number(t.rows[1], 1), Contains("f.csv:3: column 'b': '2x' is not a number"));
        CHECK(std::isnan(t.optional_number(t.rows[0], 1)));
        CHECK_THROWS_WITH(t.optional_number(t.rows[1], 1), Contains("f.csv:3"));
        CHECK(t.number(t.rows[2], 1) == 2);
        CHECK_THROWS_WITH(t.number(t.rows[3], 1), Contains("f.csv:5"));
        CsvTable nul = parse_csv(std::string("a\n1\0002\n", 6), "f.csv");
        CHECK_THROWS_WITH(nul.number(nul.rows[0], 0), Contains("is not a number"));
    }
}

// ---------------------------------------------------------------------------
// lrt figures on damaged measurements
// ---------------------------------------------------------------------------

TEST_CASE("lrt figures: a hand-built sweep draws; damaged CSV files fail cleanly or warn", "[readers][figures][cli]") {
    SECTION("intact") {
        HandSweep s;
        CommandResult r = s.figures();
        INFO(r.output);
        REQUIRE(r.exit_code == 0);
        REQUIRE(r.output.find("warning") == std::string::npos);
        REQUIRE(file_exists(s.dir + "/implicit_warmup.svg"));
    }
    SECTION("torn last rows (a run killed mid-write) are skipped with a warning naming the file") {
        HandSweep s;
        write_file_atomic(s.run("sp") + "/measure.csv",
                          std::string(MEASURE_HEADER) + measure_row(0) + measure_row(2) + "4," + LAYER + ",hid");
        write_file_atomic(s.run("sp") + "/log.csv", std::string(LOG_HEADER) + log_rows(4) + "4");
        CommandResult r = s.figures();
        INFO(r.output);
        REQUIRE_FALSE(r.crashed);
        REQUIRE(r.exit_code == 0);
        REQUIRE(r.output.find("warning: " + s.run("sp") + "/measure.csv:4: the last line has no newline") !=
                std::string::npos);
        REQUIRE(r.output.find("warning: " + s.run("sp") + "/log.csv:6: the last line has no newline") !=
                std::string::npos);
    }
    SECTION("a row with too few fields in the middle is an error naming file and line") {
        HandSweep s;
        write_file_atomic(s.run("mup") + "/measure.csv",
                          std::string(MEASURE_HEADER) + measure_row(0) + "1,x,y\n" + measure_row(2));
        CommandResult r = s.figures();
        INFO(r.output);
        REQUIRE_FALSE(r.crashed);
        REQUIRE(r.exit_code == 1);
        REQUIRE(r.output.find("error: " + s.run("mup") + "/measure.csv:3: 3 fields, but the header has 23") !=
                std::string::npos);
    }
    SECTION("a log row with too few fields") {
        HandSweep s;
        write_file_atomic(s.run("sp") + "/log.csv", std::string(LOG_HEADER) + "0,0.01\n" + log_rows(4));
        CommandResult r = s.figures();
        INFO(r.output);
        REQUIRE_FALSE(r.crashed);
        REQUIRE(r.exit_code == 1);
        REQUIRE(r.output.find(s.run("sp") + "/log.csv:2: 2 fields") != std::string::npos);
    }
    SECTION("a field that is not a number names file, line and column") {
        HandSweep s;
        std::string bad = measure_row(2);
        bad.replace(bad.find(",0.1,1,1,1,"), 4, ",abc");  // the rrc column
        write_file_atomic(s.run("mup") + "/measure.csv", std::string(MEASURE_HEADER) + measure_row(0) + bad);
        CommandResult r = s.figures();
        INFO(r.output);
        REQUIRE(r.exit_code == 1);
        REQUIRE(r.output.find(s.run("mup") + "/measure.csv:3: column 'rrc': 'abc' is not a number") != std::string::npos);
    }
    SECTION("a step that is not finite") {
        HandSweep s;
        write_file_atomic(s.run("sp") + "/log.csv", std::string(LOG_HEADER) + log_rows(2) + "nan,0.01,0.01,3,,1,1,1\n");
        CommandResult r = s.figures();
        INFO(r.output);
        REQUIRE(r.exit_code == 1);
        REQUIRE(r.output.find(s.run("sp") + "/log.csv:4: column 'step': 'nan' must be a finite number") !=
                std::string::npos);
    }
    SECTION("header-only and empty files") {
        HandSweep s;
        write_file_atomic(s.run("sp") + "/log.csv", std::string(LOG_HEADER));
        CommandResult r = s.figures();
        INFO(r.output);
        REQUIRE(r.exit_code == 1);
        REQUIRE(r.output.find(s.run("sp") + "/log.csv: no steps logged") != std::string::npos);
        write_file_atomic(s.run("mup") + "/measure.csv", std::string(MEASURE_HEADER));
        r = s.figures();
        REQUIRE(r.exit_code == 1);
        REQUIRE(r.output.find(s.run("mup") + "/measure.csv: no measurements of") != std::string::npos);
        write_file_atomic(s.run("mup") + "/measure.csv", "");
        r = s.figures();
        REQUIRE(r.exit_code == 1);
        REQUIRE(r.output.find(s.run("mup") + "/measure.csv: empty file") != std::string::npos);
        write_file_atomic(s.run("mup") + "/measure.csv", "step,tensor\n0,x\n");
        r = s.figures();
        REQUIRE(r.exit_code == 1);
        REQUIRE(r.output.find(s.run("mup") + "/measure.csv: no column 'rrc'") != std::string::npos);
    }
    SECTION("the width multiplier in run.json must be a positive number") {
        HandSweep s;
        for (const char* m : {"0", "-2", "-0.5", "\"4\"", "null"}) {
            write_file_atomic(s.run("mup") + "/run.json", run_json("mup", m));
            CommandResult r = s.figures();
            INFO(m << "\n" << r.output);
            REQUIRE(r.exit_code == 1);
            REQUIRE(r.output.find(s.run("mup") + "/run.json: ") != std::string::npos);
            REQUIRE(r.output.find("width_multiplier") != std::string::npos);
        }
    }
    SECTION("a run without run.json") {
        HandSweep s;
        REQUIRE(std::remove((s.run("mup") + "/run.json").c_str()) == 0);
        CommandResult r = s.figures();
        INFO(r.output);
        REQUIRE(r.exit_code == 1);
        REQUIRE(r.output.find(s.run("mup") + "/run.json") != std::string::npos);
    }
    SECTION("a sweep without runs") {
        HandSweep s;
        write_file_atomic(s.dir + "/plan.csv", "id,config,width,lr,seed,out_dir\n");
        write_file_atomic(s.dir + "/plan.txt", "");
        CommandResult r = run_command(lrt_binary() + " figures --sweep " + s.dir);
        INFO(r.output);
        REQUIRE(r.exit_code == 1);
        REQUIRE(r.output.find("the sweep has no runs") != std::string::npos);
    }
}

// Bytes this process has read through read(2) so far (rchar in
// /proc/self/io), or -1 where that file does not exist. Checks that a reader
// stopped early count bytes, not seconds: no test depends on timing.
static int64_t bytes_read_so_far() {
    std::ifstream io("/proc/self/io");
    std::string key;
    long long value;
    while (io >> key >> value)
        if (key == "rchar:") return value;
    return -1;
}
static int64_t read_since(int64_t before) {
    int64_t now = bytes_read_so_far();
    return before < 0 || now < 0 ? 0 : now - before;
}

// ---------------------------------------------------------------------------
// token files
// ---------------------------------------------------------------------------

TEST_CASE("token files: a directory, /dev/zero and an oversized file fail at once", "[readers][data]") {
    TempDir dir;
    CHECK_THROWS_WITH(read_token_file(dir.path), Contains(dir.path + " is a directory, not a file"));
    if (file_exists("/dev/zero")) {
        const int64_t read_before = bytes_read_so_far();
        CHECK_THROWS_WITH(read_token_file("/dev/zero"), Contains("/dev/zero: bad magic number 0"));
        CHECK(read_since(read_before) < (1 << 20));  // the header and what it declares, not the whole file
    }
    // a good 10-token file followed by 4 GiB (sparse) of anything: the body
    // is read only as far as the header says, and the excess is reported
    std::string path = dir.file("big.bin");
    write_token_file(path, std::vector<uint16_t>(10, 7));
    std::vector<uint8_t> start = bytes_of(path);
    if (write_sparse_file(path, start, uint64_t(4) << 30)) {
        const int64_t read_before = bytes_read_so_far();
        CHECK_THROWS_WITH(read_token_file(path), Contains(path + ": header says 10 tokens = 20 bytes") &&
                                                     Contains(std::to_string((uint64_t(4) << 30) - 1024) +
                                                              " bytes after the header") &&
                                                     Contains("trailing data"));
        CHECK(read_since(read_before) < (1 << 20));  // the header and what it declares, not the whole file
    }
    // a header that promises more than the file holds
    std::vector<uint8_t> truncated(start.begin(), start.end() - 6);
    write_file_atomic(path, truncated.data(), truncated.size());
    CHECK_THROWS_WITH(read_token_file(path), Contains("has 14 bytes after the header") && Contains("truncated"));
}

// ---------------------------------------------------------------------------
// safetensors
// ---------------------------------------------------------------------------

TEST_CASE("safetensors: /dev/zero, a directory and oversized files fail at once", "[readers][safetensors]") {
    TempDir dir;
    CHECK_THROWS_WITH(load_safetensors(dir.path), Contains(dir.path + " is a directory, not a file"));
    if (file_exists("/dev/zero")) {
        const int64_t read_before = bytes_read_so_far();
        // its length field is 0: an empty header, which is not JSON
        CHECK_THROWS_WITH(load_safetensors("/dev/zero"), Contains("/dev/zero: header is not valid JSON") &&
                                                             Contains("found end of input"));
        CHECK(read_since(read_before) < (1 << 20));  // the header and what it declares, not the whole file
    }
    SafeTensors st;
    std::vector<float> w = {1, 2, 3, 4};
    st.add("w", {2, 2}, w.data());
    std::string path = dir.file("a.safetensors");
    save_safetensors(path, st);
    std::vector<uint8_t> good = bytes_of(path);
    const uint64_t data_section = good.size() - 8 - (good[0] | good[1] << 8);
    REQUIRE(data_section == 16);

    SECTION("4 GiB of trailing bytes (sparse) are reported, not read") {
        const uint64_t size = uint64_t(4) << 30;
        if (write_sparse_file(path, good, size)) {
            const int64_t read_before = bytes_read_so_far();
            CHECK_THROWS_WITH(load_safetensors(path),
                              Contains(path + ": " + std::to_string(size - good.size()) + " trailing bytes") &&
                                  Contains("the tensors cover 16"));
            CHECK(read_since(read_before) < (1 << 20));  // the header and what it declares, not the whole file
        }
    }
    SECTION("a few trailing bytes: the same message as in memory") {
        std::vector<uint8_t> longer = good;
        longer.insert(longer.end(), 4, 0);
        write_file_atomic(path, longer.data(), longer.size());
        CHECK_THROWS_WITH(load_safetensors(path),
                          Contains(path + ": 4 trailing bytes after the last tensor (the data section is 20 bytes, the "
                                          "tensors cover 16)"));
    }
    SECTION("a truncated data section") {
        std::vector<uint8_t> shorter(good.begin(), good.end() - 3);
        write_file_atomic(path, shorter.data(), shorter.size());
        CHECK_THROWS_WITH(load_safetensors(path), Contains(path) && Contains("past the end of the data section (13 bytes)"));
    }
    SECTION("a truncated header") {
        std::vector<uint8_t> shorter(good.begin(), good.begin() + 12);
        write_file_atomic(path, shorter.data(), shorter.size());
        CHECK_THROWS_WITH(load_safetensors(path), Contains(path) && Contains("only 4 follow it"));
    }
    SECTION("a header declaring far more data than the file holds") {
        std::string header = R"({"w":{"dtype":"U8","shape":[1000000000000],"data_offsets":[0,1000000000000]}})";
        header.append((8 - header.size() % 8) % 8, ' ');
        std::vector<uint8_t> f(8, 0);
        for (int i = 0; i < 8; i++) f[i] = (uint8_t)(header.size() >> (8 * i));
        f.insert(f.end(), header.begin(), header.end());
        f.insert(f.end(), 8, 0);
        write_file_atomic(path, f.data(), f.size());
        CHECK_THROWS_WITH(load_safetensors(path), Contains("past the end of the data section (8 bytes)"));
    }
    SECTION("an intact file still loads") {
        SafeTensors back = load_safetensors(path);
        REQUIRE(back.read_vector<float>("w") == w);
    }
}

TEST_CASE("safetensors: read_into with a shape checks the shape, not only the element count", "[readers][safetensors]") {
    SafeTensors st;
    st.source = "ckpt.safetensors";
    std::vector<float> w(24);
    for (size_t i = 0; i < w.size(); i++) w[i] = (float)i;
    st.add("w", {6, 4}, w.data());
    std::vector<float> dst(24, -1);
    // the element count alone lets the transposed layout through ...
    st.read_into("w", dst.data(), size_t(24));
    // ... the shape does not
    CHECK_THROWS_WITH(st.read_into("w", dst.data(), std::vector<int64_t>{4, 6}),
                      Contains("ckpt.safetensors: tensor \"w\" has shape [6, 4], expected [4, 6]"));
    CHECK_THROWS_WITH(st.read_into("w", dst.data(), std::vector<int64_t>{24}), Contains("expected [24]"));
    CHECK_THROWS_WITH(st.get_checked("w", Dtype::F32, std::vector<int64_t>{6, 4, 1}), Contains("expected [6, 4, 1]"));
    std::vector<double> dd(24);
    CHECK_THROWS_WITH(st.read_into("w", dd.data(), std::vector<int64_t>{6, 4}), Contains("has dtype F32, expected F64"));
    CHECK_THROWS_WITH(st.read_into("v", dst.data(), std::vector<int64_t>{6, 4}), Contains("no tensor named \"v\""));
    std::fill(dst.begin(), dst.end(), -1.0f);
    st.read_into("w", dst.data(), std::vector<int64_t>{6, 4});
    REQUIRE(dst == w);
    // a scalar is shape [], not [1]
    float one = 1, got = 0;
    st.add("s", {}, &one);
    CHECK_THROWS_WITH(st.read_into("s", &got, std::vector<int64_t>{1}), Contains("has shape [], expected [1]"));
    st.read_into("s", &got, std::vector<int64_t>{});
    REQUIRE(got == 1);
}

// ---------------------------------------------------------------------------
// lrt tokenize
// ---------------------------------------------------------------------------

TEST_CASE("lrt tokenize and synth refuse one file for both outputs, however it is spelled", "[readers][cli]") {
    TempDir dir;
    write_file_atomic(dir.file("a.txt"), std::string(200, 'a'));
    REQUIRE(symlink(dir.path.c_str(), dir.file("link").c_str()) == 0);
    const std::string x = dir.file("x.bin");
    const std::vector<std::pair<std::string, std::string>> same = {
        {x, x}, {x, dir.path + "/./x.bin"}, {x, dir.path + "/sub/../x.bin"}, {x, dir.file("link") + "/x.bin"}};
    make_dirs(dir.file("sub"));
    for (const auto& p : same) {
        CommandResult r = run_command(lrt_binary() + " tokenize --train-out " + p.first + " --val-out " + p.second + " " +
                                      dir.file("a.txt"));
        INFO(p.first << " " << p.second << "\n" << r.output);
        REQUIRE(r.exit_code == 1);
        REQUIRE(r.output.find("name the same file") != std::string::npos);
        REQUIRE_FALSE(file_exists(x));
    }
    // lrt synth writes the same pair of files
    CommandResult synth = run_command(lrt_binary() + " synth --train-tokens 2048 --val-tokens 2048 --train-out " + x +
                                      " --val-out " + dir.path + "/./x.bin");
    INFO(synth.output);
    REQUIRE(synth.exit_code == 1);
    REQUIRE(synth.output.find("name the same file") != std::string::npos);
    // relative to the working directory too
    char* abs = realpath(lrt_binary().c_str(), nullptr);
    const std::string lrt_abs = abs ? abs : lrt_binary();
    std::free(abs);
    CommandResult rel = run_command("cd " + dir.path + " && " + lrt_abs + " tokenize --train-out x.bin --val-out ./x.bin a.txt");
    INFO(rel.output);
    REQUIRE(rel.exit_code == 1);
    REQUIRE(rel.output.find("name the same file") != std::string::npos);
    // different files are fine
    CommandResult ok = run_command(lrt_binary() + " tokenize --train-out " + x + " --val-out " + dir.file("y.bin") + " " +
                                   dir.file("a.txt"));
    INFO(ok.output);
    REQUIRE(ok.exit_code == 0);
    REQUIRE(read_token_file(x).size() + read_token_file(dir.file("y.bin")).size() == 201);
}
