#include "train/checkpoint.h"

#include <cerrno>
#include <cinttypes>
#include <cmath>
#include <cstring>
#include <cstdio>
#include <cctype>
#include <cstdlib>

#include "model/tensor_table.h"
#include "util/util.h"

static const char* SPECTRAL_PREFIX = "optimizer.spectral_v1.";

void save_checkpoint(const std::string& path, const GPT<float>& model, const std::vector<float>& adam_m,
                     const std::vector<float>& adam_v, const TrainState& state, const std::string& train_flags_json,
                     const std::vector<float>* spectral) {
    SafeTensors st;
    st.set_meta("format", "lrtransfer-checkpoint");
    st.set_meta("format_version", "1");
    st.set_meta("model_config", model.config.to_json());
    st.set_meta("train_flags", train_flags_json);
    st.set_meta("step", std::to_string(state.step));
    st.set_meta("data_epoch", std::to_string(state.data_epoch));
    st.set_meta("data_window", std::to_string(state.data_window));
    char rng[80];
    std::snprintf(rng, sizeof rng, "%016" PRIx64 ",%016" PRIx64 ",%016" PRIx64 ",%016" PRIx64, state.rng_state[0],
                  state.rng_state[1], state.rng_state[2], state.rng_state[3]);
    st.set_meta("rng_state", rng);
    auto ema_text = [](const NoiseEma& e) { return strprintf("%a,%a,%lld", e.g2, e.trace, (long long)e.count); };
    st.set_meta("noise_scale_ema", ema_text(state.noise));
    std::string per_tensor;
    for (const NoiseEma& e : state.tensor_noise) per_tensor += (per_tensor.empty() ? "" : ";") + ema_text(e);
    st.set_meta("noise_scale_ema_tensors", per_tensor);
    if (!state.merged_from.empty()) st.set_meta("merged_from", state.merged_from);
    for (const auto& t : model.table.tensors) st.add(t.name, t.shape64(), model.params.data() + t.offset);
    // a frozen tensor has no optimizer state (its slots stay 0 in memory)
    for (const auto& t : model.table.tensors)
        if (!t.frozen) st.add("optimizer.m." + t.name, t.shape64(), adam_m.data() + t.offset);
    for (const auto& t : model.table.tensors)
        if (!t.frozen) st.add("optimizer.v." + t.name, t.shape64(), adam_v.data() + t.offset);
    for (const auto& t : model.table.tensors)
        if (t.optim.decay_norm == DecayNorm::Spectral) {
            if (!spectral || spectral->size() != model.table.spectral_total)
                fail("save_checkpoint: " + t.name + " is decayed spectrally but its vector is missing");
            st.add(SPECTRAL_PREFIX + t.name, {(int64_t)t.fan_in}, spectral->data() + t.optim.spectral_offset);
        }
    save_safetensors(path, st);
}

// A metadata number, at most `max` (values past it are no state this
// program writes: a step of 2^64-1 would resume "at step -1").
static uint64_t parse_u64(const std::string& path, const std::string& key, const std::string& text, int base,
                          uint64_t max) {
    char* end = nullptr;
    errno = 0;
    unsigned long long x = std::strtoull(text.c_str(), &end, base);
    if (text.empty() || !std::isxdigit((unsigned char)text[0]) || *end != '\0')
        fail(path + ": metadata " + key + " = '" + text + "' is not a number");
    if (errno == ERANGE || x > max)
        fail(path + ": metadata " + key + " = " + text + " is out of range (at most " + std::to_string(max) +
             "); the checkpoint is corrupt");
    return (uint64_t)x;
}

// "g2,trace,count" as save_checkpoint writes it; anything else is an error.
static NoiseEma parse_noise_ema(const std::string& path, const std::string& text, const char* key = "noise_scale_ema") {
    NoiseEma e;
    long long count = -1;
    int used = 0;
    char g2[64], trace[64];
    if (std::sscanf(text.c_str(), "%63[^,],%63[^,],%lld%n", g2, trace, &count, &used) != 3 ||
        used != (int)text.size() || count < 0)
        fail(path + ": metadata " + key + " is malformed");
    char *end1 = nullptr, *end2 = nullptr;
    e.g2 = std::strtod(g2, &end1);
    e.trace = std::strtod(trace, &end2);
    if (*end1 || *end2 || !std::isfinite(e.g2) || !std::isfinite(e.trace))
        fail(path + ": metadata " + key + " is malformed");
    e.count = count;
    return e;
}

std::string checkpoint_file(const std::string& path_or_dir) {
    return is_directory(path_or_dir) ? path_or_dir + "/checkpoint.safetensors" : path_or_dir;
}

