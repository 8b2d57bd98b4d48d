// The drift of the optimal LR across widths (src/study/drift.h): per-seed
// optima, the drift as a least-squares slope, its bootstrap interval over
// seeds (enumerated and drawn), and the verdicts on claims about it.
#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

#include "study/drift.h"
#include "test_helpers.h"

namespace {

RunResult run(const std::string& config, int64_t steps, int width, int64_t seed, double lr, double loss,
              const std::string& status = "done") {
    return synthetic_run(config, steps, width, seed, lr, loss, status);
}

// A synthetic sweep with a known optimum per (width, seed): loss =
// 0.1 (log2 lr - opt)^2 + 2 with opt = a + b log2(width) + offset, on a grid
// of whole octaves 2^-14..2^-2. The parabola through three grid points of a
// parabola is the parabola itself, so every per-seed optimum is exact. The
// offsets of a width's seeds are {-noise, 0, +noise}, rotated from one width
// to the next, so each width's seed average is exactly a + b log2(width).
std::vector<RunResult> synthetic_sweep(double a, double b, double noise, int64_t steps = 0) {
    std::vector<RunResult> rs;
    const std::vector<int> widths = {32, 64, 128, 256};
    for (size_t wi = 0; wi < widths.size(); wi++)
        for (int64_t seed = 1; seed <= 3; seed++) {
            double offset = noise * (double)(((int64_t)wi + seed) % 3 - 1);
            double opt = a + b * std::log2((double)widths[wi]) + offset;
            for (int e = -14; e <= -2; e++)
                rs.push_back(run("mup", steps, widths[wi], seed, std::pow(2.0, e), 0.1 * (e - opt) * (e - opt) + 2));
        }
    return rs;
}

}  // namespace

TEST_CASE("per-seed optima: one per (config, horizon, width, seed), by the optimum rule", "[drift]") {
    std::vector<RunResult> rs;
    // seed 1: minimum at log2 lr = -7.5, fitted; seed 2: minimum at the grid's
    // largest LR; seed 3: every run diverged; seed 4: not finished
    for (int e = -10; e <= -5; e++) {
        double lr = std::pow(2.0, e);
        rs.push_back(run("a", 500, 64, 1, lr, 2 + 0.1 * (e + 7.5) * (e + 7.5)));
        rs.push_back(run("a", 500, 64, 2, lr, 3.0 - 0.01 * e));
        rs.push_back(run("a", 500, 64, 3, lr, NAN, "diverged"));
        rs.push_back(run("a", 500, 64, 4, lr, NAN, "missing"));
    }
    // the same seed at another horizon is another curve; its largest LR diverged
    rs.push_back(run("a", 2000, 64, 1, 0.01, 2.5));
    rs.push_back(run("a", 2000, 64, 1, 0.02, 2.4));
    rs.push_back(run("a", 2000, 64, 1, 0.04, 2.6));
    rs.push_back(run("a", 2000, 64, 1, 0.08, NAN, "diverged"));
    std::vector<SeedOptimum> s = find_seed_optima(rs);
    REQUIRE(s.size() == 4);
    REQUIRE(s[0].steps == 500);
    REQUIRE(s[0].seed == 1);
    REQUIRE(s[0].fitted);
    REQUIRE_FALSE(s[0].at_edge);
    REQUIRE(std::log2(s[0].lr) == Approx(-7.5));
    REQUIRE(s[0].loss == Approx(2.0));
    REQUIRE(s[1].seed == 2);
    REQUIRE(s[1].at_edge);
    REQUIRE_FALSE(s[1].fitted);
    REQUIRE(s[1].lr == std::pow(2.0, -5));
    REQUIRE(s[2].seed == 3);
    REQUIRE(std::isnan(s[2].lr));  // diverged = +inf everywhere: no optimum
    REQUIRE(s[2].diverged == 6);
    REQUIRE(s[2].runs == 6);
    REQUIRE(s[3].steps == 2000);
    REQUIRE(s[3].fitted);
    REQUIRE(s[3].lr > 0.01);
    REQUIRE(s[3].lr < 0.04);
    REQUIRE(s[3].diverged == 1);
}

TEST_CASE("the drift: least-squares slope of log2 lr* on log2 width, times the width range", "[drift]") {
    // two widths: exactly log2 of the ratio of the optima
    REQUIRE(drift_octaves({5, 7}, {-6, -7}) == Approx(-1.0));
    // optima on a line: b times the range, whatever the spacing
    REQUIRE(drift_octaves({5, 6, 8}, {1 - 0.5 * 5, 1 - 0.5 * 6, 1 - 0.5 * 8}) == Approx(-1.5));
    // off the line, the middle width counts: slope 9/14 per unit of y at the widest
    REQUIRE(drift_octaves({5, 6, 8}, {0, 0, 1}) == Approx(15.0 / 14.0));
    REQUIRE(drift_octaves({5, 6, 8}, {0, 1, 0}) == Approx(-3.0 / 14.0));
    REQUIRE(std::isnan(drift_octaves({5}, {1})));
    REQUIRE(std::isnan(drift_octaves({5, 5}, {1, 2})));  // one width twice is still one width
}

