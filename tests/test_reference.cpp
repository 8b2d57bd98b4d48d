// Reference states: the committed files regenerate bit for bit (so any change
// to the numerics shows in review), and a file's contents agree with an
// independent computation from its own inputs (AdamW written out here from
// the textbook formulas, with the per-tensor settings of SCIENCE.md §3–4).
#include <catch2/catch.hpp>

#include <dirent.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "io/json.h"
#include "model/model.h"
#include "param/parameterization.h"
#include "study/reference.h"
#include "io/safetensors.h"
#include "test_helpers.h"
#include "util/util.h"

namespace {

std::vector<double> as_doubles(const StTensor& t) {
    std::vector<double> out(t.numel());
    for (size_t i = 0; i < out.size(); i++) {
        if (t.dtype == Dtype::F64) std::memcpy(&out[i], t.bytes.data() + 8 * i, 8);
        else {
            float f;
            std::memcpy(&f, t.bytes.data() + 4 * i, 4);
            out[i] = f;
        }
    }
    return out;
}

ReferenceConfig small_config(const std::string& preset, const std::string& wd_mode, double wd) {
    std::string ignored;
    ReferenceConfig c = reference_config_from_json("{}", &ignored);  // the command's defaults
    c.model.width = 32;
    c.param.d_base = 8;  // m = 4
    c.param.preset = preset;
    c.param.wd_mode = wd_mode;
    c.weight_decay = wd;
    c.steps = 4;
    c.dtype = "f64";
    return c;
}

}  // namespace

TEST_CASE("the committed reference states regenerate bit for bit", "[reference]") {
    std::vector<std::string> files = committed_references();
    REQUIRE(files.size() >= 6);
    for (const std::string& path : files) {
        INFO(path);
        std::vector<uint8_t> committed = read_file(path);
        SafeTensors st = parse_safetensors(committed, path);
        REQUIRE(st.meta("format") == "lrtransfer-reference");
        std::string flags;
        ReferenceConfig c = reference_config_from_json(st.meta("flags"), &flags);
        REQUIRE(flags == st.meta("flags"));  // no setting lost or renamed since the file was made
        std::vector<uint8_t> again = serialize_safetensors(make_reference(c, flags));
        REQUIRE(again.size() == committed.size());
        REQUIRE(again == committed);
    }
}

