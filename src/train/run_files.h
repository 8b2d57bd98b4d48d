// A run directory's files, apart from the checkpoint (train/checkpoint.h)
// and run.json (train/run_metadata.h): result.json, which says how a run
// ended and which sweeps and figures trust only after checking it field by
// field; log.csv and measure.csv, appended to row by row with every write
// checked, and cut back to the checkpoint's step when a run resumes.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

// <out-dir>/result.json, written atomically when a run ends:
//   {"status": "done"|"stopped"|"diverged", "steps_run": N, "final_val_loss": x|null,
//    "last_train_loss": x|null, "min_train_loss": x, "diverged_at": step|null, "elapsed_s": x,
//    "measure_fraction": x (done and stopped runs)}
// A sweep treats a run as finished when this file says done or diverged.
bool run_is_finished(const std::string& out_dir);

// A run's result.json, read and checked field by field. Only a file whose
// status is done, diverged or stopped with every field in range counts;
// anything else (a "running" status, a misspelling, a negative or absurd
// loss, a steps_run that is not an integer) is Invalid, with the reason.
struct RunOutcome {
    enum State { Missing, Invalid, Done, Diverged, Stopped };
    State state = Missing;
    std::string problem;  // Invalid: what is wrong, naming the file
    double final_val_loss = 0, last_train_loss = 0, min_train_loss = 0, elapsed_s = 0;  // NaN where null
    int64_t steps_run = 0, diverged_at = -1;
};
// A done run's final validation loss must lie in [0, MAX_SANE_LOSS]: a
// cross-entropy beyond that is no trained model's (and no diverged run's
// either, which records null).
constexpr double MAX_SANE_LOSS = 1e6;
RunOutcome read_run_outcome(const std::string& out_dir);
const char* outcome_name(RunOutcome::State state);  // "done", "invalid", ...

// A number for result.json: %.9g, or null when it is not finite.
std::string json_number_or_null(double x);

// The rows of a run's log that a resume keeps, and what they say.
struct KeptLog {
    std::string text;                // the header and the rows of steps before the checkpoint
    double min_train_loss = INFINITY;  // over those rows (log.csv's train_loss column)
    double last_train_loss = NAN;
};
KeptLog kept_log_rows(const std::string& src, int64_t step, const char* header, int loss_column);

// A CSV file the run appends rows to, every write checked: a full disk or a
// file-size limit stops the run with the reason instead of silently dropping
// rows. Each row is flushed, so a kill loses at most the row being written.
class LogAppender {
public:
    explicit LogAppender(const std::string& path);  // opens for appending; fails with the reason
    ~LogAppender();
    LogAppender(const LogAppender&) = delete;
    LogAppender& operator=(const LogAppender&) = delete;
    void row(const std::string& text);  // written and flushed, or fail (the run stops, keeping its checkpoint)
    void close();                       // fails if the last writes did not reach the file

private:
    std::string path_;
    FILE* f_ = nullptr;
};


// Which of the files a run writes (result.json, the checkpoint, the logs,
// run_info.txt, run.json) are in `dir`; any of them means it holds a run.
std::vector<std::string> existing_run_files(const std::string& dir);
