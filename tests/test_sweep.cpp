// Sweeps: the plan, the optimum fit, divergence records, and a small sweep
// run end to end, interrupted (some runs unfinished) and resumed.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>

#include "study/figures.h"
#include "study/sweep.h"
#include "test_helpers.h"
#include "train/train.h"
#include "util/util.h"

namespace {


RunResult result(const std::string& config, int width, double lr, double loss, const std::string& status = "done") {
    return synthetic_run(config, 0, width, 0, lr, loss, status);
}

const char* TINY = "--depth 1 --head-dim 16 --steps 12 --batch-size 2 --seq-len 32 --val-batches 1 --val-every 0 "
                   "--sample-length 0 --synth-train-tokens 20000 --synth-val-tokens 4096 --warmup-steps 2";

}  // namespace

TEST_CASE("sweep configurations and plans", "[sweep]") {
    auto cfgs = parse_sweep_configs("# comment\n\nmup  --param mup --d-base 32\nsp --param sp\n", "c.txt");
    REQUIRE(cfgs.size() == 2);
    REQUIRE(cfgs[0].name == "mup");
    REQUIRE(cfgs[0].flags == "--param mup --d-base 32");
    REQUIRE_THROWS_WITH(parse_sweep_configs("a --x\na --y\n", "c.txt"), Catch::Contains("c.txt:2: configuration 'a' appears twice"));
    REQUIRE_THROWS_WITH(parse_sweep_configs("a --out-dir $HOME\n", "c.txt"), Catch::Contains("may only use letters"));
    REQUIRE_THROWS_WITH(parse_sweep_configs("a --lr 1 > x\n", "c.txt"), Catch::Contains("may only use letters"));
    // an inline comment is a comment, not part of the command line
    auto commented = parse_sweep_configs("sp  --param sp   # the SP baseline\n", "c.txt");
    REQUIRE(commented[0].flags == "--param sp");
    REQUIRE_THROWS_WITH(parse_sweep_configs("# nothing\n", "c.txt"), Catch::Contains("no configurations"));
    SweepSpec spec;
    spec.dir = "/tmp/s";
    spec.configs = cfgs;
    spec.widths = {32, 64};
    spec.lrs = {0.001, 0.01};
    spec.seeds = {1, 2};
    spec.common = "--steps 10";
    std::vector<PlanEntry> plan = make_plan(spec);
    REQUIRE(plan.size() == 2 * 2 * 2 * 2);
    REQUIRE(plan[0].id == "mup_w32_lr0.001_s1");
    REQUIRE(plan[0].command ==
            "./lrt train --steps 10 --param mup --d-base 32 --width 32 --lr 0.001 --seed 1 --out-dir "
            "/tmp/s/runs/mup_w32_lr0.001_s1 --quiet --on-divergence record --skip-if-done --if-exists resume");
    REQUIRE(plan.back().id == "sp_w64_lr0.01_s2");
    spec.dir = "/tmp/a b";
    REQUIRE_THROWS_WITH(make_plan(spec), Catch::Contains("may only use letters"));
    spec.dir = "/tmp/s";
    spec.widths = {32, 32};
    REQUIRE_THROWS_WITH(make_plan(spec), Catch::Contains("two runs of the sweep would be mup_w32_lr0.001_s1"));
}

