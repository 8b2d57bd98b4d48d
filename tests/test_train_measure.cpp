// Measurements and the replacement warmup inside `lrt train`: measure.csv's
// rows obey the identities of docs/science.md §2, the applied per-tensor LR is
// the one logged, the replacement warmup starts at 1/m and leaves the decay
// alone, and a resumed run writes the same measurements as an uninterrupted one.
#include <catch2/catch.hpp>

#include <cmath>
#include <map>
#include <sstream>

#include "io/safetensors.h"
#include "test_helpers.h"
#include "util/util.h"

namespace {

const char* SMALL = " --width 64 --depth 2 --head-dim 16 --batch-size 4 --seq-len 32 --val-batches 1 --val-every 0 "
                    "--sample-length 0 --synth-train-tokens 20000 --synth-val-tokens 4096 --quiet";

struct Csv {
    std::vector<std::string> header;
    std::vector<std::vector<std::string>> rows;
    int col(const std::string& name) const {
        for (size_t i = 0; i < header.size(); i++)
            if (header[i] == name) return (int)i;
        FAIL("no column " << name);
        return -1;
    }
    double num(size_t row, const std::string& name) const { return std::atof(rows[row][col(name)].c_str()); }
};


Csv read_csv(const std::string& path) {
    std::vector<uint8_t> b = read_file(path);
    std::istringstream in(std::string(b.begin(), b.end()));
    Csv c;
    std::string line;
    std::getline(in, line);
    c.header = split(line, ',');
    while (std::getline(in, line))
        if (!line.empty()) c.rows.push_back(split(line, ','));
    return c;
}


}  // namespace

TEST_CASE("lrt train writes measure.csv: every matrix, the identities hold, the LR is the applied one", "[measure][train]") {
    TempDir dir;
    CommandResult r = run_command(lrt_binary() + " train" + SMALL +
                                  " --param mup --d-base 32 --wd-mode independent --weight-decay 0.01 --steps 9 "
                                  "--warmup-steps 3 --lr 0.01 --lr-decay constant --measure-every 4 --out-dir " + dir.path);
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    Csv m = read_csv(dir.file("measure.csv"));
    // 2 blocks x 4 matrices + the readout, at steps 0, 4, 8
    REQUIRE(m.rows.size() == 3 * 9);
    std::map<std::string, int> per_tensor;
    for (size_t i = 0; i < m.rows.size(); i++) {
        std::string name = m.rows[i][m.col("tensor")];
        per_tensor[name]++;
        INFO(name << " step " << m.num(i, "step"));
        // RRC = (alpha_dW / alpha_W) * ||dW|| / ||W||
        REQUIRE(m.num(i, "rrc") == Approx(m.num(i, "alignment_ratio") * m.num(i, "rel_update")).epsilon(1e-6));
        REQUIRE(m.num(i, "alpha_w") > 0);
        REQUIRE(m.num(i, "alpha_w") <= 1.0 + 1e-9);  // Cauchy-Schwarz
        // the LR actually applied: mup hidden matrices lr/m (m = 2), readout lr;
        // warmup (step+1)/3; independent decay s_t * 0.01
        double step = m.num(i, "step"), s_t = step < 3 ? (step + 1) / 3 : 1.0;
        bool hidden = m.rows[i][m.col("role")] == "hidden_matrix";
        REQUIRE(m.num(i, "lr") == Approx(0.01 * s_t * (hidden ? 0.5 : 1.0)));
        REQUIRE(m.num(i, "lr_multiplier") == Approx(s_t * (hidden ? 0.5 : 1.0)));
        REQUIRE(m.num(i, "decay") == Approx(0.01 * s_t));
        REQUIRE(m.num(i, "w_rms_equilibrium") == Approx(m.num(i, "lr") * m.num(i, "u_rms") / std::sqrt(2 * m.num(i, "decay"))));
    }
    REQUIRE(per_tensor.size() == 9);
    REQUIRE(per_tensor.count("lm_head.weight"));
    REQUIRE(per_tensor.count("transformer.h.1.mlp.c_proj.weight"));
    // measurements off: header only
    CommandResult off = run_command(lrt_binary() + " train" + SMALL + " --steps 3 --measure-every 0 --out-dir " + dir.file("off"));
    REQUIRE(off.exit_code == 0);
    REQUIRE(read_csv(dir.file("off/measure.csv")).rows.empty());
}

