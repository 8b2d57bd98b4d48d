// The base learning-rate schedules at hand-computed steps, and the
// replacement warmups of docs/science.md §5: the closed form against a direct
// simulation of the two runs' weight norms, its tracker against a direct
// product, and the two shapes' end points.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <vector>

#include "optim/schedule.h"

static Schedule make_schedule(const std::string& decay, int64_t total, int64_t warmup, double min_lr) {
    Schedule s;
    s.decay = parse_lr_decay(decay);
    s.total_steps = total;
    s.warmup_steps = warmup;
    s.min_lr_fraction = min_lr;
    return s;
}

TEST_CASE("base schedules at chosen steps", "[schedule]") {
    // warmup ramp, then constant
    Schedule c = make_schedule("constant", 10, 4, 0.1);
    const double ramp[] = {0.25, 0.5, 0.75, 1.0};
    for (int t = 0; t < 4; t++) REQUIRE(schedule_factor(c, t) == ramp[t]);
    for (int t = 4; t < 12; t++) REQUIRE(schedule_factor(c, t) == 1.0);

    // linear from 1 on the first step to the minimum on the last
    Schedule lin = make_schedule("linear", 10, 0, 0.0);
    REQUIRE(schedule_factor(lin, 0) == 1.0);
    REQUIRE(schedule_factor(lin, 3) == Approx(1.0 - 3.0 / 9.0));
    REQUIRE(schedule_factor(lin, 9) == 0.0);
    REQUIRE(schedule_factor(lin, 15) == 0.0);  // past the end: stays at the minimum

    // cosine: half way between 1 and the minimum at mid-progress
    Schedule cosine = make_schedule("cosine", 11, 0, 0.2);
    REQUIRE(schedule_factor(cosine, 5) == Approx(0.6).epsilon(1e-15));
    REQUIRE(schedule_factor(cosine, 10) == Approx(0.2).epsilon(1e-15));

    // the old schedule's test values (optimizer.cpp's ScheduleConfig)
    Schedule s = make_schedule("cosine", 110, 10, 0.1);
    REQUIRE(schedule_factor(s, 0) == Approx(0.1));
    REQUIRE(schedule_factor(s, 9) == 1.0);
    REQUIRE(schedule_factor(s, 10) == 1.0);
    REQUIRE(schedule_factor(s, 109) == Approx(0.1));
    REQUIRE(schedule_factor(s, 59) == Approx(0.1 + 0.9 * 0.5 * (1 + std::cos(M_PI * 49.0 / 99.0))));
    for (int t = 11; t < 110; t++) REQUIRE(schedule_factor(s, t) < schedule_factor(s, t - 1));
    s.decay = LrDecay::Linear;
    REQUIRE(schedule_factor(s, 10 + 33) == Approx(0.1 + 0.9 * (1 - 33.0 / 99.0)));
    REQUIRE(schedule_factor(s, 109) == Approx(0.1));
    // one step after warmup: it is the last, so it gets the minimum
    Schedule one = make_schedule("linear", 2, 1, 0.1);
    REQUIRE(schedule_factor(one, 0) == 1.0);
    REQUIRE(schedule_factor(one, 1) == 0.1);
}

TEST_CASE("wsd: warmup, stable, then linear decay over the last fraction", "[schedule]") {
    Schedule w = make_schedule("wsd", 100, 10, 0.1);
    w.wsd_decay_fraction = 0.2;  // decay over steps 80..99
    REQUIRE(schedule_factor(w, 0) == 0.1);
    REQUIRE(schedule_factor(w, 9) == 1.0);
    for (int t = 10; t <= 80; t++) REQUIRE(schedule_factor(w, t) == 1.0);  // 80: progress 0
    REQUIRE(schedule_factor(w, 81) < 1.0);
    REQUIRE(schedule_factor(w, 90) == Approx(0.1 + 0.9 * (1 - 10.0 / 19.0)));
    REQUIRE(schedule_factor(w, 99) == Approx(0.1).epsilon(1e-15));
    REQUIRE(schedule_factor(w, 120) == Approx(0.1).epsilon(1e-15));
    for (int t = 81; t < 100; t++) REQUIRE(schedule_factor(w, t) < schedule_factor(w, t - 1));

    // a decay phase covering the warmup starts after it: the linear schedule
    w.wsd_decay_fraction = 1.0;
    Schedule lin = make_schedule("linear", 100, 10, 0.1);
    for (int t = 0; t < 100; t++) REQUIRE(schedule_factor(w, t) == schedule_factor(lin, t));
    // no decay phase: constant
    w.wsd_decay_fraction = 0.0;
    for (int t = 10; t < 100; t++) REQUIRE(schedule_factor(w, t) == 1.0);
}

