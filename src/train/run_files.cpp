// A run directory's files: result.json (written and checked), the CSV logs
// a run appends to and a resume keeps, and which files mean "a run is here".
#include "train/run_files.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <cstring>

#include "io/json.h"
#include "util/util.h"

const char* outcome_name(RunOutcome::State state) {
    switch (state) {
        case RunOutcome::Missing: return "missing";
        case RunOutcome::Invalid: return "invalid";
        case RunOutcome::Done: return "done";
        case RunOutcome::Diverged: return "diverged";
        case RunOutcome::Stopped: return "stopped";
    }
    return "?";
}

// A number field of result.json: absent or null gives NaN when `nullable`;
// otherwise it must be a finite number in [lo, hi].
static double checked_number(const JsonValue& j, const char* key, bool nullable, double lo, double hi) {
    const JsonValue* v = j.find(key);
    if ((!v || v->type == JsonValue::Null) && nullable) return NAN;
    if (!v) fail(std::string("no \"") + key + "\"");
    if (v->type != JsonValue::Number) fail(std::string("\"") + key + "\" is " + json_type_name(v->type) + ", not a number");
    if (!(v->num >= lo && v->num <= hi))
        fail(std::string("\"") + key + "\" = " + to_json(*v) + " is outside [" + to_json(JsonValue::make_number(lo)) +
             ", " + to_json(JsonValue::make_number(hi)) + "]");
    return v->num;
}

static int64_t checked_count(const JsonValue& j, const char* key, int64_t lo) {
    const JsonValue* v = j.find(key);
    if (!v) fail(std::string("no \"") + key + "\"");
    int64_t n;
    try {
        n = v->as_int();
    } catch (const std::exception& e) {
        fail(std::string("\"") + key + "\": " + e.what());
    }
    if (n < lo) fail(std::string("\"") + key + "\" = " + std::to_string(n) + " is below " + std::to_string(lo));
    return n;
}

RunOutcome read_run_outcome(const std::string& out_dir) {
    RunOutcome r;
    const std::string path = out_dir + "/result.json";
    if (!file_exists(path)) return r;
    try {
        std::vector<uint8_t> bytes = read_file(path, 1 << 16);
        JsonValue j = parse_json(std::string(bytes.begin(), bytes.end()));
        if (j.type != JsonValue::Object) fail("not a JSON object");
        const std::string status = j.at("status").as_string();
        r.steps_run = checked_count(j, "steps_run", 1);
        r.elapsed_s = checked_number(j, "elapsed_s", false, 0, 1e12);
        r.last_train_loss = checked_number(j, "last_train_loss", true, -INFINITY, INFINITY);
        r.min_train_loss = checked_number(j, "min_train_loss", true, -INFINITY, INFINITY);
        if (status == "done") {
            r.state = RunOutcome::Done;
            r.final_val_loss = checked_number(j, "final_val_loss", false, 0, MAX_SANE_LOSS);
        } else if (status == "diverged") {
            r.state = RunOutcome::Diverged;
            r.final_val_loss = NAN;
            r.diverged_at = checked_count(j, "diverged_at", 0);
            if (r.diverged_at + 1 != r.steps_run)
                fail("\"diverged_at\" = " + std::to_string(r.diverged_at) + " does not match \"steps_run\" = " +
                     std::to_string(r.steps_run));
        } else if (status == "stopped") {
            r.state = RunOutcome::Stopped;
            r.final_val_loss = NAN;
        } else {
            fail("status \"" + status + "\" is not a finished run's (done, diverged or stopped)");
        }
    } catch (const std::exception& e) {
        r = RunOutcome();
        r.state = RunOutcome::Invalid;
        r.problem = path + ": " + e.what();
    }
    return r;
}

bool run_is_finished(const std::string& out_dir) {
    RunOutcome r = read_run_outcome(out_dir);
    return r.state == RunOutcome::Done || r.state == RunOutcome::Diverged;
}

std::string json_number_or_null(double x) {
    if (!std::isfinite(x)) return "null";
    char buf[40];
    std::snprintf(buf, sizeof buf, "%.9g", x);
    return buf;
}