TEST_CASE("replacement warmups start at 1/m on the hidden matrices and leave the decay alone", "[schedule][train]") {
    for (const char* kind : {"closed-form", "exponential", "decay-away"}) {
        TempDir dir;
        CommandResult r = run_command(lrt_binary() + " train" + SMALL +
                                      " --param sp --d-base 16 --wd-mode independent --weight-decay 0.01 --steps 40 "
                                      "--warmup-steps 0 --lr 0.003 --lr-decay constant --measure-every 1 "
                                      "--replacement-warmup " + kind + " --out-dir " + dir.path);
        INFO(kind << "\n" << r.output);
        REQUIRE(r.exit_code == 0);
        Csv log = read_csv(dir.file("log.csv"));
        // m = 64 / 16 = 4: the hidden LR starts at lr / 4 and rises
        REQUIRE(log.num(0, "lr") == Approx(0.003));
        REQUIRE(log.num(0, "hidden_lr") == Approx(0.003 / 4));
        for (size_t i = 1; i < 40; i++) REQUIRE(log.num(i, "hidden_lr") >= log.num(i - 1, "hidden_lr"));
        REQUIRE(log.num(39, "hidden_lr") > log.num(0, "hidden_lr"));
        REQUIRE(log.num(39, "hidden_lr") < 0.003);
        Csv m = read_csv(dir.file("measure.csv"));
        for (size_t i = 0; i < m.rows.size(); i++) {
            bool hidden = m.rows[i][m.col("role")] == "hidden_matrix";
            REQUIRE(m.num(i, "decay") == Approx(0.01));  // independent decay: the factor does not touch it
            if (!hidden) REQUIRE(m.num(i, "lr") == Approx(0.003));  // the readout keeps the plain LR
        }
    }
    TempDir dir;
    CommandResult bad = run_command(lrt_binary() + " train" + SMALL + " --wd-mode none --replacement-warmup closed-form --steps 2 --out-dir " + dir.path);
    REQUIRE(bad.exit_code == 1);
    REQUIRE(bad.output.find("closed-form needs weight decay") != std::string::npos);
}

TEST_CASE("a resumed run writes the same measurements as an uninterrupted one", "[measure][train]") {
    TempDir a, b;
    std::string flags = std::string(SMALL) + " --param sp --d-base 16 --wd-mode independent --weight-decay 0.01 --steps 12 "
                                             "--warmup-fraction 0.25 --lr-decay wsd --measure-every 2 "
                                             "--replacement-warmup closed-form";
    REQUIRE(run_command(lrt_binary() + " train" + flags + " --out-dir " + a.path).exit_code == 0);
    REQUIRE(run_command(lrt_binary() + " train" + flags + " --stop-after 5 --out-dir " + b.path).exit_code == 0);
    CommandResult resumed = run_command(lrt_binary() + " train --resume " + b.path + " --quiet");
    INFO(resumed.output);
    REQUIRE(resumed.exit_code == 0);
    REQUIRE(text_of(a.file("measure.csv")) == text_of(b.file("measure.csv")));
    Csv la = read_csv(a.file("log.csv")), lb = read_csv(b.file("log.csv"));
    REQUIRE(la.rows.size() == lb.rows.size());
    for (size_t i = 0; i < la.rows.size(); i++)
        for (const char* c : {"step", "lr", "hidden_lr", "train_loss", "val_loss", "grad_norm"})
            REQUIRE(la.rows[i][la.col(c)] == lb.rows[i][lb.col(c)]);
}

TEST_CASE("measuring does not change training", "[measure][train]") {
    TempDir a, b;
    std::string flags = std::string(SMALL) + " --steps 10 --warmup-steps 2";
    REQUIRE(run_command(lrt_binary() + " train" + flags + " --measure-every 0 --out-dir " + a.path).exit_code == 0);
    REQUIRE(run_command(lrt_binary() + " train" + flags + " --measure-every 1 --out-dir " + b.path).exit_code == 0);
    Csv la = read_csv(a.file("log.csv")), lb = read_csv(b.file("log.csv"));
    REQUIRE(la.rows.size() == 11);
    REQUIRE(read_csv(b.file("measure.csv")).rows.size() == 10 * 9);  // 2 blocks x 4 matrices + readout
    for (size_t i = 0; i < la.rows.size(); i++)
        for (const char* c : {"train_loss", "val_loss", "grad_norm"}) REQUIRE(la.rows[i][la.col(c)] == lb.rows[i][lb.col(c)]);
    // the same parameters and moments, bit for bit (the metadata differs: it holds the flags)
    SafeTensors ca = load_safetensors(a.file("checkpoint.safetensors")), cb = load_safetensors(b.file("checkpoint.safetensors"));
    REQUIRE(ca.tensors.size() == cb.tensors.size());
    for (const auto& t : ca.tensors) REQUIRE(t.bytes == cb.get(t.name).bytes);
}
