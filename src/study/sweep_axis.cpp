// The optimal LR along a sweep's --axis, and the batch-size laws fitted to it
// (see sweep_axis.h).
#include "study/sweep_axis.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <tuple>

#include "io/svg.h"
#include "study/axis_best.h"
#include "study/batch_fit.h"
#include "study/drift.h"
#include "study/noise_trend.h"
#include "util/util.h"

bool parse_axis_point(const std::string& config, AxisPoint* out) {
    // base names and flag names have no '=', so the first '=' ends the flag,
    // and the last '+' before it starts it (a base name may contain '+')
    const size_t eq = config.find('=');
    if (eq == std::string::npos) return false;
    const size_t plus = config.rfind('+', eq);
    if (plus == std::string::npos || plus == 0 || plus + 1 == eq) return false;
    out->base = config.substr(0, plus);
    out->flag = config.substr(plus + 1, eq - plus - 1);
    out->value = config.substr(eq + 1);
    return true;
}

bool sweep_has_axis(const std::vector<RunResult>& results) {
    AxisPoint p;
    return std::any_of(results.begin(), results.end(),
                       [&](const RunResult& r) { return parse_axis_point(r.entry.config, &p); });
}

std::vector<AxisOptimum> axis_optima(const std::vector<RunResult>& results) {
    std::vector<AxisOptimum> out;
    std::vector<SeedOptimum> seeds = find_seed_optima(results);
    for (const Optimum& o : find_optima(results)) {
        AxisPoint p;
        if (!parse_axis_point(o.config, &p)) continue;
        AxisOptimum a;
        a.base = p.base, a.flag = p.flag, a.value = p.value;
        a.steps = o.steps, a.width = o.width;
        a.lr = o.lr, a.loss = o.loss;
        a.at_edge = o.at_edge;
        for (const SeedOptimum& s : seeds)
            if (s.config == o.config && s.steps == o.steps && s.width == o.width && std::isfinite(s.lr)) {
                a.seed_lrs.push_back(s.lr);
                a.at_edge = a.at_edge || s.at_edge;
            }
        if (std::isfinite(a.lr) && a.lr > 0) out.push_back(a);
    }
    // group a series' values together, keeping the plan's order of bases
    std::vector<std::string> bases;
    for (const AxisOptimum& a : out)
        if (std::find(bases.begin(), bases.end(), a.base) == bases.end()) bases.push_back(a.base);
    auto rank = [&](const AxisOptimum& a) {
        return std::make_tuple(std::find(bases.begin(), bases.end(), a.base) - bases.begin(), a.steps, a.width);
    };
    std::stable_sort(out.begin(), out.end(), [&](const AxisOptimum& x, const AxisOptimum& y) { return rank(x) < rank(y); });
    return out;
}

static double median(std::vector<double> v) { return quantile(std::move(v), 0.5); }

std::vector<const RunResult*> runs_at_best_lr(const std::vector<RunResult>& results, const Optimum& o) {
    std::vector<const RunResult*> out;
    for (const RunResult& r : results)
        if (r.entry.config == o.config && r.entry.steps == o.steps && r.entry.width == o.width &&
            r.entry.lr == o.best_lr)
            out.push_back(&r);
    return out;
}

double seed_mean_lr(const AxisOptimum& a) {
    if (a.seed_lrs.empty()) return NAN;
    double s = 0;
    for (double lr : a.seed_lrs) s += std::log2(lr);
    return std::exp2(s / (double)a.seed_lrs.size());
}

double measured_b_simple(const std::vector<std::string>& run_dirs) {
    std::vector<double> per_run;
    for (const std::string& d : run_dirs) {
        std::vector<double> v;
        for (const NoisePoint& p : read_noise_points(d + "/log.csv")) v.push_back(p.b_simple);
        if (v.empty()) continue;
        per_run.push_back(median(std::vector<double>(v.begin() + (long)(v.size() / 2), v.end())));
    }
    return median(per_run);
}

// ---------------------------------------------------------------- series

// One line of the figure: the optima of one (base, horizon, width) along the axis.
struct AxisSeries {
    std::string base, flag;
    int64_t steps = 0;
    int width = 0;
    std::vector<const AxisOptimum*> points;
    std::vector<double> x;  // the values as numbers (NaN where a value is not one)
};

