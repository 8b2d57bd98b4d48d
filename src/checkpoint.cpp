#include "checkpoint.h"

#include <cinttypes>
#include <cstdio>
#include <cctype>
#include <cstdlib>

#include "util.h"

void save_checkpoint(const std::string& path, const GPT<float>& model, const std::vector<float>& adam_m,
                     const std::vector<float>& adam_v, const TrainState& state, const std::string& train_flags_json) {
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
    for (const auto& t : model.table.tensors) st.add(t.name, t.shape64(), model.params.data() + t.offset);
    for (const auto& t : model.table.tensors) st.add("optimizer.m." + t.name, t.shape64(), adam_m.data() + t.offset);
    for (const auto& t : model.table.tensors) st.add("optimizer.v." + t.name, t.shape64(), adam_v.data() + t.offset);
    save_safetensors(path, st);
}

static uint64_t parse_u64(const std::string& path, const std::string& key, const std::string& text, int base) {
    char* end = nullptr;
    unsigned long long x = std::strtoull(text.c_str(), &end, base);
    if (text.empty() || !std::isxdigit((unsigned char)text[0]) || *end != '\0') fail(path + ": metadata " + key + " = '" + text + "' is not a number");
    return (uint64_t)x;
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
    c.train_flags_json = c.file.meta("train_flags");
    c.state.step = (int64_t)parse_u64(path, "step", c.file.meta("step"), 10);
    c.state.data_epoch = parse_u64(path, "data_epoch", c.file.meta("data_epoch"), 10);
    c.state.data_window = parse_u64(path, "data_window", c.file.meta("data_window"), 10);
    std::string rng = c.file.meta("rng_state");
    size_t start = 0;
    for (int i = 0; i < 4; i++) {
        size_t comma = rng.find(',', start);
        if ((i < 3) != (comma != std::string::npos)) fail(path + ": metadata rng_state is malformed");
        c.state.rng_state[i] = parse_u64(path, "rng_state", rng.substr(start, comma - start), 16);
        start = comma + 1;
    }
    return c;
}

void restore_checkpoint(const Checkpoint& c, GPT<float>& model, std::vector<float>& adam_m, std::vector<float>& adam_v) {
    adam_m.assign(model.table.total, 0.0f);
    adam_v.assign(model.table.total, 0.0f);
    for (const auto& t : model.table.tensors) {
        c.file.read_into(t.name, model.params.data() + t.offset, t.numel);
        c.file.read_into("optimizer.m." + t.name, adam_m.data() + t.offset, t.numel);
        c.file.read_into("optimizer.v." + t.name, adam_v.data() + t.offset, t.numel);
    }
}
