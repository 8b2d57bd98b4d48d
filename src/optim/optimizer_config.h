// The optimizer as the user chooses it (the flags of `lrt train` and `lrt
// reference`; `lrt coordcheck` takes a few), before it is resolved into the tensor
// table: param/parameterization.cpp's plan_optimizer turns these settings and
// the parameterization into one OptimizerRow per tensor, and the optimizer
// code (optim/optimizer.h) reads only those rows.
//
// Which optimizer updates what: --optimizer picks the one for the hidden
// matrices (q/k/v, attention and MLP projections); embeddings, the readout,
// layernorm gains and biases always stay on AdamW, at --adam-lr (default:
// --lr), as Muon's authors do; the hidden matrices take --lr.
#pragma once
#include <string>

class FlagSet;

enum class OptimizerKind { AdamW, Muon, SGD };
// The norm weight decay shrinks: Frobenius (every singular value, W *= 1 - d)
// or spectral (only the largest, W -= d * sigma1 u1 v1^T).
enum class DecayNorm { Frobenius, Spectral };
// Muon's Newton–Schulz coefficients (a, b, c): quintic (3.4445, -4.7750,
// 2.0315), fast but only near-orthogonal; classic (15/8, -5/4, 3/8),
// slower, converging to U V^T.
enum class NSCoefficients { Quintic, Classic };
// The factor on Muon's orthogonalized update of a (fan_out, fan_in) matrix:
// keller sqrt(max(1, fan_out/fan_in)); moonlight 0.2 sqrt(max(fan_out,
// fan_in)) (the RMS of an AdamW update); spectral sqrt(fan_out/fan_in) (the
// spectral condition of Yang, Simon & Bernstein 2023); none 1.
enum class MuonScale { Keller, Moonlight, Spectral, None };

const char* optimizer_name(OptimizerKind kind);  // "adamw" | "muon" | "sgd"
const char* decay_norm_name(DecayNorm norm);     // "frobenius" | "spectral"
const char* ns_coefficients_name(NSCoefficients coefficients);  // "quintic" | "classic"
const char* muon_scale_name(MuonScale scale);    // "keller" | "moonlight" | "spectral" | "none"

struct OptimizerConfig {
    OptimizerKind hidden = OptimizerKind::AdamW;  // --optimizer
    double lr = 3e-3;       // peak LR of the hidden matrices (and of everything when adam_lr is 0)
    double adam_lr = 0;     // peak LR of the tensors always under AdamW (embeddings, readout, gains, biases); 0 = lr
    double beta1 = 0.9, beta2 = 0.95, eps = 1e-8;  // AdamW
    double weight_decay = 0.1;  // lambda; how it applies: the parameterization's --wd-mode and --wd-set
    double grad_clip = 1.0;     // global gradient-norm clipping; 0 = off
    DecayNorm wd_norm = DecayNorm::Frobenius;  // for decayed matrices; vectors always decay by Frobenius
    int spectral_iters = 1;     // power iterations per step for spectral decay (10 at the first)
    double muon_momentum = 0.95;
    bool muon_nesterov = true;
    int muon_ns_steps = 5;
    NSCoefficients muon_coefficients = NSCoefficients::Quintic;
    MuonScale muon_scale = MuonScale::Keller;
    double sgd_momentum = 0.9;
    bool sgd_nesterov = false;

    double resolved_adam_lr() const { return adam_lr > 0 ? adam_lr : lr; }
};

// The flags above. with_clip: --grad-clip too (`lrt reference` never clips).
// lr_help: how the command uses --lr (a schedule's peak, or a constant).
void declare_optimizer_flags(FlagSet& flags, OptimizerConfig& config, bool with_clip, const std::string& lr_help);

// One line: the optimizer of the hidden matrices with its settings, and
// AdamW's for the rest.
std::string describe_optimizer(const OptimizerConfig& config);
