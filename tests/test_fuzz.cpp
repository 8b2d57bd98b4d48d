// Mutation fuzzing of every reader of the program's input files: token files,
// safetensors, checkpoints, reference states, JSON, sweep plans and results,
// and (hidden until figures.cpp is fixed) the figures' CSV inputs.
//
// Each reader gets a few hundred mutants of a valid seed file, made by our own
// small mutator from a fixed seed, so a failure reproduces exactly. A reader
// passes if it returns or throws a std::exception; it fails if it crashes,
// hangs, throws something else, or asks for an absurd amount of memory. A
// crash cannot be caught in-process, so before every call the harness arms
// signal handlers (and the sanitizers' death callback) that print the kind,
// seed and index and save the input under build/fuzz-failures/ first.
//
// Knobs (environment): LRT_FUZZ_SEED (default 20240520), LRT_FUZZ_MUTANTS
// (per file type, default 300), LRT_FUZZ_ONLY=kind:index to replay one mutant
// (the failure message prints the exact setting; kind:index- continues from
// there after a crash), LRT_FUZZ_VERBOSE=1 for
// accepted/rejected counts per reader. The checkpoint, JSON, sweep and figures
// seeds come from a real tiny training run, whose numbers differ between the
// -O3 -march=native build and the sanitizer build, so an index replays in the
// build that found it (build/test_lrt or build/sanitize/test_lrt).
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <new>
#include <string>
#include <vector>

#include "train/checkpoint.h"
#include "data/data.h"
#include "study/figures.h"
#include "io/json.h"
#include "model/model.h"
#include "study/reference.h"
#include "util/rng.h"
#include "io/safetensors.h"
#include "study/sweep.h"
#include "model/tensor_table.h"
#include "test_helpers.h"
#include "train/train.h"
#include "util/util.h"

#if defined(__SANITIZE_ADDRESS__)
#define LRT_FUZZ_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define LRT_FUZZ_ASAN 1
#endif
#endif

// ---------------------------------------------------------------------------
// The memory guard: a reader fed a corrupt size field must refuse it, not
// allocate it. While a reader runs, one allocation over FUZZ_MAX_ALLOC or more
// than FUZZ_MAX_TOTAL in all is recorded as a failure and answered with
// bad_alloc (so the reader unwinds instead of the machine swapping). Under
// AddressSanitizer its own allocator replaces operator new, so there the
// `make sanitize` target sets max_allocation_size_mb instead, which makes
// ASan report such an allocation with its stack.
// ---------------------------------------------------------------------------
namespace {
constexpr size_t FUZZ_MAX_ALLOC = size_t(256) << 20;
constexpr size_t FUZZ_MAX_TOTAL = size_t(2) << 30;
std::atomic<bool> g_alloc_armed{false};
std::atomic<size_t> g_alloc_total{0};
std::atomic<size_t> g_alloc_refused{0};  // the first refused request's size, 0 if none
}  // namespace

#ifndef LRT_FUZZ_ASAN
static void* fuzz_allocate(size_t n) {
    if (g_alloc_armed.load(std::memory_order_relaxed)) {
        size_t total = g_alloc_total.fetch_add(n, std::memory_order_relaxed) + n;
        if (n > FUZZ_MAX_ALLOC || total > FUZZ_MAX_TOTAL) {
            size_t none = 0;
            g_alloc_refused.compare_exchange_strong(none, n);
            throw std::bad_alloc();
        }
    }
    if (void* p = std::malloc(n ? n : 1)) return p;
    throw std::bad_alloc();
}
// The usual forms; libstdc++'s nothrow and sized forms forward to these.
void* operator new(size_t n) { return fuzz_allocate(n); }
void* operator new[](size_t n) { return fuzz_allocate(n); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }
void operator delete[](void* p, size_t) noexcept { std::free(p); }
#endif

// The sanitizers call this (when linked in) just before they end the process
// after a report, so the harness can say which input it was.
extern "C" void __sanitizer_set_death_callback(void (*callback)(void)) __attribute__((weak));

namespace {

// ---------------------------------------------------------------------------
// Settings
// ---------------------------------------------------------------------------

uint64_t env_u64(const char* name, uint64_t fallback) {
    const char* v = std::getenv(name);
    return v && *v ? std::strtoull(v, nullptr, 10) : fallback;
}
uint64_t fuzz_seed() { return env_u64("LRT_FUZZ_SEED", 20240520); }
int fuzz_mutants() { return (int)env_u64("LRT_FUZZ_MUTANTS", 300); }
bool fuzz_verbose() { return env_u64("LRT_FUZZ_VERBOSE", 0) != 0; }

// LRT_FUZZ_ONLY=kind:index runs just that mutant of that kind (and nothing of
// the other kinds), to replay a failure under a debugger; kind:index- runs
// the mutants from there on (to go on past a crash); kind alone, all of them.
bool fuzz_selected(const std::string& kind, int index) {
    const char* only = std::getenv("LRT_FUZZ_ONLY");
    if (!only || !*only) return true;
    std::string s = only;
    size_t colon = s.find(':');
    if (s.substr(0, colon) != kind) return false;
    if (colon == std::string::npos) return true;
    int first = std::atoi(s.c_str() + colon + 1);
    return s.back() == '-' ? index >= first : index == first;
}

// Hangs: a reader that needs this long for a file of a few hundred KB is in a
// loop. Generous because the sanitizer build is several times slower.
constexpr unsigned HANG_SECONDS = 30;

// ---------------------------------------------------------------------------
// The input under test, for the crash handlers (which may only make
// async-signal-safe calls, so everything they write is prepared beforehand)
// ---------------------------------------------------------------------------

struct Current {
    bool active = false;
    const uint8_t* data = nullptr;
    size_t size = 0;
    char save_path[512] = {0};
    char message[1024] = {0};  // "fuzz: <kind> mutant <i> (seed s, <what>); replay: ..."
};
Current g_current;

void write_all(int fd, const char* p, size_t n) {
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w <= 0) return;
        p += w;
        n -= (size_t)w;
    }
}
void write_str(int fd, const char* s) { write_all(fd, s, std::strlen(s)); }

