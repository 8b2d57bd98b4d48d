// The GPU's optimizer step over a whole parameterized table whose rows mix
// optimizers and decay norms (Muon or SGD on the hidden matrices, AdamW on
// the rest, spectral decay on the decayed matrices), against the CPU's
// optimizer_step, and a model trained on the GPU with them against the CPU.
#include <catch2/catch.hpp>

#include <vector>

#include "../test_helpers.h"
#include "gpu_test_helpers.h"
#include "model/gpt_gpu.h"
#include "model/model.h"
#include "optim/optimizer.h"
#include "param/parameterization.h"
#include "train/backend.h"
#include "train/step.h"

using gpu_test::check_bitwise;
using gpu_test::check_close;
using gpu_test::random_floats;

namespace {

ModelConfig sizes() {
    ModelConfig c;
    c.vocab_size = 67;
    c.context_length = 16;
    c.width = 48;
    c.depth = 2;
    c.head_dim = 16;
    return c;
}

// Muon and spectral decay sum in another order on the GPU (cuBLAS, reductions
// over rows): float rounding, compounded over three steps
const double OPTIMIZER = 2e-5;

}  // namespace

TEST_CASE("gpu optimizer_step with Muon, SGD and spectral-decay rows agrees with the CPU", "[cuda][optimizer]") {
    REQUIRE_GPU_OR_SKIP();
    for (OptimizerKind kind : {OptimizerKind::Muon, OptimizerKind::SGD})
        for (DecayNorm norm : {DecayNorm::Frobenius, DecayNorm::Spectral}) {
            INFO(optimizer_name(kind) << " " << decay_norm_name(norm));
            OptimizerConfig o;
            o.hidden = kind;
            o.lr = kind == OptimizerKind::Muon ? 0.02 : 0.1;
            o.adam_lr = 0.01;
            o.wd_norm = norm;
            o.muon_scale = MuonScale::Spectral;
            GPT<float> model;
            ParamConfig pc = param_preset("mup", 16);  // m = 3
            gpt_build_parameterized(model, sizes(), pc, o);
            gpt_init(model, 5);
            const size_t n = model.table.total;
            std::vector<float> p = model.params;
            OptimizerState<float> state(model.table);
            gpu::Buffer<float> d_p(p), d_m(state.m), d_v(state.v), d_g(n);
            gpu::Buffer<float> d_s(std::vector<float>(std::max<size_t>(1, state.spectral.size()), 0.0f));
            for (int64_t step = 1; step <= 3; step++) {
                std::vector<float> g = random_floats(n, 80 + (uint64_t)step, 0.01);
                d_g.from_host(g);
                optimizer_step(p.data(), g.data(), state, model.table, 0.7, step);
                gpu::optimizer_step(d_p, d_g, d_m, d_v, d_s, model.table, 0.7, step);
            }
            INFO("after 3 steps");
            if (kind == OptimizerKind::SGD && norm == DecayNorm::Frobenius) {
                check_bitwise("params", d_p.to_host(), p);  // elementwise, FMA-free on both
            } else {
                check_close("params", d_p.to_host(), p, OPTIMIZER);
            }
            check_close("first moments", d_m.to_host(), state.m, OPTIMIZER);
            check_bitwise("second moments", d_v.to_host(), state.v);  // AdamW rows: bit for bit
            if (norm == DecayNorm::Spectral) {
                std::vector<float> s = d_s.to_host();
                s.resize(state.spectral.size());
                check_close("spectral vectors", s, state.spectral, OPTIMIZER);
            }
        }
}

TEST_CASE("gpu model: 10 Muon steps with spectral decay follow the CPU's trajectory", "[cuda][optimizer]") {
    REQUIRE_GPU_OR_SKIP();
    OptimizerConfig o;
    o.hidden = OptimizerKind::Muon;
    o.lr = 0.02;
    o.adam_lr = 0.01;
    o.wd_norm = DecayNorm::Spectral;
    o.grad_clip = 1.0;
    GPT<float> host;
    gpt_build_parameterized(host, sizes(), param_preset("sp"), o);
    gpt_init(host, 7);
    GPT<float> cpu_model = host;
    OptimizerState<float> cpu_state(host.table), gpu_state(host.table);
    CpuBackend<float> cpu(cpu_model, cpu_state);
    GpuBackend gpu(host, &gpu_state, gpu::Options());
    const int B = 3, T = 13;
    std::vector<double> cpu_losses, gpu_losses;
    for (int s = 0; s < 10; s++) {
        std::vector<int> in = gpu_test::random_tokens((size_t)B * T, host.config.vocab_size, 1000 + (uint64_t)s), tg;
        for (int x : in) tg.push_back((x * 7 + 3) % host.config.vocab_size);
        StepPlan plan;
        plan.step = s + 1;
        plan.grad_clip = o.grad_clip;
        cpu_losses.push_back(training_step(cpu, cpu_model.table, in.data(), tg.data(), B, T, plan).loss);
        gpu_losses.push_back(training_step(gpu, host.table, in.data(), tg.data(), B, T, plan).loss);
    }
    REQUIRE(cpu_losses.back() < cpu_losses.front() - 0.1);  // it learned: the comparison means something
    for (int s = 0; s < 10; s++) {
        INFO("step " << s);
        CHECK(gpu_losses[s] == Approx(cpu_losses[s]).epsilon(1e-4));
    }
    gpu.to_host(true);
    // Tensor by tensor, without the key biases (gpu_test_helpers.h): their
    // gradient is rounding noise that AdamW turns into steps of up to lr
    gpu_test::check_trained_params(host, host.params, cpu_model.params, 1e-3);
    check_close("spectral vectors", gpu_state.spectral, cpu_state.spectral, 1e-3);
}
