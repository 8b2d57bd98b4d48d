// The runner of a sweep: child processes, signals, progress (see sweep_run.h).
#include "study/sweep_run.h"

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>
#include <fcntl.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <thread>

#include "study/sweep_plan.h"
#include "train/train.h"
#include "util/util.h"

// ---------------------------------------------------------------- running

static volatile sig_atomic_t g_interrupted = 0;
static void on_signal(int) { g_interrupted = 1; }

// In the child of fork(): runs one plan line with its output in `log`. A
// plan line is plain words (make_plan allows no shell syntax), so it is run
// directly, and the child's parent-death signal, which survives exec, stops
// it when the runner dies; a line edited into real shell syntax goes
// through /bin/sh, and lrt train sets the same signal itself (it sees
// LRT_SWEEP_RUNNER). Never returns.
// The signals that stop a sweep (and its runs): the runner catches them.
static sigset_t stop_signals() {
    sigset_t set;
    sigemptyset(&set);
    for (int sig : {SIGINT, SIGTERM, SIGHUP}) sigaddset(&set, sig);
    return set;
}

[[noreturn]] static void exec_plan_line(const std::string& command, const std::string& log, int threads,
                                        pid_t runner) {
    // the runner's handlers only set a flag: in the child, a SIGTERM (from
    // the runner, or the parent-death signal below) must end it. The runner
    // blocked these signals around fork(), so one that came in between is
    // pending, not lost: unblocking delivers it to the default action.
    for (int sig : {SIGINT, SIGTERM, SIGHUP}) signal(sig, SIG_DFL);
    const sigset_t stop = stop_signals();
    sigprocmask(SIG_UNBLOCK, &stop, nullptr);
    // its own process group, so that stopping the sweep stops everything
    // the line started
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != runner) _exit(127);  // the runner died before the line above
    int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd >= 0) {
        dup2(fd, 1);  // dup2's copies do not inherit O_CLOEXEC
        dup2(fd, 2);
        close(fd);
    }
    setenv("OMP_NUM_THREADS", std::to_string(threads).c_str(), 1);
    setenv("LRT_SWEEP_RUNNER", std::to_string(runner).c_str(), 1);
    // plain words run directly; "NAME=value cmd" (an edited line) needs the shell
    if (plain_shell_text(command, true) && command.substr(0, command.find(' ')).find('=') == std::string::npos) {
        std::vector<std::string> words;
        for (const std::string& w : split(command, ' '))
            if (!w.empty()) words.push_back(w);
        std::vector<char*> argv;
        for (std::string& w : words) argv.push_back(&w[0]);
        argv.push_back(nullptr);
        if (!words.empty()) execvp(argv[0], argv.data());
    } else {
        execl("/bin/sh", "sh", "-c", command.c_str(), (char*)nullptr);
    }
    dprintf(2, "lrt sweep: cannot run '%s': %s\n", command.c_str(), std::strerror(errno));
    _exit(127);
}