// Saves the current input and says which it was (signal-safe).
void report_current(const char* how) {
    if (!g_current.active) return;
    g_current.active = false;  // once, even if a second signal follows
    int fd = open(g_current.save_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
        write_all(fd, (const char*)g_current.data, g_current.size);
        close(fd);
    }
    write_str(2, "\n*** ");
    write_str(2, how);
    write_str(2, " while reading ");
    write_str(2, g_current.message);
    write_str(2, "\n*** input saved as ");
    write_str(2, g_current.save_path);
    write_str(2, "\n");
}

struct sigaction g_previous[NSIG];

extern "C" void on_fatal_signal(int sig) {
    report_current(sig == SIGSEGV ? "SIGSEGV" : sig == SIGBUS ? "SIGBUS" : sig == SIGFPE ? "SIGFPE"
                   : sig == SIGILL ? "SIGILL" : "SIGABRT");
    // Hand the signal to whoever had it before (Catch2's or a sanitizer's
    // handler, which prints the stack). A fault re-executes the faulting
    // instruction on return; abort() needs the signal raised again.
    sigaction(sig, &g_previous[sig], nullptr);
    if (sig == SIGABRT) raise(sig);
}

extern "C" void on_hang(int) {
    report_current("HANG (no answer within the time limit)");
    signal(SIGABRT, SIG_DFL);
    abort();
}

extern "C" void on_sanitizer_death() { report_current("SANITIZER REPORT (above)"); }

void install_handlers() {
    static bool done = false;
    if (done) return;
    done = true;
    for (int sig : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT}) {
        struct sigaction sa;
        std::memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_fatal_signal;
        sigemptyset(&sa.sa_mask);
        sa.sa_flags = SA_NODEFER;
        sigaction(sig, &sa, &g_previous[sig]);
    }
    struct sigaction sa;
    std::memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_hang;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGALRM, &sa, nullptr);
    if (__sanitizer_set_death_callback) __sanitizer_set_death_callback(on_sanitizer_death);
}

// build/fuzz-failures when run from the repository root (as make test does),
// else /tmp.
std::string failure_dir() {
    std::string dir = is_directory("build") ? "build/fuzz-failures" : "/tmp/lrt-fuzz-failures";
    make_dirs(dir);
    return dir;
}

// ---------------------------------------------------------------------------
// The harness: runs one reader on one input and records what went wrong
// ---------------------------------------------------------------------------

struct Harness {
    std::string kind;     // "token", "safetensors", ... (names the saved files and LRT_FUZZ_ONLY)
    std::string suffix;   // file name ending of the saved inputs, e.g. ".bin"
    std::string tag;      // the test's Catch2 tag, for the replay command
    uint64_t seed;
    int accepted = 0, rejected = 0;
    std::vector<std::string> failures;

    Harness(std::string k, std::string sfx, std::string t = "[fuzz]")
        : kind(std::move(k)), suffix(std::move(sfx)), tag(std::move(t)), seed(fuzz_seed()) {
        install_handlers();
    }

    std::string replay_hint(int index) const {
        return "LRT_FUZZ_SEED=" + std::to_string(seed) + " LRT_FUZZ_ONLY=" + kind + ":" + std::to_string(index) +
               " ./build/test_lrt \"" + tag + "\"";
    }

    // `input` is what gets saved if the reader fails; `what` says which file
    // of a directory it is, or how it was mutated.
    void run(int index, const std::vector<uint8_t>& input, const std::string& what, const std::function<void()>& reader) {
        std::string save = failure_dir() + "/" + kind + "-" + std::to_string(seed) + "-" + std::to_string(index) + suffix;
        std::string msg = kind + " mutant " + std::to_string(index) + " (seed " + std::to_string(seed) + ", " + what +
                          "); replay: " + replay_hint(index);
        g_current.data = input.data();
        g_current.size = input.size();
        std::snprintf(g_current.save_path, sizeof g_current.save_path, "%s", save.c_str());
        std::snprintf(g_current.message, sizeof g_current.message, "%s", msg.c_str());
        g_current.active = true;
        std::string problem;
        g_alloc_total = 0;
        g_alloc_refused = 0;
        g_alloc_armed = true;
        alarm(HANG_SECONDS);
        try {
            reader();
            accepted++;
        } catch (const std::exception&) {
            rejected++;
        } catch (...) {
            problem = "threw something that is not a std::exception";
        }
        alarm(0);
        g_alloc_armed = false;
        g_current.active = false;
        if (size_t n = g_alloc_refused.load())
            problem += (problem.empty() ? "" : "; ") + std::string("asked for ") + std::to_string(n) +
                       " bytes in one allocation, or more than " + std::to_string(FUZZ_MAX_TOTAL >> 20) +
                       " MB in all";
        if (!problem.empty()) fail_with(index, input, what, problem);
    }

