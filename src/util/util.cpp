#include "util/util.h"

#include <algorithm>
#include <fstream>
#include <iterator>

#include <cerrno>
#include <cstdarg>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <dirent.h>
#include <signal.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

void fail(const std::string& message) { throw std::runtime_error(message); }

void write_file_atomic(const std::string& path, const void* data, size_t size) {
    std::string tmp = path + ".tmp." + std::to_string(getpid());
    int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) fail("cannot write " + path + ": " + std::strerror(errno));
    const char* p = static_cast<const char*>(data);
    size_t left = size;
    while (left > 0) {
        ssize_t n = write(fd, p, left);
        if (n < 0) {
            if (errno == EINTR) continue;
            int e = errno;
            close(fd);
            unlink(tmp.c_str());
            fail("cannot write " + path + ": " + std::strerror(e));
        }
        p += n;
        left -= (size_t)n;
    }
    if (fsync(fd) != 0 || close(fd) != 0) {
        int e = errno;
        unlink(tmp.c_str());
        fail("cannot write " + path + ": " + std::strerror(e));
    }
    if (rename(tmp.c_str(), path.c_str()) != 0) {
        int e = errno;
        unlink(tmp.c_str());
        fail("cannot rename " + tmp + " to " + path + ": " + std::strerror(e));
    }
}

// Opens `path` for reading; a directory is named as such (fopen would succeed
// on it and the read fail with a less helpful EISDIR).
static int open_for_reading(const std::string& path) {
    int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) fail("cannot open " + path + ": " + std::strerror(errno));
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
        close(fd);
        fail(path + " is a directory, not a file");
    }
    return fd;
}

// Reads from fd until EOF or until more than `limit` bytes have come
// (then returns limit + 1 bytes, so the caller can tell "longer than").
static std::vector<uint8_t> read_up_to(int fd, const std::string& path, size_t limit) {
    std::vector<uint8_t> bytes;
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0)
        bytes.reserve((size_t)std::min<uint64_t>((uint64_t)st.st_size, limit) + 1);
    uint8_t buf[1 << 16];
    while (bytes.size() <= limit) {
        size_t want = std::min(sizeof buf, limit + 1 - bytes.size());
        ssize_t n = read(fd, buf, want);
        if (n < 0) {
            if (errno == EINTR) continue;
            int e = errno;
            close(fd);
            fail("error while reading " + path + ": " + std::strerror(e));
        }
        if (n == 0) break;
        bytes.insert(bytes.end(), buf, buf + n);
    }
    close(fd);
    return bytes;
}

std::vector<uint8_t> read_file(const std::string& path, size_t max_bytes) {
    std::vector<uint8_t> bytes = read_up_to(open_for_reading(path), path, max_bytes);
    if (bytes.size() > max_bytes)
        fail(path + " is larger than " + std::to_string(max_bytes) + " bytes, more than this kind of file can hold "
             "(a wrong file, or a device such as /dev/zero?)");
    return bytes;
}

std::vector<uint8_t> read_file_prefix(const std::string& path, size_t n) {
    std::vector<uint8_t> bytes = read_up_to(open_for_reading(path), path, n);
    if (bytes.size() > n) bytes.resize(n);
    return bytes;
}

void remove_stale_temporaries(const std::string& dir) {
    DIR* d = opendir(dir.c_str());
    if (!d) return;
    std::vector<std::string> stale;
    while (struct dirent* e = readdir(d)) {
        std::string name = e->d_name;
        size_t at = name.rfind(".tmp.");
        if (at == std::string::npos || at + 5 >= name.size()) continue;
        if (name.find_first_not_of("0123456789", at + 5) != std::string::npos) continue;
        // a process that is still alive may be writing it (a sweep report
        // next to a runner): only a dead writer's temporary is stale
        long pid = std::atol(name.c_str() + at + 5);
        if (pid > 0 && kill((pid_t)pid, 0) != 0 && errno == ESRCH) stale.push_back(name);
    }
    closedir(d);
    for (const std::string& name : stale) unlink((dir + "/" + name).c_str());
}

// ---- directory locks

