#include "study/sweep.h"

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>
#include <fcntl.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "util/flags.h"
#include "gpu.h"
#include "io/json.h"
#include "io/svg.h"
#include "train/train.h"
#include "util/util.h"

// ---------------------------------------------------------------- configs, plan

// What a plan line may contain without quoting: no character the shell
// would treat specially (quotes, ; | & ` $ # < > * ? ( ) and the like).
static bool plain_shell_text(const std::string& text, bool spaces_ok) {
    for (char ch : text)
        if (!(std::isalnum((unsigned char)ch) || ch == '.' || ch == '_' || ch == '=' || ch == '/' || ch == ',' ||
              ch == ':' || ch == '+' || ch == '-' || (ch == ' ' && spaces_ok)))
            return false;
    return true;
}

std::vector<SweepConfig> parse_sweep_configs(const std::string& text, const std::string& source) {
    std::vector<SweepConfig> out;
    std::istringstream in(text);
    std::string line;
    std::set<std::string> names;
    for (int lineno = 1; std::getline(in, line); lineno++) {
        size_t hash = line.find('#');  // a comment runs to the end of the line
        if (hash != std::string::npos) line = line.substr(0, hash);
        size_t a = line.find_first_not_of(" \t\r");
        if (a == std::string::npos) continue;
        size_t b = line.find_first_of(" \t", a);
        SweepConfig c;
        c.name = line.substr(a, b == std::string::npos ? std::string::npos : b - a);
        if (b != std::string::npos) {
            size_t f = line.find_first_not_of(" \t", b);
            size_t e = line.find_last_not_of(" \t\r");
            if (f != std::string::npos) c.flags = line.substr(f, e + 1 - f);
        }
        for (char ch : c.name)
            if (!(std::isalnum((unsigned char)ch) || ch == '-' || ch == '_' || ch == '.' || ch == '+'))
                fail(source + ":" + std::to_string(lineno) + ": configuration name '" + c.name +
                     "' may only use letters, digits and - _ . +");
        if (!plain_shell_text(c.flags, true))
            fail(source + ":" + std::to_string(lineno) + ": flags of '" + c.name +
                 "' may only use letters, digits, spaces and . _ = / , : + - (the plan file is plain shell, unquoted)");
        if (!names.insert(c.name).second) fail(source + ":" + std::to_string(lineno) + ": configuration '" + c.name + "' appears twice");
        out.push_back(c);
    }
    if (out.empty()) fail(source + ": no configurations (lines of 'name flags...')");
    return out;
}

std::vector<SweepConfig> read_sweep_configs(const std::string& path) {
    std::vector<uint8_t> bytes = read_file(path, 1 << 20);  // a page of configurations, not a data file
    return parse_sweep_configs(std::string(bytes.begin(), bytes.end()), path);
}

// The running program's path (so a sweep started from any directory finds
// it), or "./lrt" where /proc is not available.
static std::string this_program() {
    char buf[4096];
    ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
    if (n <= 0) return "./lrt";
    return std::string(buf, (size_t)n);
}

static std::string fmt_g(double x) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g", x);
    return buf;
}

// What the runner adds to every line: quiet, divergence recorded, finished
// runs skipped, and an interrupted run resumed from its checkpoint (or
// started over where it has none). Plans written before --if-exists end with
// the older suffix; run_plan brings them up to date.
static const std::string RUN_SUFFIX = " --quiet --on-divergence record --skip-if-done --if-exists resume";
static const std::string OLD_RUN_SUFFIX = " --quiet --on-divergence record --skip-if-done";