int run_plan(const std::string& dir, int jobs, int threads, bool quiet) {
    DirLock lock(dir, "sweep directory");  // one runner per sweep: no run started twice
    remove_stale_temporaries(dir);
    std::vector<PlanEntry> plan = read_plan(dir);
    if (jobs < 1) jobs = 1;
    unsigned cores = std::max(1u, std::thread::hardware_concurrency());
    if (threads <= 0) threads = std::max(1, (int)cores / jobs);
    make_dirs(dir + "/logs");
    std::vector<size_t> todo;
    for (size_t i = 0; i < plan.size(); i++)
        if (!run_is_finished(plan[i].out_dir)) todo.push_back(i);
    // cost of a run ~ width^2 x its steps (the same steps for all without a
    // horizon axis: steps = 0 counts as 1), for the ETA
    auto cost = [&](size_t i) {
        return ((double)plan[i].width * plan[i].width + 64.0 * 64.0) * (double)std::max<int64_t>(1, plan[i].steps);
    };
    double total = 0, done_cost = 0;
    for (size_t i : todo) total += cost(i);
    if (!quiet)
        std::printf("sweep %s: %zu runs, %zu finished already, %zu to run with %d job(s) x %d thread(s)\n", dir.c_str(),
                    plan.size(), plan.size() - todo.size(), todo.size(), jobs, threads);
    std::fflush(stdout);

    struct sigaction sa = {}, old_int, old_term, old_hup;
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    sigaction(SIGHUP, &sa, &old_hup);  // a closed terminal stops the runs too
    g_interrupted = 0;

    std::map<pid_t, size_t> running;
    size_t next = 0, finished = 0;
    int failed = 0;
    const double t0 = wall_seconds();
    while ((next < todo.size() || !running.empty()) && !g_interrupted) {
        while ((int)running.size() < jobs && next < todo.size() && !g_interrupted) {
            size_t i = todo[next++];
            std::string log = dir + "/logs/" + plan[i].id + ".txt";
            const pid_t runner = getpid();
            std::fflush(nullptr);  // nothing buffered is written twice by the child
            const sigset_t stop = stop_signals();
            sigset_t before;
            sigprocmask(SIG_BLOCK, &stop, &before);
            pid_t pid = fork();
            if (pid == 0) exec_plan_line(plan[i].command, log, threads, runner);
            sigprocmask(SIG_SETMASK, &before, nullptr);
            if (pid < 0) fail("cannot start a process for " + plan[i].id);
            setpgid(pid, pid);  // also here, in case the parent gets to kill() first
            running[pid] = i;
        }
        int status = 0;
        pid_t pid = waitpid(-1, &status, 0);
        if (pid < 0) continue;  // interrupted by a signal
        auto it = running.find(pid);
        if (it == running.end()) continue;
        size_t i = it->second;
        running.erase(it);
        finished++;
        done_cost += cost(i);
        const PlanEntry& e = plan[i];
        bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0 && run_is_finished(e.out_dir);
        std::string what;
        if (!ok) {
            failed++;
            what = "FAILED (see " + dir + "/logs/" + e.id + ".txt)";
            if (failed == (int)finished && finished >= 3) {
                // every run so far failed: a setup problem (a bad flag, a missing program), not a run's
                for (const auto& kv : running) kill(-kv.first, SIGTERM);
                for (size_t k = 0; k < running.size(); k++) wait(nullptr);
                sigaction(SIGINT, &old_int, nullptr);
                sigaction(SIGTERM, &old_term, nullptr);
                sigaction(SIGHUP, &old_hup, nullptr);
                fail("the first " + std::to_string(finished) + " runs all failed; stopping. The first log: " + dir +
                     "/logs/" + plan[todo[0]].id + ".txt");
            }
        } else {
            RunOutcome o = read_run_outcome(e.out_dir);
            what = o.state == RunOutcome::Diverged ? "diverged" : "val " + fmt_g(o.final_val_loss);
        }
        if (!quiet) {
            double elapsed = wall_seconds() - t0;
            double eta = done_cost > 0 ? elapsed / done_cost * (total - done_cost) : 0;
            std::printf("[%zu/%zu] %-44s %-22s | %zu running | %s elapsed | ETA %s\n", finished, todo.size(),
                        e.id.c_str(), what.c_str(), running.size(), format_duration(elapsed).c_str(),
                        format_duration(eta).c_str());
            std::fflush(stdout);
        }
    }
    if (g_interrupted) {
        for (const auto& kv : running) kill(-kv.first, SIGTERM);
        for (size_t k = 0; k < running.size(); k++) wait(nullptr);
        std::printf("interrupted: %zu run(s) in flight were stopped; `lrt sweep run --dir %s` finishes the rest\n",
                    running.size(), dir.c_str());
    }
    sigaction(SIGINT, &old_int, nullptr);
    sigaction(SIGTERM, &old_term, nullptr);
    sigaction(SIGHUP, &old_hup, nullptr);
    if (g_interrupted) fail("sweep interrupted");
    // throughput, to compare --jobs settings (several small runs share a GPU
    // or the cores better than one at a time)
    if (!quiet && finished > 0) {
        const double elapsed = wall_seconds() - t0;
        const size_t ok = finished - (size_t)failed;
        std::printf("ran %zu run(s) in %s with %d at a time: %.1f runs/hour%s\n", ok, format_duration(elapsed).c_str(),
                    jobs, ok * 3600.0 / std::max(1e-9, elapsed),
                    failed ? (" (" + std::to_string(failed) + " more failed)").c_str() : "");
    }
    return failed;
}
