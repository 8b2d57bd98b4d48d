// What a run and a sweep promise about interruption, concurrency and bad
// files: a run directory has one writer (a lock naming its holder), a killed
// sweep leaves no run behind, a refused command touches nothing, a failed
// write stops the run, no checkpoint holds a non-finite value, and only valid
// result files count as results.
#include <catch2/catch.hpp>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <fstream>
#include <thread>

#include "train/checkpoint.h"
#include "io/json.h"
#include "train/memory_estimate.h"
#include "train/backend.h"
#include "train/step.h"
#include "optim/optimizer.h"
#include "model/model.h"
#include "io/safetensors.h"
#include "study/sweep.h"
#include "test_helpers.h"
#include "train/train.h"
#include "util/util.h"

using Catch::Matchers::Contains;

namespace {

// A small, fast run (a few seconds at most); --steps is added by each test.
const std::string SMALL = " --width 32 --depth 1 --head-dim 16 --batch-size 2 --seq-len 32 --val-batches 1 "
                          "--val-every 0 --sample-length 0 --synth-train-tokens 20000 --synth-val-tokens 4096 "
                          "--measure-every 1 --measure-tokens 16 --threads 1 --quiet";

// Starts a shell command in the background (output to `log`); returns its pid.
pid_t spawn(const std::string& command, const std::string& log) {
    pid_t pid = fork();
    if (pid == 0) {
        // exec: the pid returned is the command's own, not a shell's
        execl("/bin/sh", "sh", "-c", ("exec " + command + " > " + log + " 2>&1").c_str(), (char*)nullptr);
        _exit(127);
    }
    return pid;
}

// Waits up to `seconds` for `ready` to hold, polling.
template <typename F>
bool wait_for(F ready, double seconds) {
    const double until = wall_seconds() + seconds;
    while (wall_seconds() < until) {
        if (ready()) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return ready();
}

// Whether some process holds <dir>/.lock now (we try to take it ourselves).
bool locked(const std::string& dir) {
    if (!is_directory(dir)) return false;
    try {
        DirLock probe(dir, "directory");
        return false;
    } catch (const std::exception&) {
        return true;
    }
}

void kill_and_reap(pid_t pid, int sig) {
    kill(pid, sig);
    int status;
    waitpid(pid, &status, 0);
}

size_t count_lines(const std::string& text) { return (size_t)std::count(text.begin(), text.end(), '\n'); }

// Every non-header row of a CSV has the header's number of fields and ends
// with a newline; the steps (first column) never go backwards.
void check_csv_whole(const std::string& path) {
    std::string text = text_of(path);
    REQUIRE(!text.empty());
    REQUIRE(text.back() == '\n');
    std::vector<std::string> lines = split(text, '\n');
    lines.pop_back();
    const size_t fields = split(lines[0], ',').size();
    long long previous = -1;
    for (size_t i = 1; i < lines.size(); i++) {
        INFO(path << ":" << i + 1 << ": " << lines[i]);
        REQUIRE(split(lines[i], ',').size() == fields);
        long long step = std::atoll(lines[i].c_str());
        REQUIRE(step >= previous);
        previous = step;
    }
}

std::string result_json(const std::string& body) { return "{" + body + "}\n"; }

}  // namespace

TEST_CASE("result.json: only a done or diverged file with every field in range is a finished result", "[safety]") {
    TempDir dir;
    auto outcome = [&](const std::string& text) {
        write_file_atomic(dir.file("result.json"), text);
        return read_run_outcome(dir.path);
    };
    CHECK(read_run_outcome(dir.path).state == RunOutcome::Missing);
    const std::string rest = ",\"last_train_loss\":2.5,\"min_train_loss\":2.4,\"diverged_at\":null,\"elapsed_s\":3.5";
    RunOutcome done = outcome(result_json("\"status\":\"done\",\"steps_run\":100,\"final_val_loss\":2.75" + rest));
    REQUIRE(done.state == RunOutcome::Done);
    CHECK(done.final_val_loss == 2.75);
    CHECK(done.steps_run == 100);
    CHECK(run_is_finished(dir.path));
    RunOutcome div = outcome(result_json("\"status\":\"diverged\",\"steps_run\":8,\"final_val_loss\":null,"
                                         "\"last_train_loss\":null,\"min_train_loss\":5,\"diverged_at\":7,\"elapsed_s\":1"));
    REQUIRE(div.state == RunOutcome::Diverged);
    CHECK(std::isnan(div.final_val_loss));
    CHECK(run_is_finished(dir.path));
    CHECK(outcome(result_json("\"status\":\"stopped\",\"steps_run\":5,\"final_val_loss\":null" + rest)).state ==
          RunOutcome::Stopped);
    CHECK_FALSE(run_is_finished(dir.path));

    // each of these is not a finished result: Invalid, with the reason
    const std::vector<std::pair<std::string, std::string>> bad = {
        {result_json("\"status\":\"running\",\"steps_run\":100,\"final_val_loss\":2.75" + rest), "running"},
        {result_json("\"status\":\"\",\"steps_run\":100,\"final_val_loss\":2.75" + rest), "status"},
        {result_json("\"status\":\"Done\",\"steps_run\":100,\"final_val_loss\":2.75" + rest), "Done"},
        {result_json("\"status\":\"done\",\"steps_run\":100,\"final_val_loss\":-1" + rest), "final_val_loss"},
        {result_json("\"status\":\"done\",\"steps_run\":100,\"final_val_loss\":1e308" + rest), "final_val_loss"},
        {result_json("\"status\":\"done\",\"steps_run\":100,\"final_val_loss\":null" + rest), "final_val_loss"},
        {result_json("\"status\":\"done\",\"steps_run\":1e300,\"final_val_loss\":2.75" + rest), "steps_run"},
        {result_json("\"status\":\"done\",\"steps_run\":2.5,\"final_val_loss\":2.75" + rest), "steps_run"},
        {result_json("\"status\":\"done\",\"steps_run\":0,\"final_val_loss\":2.75" + rest), "steps_run"},
        {result_json("\"status\":\"done\",\"final_val_loss\":2.75" + rest), "steps_run"},
        {result_json("\"status\":\"diverged\",\"steps_run\":8,\"diverged_at\":3,\"elapsed_s\":1"), "diverged_at"},
        {result_json("\"status\":\"done\",\"steps_run\":100,\"final_val_loss\":2.75,\"elapsed_s\":-4"), "elapsed_s"},
        {"[1, 2]", "object"},
        {"{\"status\":\"done\",", "JSON"},
        {"", "JSON"},
    };
    for (const auto& b : bad) {
        INFO(b.first);
        RunOutcome o = outcome(b.first);
        CHECK(o.state == RunOutcome::Invalid);
        CHECK_THAT(o.problem, Contains("result.json") && Contains(b.second));
        CHECK_FALSE(run_is_finished(dir.path));
    }
}

TEST_CASE("a sweep report counts only valid results: a forged result cannot become the optimum", "[safety][sweep]") {
    TempDir dir;
    SweepSpec spec;
    spec.dir = dir.file("sweep");
    spec.configs = {{"a", ""}};
    spec.widths = {32};
    spec.lrs = {0.001, 0.002, 0.004, 0.008};
    std::vector<PlanEntry> plan = make_plan(spec);
    write_plan(spec.dir, plan);
    const char* tail = ",\"last_train_loss\":3,\"min_train_loss\":3,\"diverged_at\":null,\"elapsed_s\":1}\n";
    auto put = [&](size_t i, const std::string& status, const std::string& loss) {
        make_dirs(plan[i].out_dir);
        write_file_atomic(plan[i].out_dir + "/result.json",
                          "{\"status\":\"" + status + "\",\"steps_run\":10,\"final_val_loss\":" + loss + tail);
    };
    put(0, "done", "3.0");
    put(1, "done", "2.5");  // the real optimum
    put(2, "running", "0.5");
    put(3, "done", "-1");
    std::vector<RunResult> results = collect_results(spec.dir);
    CHECK(results[1].status == "done");
    CHECK(results[2].status == "invalid");
    CHECK(results[3].status == "invalid");
    std::vector<Optimum> opt = find_optima(results);
    REQUIRE(opt.size() == 1);
    CHECK(opt[0].best_lr == 0.002);
    CHECK(opt[0].runs == 2);
    // the results file says so too
    CHECK_THAT(text_of(spec.dir + "/results.csv"), Contains(",invalid,"));
}

TEST_CASE("sweep plan.csv: every field is checked", "[safety][sweep]") {
    TempDir dir;
    SweepSpec spec;
    spec.dir = dir.path;
    spec.configs = {{"a", ""}};
    spec.widths = {32};
    spec.lrs = {0.001};
    write_plan(dir.path, make_plan(spec));
    const std::string good = text_of(dir.file("plan.csv"));
    REQUIRE(read_plan(dir.path).size() == 1);
    std::vector<std::string> rows = split(good, '\n');
    std::vector<std::string> f = split(rows[1], ',');
    auto with_field = [&](size_t k, const std::string& value) {
        std::vector<std::string> g = f;
        g[k] = value;
        std::string row;
        for (size_t i = 0; i < g.size(); i++) row += (i ? "," : "") + g[i];
        return rows[0] + "\n" + row + "\n";
    };
    for (const std::string& text : {with_field(2, "1e300"), with_field(2, "-3"), with_field(2, "abc"),
                                    with_field(3, "nan"), with_field(3, "-0.1"), with_field(3, ""),
                                    with_field(4, "99999999999999999999"), with_field(5, ""),
                                    with_field(6, "-1"), with_field(6, "2k"), with_field(6, ""),
                                    rows[0] + "\n" + rows[1].substr(0, 10) + "\n"}) {
        INFO(text);
        write_file_atomic(dir.file("plan.csv"), text);
        CHECK_THROWS_WITH(read_plan(dir.path), Contains("plan.csv:2"));
    }
}

TEST_CASE("a run directory has one writer: a second lrt train into it fails naming the first", "[safety][cli]") {
    TempDir dir;
    const std::string lrt = lrt_binary(), out = dir.file("run");
    pid_t first = spawn(lrt + " train" + SMALL + " --steps 100000 --measure-every 0 --out-dir " + out, dir.file("first.txt"));
    REQUIRE(wait_for([&] { return file_exists(out + "/log.csv") && locked(out); }, 60));
    CommandResult second = run_command(lrt + " train" + SMALL + " --steps 10 --out-dir " + out + " --if-exists overwrite");
    kill_and_reap(first, SIGKILL);
    INFO(second.output);
    CHECK(second.exit_code == 1);
    CHECK_THAT(second.output, Contains("is in use by another process (pid " + std::to_string(first)));
    CHECK_THAT(second.output, Contains("lrt train"));
    // the kernel released the lock with the killed process: the directory is free again
    CHECK_FALSE(locked(out));
    // and in one process, a second lock on a held directory fails too
    DirLock held(dir.path, "run directory");
    CHECK_THROWS_WITH(DirLock(dir.path, "run directory"), Contains("in use by another process (pid " +
                                                                             std::to_string(getpid())));
}

TEST_CASE("a refused command leaves an existing run's files as they were", "[safety][cli]") {
    TempDir dir;
    const std::string lrt = lrt_binary(), out = dir.file("run");
    CommandResult first = run_command(lrt + " train" + SMALL + " --steps 6 --out-dir " + out);
    INFO(first.output);
    REQUIRE(first.exit_code == 0);
    std::vector<std::string> names = {"log.csv", "measure.csv", "result.json", "run_info.txt", "checkpoint.safetensors"};
    std::vector<std::string> before;
    for (const auto& n : names) before.push_back(text_of(out + "/" + n));
    auto unchanged = [&] {
        for (size_t i = 0; i < names.size(); i++) {
            INFO(names[i]);
            CHECK(text_of(out + "/" + names[i]) == before[i]);
        }
    };
    // a setting refused up front (decay of lr * wd = 1 per step)
    CommandResult lr10 = run_command(lrt + " train" + SMALL + " --steps 6 --lr 10 --out-dir " + out);
    CHECK(lr10.exit_code == 1);
    CHECK_THAT(lr10.output, Contains("would remove all of it"));
    unchanged();
    // the same with --if-exists overwrite: still refused before touching anything
    CHECK(run_command(lrt + " train" + SMALL + " --steps 6 --lr 10 --out-dir " + out + " --if-exists overwrite").exit_code == 1);
    unchanged();
    // a valid new run into a directory holding one: refused, with the ways out
    CommandResult again = run_command(lrt + " train" + SMALL + " --steps 6 --out-dir " + out);
    CHECK(again.exit_code == 1);
    CHECK_THAT(again.output, Contains("holds a run already") && Contains("--if-exists overwrite"));
    unchanged();
    // a resume that changes a setting: refused
    CHECK(run_command(lrt + " train --resume " + out + " --steps 6 --lr 10").exit_code == 1);
    unchanged();
    // --if-exists overwrite replaces the run
    CommandResult over = run_command(lrt + " train" + SMALL + " --steps 4 --out-dir " + out + " --if-exists overwrite");
    INFO(over.output);
    CHECK(over.exit_code == 0);
    CHECK(read_run_outcome(out).steps_run == 4);
    CHECK(count_lines(text_of(out + "/log.csv")) == 1 + 4 + 1);  // header, 4 steps, final validation
}

TEST_CASE("--if-exists resume continues an interrupted run from its checkpoint, dropping a torn log row",
          "[safety][cli]") {
    TempDir dir;
    const std::string lrt = lrt_binary(), out = dir.file("run"), straight = dir.file("straight");
    const std::string args = SMALL + " --steps 10 --if-exists resume";
    REQUIRE(run_command(lrt + " train" + args + " --out-dir " + straight).exit_code == 0);
    CommandResult part = run_command(lrt + " train" + args + " --stop-after 4 --out-dir " + out);
    REQUIRE(part.exit_code == 0);
    // a write cut short by a kill: half a row, no newline, and a stale temporary
    {
        std::ofstream log(out + "/log.csv", std::ios::app);
        log << "4,0.0001,0.00";
    }
    write_file_atomic(out + "/checkpoint.safetensors.tmp.999999", std::string("partial"));
    CommandResult rest = run_command(lrt + " train" + args + " --out-dir " + out);
    INFO(rest.output);
    REQUIRE(rest.exit_code == 0);
    CHECK(read_run_outcome(out).state == RunOutcome::Done);
    CHECK_FALSE(file_exists(out + "/checkpoint.safetensors.tmp.999999"));
    check_csv_whole(out + "/log.csv");
    check_csv_whole(out + "/measure.csv");
    // the same run as one going straight through, bit for bit
    CHECK(text_of(out + "/measure.csv") == text_of(straight + "/measure.csv"));
    CHECK(read_run_outcome(out).final_val_loss == read_run_outcome(straight).final_val_loss);
    // the result covers the steps before the checkpoint too
    CHECK(read_run_outcome(out).min_train_loss == read_run_outcome(straight).min_train_loss);
    CHECK(read_run_outcome(out).last_train_loss == read_run_outcome(straight).last_train_loss);
    // a finished run is left as it is (no --skip-if-done needed)
    const std::string finished = text_of(out + "/result.json");
    CommandResult again = run_command(lrt + " train" + args + " --out-dir " + out);
    CHECK(again.exit_code == 0);
    CHECK(text_of(out + "/result.json") == finished);
    // a checkpoint already at the end (the process died before its
    // result.json): --if-exists resume only redoes the final evaluation
    REQUIRE(unlink((out + "/result.json").c_str()) == 0);
    CommandResult ending = run_command(lrt + " train" + args + " --out-dir " + out);
    INFO(ending.output);
    CHECK(ending.exit_code == 0);
    CHECK(read_run_outcome(out).final_val_loss == read_run_outcome(straight).final_val_loss);
    CHECK(read_run_outcome(out).min_train_loss == read_run_outcome(straight).min_train_loss);
    CHECK(text_of(out + "/log.csv").substr(0, 100) == text_of(straight + "/log.csv").substr(0, 100));
    CHECK(count_lines(text_of(out + "/log.csv")) == count_lines(text_of(straight + "/log.csv")));
}

TEST_CASE("a resume refused for a bad log row changes nothing in the run", "[safety][cli]") {
    TempDir dir;
    const std::string lrt = lrt_binary(), out = dir.file("run");
    REQUIRE(run_command(lrt + " train" + SMALL + " --steps 10 --stop-after 4 --out-dir " + out).exit_code == 0);
    // a row in the middle with an extra field: not a torn write, an error
    std::string log = text_of(out + "/log.csv");
    const size_t second_row = log.find('\n', log.find('\n') + 1);
    write_file_atomic(out + "/log.csv", log.substr(0, second_row) + ",x" + log.substr(second_row));
    std::vector<std::string> before;
    for (const char* f : {"log.csv", "measure.csv", "result.json", "checkpoint.safetensors"}) before.push_back(text_of(out + "/" + f));
    CommandResult bad = run_command(lrt + " train --resume " + out);
    CHECK(bad.exit_code == 1);
    CHECK_THAT(bad.output, Contains(out + "/log.csv:2: 14 fields, but the header has 13"));
    size_t k = 0;
    for (const char* f : {"log.csv", "measure.csv", "result.json", "checkpoint.safetensors"}) {
        INFO(f);
        CHECK(text_of(out + "/" + f) == before[k++]);
    }
}

TEST_CASE("a failed log write (file size limit, as a full disk) stops the run with the reason", "[safety][cli]") {
    TempDir dir;
    const std::string lrt = lrt_binary(), out = dir.file("run");
    // ulimit -f counts 512-byte blocks in dash, 1024 in bash: 1024 is 0.5-1
    // MiB, more than a checkpoint (about 0.35 MiB), less than the measurements
    // of 5000 steps (about 6 MiB)
    CommandResult r = run_command("sh -c 'ulimit -f 1024; trap \"\" XFSZ; exec " + lrt + " train" + SMALL +
                                  " --steps 5000 --checkpoint-every 50 --out-dir " + out + "'");
    INFO(r.output);
    CHECK(r.exit_code == 1);
    CHECK_FALSE(r.crashed);
    CHECK_THAT(r.output, Contains("cannot write " + out) && Contains("File too large"));
    CHECK_FALSE(file_exists(out + "/result.json"));
    // what was written is whole rows (the torn last one, if any, dropped on resume)
    std::string log = text_of(out + "/log.csv");
    REQUIRE(count_lines(log) > 1);
    // the last checkpoint is a good one and resumes
    const int64_t saved = load_checkpoint(out + "/checkpoint.safetensors").state.step;
    CHECK(saved > 0);
    CommandResult resumed = run_command(lrt + " train --resume " + out + " --stop-after " + std::to_string(saved + 5));
    INFO(resumed.output);
    CHECK(resumed.exit_code == 0);
    check_csv_whole(out + "/log.csv");
    check_csv_whole(out + "/measure.csv");
}

TEST_CASE("no checkpoint holds a non-finite value, and loading one blames the file", "[safety][cli]") {
    TempDir dir;
    const std::string lrt = lrt_binary(), out = dir.file("run");
    // a state whose next update overflows while its loss is still finite:
    // Adam's first moment of one tensor huge, its second moment zero. The
    // checkpoint after that update would hold inf: it is not written, the
    // crafted (finite) one stays, and the run is recorded as diverged.
    const std::string over = dir.file("overflow");
    REQUIRE(run_command(lrt + " train" + SMALL + " --steps 10 --stop-after 3 --on-divergence record --out-dir " + over)
                .exit_code == 0);
    {
        SafeTensors st = load_safetensors(over + "/checkpoint.safetensors");
        StTensor* m = nullptr;
        StTensor* v = nullptr;
        for (StTensor& t : st.tensors) {
            if (!m && t.name.rfind("optimizer.m.", 0) == 0) m = &t;
            if (m && !v && t.name == "optimizer.v." + m->name.substr(12)) v = &t;
        }
        REQUIRE((m && v));
        for (size_t i = 0; i < m->numel(); i++) {
            reinterpret_cast<float*>(m->bytes.data())[i] = 3e38f;
            reinterpret_cast<float*>(v->bytes.data())[i] = 0.0f;
        }
        save_safetensors(over + "/checkpoint.safetensors", st);
    }
    const std::string crafted = text_of(over + "/checkpoint.safetensors");
    CommandResult overflow = run_command(lrt + " train --resume " + over + " --checkpoint-every 1");
    INFO(overflow.output);
    CHECK(overflow.exit_code == 0);
    CHECK_THAT(overflow.output, Contains("not writing the checkpoint after step 4"));
    CHECK(read_run_outcome(over).state == RunOutcome::Diverged);
    CHECK(text_of(over + "/checkpoint.safetensors") == crafted);

    // a checkpoint with a NaN written into it: resuming fails, naming the file and the tensor
    const std::string good = dir.file("good");
    REQUIRE(run_command(lrt + " train" + SMALL + " --steps 10 --stop-after 3 --out-dir " + good).exit_code == 0);
    const std::string ckpt = good + "/checkpoint.safetensors";
    SafeTensors st = load_safetensors(ckpt);
    REQUIRE(st.tensors.size() > 3);
    reinterpret_cast<float*>(st.tensors[2].bytes.data())[1] = NAN;
    save_safetensors(ckpt, st);
    CommandResult nan = run_command(lrt + " train --resume " + good);
    CHECK(nan.exit_code == 1);
    CHECK_THAT(nan.output, Contains(ckpt) && Contains(st.tensors[2].name) &&
                               Contains("corrupt"));
}

TEST_CASE("a run that explodes without reaching NaN is recorded as diverged by default", "[safety][cli]") {
    TempDir dir;
    const std::string out = dir.file("run");
    TrainConfig c;
    c.model.vocab_size = 256;
    CHECK(diverge_threshold(c) == 2 * std::log(256.0));
    c.diverge_loss = 7;
    CHECK(diverge_threshold(c) == 7);
    CommandResult r = run_command(lrt_binary() + " train" + SMALL + " --steps 60 --lr 1000 --weight-decay 0 "
                                  "--warmup-steps 0 --on-divergence record --out-dir " + out);
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    RunOutcome o = read_run_outcome(out);
    CHECK(o.state == RunOutcome::Diverged);
    CHECK(o.steps_run < 60);
    // with the threshold out of the way (--diverge-loss 1e30) the run goes on
    // to the end; a final validation loss past what a result may claim
    // (MAX_SANE_LOSS) still makes it diverged, never an invalid "done"
    const std::string far = dir.file("far");
    CommandResult r2 = run_command(lrt_binary() + " train" + SMALL + " --steps 60 --lr 1000 --weight-decay 0 "
                                   "--warmup-steps 0 --diverge-loss 1e30 --on-divergence record --out-dir " + far);
    INFO(r2.output);
    REQUIRE(r2.exit_code == 0);
    RunOutcome o2 = read_run_outcome(far);
    CHECK((o2.state == RunOutcome::Diverged || o2.state == RunOutcome::Done));
    CHECK(o2.problem == "");
}

TEST_CASE("checkpoints: shapes, not only sizes, and metadata numbers in range", "[safety]") {
    TempDir dir;
    const std::string lrt = lrt_binary(), out = dir.file("run");
    REQUIRE(run_command(lrt + " train" + SMALL + " --steps 10 --stop-after 2 --out-dir " + out).exit_code == 0);
    const std::string path = out + "/checkpoint.safetensors";
    const SafeTensors original = load_safetensors(path);
    auto restore = [&](const SafeTensors& st) {
        save_safetensors(path, st);
        Checkpoint c = load_checkpoint(path);
        GPT<float> model;
        gpt_build(model, c.config);
        std::vector<float> m, v;
        restore_checkpoint(c, model, m, v);
    };
    REQUIRE_NOTHROW(restore(original));
    // a [a, b] matrix stored as [b, a]: the same size, the wrong shape
    SafeTensors transposed = original;
    bool swapped = false;
    for (StTensor& t : transposed.tensors)
        if (!swapped && t.shape.size() == 2 && t.shape[0] != t.shape[1] && t.name.rfind("optimizer.", 0) != 0) {
            std::swap(t.shape[0], t.shape[1]);
            swapped = true;
        }
    REQUIRE(swapped);
    CHECK_THROWS_WITH(restore(transposed), Contains("has shape [32, 256]"));
    // metadata numbers out of range
    for (const auto& kv : std::vector<std::pair<std::string, std::string>>{
             {"step", "18446744073709551615"}, {"step", "99999999999999999999999"}, {"data_epoch", "-1"},
             {"rng_state", "0000000000000000,0000000000000000,0000000000000000,0000000000000000"}}) {
        INFO(kv.first << " = " << kv.second);
        SafeTensors st = original;
        st.set_meta(kv.first, kv.second);
        save_safetensors(path, st);
        CHECK_THROWS_WITH(load_checkpoint(path), Contains(kv.first));
    }
    // a model_config that describes another model than the file's tensors
    // (here one of gigabytes): refused by the reader, before anyone builds it
    {
        SafeTensors st = original;
        ModelConfig big = model_config_from_json(*st.find_meta("model_config"));
        big.width = 8192;
        big.head_dim = 64;
        st.set_meta("model_config", big.to_json());
        save_safetensors(path, st);
        CHECK_THROWS_WITH(load_checkpoint(path), Contains("has shape") && Contains("but model_config describes"));
    }
    // train flags that describe another model: lrt train refuses before building it
    {
        SafeTensors st = original;
        JsonValue flags = parse_json(*st.find_meta("train_flags"));
        flags.set("width", JsonValue::make_string("8192"));
        st.set_meta("train_flags", to_json(flags));
        save_safetensors(path, st);
        CommandResult r = run_command(lrt + " train --resume " + out);
        CHECK(r.exit_code == 1);
        CHECK_THAT(r.output, Contains("model_config does not match the checkpoint's train flags"));
    }
    // a step past the run's --steps: the run refuses it
    SafeTensors late = original;
    late.set_meta("step", "11");
    save_safetensors(path, late);
    CommandResult r = run_command(lrt + " train --resume " + out);
    CHECK(r.exit_code == 1);
    CHECK_THAT(r.output, Contains("step = 11 is outside"));
}

TEST_CASE("memory: the estimate matches what a step allocates, and a run that cannot fit is refused up front",
          "[safety]") {
    ModelConfig c;
    c.vocab_size = 256;
    c.context_length = 64;
    c.width = 64;
    c.depth = 2;
    c.head_dim = 16;
    GPT<float> model;
    gpt_build(model, c);
    gpt_init(model, 1);
    const int B = 4, T = 64;
    std::vector<int> in(B * T), tg(B * T);
    for (int i = 0; i < B * T; i++) in[i] = tg[i] = i % 256;
    gpt_forward(model, in.data(), tg.data(), B, T);
    gpt_zero_grad(model);
    gpt_backward(model);
    // every float buffer of the model, as allocated
    double floats = (double)model.params.capacity() + model.grads.capacity() + model.encoded.capacity() +
                    model.lnf.capacity() + model.lnf_mean.capacity() + model.lnf_rstd.capacity() +
                    model.logits.capacity() + model.probs.capacity() + model.losses.capacity();
    for (auto* v : {&model.d_logits, &model.d_lnf, &model.d_stream, &model.d_branch, &model.d_ln, &model.d_attn_out,
                    &model.d_qkv, &model.d_fc})
        floats += (double)v->capacity();
    for (const auto& a : model.acts)
        for (auto* v : {&a.ln1, &a.ln1_mean, &a.ln1_rstd, &a.qkv, &a.att, &a.attn_out, &a.attn_proj, &a.residual_mid,
                        &a.ln2, &a.ln2_mean, &a.ln2_rstd, &a.fc, &a.fc_gelu, &a.fc_proj, &a.residual_out})
            floats += (double)v->capacity();
    const double ints = (double)model.inputs.capacity() + model.targets.capacity();
    MemoryEstimate e = estimate_train_memory(c, model.table.total, B, 1, T, false, 0, false);
    const double actual = 4 * floats + sizeof(int) * ints;
    INFO("estimate " << e.parameters + e.activations << " bytes, allocated " << actual);
    CHECK(e.parameters + e.activations == actual);
    CHECK(e.optimizer == 8.0 * model.table.total);

    // --grad-accum 2: the activations are a micro-batch's, and the CPU keeps
    // one more parameter-sized buffer, the gradient accumulator
    {
        GPT<float> small;
        gpt_build(small, c);
        gpt_init(small, 1);
        OptimizerState<float> state(small.table);
        CpuBackend<float> backend(small, state);
        StepPlan plan;
        plan.grad_accum = 2;
        training_step(backend, small.table, in.data(), tg.data(), B, T, plan);
        double micro_floats = (double)small.params.capacity() + small.grads.capacity() + backend.accumulator_capacity();
        for (auto* v : {&small.encoded, &small.lnf, &small.lnf_mean, &small.lnf_rstd, &small.logits, &small.probs,
                        &small.losses, &small.d_logits, &small.d_lnf, &small.d_stream, &small.d_branch, &small.d_ln,
                        &small.d_attn_out, &small.d_qkv, &small.d_fc})
            micro_floats += (double)v->capacity();
        for (const auto& a : small.acts)
            for (auto* v : {&a.ln1, &a.ln1_mean, &a.ln1_rstd, &a.qkv, &a.att, &a.attn_out, &a.attn_proj,
                            &a.residual_mid, &a.ln2, &a.ln2_mean, &a.ln2_rstd, &a.fc, &a.fc_gelu, &a.fc_proj,
                            &a.residual_out})
                micro_floats += (double)v->capacity();
        const double micro_actual =
            4 * micro_floats + sizeof(int) * ((double)small.inputs.capacity() + small.targets.capacity());
        MemoryEstimate e2 = estimate_train_memory(c, small.table.total, B, 2, T, false, 0, false);
        INFO("--grad-accum 2: estimate " << e2.parameters + e2.activations << " bytes, allocated " << micro_actual);
        CHECK(e2.parameters + e2.activations == micro_actual);
        CHECK(e2.activations < e.activations);
    }

    // a model far larger than any machine: refused with both numbers, at once
    TempDir dir;
    CommandResult r = run_command(lrt_binary() + " train --width 65536 --depth 4096 --head-dim 64 --steps 1 --out-dir " +
                                  dir.file("huge"));
    CHECK(r.exit_code == 1);
    CHECK_THAT(r.output, Contains("this run needs about") && Contains("are available"));
    CHECK_FALSE(file_exists(dir.file("huge")));
}

TEST_CASE("a killed sweep leaves no run going, and one sweep directory has one runner", "[safety][sweep][cli]") {
    TempDir dir;
    const std::string lrt = lrt_binary(), sweep = dir.file("sweep");
    write_file_atomic(dir.file("configs.txt"), "a --measure-every 0\n");
    CommandResult plan = run_command(lrt + " sweep plan --dir " + sweep + " --configs " + dir.file("configs.txt") +
                                     " --widths 32 --lrs 0.001,0.002 --lrt " + lrt + " --common \"" + SMALL +
                                     " --steps 100000\"");
    INFO(plan.output);
    REQUIRE(plan.exit_code == 0);
    std::vector<PlanEntry> entries = read_plan(sweep);
    REQUIRE(entries.size() == 2);
    pid_t runner = spawn(lrt + " sweep run --dir " + sweep + " --jobs 2 --threads 1", dir.file("runner.txt"));
    // (log.csv is written under the run's lock: probing the lock earlier
    // could take it in the moment before the run does)
    REQUIRE(wait_for([&] { return file_exists(entries[0].out_dir + "/log.csv") && file_exists(entries[1].out_dir + "/log.csv"); }, 60));
    REQUIRE((locked(entries[0].out_dir) && locked(entries[1].out_dir)));
    // a second runner on the same sweep: refused, naming the first
    CommandResult second = run_command(lrt + " sweep run --dir " + sweep);
    CHECK(second.exit_code == 1);
    CHECK_THAT(second.output, Contains("sweep directory " + sweep + " is in use by another process (pid " +
                                                std::to_string(runner)));
    // kill -9 of the runner: its runs stop with it (their locks are released)
    kill_and_reap(runner, SIGKILL);
    CHECK(wait_for([&] { return !locked(entries[0].out_dir) && !locked(entries[1].out_dir); }, 20));
}
