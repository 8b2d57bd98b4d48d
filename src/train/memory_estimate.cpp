#include "train/memory_estimate.h"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "util/util.h"

std::string format_bytes(double bytes) {
    const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    int u = 0;
    while (bytes >= 1024 && u < 5) bytes /= 1024, u++;
    char buf[48];
    std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.3g %s", bytes, units[u]);
    return buf;
}

std::string MemoryEstimate::describe() const {
    return "about " + format_bytes(total()) + " (parameters and gradients " + format_bytes(parameters) +
           ", optimizer state " + format_bytes(optimizer) + ", activations " + format_bytes(activations) + ", data " +
           format_bytes(data) + ", checkpoint writing " + format_bytes(checkpointing) +
           (lora_ga > 0 ? ", LoRA-GA's gradient pass " + format_bytes(lora_ga) + " before the run" : "") + ")";
}

// What model.cpp's forward and backward passes allocate for a batch of
// `micro` sequences of seq_len tokens, in bytes.
static double cpu_activations(const ModelConfig& c, double micro, int seq_len) {
    const double N = micro * seq_len, C = c.width, H = (double)c.mlp_width(), NH = c.num_heads(), V = c.vocab_size,
                 L = c.depth, B = micro, T = seq_len;
    // in floats: per block ln1, ln2 (N C + 2N each), qkv 3NC, att B NH T^2,
    // attn_out, attn_proj, residual_mid, fc_proj, residual_out (N C each),
    // fc and fc_gelu (N H each)
    const double per_block = 10 * N * C + 4 * N + 2 * N * H + B * NH * T * T;
    // embedding output and ln_f; logits, probs and their gradient (N V);
    // the backward pass's scratch: 5 N C, d_qkv 3 N C, d_fc N H
    const double global = 2 * N * C + 2 * N + 3 * N * V + N + 8 * N * C + N * H;
    return 4 * (L * per_block + global) + 2 * 4 * N;  // + the (B,T) int inputs and targets
}

MemoryEstimate estimate_train_memory(const ModelConfig& c, size_t num_params, int batch, int grad_accum, int seq_len,
                                     bool measuring, size_t data_tokens, bool on_gpu) {
    // sizes as doubles: a hostile configuration must not overflow the sums;
    // the activations are a micro-batch's (the whole batch when grad_accum is 1)
    const double micro = (double)batch / std::max(1, grad_accum);
    const double P = (double)num_params;
    MemoryEstimate e;
    e.parameters = 2 * 4 * P;                  // params, grads (the host keeps both on either device)
    if (grad_accum > 1 && !on_gpu) e.parameters += 4 * P;  // the gradient accumulator
    e.optimizer = 2 * 4 * P + (measuring ? 4 * P : 0);  // m, v; a measuring step's copy of the parameters
    e.data = 2.0 * data_tokens;                // uint16 tokens
    // save_checkpoint copies parameters and moments into a SafeTensors
    // (12 bytes a parameter), then serializes that into one buffer (12 more)
    e.checkpointing = 2 * 12 * P;
    if (!on_gpu) e.activations = cpu_activations(c, micro, seq_len);
    return e;
}

double estimate_lora_ga_memory(const ModelConfig& plain, size_t plain_params, int batch, int grad_accum, int seq_len) {
    const double P = (double)plain_params;
    return 2 * 4 * P + (grad_accum > 1 ? 4 * P : 0) +
           cpu_activations(plain, (double)batch / std::max(1, grad_accum), seq_len);
}

static bool read_u64_file(const std::string& path, uint64_t* value) {
    std::ifstream in(path);
    std::string text;
    if (!(in >> text)) return false;
    char* end = nullptr;
    unsigned long long v = std::strtoull(text.c_str(), &end, 10);
    if (end == text.c_str() || *end != '\0') return false;  // e.g. "max": no limit
    *value = v;
    return true;
}

// A cgroup's page cache that the kernel can drop when memory runs short
// (inactive file pages, from memory.stat), not counted as used.
static uint64_t reclaimable_cache(const std::string& dir, const char* key) {
    std::ifstream in(dir + "/memory.stat");
    std::string name;
    uint64_t value;
    while (in >> name >> value)
        if (name == key) return value;
    return 0;
}

uint64_t available_memory(std::string* source) {
    uint64_t best = 0;
    std::string why;
    std::ifstream meminfo("/proc/meminfo");
    std::string key;
    uint64_t kb;
    std::string unit;
    while (meminfo >> key >> kb) {
        std::getline(meminfo, unit);
        if (key == "MemAvailable:") {
            best = kb * 1024;
            why = "MemAvailable in /proc/meminfo";
            break;
        }
    }
    // the groups this process is in ("0::/path" for v2, "N:memory:/path" for
    // v1); the limits of the group and of every group above it apply
    std::ifstream cg("/proc/self/cgroup");
    std::string line;
    while (std::getline(cg, line)) {
        const bool v2 = line.rfind("0::", 0) == 0;
        const size_t at = line.find(":memory:");
        if (!v2 && at == std::string::npos) continue;
        std::string path = v2 ? line.substr(3) : line.substr(at + 8);
        const std::string root = v2 ? "/sys/fs/cgroup" : "/sys/fs/cgroup/memory";
        for (;;) {
            std::string dir = root + (path == "/" ? std::string() : path);
            uint64_t max = 0, current = 0;
            bool have = v2 ? read_u64_file(dir + "/memory.max", &max) && read_u64_file(dir + "/memory.current", &current)
                           : read_u64_file(dir + "/memory.limit_in_bytes", &max) &&
                                 read_u64_file(dir + "/memory.usage_in_bytes", &current);
            if (have) {
                uint64_t cache = reclaimable_cache(dir, v2 ? "inactive_file" : "total_inactive_file");
                current = current > cache ? current - cache : 0;
                uint64_t room = max > current ? max - current : 0;
                if (best == 0 || room < best) {
                    best = room;
                    why = "the memory limit of cgroup " + path;
                }
            }
            if (path.empty() || path == "/") break;
            size_t slash = path.find_last_of('/');
            path = slash == 0 || slash == std::string::npos ? "/" : path.substr(0, slash);
        }
    }
    if (source) *source = why;
    return best;
}

void check_memory_fits(const MemoryEstimate& e) {
    std::string source;
    uint64_t avail = available_memory(&source);
    if (avail == 0) return;  // unknown: no basis for a refusal
    if (e.total() > (double)avail)
        fail("this run needs " + e.describe() + " but only " + format_bytes((double)avail) + " are available (" +
             source + "); make the model or the batch smaller");
}
