// Whole-model checks: the fast forward pass against a literal GPT-2 written
// independently below, and d loss / d params against finite differences for
// every parameter tensor, in double precision.
#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

#include "gradcheck.h"
#include "model/model.h"
#include "util/rng.h"

using Mat = std::vector<std::vector<double>>;

// ---- an independent, deliberately plain GPT-2 (per sequence, 2-D arrays) ----
struct Reference {
    const GPT<double>& m;
    const double* p(const std::string& name) const { return m.params.data() + m.table.get(name).offset; }
    bool has(const std::string& name) const { return m.table.find(name) != nullptr; }

    Mat linear(const Mat& x, const std::string& prefix, int out) const {
        const double* W = p(prefix + ".weight");
        const double* b = has(prefix + ".bias") ? p(prefix + ".bias") : nullptr;
        int in = (int)x[0].size();
        Mat y(x.size(), std::vector<double>(out));
        for (size_t t = 0; t < x.size(); t++)
            for (int o = 0; o < out; o++) {
                double s = b ? b[o] : 0.0;
                for (int i = 0; i < in; i++) s += W[o * in + i] * x[t][i];
                y[t][o] = s;
            }
        return y;
    }
    Mat layernorm(const Mat& x, const std::string& prefix) const {
        const double* w = p(prefix + ".weight");
        const double* b = has(prefix + ".bias") ? p(prefix + ".bias") : nullptr;
        Mat y = x;
        for (auto& row : y) {
            double mu = 0, var = 0;
            for (double v : row) mu += v;
            mu /= row.size();
            for (double v : row) var += (v - mu) * (v - mu);
            var /= row.size();
            for (size_t c = 0; c < row.size(); c++)
                row[c] = (row[c] - mu) / std::sqrt(var + 1e-5) * w[c] + (b ? b[c] : 0.0);
        }
        return y;
    }
    // loss of one sequence; logits (T,V) returned through `logits`
    double sequence_loss(const int* tok, const int* tgt, int T, Mat* logits) const {
        const ModelConfig& c = m.config;
        const int C = c.width, V = c.vocab_size, NH = c.num_heads(), hs = c.head_dim;
        Mat x(T, std::vector<double>(C));
        for (int t = 0; t < T; t++)
            for (int i = 0; i < C; i++)
                x[t][i] = c.embedding_multiplier * (p("transformer.wte.weight")[tok[t] * C + i] +
                                                    p("transformer.wpe.weight")[t * C + i]);
        for (int l = 0; l < c.depth; l++) {
            std::string pre = "transformer.h." + std::to_string(l) + ".";
            Mat qkv = linear(layernorm(x, pre + "ln_1"), pre + "attn.c_attn", 3 * C);
            Mat y(T, std::vector<double>(C, 0.0));
            for (int h = 0; h < NH; h++)
                for (int t = 0; t < T; t++) {
                    std::vector<double> s(T, -INFINITY);
                    double mx = -INFINITY, z = 0;
                    for (int u = 0; u <= t; u++) {
                        double d = 0;
                        for (int i = 0; i < hs; i++) d += qkv[t][h * hs + i] * qkv[u][C + h * hs + i];
                        s[u] = d * c.attention_scale;  // the tests set it explicitly
                        mx = std::max(mx, s[u]);
                    }
                    for (int u = 0; u <= t; u++) z += std::exp(s[u] - mx);
                    for (int u = 0; u <= t; u++)
                        for (int i = 0; i < hs; i++)
                            y[t][h * hs + i] += std::exp(s[u] - mx) / z * qkv[u][2 * C + h * hs + i];
                }
            Mat a = linear(y, pre + "attn.c_proj", C);
            for (int t = 0; t < T; t++)
                for (int i = 0; i < C; i++) x[t][i] += c.residual_multiplier * a[t][i];
            Mat f = linear(layernorm(x, pre + "ln_2"), pre + "mlp.c_fc", 4 * C);
            for (auto& row : f)
                for (double& v : row) v = 0.5 * v * (1 + std::tanh(std::sqrt(2 / M_PI) * (v + 0.044715 * v * v * v)));
            Mat o = linear(f, pre + "mlp.c_proj", C);
            for (int t = 0; t < T; t++)
                for (int i = 0; i < C; i++) x[t][i] += c.residual_multiplier * o[t][i];
        }
        Mat h = layernorm(x, "transformer.ln_f");
        const double* Wout = p(c.tie_embeddings ? "transformer.wte.weight" : "lm_head.weight");
        double loss = 0;
        logits->assign(T, std::vector<double>(V));
        for (int t = 0; t < T; t++) {
            for (int v = 0; v < V; v++) {
                double s = 0;
                for (int i = 0; i < C; i++) s += Wout[v * C + i] * h[t][i];
                (*logits)[t][v] = c.readout_multiplier * s;
            }
            double mx = *std::max_element((*logits)[t].begin(), (*logits)[t].end()), z = 0;
            for (double v : (*logits)[t]) z += std::exp(v - mx);
            loss += std::log(z) + mx - (*logits)[t][tgt[t]];
        }
        return loss;
    }
};

