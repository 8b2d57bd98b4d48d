// Learning-rate schedules: the base schedule s_t that multiplies the peak LR
// of every tensor, and the replacement warmups of docs/science.md §5, an extra
// factor on top of it for the hidden matrices of an SP run so that SP
// behaves like µP. Steps are 0-based throughout.
#pragma once
#include <cstdint>
#include <string>

// ---------------------------------------------------------------------------
// Base schedule: linear warmup (step s < W gets (s+1)/W), then
//   constant  1
//   linear    1 -> min_lr_fraction, progress 0 on the first post-warmup step
//             and 1 on the last step
//   cosine    0.5 (1 + cos(pi progress)), same progress and end points
//   wsd       warmup-stable-decay: 1 until the last wsd_decay_fraction of
//             all steps (rounded), then linear to min_lr_fraction at the last
//             step; a decay phase longer than the post-warmup steps starts
//             right after warmup (= linear)
// A single decay step (it is the last) gets min_lr_fraction; steps past the
// end stay at min_lr_fraction.
enum class LrDecay { Constant, Linear, Cosine, WSD };
const char* lr_decay_name(LrDecay decay);     // "constant" | "linear" | "cosine" | "wsd"
LrDecay parse_lr_decay(const std::string& name);  // fails naming --lr-decay and the choices

struct Schedule {
    LrDecay decay = LrDecay::Cosine;
    int64_t total_steps = 1;
    int64_t warmup_steps = 0;         // linear warmup: step s < warmup gets (s+1)/warmup
    double warmup_fraction = 0;       // if > 0: warmup_steps = round(fraction * total_steps)
    double min_lr_fraction = 0;       // the final LR as a fraction of the peak (linear, cosine, wsd)
    double wsd_decay_fraction = 0.2;  // wsd: the last fraction of the steps decays linearly to min
};

// Fails with a message naming the flag (--warmup-steps,
// --warmup-fraction, --min-lr-fraction, --wsd-decay-fraction, --steps).
// Giving both --warmup-steps and --warmup-fraction (> 0) is an error.
void validate_schedule(const Schedule& s);

// The warmup length in steps: round(warmup_fraction * total_steps), halves
// away from zero, if warmup_fraction > 0; else warmup_steps.
int64_t warmup_steps_of(const Schedule& s);

// The factor s_t multiplying the peak LR at 0-based `step`.
double schedule_factor(const Schedule& s, int64_t step);

// ---------------------------------------------------------------------------
// Replacement warmups (docs/science.md §5).
//
// Where the closed form comes from. Take one hidden matrix, per-coordinate
// RMS rho_t, AdamW step W <- a W - eta u with a = 1 - eta lambda and the Adam
// direction u orthogonal to W with RMS 1 per coordinate. Then
//     rho²_{t+1} = a² rho²_t + eta²,
// solved by rho²_t = rho²_inf + (rho²_0 - rho²_inf) a^{2t} with the fixed
// point rho²_inf = eta² / (1 - a²) ~= eta / (2 lambda). µP runs the matrix
// with (eta/m, m lambda): the same a, fixed point rho²_inf / m². Starting
// both from the same rho_0, the ratio of µP's relative update to SP's,
// ((eta/m) / rho_µP) / (eta / rho_SP), is
//     s_t = sqrt( [1 + (rho0²/rho²_inf - 1) P] / [1 + (m² rho0²/rho²_inf - 1) P] ),
// P = a^{2t}: 1/m at t = 0, rising to 1 (for every rho_0 > 0 and m >= 1,
// since d(s²)/dP has the sign of 1 - m²). So SP with its hidden-matrix LR
// multiplied by s_t should behave like µP. For a varying LR, P is the product
// over past steps of (1 - eta_τ lambda)² (docs/science.md §5); this is the
// prescription there, not an exact solution of the recurrence with a varying
// eta. We use rho²_inf = eta / (2 lambda) as docs/science.md §5.1 does; it differs from
// the exact fixed point by a factor 1 - eta lambda / 2.
//
// Our choices (the paper's exact equations were not available): the two
// shapes below, each starting at 1/m and returning to 1, and the default
// time constant tau = 1/(eta lambda), the equilibrium timescale of §3
// (least-squares fits of either shape to the closed form give 0.2 to 3.5
// times that, depending on m and rho0²/rho²_inf).
//     exponential: s_t = m^(-exp(-t/tau))         geometric rise from 1/m to 1
//     decay-away:  s_t = 1 - (1 - 1/m) exp(-t/tau)  the gap to 1 decays away
// Note the exponential's log-gap decays as exp(-t/tau): at t = 5 tau it is
// within 1% of 1 only for m <= 4.4; decay-away is within 1% for every m.
enum class WarmupKind { None, ClosedForm, Exponential, DecayAway };
const char* warmup_kind_name(WarmupKind kind);  // "none" | "closed-form" | "exponential" | "decay-away"
WarmupKind parse_warmup_kind(const std::string& name);  // fails naming --replacement-warmup and the choices

struct ReplacementWarmup {
    WarmupKind kind = WarmupKind::None;
    double m = 1;               // width multiplier: every kind starts at 1/m and returns to 1
    double tau = 0;             // exponential / decay-away time constant in steps
};

// Fails with messages naming --replacement-m and --replacement-tau: m < 1,
// tau <= 0 for exponential or decay-away (tau is unused by none and
// closed-form).
void validate_replacement_warmup(const ReplacementWarmup& w);

// The default tau for --replacement-tau: 1 / (eta lambda) steps, with eta
// lambda the per-step decay of an SP hidden matrix at the peak LR.
double default_replacement_tau(double eta, double lambda);

// The factor at 0-based `step` for none (1), exponential and decay-away.
// closed-form depends on the LRs used so far: use ClosedFormTracker.
double replacement_factor(const ReplacementWarmup& w, int64_t step);

// The closed form above with rho²_inf = eta / (2 lambda) and P =
// decay_product_sq in [0, 1]. rho0 = 0 (a zero-initialized matrix) gives 1:
// both runs' norms are then accumulated updates, in the ratio m. Needs
// lambda > 0 (without weight decay there is no equilibrium).
double closed_form_warmup(double rho0, double eta, double lambda, double m, double decay_product_sq);

// The closed form during training, one per hidden matrix (rho0, its init
// RMS, differs per tensor). It steps the two norm recurrences themselves,
//     SP: rho² <- a_t² rho² + eta_t²      µP: rho² <- a_t² rho² + (eta_t/m)²,
// with a_t = 1 - eta_t lambda for both, from the LRs actually used, and
// returns the ratio of relative updates (1/m) rho_SP / rho_µP. At a constant
// LR this is closed_form_warmup with rho²_inf the exact fixed point
// eta²/(1 - a²). Unlike the closed form with rho_inf taken from the current
// LR, it does not fall back towards 1/m when a schedule decays the LR to 0:
// the norms, and so the ratio, stay where they are. Each step: factor(), then
// advance(eta_t) with that step's base LR for the matrix (without this
// factor). lambda is such that the decay per step is eta_t * lambda (for
// independent decay, lambda_ind / peak LR).
struct ClosedFormTracker {
    double rho0 = 0, lambda = 0, m = 1;
    double sp_sq = -1, mu_sq = -1;  // squared RMS of the SP and µP matrix; < 0: not started (rho0²)
    double factor() const;          // s_t before this step's update
    void advance(double eta_t);     // one step of both recurrences
};
