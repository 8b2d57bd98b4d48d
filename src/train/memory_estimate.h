// How much memory a training run will need, worked out from its sizes before
// anything large is allocated, and how much the machine (or the cgroup the
// process runs in) can give. A run that cannot fit is refused up front with
// both numbers, instead of failing after allocating gigabytes, or being killed
// without a message by the kernel under a cgroup limit.
#pragma once
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>

#include "model/model_config.h"

struct MemoryEstimate {
    // bytes
    double parameters = 0;   // parameters and gradients (and the gradient accumulator, --grad-accum > 1 on the CPU)
    double optimizer = 0;    // Adam's two moments, and the copy a measuring step keeps
    double activations = 0;  // what the forward pass saves and the backward pass's scratch (CPU runs)
    double data = 0;         // the token arrays in memory
    double checkpointing = 0;  // writing a checkpoint: a copy of the state, then the file's bytes
    double lora_ga = 0;        // --lora-init ga's gradient pass (estimate_lora_ga_memory)
    // The LoRA-GA pass ends (its model freed) before the run's first forward
    // pass allocates activations or a checkpoint is written, so the peak is
    // the larger of the two, beside what both hold.
    double total() const { return parameters + optimizer + data + std::max(activations + checkpointing, lora_ga); }
    std::string describe() const;  // "about 1.2 GiB (parameters 10 MiB, ...)"
};

// `num_params`: the tensor table's total. `grad_accum`: the batch runs as
// that many micro-batches of batch/grad_accum sequences, so the activations
// are a micro-batch's (validation runs in micro-batches too). `on_gpu`:
// activations and the accumulator live on the GPU, so the host holds only
// the parameters, moments and data.
MemoryEstimate estimate_train_memory(const ModelConfig& config, size_t num_params, int batch, int grad_accum,
                                     int seq_len, bool measuring, size_t data_tokens, bool on_gpu);

// --lora-init ga (model/lora_ga.h): a second, plain model (`plain`,
// `plain_params` the size of its tensor table) with its gradients, the
// gradient sum when grad_accum > 1, and the activations of one micro-batch of
// batch/grad_accum sequences; on the host, whatever the run's device.
double estimate_lora_ga_memory(const ModelConfig& plain, size_t plain_params, int batch, int grad_accum, int seq_len);

// Bytes this process can still allocate: the smaller of the kernel's
// MemAvailable and the room left under the memory limit of every cgroup
// above it (v2 memory.max or v1 memory.limit_in_bytes, less the usage that
// is not reclaimable page cache). 0 when none can be read. `source` says
// which bound it was. (GPU memory is not checked here; nor is the sum over
// the parallel runs of a sweep, each of which checks alone.)
uint64_t available_memory(std::string* source);

// Fails ("the run needs about 40 GiB ... but only 20 GiB are available
// (MemAvailable)") when the estimate exceeds what is available.
void check_memory_fits(const MemoryEstimate& estimate);

// "1.5 GiB", "20 MiB", "512 B"
std::string format_bytes(double bytes);
