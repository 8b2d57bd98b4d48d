// LoRA-GA (docs/lora.md "LoRA-GA"): our truncated SVD against matrices with
// known singular vectors, the initialization's invariants (same logits at
// step 0, A and B built from disjoint singular vectors of the gradient), and
// `lrt finetune --lora-init ga` end to end, resumed bit for bit.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <vector>

#include "model/lora_ga.h"
#include "model/model.h"
#include "model/svd.h"
#include "finetune_helpers.h"
#include "test_helpers.h"
#include "train/checkpoint.h"
#include "train/finetune.h"
#include "train/memory_estimate.h"
#include "train/train.h"
#include "util/rng.h"

using Catch::Contains;

namespace {

std::vector<double> random_orthonormal(int rows, int cols, uint64_t seed) {
    Rng r(seed);
    std::vector<double> X((size_t)rows * cols);
    for (double& x : X) x = r.normal();
    orthonormalize_columns(X, rows, cols);
    return X;
}

// G (m, n) = U diag(s) V^T with U (m, p), V (n, p).
std::vector<double> compose(const std::vector<double>& U, const std::vector<double>& V, const std::vector<double>& s,
                            int m, int n) {
    const int p = (int)s.size();
    std::vector<double> G((size_t)m * n, 0.0);
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++)
            for (int l = 0; l < p; l++) G[(size_t)i * n + j] += U[(size_t)i * p + l] * s[l] * V[(size_t)j * p + l];
    return G;
}

// X^T Y for X (rows, a), Y (rows, b), columns [x0, x0+a) of X's `xc` and [0, b) of Y's `yc`.
std::vector<double> cross(const std::vector<double>& X, int xc, int x0, int a, const std::vector<double>& Y, int yc,
                          int b, int rows) {
    std::vector<double> out((size_t)a * b, 0.0);
    for (int i = 0; i < rows; i++)
        for (int p = 0; p < a; p++)
            for (int q = 0; q < b; q++) out[(size_t)p * b + q] += X[(size_t)i * xc + x0 + p] * Y[(size_t)i * yc + q];
    return out;
}

double sum_sq(const std::vector<double>& x) {
    double s = 0;
    for (double v : x) s += v * v;
    return s;
}

}  // namespace

TEST_CASE("truncated SVD recovers known singular values and subspaces", "[lora][lora-ga][svd]") {
    const int m = 40, n = 24, p = 24, k = 6;
    const std::vector<double> s = {10, 7, 5, 3.5, 2, 1.3, 0.9, 0.7, 0.5, 0.4, 0.3, 0.25,
                                   0.2, 0.15, 0.1, 0.08, 0.06, 0.05, 0.04, 0.03, 0.02, 0.015, 0.01, 0.005};
    const std::vector<double> U0 = random_orthonormal(m, p, 1), V0 = random_orthonormal(n, p, 2);
    // the reference basis is orthonormal to rounding (a check of the Gram-Schmidt the SVD uses too)
    const std::vector<double> I = cross(U0, p, 0, p, U0, p, p, m);
    for (int a = 0; a < p; a++)
        for (int b = 0; b < p; b++) REQUIRE(std::fabs(I[(size_t)a * p + b] - (a == b)) < 1e-13);
    const TruncatedSvd r = truncated_svd(compose(U0, V0, s, m, n), m, n, k);
    REQUIRE(r.k == k);
    for (int l = 0; l < k; l++) CHECK(std::fabs(r.S[l] - s[l]) <= 1e-8 * s[l]);
    // distinct values with gaps: each vector is the reference's up to sign
    const std::vector<double> cu = cross(r.U, k, 0, k, U0, p, k, m), cv = cross(r.V, k, 0, k, V0, p, k, n);
    for (int l = 0; l < k; l++) {
        CHECK(std::fabs(std::fabs(cu[(size_t)l * k + l]) - 1) < 1e-10);
        CHECK(std::fabs(std::fabs(cv[(size_t)l * k + l]) - 1) < 1e-10);
        CHECK(cu[(size_t)l * k + l] * cv[(size_t)l * k + l] > 0);  // the signs pair up: u s v^T is G's
    }
    // the subspaces: the cosines of the principal angles are all 1 when sum cos^2 = k
    CHECK(std::fabs(sum_sq(cu) - k) < 1e-10);
    CHECK(std::fabs(sum_sq(cv) - k) < 1e-10);
}

