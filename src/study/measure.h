// Per-weight-matrix measurements of one optimizer step (docs/science.md §2-3).
//
// A linear layer computes Y = X W^T in our row-major layout: W is (K,C)
// (K = fan_out, C = fan_in, like nn.Linear), its input X is (n,C) (n sampled
// tokens). A paper writing the layer as Y = W X (X column-major) means the same
// numbers: its ‖W X‖ is our ‖X W^T‖. One step turns W_before into W_after and
// ΔW = W_after - W_before. AdamW's step is W_after = (1 - d) W_before - lr u
// (d = this step's decay factor, u = the Adam direction). All norms are
// Frobenius.
//
//   w_norm, dw_norm, x_norm   ‖W‖, ‖ΔW‖, ‖X‖
//   wx_norm, dwx_norm         ‖X W^T‖ (the layer's output), ‖X ΔW^T‖ (its change
//                             at fixed input)
//   rel_update     r_W = ‖ΔW‖/‖W‖, the relative weight update
//   rrc            ‖X ΔW^T‖/‖X W^T‖, the relative representation change: the
//                  quantity µP wants to keep the same at every width
//   alpha_w        ‖X W^T‖/(‖W‖‖X‖), how aligned the weights are with the inputs
//   alpha_dw       ‖X ΔW^T‖/(‖ΔW‖‖X‖), how aligned the update is with the inputs
//   alignment_ratio alpha_dw/alpha_w; identity: rrc = alignment_ratio * rel_update
//   w_rms          ‖W‖/sqrt(KC), per-coordinate RMS of W
//   u_rms          RMS of the Adam direction u = -(ΔW + d W_before)/lr
//   w_rms_equilibrium      lr u_rms/sqrt(2d): where decay balances growth
//                          (= sqrt(lr/(2λ)) u_rms for coupled d = lr λ)
//   rel_update_equilibrium sqrt(2d): the relative update at that balance
//   angular_update         angle between W_before and W_after (radians)
//   angular_equilibrium    sqrt(2d (1-β1)/(1+β1)) (Kosson et al. 2023,
//                          "Rotational equilibrium")
//
// What µP assumes (at init): random weights are not aligned with their inputs,
// alpha_w ~ 1/sqrt(C), while updates are low rank and aligned with the inputs,
// alpha_dw ~ 1, so the alignment ratio grows like sqrt(C) and the LR must fall
// like 1/width to keep rrc fixed. What Kosson et al. 2025 find: after a short
// time the ratio falls to about 1 at every width (the many tokens of a batch,
// N >> C, interfere and destroy the update's alignment), and weight decay's
// equilibrium, not µP, then sets the relative update.
//
// The equilibrium predictions assume updates roughly orthogonal to W, with
// sqrt(2d) and lr u_rms/sqrt(2d) derived for steps that are uncorrelated in
// time (β1 = 0). With momentum and noise-like gradients the steps are
// correlated: the angle still settles at angular_equilibrium, but the norm then
// settles at about sqrt((1+β1)/(1-β1)) times w_rms_equilibrium and the relative
// update at about angular_equilibrium (tests/test_measure.cpp simulates both).
//
// Degenerate inputs never produce inf: every ratio whose denominator is zero is
// NaN. So zero W gives NaN rel_update, rrc, alpha_w, alignment_ratio and
// angular_update; zero ΔW gives NaN alpha_dw and alignment_ratio (rel_update,
// rrc and angular_update are then 0); zero X or n = 0 gives NaN alpha_w,
// alpha_dw, rrc and alignment_ratio; lr = 0 gives NaN u_rms and
// w_rms_equilibrium; d = 0 gives NaN for the three equilibria (there is none).
// A zero W_after makes angular_update NaN. NaN or inf inputs propagate.
#pragma once
#include <vector>

