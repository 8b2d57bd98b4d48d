// The GPT: parameters in one buffer described by the tensor table, the
// activations saved by the forward pass, and the forward/backward passes
// written as a sequence of layer calls (read gpt_forward top to bottom next
// to a diagram of GPT-2).
#pragma once
#include <cstdint>
#include <vector>

#include "model/model_config.h"
#include "model/tensor_table.h"

// Offsets of one block's tensors into the parameter buffer (-1 when a tensor
// is absent, i.e. biases with bias=false, adapters on matrices not targeted).
// The adapters are indexed by LoraTarget.
struct BlockOffsets {
    long ln1_w, ln1_b, qkv_w, qkv_b, attn_proj_w, attn_proj_b;
    long ln2_w, ln2_b, fc_w, fc_b, fc_proj_w, fc_proj_b;
    long lora_A[LORA_TARGET_COUNT], lora_B[LORA_TARGET_COUNT];
};

// Everything the forward pass saves for the backward pass, for one block.
// Shapes with N = B*T: (N,C) unless noted.
template <typename T>
struct BlockActivations {
    std::vector<T> ln1, ln1_mean, ln1_rstd;  // ln1 (N,C); stats (N)
    std::vector<T> qkv;                      // (N,3C)
    std::vector<T> att;                      // (B,NH,T,T) softmax probabilities
    std::vector<T> attn_out;                 // attention output before c_proj
    std::vector<T> attn_proj;                // c_proj output (the attention branch)
    std::vector<T> residual_mid;             // stream after the attention branch
    std::vector<T> ln2, ln2_mean, ln2_rstd;
    std::vector<T> fc, fc_gelu;              // (N, mlp_width)
    std::vector<T> fc_proj;                  // the MLP branch
    std::vector<T> residual_out;             // stream after the block
    std::vector<T> lora_u[LORA_TARGET_COUNT];  // x A^T (N,rank) of each adapter; empty without one
};

template <typename T>
struct GPT {
    ModelConfig config;
    TensorTable table;
    std::vector<T> params;  // table.total elements
    std::vector<T> grads;   // same layout
    long wte = 0, wpe = 0, lnf_w = 0, lnf_b = -1, readout = 0;
    std::vector<BlockOffsets> blocks;
    // Where the backward pass writes each tensor's gradient: the same
    // offsets, but -1 for a frozen tensor (tensor_table.h), which gets none.
    long grad_wte = 0, grad_wpe = 0, grad_lnf_w = 0, grad_lnf_b = -1, grad_readout = 0;
    std::vector<BlockOffsets> grad_blocks;

    // Activations for the batch shape of the last forward pass.
    int batch = 0, seq_len = 0;
    bool have_targets = false;
    std::vector<int> inputs, targets;  // (B,T) copies
    std::vector<T> encoded;             // (N,C) embedding output = stream into block 0
    std::vector<BlockActivations<T>> acts;
    std::vector<T> lnf, lnf_mean, lnf_rstd;
    std::vector<T> logits, probs, losses;  // logits/probs (N,V), losses (N)
    // Scratch for the backward pass: gradients of activations, (N,...) like
    // the activations they belong to. Sized with them, reused every step.
    // d_fc holds the gradient of the GELU's output, then (in place) of its input.
    std::vector<T> d_logits, d_lnf, d_stream, d_branch, d_ln, d_attn_out, d_qkv, d_fc;
    std::vector<T> d_lora_u;  // (N,rank): an adapter's d(x A^T), one adapter at a time

    T* param(long offset) { return params.data() + offset; }
    const T* param(long offset) const { return params.data() + offset; }
    T* param_or_null(long offset) { return offset < 0 ? nullptr : params.data() + offset; }
    T* grad_or_null(long offset) { return offset < 0 ? nullptr : grads.data() + offset; }
};

// Builds the tensor table and allocates parameters and gradients (zeros).
template <typename T>
void gpt_build(GPT<T>& model, const ModelConfig& config);

// Draws every tensor from its table row (init_std or init_constant). Each
// tensor has its own random stream derived from (seed, tensor index), so the
// draws do not depend on which other tensors exist or how they are scaled.
template <typename T>
void gpt_init(GPT<T>& model, uint64_t seed);

// The checks gpt_forward makes before it computes (shared with the GPU
// model): positive sizes, T within the context length, token ids in the
// vocabulary. Fails with a message naming the first problem.
void gpt_check_batch(const ModelConfig& config, const int* inputs, const int* targets, int B, int Tn);

// inputs, targets (B,T). Returns the mean cross-entropy loss, or 0 when
// targets is nullptr (logits only). Fails if T exceeds the context length
// or a token id is out of range.
template <typename T>
double gpt_forward(GPT<T>& model, const int* inputs, const int* targets, int B, int Tn);

template <typename T>
void gpt_zero_grad(GPT<T>& model);

// Accumulates d(mean loss)/d(params) into model.grads; needs a forward pass
// with targets just before.
template <typename T>
void gpt_backward(GPT<T>& model);

// The activation a weight matrix multiplies in the last forward pass, its
// input X (B*T, fan_in): ln_1 for c_attn, the attention output for attn
// c_proj, ln_2 for c_fc, the GELU output for mlp c_proj, ln_f for the
// readout; an adapter's A the same as its matrix, its B the (B*T, rank)
// product x A^T. nullptr for every other tensor (embeddings, biases, norms).
template <typename T>
const T* gpt_matrix_input(const GPT<T>& model, const TensorInfo& tensor);
