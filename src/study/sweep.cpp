// The front door of sweeps: the `lrt sweep` command (its flags, then the
// plan, run and report parts in turn) and `lrt demo` (a fixed small sweep).
// The parts themselves: sweep_plan.cpp, sweep_run.cpp, sweep_report.cpp
// (sweep.h says how they fit together).
#include "study/sweep.h"

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <limits>

#include "util/flags.h"
#include "gpu.h"
#include "util/util.h"

// The running program's path (so a sweep started from any directory finds
// it), or "./lrt" where /proc is not available.
static std::string this_program() {
    char buf[4096];
    ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
    if (n <= 0) return "./lrt";
    return std::string(buf, (size_t)n);
}

// ---------------------------------------------------------------- command

int sweep_command(int argc, char** argv) {
    static const char* USAGE =
        "lrt sweep [plan|run|run-one|report] --dir DIR [flags]\n\n"
        "Learning-rate sweeps across widths (see src/study/sweep.h for the directory layout).\n"
        "  lrt sweep --dir D --configs F --widths ... --lrs ...   plan (if new), run the unfinished runs, report\n"
        "  lrt sweep plan    ...   write D/plan.txt (one `lrt train` command per line) and D/plan.csv\n"
        "  lrt sweep run     --dir D [--jobs N]   run the unfinished lines of the plan\n"
        "  lrt sweep run-one --dir D --index K    run line K (1-based), e.g. from a Slurm array\n"
        "  lrt sweep report  --dir D              results.csv, optimum.csv, loss_vs_lr.svg and the optimum table;\n"
        "                                         with several seeds or --horizons also optimum_seeds.csv, drift.csv\n"
        "                                         (the drift across widths, with the spread of single-seed drifts) and, with\n"
        "                                         --horizons, drift_vs_horizon.svg\n"
        "--horizons 500,2000,8000 makes the training length an axis: each run gets --steps H (after --common and\n"
        "the configuration's flags, so it wins) and an id with _h<H>, and the optima and drifts are per horizon.\n"
        "--axis FLAG=v1,v2,... makes any other lrt train flag an axis (e.g. --axis batch-size=8,16,32,64,128): each\n"
        "configuration becomes one per value, named <config>+FLAG=<value>, with --FLAG <value> after its flags; the\n"
        "report adds optimum_vs_axis.csv and optimum_vs_FLAG.svg (the optimal LR against the value) and, for\n"
        "batch-size, batch_fit.csv (the McCandlish and surge laws fitted to the optima, src/study/batch_fit.h).\n"
        "A fixed token budget across batch sizes: put lrt train's --tokens N in --common instead of --steps.\n"
        "With an axis the report also finds the best value (lowest loss at its best LR) per width and its slope\n"
        "against width: axis_best.csv, axis_best_slope.csv, loss_vs_FLAG.svg (src/study/axis_best.h).\n"
        "--finetune-from bases/w{width} makes every run `lrt finetune --from bases/w<width>` (docs/lora.md):\n"
        "e.g. --axis lora-plus-ratio=1,4,16,64 finds LoRA+'s best ratio at each width.\n"
        "The configurations file has one 'name flags...' line per configuration, e.g.\n"
        "  mup-independent  --param mup --d-base 64 --wd-mode independent --weight-decay 1e-4";
    std::string sub = "all";
    int first = 2;
    if (argc > 2 && argv[2][0] != '-') {
        sub = argv[2];
        first = 3;
        if (sub != "plan" && sub != "run" && sub != "run-one" && sub != "report")
            fail("unknown sweep subcommand '" + sub + "' (plan, run, run-one, report)");
    }
    // --lrt's default, this program, is filled in after parsing: its path
    // differs from machine to machine and would make --help (docs/cli.md) do so
    std::string dir, configs_path, widths = "", lrs = "", seeds = "1", horizons, axis, common, lrt, finetune_from;
    int jobs = 1, threads = 0;
    int64_t index = 0;
    bool quiet = false;
    FlagSet f("sweep", USAGE);
    f.add("dir", &dir, "the sweep's directory");
    f.add("configs", &configs_path, "file of configurations: one 'name flags...' line each");
    f.add("widths", &widths, "comma-separated widths");
    f.add("lrs", &lrs, "comma-separated learning rates");
    f.add("seeds", &seeds, "comma-separated seeds");
    f.add("horizons", &horizons, "comma-separated training lengths (steps), a sweep axis: each run gets --steps H");
    f.add("axis", &axis, "FLAG=v1,v2,...: any other lrt train flag as a sweep axis (see above)");
    f.add("common", &common, "lrt train flags for every run (e.g. \"--steps 500 --depth 2\")");
    f.add("finetune-from", &finetune_from,
          "fine-tuning sweep: each run is `lrt finetune --from P` instead of `lrt train`, P with {width} and "
          "{seed} replaced by the run's width and seed (e.g. bases/w{width}_s{seed})");
    f.add("lrt", &lrt, "the lrt program the plan's lines call (default: this one)");
    f.add("jobs", &jobs, "runs at a time", between(1, 256));
    f.add("threads", &threads, "OpenMP threads per run; 0 = cores / jobs", between(0, 256));
    f.add("index", &index, "run-one: the plan line to run, 1-based", at_least(0));
    f.add("quiet", &quiet, "print only the final table");
    if (!f.parse(argc, argv, first)) return 0;
    if (lrt.empty()) lrt = this_program();
    if (dir.empty()) fail("--dir is required (see `lrt sweep --help`)");

    if (sub == "plan" || sub == "all") {
        make_dirs(dir);
        DirLock lock(dir, "sweep directory");  // released before run_plan takes it again
        bool have_plan = file_exists(dir + "/plan.txt");
        if (have_plan && !f.was_set("configs") && (f.was_set("widths") || f.was_set("lrs") || f.was_set("seeds") ||
                                                  f.was_set("horizons") || f.was_set("axis") ||
                                                  f.was_set("common") || f.was_set("finetune-from")))
            fail(dir + " has a plan already; give --configs too (with the same grid) or leave out --widths, --lrs, "
                 "--seeds, --horizons, --axis, --common and --finetune-from to run the plan as it is");
        if (sub == "plan" || !have_plan || f.was_set("configs")) {
            if (configs_path.empty() || widths.empty() || lrs.empty())
                fail("planning a sweep needs --configs, --widths and --lrs");
            SweepSpec spec;
            spec.dir = dir;
            spec.configs = read_sweep_configs(configs_path);
            for (int64_t w : parse_int_list(widths, "--widths", 1, 1 << 16)) spec.widths.push_back((int)w);
            spec.lrs = parse_positive_list(lrs, "--lrs");
            spec.seeds = parse_int_list(seeds, "--seeds", 0, std::numeric_limits<int64_t>::max());
            if (!horizons.empty())
                spec.horizons = parse_int_list(horizons, "--horizons", 1, std::numeric_limits<int64_t>::max());
            if (!axis.empty()) parse_sweep_axis(axis, &spec.axis_flag, &spec.axis_values);
            spec.common = common;
            spec.finetune_from = finetune_from;
            spec.lrt = lrt;
            std::vector<PlanEntry> plan = make_plan(spec);
            if (have_plan) {
                // the same runs, whichever path the program had
                auto args = [](const std::string& cmd) { return cmd.substr(std::min(cmd.size(), cmd.find(' '))); };
                std::vector<PlanEntry> old = read_plan(dir);
                bool same = old.size() == plan.size();
                for (size_t i = 0; same && i < plan.size(); i++) same = args(old[i].command) == args(plan[i].command);
                if (!same)
                    fail(dir + "/plan.txt exists with different runs; use another --dir, or delete the plan to replace it");
            } else {
                write_plan(dir, plan);
            }
            if (!quiet) std::printf("plan: %zu runs in %s/plan.txt\n", plan.size(), dir.c_str());
        }
        if (sub == "plan") return 0;
    }
    if (sub == "run-one") {
        std::vector<PlanEntry> plan = read_plan(dir);
        if (index < 1 || index > (int64_t)plan.size())
            fail("--index " + std::to_string(index) + " is outside the plan's 1.." + std::to_string(plan.size()));
        int rc = std::system(plan[index - 1].command.c_str());
        return WIFEXITED(rc) ? WEXITSTATUS(rc) : 1;
    }
    int failed = 0;
    if (sub == "run" || sub == "all") failed = run_plan(dir, jobs, threads, quiet);
    report_sweep(dir, true);
    if (failed) fail(std::to_string(failed) + " run(s) failed; their logs are in " + dir + "/logs/");
    return 0;
}