static ModelConfig small_config(bool bias, bool tied) {
    ModelConfig c;
    c.vocab_size = 7;
    c.context_length = 6;
    c.width = 8;
    c.head_dim = 4;
    c.depth = 2;
    c.bias = bias;
    c.tie_embeddings = tied;
    // non-default multipliers, so their gradients are checked too
    c.embedding_multiplier = 1.3;
    c.readout_multiplier = 0.7;
    c.residual_multiplier = 0.8;
    c.attention_scale = 0.45;  // the reference reads it directly, not 1/sqrt(head_dim)
    return c;
}

// O(1) random weights (GPT-2's 0.02 init would leave the model nearly linear
// and the check weak).
static void randomize(GPT<double>& m, uint64_t seed) {
    Rng r(seed);
    for (const auto& t : m.table.tensors) {
        double* p = m.params.data() + t.offset;
        for (size_t i = 0; i < t.numel; i++) {
            double z = r.normal();
            p[i] = t.role == TensorRole::NormGain ? 1.0 + 0.3 * z : (t.role == TensorRole::Bias || t.role == TensorRole::NormBias ? 0.2 * z : 0.5 * z);
        }
    }
}

struct Batch {
    int B = 2, T = 5;
    std::vector<int> in, tgt;
    explicit Batch(int V, uint64_t seed) {
        Rng r(seed);
        for (int i = 0; i < B * T; i++) {
            in.push_back((int)r.below(V));
            tgt.push_back((int)r.below(V));
        }
    }
};

TEST_CASE("model forward agrees with a literal GPT-2", "[model]") {
    for (bool bias : {true, false})
        for (bool tied : {false, true}) {
            GPT<double> m;
            gpt_build(m, small_config(bias, tied));
            randomize(m, 11);
            Batch batch(m.config.vocab_size, 12);
            double loss = gpt_forward(m, batch.in.data(), batch.tgt.data(), batch.B, batch.T);
            Reference ref{m};
            double ref_loss = 0;
            for (int b = 0; b < batch.B; b++) {
                Mat logits;
                ref_loss += ref.sequence_loss(&batch.in[b * batch.T], &batch.tgt[b * batch.T], batch.T, &logits);
                for (int t = 0; t < batch.T; t++)
                    for (int v = 0; v < m.config.vocab_size; v++)
                        REQUIRE(m.logits[((size_t)b * batch.T + t) * m.config.vocab_size + v] ==
                                Approx(logits[t][v]).epsilon(1e-12).margin(1e-12));
            }
            ref_loss /= batch.B * batch.T;
            INFO("bias " << bias << " tied " << tied);
            REQUIRE(loss == Approx(ref_loss).epsilon(1e-13));
        }
}

TEST_CASE("model gradients match finite differences for every tensor", "[model][gradcheck]") {
    for (bool bias : {true, false})
        for (bool tied : {false, true}) {
            GPT<double> m;
            gpt_build(m, small_config(bias, tied));
            randomize(m, 21);
            Batch batch(m.config.vocab_size, 22);
            gpt_forward(m, batch.in.data(), batch.tgt.data(), batch.B, batch.T);
            gpt_zero_grad(m);
            gpt_backward(m);
            std::vector<double> analytic = m.grads;
            auto loss = [&] { return gpt_forward(m, batch.in.data(), batch.tgt.data(), batch.B, batch.T); };
            for (const auto& t : m.table.tensors) {
                INFO("bias " << bias << " tied " << tied);
                check_gradient(t.name, m.params.data() + t.offset, t.numel, analytic.data() + t.offset, loss);
                // every tensor influences the loss (wpe row T..maxT-1 aside)
                CHECK(max_abs(analytic.data() + t.offset, t.numel) > 1e-4);
            }
        }
}

TEST_CASE("float and double models agree", "[model]") {
    ModelConfig c = small_config(true, false);
    c.width = 16;
    c.vocab_size = 32;
    GPT<double> md;
    GPT<float> mf;
    gpt_build(md, c);
    gpt_build(mf, c);
    gpt_init(md, 5);
    gpt_init(mf, 5);
    for (size_t i = 0; i < md.params.size(); i++) REQUIRE((float)md.params[i] == mf.params[i]);
    Batch batch(c.vocab_size, 6);
    double ld = gpt_forward(md, batch.in.data(), batch.tgt.data(), batch.B, batch.T);
    double lf = gpt_forward(mf, batch.in.data(), batch.tgt.data(), batch.B, batch.T);
    REQUIRE(lf == Approx(ld).epsilon(1e-5));
    gpt_zero_grad(md);
    gpt_backward(md);
    gpt_zero_grad(mf);
    gpt_backward(mf);
    double scale = max_abs(md.grads.data(), md.grads.size());
    for (size_t i = 0; i < md.grads.size(); i++) REQUIRE(std::fabs(mf.grads[i] - md.grads[i]) <= 1e-4 * scale);
}