TEST_CASE("the optimum: best grid point refined by a parabola in log2(lr)", "[sweep]") {
    double x[3] = {-1, 0, 2}, y[3], vx, vy;
    for (int i = 0; i < 3; i++) y[i] = 3 * (x[i] - 0.25) * (x[i] - 0.25) + 1.5;
    REQUIRE(parabola_vertex(x, y, &vx, &vy));
    REQUIRE(vx == Approx(0.25));
    REQUIRE(vy == Approx(1.5));
    double down[3] = {0, 1, 0};
    REQUIRE_FALSE(parabola_vertex(x, down, &vx, &vy));  // a maximum is not an optimum
    // a curve with its minimum at log2(lr) = -7.5: grid at -10..-5
    std::vector<RunResult> rs;
    for (int e = -10; e <= -5; e++) {
        double l2 = e;
        rs.push_back(result("a", 64, std::pow(2.0, e), 2.0 + 0.1 * (l2 + 7.5) * (l2 + 7.5)));
        // width 128: the same shape one octave lower, the two largest diverged
        double loss = 1.9 + 0.1 * (l2 + 8.5) * (l2 + 8.5);
        rs.push_back(e >= -6 ? result("a", 128, std::pow(2.0, e), NAN, "diverged") : result("a", 128, std::pow(2.0, e), loss));
        // an unfinished run is ignored
        rs.push_back(result("a", 256, std::pow(2.0, e), NAN, "missing"));
    }
    rs.push_back(result("b", 64, 0.1, 3.0));
    rs.push_back(result("b", 64, 0.2, 2.5));
    std::vector<Optimum> opt = find_optima(rs);
    REQUIRE(opt.size() == 4);
    REQUIRE(opt[0].width == 64);
    REQUIRE(opt[0].fitted);
    REQUIRE(std::log2(opt[0].lr) == Approx(-7.5));
    REQUIRE(opt[0].loss == Approx(2.0));
    REQUIRE(opt[1].width == 128);
    REQUIRE(std::log2(opt[1].lr) == Approx(-8.5));
    REQUIRE(opt[1].diverged == 2);
    REQUIRE(opt[2].width == 256);
    REQUIRE(std::isnan(opt[2].lr));  // nothing finished
    REQUIRE(opt[3].config == "b");
    REQUIRE(opt[3].at_edge);
    REQUIRE_FALSE(opt[3].fitted);
    REQUIRE(opt[3].lr == 0.2);
}

TEST_CASE("a diverged run stops early and is recorded, not dropped", "[sweep][train]") {
    TempDir dir;
    std::string lrt = lrt_binary();
    CommandResult r = run_command(lrt + " train " + TINY + " --width 32 --lr 1e-3 --diverge-loss 1.0 --on-divergence record --quiet --out-dir " + dir.path);
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    std::string json = text_of(dir.file("result.json"));
    REQUIRE(json.find("\"status\":\"diverged\"") != std::string::npos);
    REQUIRE(json.find("\"diverged_at\":0") != std::string::npos);
    REQUIRE(run_is_finished(dir.path));
    // without --on-divergence record it is an error
    CommandResult e = run_command(lrt + " train " + TINY + " --width 32 --lr 1e-3 --diverge-loss 1.0 --quiet --out-dir " + dir.file("x"));
    REQUIRE(e.exit_code == 1);
    REQUIRE(e.output.find("training diverged") != std::string::npos);
}