TEST_CASE("warmup given as a fraction of the steps", "[schedule]") {
    Schedule s = make_schedule("constant", 104, 0, 0.0);
    s.warmup_fraction = 0.1;
    REQUIRE(warmup_steps_of(s) == 10);  // 10.4
    s.total_steps = 106;
    REQUIRE(warmup_steps_of(s) == 11);  // 10.6
    s.total_steps = 10;
    s.warmup_fraction = 0.25;
    REQUIRE(warmup_steps_of(s) == 3);  // 2.5: halves round away from zero
    REQUIRE(schedule_factor(s, 0) == Approx(1.0 / 3.0));
    REQUIRE(schedule_factor(s, 2) == 1.0);
    s.warmup_fraction = 0;
    s.warmup_steps = 7;
    REQUIRE(warmup_steps_of(s) == 7);
}

TEST_CASE("schedule validation names the flag", "[schedule]") {
    REQUIRE_NOTHROW(validate_schedule(Schedule{}));
    Schedule s = make_schedule("cosine", 100, 10, 0.1);
    REQUIRE_NOTHROW(validate_schedule(s));
    auto expect = [](Schedule bad, const std::string& message) {
        REQUIRE_THROWS_WITH(validate_schedule(bad), Catch::Contains(message));
    };
    REQUIRE_THROWS_WITH(parse_lr_decay("exponential"), Catch::Contains("--lr-decay must be"));
    Schedule bad = s;
    bad.warmup_fraction = 0.1;  // and warmup_steps = 10
    expect(bad, "--warmup-fraction, not both");
    for (double x : {-0.1, 1.5, std::nan("")}) {
        bad = s;
        bad.warmup_steps = 0;
        bad.warmup_fraction = x;
        expect(bad, "--warmup-fraction must be in [0, 1]");
        bad = s;
        bad.min_lr_fraction = x;
        expect(bad, "--min-lr-fraction must be in [0, 1]");
        bad = s;
        bad.wsd_decay_fraction = x;
        expect(bad, "--wsd-decay-fraction must be in [0, 1]");
    }
    bad = s;
    bad.warmup_steps = -1;
    expect(bad, "--warmup-steps must be >= 0");
    bad = s;
    bad.total_steps = 0;
    expect(bad, "--steps must be >= 1");
}

TEST_CASE("closed-form warmup: end points, direction, m = 1", "[schedule]") {
    const double eta = 0.01, lambda = 0.5;  // rho_inf² = 0.01
    for (double rho0 : {0.0, 0.01, 0.1, 1.0}) {
        for (double m : {1.0, 2.0, 8.0, 64.0}) {
            REQUIRE(closed_form_warmup(rho0, eta, lambda, m, 1.0) == (rho0 > 0 ? 1.0 / m : 1.0));  // s_0
            REQUIRE(closed_form_warmup(rho0, eta, lambda, m, 0.0) == 1.0);
            REQUIRE(closed_form_warmup(rho0, eta, lambda, m, 1e-30) == Approx(1.0).epsilon(1e-14));
        }
        for (double P : {1.0, 0.7, 0.1, 1e-5, 0.0}) REQUIRE(closed_form_warmup(rho0, eta, lambda, 1.0, P) == 1.0);
    }
    // the formula as docs/science.md §5.1 writes it, with r = rho0² / rho_inf²
    const double rho0 = 0.03, m = 4, P = 0.3, r = rho0 * rho0 / (eta / (2 * lambda));
    REQUIRE(closed_form_warmup(rho0, eta, lambda, m, P) ==
            Approx(std::sqrt((1 + (r - 1) * P) / (1 + (m * m * r - 1) * P))).epsilon(1e-14));

    // d(s²)/dP has the sign of r (1 - m²): s rises with t whether the init is
    // below the equilibrium (r < 1: both norms grow) or above it (r > 1: both
    // shrink), and never overshoots 1
    const double a = 1 - eta * lambda;
    for (double r0 : {0.01, 1.0, 100.0}) {
        const double rho = std::sqrt(r0 * eta / (2 * lambda));
        double prev = closed_form_warmup(rho, eta, lambda, 8.0, 1.0), Pt = 1.0;
        REQUIRE(prev == 0.125);
        for (int t = 1; t < 5000; t++) {
            Pt *= a * a;
            double cur = closed_form_warmup(rho, eta, lambda, 8.0, Pt);
            if (prev < 1 - 1e-12) REQUIRE(cur > prev);
            REQUIRE(cur <= 1.0 + 1e-15);
            prev = cur;
        }
        REQUIRE(prev == Approx(1.0).epsilon(1e-9));
    }
    REQUIRE_THROWS_WITH(closed_form_warmup(0.1, eta, 0.0, 2.0, 1.0), Catch::Contains("weight decay > 0"));
    REQUIRE_THROWS(closed_form_warmup(0.1, eta, lambda, 2.0, 1.5));
    REQUIRE_THROWS(closed_form_warmup(0.1, eta, lambda, 0.5, 0.5));
}

