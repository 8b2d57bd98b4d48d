// Reference states with LoRA adapters (docs/reference-states.md, LoRA
// files): checked against computations that do not use the adapter code, so
// a wrong scale, a wrong B init or a wrong LoRA+ ratio would show. (The
// committed LoRA files regenerate bit for bit in test_reference.cpp.) And
// lrt compare on a LoRA file: it passes and, one adapter element moved, fails.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>

#include "io/json.h"
#include "io/safetensors.h"
#include "model/model.h"
#include "param/parameterization.h"
#include "study/reference.h"
#include "io/dtype_convert.h"
#include "test_helpers.h"

namespace {

std::vector<double> doubles(const StTensor& t) {
    REQUIRE(t.dtype == Dtype::F64);
    return tensor_as_doubles(t);
}

// token ids (I64), exact as doubles (io/dtype_convert.h)
std::vector<int> ints(const StTensor& t) {
    const std::vector<double> d = tensor_as_doubles(t);
    return std::vector<int>(d.begin(), d.end());
}

// Small, in float64, one AdamW step without decay: rank 2, alpha 6 (scale 3),
// every matrix adapted, LoRA+ ratio 4.
ReferenceConfig lora_config() {
    std::string ignored;
    ReferenceConfig c = reference_config_from_json("{}", &ignored);
    c.model.width = 16;
    c.model.depth = 1;
    c.model.head_dim = 4;
    c.param.preset = parse_preset("mup");
    c.param.d_base = 4;
    c.optim.weight_decay = 0;
    c.steps = 1;
    c.dtype = Dtype::F64;
    c.lora.lora_rank = 2;
    c.lora.lora_alpha = 6;
    c.param.lora_plus_ratio = 4;
    return c;
}

}  // namespace

TEST_CASE("a LoRA reference state: the logits are the merged plain model's, frozen tensors have no grad or final",
          "[reference][lora]") {
    const ReferenceConfig c = lora_config();
    const SafeTensors st = make_reference(c, "{}");
    const JsonValue lora = parse_json(st.meta("lora"));
    REQUIRE(lora.at("scale").as_number() == 3.0);
    REQUIRE(lora.at("plus_ratio").as_number() == 4.0);

    // the plain model, its matrices merged by hand: W = W0 + 3 B A
    GPT<double> plain;
    gpt_build_parameterized(plain, model_sizes(c.model, c.seq_len), with_head_dim_base(c.param, c.model));
    int merged = 0;
    for (const TensorInfo& t : plain.table.tensors) {
        INFO(t.name);
        const std::vector<double> w = doubles(st.get("init." + t.name));
        std::copy(w.begin(), w.end(), plain.params.begin() + t.offset);
        // a frozen tensor: its value only
        REQUIRE(st.find("grad." + t.name) == nullptr);
        REQUIRE(st.find("final." + t.name) == nullptr);
        const std::string base = t.name.substr(0, t.name.size() - std::strlen(".weight"));
        if (st.find("init." + base + ".lora_A") == nullptr) continue;
        const std::vector<double> A = doubles(st.get("init." + base + ".lora_A")),
                                  B = doubles(st.get("init." + base + ".lora_B"));
        const int r = 2, C = t.fan_in, OC = t.fan_out;
        REQUIRE(A.size() == (size_t)r * C);
        REQUIRE(B.size() == (size_t)OC * r);
        double b2 = 0;
        for (double x : B) b2 += x * x;
        REQUIRE(std::sqrt(b2 / B.size()) > 0.01);  // B is drawn, not 0 (std 0.02)
        for (int o = 0; o < OC; o++)
            for (int i = 0; i < C; i++) {
                double s = 0;
                for (int k = 0; k < r; k++) s += B[(size_t)o * r + k] * A[(size_t)k * C + i];
                plain.params[t.offset + (size_t)o * C + i] += 3.0 * s;
            }
        merged++;
        // A's gradient is not 0 (it would be at B = 0)
        double g2 = 0;
        for (double x : doubles(st.get("grad." + base + ".lora_A"))) g2 += x * x;
        REQUIRE(g2 > 0);
    }
    REQUIRE(merged == 4);
    const std::vector<int> inputs = ints(st.get("inputs")), targets = ints(st.get("targets"));
    const double loss = gpt_forward(plain, inputs.data(), targets.data(), c.batch_size, c.seq_len);
    REQUIRE(std::abs(loss - doubles(st.get("loss"))[0]) < 1e-12);
    const std::vector<double> logits = doubles(st.get("logits"));
    REQUIRE(logits.size() == plain.logits.size());
    for (size_t i = 0; i < logits.size(); i++) REQUIRE(std::abs(logits[i] - plain.logits[i]) < 1e-10);
}