TEST_CASE("lrt sweep: plan, run, interrupt, resume only the unfinished runs, report", "[sweep][cli]") {
    TempDir dir;
    std::string lrt = lrt_binary();
    write_file_atomic(dir.file("configs.txt"), "sp --param sp\nmup --param mup --d-base 32\n");
    std::string sweep_dir = dir.file("sweep");
    std::string args = " --dir " + sweep_dir + " --configs " + dir.file("configs.txt") +
                       " --widths 32,64 --lrs 0.003,0.01,0.03 --lrt " + lrt + " --common \"" + TINY + "\"";
    CommandResult plan = run_command(lrt + " sweep plan" + args);
    INFO(plan.output);
    REQUIRE(plan.exit_code == 0);
    std::vector<PlanEntry> entries = read_plan(sweep_dir);
    REQUIRE(entries.size() == 12);
    // the plan's lines are plain shell: run two of them the way xargs would,
    // one of them only part way (as if the sweep were killed during it)
    REQUIRE(std::system(entries[0].command.c_str()) == 0);
    REQUIRE(std::system((entries[1].command + " --stop-after 5").c_str()) == 0);
    REQUIRE(run_is_finished(entries[0].out_dir));
    REQUIRE_FALSE(run_is_finished(entries[1].out_dir));
    CommandResult run = run_command(lrt + " sweep run --dir " + sweep_dir + " --jobs 2");
    INFO(run.output);
    REQUIRE(run.exit_code == 0);
    REQUIRE(run.output.find("12 runs, 1 finished already, 11 to run") != std::string::npos);
    for (const auto& e : entries) REQUIRE(run_is_finished(e.out_dir));
    // everything finished: a rerun does nothing
    CommandResult again = run_command(lrt + " sweep --dir " + sweep_dir);
    REQUIRE(again.exit_code == 0);
    REQUIRE(again.output.find("12 finished already, 0 to run") != std::string::npos);
    std::string results = text_of(sweep_dir + "/results.csv");
    REQUIRE(results.rfind("id,config,width,lr,seed,status,final_val_loss", 0) == 0);
    REQUIRE(std::count(results.begin(), results.end(), '\n') == 13);
    REQUIRE(results.find(",missing,") == std::string::npos);
    REQUIRE(file_exists(sweep_dir + "/loss_vs_lr.svg"));
    // one seed, no horizons: nothing to bootstrap, so no drift files (as before they existed)
    REQUIRE_FALSE(file_exists(sweep_dir + "/drift.csv"));
    REQUIRE_FALSE(file_exists(sweep_dir + "/drift_vs_horizon.svg"));
    REQUIRE(again.output.find("drift of the optimal LR") != std::string::npos);
    // a configuration whose runs all diverge: recorded as diverged in a real sweep
    write_file_atomic(dir.file("diverging.txt"), "bad --param sp --diverge-loss 1.0\n");
    std::string bad_dir = dir.file("bad");
    CommandResult diverging = run_command(lrt + " sweep --dir " + bad_dir + " --configs " + dir.file("diverging.txt") +
                                          " --widths 32 --lrs 0.01,0.02 --lrt " + lrt + " --common \"" + TINY + "\"");
    INFO(diverging.output);
    REQUIRE(diverging.exit_code == 0);
    REQUIRE(diverging.output.find("diverged") != std::string::npos);
    REQUIRE(diverging.output.find("every run diverged") != std::string::npos);
    std::string bad_results = text_of(bad_dir + "/results.csv");
    REQUIRE(std::count(bad_results.begin(), bad_results.end(), '\n') == 3);
    REQUIRE(bad_results.find(",diverged,") != std::string::npos);
    REQUIRE(bad_results.find(",done,") == std::string::npos);
    // a different grid in the same directory is refused
    CommandResult other = run_command(lrt + " sweep" + args + " --lrs 0.1");
    REQUIRE(other.exit_code == 1);
    REQUIRE(other.output.find("exists with different runs") != std::string::npos);
    // the grid flags without --configs on an existing plan would be ignored: refused
    CommandResult ignored = run_command(lrt + " sweep --dir " + sweep_dir + " --widths 128");
    REQUIRE(ignored.exit_code == 1);
    REQUIRE(ignored.output.find("has a plan already") != std::string::npos);
    // the same grid planned with another path to the program is the same plan
    CommandResult moved = run_command(lrt + " sweep plan" + args.substr(0, args.find(" --lrt ")) + " --lrt /elsewhere/lrt --common \"" + TINY + "\"");
    INFO(moved.output);
    REQUIRE(moved.exit_code == 0);
    // run-one runs a single line (already finished: skipped)
    CommandResult one = run_command(lrt + " sweep run-one --dir " + sweep_dir + " --index 3");
    REQUIRE(one.exit_code == 0);
    CommandResult bad = run_command(lrt + " sweep run-one --dir " + sweep_dir + " --index 13");
    REQUIRE(bad.exit_code == 1);
    REQUIRE(bad.output.find("outside the plan's 1..12") != std::string::npos);
}