TEST_CASE("orthonormalize_columns refuses more columns than rows", "[lora-ga][svd]") {
    std::vector<double> X(3 * 4, 1.0);
    CHECK_THROWS_WITH(orthonormalize_columns(X, 3, 4), Contains("4 columns of length 3"));
}

TEST_CASE("truncated SVD with a repeated value and a rank-deficient matrix: the subspace is what is determined",
          "[lora][lora-ga][svd]") {
    const int m = 30, n = 20, p = 4;
    const std::vector<double> s = {5, 5, 5, 2};  // rank 4, the top value three times
    const std::vector<double> U0 = random_orthonormal(m, p, 3), V0 = random_orthonormal(n, p, 4);
    const std::vector<double> G = compose(U0, V0, s, m, n);
    // k = 3: the three vectors of the repeated value are any basis of their
    // span; the span itself is recovered
    const TruncatedSvd r3 = truncated_svd(G, m, n, 3);
    for (int l = 0; l < 3; l++) CHECK(std::fabs(r3.S[l] - 5) < 1e-10);
    CHECK(std::fabs(sum_sq(cross(r3.U, 3, 0, 3, U0, p, 3, m)) - 3) < 1e-10);
    CHECK(std::fabs(sum_sq(cross(r3.V, 3, 0, 3, V0, p, 3, n)) - 3) < 1e-10);
    // k = 6 past the rank: the zero values come out as 0, and U, V stay orthonormal
    const TruncatedSvd r6 = truncated_svd(G, m, n, 6);
    CHECK(std::fabs(r6.S[3] - 2) < 1e-10);
    CHECK(r6.S[4] < 1e-12);
    CHECK(r6.S[5] < 1e-12);
    const std::vector<double> uu = cross(r6.U, 6, 0, 6, r6.U, 6, 6, m), vv = cross(r6.V, 6, 0, 6, r6.V, 6, 6, n);
    for (int a = 0; a < 6; a++)
        for (int b = 0; b < 6; b++) {
            CHECK(std::fabs(uu[(size_t)a * 6 + b] - (a == b)) < 1e-10);
            CHECK(std::fabs(vv[(size_t)a * 6 + b] - (a == b)) < 1e-10);
        }
}

namespace {

ModelConfig ga_sizes() {
    ModelConfig c;
    c.vocab_size = 64;
    c.context_length = 16;
    c.width = 32;
    c.depth = 2;
    c.head_dim = 8;
    c.lora_rank = 3;
    c.lora_alpha = 6;  // scale 2, so a missing scale shows
    c.lora_targets = LORA_ALL_TARGETS;
    return c;
}

// rows (r, cols) of X: X X^T in double
std::vector<double> gram_rows(const float* X, int r, int cols) {
    std::vector<double> g((size_t)r * r, 0.0);
    for (int a = 0; a < r; a++)
        for (int b = 0; b < r; b++)
            for (int j = 0; j < cols; j++) g[(size_t)a * r + b] += (double)X[(size_t)a * cols + j] * X[(size_t)b * cols + j];
    return g;
}

}  // namespace

TEST_CASE("LoRA-GA init: a rank too large for the matrices is refused, the model left as it was", "[lora][lora-ga]") {
    ModelConfig c = ga_sizes();
    c.lora_rank = 17;  // 2r = 34 > 32 = width: every matrix has a side of 32
    GPT<float> adapted;
    gpt_build(adapted, c);
    gpt_init(adapted, 5);
    const std::vector<float> before = adapted.params;
    const std::vector<int> in = random_tokens(2 * 16, 64, 6), tgt = random_tokens(2 * 16, 64, 7);
    CHECK_THROWS_WITH(lora_ga_init(adapted, in.data(), tgt.data(), 2, 16), Contains("take a smaller --lora-rank"));
    CHECK(adapted.params == before);  // untouched
}

