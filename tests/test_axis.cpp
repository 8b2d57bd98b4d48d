// Any lrt train flag as a sweep axis (sweep_plan.h's --axis, sweep_axis.h),
// the batch-size laws and their fits (batch_fit.h), the noise scale over
// training (noise_trend.h), and lrt train --tokens.
#include <catch2/catch.hpp>

#include <cmath>
#include <string>
#include <vector>

#include "io/csv.h"
#include "study/batch_fit.h"
#include "study/drift.h"
#include "study/noise_trend.h"
#include "study/sweep.h"
#include "study/sweep_axis.h"
#include "test_helpers.h"

namespace {

SweepSpec axis_spec() {
    SweepSpec s;
    s.dir = "/tmp/axis_plan";
    s.configs = {{"mup", "--param mup"}, {"sp+x", ""}};
    s.widths = {16, 32};
    s.lrs = {0.01, 0.02};
    s.seeds = {1};
    s.horizons = {100};
    parse_sweep_axis("batch-size=8,16,32", &s.axis_flag, &s.axis_values);
    return s;
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// The loss of a run whose optimum is log2 lr = opt: a parabola on whole octaves,
// so the fitted optimum is exact (drift.h's synthetic sweeps do the same).
double parabola_loss(double lr, double opt) {
    const double e = std::log2(lr) - opt;
    return 0.1 * e * e + 2;
}

}  // namespace

TEST_CASE("--axis turns each configuration into one per value, the flag after its own", "[axis][sweep]") {
    SweepSpec s = axis_spec();
    CHECK(s.axis_flag == "batch-size");
    REQUIRE(s.axis_values == std::vector<std::string>{"8", "16", "32"});
    std::vector<PlanEntry> plan = make_plan(s);
    REQUIRE(plan.size() == 2 * 3 * 2 * 2);
    CHECK(plan[0].config == "mup+batch-size=8");
    CHECK(plan[0].id == "mup+batch-size=8_h100_w16_lr0.01_s1");
    // the axis comes after the configuration's flags and before the horizon's --steps
    const std::string& cmd = plan[0].command;
    REQUIRE(contains(cmd, "--param mup --batch-size 8 --steps 100 --width 16"));
    CHECK(plan.back().config == "sp+x+batch-size=32");
    CHECK(contains(plan.back().command, " train --batch-size 32 --steps 100"));
    // no axis: the configurations as they were
    CHECK(expand_axis(s.configs, "", {}).size() == 2);
}

TEST_CASE("--axis refuses what it cannot run", "[axis][sweep]") {
    std::string flag;
    std::vector<std::string> values;
    CHECK_THROWS_WITH(parse_sweep_axis("batch-size", &flag, &values), Catch::Contains("FLAG=v1,v2"));
    CHECK_THROWS_WITH(parse_sweep_axis("=8,16", &flag, &values), Catch::Contains("FLAG=v1,v2"));
    CHECK_THROWS_WITH(parse_sweep_axis("--=8,16", &flag, &values), Catch::Contains("flag name is empty"));
    CHECK_THROWS_WITH(parse_sweep_axis("width=8,16", &flag, &values), Catch::Contains("sets --width itself"));
    CHECK_THROWS_WITH(parse_sweep_axis("lr=0.1", &flag, &values), Catch::Contains("sets --lr itself"));
    CHECK_THROWS_WITH(parse_sweep_axis("batch size=8", &flag, &values), Catch::Contains("not a flag name"));
    CHECK_THROWS_WITH(parse_sweep_axis("batch-size=8,,16", &flag, &values), Catch::Contains("plain text"));
    CHECK_THROWS_WITH(parse_sweep_axis("batch-size=8,$(x)", &flag, &values), Catch::Contains("plain text"));
    CHECK_THROWS_WITH(parse_sweep_axis("batch-size=8,8", &flag, &values), Catch::Contains("appears twice"));
    parse_sweep_axis("--eps=1e-8,1e+2", &flag, &values);  // a leading -- is tolerated, '+' in a value too
    CHECK(flag == "eps");
    CHECK(values.size() == 2);
    SweepSpec s = axis_spec();
    parse_sweep_axis("steps=10,20", &s.axis_flag, &s.axis_values);
    CHECK_THROWS_WITH(make_plan(s), Catch::Contains("same axis"));
}

TEST_CASE("a token budget with a training length: refused before anything runs", "[axis][sweep]") {
    SweepSpec s = axis_spec();  // --horizons 100, --axis batch-size
    s.common = "--tokens 4096";
    CHECK_THROWS_WITH(make_plan(s), Catch::Contains("--tokens 4096 and a --steps from the sweep's --horizons"));
    s.common = "--tokens=4096";
    CHECK_THROWS_WITH(make_plan(s), Catch::Contains("--horizons"));
    s.common = "--tokens  4096";  // two spaces
    CHECK_THROWS_WITH(make_plan(s), Catch::Contains("--horizons"));
    s.common = "--tokens 4096 --tokens 0";  // the last value counts: no budget
    CHECK(make_plan(s).size() == 24);
    s.common = "--tokens 00";  // lrt train reads it as 0 too
    CHECK(make_plan(s).size() == 24);
    s.horizons.clear();
    s.common = "--tokens 4096";
    CHECK(make_plan(s).size() == 24);  // the budget sets each batch size's steps
    s.configs[0].flags += " --steps 50";
    CHECK_THROWS_WITH(make_plan(s), Catch::Contains("configuration mup+batch-size=8: --tokens 4096 and a --steps"));
    s = axis_spec();
    parse_sweep_axis("tokens=4096,8192", &s.axis_flag, &s.axis_values);
    CHECK_THROWS_WITH(make_plan(s), Catch::Contains("--axis tokens and --horizons"));
}

TEST_CASE("an axis point is read back from a configuration name", "[axis]") {
    AxisPoint p;
    REQUIRE(parse_axis_point("sp+x+batch-size=1e+3", &p));
    CHECK(p.base == "sp+x");
    CHECK(p.flag == "batch-size");
    CHECK(p.value == "1e+3");
    CHECK_FALSE(parse_axis_point("mup-independent", &p));
    CHECK_FALSE(parse_axis_point("mup+x", &p));
}

TEST_CASE("the optimum along the axis: seed-averaged and per seed", "[axis]") {
    // optimum log2 lr = -6 + 0.5 log2(B) -/+ 0.25 for seeds 1/2
    std::vector<RunResult> rs;
    for (int b : {4, 16, 64})
        for (int seed : {1, 2})
            for (int e = -10; e <= 0; e++) {
                const double opt = -6 + 0.5 * std::log2((double)b) + (seed == 1 ? -0.25 : 0.25);
                rs.push_back(synthetic_run("adam+batch-size=" + std::to_string(b), 0, 32, seed, std::exp2(e),
                                           parabola_loss(std::exp2(e), opt)));
            }
    REQUIRE(sweep_has_axis(rs));
    std::vector<AxisOptimum> opt = axis_optima(rs);
    REQUIRE(opt.size() == 3);
    for (const AxisOptimum& a : opt) {
        const double b = std::stod(a.value);
        CHECK(a.base == "adam");
        CHECK(a.flag == "batch-size");
        CHECK(std::log2(a.lr) == Approx(-6 + 0.5 * std::log2(b)).margin(1e-9));
        REQUIRE(a.seed_lrs.size() == 2);
        CHECK(std::log2(a.seed_lrs[0]) == Approx(-6.25 + 0.5 * std::log2(b)).margin(1e-9));
        CHECK_FALSE(a.at_edge);
    }
    CHECK_FALSE(sweep_has_axis({synthetic_run("adam", 0, 32, 1, 0.01, 2)}));
}

TEST_CASE("the batch-size laws have their stated shapes", "[axis][batch_fit]") {
    // McCandlish: half of eta_max at B = B_noise, linear far below, flat far above
    CHECK(batch_law_lr(BatchLaw::McCandlish, 0.1, 64, 64) == Approx(0.05));
    CHECK(batch_law_lr(BatchLaw::McCandlish, 0.1, 64, 1) == Approx(0.1 / 65));
    CHECK(batch_law_lr(BatchLaw::McCandlish, 0.1, 64, 1e9) == Approx(0.1).epsilon(1e-6));
    // surge: eta_max exactly at B = B_noise, symmetric in log B around it
    CHECK(batch_law_lr(BatchLaw::Surge, 0.1, 64, 64) == Approx(0.1));
    CHECK(batch_law_lr(BatchLaw::Surge, 0.1, 64, 16) == Approx(batch_law_lr(BatchLaw::Surge, 0.1, 64, 256)));
    CHECK(batch_law_lr(BatchLaw::Surge, 0.1, 64, 16) == Approx(0.1 / (0.5 * (2 + 0.5))));
}

TEST_CASE("the fits recover the laws' parameters from exact optima", "[axis][batch_fit]") {
    const std::vector<double> batch = {4, 8, 16, 32, 64, 128};
    for (BatchLaw law : {BatchLaw::McCandlish, BatchLaw::Surge})
        for (double bn : {10.0, 37.0, 90.0}) {
            std::vector<double> lr;
            for (double b : batch) lr.push_back(batch_law_lr(law, 0.02, bn, b));
            BatchFit f = fit_batch_law(law, batch, lr);
            CHECK(f.b_noise == Approx(bn).epsilon(1e-5));
            CHECK(f.eta_max == Approx(0.02).epsilon(1e-5));
            CHECK(f.rms_octaves < 1e-6);
            CHECK_FALSE(f.b_noise_at_edge);
        }
    // optima that do not move with B: McCandlish's B_noise runs to the
    // search's small end, a bound only
    BatchFit flat = fit_batch_law(BatchLaw::McCandlish, batch, std::vector<double>(batch.size(), 0.01));
    CHECK(flat.b_noise_at_edge);
    CHECK(flat.b_noise < 4.0 / 512);
    CHECK_THROWS(fit_batch_law(BatchLaw::Surge, {8, 8}, {0.1, 0.2}));
    CHECK_THROWS(fit_batch_law(BatchLaw::Surge, {8, 16}, {0.1, -0.2}));
}

TEST_CASE("B_noise's interval is the spread of single-seed fits", "[axis][batch_fit]") {
    const std::vector<double> batch = {4, 16, 64, 256};
    // seeds at 2^(-/+0.3) around the McCandlish law with B_noise 32
    std::vector<std::vector<double>> per_batch;
    for (double b : batch) {
        const double lr = batch_law_lr(BatchLaw::McCandlish, 0.05, 32, b);
        per_batch.push_back({lr * std::exp2(-0.3), lr * std::exp2(0.3)});
    }
    BatchFit f = fit_batch_law_seeds(BatchLaw::McCandlish, batch, per_batch);
    CHECK(f.resamples == 16);
    CHECK(f.b_noise == Approx(32).epsilon(1e-5));  // the geometric means lie on the law
    CHECK(f.b_noise_lo < 32);
    CHECK(f.b_noise_hi > 32);
    // the interval's ends are fits of single-seed picks: the extremes are
    // the picks that tilt the optima most
    std::vector<double> all;
    for_each_seed_pick(per_batch, [&](const std::vector<double>& lr) {
        all.push_back(fit_batch_law(BatchLaw::McCandlish, batch, lr).b_noise);
    });
    REQUIRE(all.size() == 16);
    CHECK(f.b_noise_lo >= *std::min_element(all.begin(), all.end()) * (1 - 1e-12));
    CHECK(f.b_noise_hi <= *std::max_element(all.begin(), all.end()) * (1 + 1e-12));
    // one seed: the interval is the point
    BatchFit one = fit_batch_law_seeds(BatchLaw::McCandlish, batch, {{0.01}, {0.02}, {0.03}, {0.035}});
    CHECK(one.b_noise_lo == one.b_noise);
    CHECK(one.b_noise_hi == one.b_noise);
}

TEST_CASE("the optimum's slope against the batch, with the seeds' interval", "[axis][batch_fit]") {
    const std::vector<double> batch = {4, 16, 64};
    // lr* = 0.001 sqrt(B) exactly, both seeds: slope 0.5, no spread
    std::vector<std::vector<double>> exact;
    for (double b : batch) exact.push_back({0.001 * std::sqrt(b), 0.001 * std::sqrt(b)});
    BatchSlope s = batch_slope(batch, exact);
    CHECK(s.slope == Approx(0.5));
    CHECK(s.lo == Approx(0.5));
    CHECK(s.hi == Approx(0.5));
    // seeds half an octave apart at the ends: the steepest pick goes from
    // 2^-0.25 below the line at B=4 to 2^+0.25 above it at B=64, slope
    // 0.5 + 0.125. Eight picks (B=16's two equal seeds double each):
    // slopes {0.375 x2, 0.5 x4, 0.625 x2}, so the 2.5 and 97.5% quantiles
    // fall between equal order statistics
    std::vector<std::vector<double>> spread = exact;
    spread[0] = {exact[0][0] * std::exp2(-0.25), exact[0][0] * std::exp2(0.25)};
    spread[2] = {exact[2][0] * std::exp2(-0.25), exact[2][0] * std::exp2(0.25)};
    s = batch_slope(batch, spread);
    CHECK(s.slope == Approx(0.5));  // the seed means lie on the line
    CHECK(s.hi == Approx(0.625));
    CHECK(s.lo == Approx(0.375));
    // a flat optimum
    CHECK(batch_slope(batch, {{0.01}, {0.01}, {0.01}}).slope == Approx(0).margin(1e-12));
}

TEST_CASE("for_each_seed_pick enumerates every combination, or draws", "[axis][drift]") {
    int n = 0;
    double sum = 0;
    CHECK(for_each_seed_pick({{1, 2}, {10, 20, 30}}, [&](const std::vector<double>& v) {
        n++;
        sum += v[0] + v[1];
    }));
    CHECK(n == 6);
    CHECK(sum == Approx(3 * 3 + 2 * 60));
    std::vector<std::vector<double>> big(13, std::vector<double>{0, 1});  // 8192 combinations
    n = 0;
    CHECK_FALSE(for_each_seed_pick(big, [&](const std::vector<double>&) { n++; }));
    CHECK(n == DRIFT_BOOTSTRAP_DRAWS);
}

TEST_CASE("the noise trend: the loss between measurements, and seeds averaged at common steps", "[axis][noise]") {
    TempDir dir;
    // the log.csv layout of lrt train, only the columns read here filled:
    // B_simple on steps 0, 2 and 4; the final validation row has no train loss
    {
        FILE* f = std::fopen(dir.file("log.csv").c_str(), "w");
        REQUIRE(f);
        std::fputs("step,lr,hidden_lr,train_loss,val_loss,grad_norm,tokens_per_s,elapsed_s,grad_sq_small,grad_sq_big,"
                   "noise_g2,noise_trace,b_simple\n"
                   "0,,,5,,,,,,,,,2\n"
                   "1,,,4,,,,,,,,,\n"
                   "2,,,3,,,,,,,,,3\n"
                   "3,,,2.5,,,,,,,,,-4\n"
                   "4,,,1.5,,,,,,,,,nan\n"
                   "5,,,1,,,,,,,,,8\n"
                   "6,,,,1.2,,,,,,,,\n", f);
        std::fclose(f);
    }
    std::vector<NoisePoint> p = read_noise_points(dir.file("log.csv"));
    REQUIRE(p.size() == 3);
    CHECK(p[0].step == 0);
    CHECK(p[0].train_loss == Approx(5));
    CHECK(p[1].step == 2);
    CHECK(p[1].train_loss == Approx(3.5));  // steps 1 and 2
    CHECK(p[1].b_simple == Approx(3));
    CHECK(p[2].step == 5);                  // step 3's negative and step 4's NaN are not measurements
    CHECK(p[2].train_loss == Approx(5.0 / 3));  // steps 3, 4 and 5
    CHECK(read_noise_points(dir.file("missing.csv")).empty());
    // two seeds: only the steps both measured; B_simple geometrically
    std::vector<NoisePoint> a = {{0, 4, 2}, {8, 2, 8}, {16, 1, 16}}, b = {{0, 6, 8}, {8, 3, 32}};
    std::vector<NoisePoint> m = average_noise_points({a, b});
    REQUIRE(m.size() == 2);
    CHECK(m[0].train_loss == Approx(5));
    CHECK(m[0].b_simple == Approx(4));
    CHECK(m[1].step == 8);
    CHECK(m[1].b_simple == Approx(16));
    CHECK(average_noise_points({a, {}}).empty());  // a seed that never measured
}

TEST_CASE("lrt train --tokens sets the steps from the batch; not with --steps", "[axis][cli]") {
    TempDir dir;
    const std::string tiny = " --depth 1 --head-dim 8 --width 16 --seq-len 16 --val-batches 1 --val-every 0 "
                             "--sample-length 0 --synth-train-tokens 20000 --synth-val-tokens 4096 --measure-every 0 --quiet";
    CommandResult r = run_command(lrt_binary() + " train --tokens 1000 --batch-size 4" + tiny + " --out-dir " + dir.file("a"));
    REQUIRE(r.exit_code == 0);
    CHECK(contains(text_of(dir.file("a/result.json")), "\"steps_run\":16"));  // ceil(1000 / 64)
    r = run_command(lrt_binary() + " train --tokens 1000 --steps 5 --batch-size 4" + tiny + " --out-dir " + dir.file("b"));
    CHECK(r.exit_code != 0);
    CHECK(contains(r.output, "give --steps or --tokens, not both"));
}

TEST_CASE("a batch-size sweep end to end: optima per value, the fits and the figure", "[axis][sweep][cli]") {
    TempDir dir;
    {
        FILE* f = std::fopen(dir.file("configs.txt").c_str(), "w");
        REQUIRE(f);
        std::fputs("adam --param mup --d-base 16\n", f);
        std::fclose(f);
    }
    const std::string common = "--depth 1 --head-dim 8 --seq-len 16 --tokens 2048 --grad-accum 2 --measure-every 2 "
                               "--val-batches 2 --val-every 0 --sample-length 0 --synth-train-tokens 20000 "
                               "--synth-val-tokens 4096";
    CommandResult r = run_command(lrt_binary() + " sweep --dir " + dir.file("s") + " --configs " + dir.file("configs.txt") +
                                  " --widths 16 --lrs 0.005,0.02,0.08 --axis batch-size=2,4,8 --jobs 2 --quiet --common \"" +
                                  common + "\"");
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    CsvTable t = read_csv(dir.file("s/optimum_vs_axis.csv"));
    REQUIRE(t.rows.size() == 3);
    CHECK(t.text(t.rows[0], t.col("config")) == "adam");
    CHECK(t.text(t.rows[2], t.col("value")) == "8");
    CsvTable fit = read_csv(dir.file("s/batch_fit.csv"));
    REQUIRE(fit.rows.size() == 2);
    CHECK(fit.text(fit.rows[1], fit.col("law")) == "surge");
    // --grad-accum 2 measured the noise scale, and the fit carries it
    CHECK(std::isfinite(fit.number(fit.rows[0], fit.col("b_simple_measured"))));
    CHECK(std::isfinite(fit.number(fit.rows[0], fit.col("slope"))));
    CHECK(fit.number(fit.rows[0], fit.col("slope_lo")) <= fit.number(fit.rows[0], fit.col("slope_hi")));
    CHECK(contains(text_of(dir.file("s/optimum_vs_batch-size.svg")), "B_simple"));
    // the noise trend follows each batch size's best-LR runs over training
    CsvTable trend = read_csv(dir.file("s/noise_trend.csv"));
    REQUIRE(!trend.rows.empty());
    CHECK(trend.text(trend.rows[0], trend.col("value")) == "2");
    CHECK(trend.text(trend.rows.back(), trend.col("value")) == "8");
    // per value, the steps rise from 0 and every point has a train loss
    for (size_t i = 0; i < trend.rows.size(); i++) {
        const CsvRow& row = trend.rows[i];
        CHECK(std::isfinite(trend.number(row, trend.col("train_loss"))));
        const bool first = i == 0 || trend.text(trend.rows[i - 1], trend.col("value")) != trend.text(row, trend.col("value"));
        if (first) CHECK(trend.number(row, trend.col("step")) == 0);
        else CHECK(trend.number(row, trend.col("step")) > trend.number(trend.rows[i - 1], trend.col("step")));
    }
    // the per-seed optima's geometric mean, which the fits use, lies within their range
    for (const CsvRow& row : t.rows) {
        const double mean = t.number(row, t.col("seed_lr_mean"));
        CHECK(mean >= t.number(row, t.col("seed_lr_min")) * (1 - 1e-9));
        CHECK(mean <= t.number(row, t.col("seed_lr_max")) * (1 + 1e-9));
    }
    CHECK(contains(text_of(dir.file("s/noise_scale_vs_loss.svg")), "B 8"));
    // each batch size trained the same tokens: 2048 / (B x 16) steps
    CHECK(contains(text_of(dir.file("s/runs/adam+batch-size=8_w16_lr0.02_s1/result.json")), "\"steps_run\":16"));
    CHECK(contains(text_of(dir.file("s/runs/adam+batch-size=2_w16_lr0.02_s1/result.json")), "\"steps_run\":64"));
}