TEST_CASE("lrt figures: RRC, alignment, weight norm and implicit warmup from a sweep's measurements", "[sweep][figures]") {
    TempDir dir;
    std::string lrt = lrt_binary();
    write_file_atomic(dir.file("configs.txt"),
                      "mup --param mup --d-base 32 --wd-mode independent --weight-decay 0.01\n"
                      "sp --param sp --d-base 32 --wd-mode independent --weight-decay 0.01\n");
    std::string sweep_dir = dir.file("sweep");
    CommandResult run = run_command(lrt + " sweep --quiet --dir " + sweep_dir + " --configs " + dir.file("configs.txt") +
                                    " --widths 32,64 --lrs 0.01 --lrt " + lrt + " --common \"" + TINY + " --measure-every 2\"");
    INFO(run.output);
    REQUIRE(run.exit_code == 0);
    CommandResult fig = run_command(lrt + " figures --sweep " + sweep_dir + " --mup-config mup --sp-config sp");
    INFO(fig.output);
    REQUIRE(fig.exit_code == 0);
    for (const char* f : {"rrc_alignment.svg", "weight_norm.svg", "implicit_warmup.svg", "figures_summary.csv"})
        REQUIRE(file_exists(sweep_dir + "/" + f));
    std::string summary = text_of(sweep_dir + "/figures_summary.csv");
    REQUIRE(std::count(summary.begin(), summary.end(), '\n') == 5);  // header + 2 configs x 2 widths
    // at the base width µP is SP bit for bit: the measured ratio is exactly 1, as predicted
    REQUIRE(fig.output.find("width    32 (m = 1): step 0: measured 1, predicted 1 | step 2: measured 1, predicted 1") !=
            std::string::npos);
    // at m = 2 the first update of µP is half of SP's (Adam's first step is
    // about sign(g) for both, and µP's LR is lr/2): measured ~0.5, predicted 1/m
    size_t at = fig.output.find("width    64 (m = 2): step 0: measured ");
    REQUIRE(at != std::string::npos);
    double measured = std::atof(fig.output.c_str() + at + std::string("width    64 (m = 2): step 0: measured ").size());
    REQUIRE(measured == Approx(0.5).epsilon(0.03));
    REQUIRE(fig.output.find("predicted 0.5 |", at) != std::string::npos);
    CommandResult bad = run_command(lrt + " figures --sweep " + sweep_dir + " --mup-config nope --sp-config sp");
    REQUIRE(bad.exit_code == 1);
    REQUIRE(bad.output.find("must name configurations of the sweep") != std::string::npos);
}