TEST_CASE("LoRA-GA init: the logits at step 0 are the plain model's; A and B are scaled singular vectors of the gradient",
          "[lora][lora-ga]") {
    GPT<float> adapted;
    gpt_build(adapted, ga_sizes());
    gpt_init(adapted, 5);
    GPT<float> plain;
    gpt_build(plain, ga_sizes().without_adapters());
    std::copy(adapted.params.begin(), adapted.params.begin() + plain.table.total, plain.params.begin());
    const int B = 4, T = 16;
    const std::vector<int> in = random_tokens(B * T, 64, 6), tgt = random_tokens(B * T, 64, 7);
    gpt_forward(plain, in.data(), tgt.data(), B, T);
    gpt_zero_grad(plain);
    gpt_backward(plain);  // the gradient LoRA-GA reads

    lora_ga_init(adapted, in.data(), tgt.data(), B, T);
    const std::vector<int> other = random_tokens(B * T, 64, 8);  // any input, not only the batch it saw
    gpt_forward(plain, other.data(), (const int*)nullptr, B, T);
    gpt_forward(adapted, other.data(), (const int*)nullptr, B, T);
    // W0 - s B A + s B A in fp32: rounding of O(1) logits (4e-7 measured), far below the ~1e-2
    // a missing or doubled adapter product would make
    double worst = 0;
    for (size_t i = 0; i < plain.logits.size(); i++)
        worst = std::max(worst, (double)std::fabs(plain.logits[i] - adapted.logits[i]));
    INFO("worst " << worst);
    CHECK(worst < 2e-5);

    const int r = 3;
    int checked = 0;
    for (const TensorInfo& W : plain.table.tensors) {
        const std::string stem = W.name.substr(0, W.name.size() - std::string("weight").size());
        const TensorInfo* a = adapted.table.find(stem + "lora_A");
        if (!a) continue;
        INFO(W.name);
        const TensorInfo& b = adapted.table.get(stem + "lora_B");
        const int fo = W.fan_out, fi = W.fan_in;
        REQUIRE(a->shape == std::vector<int>{r, fi});
        REQUIRE(b.shape == std::vector<int>{fo, r});
        const double c2 = std::sqrt((double)fo) / LORA_GA_GAMMA;  // the stable scale, squared
        const float* A = adapted.param(a->offset);
        const float* Bm = adapted.param(b.offset);
        // A's rows and B's columns: orthonormal times the scale
        std::vector<float> Bt((size_t)r * fo);
        for (int o = 0; o < fo; o++)
            for (int i = 0; i < r; i++) Bt[(size_t)i * fo + o] = Bm[(size_t)o * r + i];
        const std::vector<double> aa = gram_rows(A, r, fi), bb = gram_rows(Bt.data(), r, fo);
        for (int p = 0; p < r; p++)
            for (int q = 0; q < r; q++) {
                CHECK(aa[(size_t)p * r + q] == Approx(c2 * (p == q)).margin(1e-5 * c2));
                CHECK(bb[(size_t)p * r + q] == Approx(c2 * (p == q)).margin(1e-5 * c2));
            }
        // singular-vector structure: A's rows are right vectors (G A^T has
        // orthogonal columns, sigma_i^2 c^2 on the diagonal, decreasing), B's
        // columns are left vectors of other indices (B^T G A^T = 0), and G's
        // energy along A is the top of its spectrum (above B's share, which
        // comes from the next r values)
        const float* G = plain.grads.data() + W.offset;
        std::vector<double> GA((size_t)fo * r, 0.0), BtG((size_t)r * fi, 0.0);
        for (int o = 0; o < fo; o++)
            for (int j = 0; j < fi; j++)
                for (int i = 0; i < r; i++) {
                    GA[(size_t)o * r + i] += (double)G[(size_t)o * fi + j] * A[(size_t)i * fi + j];
                    BtG[(size_t)i * fi + j] += (double)Bm[(size_t)o * r + i] * G[(size_t)o * fi + j];
                }
        double top = 0, off = 0, cross_term = 0, next = 0;
        std::vector<double> diag(r, 0.0);
        for (int p = 0; p < r; p++)
            for (int q = 0; q < r; q++) {
                double d = 0, x = 0;
                for (int o = 0; o < fo; o++) d += GA[(size_t)o * r + p] * GA[(size_t)o * r + q];
                for (int o = 0; o < fo; o++) x += (double)Bm[(size_t)o * r + p] * GA[(size_t)o * r + q];
                (p == q ? top : off) += std::fabs(d);
                if (p == q) diag[p] = d;
                cross_term = std::max(cross_term, std::fabs(x));
            }
        for (double v : BtG) next += v * v;
        CHECK(off < 1e-4 * top);
        CHECK(cross_term < 1e-4 * std::sqrt(top) * std::sqrt(c2));
        for (int p = 0; p + 1 < r; p++) CHECK(diag[p] >= diag[p + 1] * (1 - 1e-6));
        CHECK(top > next);
        CHECK(top > 0);
        checked++;
    }
    CHECK(checked == 2 * 4);
}

