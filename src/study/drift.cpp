// Per-seed optima, the drift with its bootstrap interval, verdicts on claims
// about it, and the drift outputs of a sweep's report (see drift.h).
#include "study/drift.h"

#include <algorithm>
#include <cstdio>
#include <functional>
#include <map>
#include <set>
#include <tuple>

#include "io/svg.h"
#include "util/rng.h"
#include "util/util.h"

// ---------------------------------------------------------------- per-seed optima

std::vector<SeedOptimum> find_seed_optima(const std::vector<RunResult>& results) {
    using Key = std::tuple<int64_t, int, int64_t>;  // steps, width, seed
    std::vector<std::string> configs;
    std::map<std::string, std::map<Key, std::map<double, double>>> curves;  // config -> key -> lr -> loss
    std::map<std::string, std::map<Key, std::pair<int, int>>> counts;       // runs, diverged
    for (const auto& r : results) {
        const PlanEntry& e = r.entry;
        if (std::find(configs.begin(), configs.end(), e.config) == configs.end()) configs.push_back(e.config);
        if (!counts_in_fit(r)) continue;  // unfinished, or not a valid result
        const Key k{e.steps, e.width, e.seed};
        curves[e.config][k][e.lr] = fit_loss(r);  // one run per (seed, lr): nothing to average
        counts[e.config][k].first++;
        counts[e.config][k].second += r.status == "diverged";
    }
    std::vector<SeedOptimum> out;
    for (const std::string& c : configs)
        for (const auto& kv : curves[c]) {
            SeedOptimum s;
            s.config = c;
            std::tie(s.steps, s.width, s.seed) = kv.first;
            CurveOptimum o = curve_optimum(kv.second);
            s.lr = o.lr;
            s.loss = o.loss;
            s.fitted = o.fitted;
            s.at_edge = o.at_edge;
            std::tie(s.runs, s.diverged) = counts[c][kv.first];
            out.push_back(s);
        }
    return out;
}

// ---------------------------------------------------------------- the drift

// The drift is linear in the optima: sum_i w[i] y[i], with w[i] the
// least-squares slope's weight of point i times the width range. Computing
// the weights once makes each bootstrap drift a dot product.
static std::vector<double> drift_weights(const std::vector<double>& x) {
    if (x.size() < 2) return {};
    double mean = 0;
    for (double v : x) mean += v;
    mean /= (double)x.size();
    double sxx = 0;
    for (double v : x) sxx += (v - mean) * (v - mean);
    if (!(sxx > 0)) return {};
    const double range = *std::max_element(x.begin(), x.end()) - *std::min_element(x.begin(), x.end());
    std::vector<double> w;
    for (double v : x) w.push_back((v - mean) / sxx * range);
    return w;
}

double drift_octaves(const std::vector<double>& log2_widths, const std::vector<double>& log2_lrs) {
    if (log2_widths.size() != log2_lrs.size()) fail("drift_octaves: as many widths as optima are needed");
    std::vector<double> w = drift_weights(log2_widths);
    if (w.empty()) return NAN;
    double d = 0;
    for (size_t i = 0; i < w.size(); i++) d += w[i] * log2_lrs[i];
    return d;
}

double quantile(std::vector<double> v, double q) {
    if (v.empty()) return NAN;
    std::sort(v.begin(), v.end());
    const double pos = std::clamp(q, 0.0, 1.0) * (double)(v.size() - 1);
    const size_t below = (size_t)std::floor(pos);
    if (below + 1 >= v.size()) return v.back();
    return v[below] + (pos - (double)below) * (v[below + 1] - v[below]);
}

bool for_each_seed_pick(const std::vector<std::vector<double>>& per_group,
                        const std::function<void(const std::vector<double>&)>& visit) {
    int64_t combinations = 1;
    for (const auto& seeds : per_group) {
        if (seeds.empty()) fail("for_each_seed_pick: a group without values");
        combinations = std::min<int64_t>(combinations * (int64_t)seeds.size(), DRIFT_ENUMERATE_MAX + 1);
    }
    std::vector<double> picked(per_group.size());
    if (combinations > DRIFT_ENUMERATE_MAX) {
        Rng rng(0x5eed);  // fixed: the same report every time
        for (int k = 0; k < DRIFT_BOOTSTRAP_DRAWS; k++) {
            for (size_t i = 0; i < per_group.size(); i++) picked[i] = per_group[i][rng.below(per_group[i].size())];
            visit(picked);
        }
        return false;
    }
    // every combination, as a mixed-radix counter
    std::vector<size_t> pick(per_group.size(), 0);
    for (;;) {
        for (size_t i = 0; i < per_group.size(); i++) picked[i] = per_group[i][pick[i]];
        visit(picked);
        size_t i = 0;
        while (i < per_group.size() && ++pick[i] == per_group[i].size()) pick[i++] = 0;
        if (i == per_group.size()) return true;
    }
}