// Iterates the two norm recurrences directly: SP with (eta, lambda), µP with
// (eta/m, m lambda), both from rho0, updates of RMS 1 per coordinate
// orthogonal to W. The closed form is exact when rho_inf² is the recurrence's
// fixed point eta² / (1 - a²) = eta / (lambda (2 - eta lambda)); we get that
// from closed_form_warmup by passing lambda (1 - eta lambda / 2) in place of
// lambda (P is passed separately, from the true a). With the plain
// rho_inf² = eta / (2 lambda), r is off by the factor 1 - eta lambda / 2 and,
// since |d ln s / d ln r| <= 1/2, s by at most half its log.
TEST_CASE("closed-form warmup against a simulation of the two runs", "[schedule]") {
    for (double eta_lambda : {0.005, 0.05}) {
        const double eta = 0.01, lambda = eta_lambda / eta, a = 1 - eta * lambda;
        const double lambda_exact_fixed_point = lambda * (1 - eta * lambda / 2);
        const double approx_bound = 0.5 * -std::log(1 - eta * lambda / 2);
        for (double rho0 : {0.01, 0.1, 0.5}) {
            for (double m : {1.0, 4.0, 16.0}) {
                double sp = rho0 * rho0, mup = rho0 * rho0, P = 1.0, max_log_diff = 0;
                for (int t = 0; t < 2000; t++) {
                    const double simulated = ((eta / m) / std::sqrt(mup)) / (eta / std::sqrt(sp));
                    REQUIRE(closed_form_warmup(rho0, eta, lambda_exact_fixed_point, m, P) ==
                            Approx(simulated).epsilon(1e-12));
                    const double log_diff =
                        std::fabs(std::log(closed_form_warmup(rho0, eta, lambda, m, P) / simulated));
                    REQUIRE(log_diff <= approx_bound + 1e-12);
                    max_log_diff = std::max(max_log_diff, log_diff);
                    sp = a * a * sp + eta * eta;
                    mup = a * a * mup + (eta / m) * (eta / m);
                    P *= a * a;
                }
                REQUIRE(P < 1e-4);  // the runs span several timescales 1/(eta lambda)
                // the approximation is visible (the bound is not vacuous) except at m = 1
                if (m > 1) REQUIRE(max_log_diff > 0.05 * approx_bound);
            }
        }
    }
}