static std::vector<AxisSeries> axis_series(const std::vector<AxisOptimum>& optima) {
    std::vector<AxisSeries> out;
    for (const AxisOptimum& a : optima) {
        if (out.empty() || out.back().base != a.base || out.back().steps != a.steps || out.back().width != a.width) {
            out.push_back({});
            out.back().base = a.base, out.back().flag = a.flag, out.back().steps = a.steps, out.back().width = a.width;
        }
        char* end = nullptr;
        double v = std::strtod(a.value.c_str(), &end);
        out.back().points.push_back(&a);
        out.back().x.push_back(*end == 0 && std::isfinite(v) ? v : NAN);
    }
    return out;
}

static std::string series_name(const AxisSeries& s) {
    return curve_group_name(s.base, s.steps) + ", width " + std::to_string(s.width);
}

// The batch-size laws for a series with at least three numeric batch sizes.
struct SeriesFits {
    bool ok = false;
    BatchFit law[2];
    BatchSlope slope;  // d log2 lr* / d log2 B, whatever the law
    double b_simple = NAN;
};

static SeriesFits fit_series(const AxisSeries& s, const std::vector<RunResult>& results,
                             const std::vector<Optimum>& optima) {
    SeriesFits f;
    std::vector<double> batch;
    std::vector<std::vector<double>> per_batch;
    for (size_t i = 0; i < s.points.size(); i++)
        if (s.x[i] > 0 && !s.points[i]->seed_lrs.empty()) {
            batch.push_back(s.x[i]);
            per_batch.push_back(s.points[i]->seed_lrs);
        }
    if (batch.size() < 3) return f;
    f.ok = true;
    f.law[0] = fit_batch_law_seeds(BatchLaw::McCandlish, batch, per_batch);
    f.law[1] = fit_batch_law_seeds(BatchLaw::Surge, batch, per_batch);
    f.slope = batch_slope(batch, per_batch);
    // the runs at each batch size's best grid LR (every seed) measured B_simple
    std::vector<std::string> dirs;
    for (const AxisOptimum* a : s.points) {
        const std::string config = a->base + "+" + a->flag + "=" + a->value;
        for (const Optimum& o : optima)
            if (o.config == config && o.steps == a->steps && o.width == a->width)
                for (const RunResult* r : runs_at_best_lr(results, o))
                    if (counts_in_fit(*r)) dirs.push_back(r->entry.out_dir);
    }
    f.b_simple = measured_b_simple(dirs);
    return f;
}

// ---------------------------------------------------------------- outputs

static std::string g6(double x) { return strprintf("%.6g", x); }

static void write_axis_csv(const std::string& path, const std::vector<AxisOptimum>& optima) {
    std::string csv = "config,flag,value,steps,width,lr,loss,at_edge,n_seeds,seed_lr_min,seed_lr_max,seed_lr_mean\n";
    for (const AxisOptimum& a : optima) {
        const auto mm = std::minmax_element(a.seed_lrs.begin(), a.seed_lrs.end());
        const bool any = !a.seed_lrs.empty();
        csv += strprintf("%s,%s,%s,%lld,%d,%s,%s,%d,%zu,%s,%s,%s\n", a.base.c_str(), a.flag.c_str(), a.value.c_str(),
                         (long long)a.steps, a.width, g6(a.lr).c_str(), g6(a.loss).c_str(), (int)a.at_edge,
                         a.seed_lrs.size(), any ? g6(*mm.first).c_str() : "nan", any ? g6(*mm.second).c_str() : "nan",
                         g6(seed_mean_lr(a)).c_str());
    }
    write_file_atomic(path, csv);
}

static std::string fit_row(const AxisSeries& s, const BatchFit& f, const SeriesFits& fits) {
    return strprintf("%s,%lld,%d,%s,%s,%s,%s,%s,%d,%lld,%s,%s,%s,%s,%s\n", s.base.c_str(), (long long)s.steps, s.width,
                     batch_law_name(f.law), g6(f.eta_max).c_str(), g6(f.b_noise).c_str(), g6(f.b_noise_lo).c_str(),
                     g6(f.b_noise_hi).c_str(), (int)f.b_noise_at_edge, (long long)f.resamples,
                     g6(f.rms_octaves).c_str(), g6(fits.b_simple).c_str(), g6(fits.slope.slope).c_str(),
                     g6(fits.slope.lo).c_str(), g6(fits.slope.hi).c_str());
}