Checkpoint load_checkpoint(const std::string& path) {
    Checkpoint c;
    c.file = load_safetensors(path);
    const std::string* format = c.file.find_meta("format");
    if (!format || *format != "lrtransfer-checkpoint")
        fail(path + ": not an lrtransfer checkpoint (metadata 'format' is missing or different)");
    if (c.file.meta("format_version") != "1")
        fail(path + ": checkpoint format version " + c.file.meta("format_version") + " is not supported (expected 1)");
    c.config = model_config_from_json(c.file.meta("model_config"));
    // The model the config describes must be the one whose tensors the file
    // holds, checked before anyone allocates it: a corrupt config of a few
    // bytes could otherwise ask for gigabytes.
    for (const TensorInfo& t : build_tensor_table(c.config).tensors)
        for (const char* prefix : {"", "optimizer.m.", "optimizer.v."}) {
            if (t.frozen && *prefix) continue;  // no optimizer state
            const std::string name = prefix + t.name;
            const StTensor* found = c.file.find(name);
            if (!found)
                fail(path + ": model_config describes a model with tensor \"" + name + "\", which the file lacks");
            if (found->shape != t.shape64())
                fail(path + ": tensor \"" + name + "\" has shape " + format_shape(found->shape) +
                     " but model_config describes " + format_shape(t.shape64()));
        }
    c.train_flags_json = c.file.meta("train_flags");
    const uint64_t max_count = (uint64_t)1 << 53;  // steps and epochs: far beyond any run
    c.state.step = (int64_t)parse_u64(path, "step", c.file.meta("step"), 10, max_count);
    c.state.data_epoch = parse_u64(path, "data_epoch", c.file.meta("data_epoch"), 10, max_count);
    c.state.data_window = parse_u64(path, "data_window", c.file.meta("data_window"), 10, max_count);
    std::string rng = c.file.meta("rng_state");
    size_t start = 0;
    for (int i = 0; i < 4; i++) {
        size_t comma = rng.find(',', start);
        if ((i < 3) != (comma != std::string::npos)) fail(path + ": metadata rng_state is malformed");
        c.state.rng_state[i] = parse_u64(path, "rng_state", rng.substr(start, comma - start), 16, UINT64_MAX);
        start = comma + 1;
    }
    // xoshiro's one state it never leaves (and never reaches from a seed)
    if ((c.state.rng_state[0] | c.state.rng_state[1] | c.state.rng_state[2] | c.state.rng_state[3]) == 0)
        fail(path + ": metadata rng_state is all zero, which no run produces; the checkpoint is corrupt");
    if (const std::string* ema = c.file.find_meta("noise_scale_ema")) c.state.noise = parse_noise_ema(path, *ema);
    if (const std::string* emas = c.file.find_meta("noise_scale_ema_tensors"))
        if (!emas->empty())
            for (const std::string& one : split(*emas, ';'))
                c.state.tensor_noise.push_back(parse_noise_ema(path, one, "noise_scale_ema_tensors"));
    if (const std::string* merged = c.file.find_meta("merged_from")) {
        if (merged->empty()) fail(path + ": metadata merged_from is empty");  // save_checkpoint never writes that
        c.state.merged_from = *merged;
    }
    return c;
}

// Copies one tensor out after checking its dtype and its exact shape (not
// only the element count: [6, 4] must not be read into a [4, 6] matrix), and
// that every value is finite (and, for Adam's second moment, not negative).
static void read_tensor(const Checkpoint& c, const std::string& name, const std::vector<int64_t>& shape, float* dst,
                        bool non_negative) {
    c.file.read_into(name, dst, shape);
    const size_t numel = c.file.get(name).numel();
    for (size_t i = 0; i < numel; i++)
        if (!std::isfinite(dst[i]) || (non_negative && dst[i] < 0))
            fail(c.file.source + ": tensor \"" + name + "\" holds " + std::to_string(dst[i]) + " at element " +
                 std::to_string(i) + "; the checkpoint is corrupt (a run never saves a non-finite state)");
}

void restore_checkpoint(const Checkpoint& c, GPT<float>& model, std::vector<float>& adam_m, std::vector<float>& adam_v,
                        std::vector<float>* spectral) {
    adam_m.assign(model.table.total, 0.0f);
    adam_v.assign(model.table.total, 0.0f);
    if (spectral) spectral->assign(model.table.spectral_total, 0.0f);
    for (const auto& t : model.table.tensors) {
        read_tensor(c, t.name, t.shape64(), model.params.data() + t.offset, false);
        if (t.frozen) continue;  // no optimizer state: its slots stay 0
        read_tensor(c, "optimizer.m." + t.name, t.shape64(), adam_m.data() + t.offset, false);
        read_tensor(c, "optimizer.v." + t.name, t.shape64(), adam_v.data() + t.offset, true);
        if (spectral && t.optim.decay_norm == DecayNorm::Spectral) {
            const std::string name = SPECTRAL_PREFIX + t.name;
            if (!c.file.find(name))
                fail(c.file.source + ": no \"" + name + "\": the checkpoint was not trained with spectral weight decay");
            read_tensor(c, name, {(int64_t)t.fan_in}, spectral->data() + t.optim.spectral_offset, false);
        }
    }
}

void restore_base_parameters(const Checkpoint& c, GPT<float>& model) {
    if (c.config.has_adapters())
        fail(c.file.source + " has LoRA adapters; fold them in first (lrt finetune --merge) and start from that file");
    for (const auto& t : model.table.tensors)
        if (!is_adapter(t.role)) read_tensor(c, t.name, t.shape64(), model.params.data() + t.offset, false);
}