TEST_CASE("a LoRA reference state: AdamW's first step moves B by the LoRA+ ratio times A's learning rate",
          "[reference][lora]") {
    const ReferenceConfig c = lora_config();
    const SafeTensors st = make_reference(c, "{}");
    int adapters = 0;
    for (const StTensor& kv : st.tensors) {
        const std::string& name = kv.name;
        if (name.compare(0, 6, "final.") != 0) continue;
        const std::string p = name.substr(6);
        const bool is_b = p.size() > 7 && p.compare(p.size() - 7, 7, ".lora_B") == 0;
        REQUIRE((is_b || p.compare(p.size() - 7, 7, ".lora_A") == 0));  // only adapters have a final value
        // the first AdamW step, bias-corrected, no decay: p -= lr g / (|g| + eps)
        const double lr = c.optim.lr * (is_b ? 4.0 : 1.0);
        const std::vector<double> init = doubles(st.get("init." + p)), g = doubles(st.get("grad." + p)),
                                  fin = doubles(st.get("final." + p));
        for (size_t i = 0; i < g.size(); i++)
            REQUIRE(std::abs(fin[i] - (init[i] - lr * g[i] / (std::abs(g[i]) + c.optim.eps))) < 1e-12);
        adapters++;
    }
    REQUIRE(adapters == 8);
}

TEST_CASE("lrt reference with adapters: refuses adapter flags without a rank; lrt compare passes a LoRA file and "
          "fails it with one adapter element moved",
          "[reference][lora][cli][compare]") {
    const std::string lrt = lrt_binary();
    CommandResult no_rank = run_command(lrt + " reference --lora-plus-ratio 4 --out /dev/null");
    REQUIRE(no_rank.exit_code == 1);
    REQUIRE(no_rank.output.find("--lora-plus-ratio needs --lora-rank") != std::string::npos);
    // (that the committed file is what the code computes: test_reference.cpp
    // regenerates every file in data/reference, the LoRA ones included; here,
    // that lrt compare reads a LoRA file's adapter tensors)
    const std::string file = "data/reference/w16_lora-mup.safetensors";
    SafeTensors st = load_safetensors(file);
    REQUIRE(st.find_meta("lora") != nullptr);
    CommandResult same = run_command(lrt + " compare " + file + " " + file);
    INFO(same.output);
    REQUIRE(same.exit_code == 0);
    REQUIRE(same.output.find("0 failed, 0 missing") != std::string::npos);
    // one element of the first adapter's trained B, moved by 1%: far outside the default tolerance
    const std::string name = "final.transformer.h.0.attn.c_attn.lora_B";
    for (StTensor& t : st.tensors) {
        if (t.name != name) continue;
        REQUIRE(t.dtype == Dtype::F32);  // the committed file is f32
        float x;
        std::memcpy(&x, t.bytes.data(), 4);
        x = x * 1.01f + 1e-3f;
        std::memcpy(t.bytes.data(), &x, 4);
    }
    TempDir dir;
    save_safetensors(dir.file("moved.safetensors"), st);
    CommandResult moved = run_command(lrt + " compare " + file + " " + dir.file("moved.safetensors"));
    INFO(moved.output);
    CHECK(moved.exit_code == 1);
    CHECK(moved.output.find("FAIL  " + name) != std::string::npos);
    CHECK(moved.output.find(" 1 failed, 0 missing") != std::string::npos);
}