DriftInterval bootstrap_drift(const std::vector<double>& log2_widths, const std::vector<std::vector<double>>& per_width) {
    if (log2_widths.size() != per_width.size()) fail("bootstrap_drift: one list of optima per width is needed");
    DriftInterval out;
    std::vector<double> w = drift_weights(log2_widths);
    if (w.empty()) return out;
    int64_t combinations = 1;
    std::vector<double> means;
    for (const auto& seeds : per_width) {
        if (seeds.empty()) fail("bootstrap_drift: a width without optima");
        combinations = std::min<int64_t>(combinations * (int64_t)seeds.size(), DRIFT_ENUMERATE_MAX + 1);
        double m = 0;
        for (double v : seeds) m += v;
        means.push_back(m / (double)seeds.size());
    }
    out.mean = drift_octaves(log2_widths, means);
    std::vector<double> drifts;
    out.enumerated = for_each_seed_pick(per_width, [&](const std::vector<double>& y) {
        double d = 0;
        for (size_t i = 0; i < y.size(); i++) d += w[i] * y[i];
        drifts.push_back(d);
    });
    out.resamples = (int64_t)drifts.size();
    out.lo = quantile(drifts, 0.025);
    out.hi = quantile(drifts, 0.975);
    // one seed per width: the one resample is the point itself (the same sum,
    // but the compiler may round it differently in the two loops)
    if (combinations == 1) out.lo = out.hi = out.mean;
    return out;
}

std::vector<DriftEstimate> estimate_drifts(const std::vector<SeedOptimum>& seeds) {
    std::vector<DriftEstimate> out;
    for (const SeedOptimum& s : seeds) {  // the (config, horizon) groups, in order of first appearance
        auto same = [&](const DriftEstimate& d) { return d.config == s.config && d.steps == s.steps; };
        if (std::none_of(out.begin(), out.end(), same)) {
            out.push_back({});
            out.back().config = s.config;
            out.back().steps = s.steps;
        }
    }
    for (DriftEstimate& d : out) {
        std::map<int, std::vector<double>> by_width;  // width -> the seeds' log2 optima
        for (const SeedOptimum& s : seeds) {
            if (s.config != d.config || s.steps != d.steps || !std::isfinite(s.lr)) continue;
            by_width[s.width].push_back(std::log2(s.lr));
            d.any_edge = d.any_edge || s.at_edge;
        }
        std::vector<double> x;
        std::vector<std::vector<double>> y;
        for (const auto& kv : by_width) {
            d.widths.push_back(kv.first);
            x.push_back(std::log2((double)kv.first));
            y.push_back(kv.second);
            double m = 0;
            for (double v : kv.second) m += v;
            d.mean_lr.push_back(std::pow(2.0, m / (double)kv.second.size()));
            d.n_seeds = d.n_seeds == 0 ? (int)kv.second.size() : std::min(d.n_seeds, (int)kv.second.size());
        }
        d.n_widths = (int)d.widths.size();
        d.drift = bootstrap_drift(x, y);
    }
    return out;
}

// ---------------------------------------------------------------- verdicts

Verdict drift_verdict(double lo, double hi, DriftClaim claim, double tol) {
    if (!(tol >= 0)) fail("drift_verdict: the tolerance must be >= 0 octaves");
    if (std::isnan(lo) || std::isnan(hi)) return Verdict::Inconclusive;
    if (lo > hi) fail("drift_verdict: the interval's lower end is above its upper end");
    switch (claim) {
        case DriftClaim::Grows:
            return lo > 0 ? Verdict::Holds : hi <= 0 ? Verdict::DoesNotHold : Verdict::Inconclusive;
        case DriftClaim::Shrinks:
            return hi < 0 ? Verdict::Holds : lo >= 0 ? Verdict::DoesNotHold : Verdict::Inconclusive;
        case DriftClaim::None:
            if (lo >= -tol && hi <= tol) return Verdict::Holds;
            return lo > tol || hi < -tol ? Verdict::DoesNotHold : Verdict::Inconclusive;
    }
    return Verdict::Inconclusive;
}

const char* verdict_name(Verdict v) {
    switch (v) {
        case Verdict::Holds: return "holds";
        case Verdict::DoesNotHold: return "does not hold";
        case Verdict::Inconclusive: return "inconclusive";
    }
    return "?";
}

// ---------------------------------------------------------------- outputs

bool sweep_has_drift_axes(const std::vector<RunResult>& results) {
    std::set<int64_t> seeds;
    for (const auto& r : results) {
        if (r.entry.steps > 0) return true;
        seeds.insert(r.entry.seed);
    }
    return seeds.size() > 1;
}

// six significant digits, as optimum.csv has them
static std::string g6(double x) { return strprintf("%.6g", x); }

static void write_seed_optima_csv(const std::string& path, const std::vector<SeedOptimum>& seeds) {
    std::string csv = "config,steps,width,seed,lr,loss,fitted,at_edge,runs,diverged\n";
    for (const SeedOptimum& s : seeds)
        csv += strprintf("%s,%lld,%d,%lld,%s,%s,%d,%d,%d,%d\n", s.config.c_str(), (long long)s.steps, s.width,
                         (long long)s.seed, g6(s.lr).c_str(), g6(s.loss).c_str(), (int)s.fitted, (int)s.at_edge,
                         s.runs, s.diverged);
    write_file_atomic(path, csv);
}

