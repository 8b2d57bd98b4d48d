// Muon (Jordan, Jin, Boza, You, Cesista, Newhouse, Bernstein 2024): momentum
// SGD whose update for a matrix is replaced by the nearest semi-orthogonal
// matrix U V^T (computed approximately by a Newton–Schulz iteration), then
// scaled by a per-shape factor. These are the per-tensor kernels; the caller
// picks the tensors (matrices only: Muon on a 1-D tensor is the caller's
// error), forms the learning rate and the decay, and keeps the momentum.
//
// Every matrix is row-major, (fan_out, fan_in) as the linear layers' weights
// (src/model/matmul.h). Instantiated for float and double. The products go
// through matmul.h's gemm, which is deterministic whatever the number of
// threads, and so is everything here: a run repeats bit for bit.
#pragma once
#include <string>

#include "optim/optimizer_config.h"  // the enums NSCoefficients and MuonScale, and their names

// The Newton–Schulz polynomial p(x) = a x + b x^3 + c x^5, applied to the
// singular values:
//   Quintic: (3.4445, -4.7750, 2.0315), Keller Jordan's tuned coefficients: a
//            steep slope at 0 (a = 3.4) so that 5 steps suffice, at the price
//            of not converging: singular values end in [0.68, 1.135], about 1
//   Classic: (15/8, -5/4, 3/8), the textbook iteration: converges to exactly 1
//            (p(1) = 1, p'(1) = 0), but needs more steps for small values
struct NSCoeffs {
    double a, b, c;
};
NSCoeffs ns_coeffs(NSCoefficients coeffs);
NSCoefficients parse_ns_coefficients(const std::string& name);  // fails on other names, listing the choices

// The factor that multiplies the orthogonalized update of a (fan_out, fan_in)
// matrix (whose spectral norm is about 1):
//   Keller:    sqrt(max(1, fan_out / fan_in))   (Keller Jordan's Muon)
//   Moonlight: 0.2 * sqrt(max(fan_out, fan_in))  (Moonshot AI: matches AdamW's update RMS)
//   Spectral:  sqrt(fan_out / fan_in)            (the spectral condition of Yang, Simon, Bernstein)
//   None:      1
MuonScale parse_muon_scale(const std::string& name);  // fails on other names, listing the choices
// Fails if fan_out or fan_in < 1.
double muon_scale_factor(MuonScale scale, int fan_out, int fan_in);

// out (rows, cols) ≈ U V^T where in (rows, cols) = U S V^T (the SVD):
//   X0 = in / (||in||_F + 1e-7)
//   steps times: A = X X^T; B = b A + c A A; X = a X + B X
// When rows > cols the same is done on the transpose (so A is the smaller
// Gram matrix, min(rows, cols) square), through gemm's transpose flags rather
// than a copy. Computes in T. out may be in. Fails if rows, cols or steps < 1.
// Keeps a workspace per thread (two matrices and two Gram matrices, three
// and two for muon_update) between calls, so a training loop does not
// reallocate every step.
template <typename T>
void newton_schulz(T* out, const T* in, int rows, int cols, int steps, NSCoefficients coeffs);

// One Muon step of one matrix: params, grads, momentum all (fan_out, fan_in);
// the momentum starts at 0. In this order:
//   M = beta M + G
//   U = nesterov ? beta M + G : M
//   O = newton_schulz(U, ns_steps, coeffs)
//   P *= 1 - decay             (decay = this step's decoupled decay d_t, 0 = none)
//   P -= lr * scale * O        (scale: muon_scale_factor, or any other factor)
// Fails if fan_out, fan_in or ns_steps < 1.
template <typename T>
void muon_update(T* params, const T* grads, T* momentum, int fan_out, int fan_in, double lr, double decay,
                 double beta, bool nesterov, int ns_steps, NSCoefficients coeffs, double scale);