TEST_CASE("a reference state agrees with AdamW written out by hand", "[reference]") {
    for (const char* mode : {"coupled", "independent"}) {
        const std::string md = mode;
        const double wd = md == "coupled" ? 0.1 : 1e-3;
        ReferenceConfig c = small_config("mup", mode, wd);
        SafeTensors st = make_reference(c, "{}");
        // the initial parameters are lrt train's (float32, same seed)
        GPT<float> f;
        ModelConfig sizes = model_sizes(c.model, c.seq_len);
        gpt_build_parameterized(f, sizes, c.param);
        gpt_init(f, (uint64_t)c.seed);
        GPT<double> model;
        gpt_build_parameterized(model, sizes, c.param);
        for (const auto& t : model.table.tensors) {
            std::vector<double> init = as_doubles(st.get("init." + t.name));
            REQUIRE(init.size() == t.numel);
            for (size_t i = 0; i < t.numel; i++) REQUIRE(init[i] == (double)f.params[t.offset + i]);
            std::copy(init.begin(), init.end(), model.params.begin() + t.offset);
        }
        std::vector<double> in = as_doubles(st.get("inputs")), tg;
        REQUIRE(st.get("inputs").dtype == Dtype::I64);
        std::vector<int> inputs, targets;
        const StTensor& ti = st.get("inputs");
        const StTensor& tt = st.get("targets");
        for (size_t i = 0; i < ti.numel(); i++) {
            int64_t a, b;
            std::memcpy(&a, ti.bytes.data() + 8 * i, 8);
            std::memcpy(&b, tt.bytes.data() + 8 * i, 8);
            inputs.push_back((int)a);
            targets.push_back((int)b);
        }
        for (int b = 0; b < c.batch_size; b++)  // targets are the inputs shifted by one
            for (int t = 0; t + 1 < c.seq_len; t++) REQUIRE(targets[b * c.seq_len + t] == inputs[b * c.seq_len + t + 1]);
        const int B = c.batch_size, T = c.seq_len;
        double loss0 = gpt_forward(model, inputs.data(), targets.data(), B, T);
        REQUIRE(as_doubles(st.get("loss"))[0] == loss0);
        REQUIRE(as_doubles(st.get("logits")) == model.logits);
        // AdamW by hand: mup at m = 4 gives hidden matrices lr/4; matrices decay
        const double m_width = 4;
        std::vector<double> mom(model.table.total, 0), vel(model.table.total, 0);
        std::vector<double> losses = {loss0};
        for (int step = 1; step <= c.steps; step++) {
            if (step > 1) losses.push_back(gpt_forward(model, inputs.data(), targets.data(), B, T));
            gpt_zero_grad(model);
            gpt_backward(model);
            // the key bias's gradient is 0 in exact arithmetic; the file says so
            for (const auto& blk : model.blocks) {
                REQUIRE(std::fabs(model.grads[blk.qkv_b + 32]) < 1e-15);
                std::fill(model.grads.begin() + blk.qkv_b + 32, model.grads.begin() + blk.qkv_b + 64, 0.0);
            }
            if (step == 1)
                for (const auto& t : model.table.tensors) {
                    std::vector<double> g = as_doubles(st.get("grad." + t.name));
                    for (size_t i = 0; i < t.numel; i++) REQUIRE(g[i] == model.grads[t.offset + i]);
                }
            for (const auto& t : model.table.tensors) {
                const bool hidden = t.role == TensorRole::HiddenMatrix, readout = t.role == TensorRole::Readout;
                const double lr = c.lr * (hidden ? 1.0 / m_width : 1.0);
                const double decay = !(hidden || readout) ? 0.0 : md == "coupled" ? lr * wd : wd;
                for (size_t i = t.offset; i < t.offset + t.numel; i++) {
                    double g = model.grads[i];
                    mom[i] = c.beta1 * mom[i] + (1 - c.beta1) * g;
                    vel[i] = c.beta2 * vel[i] + (1 - c.beta2) * g * g;
                    double mhat = mom[i] / (1 - std::pow(c.beta1, step)), vhat = vel[i] / (1 - std::pow(c.beta2, step));
                    model.params[i] = model.params[i] * (1 - decay) - lr * mhat / (std::sqrt(vhat) + c.eps);
                }
            }
        }
        losses.push_back(gpt_forward(model, inputs.data(), targets.data(), B, T));
        std::vector<double> ref_losses = as_doubles(st.get("losses"));
        REQUIRE(ref_losses.size() == losses.size());
        for (size_t i = 0; i < losses.size(); i++) REQUIRE(ref_losses[i] == Approx(losses[i]).epsilon(1e-12));
        REQUIRE(ref_losses.back() < ref_losses.front() - 0.1);  // the steps did something
        for (const auto& t : model.table.tensors) {
            std::vector<double> fin = as_doubles(st.get("final." + t.name));
            INFO(md << " " << t.name);
            for (size_t i = 0; i < t.numel; i++) {
                INFO(std::scientific << fin[i] << " vs " << model.params[t.offset + i]);
                REQUIRE(fin[i] == Approx(model.params[t.offset + i]).epsilon(1e-11).margin(1e-14));
            }
        }
        // the metadata states each tensor's settings
        JsonValue tensors = parse_json(st.meta("tensors"));
        REQUIRE(tensors.size() == model.table.tensors.size());
        const JsonValue& qkv = tensors.at(4);  // wte, wpe, ln_1.weight, ln_1.bias, c_attn.weight
        REQUIRE(qkv.at("name").as_string() == "transformer.h.0.attn.c_attn.weight");
        REQUIRE(qkv.at("lr").as_number() == Approx(c.lr / 4));
        REQUIRE(qkv.at("decay_per_step").as_number() == Approx(md == "coupled" ? c.lr / 4 * wd : wd));
        REQUIRE(parse_json(st.meta("parameterization")).at("wd_mode").as_string() == md);
        REQUIRE(parse_json(st.meta("parameterization")).at("width_multiplier").as_number() == 4.0);
    }
}

TEST_CASE("f32 reference states are the f64 values rounded once", "[reference]") {
    ReferenceConfig c = small_config("sp", "coupled", 0.1);
    SafeTensors a = make_reference(c, "{}");
    c.dtype = "f32";
    SafeTensors b = make_reference(c, "{}");
    REQUIRE(a.tensors.size() == b.tensors.size());
    for (size_t i = 0; i < a.tensors.size(); i++) {
        INFO(a.tensors[i].name);
        REQUIRE(a.tensors[i].name == b.tensors[i].name);
        REQUIRE(a.tensors[i].shape == b.tensors[i].shape);
        if (a.tensors[i].dtype == Dtype::I64) {
            REQUIRE(a.tensors[i].bytes == b.tensors[i].bytes);
            continue;
        }
        REQUIRE(b.tensors[i].dtype == Dtype::F32);
        std::vector<double> x = as_doubles(a.tensors[i]), y = as_doubles(b.tensors[i]);
        for (size_t j = 0; j < x.size(); j++) REQUIRE(y[j] == (double)(float)x[j]);
    }
}

TEST_CASE("lrt reference: writes a file, refuses a missing --out", "[reference][cli]") {
    TempDir dir;
    std::string lrt = lrt_binary();
    CommandResult ok = run_command(lrt + " reference --param mup --d-base 16 --out " + dir.file("r.safetensors"));
    INFO(ok.output);
    REQUIRE(ok.exit_code == 0);
    SafeTensors st = load_safetensors(dir.file("r.safetensors"));
    REQUIRE(st.find("final.lm_head.weight") != nullptr);
    REQUIRE(st.get("logits").shape == std::vector<int64_t>{2, 8, 64});
    REQUIRE(st.get("loss").shape.empty());
    CommandResult missing = run_command(lrt + " reference --param mup");
    REQUIRE(missing.exit_code == 1);
    REQUIRE(missing.output.find("--out is required") != std::string::npos);
}
