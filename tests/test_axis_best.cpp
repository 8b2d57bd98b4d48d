// The best value along a sweep's axis and its slope across widths
// (study/axis_best.h), and fine-tuning sweeps (lrt sweep --finetune-from).
#include <catch2/catch.hpp>

#include <cmath>
#include <string>
#include <vector>

#include "io/csv.h"
#include "study/axis_best.h"
#include "study/sweep.h"
#include "study/sweep_axis.h"
#include "test_helpers.h"

namespace {

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// A LoRA+-like sweep: the loss is a parabola in log2(lr) (optimum at
// -6 - 0.4 log2(lambda)) plus one in log2(lambda), whose best value is
// 2^(log2(width / 16) + offset): the best ratio doubles with the width, and
// seed 1's sits a quarter octave below seed 2's.
double synthetic_loss(double lr, double lambda, int width, int seed) {
    const double e = std::log2(lr) - (-6 - 0.4 * std::log2(lambda));
    const double l = std::log2(lambda) - (std::log2(width / 16.0) + (seed == 1 ? 1.75 : 2.25));
    return 2 + 0.1 * e * e + 0.05 * l * l;
}

std::vector<RunResult> synthetic_ratio_sweep() {
    std::vector<RunResult> rs;
    for (int lambda : {4, 1, 2, 8, 16, 32, 64})  // not in order: the neighbours are by value (4 is no edge)
        for (int w : {16, 32, 64})
            for (int seed : {1, 2})
                for (int e = -12; e <= -2; e++)
                    rs.push_back(synthetic_run("lora+lora-plus-ratio=" + std::to_string(lambda), 0, w, seed,
                                               std::exp2(e), synthetic_loss(std::exp2(e), lambda, w, seed)));
    return rs;
}

}  // namespace

TEST_CASE("the best value along an axis: lowest loss, refined by a parabola in log2", "[axis_best]") {
    double best = 0;
    bool edge = true;
    // loss = (log2 x - 2.3)^2 on 1, 2, 4, 8, 16: the vertex is exact
    std::vector<double> x = {1, 2, 4, 8, 16}, loss;
    for (double v : x) loss.push_back(std::pow(std::log2(v) - 2.3, 2));
    CHECK(best_along_axis(x, loss, &best, &edge) == 2);
    CHECK(std::log2(best) == Approx(2.3).margin(1e-12));
    CHECK_FALSE(edge);
    // lowest at the last value: that value, and only a bound
    loss = {5, 4, 3, 2, 1};
    CHECK(best_along_axis(x, loss, &best, &edge) == 4);
    CHECK(best == 16);
    CHECK(edge);
    // a diverged neighbour (inf) leaves the grid value unrefined; NaN never wins
    loss = {5, INFINITY, 1, 3, NAN};
    CHECK(best_along_axis(x, loss, &best, &edge) == 2);
    CHECK(best == 4);
    CHECK_FALSE(edge);
    // values that are not numbers: the grid value's index, no refinement
    CHECK(best_along_axis({NAN, NAN, NAN}, {2, 1, 3}, &best, &edge) == 1);
    CHECK(std::isnan(best));
    CHECK(best_along_axis(x, {NAN, NAN, NAN, NAN, NAN}, &best, &edge) == -1);
    // neighbours out of order (a mixed axis keeps the plan's order): no refinement
    CHECK(best_along_axis({16, 1, 4}, {2, 1, 3}, &best, &edge) == 1);
    CHECK(best == 1);
}

TEST_CASE("the best ratio per width and seed, and its slope against the width", "[axis_best]") {
    const std::vector<RunResult> rs = synthetic_ratio_sweep();
    const std::vector<AxisOptimum> optima = axis_optima(rs);
    const std::vector<AxisBest> groups = find_axis_best(optima, rs);
    REQUIRE(groups.size() == 3);
    for (const AxisBest& g : groups) {
        INFO("width " << g.width);
        CHECK(g.base == "lora");
        CHECK(g.flag == "lora-plus-ratio");
        REQUIRE(g.points.size() == 7);
        // the seed-averaged losses are the mean parabola: best at log2(w/16) + 2, exactly
        CHECK(std::log2(g.best) == Approx(std::log2(g.width / 16.0) + 2).margin(1e-9));
        CHECK_FALSE(g.at_edge);
        REQUIRE(g.seed_best.size() == 2);
        CHECK(std::log2(g.seed_best[0]) == Approx(std::log2(g.width / 16.0) + 1.75).margin(1e-9));
        CHECK(std::log2(g.seed_best[1]) == Approx(std::log2(g.width / 16.0) + 2.25).margin(1e-9));
        // the bars span the seeds' optimum losses at each value
        for (size_t i = 0; i < g.points.size(); i++) CHECK(g.seed_loss_lo[i] <= g.seed_loss_hi[i]);
    }
    TempDir dir;
    report_axis_best(dir.path, optima, rs, false);
    CsvTable slope = read_csv(dir.file("axis_best_slope.csv"));
    REQUIRE(slope.rows.size() == 1);
    // doubling with the width: slope 1; the seed picks span +/- 0.5 octave over 2 octaves of width
    CHECK(slope.number(slope.rows[0], slope.col("slope")) == Approx(1).margin(1e-9));
    CHECK(slope.number(slope.rows[0], slope.col("slope_lo")) == Approx(0.75).margin(1e-9));
    CHECK(slope.number(slope.rows[0], slope.col("slope_hi")) == Approx(1.25).margin(1e-9));
    CsvTable best = read_csv(dir.file("axis_best.csv"));
    REQUIRE(best.rows.size() == 3);
    CHECK(best.text(best.rows[1], best.col("best_value")) == "8");  // width 32: 2^3
    CHECK(best.text(best.rows[1], best.col("lr_edge_values")).empty());
    CHECK(contains(text_of(dir.file("loss_vs_lora-plus-ratio.svg")), "width 64"));
}