TEST_CASE("ClosedFormTracker follows the LRs actually used", "[schedule]") {
    const double peak = 0.02, lambda = 0.3, rho0 = 0.05, m = 8;
    // at a constant LR it is the closed form with the recurrence's exact fixed point
    {
        ClosedFormTracker tracker{rho0, lambda, m};
        const double a = 1 - peak * lambda, lambda_exact = lambda * (1 - peak * lambda / 2);
        for (int t = 0; t < 400; t++) {
            INFO("step " << t);
            REQUIRE(tracker.factor() ==
                    Approx(closed_form_warmup(rho0, peak, lambda_exact, m, std::pow(a, 2.0 * t))).epsilon(1e-10));
            if (t == 0) REQUIRE(tracker.factor() == 1.0 / m);
            tracker.advance(peak);
        }
    }
    // with warmup and a linear decay to 0: against the two recurrences written
    // out here, and it does not fall back towards 1/m as the LR goes to 0
    Schedule sched = make_schedule("linear", 400, 40, 0.0);
    ClosedFormTracker tracker{rho0, lambda, m};
    double sp = rho0 * rho0, mu = rho0 * rho0, at_90 = 0;
    for (int t = 0; t < 400; t++) {
        const double eta = peak * schedule_factor(sched, t), a = 1 - eta * lambda;
        REQUIRE(tracker.factor() == Approx(std::sqrt(sp / mu) / m).epsilon(1e-12));
        if (t == 360) at_90 = tracker.factor();
        if (t > 360) REQUIRE(tracker.factor() >= at_90 * 0.999);
        tracker.advance(eta);
        sp = a * a * sp + eta * eta;
        mu = a * a * mu + eta * eta / (m * m);
    }
    REQUIRE(at_90 > 4.0 / m);  // it rose well above its start
    // a zero-initialized matrix: the norms are in the ratio m from the first step on
    ClosedFormTracker zero{0.0, lambda, m};
    REQUIRE(zero.factor() == 1.0);
    zero.advance(peak);
    REQUIRE(zero.factor() == Approx(1.0));
}

TEST_CASE("exponential and decay-away warmups", "[schedule]") {
    for (const char* kind : {"exponential", "decay-away"}) {
        for (double m : {2.0, 4.0, 16.0}) {
            const double tau = 40;
            ReplacementWarmup w{parse_warmup_kind(kind), m, tau};
            REQUIRE_NOTHROW(validate_replacement_warmup(w));
            REQUIRE(replacement_factor(w, 0) == Approx(1.0 / m).epsilon(1e-15));
            for (int t = 1; t <= 10 * tau; t++) {
                REQUIRE(replacement_factor(w, t) > replacement_factor(w, t - 1));
                REQUIRE(replacement_factor(w, t) < 1.0);
            }
            const double at_5tau = replacement_factor(w, (int64_t)(5 * tau));
            if (std::string(kind) == "decay-away") {
                REQUIRE(at_5tau >= 0.99);
            } else {
                // the log-gap decays: ln s = -ln m · e^{-t/tau}; within 1% of
                // 1 at 5 tau only for m <= exp(0.01 e^5) = 4.4
                REQUIRE(std::log(at_5tau) == Approx(-std::log(m) * std::exp(-5.0)).epsilon(1e-12));
                REQUIRE((at_5tau >= 0.99) == (m <= 4.4));
            }
        }
        ReplacementWarmup one{parse_warmup_kind(kind), 1.0, 40};
        for (int t = 0; t < 500; t += 7) REQUIRE(replacement_factor(one, t) == 1.0);
    }
    ReplacementWarmup none;
    REQUIRE(replacement_factor(none, 0) == 1.0);
    REQUIRE(default_replacement_tau(1e-3, 0.1) == Approx(1e4));
}

TEST_CASE("replacement warmup validation names the flag", "[schedule]") {
    REQUIRE_NOTHROW(validate_replacement_warmup(ReplacementWarmup{}));
    REQUIRE_NOTHROW(validate_replacement_warmup(ReplacementWarmup{WarmupKind::ClosedForm, 4, 0}));  // tau unused
    REQUIRE_THROWS_WITH(parse_warmup_kind("linear"), Catch::Contains("--replacement-warmup must be"));
    REQUIRE_THROWS_WITH(validate_replacement_warmup(ReplacementWarmup{WarmupKind::Exponential, 0.5, 10}),
                        Catch::Contains("--replacement-m must be >= 1"));
    REQUIRE_THROWS_WITH(validate_replacement_warmup(ReplacementWarmup{WarmupKind::None, std::nan(""), 10}),
                        Catch::Contains("--replacement-m"));
    for (const char* kind : {"exponential", "decay-away"})
        REQUIRE_THROWS_WITH(validate_replacement_warmup(ReplacementWarmup{parse_warmup_kind(kind), 4, 0}),
                            Catch::Contains("--replacement-tau must be > 0"));
    REQUIRE_THROWS_WITH(replacement_factor(ReplacementWarmup{WarmupKind::ClosedForm, 4, 0}, 3),
                        Catch::Contains("ClosedFormTracker"));
    REQUIRE_THROWS_WITH(default_replacement_tau(1e-3, 0.0), Catch::Contains("--replacement-tau"));
}