    // A failure the harness found itself (not a crash): saved and listed.
    void fail_with(int index, const std::vector<uint8_t>& input, const std::string& what, const std::string& problem) {
        std::string save = failure_dir() + "/" + kind + "-" + std::to_string(seed) + "-" + std::to_string(index) + suffix;
        FILE* f = std::fopen(save.c_str(), "wb");
        if (f) {
            std::fwrite(input.data(), 1, input.size(), f);
            std::fclose(f);
        }
        failures.push_back(kind + " mutant " + std::to_string(index) + " (" + what + "): " + problem + "; saved as " +
                           save + "; replay: " + replay_hint(index));
    }

    void check() const {
        if (fuzz_verbose())
            std::printf("fuzz %-22s accepted %4d, rejected %4d, failed %zu\n", kind.c_str(), accepted, rejected,
                        failures.size());
        std::string all;
        for (const auto& f : failures) all += f + "\n";
        INFO(all);
        CHECK(failures.empty());
    }
};

// ---------------------------------------------------------------------------
// The mutator
// ---------------------------------------------------------------------------

using Bytes = std::vector<uint8_t>;

Bytes to_bytes(const std::string& s) { return Bytes(s.begin(), s.end()); }
std::string to_text(const Bytes& b) { return std::string(b.begin(), b.end()); }

struct Mutator {
    Rng rng;
    explicit Mutator(uint64_t seed) : rng(seed) {}

    size_t below(size_t n) { return n ? (size_t)(rng.next_u64() % n) : 0; }
    bool chance(int one_in) { return below((size_t)one_in) == 0; }

    // A position in [0, n), half the time inside the first `hot` bytes (the
    // header of a binary file: where a flipped bit changes a size or an
    // offset rather than a float in the data).
    size_t position(size_t n, size_t hot) {
        if (n == 0) return 0;
        if (hot > 0 && hot < n && chance(2)) return below(hot);
        return below(n);
    }

    // One structural mutation of raw bytes.
    void mutate_bytes(Bytes& b, size_t hot) {
        static const uint8_t interesting8[] = {0x00, 0xFF, 0x7F, 0x80, 0x01, 0xFE};
        static const uint32_t interesting32[] = {0x00000000u, 0xFFFFFFFFu, 0x7FFFFFFFu, 0x80000000u,
                                                 0x00010000u, 0x0000FFFFu, 0x40000000u, 0x00000001u};
        switch (below(8)) {
            case 0: {  // flip a few bits
                if (b.empty()) break;
                for (size_t k = 0, n = 1 + below(4); k < n; k++) b[position(b.size(), hot)] ^= (uint8_t)(1u << below(8));
                break;
            }
            case 1:  // a byte set to a boundary value
                if (!b.empty()) b[position(b.size(), hot)] = interesting8[below(sizeof interesting8)];
                break;
            case 2: {  // a 32-bit boundary value, little-endian, at any offset
                if (b.size() < 4) break;
                size_t at = position(b.size() - 3, hot);
                uint32_t v = interesting32[below(sizeof interesting32 / 4)];
                for (int i = 0; i < 4; i++) b[at + i] = (uint8_t)(v >> (8 * i));
                break;
            }
            case 3:  // truncation
                b.resize(position(b.size() + 1, hot));
                break;
            case 4: {  // insert a run of random or repeated bytes
                size_t at = position(b.size() + 1, hot), n = 1 + below(chance(4) ? 4096 : 32);
                Bytes run(n);
                uint8_t fill = (uint8_t)rng.next_u64();
                bool random = chance(2);
                for (auto& x : run) x = random ? (uint8_t)rng.next_u64() : fill;
                b.insert(b.begin() + at, run.begin(), run.end());
                break;
            }
            case 5: {  // delete a run
                if (b.empty()) break;
                size_t at = position(b.size(), hot), n = std::min(b.size() - at, 1 + below(chance(4) ? 4096 : 32));
                b.erase(b.begin() + at, b.begin() + at + n);
                break;
            }
            case 6: {  // duplicate a chunk somewhere else
                if (b.empty()) break;
                size_t from = position(b.size(), hot), n = std::min(b.size() - from, 1 + below(256));
                Bytes chunk(b.begin() + from, b.begin() + from + n);
                size_t to = position(b.size() + 1, hot);
                b.insert(b.begin() + to, chunk.begin(), chunk.end());
                break;
            }
            default: {  // overwrite a run with one random byte value
                if (b.empty()) break;
                size_t at = position(b.size(), hot), n = std::min(b.size() - at, 1 + below(16));
                std::memset(b.data() + at, (int)(rng.next_u64() & 0xFF), n);
                break;
            }
        }
    }

    // Spans [begin, end) of the number-like tokens in a text.
    static std::vector<std::pair<size_t, size_t>> numbers(const std::string& t) {
        std::vector<std::pair<size_t, size_t>> out;
        for (size_t i = 0; i < t.size();) {
            bool starts = std::isdigit((unsigned char)t[i]) ||
                          (t[i] == '-' && i + 1 < t.size() && std::isdigit((unsigned char)t[i + 1]));
            if (starts && (i == 0 || !std::isalnum((unsigned char)t[i - 1]))) {
                size_t j = i + 1;
                while (j < t.size() && (std::isdigit((unsigned char)t[j]) || t[j] == '.' || t[j] == 'e' ||
                                        t[j] == 'E' || t[j] == '+' || t[j] == '-'))
                    j++;
                out.push_back({i, j});
                i = j;
            } else {
                i++;
            }
        }
        return out;
    }

