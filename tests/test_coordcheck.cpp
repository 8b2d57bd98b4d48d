// The coordinate check as a test: µP's activations do not depend on width in
// the first steps, SP's grow. Mutating any one µP exponent in
// parameterization.cpp makes the µP half fail (tried by hand, 2026-11-22, with
// this test's sizes; worst spread over steps 1-3):
//   hidden LR 1/m -> 1:             25.9 (h1.mlp.c_proj)
//   hidden LR 1/m -> 1/sqrt(m):      3.6 (h1.mlp.c_proj)
//   hidden init 1/sqrt(m) -> 1:     15.1 (h0.attn.c_proj)
//   readout multiplier 1/m -> 1:     7.6 (logits)
#include <catch2/catch.hpp>

#include <cmath>

#include "study/coordcheck.h"
#include "test_helpers.h"
#include "util/util.h"

namespace {

CoordCheckConfig small_check() {
    CoordCheckConfig c;
    c.model.depth = 2;
    c.widths = {64, 128, 256, 512};
    c.steps = 3;
    c.lr = 1e-2;
    c.batch_size = 4;
    c.seq_len = 32;
    c.seeds = 2;
    c.quiet = true;
    return c;
}

ParamConfig preset(const std::string& name) {
    ParamConfig p;
    p.preset = parse_preset(name);
    p.zero_init_readout = true;  // as `lrt coordcheck` does by default (see coordcheck.cpp)
    return p;
}

}  // namespace

TEST_CASE("coordinate check: mup is flat across widths, sp grows", "[coordcheck]") {
    CoordCheckConfig c = small_check();
    c.params = {preset("mup"), preset("sp")};
    std::vector<CoordCheckRow> rows = run_coord_check(c, {"mup", "sp"});
    const std::vector<std::string> layers = coord_check_layers(c.model.depth);
    REQUIRE(rows.size() == 2 * c.widths.size() * (c.steps + 1) * layers.size());
    double sp_worst = 0;
    for (int step = 1; step <= 3; step++) {
        for (const std::string& layer : layers) {
            if (layer == "embedding") continue;  // hidden and output layers
            INFO("step " << step << " layer " << layer);
            double mup = coord_check_spread(rows, "mup", step, layer);
            REQUIRE(mup < 1.5);
            sp_worst = std::max(sp_worst, coord_check_spread(rows, "sp", step, layer));
        }
        // SP's logits and MLP outputs grow with width after the first step
        double sp_logits = coord_check_spread(rows, "sp", step, "logits");
        INFO("step " << step);
        REQUIRE(sp_logits > 1.5);
    }
    REQUIRE(sp_worst > 5);
    // the numbers are activations, not zeros: the check would be vacuous otherwise
    for (const auto& r : rows)
        if (r.step > 0) REQUIRE(r.mean_abs > 1e-3);
}

TEST_CASE("lrt coordcheck writes its CSV and plot and refuses bad lists", "[coordcheck][cli]") {
    TempDir dir;
    std::string lrt = lrt_binary();
    CommandResult ok = run_command(lrt + " coordcheck --widths 32,64 --steps 2 --seeds 1 --seq-len 16 --depth 1 --quiet --out-dir " +
                                   dir.path);
    INFO(ok.output);
    REQUIRE(ok.exit_code == 0);
    REQUIRE(ok.output.find("spread") != std::string::npos);
    REQUIRE(file_exists(dir.file("coordcheck.csv")));
    REQUIRE(file_exists(dir.file("coordcheck.svg")));
    std::vector<uint8_t> csv = read_file(dir.file("coordcheck.csv"));
    std::string text(csv.begin(), csv.end());
    REQUIRE(text.rfind("param,width,step,layer,mean_abs\n", 0) == 0);
    REQUIRE(text.find("mup,64,2,logits,") != std::string::npos);
    CommandResult bad = run_command(lrt + " coordcheck --widths 32,x --out-dir " + dir.path);
    REQUIRE(bad.exit_code == 1);
    REQUIRE(bad.output.find("--widths: 'x' is not a positive integer") != std::string::npos);
    CommandResult preset_bad = run_command(lrt + " coordcheck --params sp,mu --out-dir " + dir.path);
    REQUIRE(preset_bad.exit_code == 1);
    REQUIRE(preset_bad.output.find("--params: unknown preset 'mu'") != std::string::npos);
    CommandResult width = run_command(lrt + " coordcheck --width 64 --out-dir " + dir.path);
    REQUIRE(width.exit_code == 1);
    REQUIRE(width.output.find("unknown flag --width") != std::string::npos);
}