int demo_command(int argc, char** argv) {
    std::string dir = "runs/demo", lrt, device = "cpu";  // lrt: this program, after parsing (as in sweep)
    int jobs = 2;
    FlagSet f("demo",
              "lrt demo [--dir DIR] [--jobs N] [--device cpu|cuda]\n\n"
              "Does the optimal learning rate found on a narrow model hold on a wide one? A small sweep on the\n"
              "built-in corpus: SP and µP, both with independent weight decay and 10% warmup, at widths 32, 64\n"
              "and 128 and seven learning rates, 300 steps each (a few minutes on 2 cores). Prints the optimal LR\n"
              "per width and its drift in octaves, and writes DIR/loss_vs_lr.svg. Rerunning resumes.");
    f.add("dir", &dir, "the demo sweep's directory");
    f.add("jobs", &jobs, "runs at a time", between(1, 256));
    f.add("lrt", &lrt, "the lrt program to run (default: this one)");
    f.add("device", &device, "where the runs train: cpu or cuda (then raise --jobs: small runs share the GPU)",
          {"cpu", "cuda"});
    if (!f.parse(argc, argv, 2)) return 0;
    if (lrt.empty()) lrt = this_program();
    const std::string sched = "--warmup-fraction 0.1 --lr-decay linear --min-lr-fraction 0 --wd-mode independent "
                              "--weight-decay 0.01 --d-base 32";
    SweepSpec spec;
    spec.dir = dir;
    spec.configs = {{"sp", "--param sp " + sched}, {"mup", "--param mup " + sched}};
    spec.widths = {32, 64, 128};
    spec.lrs = {0.001953125, 0.00390625, 0.0078125, 0.015625, 0.03125, 0.0625, 0.125};
    spec.common = "--depth 2 --head-dim 16 --steps 300 --batch-size 8 --seq-len 64 --val-batches 16 --val-every 0 "
                  "--sample-length 0 --synth-train-tokens 1000000 --synth-val-tokens 65536 --measure-every 0 "
                  "--diverge-loss 7";
    if (device != "cpu") {
        std::string why;
        if (!gpu::available(&why)) fail("--device cuda: " + why);
        spec.common += " --device " + device;
    }
    spec.lrt = lrt;
    // the demo's plan is fixed by this code: (re)written every time; runs that
    // finished before are skipped
    {
        make_dirs(dir);
        DirLock lock(dir, "sweep directory");
        write_plan(dir, make_plan(spec));
    }
    int failed = run_plan(dir, jobs, 0, false);
    report_sweep(dir, true);
    if (failed) fail(std::to_string(failed) + " run(s) failed; their logs are in " + dir + "/logs/");
    return 0;
}