    // One token-level mutation of a text file (JSON, CSV, plain text).
    void mutate_text(std::string& t) {
        static const char* numbers_to_try[] = {
            "1e308", "-1e308", "1e309", "-1", "0", "-0", "NaN", "nan", "inf", "-inf", "1e-320", "4.9e-324",
            "99999999999999999999", "2147483647", "2147483648", "-2147483649", "4294967296", "65536", "65537",
            "4096", "1048576", "1073741824", "9007199254740993", "18446744073709551616", "0x10", "1.5", "", "1e",
            "--1", "00"};
        static const char* strings_to_try[] = {"\"\"", "\"\\u0000\"", "\"\\ud800\"", "\"\xff\xfe\"", "\"done\"",
                                               "\"diverged\"", "null", "true", "[]", "{}", "\"a\\\"b\""};
        static const char structural[] = {'"', '{', '}', '[', ']', ',', ':', '\\', '\n', '\0', '\xff', ' ', '#', '\r'};
        switch (below(12)) {
            case 0:
            case 1:
            case 2: {  // a number replaced by a boundary or malformed one
                auto spans = numbers(t);
                if (spans.empty()) break;
                auto s = spans[below(spans.size())];
                t.replace(s.first, s.second - s.first, numbers_to_try[below(sizeof numbers_to_try / sizeof *numbers_to_try)]);
                break;
            }
            case 3: {  // drop a comma (a torn CSV row, a JSON syntax error)
                std::vector<size_t> commas;
                for (size_t i = 0; i < t.size(); i++)
                    if (t[i] == ',') commas.push_back(i);
                if (!commas.empty()) t.erase(commas[below(commas.size())], 1);
                break;
            }
            case 4: {  // cut the last line: the whole of it, or part way (a file still being written)
                size_t end = t.size() && t.back() == '\n' ? t.size() - 1 : t.size();
                size_t start = t.rfind('\n', end ? end - 1 : 0);
                start = start == std::string::npos ? 0 : start + 1;
                t.resize(chance(2) ? start : start + below(end - start + 1));
                break;
            }
            case 5: {  // a line duplicated or deleted
                std::vector<std::string> lines = split(t, '\n');
                if (lines.empty()) break;
                size_t i = below(lines.size());
                if (chance(2)) lines.insert(lines.begin() + i, lines[i]);
                else lines.erase(lines.begin() + i);
                t.clear();
                for (size_t k = 0; k < lines.size(); k++) t += (k ? "\n" : "") + lines[k];
                break;
            }
            case 6: {  // a quoted string replaced
                std::vector<size_t> quotes;
                for (size_t i = 0; i < t.size(); i++)
                    if (t[i] == '"') quotes.push_back(i);
                if (quotes.size() < 2) break;
                size_t k = below(quotes.size() - 1);
                t.replace(quotes[k], quotes[k + 1] - quotes[k] + 1,
                          strings_to_try[below(sizeof strings_to_try / sizeof *strings_to_try)]);
                break;
            }
            case 7:  // a structural character inserted
                t.insert(t.begin() + below(t.size() + 1), structural[below(sizeof structural)]);
                break;
            case 8: {  // deep nesting (the parser must stop at its depth limit)
                size_t n = 1 + below(chance(2) ? 200 : 100000);
                t.insert(below(t.size() + 1), std::string(n, chance(2) ? '[' : '{'));
                break;
            }
            case 9: {  // a comma doubled, or a field emptied
                size_t at = t.find(',', below(t.size() + 1));
                if (at != std::string::npos) t.insert(at, ",");
                break;
            }
            case 10: {  // a line anywhere cut short (a torn row: fewer fields than the header)
                size_t at = below(t.size() + 1);
                size_t end = t.find('\n', at);
                if (end == std::string::npos) end = t.size();
                t.erase(at, end - at);
                break;
            }
            default: {  // raw byte mutations now and then
                Bytes b = to_bytes(t);
                mutate_bytes(b, 0);
                t = to_text(b);
                break;
            }
        }
    }

    Bytes mutated_bytes(Bytes b, size_t hot) {
        for (size_t k = 0, n = 1 + below(3); k < n; k++) mutate_bytes(b, hot);
        return b;
    }
    std::string mutated_text(std::string t) {
        for (size_t k = 0, n = 1 + below(3); k < n; k++) mutate_text(t);
        return t;
    }
};

// The header length of a safetensors file: where its mutations matter most.
size_t safetensors_hot(const Bytes& file) {
    if (file.size() < 8) return file.size();
    uint64_t n = 0;
    for (int i = 0; i < 8; i++) n |= (uint64_t)file[i] << (8 * i);
    return (size_t)std::min<uint64_t>(n + 8, file.size());
}

