// Reference states: the committed files regenerate bit for bit (so any change
// to the numerics shows in review), and a file's contents agree with an
// independent computation from its own inputs (AdamW written out here from
// the textbook formulas, with the per-tensor settings of docs/science.md §3–4).
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
#include "io/dtype_convert.h"
#include "test_helpers.h"
#include "util/util.h"

namespace {

ReferenceConfig small_config(const std::string& preset, const std::string& wd_mode, double wd) {
    std::string ignored;
    ReferenceConfig c = reference_config_from_json("{}", &ignored);  // the command's defaults
    c.model.width = 32;
    c.param.d_base = 8;  // m = 4
    c.param.preset = parse_preset(preset);
    c.param.wd_mode = parse_wd_mode(wd_mode);
    c.optim.weight_decay = wd;
    c.steps = 4;
    c.dtype = Dtype::F64;
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
            std::vector<double> init = tensor_as_doubles(st.get("init." + t.name));
            REQUIRE(init.size() == t.numel);
            for (size_t i = 0; i < t.numel; i++) REQUIRE(init[i] == (double)f.params[t.offset + i]);
            std::copy(init.begin(), init.end(), model.params.begin() + t.offset);
        }
        std::vector<double> in = tensor_as_doubles(st.get("inputs")), tg;
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
        REQUIRE(tensor_as_doubles(st.get("loss"))[0] == loss0);
        REQUIRE(tensor_as_doubles(st.get("logits")) == model.logits);
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
                    std::vector<double> g = tensor_as_doubles(st.get("grad." + t.name));
                    for (size_t i = 0; i < t.numel; i++) REQUIRE(g[i] == model.grads[t.offset + i]);
                }
            for (const auto& t : model.table.tensors) {
                const bool hidden = t.role == TensorRole::HiddenMatrix, readout = t.role == TensorRole::Readout;
                const double lr = c.optim.lr * (hidden ? 1.0 / m_width : 1.0);
                const double decay = !(hidden || readout) ? 0.0 : md == "coupled" ? lr * wd : wd;
                for (size_t i = t.offset; i < t.offset + t.numel; i++) {
                    double g = model.grads[i];
                    mom[i] = c.optim.beta1 * mom[i] + (1 - c.optim.beta1) * g;
                    vel[i] = c.optim.beta2 * vel[i] + (1 - c.optim.beta2) * g * g;
                    double mhat = mom[i] / (1 - std::pow(c.optim.beta1, step)), vhat = vel[i] / (1 - std::pow(c.optim.beta2, step));
                    model.params[i] = model.params[i] * (1 - decay) - lr * mhat / (std::sqrt(vhat) + c.optim.eps);
                }
            }
        }
        losses.push_back(gpt_forward(model, inputs.data(), targets.data(), B, T));
        std::vector<double> ref_losses = tensor_as_doubles(st.get("losses"));
        REQUIRE(ref_losses.size() == losses.size());
        for (size_t i = 0; i < losses.size(); i++) REQUIRE(ref_losses[i] == Approx(losses[i]).epsilon(1e-12));
        REQUIRE(ref_losses.back() < ref_losses.front() - 0.1);  // the steps did something
        for (const auto& t : model.table.tensors) {
            std::vector<double> fin = tensor_as_doubles(st.get("final." + t.name));
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
        REQUIRE(qkv.at("lr").as_number() == Approx(c.optim.lr / 4));
        REQUIRE(qkv.at("decay_per_step").as_number() == Approx(md == "coupled" ? c.optim.lr / 4 * wd : wd));
        REQUIRE(parse_json(st.meta("parameterization")).at("wd_mode").as_string() == md);
        REQUIRE(parse_json(st.meta("parameterization")).at("width_multiplier").as_number() == 4.0);
    }
}