struct MatrixStats {
    double w_norm = 0;                  // ‖W_before‖
    double dw_norm = 0;                 // ‖ΔW‖
    double x_norm = 0;                  // ‖X‖ (the sample)
    double wx_norm = 0;                 // ‖X W^T‖
    double dwx_norm = 0;                // ‖X ΔW^T‖
    double rel_update = 0;              // dw_norm / w_norm
    double rrc = 0;                     // dwx_norm / wx_norm
    double alpha_w = 0;                 // wx_norm / (w_norm x_norm)
    double alpha_dw = 0;                // dwx_norm / (dw_norm x_norm)
    double alignment_ratio = 0;         // alpha_dw / alpha_w
    double w_rms = 0;                   // w_norm / sqrt(K C)
    double u_rms = 0;                   // RMS of u = -(ΔW + d W_before) / lr
    double w_rms_equilibrium = 0;       // lr u_rms / sqrt(2 d)
    double rel_update_equilibrium = 0;  // sqrt(2 d)
    double angular_update = 0;          // angle(W_before, W_after), radians
    double angular_equilibrium = 0;     // sqrt(2 d (1 - beta1) / (1 + beta1))
};

// w_before and w_after are (K,C), x is (n,C) (nullptr allowed when n == 0).
// lr >= 0 is the step's learning rate for this matrix (with its µP multiplier
// and schedule), decay in [0,1) its decay factor d, beta1 in [0,1) Adam's β1
// (used only by angular_equilibrium). Fails on bad sizes or arguments.
//
// Cost: two float products X W^T and X ΔW^T through matmul_forward (4 n K C
// flops) plus two memory-bound passes over W_before and W_after. Against the
// 6 N K C of a training step's forward and backward for the same matrix that
// is 4n/(6N): 8% for n = 256, N = 2048, paid once per measurement. Norms and
// dot products are accumulated in double, one partial sum per row added in
// row order, so the result does not depend on the number of threads. ΔW is
// formed elementwise (exactly, in double, then rounded once to float for the
// product), never as the difference of two products, so rrc stays accurate
// when ΔW is 1e-3 of W or smaller.
MatrixStats measure_matrix(const float* w_before, const float* w_after, int K, int C, const float* x, int n,
                           double lr, double decay, double beta1);

// What measure_matrix is made of: sums of squares over W's entries and the
// sample. A device computes these (the GPU twin in cuda/study/measure.cu does) and
// matrix_stats_from_sums forms every ratio, so the formulas live here once.
struct MatrixSums {
    double w_before_sq = 0;  // Σ W_before²
    double w_after_sq = 0;   // Σ W_after²
    double dw_sq = 0;        // Σ ΔW², ΔW formed in double
    double step_sq = 0;      // Σ (ΔW + d W_before)² = lr² Σ u²
    double chord_sq = 0;     // ‖W_before/‖W_before‖ - W_after/‖W_after‖‖², summed as
                             // (b - a) ib + a di with chord_coefficients' ib, di
    double x_sq = 0, wx_sq = 0, dwx_sq = 0;  // ‖X‖², ‖X W^T‖², ‖X ΔW^T‖² (0 when n = 0)
};
// Fails on the bad arguments measure_matrix refuses.
void check_measure_arguments(int K, int C, int n, double lr, double decay, double beta1);
// The chord's coefficients from the first sums: ib = 1/‖W_before‖ and
// di = ib - 1/‖W_after‖. False (no chord, the angle is NaN) when a norm is 0.
bool chord_coefficients(const MatrixSums& sums, double* ib, double* di);
MatrixStats matrix_stats_from_sums(const MatrixSums& sums, int K, int C, double lr, double decay, double beta1);

// Which rows of an (N,C) activation to measure: one from each of n equal
// slices of [0, N), at a fixed pseudo-random place inside its slice, sorted
// and distinct (all N rows when n >= N, none when n == 0). Deterministic, so
// every measurement of a run looks at the same token positions, and spread
// over all positions within a sequence.
std::vector<int> sample_rows(int N, int n);

// Copies the chosen rows of x (rows of length C) to out, which is
// (rows.size(), C).
void gather_rows(const float* x, int C, const std::vector<int>& rows, float* out);