// A mutant of a safetensors file: the raw bytes, the header's JSON text (with
// the length field fixed up, or not), or one metadata value.
Bytes mutate_safetensors(Mutator& m, const Bytes& seed, const SafeTensors& parsed,
                         const std::vector<std::string>& meta_keys, std::string* what) {
    size_t choice = m.below(10);
    if (choice < 4 || parsed.metadata.empty()) {
        *what = "raw bytes";
        return m.mutated_bytes(seed, safetensors_hot(seed));
    }
    if (choice < 6) {
        *what = "header JSON text";
        size_t hot = safetensors_hot(seed);
        std::string header(seed.begin() + 8, seed.begin() + hot);
        header = m.mutated_text(header);
        Bytes out(8);
        uint64_t n = header.size();
        if (m.chance(4)) n += m.below(16) - 8;  // a length field that no longer matches
        for (int i = 0; i < 8; i++) out[i] = (uint8_t)(n >> (8 * i));
        out.insert(out.end(), header.begin(), header.end());
        out.insert(out.end(), seed.begin() + hot, seed.end());
        return out;
    }
    // a metadata value, re-serialized (so the file is well-formed and the
    // value reaches the code that interprets it)
    SafeTensors st = parsed;
    const std::string& key = meta_keys[m.below(meta_keys.size())];
    const std::string* value = st.find_meta(key);
    std::string v = value ? *value : "";
    if (key == "model_config" && m.chance(2)) {
        // one size set to a large but individually valid value: the text
        // mutations rarely hit the combination that asks for a giant model
        static const char* fields[] = {"vocab_size", "context_length", "width", "depth", "head_dim", "mlp_ratio"};
        static const double sizes[] = {0, 1, 3, 64, 4096, 65536, 1 << 20, 1 << 30};
        try {
            JsonValue j = parse_json(v);
            j.set(fields[m.below(6)], JsonValue::make_number(sizes[m.below(8)]));
            v = to_json(j);
        } catch (const std::exception&) {
        }
    } else {
        v = m.mutated_text(v);
    }
    if (m.chance(10)) {  // or the entry missing altogether
        *what = "metadata " + key + " removed";
        for (size_t i = 0; i < st.metadata.size(); i++)
            if (st.metadata[i].first == key) st.metadata.erase(st.metadata.begin() + i);
    } else {
        *what = "metadata " + key;
        st.set_meta(key, v);
    }
    try {
        return serialize_safetensors(st);
    } catch (const std::exception&) {  // e.g. the mutated value is not UTF-8: fall back to the bytes
        *what = "raw bytes";
        return m.mutated_bytes(seed, safetensors_hot(seed));
    }
}

// Tensor-level changes that a well-formed file can carry: a tensor missing,
// renamed, reshaped or of another dtype.
Bytes mutate_tensors(Mutator& m, const SafeTensors& parsed, std::string* what) {
    SafeTensors st = parsed;
    if (st.tensors.empty()) return serialize_safetensors(st);
    size_t i = m.below(st.tensors.size());
    StTensor& t = st.tensors[i];
    switch (m.below(4)) {
        case 0:
            *what = "tensor " + t.name + " removed";
            st.tensors.erase(st.tensors.begin() + i);
            break;
        case 1:
            *what = "tensor " + t.name + " renamed";
            t.name += "x";
            break;
        case 2: {
            *what = "tensor " + t.name + " reshaped";
            if (t.shape.empty() || m.chance(3)) t.shape.push_back(1 + (int64_t)m.below(3));
            else t.shape[m.below(t.shape.size())] = (int64_t)m.below(64);
            t.bytes.assign(t.numel() * dtype_size(t.dtype), 0x3C);
            break;
        }
        default:
            *what = "tensor " + t.name + " as F64";
            if (t.dtype == Dtype::F64) t.dtype = Dtype::F32;
            else t.dtype = Dtype::F64;
            t.bytes.assign(t.numel() * dtype_size(t.dtype), 0);
            break;
    }
    return serialize_safetensors(st);
}

void write_bytes(const std::string& path, const Bytes& b) {
    FILE* f = std::fopen(path.c_str(), "wb");
    REQUIRE(f);
    if (!b.empty()) std::fwrite(b.data(), 1, b.size(), f);
    std::fclose(f);
}

// ---------------------------------------------------------------------------
// A real tiny sweep (4 runs of 12 steps, with measurements), made once per
// process: its checkpoints seed the checkpoint fuzzing, its plan and results
// the sweep fuzzing, its measurements the figures fuzzing.
// ---------------------------------------------------------------------------

struct TinySweep {
    TempDir tmp;
    std::string dir;
    std::vector<PlanEntry> plan;
    TinySweep() {
        dir = tmp.file("sweep");
        SweepSpec spec;
        spec.dir = dir;
        spec.configs = parse_sweep_configs(sweep_configs_text(), "configs.txt");
        spec.widths = {16, 32};
        spec.lrs = {0.01};
        spec.common = "--depth 1 --head-dim 8 --steps 12 --batch-size 2 --seq-len 16 --val-batches 1 --val-every 0 "
                      "--sample-length 0 --synth-train-tokens 4096 --synth-val-tokens 1024 --warmup-steps 2 "
                      "--measure-every 2";
        plan = make_plan(spec);
        write_plan(dir, plan);
        // each plan line run in-process, as `lrt sweep run` would run it
        // (stdout silenced: even --quiet prints a final line per run)
        std::fflush(stdout);
        int saved_stdout = dup(1), devnull = open("/dev/null", O_WRONLY);
        if (devnull >= 0) dup2(devnull, 1);
        try {
            for (const PlanEntry& e : plan) {
                std::vector<std::string> words = split(e.command, ' ');
                std::vector<char*> argv;
                for (auto& w : words) argv.push_back(&w[0]);
                train_command((int)argv.size(), argv.data());
            }
        } catch (...) {
            std::fflush(stdout);
            dup2(saved_stdout, 1);
            throw;
        }
        std::fflush(stdout);
        dup2(saved_stdout, 1);
        close(saved_stdout);
        if (devnull >= 0) close(devnull);
        // The mutants must not depend on the clock or the temporary path,
        // or a failure would not reproduce: the timings are set to fixed
        // values here, and the path is replaced by a placeholder while
        // mutating (canonical / concrete).
        for (const PlanEntry& e : plan) {
            std::string log = text_of(e.out_dir + "/log.csv");
            std::vector<std::string> lines = split(log, '\n');
            std::vector<std::string> header = split(lines.at(0), ',');
            std::string fixed;
            for (size_t i = 0; i < lines.size(); i++) {
                std::vector<std::string> f = split(lines[i], ',');
                for (size_t c = 0; i > 0 && c < f.size() && c < header.size(); c++)
                    if (header[c] == "tokens_per_s" || header[c] == "elapsed_s") f[c] = "1000";
                for (size_t c = 0; c < f.size(); c++) fixed += (c ? "," : "") + f[c];
                if (i + 1 < lines.size()) fixed += "\n";
            }
            write_file_atomic(e.out_dir + "/log.csv", fixed);
            JsonValue result = parse_json(text_of(e.out_dir + "/result.json"));
            result.set("elapsed_s", JsonValue::make_number(1.5));
            result.set("measure_fraction", JsonValue::make_number(0.25));
            write_file_atomic(e.out_dir + "/result.json", to_json(result));
        }
        report_sweep(dir, false);
    }
    std::string canonical(std::string text) const { return replace_all(std::move(text), dir, "@SWEEP@"); }
    std::string concrete(std::string text) const { return replace_all(std::move(text), "@SWEEP@", dir); }
    static std::string replace_all(std::string text, const std::string& from, const std::string& to) {
        for (size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size()))
            text.replace(at, from.size(), to);
        return text;
    }
    // A run's checkpoint with the path in its train_flags made canonical.
    Bytes checkpoint_seed(size_t run) const {
        SafeTensors st = load_safetensors(plan.at(run).out_dir + "/checkpoint.safetensors");
        st.set_meta("train_flags", canonical(st.meta("train_flags")));
        return serialize_safetensors(st);
    }
    static std::string sweep_configs_text() {
        return "# the two configurations of the figures\n"
               "mup --param mup --d-base 16 --wd-mode independent --weight-decay 0.01\n"
               "sp --param sp --d-base 16 --wd-mode independent --weight-decay 0.01   # the baseline\n";
    }
};