TEST_CASE("sweep plans with a horizon axis: ids, --steps last, plan.csv round trip, old plans", "[sweep]") {
    TempDir dir;
    SweepSpec spec;
    spec.dir = dir.path;
    spec.configs = parse_sweep_configs("mup --param mup --d-base 32\nsp --param sp --steps 7\n", "c.txt");
    spec.widths = {32, 64};
    spec.lrs = {0.001, 0.01};
    spec.seeds = {1, 2};
    spec.horizons = {500, 2000};
    spec.common = "--steps 10 --depth 1";
    std::vector<PlanEntry> plan = make_plan(spec);
    REQUIRE(plan.size() == 2 * 2 * 2 * 2 * 2);
    REQUIRE(plan[0].id == "mup_h500_w32_lr0.001_s1");
    REQUIRE(plan[0].steps == 500);
    // after --common and the configuration's flags: lrt train keeps a repeated flag's last value
    REQUIRE(plan[0].command ==
            "./lrt train --steps 10 --depth 1 --param mup --d-base 32 --steps 500 --width 32 --lr 0.001 --seed 1 "
            "--out-dir " + dir.path + "/runs/mup_h500_w32_lr0.001_s1 --quiet --on-divergence record --skip-if-done "
            "--if-exists resume");
    REQUIRE(plan[8].id == "mup_h2000_w32_lr0.001_s1");  // horizons outside widths, LRs and seeds
    REQUIRE(plan.back().id == "sp_h2000_w64_lr0.01_s2");
    REQUIRE(plan.back().command.find("--param sp --steps 7 --steps 2000 --width 64") != std::string::npos);
    // plan.csv carries the horizon and reads back
    write_plan(dir.path, plan);
    REQUIRE(text_of(dir.file("plan.csv")).rfind("id,config,width,lr,seed,out_dir,steps\n", 0) == 0);
    std::vector<PlanEntry> back = read_plan(dir.path);
    REQUIRE(back.size() == plan.size());
    for (size_t i = 0; i < plan.size(); i++) {
        REQUIRE(back[i].id == plan[i].id);
        REQUIRE(back[i].steps == plan[i].steps);
        REQUIRE(back[i].command == plan[i].command);
    }
    // without horizons: the ids and lines of before, steps 0
    spec.horizons.clear();
    std::vector<PlanEntry> flat = make_plan(spec);
    REQUIRE(flat[0].id == "mup_w32_lr0.001_s1");
    REQUIRE(flat[0].steps == 0);
    REQUIRE(flat[0].command.find("--d-base 32 --width 32") != std::string::npos);
    // a plan.csv written before the steps column: six columns, steps = 0
    write_plan(dir.path, flat);
    std::string old;
    for (const std::string& row : split(text_of(dir.file("plan.csv")), '\n'))
        if (!row.empty()) old += row.substr(0, row.rfind(',')) + "\n";
    REQUIRE(old.rfind("id,config,width,lr,seed,out_dir\nmup_w32_lr0.001_s1,mup,32,", 0) == 0);
    write_file_atomic(dir.file("plan.csv"), old);
    std::vector<PlanEntry> read_old = read_plan(dir.path);
    REQUIRE(read_old.size() == flat.size());
    REQUIRE(read_old[0].id == "mup_w32_lr0.001_s1");
    REQUIRE(read_old[0].steps == 0);
    // bad horizons
    spec.horizons = {500, 0};
    REQUIRE_THROWS_WITH(make_plan(spec), Catch::Contains("--horizons: 0 is not a number of steps"));
    spec.horizons = {500, 500};
    REQUIRE_THROWS_WITH(make_plan(spec), Catch::Contains("two runs of the sweep would be mup_h500_w32_lr0.001_s1"));
}

TEST_CASE("optima per (config, horizon, width)", "[sweep]") {
    std::vector<RunResult> rs;
    for (int e = -10; e <= -5; e++)
        for (int64_t steps : {2000, 500}) {
            // the longer run's optimum one octave lower
            double centre = steps == 500 ? -7.5 : -8.5;
            RunResult r = result("a", 64, std::pow(2.0, e), 2.0 + 0.1 * (e - centre) * (e - centre));
            r.entry.steps = steps;
            rs.push_back(r);
        }
    std::vector<Optimum> opt = find_optima(rs);
    REQUIRE(opt.size() == 2);
    REQUIRE(opt[0].steps == 500);  // horizons ascending
    REQUIRE(std::log2(opt[0].lr) == Approx(-7.5));
    REQUIRE(opt[0].runs == 6);
    REQUIRE(opt[1].steps == 2000);
    REQUIRE(std::log2(opt[1].lr) == Approx(-8.5));
    REQUIRE(curve_group_name("a", 2000) == "a, 2000 steps");
    REQUIRE(curve_group_name("a", 0) == "a");
}