namespace {

// |x - y| at its largest, and |x| at its largest
double max_diff(const std::vector<float>& x, const std::vector<float>& y) {
    double d = 0;
    for (size_t i = 0; i < x.size(); i++) d = std::max(d, (double)std::fabs(x[i] - y[i]));
    return d;
}
double max_abs(const std::vector<float>& x) { return max_diff(x, std::vector<float>(x.size(), 0.0f)); }

// The plain model's mean gradient over rows [0, B) of in/tgt, in one pass.
void one_pass_gradient(GPT<float>& plain, const GPT<float>& adapted, const int* in, const int* tgt, int B, int T) {
    gpt_build(plain, adapted.config.without_adapters());
    std::copy(adapted.params.begin(), adapted.params.begin() + plain.table.total, plain.params.begin());
    gpt_forward(plain, in, tgt, B, T);
    gpt_zero_grad(plain);
    gpt_backward(plain);
}

// Every float buffer the forward and backward passes and the parameters
// hold, in bytes (tests/test_run_safety.cpp's census).
double allocated_bytes(const GPT<float>& m) {
    double floats = 0;
    for (auto* v : {&m.params, &m.grads, &m.encoded, &m.lnf, &m.lnf_mean, &m.lnf_rstd, &m.logits, &m.probs, &m.losses,
                    &m.d_logits, &m.d_lnf, &m.d_stream, &m.d_branch, &m.d_ln, &m.d_attn_out, &m.d_qkv, &m.d_fc})
        floats += (double)v->capacity();
    for (const auto& a : m.acts)
        for (auto* v : {&a.ln1, &a.ln1_mean, &a.ln1_rstd, &a.qkv, &a.att, &a.attn_out, &a.attn_proj, &a.residual_mid,
                        &a.ln2, &a.ln2_mean, &a.ln2_rstd, &a.fc, &a.fc_gelu, &a.fc_proj, &a.residual_out})
            floats += (double)v->capacity();
    return 4 * floats + sizeof(int) * ((double)m.inputs.capacity() + m.targets.capacity());
}

}  // namespace

TEST_CASE("LoRA-GA's gradient: one pass bit for bit at --grad-accum 1, the same mean over 2 or 4 micro-batches",
          "[lora][lora-ga][grad-accum]") {
    GPT<float> adapted;
    gpt_build(adapted, ga_sizes());
    gpt_init(adapted, 5);
    const int B = 4, T = 16;
    const std::vector<int> in = random_tokens(B * T, 64, 6), tgt = random_tokens(B * T, 64, 7);
    GPT<float> whole, k1;
    one_pass_gradient(whole, adapted, in.data(), tgt.data(), B, T);
    lora_ga_gradient(k1, adapted, in.data(), tgt.data(), B, T, 1);
    REQUIRE(k1.grads == whole.grads);  // what the init computed before it took --grad-accum
    const double scale = max_abs(whole.grads);
    REQUIRE(scale > 0);
    for (int K : {2, 4}) {
        INFO("--grad-accum " << K);
        GPT<float> split;
        lora_ga_gradient(split, adapted, in.data(), tgt.data(), B, T, K);
        CHECK(max_diff(split.grads, whole.grads) < 1e-5 * scale);
        // the mean over all micro-batches, not one: the first alone is far off
        GPT<float> first;
        one_pass_gradient(first, adapted, in.data(), tgt.data(), B / K, T);
        CHECK(max_diff(first.grads, whole.grads) > 1e-2 * scale);
        // one micro-batch's activations, as training holds
        CHECK(split.logits.size() == whole.logits.size() / K);
    }
    CHECK_THROWS_WITH(lora_ga_gradient(k1, adapted, in.data(), tgt.data(), B, T, 3), Contains("divide the batch size 4"));
}

TEST_CASE("memory: the LoRA-GA estimate is what its gradient pass allocates", "[lora-ga][memory][safety]") {
    GPT<float> adapted;
    gpt_build(adapted, ga_sizes());
    gpt_init(adapted, 5);
    const int B = 4, T = 16;
    const std::vector<int> in = random_tokens(B * T, 64, 6), tgt = random_tokens(B * T, 64, 7);
    for (int K : {1, 2}) {
        INFO("--grad-accum " << K);
        GPT<float> plain;
        lora_ga_gradient(plain, adapted, in.data(), tgt.data(), B, T, K);
        // the running sum of the micro-batches' gradients: one more gradient-sized buffer
        const double actual = allocated_bytes(plain) + (K > 1 ? 4.0 * plain.grads.size() : 0);
        CHECK(estimate_lora_ga_memory(plain.config, plain.table.total, B, K, T) == actual);
    }
    // counted at the run's peak: the pass is over before the run's
    // activations and checkpoint writes exist, so the larger of the two
    MemoryEstimate e = estimate_train_memory(ga_sizes(), 1000, B, 1, T, false, 0, false);
    const double without = e.total();
    e.lora_ga = 1;
    CHECK(e.total() == without);
    e.lora_ga = e.activations + e.checkpointing + 1000;
    CHECK(e.total() == without + 1000);
    CHECK_THAT(e.describe(), Contains("LoRA-GA's gradient pass"));
}

