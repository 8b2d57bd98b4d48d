// Built instead of cuda/*.cu when no usable nvcc was found: the program and the
// tests link, gpu::available() says why there is no GPU path, and anything
// that would need one fails with that message. (The Makefile compiles this
// file with g++ only in that case.)
#include <string>

#include "model/gpt_gpu.h"
#include "util/util.h"

static const char* NO_CUDA =
    "this lrt was built without CUDA (no usable nvcc at build time; `make info` shows what the Makefile "
    "found); install the CUDA Toolkit and rebuild with `make clean && make` (or `make NVCC=/path/to/nvcc`)";

namespace gpu {
bool available(std::string* why, int) {
    if (why) *why = NO_CUDA;
    return false;
}
void init(const Options&) { fail(NO_CUDA); }
std::string describe_device() { fail(NO_CUDA); }
void synchronize() { fail(NO_CUDA); }
void free_bytes(void*) {}
}  // namespace gpu

GpuGPT* gpu_gpt_create(const GPT<float>&, const gpu::Options&) { fail(NO_CUDA); }
void gpu_gpt_free(GpuGPT*) {}
void gpu_gpt_upload_state(GpuGPT*, const float*, const float*, const float*, const float*) { fail(NO_CUDA); }
void gpu_gpt_download_state(GpuGPT*, float*, float*, float*, float*) { fail(NO_CUDA); }
void gpu_gpt_download_grads(GpuGPT*, float*) { fail(NO_CUDA); }
void gpu_gpt_download_logits(GpuGPT*, float*) { fail(NO_CUDA); }
double gpu_gpt_forward(GpuGPT*, const int*, const int*, int, int) { fail(NO_CUDA); }
void gpu_gpt_zero_grad(GpuGPT*) { fail(NO_CUDA); }
void gpu_gpt_backward(GpuGPT*) { fail(NO_CUDA); }
double gpu_gpt_clip_grad_norm(GpuGPT*, double) { fail(NO_CUDA); }
double gpu_gpt_grad_sq_norm(GpuGPT*) { fail(NO_CUDA); }
double gpu_gpt_tensor_grad_sq_norm(GpuGPT*, size_t, size_t) { fail(NO_CUDA); }
void gpu_gpt_accumulate_grads(GpuGPT*, bool) { fail(NO_CUDA); }
void gpu_gpt_mean_of_accumulated(GpuGPT*, int) { fail(NO_CUDA); }
void gpu_gpt_optimizer_step(GpuGPT*, double, int64_t, const double*) { fail(NO_CUDA); }
void gpu_gpt_snapshot_params(GpuGPT*) { fail(NO_CUDA); }
MatrixStats gpu_gpt_measure(GpuGPT*, const TensorInfo&, const std::vector<int>&, double, double, double) {
    fail(NO_CUDA);
}
