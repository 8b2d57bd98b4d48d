// Small shared helpers: errors, atomic file writes, whole-file reads, clocks.
#pragma once
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

// Every user-facing failure (bad file, bad flag, bad shape) is a runtime_error
// with a message that says what is wrong; the command-line program catches it,
// prints "error: <message>" and exits with status 1.
[[noreturn]] void fail(const std::string& message);

// Writes `size` bytes to `path` so that a crash never leaves a half-written
// file: the bytes go to "<path>.tmp.<pid>" in the same directory, are flushed
// and fsync'ed, and the temporary is renamed over `path` (rename is atomic on
// POSIX file systems).
void write_file_atomic(const std::string& path, const void* data, size_t size);
inline void write_file_atomic(const std::string& path, const std::string& text) {
    write_file_atomic(path, text.data(), text.size());
}

// Reads a whole file; fails with "cannot open <path>: <reason>" if it can't,
// "<path> is a directory, not a file" for a directory, and "<path> is larger
// than <max_bytes> bytes" when it holds more than max_bytes (so /dev/zero or a
// wrong file given by mistake fails at once instead of exhausting memory).
// Readers that know how large their file can be pass a tighter bound.
constexpr size_t READ_FILE_DEFAULT_MAX = size_t(1) << 30;  // 1 GiB
std::vector<uint8_t> read_file(const std::string& path, size_t max_bytes = READ_FILE_DEFAULT_MAX);

// The first `n` bytes of a file, or all of it if it is shorter (for reading a
// header before deciding how much more to read). Same errors as read_file.
std::vector<uint8_t> read_file_prefix(const std::string& path, size_t n);

bool file_exists(const std::string& path);
// Size in bytes of a regular file; 0 when it is missing or not a regular file.
uint64_t file_size(const std::string& path);

// An advisory lock (flock) on "<dir>/.lock", held until the object is
// destroyed or the process ends (also by kill -9: the kernel releases it).
// The lock file holds the holder's pid and command line, so a second process
// fails with a message naming the holder:
//   "<dir> is in use by another process (pid 123: lrt train ...); ..."
// `what` names the directory's kind in that message ("run directory").
// Removes the temporaries of atomic writes ("<file>.tmp.<pid>") that a
// process killed mid-write left in `dir`: those whose process is gone.
void remove_stale_temporaries(const std::string& dir);

class DirLock {
public:
    DirLock() = default;
    DirLock(const std::string& dir, const std::string& what);
    ~DirLock();
    DirLock(const DirLock&) = delete;
    DirLock& operator=(const DirLock&) = delete;
    DirLock(DirLock&& other) noexcept;
    DirLock& operator=(DirLock&& other) noexcept;
    bool held() const { return fd_ >= 0; }
private:
    int fd_ = -1;
};

// Seconds on a monotonic clock, for timing and ETAs.
double wall_seconds();

// "1h02m03s" style duration for progress lines.
std::string format_duration(double seconds);

// The CPU's model name from /proc/cpuinfo ("unknown CPU" where there is
// none), for the benchmarks' "which machine" line.
std::string cpu_model_name();

// Creates a directory and its parents (like mkdir -p); fails with the reason.
void make_dirs(const std::string& path);
bool is_directory(const std::string& path);
// The directory part of a path: "a/b/c" gives "a/b", "c" gives ".", "/c" gives "/".
std::string parent_dir(const std::string& path);
// Whether two paths name the same existing file or directory (./x and x).
bool same_directory(const std::string& a, const std::string& b);

// Splits at every `sep`, keeping empty fields: "a,,b," gives {"a", "", "b", ""};
// "" gives {} (for CSV rows and comma-separated flag lists).
std::vector<std::string> split(const std::string& text, char sep);

// printf into a std::string (log rows, messages)
std::string strprintf(const char* format, ...) __attribute__((format(printf, 1, 2)));
