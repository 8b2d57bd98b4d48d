// The diagonal of the training loss's Hessian, estimated by Hutchinson's
// method, for comparing with Adam's second moment (study/hessian_compare.h,
// `lrt hessian`). Everything here is double precision.
//
// Hutchinson: for a probe z with independent entries ±1 (Rademacher),
//     z_i (H z)_i = H_ii + sum_{j != i} H_ij z_i z_j,
// whose mean over z is H_ii and whose variance is sum_{j != i} H_ij^2 (the
// products z_i z_j are ±1, uncorrelated with each other). The mean over K
// probes is therefore unbiased, with a standard deviation of
// sqrt(sum_{j != i} H_ij^2 / K) per element: off-diagonal mass, not the
// diagonal, sets the noise.
//
// Each Hessian-vector product is a central difference of exact gradients,
//     H z ~ (g(theta + h z) - g(theta - h z)) / (2 h),
// error O(h^2) from the third derivatives plus the gradients' rounding
// divided by h; hessian_step below chooses h.
#pragma once
#include <cstdint>
#include <functional>
#include <vector>

#include "model/model.h"

// The loss the Hessian is of: the mean loss over a fixed set of batches,
// each (B, T) tokens row-major, all of the same shape.
struct BatchSet {
    int B = 0, T = 0;
    std::vector<std::vector<int>> inputs, targets;  // one B*T vector per batch
    size_t size() const { return inputs.size(); }
    void add(const int* in, const int* tgt);  // copies one batch of B*T tokens
};

// The mean loss over the set, and its gradient into `grad` (resized to the
// parameters). The model's own gradient buffer is used as scratch.
double mean_loss_gradient(GPT<double>& model, const BatchSet& batches, std::vector<double>& grad);

// H z by the central difference above, into hz. The parameters are put back
// exactly as they were (copied, not perturbed back).
void hessian_vector_product(GPT<double>& model, const BatchSet& batches, const std::vector<double>& z, double h,
                            std::vector<double>& hz);

// The finite-difference step: `relative` times the RMS of the parameters.
// Why relative: a probe moves every parameter by h, so h must be small
// against the parameters' own size, which depends on the parameterization
// and width (GPT-2's 0.02 against a fan-in init's 1/sqrt(d)). A probe then
// moves a layer's pre-activations by about `relative` of their size (a sum of
// fan_in terms w_j x_j, each weight moved by ±h against weights of size
// ~RMS). In double, a relative 1e-4 (the default of `lrt hessian --fd-step`)
// leaves a truncation error near relative^2 = 1e-8 and a rounding error near
// 1e-16 / 1e-4 = 1e-12, both relative to the gradient's size: far below
// Hutchinson's own noise.
double hessian_step(const std::vector<double>& params, double relative);

// How far H z at step h is from the exact product, relative to |H z| (L2
// norms), judged from the same product at 2h: the central difference's
// error is c h^2 + O(h^4), so HVP(2h) - HVP(h) = 3 c h^2 and
// |HVP(2h) - HVP(h)| / 3 is the error at h, while the truncation dominates
// (a step so small that rounding dominates shows a larger number, not a
// smaller one). Costs two products. A random z gathers the third
// derivatives of all n parameters coherently (the terms T_ijj z_j z_j = T_ijj),
// so this error grows with the model and the step must be checked, not
// assumed: anything far below 1/sqrt(probes), Hutchinson's own relative
// noise, is harmless.
double hvp_relative_error(GPT<double>& model, const BatchSet& batches, const std::vector<double>& z, double h);

// Probe k of the sequence for `seed`: n entries, each +1 or -1 with equal
// odds, from its own random stream (seed, k), so that probe k is the same
// however many probes are drawn.
std::vector<double> rademacher_probe(uint64_t seed, int k, size_t n);

struct DiagonalEstimate {
    std::vector<double> diag;       // mean over the probes of z ⊙ (H z)
    std::vector<double> std_error;  // per element, the sample std of z ⊙ (H z) over sqrt(probes); NaN for one probe
    int probes = 0;
    double h = 0;                   // the finite-difference step used
};

// Called after each probe with (probes done, probes in all).
using ProbeProgress = std::function<void(int, int)>;

// Hutchinson's estimate of diag(H) from `probes` probes of the seed's
// sequence, each Hessian-vector product at step h.
DiagonalEstimate hutchinson_diagonal(GPT<double>& model, const BatchSet& batches, int probes, uint64_t seed,
                                     double h, const ProbeProgress& progress = {});
