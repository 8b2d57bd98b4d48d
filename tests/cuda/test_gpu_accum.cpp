// Gradient accumulation on the GPU: the two element-wise kernels equal the
// CPU's loops bit for bit, and GpuBackend's accumulated steps follow
// CpuBackend's, noise-scale norms included.
#include <catch2/catch.hpp>

#include <vector>

#include "../test_helpers.h"
#include "gpu_test_helpers.h"
#include "model/gpt_gpu.h"
#include "model/model.h"
#include "optim/grad_accum.h"
#include "optim/optimizer.h"
#include "train/backend.h"
#include "train/step.h"

using gpu_test::check_bitwise;
using gpu_test::random_floats;

TEST_CASE("gpu gradient accumulation: the sum and the mean equal the CPU's bit for bit", "[cuda][accum]") {
    REQUIRE_GPU_OR_SKIP();
    const size_t n = 70001;  // not a multiple of a block, more than one grid-stride pass on small grids
    const std::vector<float> g1 = random_floats(n, 1), g2 = random_floats(n, 2), g3 = random_floats(n, 3);
    std::vector<float> acc(n), mean(n);
    gpu::Buffer<float> d_acc(n), d_g(n), d_mean(n);
    bool first = true;
    for (const std::vector<float>* g : {&g1, &g2, &g3}) {
        accumulate_grads(acc.data(), g->data(), n, first);
        d_g.from_host(*g);
        gpu::accumulate_grads(d_acc, d_g, n, first);
        first = false;
    }
    check_bitwise("sum", d_acc.to_host(), acc);
    mean_of_accumulated(mean.data(), acc.data(), n, 3);
    gpu::mean_of_accumulated(d_mean, d_acc, n, 3);
    check_bitwise("mean", d_mean.to_host(), mean);
}

TEST_CASE("gpu gradient accumulation: GpuBackend's accumulated steps follow CpuBackend's", "[cuda][accum]") {
    REQUIRE_GPU_OR_SKIP();
    ModelConfig c;
    c.vocab_size = 67;
    c.context_length = 16;
    c.width = 32;
    c.depth = 2;
    c.head_dim = 16;
    GPT<float> host;
    gpt_build(host, c);
    gpt_init(host, 9);
    GPT<float> cpu_model = host;
    OptimizerState<float> cpu_state(host.table), gpu_state(host.table);
    CpuBackend<float> cpu(cpu_model, cpu_state);
    GpuBackend gpu(host, &gpu_state, gpu::Options());
    const int B = 4, T = 12;
    for (int s = 0; s < 3; s++) {
        std::vector<int> in = gpu_test::random_tokens((size_t)B * T, c.vocab_size, 200 + (uint64_t)s), tg;
        for (int x : in) tg.push_back((x * 5 + 2) % c.vocab_size);
        StepPlan plan;
        plan.step = s + 1;
        plan.grad_clip = 1.0;
        plan.grad_accum = 2;
        plan.noise_scale = true;
        const StepResult rc = training_step(cpu, cpu_model.table, in.data(), tg.data(), B, T, plan);
        const StepResult rg = training_step(gpu, host.table, in.data(), tg.data(), B, T, plan);
        INFO("step " << s);
        // two float computations of the same sums in other orders (as
        // test_gpu_model.cpp's losses and gradients): 1e-4 relative
        CHECK(gpu_test::check_scalar("loss", rg.loss, rc.loss, 1e-4));
        CHECK(gpu_test::check_scalar("grad_sq_small", rg.grad_sq_small, rc.grad_sq_small, 1e-4));
        CHECK(gpu_test::check_scalar("grad_sq_big", rg.grad_sq_big, rc.grad_sq_big, 1e-4));
        CHECK(rc.grad_sq_small > rc.grad_sq_big);
        // each tensor's share, as the per-tensor noise scale takes it
        for (const TensorInfo& t : host.table.tensors) {
            INFO(t.name);
            CHECK(gpu_test::check_scalar("tensor_grad_sq_norm", gpu.tensor_grad_sq_norm(t), cpu.tensor_grad_sq_norm(t),
                                         1e-4));
        }
    }
    gpu.to_host(true);
    gpu_test::check_trained_params(host, host.params, cpu_model.params, 1e-4);  // without the key biases
}