// x positions: the numbers, or 1, 2, 3... when some value is not a number
static std::vector<double> plot_x(const AxisSeries& s) {
    if (std::all_of(s.x.begin(), s.x.end(), [](double v) { return std::isfinite(v); })) return s.x;
    std::vector<double> x;
    for (size_t i = 0; i < s.x.size(); i++) x.push_back((double)i + 1);
    return x;
}

static Panel axis_panel(const std::string& base, const std::string& flag, const std::vector<AxisSeries>& series,
                        const std::vector<SeriesFits>& fits) {
    Panel p;
    p.title = base;
    p.xlabel = "--" + flag;
    p.ylabel = "optimal LR (bars: range over seeds)";
    p.log_y = 2;
    bool positive = true, numeric = true;
    double lo = INFINITY, hi = 0;
    for (const AxisSeries& s : series)
        for (double v : s.x) {
            numeric = numeric && std::isfinite(v);
            positive = positive && v > 0;
            lo = std::min(lo, v), hi = std::max(hi, v);
        }
    if (numeric && positive && hi >= 4 * lo) p.log_x = 2;
    for (size_t k = 0; k < series.size(); k++) {
        const AxisSeries& s = series[k];
        if (s.base != base) continue;
        Series line;
        line.label = (s.steps > 0 ? std::to_string(s.steps) + " steps, " : "") + "width " + std::to_string(s.width);
        line.color = palette_color(p.series.size());
        line.x = plot_x(s);
        for (const AxisOptimum* a : s.points) {
            line.y.push_back(a->lr);
            const bool any = !a->seed_lrs.empty();
            line.y_lo.push_back(any ? *std::min_element(a->seed_lrs.begin(), a->seed_lrs.end()) : NAN);
            line.y_hi.push_back(any ? *std::max_element(a->seed_lrs.begin(), a->seed_lrs.end()) : NAN);
            if (a->at_edge) p.markers.push_back({line.x[line.y.size() - 1], a->lr, "edge", line.color});
        }
        const std::string color = line.color;
        p.series.push_back(line);
        if (!fits[k].ok) continue;
        // the fitted laws over the data's range, 16 points per octave
        for (const BatchFit& f : fits[k].law) {
            Series curve;
            curve.label = std::string(batch_law_name(f.law)) + " fit, B_noise " + format_number(f.b_noise);
            curve.color = color;
            curve.markers = false;
            curve.dashed = true;
            if (f.law == BatchLaw::Surge) curve.dash_pattern = "2 3";  // dotted: tell the two laws apart
            for (double b = lo; b <= hi * 1.0001; b *= std::exp2(1.0 / 16)) {
                curve.x.push_back(b);
                curve.y.push_back(batch_law_lr(f.law, f.eta_max, f.b_noise, b));
            }
            p.series.push_back(curve);
        }
        if (std::isfinite(fits[k].b_simple) && fits[k].b_simple > 0)
            p.lines.push_back({false, fits[k].b_simple, "B_simple " + format_number(fits[k].b_simple), color});
    }
    return p;
}

