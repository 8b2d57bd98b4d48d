// The plan of a sweep: configurations file, grid, plan.txt and plan.csv (see
// sweep_plan.h).
#include "study/sweep_plan.h"

#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <sstream>

#include "util/util.h"

// ---------------------------------------------------------------- configs, plan

bool plain_shell_text(const std::string& text, bool spaces_ok) {
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

std::string fmt_g(double x) {
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

// text with every `key` replaced by `value`
static std::string replace_all(std::string text, const std::string& key, const std::string& value) {
    for (size_t at = text.find(key); at != std::string::npos; at = text.find(key, at + value.size()))
        text.replace(at, key.size(), value);
    return text;
}

// --finetune-from's pattern for one run: {width} and {seed} replaced.
static std::string finetune_base(const std::string& pattern, int width, int64_t seed) {
    return replace_all(replace_all(pattern, "{width}", std::to_string(width)), "{seed}", std::to_string(seed));
}

// The program and subcommand a plan line starts with.
static std::string plan_program(const SweepSpec& s, int width, int64_t seed) {
    return s.finetune_from.empty() ? s.lrt + " train"
                                   : s.lrt + " finetune --from " + finetune_base(s.finetune_from, width, seed);
}

// One run of the grid. `steps` is 0 when the sweep has no horizon axis; then
// the id and command are exactly what they were before the axis existed.
static PlanEntry plan_entry(const SweepSpec& s, const SweepConfig& c, int64_t steps, int w, double lr, int64_t seed) {
    PlanEntry e;
    e.config = c.name;
    e.steps = steps;
    e.width = w;
    e.lr = lr;
    e.seed = seed;
    e.id = c.name + (steps > 0 ? "_h" + std::to_string(steps) : "") + "_w" + std::to_string(w) + "_lr" + fmt_g(lr) +
           "_s" + std::to_string(seed);
    e.out_dir = s.dir + "/runs/" + e.id;
    char lrtext[32];
    std::snprintf(lrtext, sizeof lrtext, "%.17g", lr);
    // --steps comes after --common and the configuration's flags: lrt train
    // takes the last value of a repeated flag (FlagSet::parse), so the
    // horizon wins over a --steps given there
    e.command = plan_program(s, w, seed) + (s.common.empty() ? "" : " " + s.common) + (c.flags.empty() ? "" : " " + c.flags) +
                (steps > 0 ? " --steps " + std::to_string(steps) : "") + " --width " + std::to_string(w) + " --lr " +
                lrtext + " --seed " + std::to_string(seed) + " --out-dir " + e.out_dir + RUN_SUFFIX;
    return e;
}

// The grid's own flags, which the plan sets on every line: an axis over one
// of them would be overridden (or override the grid).
static const char* const GRID_FLAGS[] = {"width", "lr", "seed", "out-dir", "quiet", "on-divergence", "skip-if-done",
                                         "if-exists", "resume", "from"};

void parse_sweep_axis(const std::string& text, std::string* flag, std::vector<std::string>* values) {
    const size_t eq = text.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == text.size())
        fail("--axis '" + text + "': give FLAG=v1,v2,... (an lrt train flag without its --, e.g. batch-size=8,16,32)");
    *flag = text.substr(0, eq);
    if (flag->compare(0, 2, "--") == 0) *flag = flag->substr(2);
    if (flag->empty()) fail("--axis '" + text + "': the flag name is empty (give FLAG=v1,v2,...)");
    for (char ch : *flag)
        if (!(std::isalnum((unsigned char)ch) || ch == '-'))
            fail("--axis: '" + *flag + "' is not a flag name (letters, digits and -)");
    for (const char* g : GRID_FLAGS)
        if (*flag == g) fail("--axis " + *flag + ": the sweep sets --" + *flag + " itself; it cannot be an axis");
    *values = split(text.substr(eq + 1), ',');
    std::set<std::string> seen;
    for (const std::string& v : *values) {
        if (v.empty() || !plain_shell_text(v, false))
            fail("--axis " + *flag + ": value '" + v + "' must be non-empty plain text (letters, digits, . _ = / : + -)");
        if (!seen.insert(v).second) fail("--axis " + *flag + ": value '" + v + "' appears twice");
    }
}

std::vector<SweepConfig> expand_axis(const std::vector<SweepConfig>& configs, const std::string& flag,
                                     const std::vector<std::string>& values) {
    if (flag.empty()) return configs;
    std::vector<SweepConfig> out;
    for (const SweepConfig& c : configs)
        for (const std::string& v : values)
            out.push_back({c.name + "+" + flag + "=" + v, c.flags + (c.flags.empty() ? "" : " ") + "--" + flag + " " + v});
    return out;
}

// The value of the last --NAME (or --NAME=V) in a space-separated flag
// string, "" if none: lrt train takes the last of a repeated flag.
static std::string last_flag_value(const std::string& flags, const std::string& name) {
    std::vector<std::string> words;
    for (const std::string& w : split(flags, ' '))
        if (!w.empty()) words.push_back(w);  // "--tokens  4096": two spaces are one separator to the shell
    const std::string key = "--" + name;
    std::string value;
    for (size_t i = 0; i < words.size(); i++) {
        if (words[i] == key && i + 1 < words.size()) value = words[i + 1];
        if (words[i].compare(0, key.size() + 1, key + "=") == 0) value = words[i].substr(key.size() + 1);
    }
    return value;
}

// lrt train refuses --tokens (other than 0) together with --steps: a token
// budget beside a training-length axis, or a --steps of its own, would fail
// every run, so say it once here, before anything runs.
static void check_token_budget(const SweepSpec& s, const std::vector<SweepConfig>& configs) {
    for (const SweepConfig& c : configs) {
        const std::string flags = s.common + " " + c.flags;
        const std::string tokens = last_flag_value(flags, "tokens");
        char* end = nullptr;
        const double n = std::strtod(tokens.c_str(), &end);
        if (tokens.empty() || (*end == 0 && n == 0)) continue;  // 0 (or 00) is lrt train's "use --steps"
        const std::string steps_from = !s.horizons.empty()                         ? "the sweep's --horizons"
                                       : !last_flag_value(flags, "steps").empty() ? "its flags (or --common)"
                                                                                   : "";
        if (!steps_from.empty())
            fail("configuration " + c.name + ": --tokens " + tokens + " and a --steps from " + steps_from +
                 ": lrt train takes one of the two (a token budget or a number of steps)");
    }
}

std::vector<PlanEntry> make_plan(const SweepSpec& s) {
    if (s.configs.empty() || s.widths.empty() || s.lrs.empty() || s.seeds.empty())
        fail("a sweep needs at least one configuration, width, learning rate and seed");
    for (int64_t h : s.horizons)
        if (h < 1) fail("--horizons: " + std::to_string(h) + " is not a number of steps (give positive integers)");
    // the plan is plain shell: no quoting, so no characters that would need it
    if (!plain_shell_text(s.dir, false) || !plain_shell_text(s.lrt, false) || !plain_shell_text(s.common, true) ||
        !plain_shell_text(finetune_base(s.finetune_from, 1, 1), false))
        fail("--dir, --lrt, --common and --finetune-from may only use letters, digits and . _ = / , : + - (and spaces "
             "in --common, {width} and {seed} in --finetune-from): the plan file is plain shell, unquoted");
    if (!s.finetune_from.empty() && s.widths.size() > 1 && s.finetune_from.find("{width}") == std::string::npos)
        fail("--finetune-from " + s.finetune_from + ": with several widths the base must depend on the width; "
             "write {width} where the width goes (e.g. bases/w{width})");
    // the run directories are fields of plan.csv and results.csv
    if (s.dir.find(',') != std::string::npos) fail("--dir may not contain a comma: it is a field of plan.csv");
    // no horizon axis: one pass with steps = 0 (not an axis)
    const std::vector<int64_t> horizons = s.horizons.empty() ? std::vector<int64_t>{0} : s.horizons;
    if (!s.axis_flag.empty() && !s.horizons.empty() && s.axis_flag == "steps")
        fail("--axis steps and --horizons are the same axis; give one");
    if (s.axis_flag == "tokens" && !s.horizons.empty())
        fail("--axis tokens and --horizons both set the training length; give one");
    const std::vector<SweepConfig> configs = expand_axis(s.configs, s.axis_flag, s.axis_values);
    check_token_budget(s, configs);
    std::vector<PlanEntry> plan;
    for (const auto& c : configs)
        for (int64_t h : horizons)
            for (int w : s.widths)
                for (double lr : s.lrs)
                    for (int64_t seed : s.seeds) plan.push_back(plan_entry(s, c, h, w, lr, seed));
    std::set<std::string> ids;
    for (const auto& e : plan)
        if (!ids.insert(e.id).second)
            fail("two runs of the sweep would be " + e.id +
                 " (a repeated width, LR, seed or horizon, or two LRs that print the same)");
    return plan;
}

// plan.csv's header. The steps column (the horizon axis) came later: a plan
// written before it has the first six columns only, and reads as steps = 0.
static const std::string PLAN_HEADER_OLD = "id,config,width,lr,seed,out_dir";
static const std::string PLAN_HEADER = PLAN_HEADER_OLD + ",steps";

void write_plan(const std::string& dir, const std::vector<PlanEntry>& plan) {
    make_dirs(dir);
    std::string txt, csv = PLAN_HEADER + "\n";
    for (const auto& e : plan) {
        txt += e.command + "\n";
        char lr[32];
        std::snprintf(lr, sizeof lr, "%.17g", e.lr);
        csv += e.id + "," + e.config + "," + std::to_string(e.width) + "," + lr + "," + std::to_string(e.seed) + "," +
               e.out_dir + "," + std::to_string(e.steps) + "\n";
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

// One row of plan.csv (fields already split; `where` names it in errors).
static PlanEntry plan_row(const std::vector<std::string>& f, const std::string& where) {
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
    if (f.size() > 6) {
        errno = 0;
        long long steps = std::strtoll(f[6].c_str(), &end, 10);
        if (f[6].empty() || *end || errno || steps < 0)
            fail(where + ": steps '" + f[6] + "' is not a number of steps (0 = no horizon axis)");
        e.steps = steps;
    }
    return e;
}

std::vector<PlanEntry> read_plan(const std::string& dir) {
    std::vector<std::string> cmds = read_lines(dir + "/plan.txt"), rows = read_lines(dir + "/plan.csv");
    if (rows.empty() || (rows[0] != PLAN_HEADER && rows[0] != PLAN_HEADER_OLD)) fail(dir + "/plan.csv: not a sweep plan");
    const size_t columns = rows[0] == PLAN_HEADER ? 7 : 6;
    if (rows.size() - 1 != cmds.size())
        fail(dir + "/plan.csv has " + std::to_string(rows.size() - 1) + " runs but plan.txt has " +
             std::to_string(cmds.size()) + " lines");
    std::vector<PlanEntry> plan;
    std::set<std::string> ids;
    for (size_t i = 1; i < rows.size(); i++) {
        const std::string where = dir + "/plan.csv:" + std::to_string(i + 1);
        std::vector<std::string> f = split(rows[i], ',');
        if (f.size() != columns)
            fail(where + ": " + std::to_string(f.size()) + " fields, expected " + std::to_string(columns));
        PlanEntry e = plan_row(f, where);
        if (!ids.insert(e.id).second) fail(where + ": run " + e.id + " appears twice");
        e.command = upgrade_plan_line(cmds[i - 1]);
        plan.push_back(e);
    }
    return plan;
}