// ---- lrt finetune --lora-init ga, in process (finetune_helpers.h) ----

TEST_CASE("lrt finetune --lora-init ga: same first loss, W0 shifted in the checkpoint, resume bit for bit",
          "[lora][lora-ga][checkpoint][train]") {
    TempDir base_dir, std_dir, whole_dir, part_dir, bad;
    REQUIRE(pretrain(base_dir.path).status == "done");
    const Settings lora = {{"from", base_dir.path}, {"lora-rank", "4"}, {"lora-alpha", "8"}, {"steps", "8"},
                             {"warmup-steps", "0"}, {"lr", "0.01"}, {"val-every", "4"}};
    Settings standard = lora, ga = lora;
    standard.push_back({"out-dir", std_dir.path});
    ga.push_back({"lora-init", "ga"});
    Settings whole_settings = ga;
    whole_settings.push_back({"out-dir", whole_dir.path});
    const TrainResult s = finetune(standard), whole = finetune(whole_settings);
    REQUIRE(whole.status == "done");
    // step 0's loss is the base model's on the same batch, either way (B = 0,
    // or W0 - s B A + s B A): equal to float rounding
    CHECK(whole.train_losses[0] == Approx(s.train_losses[0]).epsilon(1e-5));
    CHECK(whole.train_losses != s.train_losses);  // and then they differ
    const Checkpoint b = load_checkpoint(base_dir.path + "/checkpoint.safetensors"), w = load_checkpoint(whole.checkpoint_path);
    const std::string W = "transformer.h.1.mlp.c_fc.weight";
    CHECK(w.file.get(W).bytes != b.file.get(W).bytes);               // the shifted W0 is saved
    CHECK_FALSE(w.file.find("optimizer.m." + W));                   // and frozen
    CHECK(w.file.get("transformer.h.0.attn.c_proj.weight").bytes != b.file.get("transformer.h.0.attn.c_proj.weight").bytes);

    // interrupted and resumed: the same run (the resume does not redo the init)
    check_resume_matches(ga, part_dir.path, 3, whole, w);

    // refused: on --resume (the init is in the checkpoint) and without a rank
    CHECK_THROWS_WITH(finetune({{"resume", part_dir.path}, {"lora-init", "ga"}}),
                      Contains("a resumed run keeps the adapters"));
    CHECK_THROWS_WITH(finetune({{"from", base_dir.path}, {"lora-init", "ga"}, {"steps", "2"}, {"out-dir", bad.path}}),
                      Contains("--lora-init needs --lora-rank"));
}

namespace {

// Names of the matrices a checkpoint has adapters beside.
std::vector<std::string> adapted_matrices(const Checkpoint& c) {
    std::vector<std::string> out;
    for (const StTensor& t : c.file.tensors)
        if (t.name.rfind("transformer.", 0) == 0 && t.name.compare(t.name.size() - 7, 7, ".lora_A") == 0)
            out.push_back(t.name.substr(0, t.name.size() - 7) + ".weight");
    return out;
}

std::vector<float> floats(const StTensor& t) {
    REQUIRE(t.dtype == Dtype::F32);
    std::vector<float> out(t.numel());
    std::memcpy(out.data(), t.bytes.data(), 4 * out.size());
    return out;
}

// A fine-tuning run's LoRA-GA init redone apart from it: the base's tensors,
// batch `index` (0: the one step 0 trains on) of an independent copy of the
// run's data and loader, --grad-accum K. Into `m`, built from the run's config.
void redo_ga(GPT<float>& m, const Checkpoint& base, const Checkpoint& run, const Settings& settings, int index, int K) {
    gpt_build(m, run.config);
    restore_base_parameters(base, m);
    RunData data;
    load_finetune_data(data, settings);
    std::vector<int> in(4 * 32), tgt(in.size());  // finetune_helpers.h's batch
    for (int i = 0; i <= index; i++) data.train_loader.next_batch(in.data(), tgt.data());
    lora_ga_init(m, in.data(), tgt.data(), 4, 32, K);
}

// The run's W0 - s B A (frozen: any checkpoint of the run holds the init's)
// against m's, |difference| at its largest, and |s B A| at its largest.
std::pair<double, double> ga_difference(const Checkpoint& base, const Checkpoint& run, const GPT<float>& m) {
    double diff = 0, shift = 0;
    const std::vector<std::string> names = adapted_matrices(run);
    REQUIRE(names.size() == 2 * 4);
    for (const std::string& name : names) {
        const std::vector<float> w = floats(run.file.get(name)), w0 = floats(base.file.get(name));
        const TensorInfo& t = m.table.get(name);
        diff = std::max(diff, max_diff(w, std::vector<float>(m.param(t.offset), m.param(t.offset) + t.numel)));
        shift = std::max(shift, max_diff(w, w0));
    }
    return {diff, shift};
}

}  // namespace