static void write_drift_csv(const std::string& path, const std::vector<DriftEstimate>& drifts) {
    std::string csv = "config,steps,n_widths,n_seeds,drift_mean,drift_lo,drift_hi,any_edge,resamples,enumerated\n";
    for (const DriftEstimate& d : drifts)
        csv += strprintf("%s,%lld,%d,%d,%s,%s,%s,%d,%lld,%d\n", d.config.c_str(), (long long)d.steps, d.n_widths,
                         d.n_seeds, g6(d.drift.mean).c_str(), g6(d.drift.lo).c_str(), g6(d.drift.hi).c_str(),
                         (int)d.any_edge, (long long)d.drift.resamples, (int)d.drift.enumerated);
    write_file_atomic(path, csv);
}

// x = training steps (log2), y = drift in octaves with its interval as error
// bars, one series per configuration; drifts that are only bounds ringed.
static Figure drift_figure(const std::vector<DriftEstimate>& drifts) {
    Figure fig;
    fig.title = "Drift of the optimal LR across widths against training length (bars: spread of single-seed drifts)";
    fig.columns = 1;
    fig.panel_width = 560;
    fig.panel_height = 380;
    Panel p;
    p.xlabel = "training steps (configurations offset slightly)";
    p.ylabel = "drift of the optimal LR (octaves)";
    p.log_x = 2;
    p.lines.push_back({true, 0.0, "no drift", ""});
    std::vector<std::string> configs;
    for (const DriftEstimate& d : drifts)
        if (std::find(configs.begin(), configs.end(), d.config) == configs.end()) configs.push_back(d.config);
    for (size_t i = 0; i < configs.size(); i++) {
        // Each configuration's points sit a little to the side of the true
        // length (a few hundredths of an octave apart), so that the bars of
        // configurations at the same length do not hide one another.
        const double offset = std::exp2(0.05 * ((double)i - 0.5 * (double)(configs.size() - 1)));
        Series s;
        s.label = configs[i];
        s.color = palette_color(i);
        for (const DriftEstimate& d : drifts) {
            if (d.config != configs[i]) continue;
            s.x.push_back((double)d.steps * offset);
            s.y.push_back(d.drift.mean);
            s.y_lo.push_back(d.drift.lo);
            s.y_hi.push_back(d.drift.hi);
            if (d.any_edge && std::isfinite(d.drift.mean))
                p.markers.push_back({(double)d.steps * offset, d.drift.mean, "edge", s.color});
        }
        p.series.push_back(s);
    }
    fig.panels.push_back(p);
    return fig;
}

static void print_drift_table(const std::vector<DriftEstimate>& drifts) {
    if (drifts.empty()) return;
    if (std::none_of(drifts.begin(), drifts.end(), [](const DriftEstimate& d) { return d.n_widths >= 2; })) {
        std::printf("\n(no configuration has optima at two widths, so no drift; the per-seed optima are in "
                    "optimum_seeds.csv)\n");
        return;
    }
    std::printf("\ndrift of the per-seed optimal LR across widths (octaves over the width range; [lo, hi]: 2.5-97.5%% "
                "of the single-seed drifts):\n%-20s %7s %26s %6s  %s\n", "config", "steps", "drift mean [lo, hi]", "seeds", "note");
    for (const DriftEstimate& d : drifts) {
        std::string note = d.any_edge ? "edge: an optimum at the grid's edge, the drift is a bound" : "";
        if (d.n_seeds == 1) note += std::string(note.empty() ? "" : "; ") + "n_seeds = 1: the interval is the point";
        std::string value = d.n_widths < 2 ? "(needs two widths)"
                                           : strprintf("%+.2f [%+.2f, %+.2f]", d.drift.mean, d.drift.lo, d.drift.hi);
        std::printf("%-20s %7lld %26s %6d  %s\n", d.config.c_str(), (long long)d.steps, value.c_str(), d.n_seeds,
                    note.c_str());
    }
}

void report_drift(const std::string& dir, const std::vector<RunResult>& results, bool print) {
    std::vector<SeedOptimum> seeds = find_seed_optima(results);
    std::vector<DriftEstimate> drifts = estimate_drifts(seeds);
    write_seed_optima_csv(dir + "/optimum_seeds.csv", seeds);
    write_drift_csv(dir + "/drift.csv", drifts);
    // the figure needs a horizon axis: without one there is a single x (the
    // common --steps), and the table says all there is
    const bool horizons = std::any_of(drifts.begin(), drifts.end(), [](const DriftEstimate& d) { return d.steps > 0; });
    if (horizons) write_svg(dir + "/drift_vs_horizon.svg", drift_figure(drifts));
    if (print) {
        print_drift_table(drifts);
        std::printf("wrote %s/optimum_seeds.csv, %s/drift.csv%s\n", dir.c_str(), dir.c_str(),
                    horizons ? (" and " + dir + "/drift_vs_horizon.svg").c_str() : "");
    }
}