TinySweep& tiny_sweep() {
    static TinySweep sweep;
    return sweep;
}

// Copies a directory tree (the pristine sweep into a scratch copy).
void copy_tree(const std::string& from, const std::string& to) {
    int rc = std::system(("rm -rf '" + to + "' && cp -r '" + from + "' '" + to + "'").c_str());
    REQUIRE(rc == 0);
}

}  // namespace

// ---------------------------------------------------------------------------
// The readers
// ---------------------------------------------------------------------------

TEST_CASE("fuzz: llm.c token files", "[fuzz]") {
    TempDir dir;
    std::vector<uint16_t> tokens;
    for (int i = 0; i < 300; i++) tokens.push_back((uint16_t)((i * 37) % 256));
    write_token_file(dir.file("seed.bin"), tokens);
    const Bytes seed = read_file(dir.file("seed.bin"));
    REQUIRE(read_token_file(dir.file("seed.bin")) == tokens);

    Harness h("token", ".bin");
    Mutator m(h.seed ^ 0x746F6B656E);
    const std::string path = dir.file("mutant.bin");
    for (int i = 0; i < fuzz_mutants(); i++) {
        // hot: magic, version and count; the rest of the header is zeros
        Bytes b = m.mutated_bytes(seed, 12);
        if (!fuzz_selected(h.kind, i)) continue;
        write_bytes(path, b);
        h.run(i, b, "raw bytes", [&] {
            std::vector<uint16_t> t = read_token_file(path);
            check_token_range(t, 256, path);
        });
    }
    h.check();
}

TEST_CASE("fuzz: safetensors files", "[fuzz]") {
    // every dtype, a scalar, an empty tensor and metadata
    SafeTensors st;
    st.set_meta("format", "test");
    st.set_meta("config", "{\"width\":32,\"lr\":0.001,\"names\":[\"a\",\"b\"]}");
    std::vector<float> f(24);
    for (size_t i = 0; i < f.size(); i++) f[i] = 0.5f * (float)i;
    std::vector<double> d = {1.0, -2.5, 1e300};
    int32_t i32[4] = {1, -1, INT32_MAX, INT32_MIN};
    int64_t i64[2] = {INT64_MAX, -7};
    uint16_t u16[3] = {0, 1, 65535};
    uint8_t u8[5] = {0, 1, 2, 254, 255};
    uint64_t u64 = UINT64_MAX;
    st.add("w", {4, 6}, f.data());
    st.add("d", {3}, d.data());
    st.add("i32", {2, 2}, i32);
    st.add("i64", {2}, i64);
    st.add("u16", {3}, u16);
    st.add("u8", {5}, u8);
    st.add("scalar", {}, &u64);
    st.add<float>("empty", {0, 3}, nullptr);
    const Bytes seed = serialize_safetensors(st);
    const SafeTensors parsed = parse_safetensors(seed, "seed");
    const std::vector<std::string> keys = {"format", "config"};

    TempDir dir;
    const std::string path = dir.file("mutant.safetensors");
    Harness h("safetensors", ".safetensors");
    Mutator m(h.seed ^ 0x5AFE);
    for (int i = 0; i < fuzz_mutants(); i++) {
        std::string what;
        Bytes b = m.chance(8) ? mutate_tensors(m, parsed, &what) : mutate_safetensors(m, seed, parsed, keys, &what);
        if (!fuzz_selected(h.kind, i)) continue;
        write_bytes(path, b);
        h.run(i, b, what, [&] {
            SafeTensors a = parse_safetensors(b, "mutant");
            SafeTensors s = load_safetensors(path);
            // what a caller does next: look the tensors up and copy them out
            for (const StTensor& t : s.tensors) {
                const StTensor& g = s.get_typed(t.name, t.dtype);
                std::vector<uint8_t> copy(g.bytes);
                (void)s.get_checked(t.name, t.dtype, t.numel());
            }
            (void)s.read_vector<float>("w");
            if (const std::string* c = s.find_meta("config")) (void)parse_json(*c);
            (void)a;
        });
    }
    h.check();
}