static void print_axis_table(const std::vector<AxisOptimum>& optima) {
    std::printf("\noptimal LR along the axis (seed-averaged curve; [min, max] of the per-seed optima):\n"
                "%-24s %-14s %7s %6s %11s %24s  %s\n", "config", "value", "steps", "width", "lr*", "seeds [min, max]", "note");
    for (const AxisOptimum& a : optima) {
        const bool any = !a.seed_lrs.empty();
        std::string range = any ? strprintf("[%.4g, %.4g]", *std::min_element(a.seed_lrs.begin(), a.seed_lrs.end()),
                                            *std::max_element(a.seed_lrs.begin(), a.seed_lrs.end()))
                                : "";
        std::printf("%-24s %-14s %7lld %6d %11.4g %24s  %s\n", a.base.c_str(), (a.flag + "=" + a.value).c_str(),
                    (long long)a.steps, a.width, a.lr, range.c_str(), a.at_edge ? "edge: a bound" : "");
    }
}
static void print_fit_table(const std::vector<AxisSeries>& series, const std::vector<SeriesFits>& fits) {
    std::printf("\nbatch-size laws fitted to the optima (least squares in log2 lr; B_noise interval: 2.5-97.5%% of "
                "single-seed fits):\n%-36s %-11s %10s %26s %8s %10s\n", "series", "law", "eta_max",
                "B_noise [lo, hi]", "rms oct", "B_simple");
    for (size_t k = 0; k < series.size(); k++)
        if (fits[k].ok)
            for (const BatchFit& f : fits[k].law)
                std::printf("%-36s %-11s %10.4g %26s %8.3f %10.4g%s\n", series_name(series[k]).c_str(),
                            batch_law_name(f.law), f.eta_max,
                            strprintf("%.4g [%.4g, %.4g]", f.b_noise, f.b_noise_lo, f.b_noise_hi).c_str(),
                            f.rms_octaves, fits[k].b_simple, f.b_noise_at_edge ? "  (B_noise at the search's end: a bound)" : "");
    std::printf("\nhow fast the optimum grows with the batch: the slope of log2 lr* against log2 B (1 linear, 0.5 "
                "square root, 0 flat; interval: 2.5-97.5%% over seed picks):\n");
    for (size_t k = 0; k < series.size(); k++)
        if (fits[k].ok)
            std::printf("%-36s %+.2f [%+.2f, %+.2f]\n", series_name(series[k]).c_str(), fits[k].slope.slope,
                        fits[k].slope.lo, fits[k].slope.hi);
}

void report_axis(const std::string& dir, const std::vector<RunResult>& results, bool print) {
    std::vector<AxisOptimum> optima = axis_optima(results);
    write_axis_csv(dir + "/optimum_vs_axis.csv", optima);
    if (optima.empty()) return;
    std::vector<AxisSeries> series = axis_series(optima);
    const std::vector<Optimum> all_optima = find_optima(results);
    std::vector<SeriesFits> fits(series.size());
    std::string fit_csv = "config,steps,width,law,eta_max,b_noise,b_noise_lo,b_noise_hi,b_noise_at_edge,resamples,"
                          "rms_octaves,b_simple_measured,slope,slope_lo,slope_hi\n";
    bool any_fit = false;
    for (size_t k = 0; k < series.size(); k++) {
        if (series[k].flag != "batch-size") continue;
        fits[k] = fit_series(series[k], results, all_optima);
        if (!fits[k].ok) continue;
        any_fit = true;
        for (const BatchFit& f : fits[k].law) fit_csv += fit_row(series[k], f, fits[k]);
    }
    if (any_fit) write_file_atomic(dir + "/batch_fit.csv", fit_csv);
    // one figure per flag, one panel per base configuration
    std::vector<std::string> flags;
    for (const AxisSeries& s : series)
        if (std::find(flags.begin(), flags.end(), s.flag) == flags.end()) flags.push_back(s.flag);
    for (const std::string& flag : flags) {
        Figure fig;
        fig.title = "Optimal LR against --" + flag;
        fig.columns = 2;
        std::vector<std::string> bases;
        for (const AxisSeries& s : series)
            if (s.flag == flag && std::find(bases.begin(), bases.end(), s.base) == bases.end()) bases.push_back(s.base);
        for (const std::string& b : bases) fig.panels.push_back(axis_panel(b, flag, series, fits));
        write_svg(dir + "/optimum_vs_" + flag + ".svg", fig);
    }
    if (print) print_axis_table(optima);
    if (print && any_fit) print_fit_table(series, fits);
    if (print)
        std::printf("wrote %s/optimum_vs_axis.csv%s and the optimum_vs_<flag>.svg figures\n", dir.c_str(),
                    any_fit ? (", " + dir + "/batch_fit.csv").c_str() : "");
    report_axis_best(dir, optima, results, print);
    report_noise_trend(dir, results, all_optima, print);
}