TEST_CASE("lrt finetune --lora-init ga: the adapters come from the batch step 0 trains on", "[lora][lora-ga][train]") {
    TempDir base_dir, run_dir;
    REQUIRE(pretrain(base_dir.path).status == "done");
    const Settings settings = {{"from", base_dir.path}, {"lora-rank", "4"}, {"lora-alpha", "8"}, {"steps", "2"},
                               {"warmup-steps", "0"}, {"lr", "0.01"}, {"lora-init", "ga"}, {"out-dir", run_dir.path}};
    REQUIRE(finetune(settings).status == "done");
    const Checkpoint base = load_checkpoint(base_dir.path + "/checkpoint.safetensors"),
                     run = load_checkpoint(run_dir.path + "/checkpoint.safetensors");
    // the first batch of an independent loader: the same W0 - s B A, bit for bit
    GPT<float> first, second;
    redo_ga(first, base, run, settings, 0, 1);
    const std::pair<double, double> same = ga_difference(base, run, first);
    INFO("first batch: max |difference| " << same.first << ", max |s B A| " << same.second);
    CHECK(same.second > 0);
    CHECK(same.first == 0);
    // the second batch (what a loader advanced once would give) is far off
    redo_ga(second, base, run, settings, 1, 1);
    const std::pair<double, double> other = ga_difference(base, run, second);
    INFO("second batch: max |difference| " << other.first);
    CHECK(other.first > 0.1 * other.second);
}

TEST_CASE("lrt finetune --lora-init ga --grad-accum 2: the adapters of --grad-accum 1 to float rounding",
          "[lora][lora-ga][grad-accum][train]") {
    TempDir base_dir, one_dir, two_dir;
    REQUIRE(pretrain(base_dir.path).status == "done");
    const Settings settings = {{"from", base_dir.path}, {"lora-rank", "4"}, {"lora-alpha", "8"}, {"steps", "2"},
                               {"warmup-steps", "0"}, {"lr", "0.01"}, {"lora-init", "ga"}};
    Settings one = settings, two = settings;
    one.push_back({"out-dir", one_dir.path});
    two.push_back({"out-dir", two_dir.path});
    two.push_back({"grad-accum", "2"});
    REQUIRE(finetune(one).status == "done");
    REQUIRE(finetune(two).status == "done");
    const Checkpoint base = load_checkpoint(base_dir.path + "/checkpoint.safetensors"),
                     k1 = load_checkpoint(one_dir.path + "/checkpoint.safetensors"),
                     k2 = load_checkpoint(two_dir.path + "/checkpoint.safetensors");
    // the run's init took --grad-accum: redone in 2 micro-batches, bit for bit
    GPT<float> redone;
    redo_ga(redone, base, k2, two, 0, 2);
    CHECK(ga_difference(base, k2, redone).first == 0);
    // and s B A (the product: each singular vector is fixed only up to sign)
    // is --grad-accum 1's to float rounding, as the mean gradient is (2e-5
    // of the largest entry measured, the gradient's rounding amplified by
    // the singular gaps; the first micro-batch alone gives 1.4)
    double diff = 0, shift = 0;
    for (const std::string& name : adapted_matrices(k1)) {
        const std::vector<float> w1 = floats(k1.file.get(name)), w2 = floats(k2.file.get(name));
        diff = std::max(diff, max_diff(w1, w2));
        shift = std::max(shift, max_diff(w1, floats(base.file.get(name))));
    }
    INFO("max |W0' difference| " << diff << ", max |s B A| " << shift);
    CHECK(shift > 0);
    CHECK(diff < 1e-3 * shift);
}