// The checkpoint mutants, read as `lrt train --resume` reads them. With
// `strict_size`, a checkpoint whose model_config describes a model of more
// than 64 MB of parameters (while the file holds a few hundred KB) fails the
// test: the reader should refuse it, and today it does not (load_checkpoint
// validates the config on its own but not against the file's tensors, so the
// caller allocates the giant model before restore_checkpoint finds the shapes
// wrong). Without it, such mutants are counted and warned about but not built.
static void fuzz_checkpoints(bool strict_size) {
    TinySweep& sweep = tiny_sweep();
    TempDir dir;
    const std::string seed_path = dir.file("seed.safetensors");
    const Bytes seed = sweep.checkpoint_seed(0);
    write_bytes(seed_path, seed);
    const SafeTensors parsed = parse_safetensors(seed, "seed");
    {  // the seed itself restores
        Checkpoint c = load_checkpoint(seed_path);
        GPT<float> model;
        gpt_build(model, c.config);
        std::vector<float> am, av;
        restore_checkpoint(c, model, am, av);
    }
    // model_config and train_flags are weighted up: they are the JSON that
    // decides how large a model the caller builds
    const std::vector<std::string> keys = {"model_config", "model_config", "model_config", "train_flags", "train_flags",
                                           "step", "data_epoch", "data_window", "rng_state", "format", "format_version"};
    const std::string path = dir.file("mutant.safetensors");
    Harness h("checkpoint", ".safetensors", "[fuzz]");
    int oversized_count = 0;
    Mutator m(h.seed ^ 0xC4EC);
    for (int i = 0; i < fuzz_mutants(); i++) {
        std::string what;
        Bytes b = m.chance(6) ? mutate_tensors(m, parsed, &what) : mutate_safetensors(m, seed, parsed, keys, &what);
        if (!fuzz_selected(h.kind, i)) continue;
        write_bytes(path, b);
        std::string oversized;
        h.run(i, b, what, [&] {
            Checkpoint c = load_checkpoint(path);
            (void)parse_json(c.train_flags_json);
            // The caller (lrt train --resume) builds the model the checkpoint
            // describes before restoring into it. A checkpoint of a few
            // hundred KB that describes a model of gigabytes must be refused
            // by the reader, not discovered by the allocation.
            TensorTable table = build_tensor_table(c.config);
            double mb = (double)table.total * sizeof(float) / (1 << 20);
            if (mb > 64) {
                char buf[200];
                std::snprintf(buf, sizeof buf,
                              "load_checkpoint accepted a model_config of %.0f MB of parameters (width %d, depth %d, "
                              "vocab %d, context %d) from a %zu-byte file",
                              mb, c.config.width, c.config.depth, c.config.vocab_size, c.config.context_length,
                              b.size());
                oversized = buf;
                return;
            }
            GPT<float> model;
            gpt_build(model, c.config);
            std::vector<float> am, av;
            restore_checkpoint(c, model, am, av);
        });
        if (!oversized.empty()) {
            oversized_count++;
            if (strict_size) h.fail_with(i, b, what, oversized);
        }
    }
    if (oversized_count > 0 && !strict_size)
        WARN(oversized_count << " checkpoint mutants with a model_config of more than 64 MB of parameters were accepted "
                                "by load_checkpoint (not built)");
    h.check();
}

// strict: load_checkpoint refuses a model_config that does not match the
// file's tensors, so no mutant may describe a model larger than 64 MB of
// parameters (the fuzzer found such configs accepted before that check).
TEST_CASE("fuzz: checkpoints (file, metadata, model_config, train_flags)", "[fuzz]") { fuzz_checkpoints(true); }

TEST_CASE("fuzz: reference state files", "[fuzz]") {
    // The reader of a reference file is load_safetensors plus the settings it
    // was made with (reference_config_from_json on its "flags"), which
    // `make reference` and the GPU tests use to regenerate it; the other
    // metadata entries are JSON for other implementations to read.
    std::vector<std::string> refs = committed_references();
    REQUIRE(!refs.empty());
    const Bytes seed = read_file(refs.front());
    const SafeTensors parsed = parse_safetensors(seed, refs.front());
    const std::vector<std::string> keys = {"flags", "flags", "flags", "model_config", "parameterization",
                                           "optimizer", "tensors", "format", "format_version"};
    TempDir dir;
    const std::string path = dir.file("mutant.safetensors");
    Harness h("reference", ".safetensors");
    Mutator m(h.seed ^ 0x4EF);
    for (int i = 0; i < fuzz_mutants(); i++) {
        std::string what;
        Bytes b = m.chance(8) ? mutate_tensors(m, parsed, &what) : mutate_safetensors(m, seed, parsed, keys, &what);
        if (!fuzz_selected(h.kind, i)) continue;
        write_bytes(path, b);
        h.run(i, b, what, [&] {
            SafeTensors s = load_safetensors(path);
            for (const auto& kv : s.metadata)
                if (kv.first != "format" && kv.first != "format_version" && kv.first != "flags") (void)parse_json(kv.second);
            std::string canonical;
            (void)reference_config_from_json(s.meta("flags"), &canonical);
            (void)s.read_vector<int64_t>("inputs");
            (void)s.get("losses");
        });
    }
    h.check();
}

