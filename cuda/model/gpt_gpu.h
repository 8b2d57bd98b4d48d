// The GPT on the GPU: the twin of src/model/model.h's GPT<float> plus the optimizer
// state, driven by the same tensor table (built on the host by the
// parameterization, then copied here). The forward and backward passes in
// cuda/model/gpt.cu are the same sequence of layer calls as src/model/model.cpp, each
// call going to its gpu:: twin (cuda/gpu.h).
//
// Parameters, gradients, optimizer state and activations live on the device;
// the host copy (GPT<float>) is brought up to date only when asked
// (checkpoints, text samples). A training step moves only small things
// between host and GPU: the batch's tokens and the AdamW rows' constants up;
// the per-position losses and the gradient norm's partial sums back (and,
// under spectral decay, each matrix's vector and sigma1 estimate).
#pragma once
#include <cstdint>
#include <vector>

#include "gpu.h"
#include "study/measure.h"
#include "model/model.h"
#include "optim/optimizer.h"

struct GpuGPT;  // defined in cuda/model/gpt.cu

// Allocates the model for `host`'s config and table and uploads its
// parameters; the optimizer state starts at zero. Calls gpu::init(options) first.
GpuGPT* gpu_gpt_create(const GPT<float>& host, const gpu::Options& options);
void gpu_gpt_free(GpuGPT* model);

// Host <-> device copies of the training state (table.total floats each,
// and table.spectral_total for the spectral-decay vectors); nullptr skips
// that array.
void gpu_gpt_upload_state(GpuGPT* model, const float* params, const float* adam_m, const float* adam_v,
                          const float* spectral = nullptr);
void gpu_gpt_download_state(GpuGPT* model, float* params, float* adam_m, float* adam_v, float* spectral = nullptr);
void gpu_gpt_download_grads(GpuGPT* model, float* grads);
void gpu_gpt_download_logits(GpuGPT* model, float* logits);  // (B*T, V) of the last forward pass

// As gpt_forward: inputs, targets (B,T) are HOST arrays; same checks, same
// errors. Returns the mean loss, or 0 without targets.
double gpu_gpt_forward(GpuGPT* model, const int* inputs, const int* targets, int B, int Tn);
void gpu_gpt_zero_grad(GpuGPT* model);
void gpu_gpt_backward(GpuGPT* model);
double gpu_gpt_clip_grad_norm(GpuGPT* model, double max_norm);  // returns the norm before clipping
// The squared global norm of the gradients (gpu::global_grad_norm's order).
double gpu_gpt_grad_sq_norm(GpuGPT* model);
// The same for the n gradients from `offset` (one tensor of the table).
double gpu_gpt_tensor_grad_sq_norm(GpuGPT* model, size_t offset, size_t n);
// Gradient accumulation (src/optim/grad_accum.h): adds the gradients into a
// device buffer of the same size (allocated on first use; first: copies),
// then replaces the gradients by that buffer's mean over `count` micro-batches.
void gpu_gpt_accumulate_grads(GpuGPT* model, bool first);
void gpu_gpt_mean_of_accumulated(GpuGPT* model, int count);
// Every tensor's optimizer step by its row (src/optim/optimizer.h).
// lr_extra: HOST array, one factor per tensor of the table, or nullptr.
void gpu_gpt_optimizer_step(GpuGPT* model, double schedule, int64_t step, const double* lr_extra);

// Measurements: snapshot the parameters before a step, then measure a matrix
// of the table against its input in the last forward pass (the rows of
// gpt_matrix_input's activation listed in `rows`).
void gpu_gpt_snapshot_params(GpuGPT* model);
MatrixStats gpu_gpt_measure(GpuGPT* model, const TensorInfo& tensor, const std::vector<int>& rows, double lr,
                            double decay, double beta1);
