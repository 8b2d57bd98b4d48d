// Small helpers shared by the tests that touch files or run the program.
#pragma once
#include <dirent.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "param/parameterization.h"
#include "study/sweep_report.h"
#include "util/rng.h"
#include "util/util.h"
#include <sys/wait.h>
#include <unistd.h>

// A fresh directory under /tmp, removed when the object goes away.
struct TempDir {
    std::string path;
    TempDir() {
        char tmpl[] = "/tmp/lrt_test_XXXXXX";
        char* p = mkdtemp(tmpl);
        path = p ? p : "";
    }
    ~TempDir() {
        if (!path.empty()) std::system(("rm -rf '" + path + "'").c_str());
    }
    std::string file(const std::string& name) const { return path + "/" + name; }
};

struct CommandResult {
    int exit_code = -1;    // -1 if it did not exit normally (e.g. crashed)
    bool crashed = false;  // killed by a signal
    std::string output;    // stdout and stderr together
};

// Runs a shell command line, capturing its output and how it ended.
inline CommandResult run_command(const std::string& command) {
    CommandResult r;
    FILE* p = popen((command + " 2>&1").c_str(), "r");
    if (!p) return r;
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.output.append(buf, n);
    int status = pclose(p);
    if (WIFEXITED(status)) r.exit_code = WEXITSTATUS(status);
    // the shell reports a signal-killed child as 128 + signal
    r.crashed = WIFSIGNALED(status) || r.exit_code > 128;
    return r;
}

// The program under test: $LRT_BIN, or ./lrt (make test runs from the root).
inline std::string lrt_binary() {
    const char* env = std::getenv("LRT_BIN");
    return env ? env : "./lrt";
}

// The committed reference states, data/reference/*.safetensors, sorted (make
// test runs from the repository root).
inline std::vector<std::string> committed_references() {
    std::vector<std::string> out;
    DIR* d = opendir("data/reference");
    if (!d) return out;
    while (dirent* e = readdir(d)) {
        std::string n = e->d_name;
        if (n.size() > 12 && n.compare(n.size() - 12, 12, ".safetensors") == 0) out.push_back("data/reference/" + n);
    }
    closedir(d);
    std::sort(out.begin(), out.end());
    return out;
}

// A whole file as text.
inline std::string text_of(const std::string& path) {
    std::vector<uint8_t> b = read_file(path);
    return std::string(b.begin(), b.end());
}

// A parameterization preset with everything else at its default.
inline ParamConfig param_preset(const std::string& name, int d_base = 0) {
    ParamConfig p;
    p.preset = parse_preset(name);
    p.d_base = d_base;
    return p;
}

// One finished run of a synthetic sweep, for the report's tests: the plan
// entry's grid coordinates and the outcome (no files behind it).
inline RunResult synthetic_run(const std::string& config, int64_t steps, int width, int64_t seed, double lr,
                               double loss, const std::string& status = "done") {
    RunResult r;
    r.entry.config = config;
    r.entry.steps = steps;
    r.entry.width = width;
    r.entry.seed = seed;
    r.entry.lr = lr;
    r.status = status;
    r.final_val_loss = loss;
    return r;
}

// n token ids in [0, V), drawn from Rng(seed): a batch's inputs or targets.
inline std::vector<int> random_tokens(int n, int V, uint64_t seed) {
    Rng r(seed);
    std::vector<int> t(n);
    for (int& x : t) x = (int)r.below(V);
    return t;
}