TEST_CASE("lrt sweep --horizons: each run trains its horizon; per-seed optima, drift.csv and its plot", "[sweep][cli]") {
    TempDir dir;
    std::string lrt = lrt_binary();
    write_file_atomic(dir.file("configs.txt"), "sp --param sp\n");
    std::string sweep_dir = dir.file("sweep");
    // TINY says --steps 12: the horizons must win
    CommandResult r = run_command(lrt + " sweep --dir " + sweep_dir + " --configs " + dir.file("configs.txt") +
                                  " --widths 32,64 --lrs 0.003,0.01,0.03 --seeds 1,2 --horizons 4,8 --jobs 2 --lrt " +
                                  lrt + " --common \"" + TINY + "\"");
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    std::vector<PlanEntry> plan = read_plan(sweep_dir);
    REQUIRE(plan.size() == 2 * 2 * 3 * 2);
    for (const PlanEntry& e : plan) {
        RunOutcome o = read_run_outcome(e.out_dir);
        INFO(e.id);
        REQUIRE(o.state == RunOutcome::Done);
        REQUIRE(o.steps_run == e.steps);
    }
    std::string results = text_of(sweep_dir + "/results.csv");
    REQUIRE(results.rfind("id,config,width,lr,seed,status,final_val_loss,min_train_loss,steps_run,elapsed_s,steps\n", 0) == 0);
    REQUIRE(results.find("sp_h8_w64_lr0.03_s2,sp,64,") != std::string::npos);
    std::string optimum = text_of(sweep_dir + "/optimum.csv");
    REQUIRE(std::count(optimum.begin(), optimum.end(), '\n') == 1 + 2 * 2);
    std::string drift = text_of(sweep_dir + "/drift.csv");
    REQUIRE(drift.rfind("config,steps,n_widths,n_seeds,drift_mean,drift_lo,drift_hi,any_edge", 0) == 0);
    REQUIRE(drift.find("\nsp,4,2,2,") != std::string::npos);
    REQUIRE(drift.find("\nsp,8,2,2,") != std::string::npos);
    std::string seeds = text_of(sweep_dir + "/optimum_seeds.csv");
    REQUIRE(std::count(seeds.begin(), seeds.end(), '\n') == 1 + 2 * 2 * 2);
    REQUIRE(text_of(sweep_dir + "/loss_vs_lr.svg").find(">sp, 8 steps</text>") != std::string::npos);
    REQUIRE(file_exists(sweep_dir + "/drift_vs_horizon.svg"));
    REQUIRE(r.output.find("drift of the per-seed optimal LR across widths") != std::string::npos);
    // figures draws one training length at a time: without --steps refused,
    // not mixed; with it, only that horizon's runs
    FiguresConfig fc;
    fc.sweep_dir = sweep_dir;
    REQUIRE_THROWS_WITH(make_figures(fc), Catch::Contains("choose the one to draw with --steps (4,8)"));
    fc.steps = 5;
    REQUIRE_THROWS_WITH(make_figures(fc), Catch::Contains("no runs of that horizon"));
    fc.steps = 8;
    fc.out_dir = dir.file("figures8");
    make_figures(fc);
    std::string summary = text_of(dir.file("figures8") + "/figures_summary.csv");
    REQUIRE(summary.find(",8,") != std::string::npos);
    REQUIRE(summary.find(",4,") == std::string::npos);
    // a directory with a comma would break plan.csv's fields
    CommandResult comma = run_command(lrt + " sweep plan --dir " + dir.file("a,b") + " --configs " +
                                      dir.file("configs.txt") + " --widths 32 --lrs 0.01");
    REQUIRE(comma.exit_code == 1);
    REQUIRE(comma.output.find("--dir may not contain a comma") != std::string::npos);
    // a horizon that is not a number of steps
    CommandResult bad = run_command(lrt + " sweep plan --dir " + dir.file("bad") + " --configs " +
                                    dir.file("configs.txt") + " --widths 32 --lrs 0.01 --horizons 100,-5");
    REQUIRE(bad.exit_code == 1);
    REQUIRE(bad.output.find("--horizons: '-5' is not a positive integer") != std::string::npos);
}