TEST_CASE("the drift on a synthetic sweep: the truth, inside an interval that widens with seed noise", "[drift]") {
    const double a = -4, b = -0.5, truth = b * 3;  // widths 32..256: three octaves
    std::vector<DriftEstimate> exact = estimate_drifts(find_seed_optima(synthetic_sweep(a, b, 0)));
    REQUIRE(exact.size() == 1);
    REQUIRE(exact[0].n_widths == 4);
    REQUIRE(exact[0].n_seeds == 3);
    REQUIRE(exact[0].drift.enumerated);
    REQUIRE(exact[0].drift.resamples == 81);  // 3^4 combinations
    REQUIRE(exact[0].drift.mean == Approx(truth));
    REQUIRE(exact[0].drift.lo == Approx(truth));
    REQUIRE(exact[0].drift.hi == Approx(truth));
    REQUIRE_FALSE(exact[0].any_edge);
    REQUIRE(exact[0].widths == std::vector<int>{32, 64, 128, 256});
    REQUIRE(std::log2(exact[0].mean_lr[0]) == Approx(a + b * 5));
    double width_prev = 0, per_noise = 0;
    for (double noise : {0.1, 0.3, 0.6}) {
        INFO("noise " << noise);
        DriftEstimate d = estimate_drifts(find_seed_optima(synthetic_sweep(a, b, noise)))[0];
        REQUIRE(d.drift.mean == Approx(truth));  // the seed averages are on the line
        REQUIRE(d.drift.lo < truth);
        REQUIRE(d.drift.hi > truth);
        REQUIRE(d.drift.hi - d.drift.lo > width_prev);
        // the drift is linear in the optima: the interval scales with the noise
        if (per_noise == 0) per_noise = (d.drift.hi - d.drift.lo) / noise;
        REQUIRE((d.drift.hi - d.drift.lo) / noise == Approx(per_noise));
        width_prev = d.drift.hi - d.drift.lo;
    }
    // an optimum pushed past the grid's end: at the edge, flagged as a bound
    DriftEstimate edge = estimate_drifts(find_seed_optima(synthetic_sweep(2, b, 0)))[0];
    REQUIRE(edge.any_edge);
    // horizons are separate drifts
    std::vector<RunResult> two = synthetic_sweep(a, b, 0, 500), longer = synthetic_sweep(-8, 0.5, 0, 2000);
    two.insert(two.end(), longer.begin(), longer.end());
    std::vector<DriftEstimate> by_h = estimate_drifts(find_seed_optima(two));
    REQUIRE(by_h.size() == 2);
    REQUIRE(by_h[0].steps == 500);
    REQUIRE(by_h[0].drift.mean == Approx(-1.5));
    REQUIRE(by_h[1].steps == 2000);
    REQUIRE(by_h[1].drift.mean == Approx(1.5));
}

TEST_CASE("the bootstrap enumerates one seed per width: 2 seeds x 3 widths = 8 drifts", "[drift]") {
    // widths 2^0, 2^1, 2^2: the drift is y(widest) - y(narrowest), the middle
    // width has weight 0. The 8 drifts are {1, 2, 3, 4} twice each.
    DriftInterval d = bootstrap_drift({0, 1, 2}, {{0, 1}, {5, 7}, {2, 4}});
    REQUIRE(d.enumerated);
    REQUIRE(d.resamples == 8);
    REQUIRE(d.mean == Approx(2.5));  // drift of the seed means: 3 - 0.5
    // 2.5th percentile: 0.175 of the way from the 1st to the 2nd smallest (1, 1)
    REQUIRE(d.lo == Approx(1.0));
    REQUIRE(d.hi == Approx(4.0));
    // unequal values at the ends: the interpolation shows
    DriftInterval e = bootstrap_drift({0, 2}, {{0, 1}, {0, 2, 4, 8}});  // drifts 0,2,4,8,-1,1,3,7
    REQUIRE(e.resamples == 8);
    REQUIRE(e.lo == Approx(-1 + 0.175 * 1));
    REQUIRE(e.hi == Approx(7 + 0.825 * 1));
    REQUIRE(e.mean == Approx(3.5 - 0.5));
    // quantiles: linear between order statistics at q (n - 1)
    REQUIRE(quantile({8, 1, 2, 3, 4, 5, 6, 7}, 0.025) == Approx(1.175));
    REQUIRE(quantile({8, 1, 2, 3, 4, 5, 6, 7}, 0.975) == Approx(7.825));
    REQUIRE(quantile({3}, 0.975) == 3);
    REQUIRE(std::isnan(quantile({}, 0.5)));
}