// The header and the rows of steps before `step` from the log `src` (the run
// being resumed): rows after its checkpoint are redone by the resumed run, so
// they must not appear twice. A missing `src` gives only the header. The rule
// is src/io/csv.h's: a last line without its newline is a row torn by an
// interrupted write and is dropped (its step is redone); any other row must
// have the header's number of fields and a step, in order, or it is an error
// naming the line. (Line by line, not through parse_csv: a long run's
// measure.csv is large, and a table of every field would be several times
// its size.) `loss_column` >= 0: that column's numbers give the losses.
// A log written by an older version whose columns are the first ones of
// `header` (log.csv before the noise-scale columns) is kept with its rows
// padded by empty fields, so such a run can still be resumed.
KeptLog kept_log_rows(const std::string& src, int64_t step, const char* header, int loss_column) {
    KeptLog kept;
    kept.text = header;
    if (!file_exists(src)) return kept;
    std::vector<uint8_t> bytes = read_file(src);
    const std::string text(bytes.begin(), bytes.end());
    if (text.empty()) return kept;
    const size_t header_end = text.find('\n');
    const std::string current(header, std::strlen(header) - 1), found = text.substr(0, header_end);
    const bool older = header_end != std::string::npos && header_end > 0 && current.compare(0, found.size() + 1, found + ",") == 0;
    if (header_end == std::string::npos || (found != current && !older))
        fail(src + ":1: not this program's header (expected " + current + ")");
    const size_t fields = (size_t)std::count(found.begin(), found.end(), ',') + 1;
    const std::string padding((size_t)std::count(current.begin(), current.end(), ',') + 1 - fields, ',');
    long long previous = -1;
    int lineno = 1;
    for (size_t start = header_end + 1; start < text.size();) {
        lineno++;
        const size_t end = text.find('\n', start);
        if (end == std::string::npos) {
            std::fprintf(stderr, "note: %s:%d: the last line has no newline (cut short by an interrupted write); "
                         "dropped, its step is redone\n", src.c_str(), lineno);
            break;
        }
        const std::string line = text.substr(start, end - start);
        start = end + 1;
        const std::string where = src + ":" + std::to_string(lineno);
        const size_t n = (size_t)std::count(line.begin(), line.end(), ',') + 1;
        if (n != fields) fail(where + ": " + std::to_string(n) + " fields, but the header has " + std::to_string(fields));
        char* after = nullptr;
        errno = 0;
        long long row_step = std::strtoll(line.c_str(), &after, 10);
        if (after == line.c_str() || *after != ',' || errno != 0 || row_step < 0 || row_step < previous)
            fail(where + ": not a step after " + std::to_string(previous) + ": " + line.substr(0, 60));
        previous = row_step;
        if (row_step >= step) continue;
        kept.text += line + padding + "\n";
        if (loss_column >= 0) {
            std::vector<std::string> f = split(line, ',');
            double loss = f[loss_column].empty() ? NAN : std::strtod(f[loss_column].c_str(), nullptr);
            if (!f[loss_column].empty()) {
                kept.last_train_loss = loss;
                kept.min_train_loss = std::min(kept.min_train_loss, loss);
            }
        }
    }
    return kept;
}



// The files a run writes into its directory; any of them means the directory
// holds a run.
static const char* const RUN_FILES[] = {"result.json", "checkpoint.safetensors", "log.csv", "measure.csv", "run_info.txt",
                                  "run.json"};

std::vector<std::string> existing_run_files(const std::string& dir) {
    std::vector<std::string> found;
    for (const char* f : RUN_FILES)
        if (file_exists(dir + "/" + f)) found.push_back(f);
    return found;
}



LogAppender::LogAppender(const std::string& path) : path_(path) {
    f_ = std::fopen(path.c_str(), "a");
    if (!f_) fail("cannot append to " + path + ": " + std::strerror(errno));
}

LogAppender::~LogAppender() {
    if (f_) std::fclose(f_);
}

void LogAppender::row(const std::string& text) {
    errno = 0;
    if (std::fwrite(text.data(), 1, text.size(), f_) != text.size() || std::fflush(f_) != 0 || std::ferror(f_)) {
        int e = errno;
        std::clearerr(f_);
        fail("cannot write " + path_ + ": " + (e ? std::strerror(e) : "write error") +
             "; the run stops here and keeps its last checkpoint (free space, then resume it with --resume)");
    }
}

void LogAppender::close() {
    FILE* f = f_;
    f_ = nullptr;
    if (f && std::fclose(f) != 0) fail("cannot write " + path_ + ": " + std::strerror(errno));
}