TEST_CASE("GPT-2 initialization follows the tensor table", "[model]") {
    ModelConfig c;
    c.width = 64;
    c.depth = 3;
    c.head_dim = 16;
    GPT<double> m;
    gpt_build(m, c);
    gpt_init(m, 1);
    auto stdev = [&](const std::string& name) {
        const TensorInfo& t = m.table.get(name);
        double s = 0;
        for (size_t i = 0; i < t.numel; i++) s += m.params[t.offset + i] * m.params[t.offset + i];
        return std::sqrt(s / t.numel);
    };
    CHECK(stdev("transformer.h.0.attn.c_attn.weight") == Approx(0.02).epsilon(0.03));
    CHECK(stdev("transformer.h.1.mlp.c_proj.weight") == Approx(0.02 / std::sqrt(6.0)).epsilon(0.03));
    const TensorInfo& g = m.table.get("transformer.h.2.ln_2.weight");
    for (size_t i = 0; i < g.numel; i++) REQUIRE(m.params[g.offset + i] == 1.0);
    // the table covers the buffer exactly, in order
    size_t expect = 0;
    for (const auto& t : m.table.tensors) {
        REQUIRE(t.offset == expect);
        expect += t.numel;
    }
    REQUIRE(expect == m.params.size());
    // GPT-2 small's count for V=256, T=128, d=64, L=3 (biases, untied):
    // embeddings + 3 * 12d^2 + 13d per block + final LN + readout
    size_t d = 64, expected = 256 * d + 128 * d + 3 * (12 * d * d + 13 * d) + 2 * d + 256 * d;
    REQUIRE(m.table.total == expected);
}

TEST_CASE("model rejects bad shapes and token ids", "[model]") {
    GPT<float> m;
    gpt_build(m, small_config(true, false));
    std::vector<int> in(2 * 7, 1), tgt(2 * 7, 1);
    REQUIRE_THROWS_WITH(gpt_forward(m, in.data(), tgt.data(), 2, 7), Catch::Contains("exceeds the model's context length 6"));
    in[3] = 7;
    REQUIRE_THROWS_WITH(gpt_forward(m, in.data(), tgt.data(), 2, 5), Catch::Contains("token id 7"));
    in[3] = 1;
    tgt[4] = -1;
    REQUIRE_THROWS_WITH(gpt_forward(m, in.data(), tgt.data(), 2, 5), Catch::Contains("target token id -1"));
    ModelConfig bad = small_config(true, false);
    bad.head_dim = 3;
    REQUIRE_THROWS_WITH(gpt_build(m, bad), Catch::Contains("not a multiple of --head-dim"));
}

// The measurements use gpt_matrix_input as each matrix's X: check it against
// the outputs the forward pass stored, X W^T + b = that matrix's output.
TEST_CASE("gpt_matrix_input is the input each weight matrix multiplies", "[model][measure]") {
    ModelConfig c;
    c.vocab_size = 40;
    c.context_length = 8;
    c.width = 16;
    c.depth = 2;
    c.head_dim = 4;
    c.readout_multiplier = 0.5;
    GPT<double> m;
    gpt_build(m, c);
    gpt_init(m, 5);
    std::vector<int> in(16);
    for (int i = 0; i < 16; i++) in[i] = (i * 7 + 3) % 40;
    gpt_forward(m, in.data(), (const int*)nullptr, 2, 8);
    int checked = 0;
    for (const TensorInfo& t : m.table.tensors) {
        const double* x = gpt_matrix_input(m, t);
        if (t.role != TensorRole::HiddenMatrix && t.role != TensorRole::Readout) {
            REQUIRE(x == nullptr);
            continue;
        }
        REQUIRE(x != nullptr);
        // the stored output and bias of this matrix, found by name here
        const std::vector<double>* out = nullptr;
        double scale = 1.0;
        std::string bias_name = t.name.substr(0, t.name.size() - 6) + "bias";
        if (t.role == TensorRole::Readout) out = &m.logits, scale = c.readout_multiplier;
        else if (t.name.find("attn.c_attn") != std::string::npos) out = &m.acts[t.layer].qkv;
        else if (t.name.find("attn.c_proj") != std::string::npos) out = &m.acts[t.layer].attn_proj;
        else if (t.name.find("mlp.c_fc") != std::string::npos) out = &m.acts[t.layer].fc;
        else if (t.name.find("mlp.c_proj") != std::string::npos) out = &m.acts[t.layer].fc_proj;
        REQUIRE(out != nullptr);
        const TensorInfo* bias = m.table.find(bias_name);
        const int K = t.fan_out, C = t.fan_in;
        for (int n = 0; n < 16; n += 5)
            for (int k = 0; k < K; k += 3) {
                double y = bias ? m.params[bias->offset + k] : 0.0;
                for (int i = 0; i < C; i++) y += x[(size_t)n * C + i] * m.params[t.offset + (size_t)k * C + i];
                INFO(t.name << " row " << n << " output " << k);
                REQUIRE((*out)[(size_t)n * K + k] == Approx(scale * y).epsilon(1e-12).margin(1e-14));
            }
        checked++;
    }
    REQUIRE(checked == 2 * 4 + 1);
}