TEST_CASE("f32 reference states are the f64 values rounded once", "[reference]") {
    ReferenceConfig c = small_config("sp", "coupled", 0.1);
    SafeTensors a = make_reference(c, "{}");
    c.dtype = Dtype::F32;
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
        std::vector<double> x = tensor_as_doubles(a.tensors[i]), y = tensor_as_doubles(b.tensors[i]);
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

// ---------------------------------------------------------------------------
// Muon, SGD and spectral decay, written out by hand from docs/optimizers.md's
// formulas (plain loops in double: no gemm, no library kernel), against what
// make_reference stores.
namespace {

using Matrix = std::vector<double>;  // row-major

Matrix matmul(const Matrix& a, const Matrix& b, int n, int k, int m, bool ta = false, bool tb = false) {
    Matrix c((size_t)n * m, 0.0);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < m; j++) {
            double s = 0;
            for (int l = 0; l < k; l++) s += (ta ? a[(size_t)l * n + i] : a[(size_t)i * k + l]) *
                                         (tb ? b[(size_t)j * k + l] : b[(size_t)l * m + j]);
            c[(size_t)i * m + j] = s;
        }
    return c;
}

// X = G / (|G|_F + 1e-7), transposed to rows <= cols; steps of
// X <- a X + (b A + c A A) X, A = X X^T; transposed back
Matrix newton_schulz_by_hand(Matrix g, int rows, int cols, int steps, double a, double b, double c) {
    const bool tall = rows > cols;
    if (tall) {
        Matrix t(g.size());
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < cols; j++) t[(size_t)j * rows + i] = g[(size_t)i * cols + j];
        g = t;
        std::swap(rows, cols);
    }
    double norm = 0;
    for (double x : g) norm += x * x;
    norm = std::sqrt(norm) + 1e-7;
    for (double& x : g) x /= norm;
    for (int s = 0; s < steps; s++) {
        Matrix A = matmul(g, g, rows, cols, rows, false, true);
        Matrix AA = matmul(A, A, rows, rows, rows);
        for (size_t i = 0; i < A.size(); i++) A[i] = b * A[i] + c * AA[i];
        Matrix BX = matmul(A, g, rows, rows, cols);
        for (size_t i = 0; i < g.size(); i++) g[i] = a * g[i] + BX[i];
    }
    if (tall) {
        Matrix t(g.size());
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < cols; j++) t[(size_t)j * rows + i] = g[(size_t)i * cols + j];
        g = t;
    }
    return g;
}

// v <- W^T W v / |.|, `iters` times (from all-ones / sqrt(n) when v is 0);
// then W -= d (W v) v^T
void spectral_decay_by_hand(double* w, int rows, int cols, std::vector<double>& v, double d, int iters) {
    bool fresh = true;
    for (double x : v) fresh &= x == 0;
    if (fresh) {
        v.assign(cols, 1.0 / std::sqrt((double)cols));
        iters = std::max(iters, 10);
    }
    Matrix W(w, w + (size_t)rows * cols);
    for (int it = 0; it < iters; it++) {
        Matrix u = matmul(W, v, rows, cols, 1), x = matmul(W, u, cols, rows, 1, true);
        double n = 0;
        for (double y : x) n += y * y;
        for (int j = 0; j < cols; j++) v[j] = x[j] / std::sqrt(n);
    }
    Matrix u = matmul(W, v, rows, cols, 1);
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < cols; j++) w[(size_t)i * cols + j] -= d * u[i] * v[j];
}

}  // namespace

