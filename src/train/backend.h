// Where a model trains: the CPU (model/model.h's GPT<T>, float or double,
// with OpenMP) or the GPU (cuda/model/gpt_gpu.h, float). The training step
// (train/step.h) is written once against this interface, so `lrt train`,
// `lrt coordcheck`, `lrt reference` and the benchmarks run the same step on
// either device.
//
// Both backends keep a host copy: the GPT<T> and OptimizerState<T> given at
// construction. On the CPU that copy is the model itself; on the GPU it is
// brought up to date only by to_host() (checkpoints, text samples).
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "model/gpt_gpu.h"
#include "model/model.h"
#include "optim/optimizer.h"
#include "study/measure.h"

class Backend {
public:
    virtual ~Backend() = default;
    // The mean loss of a batch: inputs, targets (B,T) host token ids;
    // targets nullptr computes only the logits and returns 0.
    virtual double forward(const int* inputs, const int* targets, int B, int T) = 0;
    // The gradients of the last forward pass's loss (zeroed first).
    virtual void backward() = 0;
    // Gradient accumulation (optim/grad_accum.h): adds the gradients of the
    // last backward pass into an accumulator of the parameters' size
    // (allocated on first use, so only runs with --grad-accum > 1 have it;
    // first: copies), then replaces the gradients by its mean over `count`.
    virtual void accumulate_grads(bool first) = 0;
    virtual void mean_of_accumulated(int count) = 0;
    // The gradients' squared global norm (a fixed summation order; the noise
    // scale's input, study/noise_scale.h).
    virtual double grad_sq_norm() = 0;
    // One tensor's share of it (the per-tensor noise scale, measure.csv).
    virtual double tensor_grad_sq_norm(const TensorInfo& tensor) = 0;
    // Clips the global gradient norm to max_norm (0: no clipping); returns
    // the norm before clipping.
    virtual double clip_grad_norm(double max_norm) = 0;
    // Every tensor's update by its row of the table (optim/optimizer.h).
    virtual void optimizer_step(double schedule, int64_t step, const double* lr_extra) = 0;
    // Measurements (study/measure.h): keep the parameters before an update,
    // then measure a matrix's update against its input in the last forward
    // pass (the listed rows of that input).
    virtual void snapshot_params() = 0;
    virtual MatrixStats measure(const TensorInfo& tensor, const std::vector<int>& rows, double lr, double decay,
                                double beta1) = 0;
    // Waits until the queued work is done (the GPU), so that a step's clock
    // stops when its work has finished.
    virtual void synchronize() {}
    // The parameters, and the optimizer state when asked, into the host copy.
    virtual void to_host(bool with_optimizer_state) = 0;
};

template <typename T>
class CpuBackend : public Backend {
public:
    CpuBackend(GPT<T>& model, OptimizerState<T>& state) : model_(model), state_(state) {}
    double forward(const int* inputs, const int* targets, int B, int T_) override;
    void backward() override;
    void accumulate_grads(bool first) override;
    void mean_of_accumulated(int count) override;
    double grad_sq_norm() override;
    double tensor_grad_sq_norm(const TensorInfo& tensor) override;
    double clip_grad_norm(double max_norm) override;
    void optimizer_step(double schedule, int64_t step, const double* lr_extra) override;
    void snapshot_params() override;
    MatrixStats measure(const TensorInfo& tensor, const std::vector<int>& rows, double lr, double decay,
                        double beta1) override;
    void to_host(bool) override {}
    // the accumulator's allocation in elements (0 until accumulate_grads; the memory estimate's test)
    size_t accumulator_capacity() const { return grad_accum_.capacity(); }

private:
    GPT<T>& model_;
    OptimizerState<T>& state_;
    std::vector<T> params_before_, x_sample_, grad_accum_;
};

class GpuBackend : public Backend {
public:
    // Creates the GPU twin of `host` (gpu::init(options) first) and uploads
    // its parameters and `state`; without a state (nullptr: the benchmarks)
    // the optimizer starts from zeros on the GPU, and to_host copies only
    // the parameters.
    GpuBackend(GPT<float>& host, OptimizerState<float>* state, const gpu::Options& options);
    double forward(const int* inputs, const int* targets, int B, int T) override;
    void backward() override;
    void accumulate_grads(bool first) override;
    void mean_of_accumulated(int count) override;
    double grad_sq_norm() override;
    double tensor_grad_sq_norm(const TensorInfo& tensor) override;
    double clip_grad_norm(double max_norm) override;
    void optimizer_step(double schedule, int64_t step, const double* lr_extra) override;
    void snapshot_params() override;
    MatrixStats measure(const TensorInfo& tensor, const std::vector<int>& rows, double lr, double decay,
                        double beta1) override;
    void synchronize() override;
    void to_host(bool with_optimizer_state) override;

private:
    GPT<float>& host_;
    OptimizerState<float>* state_;
    std::unique_ptr<GpuGPT, void (*)(GpuGPT*)> gpu_;
};
