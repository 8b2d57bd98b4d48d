// Base learning-rate schedules and the replacement warmups; see schedule.h.
#include "optim/schedule.h"

#include <algorithm>
#include <cmath>

#include "util/util.h"

static bool in_unit_interval(double x) { return x >= 0 && x <= 1; }  // false for NaN

const char* lr_decay_name(LrDecay d) {
    switch (d) {
        case LrDecay::Constant: return "constant";
        case LrDecay::Linear: return "linear";
        case LrDecay::Cosine: return "cosine";
        case LrDecay::WSD: return "wsd";
    }
    return "?";
}

LrDecay parse_lr_decay(const std::string& name) {
    for (LrDecay d : {LrDecay::Constant, LrDecay::Linear, LrDecay::Cosine, LrDecay::WSD})
        if (name == lr_decay_name(d)) return d;
    fail("--lr-decay must be constant, linear, cosine or wsd, got '" + name + "'");
}

const char* warmup_kind_name(WarmupKind k) {
    switch (k) {
        case WarmupKind::None: return "none";
        case WarmupKind::ClosedForm: return "closed-form";
        case WarmupKind::Exponential: return "exponential";
        case WarmupKind::DecayAway: return "decay-away";
    }
    return "?";
}

WarmupKind parse_warmup_kind(const std::string& name) {
    for (WarmupKind k : {WarmupKind::None, WarmupKind::ClosedForm, WarmupKind::Exponential, WarmupKind::DecayAway})
        if (name == warmup_kind_name(k)) return k;
    fail("--replacement-warmup must be none, closed-form, exponential or decay-away, got '" + name + "'");
}

void validate_schedule(const Schedule& s) {
    if (s.total_steps < 1) fail("--steps must be >= 1");
    if (s.warmup_steps < 0) fail("--warmup-steps must be >= 0");
    if (!in_unit_interval(s.warmup_fraction)) fail("--warmup-fraction must be in [0, 1]");
    if (s.warmup_steps > 0 && s.warmup_fraction > 0)
        fail("give either --warmup-steps or --warmup-fraction, not both");
    if (!in_unit_interval(s.min_lr_fraction)) fail("--min-lr-fraction must be in [0, 1]");
    if (!in_unit_interval(s.wsd_decay_fraction)) fail("--wsd-decay-fraction must be in [0, 1]");
}

int64_t warmup_steps_of(const Schedule& s) {
    if (s.warmup_fraction > 0) return (int64_t)std::llround(s.warmup_fraction * (double)s.total_steps);
    return s.warmup_steps;
}

// Linear from 1 at `start` to min_lr_fraction at the last step (total - 1):
// the shared tail of linear and wsd, and with the cosine shape, of cosine.
static double decay_from(const Schedule& s, int64_t start, int64_t step, bool cosine) {
    int64_t decay_steps = s.total_steps - start;
    if (decay_steps <= 0) return 1.0;
    if (decay_steps == 1) return s.min_lr_fraction;  // the one decay step is the last
    // progress 0 on the first decay step, 1 on the last step
    double progress = (double)(step - start) / (double)(decay_steps - 1);
    if (progress > 1) progress = 1;
    double shape = cosine ? 0.5 * (1.0 + std::cos(M_PI * progress)) : 1.0 - progress;
    return s.min_lr_fraction + (1.0 - s.min_lr_fraction) * shape;
}

double schedule_factor(const Schedule& s, int64_t step) {
    const int64_t warmup = warmup_steps_of(s);
    if (step < warmup) return (double)(step + 1) / (double)warmup;
    if (s.decay == LrDecay::Constant) return 1.0;
    if (s.decay == LrDecay::WSD) {
        int64_t decay_len = (int64_t)std::llround(s.wsd_decay_fraction * (double)s.total_steps);
        int64_t start = std::max(warmup, s.total_steps - decay_len);
        if (step < start) return 1.0;  // the stable phase
        return decay_from(s, start, step, false);
    }
    return decay_from(s, warmup, step, s.decay == LrDecay::Cosine);
}

void validate_replacement_warmup(const ReplacementWarmup& w) {
    if (!(w.m >= 1) || !std::isfinite(w.m)) fail("--replacement-m must be >= 1 (the width multiplier)");
    if ((w.kind == WarmupKind::Exponential || w.kind == WarmupKind::DecayAway) && !(w.tau > 0 && std::isfinite(w.tau)))
        fail(std::string("--replacement-tau must be > 0 steps for --replacement-warmup ") + warmup_kind_name(w.kind));
}

double default_replacement_tau(double eta, double lambda) {
    if (!(eta * lambda > 0))
        fail("--replacement-tau has no default without weight decay (1/(lr * weight decay)); give it");
    return 1.0 / (eta * lambda);
}

double replacement_factor(const ReplacementWarmup& w, int64_t step) {
    const double t = (double)step;
    switch (w.kind) {
        case WarmupKind::None: return 1.0;
        case WarmupKind::Exponential: return std::pow(w.m, -std::exp(-t / w.tau));
        case WarmupKind::DecayAway: return 1.0 - (1.0 - 1.0 / w.m) * std::exp(-t / w.tau);
        case WarmupKind::ClosedForm: break;
    }
    fail("replacement_factor: closed-form depends on the LRs used; use ClosedFormTracker");
}

double closed_form_warmup(double rho0, double eta, double lambda, double m, double decay_product_sq) {
    if (!(lambda > 0)) fail("--replacement-warmup closed-form needs weight decay > 0 on the hidden matrices");
    if (!(rho0 >= 0) || !(eta >= 0) || !(m >= 1) || !in_unit_interval(decay_product_sq))
        fail("closed_form_warmup: needs rho0 >= 0, eta >= 0, m >= 1 and a decay product in [0, 1]");
    const double P = decay_product_sq;
    // Multiplied through by rho²_inf: s² = (q + x) / (q + m² x), with
    // q = rho²_inf (1 - P) what the updates built up and x = rho0² P what is
    // left of the init. Written as (1/m) sqrt((q + x) / (q/m² + x)) so that
    // P = 1 (q = 0) gives 1/m and m = 1 gives 1 without rounding.
    const double q = eta / (2 * lambda) * (1 - P), x = rho0 * rho0 * P;
    if (x == 0) return 1.0;  // zero init or fully decayed: the norms are in the ratio m
    return (1.0 / m) * std::sqrt((q + x) / (q / (m * m) + x));
}

double ClosedFormTracker::factor() const {
    const double sp = sp_sq < 0 ? rho0 * rho0 : sp_sq, mu = mu_sq < 0 ? rho0 * rho0 : mu_sq;
    if (mu == 0) return 1.0;  // zero init before any step: nothing to compare yet
    // (1/m) sqrt(sp/mu), written so that equal norms give exactly 1/m
    return (1.0 / m) * std::sqrt(sp / mu);
}

void ClosedFormTracker::advance(double eta_t) {
    if (sp_sq < 0) sp_sq = mu_sq = rho0 * rho0;
    const double a = 1 - eta_t * lambda;
    sp_sq = a * a * sp_sq + eta_t * eta_t;
    mu_sq = a * a * mu_sq + (eta_t / m) * (eta_t / m);
}