TEST_CASE("Muon, SGD and spectral-decay reference states agree with the updates written out by hand", "[reference]") {
    for (const char* file : {"w16_muon-wdspectral-mup", "w16_muon-keller-sp", "w16_muon-moonlight-mup", "w16_sgd-mup",
                             "w16_adamw-wdspectral-mup"}) {
        INFO(file);
        SafeTensors st = load_safetensors(std::string("data/reference/") + file + ".safetensors");
        std::string flags;
        ReferenceConfig c = reference_config_from_json(st.meta("flags"), &flags);
        c.dtype = Dtype::F64;
        st = make_reference(c, flags);  // the same settings, stored in double
        const ModelConfig sizes = model_sizes(c.model, c.seq_len);
        GPT<double> model;
        gpt_build_parameterized(model, sizes, with_head_dim_base(c.param, c.model), c.optim);
        for (const auto& t : model.table.tensors) {
            std::vector<double> init = tensor_as_doubles(st.get("init." + t.name));
            std::copy(init.begin(), init.end(), model.params.begin() + t.offset);
        }
        std::vector<int> inputs, targets;
        for (size_t i = 0; i < st.get("inputs").numel(); i++) {
            int64_t a, b;
            std::memcpy(&a, st.get("inputs").bytes.data() + 8 * i, 8);
            std::memcpy(&b, st.get("targets").bytes.data() + 8 * i, 8);
            inputs.push_back((int)a);
            targets.push_back((int)b);
        }
        const OptimizerConfig& o = c.optim;
        const double m = (double)c.model.width / c.param.d_base;
        const bool mup = c.param.preset == Preset::MuP;
        JsonValue rows = parse_json(st.meta("tensors"));
        std::vector<double> mom(model.table.total, 0), vel(model.table.total, 0);
        std::vector<std::vector<double>> v1(model.table.tensors.size());
        for (int step = 1; step <= c.steps; step++) {
            gpt_forward(model, inputs.data(), targets.data(), c.batch_size, c.seq_len);
            gpt_zero_grad(model);
            gpt_backward(model);
            for (size_t k = 0; k < model.table.tensors.size(); k++) {
                const TensorInfo& t = model.table.tensors[k];
                const bool hidden = t.role == TensorRole::HiddenMatrix;
                const bool decayed = hidden || t.role == TensorRole::Readout;  // --wd-set matrices
                const bool adam = !hidden || o.hidden == OptimizerKind::AdamW;
                // the LR by hand: µP's 1/m for AdamW's hidden matrices and for Muon's moonlight scale only
                const bool one_over_m = mup && hidden && (adam || o.muon_scale == MuonScale::Moonlight);
                const double lr = (hidden ? o.lr : o.resolved_adam_lr()) * (one_over_m ? 1.0 / m : 1.0);
                const double d = decayed ? lr * o.weight_decay : 0.0;  // coupled
                REQUIRE(rows.at(k).at("lr").as_number() == Approx(lr));
                double* p = model.params.data() + t.offset;
                const double* g = model.grads.data() + t.offset;
                double frobenius = d;
                if (d > 0 && o.wd_norm == DecayNorm::Spectral) {
                    v1[k].resize(t.fan_in, 0.0);
                    spectral_decay_by_hand(p, t.fan_out, t.fan_in, v1[k], d, o.spectral_iters);
                    frobenius = 0;
                }
                if (adam) {
                    for (size_t i = 0; i < t.numel; i++) {
                        double& mi = mom[t.offset + i];
                        double& vi = vel[t.offset + i];
                        mi = o.beta1 * mi + (1 - o.beta1) * g[i];
                        vi = o.beta2 * vi + (1 - o.beta2) * g[i] * g[i];
                        const double mhat = mi / (1 - std::pow(o.beta1, step)), vhat = vi / (1 - std::pow(o.beta2, step));
                        p[i] = p[i] * (1 - frobenius) - lr * mhat / (std::sqrt(vhat) + o.eps);
                    }
                } else if (o.hidden == OptimizerKind::Muon) {
                    Matrix u(t.numel);
                    for (size_t i = 0; i < t.numel; i++) {
                        double& mi = mom[t.offset + i];
                        mi = o.muon_momentum * mi + g[i];
                        u[i] = o.muon_nesterov ? o.muon_momentum * mi + g[i] : mi;
                    }
                    const bool quintic = o.muon_coefficients == NSCoefficients::Quintic;
                    Matrix orth = newton_schulz_by_hand(u, t.fan_out, t.fan_in, o.muon_ns_steps, quintic ? 3.4445 : 1.875,
                                                        quintic ? -4.7750 : -1.25, quintic ? 2.0315 : 0.375);
                    const double r = (double)t.fan_out / t.fan_in;
                    const double scale = o.muon_scale == MuonScale::Keller      ? std::sqrt(std::max(1.0, r))
                                         : o.muon_scale == MuonScale::Moonlight ? 0.2 * std::sqrt((double)std::max(t.fan_out, t.fan_in))
                                         : o.muon_scale == MuonScale::Spectral  ? std::sqrt(r)
                                                                                : 1.0;
                    REQUIRE(rows.at(k).at("scale").as_number() == Approx(scale));
                    for (size_t i = 0; i < t.numel; i++) p[i] = p[i] * (1 - frobenius) - lr * scale * orth[i];
                } else {  // SGD
                    for (size_t i = 0; i < t.numel; i++) {
                        double& b = mom[t.offset + i];
                        b = o.sgd_momentum * b + g[i];
                        const double u = o.sgd_nesterov ? g[i] + o.sgd_momentum * b : b;
                        p[i] = p[i] * (1 - frobenius) - lr * u;
                    }
                }
            }
        }
        for (const auto& t : model.table.tensors) {
            std::vector<double> fin = tensor_as_doubles(st.get("final." + t.name));
            INFO(t.name);
            for (size_t i = 0; i < t.numel; i++)
                REQUIRE(fin[i] == Approx(model.params[t.offset + i]).epsilon(1e-9).margin(1e-12));
        }
        std::vector<double> losses = tensor_as_doubles(st.get("losses"));
        REQUIRE(losses.back() < losses.front() - 0.1);  // the steps did something
    }
}