TEST_CASE("fuzz: JSON texts", "[fuzz]") {
    TinySweep& sweep = tiny_sweep();
    const std::vector<std::string> seeds = {
        text_of(sweep.plan[0].out_dir + "/result.json"),
        parse_safetensors(sweep.checkpoint_seed(0), "seed").meta("model_config"),
        parse_safetensors(sweep.checkpoint_seed(0), "seed").meta("train_flags"),
        "{\"a\":[1,-2.5e-3,1e300,true,false,null,{\"b\":\"\\u00e9\\ud83d\\ude00\\n\\\"\"}],\"c\":{},\"d\":[]}",
    };
    Harness h("json", ".json");
    Mutator m(h.seed ^ 0x150);
    for (int i = 0; i < fuzz_mutants(); i++) {
        size_t which = m.below(seeds.size());
        std::string t = m.mutated_text(seeds[which]);
        if (!fuzz_selected(h.kind, i)) continue;
        Bytes b = to_bytes(t);
        std::string reparse_problem;
        h.run(i, b, "seed " + std::to_string(which), [&] {
            JsonValue v = parse_json(t);
            std::string out = to_json(v);  // may refuse (infinity), never crash
            // what the writer writes, the parser reads back
            try {
                (void)parse_json(out);
            } catch (const std::exception& e) {
                reparse_problem = std::string("to_json wrote text that parse_json rejects: ") + e.what();
            }
            if (which == 1) (void)model_config_from_json(t);
        });
        if (!reparse_problem.empty()) h.fail_with(i, b, "seed " + std::to_string(which), reparse_problem);
    }
    h.check();
}

TEST_CASE("fuzz: sweep configuration files", "[fuzz]") {
    const std::string seed = TinySweep::sweep_configs_text();
    REQUIRE(parse_sweep_configs(seed, "seed").size() == 2);
    Harness h("sweep-configs", ".txt");
    Mutator m(h.seed ^ 0xC0F);
    for (int i = 0; i < fuzz_mutants(); i++) {
        std::string t = m.mutated_text(seed);
        if (!fuzz_selected(h.kind, i)) continue;
        h.run(i, to_bytes(t), "text", [&] { (void)parse_sweep_configs(t, "configs.txt"); });
    }
    h.check();
}

TEST_CASE("fuzz: sweep plans and results (read_plan, collect_results, report_sweep)", "[fuzz]") {
    TinySweep& sweep = tiny_sweep();
    TempDir dir;
    const std::string work = dir.file("sweep");
    copy_tree(sweep.dir, work);
    // the files a sweep directory is read from: its plan, and each run's
    // result.json (where plan.csv's out_dir says)
    std::vector<std::string> files = {work + "/plan.csv", work + "/plan.txt"};
    for (const PlanEntry& e : sweep.plan) files.push_back(e.out_dir + "/result.json");
    std::vector<Bytes> originals;
    for (const auto& f : files) originals.push_back(read_file(f));

    Harness h("sweep", ".txt");
    Mutator m(h.seed ^ 0x5EE9);
    for (int i = 0; i < fuzz_mutants(); i++) {
        size_t k = m.below(files.size());
        // plan.csv's out_dir column points at the pristine runs; result.json
        // mutants are written there and put back afterwards
        std::string t = sweep.concrete(m.mutated_text(sweep.canonical(to_text(originals[k]))));
        if (!fuzz_selected(h.kind, i)) continue;
        Bytes b = to_bytes(t);
        write_bytes(files[k], b);
        std::string name = files[k].substr(files[k].rfind('/', files[k].rfind('/') - 1) + 1);
        h.run(i, b, name, [&] {
            (void)read_plan(work);
            (void)collect_results(work);
            (void)report_sweep(work, false);
        });
        write_bytes(files[k], originals[k]);
    }
    h.check();
}

// (This found two crashes of make_figures on rows shorter than the header,
// in log.csv and in measure.csv, before src/io/csv.cpp checked every row.)
TEST_CASE("fuzz: figures inputs (measure.csv, log.csv, run.json, result.json)", "[fuzz]") {
    TinySweep& sweep = tiny_sweep();
    TempDir dir;
    const std::string out = dir.file("figures");
    FiguresConfig fc;
    fc.sweep_dir = sweep.dir;
    fc.out_dir = out;
    fc.layer = "transformer.h.0.mlp.c_fc.weight";
    fc.mup_config = "mup";
    fc.sp_config = "sp";
    (void)make_figures(fc);  // the seed directory draws

    std::vector<std::string> files;
    for (const PlanEntry& e : sweep.plan)
        for (const char* f : {"measure.csv", "log.csv", "run.json", "result.json"}) files.push_back(e.out_dir + "/" + f);
    std::vector<Bytes> originals;
    for (const auto& f : files) originals.push_back(read_file(f));

    Harness h("figures", ".txt", "[fuzz]");
    Mutator m(h.seed ^ 0xF16);
    for (int i = 0; i < fuzz_mutants(); i++) {
        size_t k = m.below(files.size());
        std::string t = sweep.concrete(m.mutated_text(sweep.canonical(to_text(originals[k]))));
        if (!fuzz_selected(h.kind, i)) continue;
        Bytes b = to_bytes(t);
        write_bytes(files[k], b);
        std::string name = files[k].substr(files[k].rfind('/', files[k].rfind('/') - 1) + 1);
        h.run(i, b, name, [&] { (void)make_figures(fc); });
        write_bytes(files[k], originals[k]);
    }
    h.check();
}
