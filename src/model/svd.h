// A truncated SVD of our own (LoRA-GA, docs/lora.md, needs the top singular
// triplets of a gradient): block power (subspace) iteration in double
// precision, alternating G and G^T so that the squared condition of G^T G
// never enters, with modified Gram-Schmidt (twice) to keep the block
// orthonormal, and a Rayleigh-Ritz step (one-sided Jacobi SVD of the small
// projected block) to split the subspace into singular vectors.
//
// What is guaranteed: the values to high relative accuracy, and the span of
// the top-k singular vectors whenever sigma_k > sigma_{k+1}. Individual
// vectors are determined only up to sign, and within a repeated singular
// value only their span is (any orthonormal basis of it is as right). With no
// gap after sigma_k, convergence is slow and stops at SVD_MAX_ITERATIONS.
#pragma once
#include <cstdint>
#include <vector>

// Iterations at most (each one a product with G and with G^T). Convergence is
// declared when the top k Ritz values move by <= 1e-13 of the largest
// between checks (every 4 iterations). That test is relative to sigma_1, not
// to each value: when sigma_1 dominates, the lower vectors can stop early (a
// review probe, 256 x 128 with sigma_1 = 1e4 over a 0.99^i tail, left U's
// columns r..2r about 4e-5 off in angle), and at the cap on a spectrum with
// no gap the values are good to ~1e-5 while the subspace can be off by
// ~0.04 rad. Ample for float32 adapters; not a general-purpose SVD.
constexpr int SVD_MAX_ITERATIONS = 200;
// the result is read out on every 4th iteration (the Rayleigh-Ritz step)
static_assert(SVD_MAX_ITERATIONS >= 4 && SVD_MAX_ITERATIONS % 4 == 0, "the cap must end on a Rayleigh-Ritz step");

struct TruncatedSvd {
    int m = 0, n = 0, k = 0;
    std::vector<double> U;  // (m, k) row-major, orthonormal columns
    std::vector<double> S;  // (k) descending, >= 0
    std::vector<double> V;  // (n, k) row-major, orthonormal columns
};

// The top k singular triplets of G (m, n), row-major, k <= min(m, n). The
// block carries extra columns (oversampling) to speed convergence; the start
// block is drawn from `seed`, so the result is deterministic.
TruncatedSvd truncated_svd(const std::vector<double>& G, int m, int n, int k, uint64_t seed = 1);

// Orthonormalizes the columns of X (rows, cols) in place by modified
// Gram-Schmidt, twice ("twice is enough"); a column that vanishes is replaced
// by a unit vector orthogonal to the others. Needs cols <= rows (fails
// otherwise). Exposed for the tests.
void orthonormalize_columns(std::vector<double>& X, int rows, int cols);