static std::string own_command_line() {
    std::ifstream in("/proc/self/cmdline", std::ios::binary);
    std::string raw((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>()), out;
    for (char ch : raw) out += ch == '\0' ? ' ' : (ch == '\n' ? ' ' : ch);
    while (!out.empty() && out.back() == ' ') out.pop_back();
    if (out.size() > 300) out = out.substr(0, 300) + "...";
    return out.empty() ? "?" : out;
}

DirLock::DirLock(const std::string& dir, const std::string& what) {
    const std::string path = dir + "/.lock";
    int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) fail("cannot lock " + what + " " + dir + " (" + path + "): " + std::strerror(errno));
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        // the holder writes its name just after taking the lock: give it a moment
        std::string holder;
        char buf[512];
        for (int tries = 0; tries < 50 && holder.empty(); tries++) {
            if (tries) usleep(10000);
            ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
            if (n > 0) holder.assign(buf, (size_t)n);
        }
        while (!holder.empty() && (holder.back() == '\n' || holder.back() == ' ')) holder.pop_back();
        close(fd);
        if (e == EWOULDBLOCK)
            fail(what + " " + dir + " is in use by another process (" + (holder.empty() ? "pid unknown" : holder) +
                 "); wait for it to finish or stop it, or use another directory");
        fail("cannot lock " + what + " " + dir + " (" + path + "): " + std::strerror(e));
    }
    std::string me = "pid " + std::to_string(getpid()) + ": " + own_command_line() + "\n";
    if (ftruncate(fd, 0) != 0 || pwrite(fd, me.data(), me.size(), 0) != (ssize_t)me.size()) {
        int e = errno;
        close(fd);
        fail("cannot write " + path + ": " + std::strerror(e));
    }
    fd_ = fd;
}

DirLock::~DirLock() {
    if (fd_ >= 0) close(fd_);  // closing the last descriptor releases the lock
}

DirLock::DirLock(DirLock&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }

DirLock& DirLock::operator=(DirLock&& other) noexcept {
    if (this != &other) {
        if (fd_ >= 0) close(fd_);
        fd_ = other.fd_;
        other.fd_ = -1;
    }
    return *this;
}

bool file_exists(const std::string& path) {
    struct stat st;
    return stat(path.c_str(), &st) == 0;
}

uint64_t file_size(const std::string& path) {
    struct stat st;
    return stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) ? (uint64_t)st.st_size : 0;
}

double wall_seconds() {
    using namespace std::chrono;
    return duration<double>(steady_clock::now().time_since_epoch()).count();
}

std::string format_duration(double seconds) {
    if (!(seconds >= 0)) return "?";
    long s = (long)(seconds + 0.5);
    char buf[32];
    if (s >= 3600) std::snprintf(buf, sizeof buf, "%ldh%02ldm%02lds", s / 3600, (s / 60) % 60, s % 60);
    else if (s >= 60) std::snprintf(buf, sizeof buf, "%ldm%02lds", s / 60, s % 60);
    else std::snprintf(buf, sizeof buf, "%lds", s);
    return buf;
}

bool is_directory(const std::string& path) {
    struct stat st;
    return stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

std::string parent_dir(const std::string& path) {
    size_t slash = path.find_last_of('/');
    return slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
}

bool same_directory(const std::string& a, const std::string& b) {
    struct stat sa, sb;
    return stat(a.c_str(), &sa) == 0 && stat(b.c_str(), &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

void make_dirs(const std::string& path) {
    if (path.empty() || is_directory(path)) return;
    size_t slash = path.find_last_of('/');
    if (slash != std::string::npos && slash > 0) make_dirs(path.substr(0, slash));
    if (mkdir(path.c_str(), 0755) != 0 && errno != EEXIST)
        fail("cannot create directory " + path + ": " + std::strerror(errno));
    if (!is_directory(path)) fail("cannot create directory " + path + ": a file with that name exists");
}

std::vector<std::string> split(const std::string& text, char sep) {
    std::vector<std::string> out;
    if (text.empty()) return out;
    size_t start = 0;
    for (;;) {
        size_t end = text.find(sep, start);
        out.push_back(text.substr(start, end == std::string::npos ? std::string::npos : end - start));
        if (end == std::string::npos) return out;
        start = end + 1;
    }
}

std::string cpu_model_name() {
    std::ifstream in("/proc/cpuinfo");
    std::string line;
    while (std::getline(in, line))
        if (line.rfind("model name", 0) == 0) {
            size_t colon = line.find(':');
            if (colon != std::string::npos) return line.substr(colon + 2);
        }
    return "unknown CPU";
}

// printf into a std::string (for log rows)
std::string strprintf(const char* format, ...) {
    va_list args, copy;
    va_start(args, format);
    va_copy(copy, args);
    int n = std::vsnprintf(nullptr, 0, format, copy);
    va_end(copy);
    std::string out(n > 0 ? (size_t)n : 0, '\0');
    if (n > 0) std::vsnprintf(&out[0], (size_t)n + 1, format, args);
    va_end(args);
    return out;
}