TEST_CASE("the bootstrap draws 2000 resamples past 4096 combinations, the same every time", "[drift]") {
    std::vector<double> x;
    std::vector<std::vector<double>> y;
    for (int i = 0; i < 12; i++) {
        x.push_back(i);
        y.push_back({0.1 * i, 0.1 * i + (i % 2 ? 0.3 : -0.3)});
    }
    DriftInterval all = bootstrap_drift(x, y);  // 2^12 = 4096: still every one
    REQUIRE(all.enumerated);
    REQUIRE(all.resamples == 4096);
    x.push_back(12);
    y.push_back({1.2, 1.5});
    DriftInterval drawn = bootstrap_drift(x, y);  // 8192
    REQUIRE_FALSE(drawn.enumerated);
    REQUIRE(drawn.resamples == DRIFT_BOOTSTRAP_DRAWS);
    REQUIRE(drawn.lo < drawn.mean);
    REQUIRE(drawn.mean < drawn.hi);
    DriftInterval again = bootstrap_drift(x, y);
    REQUIRE(again.lo == drawn.lo);
    REQUIRE(again.hi == drawn.hi);
}

TEST_CASE("one seed per width: the interval is the point", "[drift]") {
    std::vector<RunResult> rs;
    for (RunResult r : synthetic_sweep(-4, 0.25, 0.3))
        if (r.entry.seed == 2 || r.entry.width == 32) rs.push_back(r);  // the narrowest keeps 3 seeds
    DriftEstimate d = estimate_drifts(find_seed_optima(rs))[0];
    REQUIRE(d.n_seeds == 1);  // the fewest at any width
    REQUIRE(d.drift.resamples == 3);
    std::vector<RunResult> one;
    for (RunResult r : rs)
        if (r.entry.seed == 2) one.push_back(r);
    DriftEstimate p = estimate_drifts(find_seed_optima(one))[0];
    REQUIRE(p.n_seeds == 1);
    REQUIRE(p.drift.resamples == 1);
    REQUIRE(p.drift.lo == p.drift.mean);
    REQUIRE(p.drift.hi == p.drift.mean);
}

TEST_CASE("verdicts on a claimed drift from its interval", "[drift]") {
    using C = DriftClaim;
    using V = Verdict;
    // grows: the whole interval above 0 / at or below 0 / straddling
    CHECK(drift_verdict(0.1, 0.5, C::Grows, 0) == V::Holds);
    CHECK(drift_verdict(-0.5, 0.0, C::Grows, 0) == V::DoesNotHold);
    CHECK(drift_verdict(-0.5, -0.1, C::Grows, 0) == V::DoesNotHold);
    CHECK(drift_verdict(0.0, 0.5, C::Grows, 0) == V::Inconclusive);
    CHECK(drift_verdict(-0.1, 0.5, C::Grows, 0) == V::Inconclusive);
    // shrinks: the mirror image
    CHECK(drift_verdict(-0.5, -0.1, C::Shrinks, 0) == V::Holds);
    CHECK(drift_verdict(0.0, 0.5, C::Shrinks, 0) == V::DoesNotHold);
    CHECK(drift_verdict(-0.5, 0.0, C::Shrinks, 0) == V::Inconclusive);
    CHECK(drift_verdict(-0.5, 0.1, C::Shrinks, 0) == V::Inconclusive);
    // no drift, within tol = 0.25 octaves: inside / entirely outside / across an end
    CHECK(drift_verdict(-0.25, 0.25, C::None, 0.25) == V::Holds);
    CHECK(drift_verdict(-0.1, 0.2, C::None, 0.25) == V::Holds);
    CHECK(drift_verdict(0.3, 0.9, C::None, 0.25) == V::DoesNotHold);
    CHECK(drift_verdict(-0.9, -0.3, C::None, 0.25) == V::DoesNotHold);
    CHECK(drift_verdict(0.1, 0.4, C::None, 0.25) == V::Inconclusive);
    CHECK(drift_verdict(-0.5, 0.5, C::None, 0.25) == V::Inconclusive);
    CHECK(drift_verdict(0.25, 0.4, C::None, 0.25) == V::Inconclusive);  // touches tol: not entirely outside
    // no interval measured: no verdict
    CHECK(drift_verdict(NAN, NAN, C::Grows, 0) == V::Inconclusive);
    CHECK(std::string(verdict_name(V::DoesNotHold)) == "does not hold");
    REQUIRE_THROWS_WITH(drift_verdict(0.5, 0.1, C::Grows, 0), Catch::Contains("lower end is above"));
    REQUIRE_THROWS_WITH(drift_verdict(0, 1, C::None, -0.1), Catch::Contains("tolerance"));
}
