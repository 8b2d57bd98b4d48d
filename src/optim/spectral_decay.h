// Spectral-norm weight decay: shrink only the largest singular value of a
// weight matrix instead of all of them.
//
// Frobenius decay W *= (1 - d) shrinks every singular value by (1 - d).
// Spectral decay takes the same fraction off the top one alone:
//     W <- W - d * sigma1 u1 v1^T = W - d * (W v1) v1^T
// where v1 is the top right singular vector (u1 the left one, sigma1 the
// largest singular value), so sigma1 -> (1 - d) sigma1 and the other singular
// values and vectors stay as they are.
//
// v1 comes from power iteration on W^T W, warm-started from the previous
// step's vector: the optimizer keeps one vector v of fan_in values per matrix
// as state (saved in checkpoints like AdamW's moments). The weights move a
// little per step, so one iteration per step usually keeps v converged.
//
// W is row-major (fan_out, fan_in), the nn.Linear layout of matmul.h. Sums
// run in double in a fixed order, so results do not depend on the number of
// OpenMP threads and a rerun from the same W and v repeats bit for bit.
// Instantiated for float and double.
#pragma once

// W (fan_out, fan_in), v (fan_in) in/out.
// v all zeros means "no vector yet": v is set to ones / sqrt(fan_in) and
// `first_iters` iterations run; otherwise `iters` (warm start).
// One iteration: v <- W^T (W v) / ||W^T (W v)||, in double, v rounded to T;
// v stays as it is when W v is 0 (W = 0: there is no top direction).
// Returns sigma1's estimate ||W v|| with the final v.
// Fails for iters < 1, first_iters < 1, fan_out < 1 or fan_in < 1.
template <typename T>
double power_iteration(const T* W, int fan_out, int fan_in, T* v, int iters, int first_iters = 10);

// One decay step, W (fan_out, fan_in) and v (fan_in) in/out, d this step's
// decay d_t (what AdamW's p *= 1 - d_t would use), in [0, 1]:
//     v = power_iteration(W, v);  W -= d * (W v) v^T
// each element as W[i][j] = (T)(W[i][j] - (d * (W v)[i]) * v[j]) in double.
// d = 0 does nothing at all (W and v untouched) and returns 0; otherwise it
// returns sigma1's estimate before the decay (after it, sigma1 is about
// (1 - d) times that). Fails as power_iteration, and for d outside [0, 1].
template <typename T>
double spectral_decay(T* W, int fan_out, int fan_in, T* v, double d, int iters, int first_iters = 10);