TEST_CASE("values whose LR optimum is at the LR grid's edge are listed: their loss is a bound", "[axis_best]") {
    // the LR grid stops at 2^-8: lambda = 16's best grid LR is 2^-8 (optimum 2^-7.6),
    // 32's optimum is 2^-8 and 64's 2^-8.4; lambda = 8's (2^-7.2) is inside
    std::vector<RunResult> rs;
    for (const RunResult& r : synthetic_ratio_sweep())
        if (r.entry.lr >= std::exp2(-8) * 0.999) rs.push_back(r);
    const std::vector<AxisOptimum> optima = axis_optima(rs);
    TempDir dir;
    report_axis_best(dir.path, optima, rs, false);
    CsvTable best = read_csv(dir.file("axis_best.csv"));
    REQUIRE(best.rows.size() == 3);
    for (const CsvRow& row : best.rows) CHECK(best.text(row, best.col("lr_edge_values")) == "16;32;64");
}

TEST_CASE("a fine-tuning sweep plans lrt finetune from each width's and seed's base", "[axis_best][sweep]") {
    SweepSpec s;
    s.dir = "/tmp/ft_plan";
    s.configs = {{"lora", "--lora-rank 4"}};
    s.widths = {16, 32};
    s.lrs = {0.01};
    s.seeds = {1, 2};
    s.lrt = "./lrt";
    s.finetune_from = "bases/w{width}_s{seed}";
    parse_sweep_axis("lora-plus-ratio=1,16", &s.axis_flag, &s.axis_values);
    std::vector<PlanEntry> plan = make_plan(s);
    REQUIRE(plan.size() == 8);
    CHECK(plan[0].command.rfind("./lrt finetune --from bases/w16_s1 --lora-rank 4 --lora-plus-ratio 1 ", 0) == 0);
    CHECK(plan[3].command.rfind("./lrt finetune --from bases/w32_s2 ", 0) == 0);
    // without it, lrt train as before
    s.finetune_from.clear();
    CHECK(make_plan(s)[0].command.rfind("./lrt train --lora-rank 4", 0) == 0);
    // several widths need the width in the pattern; the pattern is plain shell
    s.finetune_from = "bases/one";
    CHECK_THROWS_WITH(make_plan(s), Catch::Contains("{width}"));
    s.finetune_from = "bases/w{width};rm";
    CHECK_THROWS_WITH(make_plan(s), Catch::Contains("plain shell"));
    s.widths = {16};
    s.finetune_from = "bases/one";
    CHECK(make_plan(s).size() == 4);
    std::string flag;
    std::vector<std::string> values;
    CHECK_THROWS_WITH(parse_sweep_axis("from=a,b", &flag, &values), Catch::Contains("sets --from itself"));
}

TEST_CASE("lrt sweep --finetune-from: LoRA+'s ratio as an axis, end to end", "[axis_best][sweep][cli][lora]") {
    TempDir dir;
    const std::string shape = "--depth 1 --head-dim 8 --seq-len 16 --batch-size 4 --val-batches 2 --val-every 0 "
                              "--sample-length 0 --synth-train-tokens 20000 --synth-val-tokens 4096 --measure-every 0";
    for (int w : {16, 32}) {
        CommandResult base = run_command(lrt_binary() + " train " + shape + " --steps 10 --quiet --width " +
                                         std::to_string(w) + " --out-dir " + dir.file("b/w" + std::to_string(w)));
        INFO(base.output);
        REQUIRE(base.exit_code == 0);
    }
    write_file_atomic(dir.file("configs.txt"), "lora --lora-rank 2 --weight-decay 0\n");
    CommandResult r = run_command(lrt_binary() + " sweep --dir " + dir.file("s") + " --configs " + dir.file("configs.txt") +
                                  " --widths 16,32 --lrs 0.003,0.03 --axis lora-plus-ratio=1,4,16 --jobs 2 --quiet" +
                                  " --finetune-from " + dir.file("b/w{width}") + " --common \"" + shape +
                                  " --steps 6 --data-seed 2\"");
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    CsvTable best = read_csv(dir.file("s/axis_best.csv"));
    REQUIRE(best.rows.size() == 2);
    CHECK(best.text(best.rows[0], best.col("flag")) == "lora-plus-ratio");
    CHECK(std::isfinite(best.number(best.rows[0], best.col("best_loss"))));
    CHECK(contains(r.output, "best value along the axis"));
    // the runs are fine-tunes: adapters, B's LR multiplier the ratio
    const std::string run_json = text_of(dir.file("s/runs/lora+lora-plus-ratio=16_w32_lr0.03_s1/run.json"));
    CHECK(contains(run_json, "lora_B"));
    CHECK(contains(run_json, "\"frozen\":true"));
}
