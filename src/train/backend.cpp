#include "train/backend.h"

#include <type_traits>

#include "optim/grad_accum.h"
#include "util/util.h"

template <typename T>
double CpuBackend<T>::forward(const int* inputs, const int* targets, int B, int T_) {
    return gpt_forward(model_, inputs, targets, B, T_);
}

template <typename T>
void CpuBackend<T>::backward() {
    gpt_zero_grad(model_);
    gpt_backward(model_);
}

template <typename T>
void CpuBackend<T>::accumulate_grads(bool first) {
    grad_accum_.resize(model_.grads.size());
    ::accumulate_grads(grad_accum_.data(), model_.grads.data(), model_.grads.size(), first);
}

template <typename T>
void CpuBackend<T>::mean_of_accumulated(int count) {
    if (grad_accum_.size() != model_.grads.size()) fail("mean_of_accumulated: nothing was accumulated");
    ::mean_of_accumulated(model_.grads.data(), grad_accum_.data(), model_.grads.size(), count);
}

template <typename T>
double CpuBackend<T>::grad_sq_norm() {
    const double norm = parallel_grad_norm(model_.grads.data(), model_.grads.size());
    return norm * norm;
}

template <typename T>
double CpuBackend<T>::tensor_grad_sq_norm(const TensorInfo& tensor) {
    const double norm = parallel_grad_norm(model_.grads.data() + tensor.offset, tensor.numel);
    return norm * norm;
}

template <typename T>
double CpuBackend<T>::clip_grad_norm(double max_norm) {
    return ::clip_grad_norm(model_.grads.data(), model_.grads.size(), max_norm);
}

template <typename T>
void CpuBackend<T>::optimizer_step(double schedule, int64_t step, const double* lr_extra) {
    ::optimizer_step(model_.params.data(), model_.grads.data(), state_, model_.table, schedule, step, lr_extra);
}

template <typename T>
void CpuBackend<T>::snapshot_params() {
    params_before_ = model_.params;
}

template <typename T>
MatrixStats CpuBackend<T>::measure(const TensorInfo& t, const std::vector<int>& rows, double lr, double decay,
                                   double beta1) {
    // the measurements are float code (they run beside float training)
    if constexpr (std::is_same<T, float>::value) {
        if (params_before_.size() != model_.params.size()) fail("measure: snapshot_params was not called");
        const float* x = gpt_matrix_input(model_, t);
        if (!x) fail("measure: " + t.name + " has no input activation (not a weight matrix, or no forward pass)");
        x_sample_.resize(rows.size() * (size_t)t.fan_in);
        gather_rows(x, t.fan_in, rows, x_sample_.data());
        return measure_matrix(params_before_.data() + t.offset, model_.params.data() + t.offset, t.fan_out, t.fan_in,
                              x_sample_.data(), (int)rows.size(), lr, decay, beta1);
    } else {
        (void)t, (void)rows, (void)lr, (void)decay, (void)beta1;
        fail("measure: the measurements run on the float model only");
    }
}

template class CpuBackend<float>;
template class CpuBackend<double>;

GpuBackend::GpuBackend(GPT<float>& host, OptimizerState<float>* state, const gpu::Options& options)
    : host_(host), state_(state), gpu_(nullptr, gpu_gpt_free) {
    gpu_.reset(gpu_gpt_create(host, options));
    if (state) gpu_gpt_upload_state(gpu_.get(), nullptr, state->m.data(), state->v.data(), state->spectral.data());
}

double GpuBackend::forward(const int* inputs, const int* targets, int B, int T) {
    return gpu_gpt_forward(gpu_.get(), inputs, targets, B, T);
}

void GpuBackend::backward() {
    gpu_gpt_zero_grad(gpu_.get());
    gpu_gpt_backward(gpu_.get());
}

void GpuBackend::accumulate_grads(bool first) { gpu_gpt_accumulate_grads(gpu_.get(), first); }

void GpuBackend::mean_of_accumulated(int count) { gpu_gpt_mean_of_accumulated(gpu_.get(), count); }

double GpuBackend::grad_sq_norm() { return gpu_gpt_grad_sq_norm(gpu_.get()); }

double GpuBackend::tensor_grad_sq_norm(const TensorInfo& tensor) {
    return gpu_gpt_tensor_grad_sq_norm(gpu_.get(), tensor.offset, tensor.numel);
}

double GpuBackend::clip_grad_norm(double max_norm) { return gpu_gpt_clip_grad_norm(gpu_.get(), max_norm); }

void GpuBackend::optimizer_step(double schedule, int64_t step, const double* lr_extra) {
    gpu_gpt_optimizer_step(gpu_.get(), schedule, step, lr_extra);
}

void GpuBackend::snapshot_params() { gpu_gpt_snapshot_params(gpu_.get()); }

MatrixStats GpuBackend::measure(const TensorInfo& t, const std::vector<int>& rows, double lr, double decay,
                                double beta1) {
    return gpu_gpt_measure(gpu_.get(), t, rows, lr, decay, beta1);
}

void GpuBackend::synchronize() { gpu::synchronize(); }

void GpuBackend::to_host(bool with_optimizer_state) {
    if (with_optimizer_state && state_)
        gpu_gpt_download_state(gpu_.get(), host_.params.data(), state_->m.data(), state_->v.data(),
                               state_->spectral.data());
    else
        gpu_gpt_download_state(gpu_.get(), host_.params.data(), nullptr, nullptr);
}