static bool ends_with(const std::string& s, const std::string& tail) {
    return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

// A plan line as this version writes it.
static std::string upgrade_plan_line(const std::string& command) {
    return ends_with(command, OLD_RUN_SUFFIX) ? command + " --if-exists resume" : command;
}

std::vector<PlanEntry> make_plan(const SweepSpec& s) {
    if (s.configs.empty() || s.widths.empty() || s.lrs.empty() || s.seeds.empty())
        fail("a sweep needs at least one configuration, width, learning rate and seed");
    // the plan is plain shell: no quoting, so no characters that would need it
    if (!plain_shell_text(s.dir, false) || !plain_shell_text(s.lrt, false) || !plain_shell_text(s.common, true))
        fail("--dir, --lrt and --common may only use letters, digits and . _ = / , : + - (and spaces in --common): "
             "the plan file is plain shell, unquoted");
    std::vector<PlanEntry> plan;
    for (const auto& c : s.configs)
        for (int w : s.widths)
            for (double lr : s.lrs)
                for (int64_t seed : s.seeds) {
                    PlanEntry e;
                    e.config = c.name;
                    e.width = w;
                    e.lr = lr;
                    e.seed = seed;
                    e.id = c.name + "_w" + std::to_string(w) + "_lr" + fmt_g(lr) + "_s" + std::to_string(seed);
                    e.out_dir = s.dir + "/runs/" + e.id;
                    char lrtext[32];
                    std::snprintf(lrtext, sizeof lrtext, "%.17g", lr);
                    e.command = s.lrt + " train" + (s.common.empty() ? "" : " " + s.common) +
                                (c.flags.empty() ? "" : " " + c.flags) + " --width " + std::to_string(w) + " --lr " +
                                lrtext + " --seed " + std::to_string(seed) + " --out-dir " + e.out_dir + RUN_SUFFIX;
                    plan.push_back(e);
                }
    std::set<std::string> ids;
    for (const auto& e : plan)
        if (!ids.insert(e.id).second)
            fail("two runs of the sweep would be " + e.id + " (a repeated width, LR or seed, or two LRs that print the same)");
    return plan;
}

void write_plan(const std::string& dir, const std::vector<PlanEntry>& plan) {
    make_dirs(dir);
    std::string txt, csv = "id,config,width,lr,seed,out_dir\n";
    for (const auto& e : plan) {
        txt += e.command + "\n";
        char lr[32];
        std::snprintf(lr, sizeof lr, "%.17g", e.lr);
        csv += e.id + "," + e.config + "," + std::to_string(e.width) + "," + lr + "," + std::to_string(e.seed) + "," +
               e.out_dir + "\n";
    }
    write_file_atomic(dir + "/plan.csv", csv);
    write_file_atomic(dir + "/plan.txt", txt);
}

static std::vector<std::string> read_lines(const std::string& path) {
    std::vector<uint8_t> bytes = read_file(path);
    std::vector<std::string> lines = split(std::string(bytes.begin(), bytes.end()), '\n');
    while (!lines.empty() && lines.back().empty()) lines.pop_back();
    return lines;
}

std::vector<PlanEntry> read_plan(const std::string& dir) {
    std::vector<std::string> cmds = read_lines(dir + "/plan.txt"), rows = read_lines(dir + "/plan.csv");
    if (rows.empty() || rows[0] != "id,config,width,lr,seed,out_dir") fail(dir + "/plan.csv: not a sweep plan");
    if (rows.size() - 1 != cmds.size())
        fail(dir + "/plan.csv has " + std::to_string(rows.size() - 1) + " runs but plan.txt has " +
             std::to_string(cmds.size()) + " lines");
    std::vector<PlanEntry> plan;
    std::set<std::string> ids;
    for (size_t i = 1; i < rows.size(); i++) {
        const std::string where = dir + "/plan.csv:" + std::to_string(i + 1);
        std::vector<std::string> f = split(rows[i], ',');
        if (f.size() != 6) fail(where + ": " + std::to_string(f.size()) + " fields, expected 6");
        PlanEntry e;
        e.id = f[0];
        e.config = f[1];
        char* end = nullptr;
        errno = 0;
        long width = std::strtol(f[2].c_str(), &end, 10);
        if (f[2].empty() || *end || errno || width < 1 || width > (1 << 16)) fail(where + ": width '" + f[2] + "' is not a width");
        e.width = (int)width;
        e.lr = std::strtod(f[3].c_str(), &end);
        if (f[3].empty() || *end || !(e.lr > 0) || !std::isfinite(e.lr)) fail(where + ": lr '" + f[3] + "' is not a learning rate");
        errno = 0;
        long long seed = std::strtoll(f[4].c_str(), &end, 10);
        if (f[4].empty() || *end || errno || seed < 0) fail(where + ": seed '" + f[4] + "' is not a seed");
        e.seed = seed;
        e.out_dir = f[5];
        if (e.id.empty() || e.out_dir.empty() || !plain_shell_text(e.id, false) || !plain_shell_text(e.out_dir, false))
            fail(where + ": the id and out_dir must be non-empty plain paths");
        if (!ids.insert(e.id).second) fail(where + ": run " + e.id + " appears twice");
        e.command = upgrade_plan_line(cmds[i - 1]);
        plan.push_back(e);
    }
    return plan;
}

// ---------------------------------------------------------------- results

std::vector<RunResult> collect_results(const std::string& dir) {
    std::vector<RunResult> out;
    std::string csv = "id,config,width,lr,seed,status,final_val_loss,min_train_loss,steps_run,elapsed_s\n";
    for (const PlanEntry& e : read_plan(dir)) {
        RunResult r;
        r.entry = e;
        r.status = "missing";
        r.final_val_loss = r.min_train_loss = r.elapsed_s = NAN;
        RunOutcome o = read_run_outcome(e.out_dir);
        r.status = outcome_name(o.state);
        if (o.state == RunOutcome::Invalid) {
            // not a result: reported, not counted (the runner reruns the run)
            std::fprintf(stderr, "warning: %s; run %s is counted as unfinished\n", o.problem.c_str(), e.id.c_str());
        } else if (o.state != RunOutcome::Missing) {
            r.final_val_loss = o.final_val_loss;
            r.min_train_loss = o.min_train_loss;
            r.elapsed_s = o.elapsed_s;
            r.steps_run = o.steps_run;
        }
        out.push_back(r);
        char line[512];
        std::snprintf(line, sizeof line, "%s,%s,%d,%.17g,%lld,%s,%.9g,%.9g,%lld,%.3f\n", e.id.c_str(), e.config.c_str(),
                      e.width, e.lr, (long long)e.seed, r.status.c_str(), r.final_val_loss, r.min_train_loss,
                      (long long)r.steps_run, r.elapsed_s);
        csv += line;
    }
    write_file_atomic(dir + "/results.csv", csv);
    return out;
}

bool parabola_vertex(const double x[3], const double y[3], double* vx, double* vy) {
    // y = a x^2 + b x + c through three points (Lagrange form)
    double d0 = (x[0] - x[1]) * (x[0] - x[2]), d1 = (x[1] - x[0]) * (x[1] - x[2]), d2 = (x[2] - x[0]) * (x[2] - x[1]);
    if (d0 == 0 || d1 == 0 || d2 == 0) return false;
    double a = y[0] / d0 + y[1] / d1 + y[2] / d2;
    double b = -(y[0] * (x[1] + x[2]) / d0 + y[1] * (x[0] + x[2]) / d1 + y[2] * (x[0] + x[1]) / d2);
    double c = y[0] * x[1] * x[2] / d0 + y[1] * x[0] * x[2] / d1 + y[2] * x[0] * x[1] / d2;
    if (!(a > 0) || !std::isfinite(a) || !std::isfinite(b)) return false;
    *vx = -b / (2 * a);
    *vy = c - b * b / (4 * a);
    return true;
}

// mean final loss per LR for one (config, width): diverged runs count as +inf
static std::map<double, double> loss_curve(const std::vector<RunResult>& results, const std::string& config, int width,
                                           int* diverged, int* runs) {
    std::map<double, std::pair<double, int>> acc;
    for (const auto& r : results) {
        if (r.entry.config != config || r.entry.width != width) continue;
        if (r.status != "done" && r.status != "diverged") continue;  // unfinished, or not a valid result
        (*runs)++;
        double loss = r.status == "diverged" || !std::isfinite(r.final_val_loss) ? INFINITY : r.final_val_loss;
        if (r.status == "diverged") (*diverged)++;
        auto& a = acc[r.entry.lr];
        a.first += loss;
        a.second += 1;
    }
    std::map<double, double> curve;
    for (const auto& kv : acc) curve[kv.first] = kv.second.first / kv.second.second;
    return curve;
}

std::vector<Optimum> find_optima(const std::vector<RunResult>& results) {
    std::vector<std::string> configs;
    std::map<std::string, std::set<int>> widths;
    for (const auto& r : results) {
        if (std::find(configs.begin(), configs.end(), r.entry.config) == configs.end()) configs.push_back(r.entry.config);
        widths[r.entry.config].insert(r.entry.width);
    }
    std::vector<Optimum> out;
    for (const std::string& c : configs)
        for (int w : widths[c]) {
            Optimum o;
            o.config = c;
            o.width = w;
            std::map<double, double> curve = loss_curve(results, c, w, &o.diverged, &o.runs);
            std::vector<std::pair<double, double>> pts(curve.begin(), curve.end());
            size_t best = pts.size();
            for (size_t i = 0; i < pts.size(); i++)
                if (std::isfinite(pts[i].second) && (best == pts.size() || pts[i].second < pts[best].second)) best = i;
            if (best == pts.size()) {  // nothing finished, or everything diverged
                o.best_lr = o.lr = o.best_loss = o.loss = NAN;
                out.push_back(o);
                continue;
            }
            o.best_lr = o.lr = pts[best].first;
            o.best_loss = o.loss = pts[best].second;
            o.at_edge = best == 0 || best + 1 == pts.size();
            if (!o.at_edge && std::isfinite(pts[best - 1].second) && std::isfinite(pts[best + 1].second)) {
                double x[3], y[3], vx, vy;
                for (int k = 0; k < 3; k++) {
                    x[k] = std::log2(pts[best - 1 + k].first);
                    y[k] = pts[best - 1 + k].second;
                }
                if (parabola_vertex(x, y, &vx, &vy) && vx >= x[0] && vx <= x[2]) {
                    o.lr = std::pow(2.0, vx);
                    o.loss = vy;
                    o.fitted = true;
                }
            }
            out.push_back(o);
        }
    return out;
}

std::vector<Optimum> report_sweep(const std::string& dir, bool print) {
    std::vector<RunResult> results = collect_results(dir);
    std::vector<Optimum> opt = find_optima(results);
    std::string csv = "config,width,best_lr,best_loss,fitted_lr,fitted_loss,fitted,at_edge,diverged,runs\n";
    for (const auto& o : opt) {
        char line[256];
        std::snprintf(line, sizeof line, "%s,%d,%.6g,%.6g,%.6g,%.6g,%d,%d,%d,%d\n", o.config.c_str(), o.width, o.best_lr,
                      o.best_loss, o.lr, o.loss, (int)o.fitted, (int)o.at_edge, o.diverged, o.runs);
        csv += line;
    }
    write_file_atomic(dir + "/optimum.csv", csv);

    // the figure: one panel per configuration, one line per width
    Figure fig;
    fig.title = "Final validation loss against learning rate (optimum per width ringed)";
    std::vector<std::string> configs;
    for (const auto& o : opt)
        if (std::find(configs.begin(), configs.end(), o.config) == configs.end()) configs.push_back(o.config);
    fig.columns = std::min<int>(3, (int)configs.size());
    for (const std::string& c : configs) {
        Panel p;
        p.title = c;
        p.xlabel = "learning rate";
        p.ylabel = "final val loss";
        p.log_x = 2;
        double floor_loss = INFINITY;
        for (const auto& o : opt)
            if (o.config == c && std::isfinite(o.best_loss)) floor_loss = std::min(floor_loss, o.best_loss);
        for (const auto& o : opt) {
            if (o.config != c) continue;
            int diverged = 0, runs = 0;
            std::map<double, double> curve = loss_curve(results, c, o.width, &diverged, &runs);
            Series s;
            s.label = "width " + std::to_string(o.width);
            for (const auto& kv : curve) {
                s.x.push_back(kv.first);
                // losses far above the panel's best squash the plot: not drawn
                s.y.push_back(kv.second <= floor_loss + 1.0 ? kv.second : NAN);
            }
            size_t color = p.series.size();
            s.color = palette_color(color);
            p.series.push_back(s);
            if (std::isfinite(o.lr)) p.markers.push_back({o.lr, o.loss, "", palette_color(color)});
        }
        fig.panels.push_back(p);
    }
    write_svg(dir + "/loss_vs_lr.svg", fig);

    if (print) {
        std::printf("\n%-20s %6s %11s %11s %10s  %s\n", "config", "width", "best lr", "fitted lr*", "loss", "note");
        for (const auto& o : opt) {
            std::string note = o.at_edge ? "optimum at the edge of the LR grid" : o.fitted ? "" : "no parabola fit";
            if (o.diverged) note += (note.empty() ? "" : "; ") + std::to_string(o.diverged) + " diverged";
            if (!std::isfinite(o.best_lr)) note = o.runs > 0 && o.diverged == o.runs ? "every run diverged" : "no finished run";
            std::printf("%-20s %6d %11.4g %11.4g %10.4f  %s\n", o.config.c_str(), o.width, o.best_lr, o.lr, o.loss,
                        note.c_str());
        }
        std::printf("\ndrift of the optimal LR from the narrowest to the widest width (log2, octaves):\n");
        for (const std::string& c : configs) {
            const Optimum *lo = nullptr, *hi = nullptr;
            double mn = INFINITY, mx = -INFINITY;
            for (const auto& o : opt) {
                if (o.config != c || !std::isfinite(o.lr)) continue;
                if (!lo || o.width < lo->width) lo = &o;
                if (!hi || o.width > hi->width) hi = &o;
                mn = std::min(mn, std::log2(o.lr));
                mx = std::max(mx, std::log2(o.lr));
            }
            if (!lo || lo == hi) {
                std::printf("  %-20s (needs two widths with a finished run)\n", c.c_str());
                continue;
            }
            bool edge = false;
            for (const auto& o : opt) edge = edge || (o.config == c && o.at_edge);
            std::printf("  %-20s %+.2f octaves (width %d -> %d); spread over widths %.2f octaves%s\n", c.c_str(),
                        std::log2(hi->lr / lo->lr), lo->width, hi->width, mx - mn,
                        edge ? " (an optimum at the grid's edge: widen the grid)" : "");
        }
        std::printf("wrote %s/results.csv, %s/optimum.csv and %s/loss_vs_lr.svg\n", dir.c_str(), dir.c_str(), dir.c_str());
    }
    return opt;
}

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
    // cost of a run ~ width^2 (the same steps for all), for the ETA
    auto cost = [&](size_t i) { return (double)plan[i].width * plan[i].width + 64.0 * 64.0; };
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

// ---------------------------------------------------------------- command

int sweep_command(int argc, char** argv) {
    static const char* USAGE =
        "lrt sweep [plan|run|run-one|report] --dir DIR [flags]\n\n"
        "Learning-rate sweeps across widths (see src/sweep.h for the directory layout).\n"
        "  lrt sweep --dir D --configs F --widths ... --lrs ...   plan (if new), run the unfinished runs, report\n"
        "  lrt sweep plan    ...   write D/plan.txt (one `lrt train` command per line) and D/plan.csv\n"
        "  lrt sweep run     --dir D [--jobs N]   run the unfinished lines of the plan\n"
        "  lrt sweep run-one --dir D --index K    run line K (1-based), e.g. from a Slurm array\n"
        "  lrt sweep report  --dir D              results.csv, optimum.csv, loss_vs_lr.svg and the optimum table\n"
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
    std::string dir, configs_path, widths = "", lrs = "", seeds = "1", common, lrt = this_program();
    int jobs = 1, threads = 0;
    int64_t index = 0;
    bool quiet = false;
    FlagSet f("sweep", USAGE);
    f.add("dir", &dir, "the sweep's directory");
    f.add("configs", &configs_path, "file of configurations: one 'name flags...' line each");
    f.add("widths", &widths, "comma-separated widths");
    f.add("lrs", &lrs, "comma-separated learning rates");
    f.add("seeds", &seeds, "comma-separated seeds");
    f.add("common", &common, "lrt train flags for every run (e.g. \"--steps 500 --depth 2\")");
    f.add("lrt", &lrt, "the lrt program the plan's lines call (default: this one)");
    f.add("jobs", &jobs, "runs at a time", between(1, 256));
    f.add("threads", &threads, "OpenMP threads per run; 0 = cores / jobs", between(0, 256));
    f.add("index", &index, "run-one: the plan line to run, 1-based", at_least(0));
    f.add("quiet", &quiet, "print only the final table");
    if (!f.parse(argc, argv, first)) return 0;
    if (dir.empty()) fail("--dir is required (see `lrt sweep --help`)");

    if (sub == "plan" || sub == "all") {
        make_dirs(dir);
        DirLock lock(dir, "sweep directory");  // released before run_plan takes it again
        bool have_plan = file_exists(dir + "/plan.txt");
        if (have_plan && !f.was_set("configs") && (f.was_set("widths") || f.was_set("lrs") || f.was_set("seeds") || f.was_set("common")))
            fail(dir + " has a plan already; give --configs too (with the same grid) or leave out --widths, --lrs, "
                 "--seeds and --common to run the plan as it is");
        if (sub == "plan" || !have_plan || f.was_set("configs")) {
            if (configs_path.empty() || widths.empty() || lrs.empty())
                fail("planning a sweep needs --configs, --widths and --lrs");
            SweepSpec spec;
            spec.dir = dir;
            spec.configs = read_sweep_configs(configs_path);
            for (int64_t w : parse_int_list(widths, "--widths", 1, 1 << 16)) spec.widths.push_back((int)w);
            spec.lrs = parse_positive_list(lrs, "--lrs");
            spec.seeds = parse_int_list(seeds, "--seeds", 0, std::numeric_limits<int64_t>::max());
            spec.common = common;
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
    std::string dir = "runs/demo", lrt = this_program(), device = "cpu";
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
