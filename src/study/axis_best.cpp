// The best value along a sweep's axis and its trend across widths (see
// axis_best.h).
#include "study/axis_best.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <set>

#include "io/svg.h"
#include "study/batch_fit.h"
#include "study/drift.h"
#include "util/util.h"

int best_along_axis(const std::vector<double>& x, const std::vector<double>& loss, double* refined, bool* edge) {
    int best = -1;
    for (size_t i = 0; i < loss.size(); i++)
        if (std::isfinite(loss[i]) && (best < 0 || loss[i] < loss[(size_t)best])) best = (int)i;
    *refined = NAN;
    *edge = false;
    if (best < 0) return -1;
    const size_t b = (size_t)best;
    *refined = x[b];
    *edge = b == 0 || b + 1 == loss.size();
    // refine only between ascending positive neighbours (a mixed axis keeps the plan's order)
    if (*edge || !(x[b - 1] > 0 && x[b - 1] < x[b] && x[b] < x[b + 1])) return best;
    const double px[3] = {std::log2(x[b - 1]), std::log2(x[b]), std::log2(x[b + 1])};
    const double py[3] = {loss[b - 1], loss[b], loss[b + 1]};
    double vx = 0, vy = 0;
    // both neighbours finite and higher: the vertex lies between them
    if (std::isfinite(py[0]) && std::isfinite(py[2]) && parabola_vertex(px, py, &vx, &vy)) *refined = std::exp2(vx);
    return best;
}

static bool same_group(const AxisOptimum& a, const AxisBest& g) {
    return a.base == g.base && a.flag == g.flag && a.steps == g.steps && a.width == g.width;
}

// Each seed's best value in group g, from the seeds' optima at every value.
static void seed_bests(AxisBest& g, const std::vector<SeedOptimum>& seeds) {
    std::map<int64_t, std::vector<double>> loss;  // seed -> loss per value
    for (size_t i = 0; i < g.points.size(); i++) {
        const AxisOptimum& a = *g.points[i];
        const std::string config = a.base + "+" + a.flag + "=" + a.value;
        for (const SeedOptimum& s : seeds) {
            if (s.config != config || s.steps != g.steps || s.width != g.width) continue;
            std::vector<double>& l = loss[s.seed];
            l.resize(g.points.size(), NAN);
            l[i] = s.loss;
            double& lo = g.seed_loss_lo[i];
            double& hi = g.seed_loss_hi[i];
            if (std::isfinite(s.loss)) lo = std::isfinite(lo) ? std::min(lo, s.loss) : s.loss;
            if (std::isfinite(s.loss)) hi = std::isfinite(hi) ? std::max(hi, s.loss) : s.loss;
        }
    }
    for (auto& kv : loss) {
        double refined = NAN;
        bool edge = false;
        if (best_along_axis(g.x, kv.second, &refined, &edge) < 0 || !std::isfinite(refined)) continue;
        g.seed_best.push_back(refined);
        g.at_edge = g.at_edge || edge;
    }
}

// Numeric values in ascending order, so that a value's neighbours are the
// next smaller and larger ones whatever order --axis listed them in (values
// that are not all numbers keep the plan's order).
static void sort_by_value(AxisBest& g) {
    if (!std::all_of(g.x.begin(), g.x.end(), [](double v) { return std::isfinite(v); })) return;
    std::vector<size_t> order(g.x.size());
    for (size_t i = 0; i < order.size(); i++) order[i] = i;
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return g.x[a] < g.x[b]; });
    std::vector<const AxisOptimum*> points;
    std::vector<double> x;
    for (size_t i : order) points.push_back(g.points[i]), x.push_back(g.x[i]);
    g.points = points, g.x = x;
}

std::vector<AxisBest> find_axis_best(const std::vector<AxisOptimum>& optima, const std::vector<RunResult>& results) {
    std::vector<AxisBest> out;
    for (const AxisOptimum& a : optima) {  // sweep_axis.h: a group's values are adjacent
        if (out.empty() || !same_group(a, out.back())) {
            out.push_back({});
            out.back().base = a.base, out.back().flag = a.flag, out.back().steps = a.steps, out.back().width = a.width;
        }
        char* end = nullptr;
        const double v = std::strtod(a.value.c_str(), &end);
        out.back().points.push_back(&a);
        out.back().x.push_back(*end == 0 && std::isfinite(v) ? v : NAN);
    }
    const std::vector<SeedOptimum> seeds = find_seed_optima(results);
    for (AxisBest& g : out) {
        sort_by_value(g);
        std::vector<double> loss;
        for (const AxisOptimum* a : g.points) loss.push_back(a->loss);
        g.seed_loss_lo.assign(g.points.size(), NAN);
        g.seed_loss_hi.assign(g.points.size(), NAN);
        const int b = best_along_axis(g.x, loss, &g.best, &g.at_edge);
        if (b < 0) continue;
        g.best_value = g.points[(size_t)b]->value;
        g.best_loss = loss[(size_t)b];
        seed_bests(g, seeds);
    }
    return out;
}

// ---------------------------------------------------------------- outputs

static std::string g6(double x) { return strprintf("%.6g", x); }

static double geo_mean(const std::vector<double>& v) {
    if (v.empty()) return NAN;
    double s = 0;
    for (double x : v) s += std::log2(x);
    return std::exp2(s / (double)v.size());
}

// The values whose LR optimum (averaged or any seed's) is at the LR grid's
// edge, ';'-separated: their tuned loss is only an upper bound, which biases
// the best value away from them.
static std::string lr_edge_values(const AxisBest& g) {
    std::string out;
    for (const AxisOptimum* a : g.points)
        if (a->at_edge) out += (out.empty() ? "" : ";") + a->value;
    return out;
}

static void write_best_csv(const std::string& path, const std::vector<AxisBest>& groups) {
    std::string csv = "config,flag,steps,width,best_value,best,best_loss,at_edge,n_seeds,seed_best_min,seed_best_max,"
                      "seed_best_mean,lr_edge_values\n";
    for (const AxisBest& g : groups) {
        const auto mm = std::minmax_element(g.seed_best.begin(), g.seed_best.end());
        const bool any = !g.seed_best.empty();
        csv += strprintf("%s,%s,%lld,%d,%s,%s,%s,%d,%zu,%s,%s,%s,%s\n", g.base.c_str(), g.flag.c_str(),
                         (long long)g.steps, g.width, g.best_value.c_str(), g6(g.best).c_str(), g6(g.best_loss).c_str(),
                         (int)g.at_edge, g.seed_best.size(), any ? g6(*mm.first).c_str() : "nan",
                         any ? g6(*mm.second).c_str() : "nan", g6(geo_mean(g.seed_best)).c_str(),
                         lr_edge_values(g).c_str());
    }
    write_file_atomic(path, csv);
}

// The trend of the best value across widths for one (base, flag, horizon).
struct BestTrend {
    std::string base, flag;
    int64_t steps = 0;
    int widths = 0;
    bool at_edge = false;
    BatchSlope slope;  // d log2 best / d log2 width
};

static std::vector<BestTrend> best_trends(const std::vector<AxisBest>& groups) {
    std::vector<BestTrend> out;
    std::set<size_t> used;
    for (size_t i = 0; i < groups.size(); i++) {
        if (used.count(i)) continue;
        BestTrend t;
        t.base = groups[i].base, t.flag = groups[i].flag, t.steps = groups[i].steps;
        std::vector<double> widths;
        std::vector<std::vector<double>> bests;
        for (size_t j = i; j < groups.size(); j++) {
            const AxisBest& g = groups[j];
            if (g.base != t.base || g.flag != t.flag || g.steps != t.steps) continue;
            used.insert(j);
            const bool positive = std::all_of(g.seed_best.begin(), g.seed_best.end(), [](double v) { return v > 0; });
            if (g.seed_best.empty() || !positive) continue;
            widths.push_back(g.width);
            bests.push_back(g.seed_best);
            t.at_edge = t.at_edge || g.at_edge;
        }
        t.widths = (int)widths.size();
        if (t.widths >= 2) t.slope = batch_slope(widths, bests);
        out.push_back(t);
    }
    return out;
}

static void write_trend_csv(const std::string& path, const std::vector<BestTrend>& trends) {
    std::string csv = "config,flag,steps,n_widths,slope,slope_lo,slope_hi,at_edge\n";
    for (const BestTrend& t : trends)
        csv += strprintf("%s,%s,%lld,%d,%s,%s,%s,%d\n", t.base.c_str(), t.flag.c_str(), (long long)t.steps, t.widths,
                         g6(t.slope.slope).c_str(), g6(t.slope.lo).c_str(), g6(t.slope.hi).c_str(), (int)t.at_edge);
    write_file_atomic(path, csv);
}

static Panel loss_panel(const std::string& base, const std::vector<AxisBest>& groups) {
    Panel p;
    p.title = base;
    p.ylabel = "loss at the best LR (bars: range over seeds)";
    bool positive = true;
    for (const AxisBest& g : groups)
        if (g.base == base)
            for (double v : g.x) positive = positive && v > 0;
    if (positive) p.log_x = 2;
    for (const AxisBest& g : groups) {
        if (g.base != base) continue;
        p.xlabel = "--" + g.flag;
        Series line;
        line.label = (g.steps > 0 ? std::to_string(g.steps) + " steps, " : "") + "width " + std::to_string(g.width);
        line.color = palette_color(p.series.size());
        for (size_t i = 0; i < g.points.size(); i++) {
            line.x.push_back(std::isfinite(g.x[i]) ? g.x[i] : (double)i + 1);
            line.y.push_back(g.points[i]->loss);
            line.y_lo.push_back(g.seed_loss_lo[i]);
            line.y_hi.push_back(g.seed_loss_hi[i]);
            if (g.points[i]->value == g.best_value) p.markers.push_back({line.x.back(), line.y.back(), "", line.color});
        }
        p.series.push_back(line);
    }
    return p;
}

static void print_best_tables(const std::vector<AxisBest>& groups, const std::vector<BestTrend>& trends) {
    std::printf("\nbest value along the axis (lowest loss once the LR is tuned; refined in log2 between neighbours; "
                "[min, max] over seeds):\n%-24s %-20s %7s %6s %10s %10s %24s  %s\n", "config", "flag", "steps", "width",
                "best", "loss", "seeds [min, max]", "note");
    for (const AxisBest& g : groups) {
        const bool any = !g.seed_best.empty();
        const std::string range =
            any ? strprintf("[%.4g, %.4g]", *std::min_element(g.seed_best.begin(), g.seed_best.end()),
                            *std::max_element(g.seed_best.begin(), g.seed_best.end()))
                : "";
        const std::string best = std::isfinite(g.best) ? strprintf("%.4g", g.best) : g.best_value;
        const std::string lr_edge = lr_edge_values(g);
        std::printf("%-24s %-20s %7lld %6d %10s %10.4f %24s  %s%s\n", g.base.c_str(), g.flag.c_str(),
                    (long long)g.steps, g.width, best.c_str(), g.best_loss, range.c_str(),
                    g.at_edge ? "edge: a bound " : "", lr_edge.empty() ? "" : ("LR at its grid's edge at " + lr_edge).c_str());
    }
    bool any_trend = false;
    for (const BestTrend& t : trends) any_trend = any_trend || std::isfinite(t.slope.slope);
    if (!any_trend) return;
    std::printf("\nhow the best value moves with width: slope of log2(best) against log2(width) (0 = the same at "
                "every width; interval 2.5-97.5%% over seed picks):\n");
    for (const BestTrend& t : trends)
        if (std::isfinite(t.slope.slope))
            std::printf("%-24s %-20s %7lld  %+.2f [%+.2f, %+.2f] over %d widths%s\n", t.base.c_str(), t.flag.c_str(),
                        (long long)t.steps, t.slope.slope, t.slope.lo, t.slope.hi, t.widths,
                        t.at_edge ? "  (a best value at the axis's edge: a bound)" : "");
}

void report_axis_best(const std::string& dir, const std::vector<AxisOptimum>& optima,
                      const std::vector<RunResult>& results, bool print) {
    const std::vector<AxisBest> groups = find_axis_best(optima, results);
    const std::vector<BestTrend> trends = best_trends(groups);
    write_best_csv(dir + "/axis_best.csv", groups);
    write_trend_csv(dir + "/axis_best_slope.csv", trends);
    std::vector<std::string> flags;
    for (const AxisBest& g : groups)
        if (std::find(flags.begin(), flags.end(), g.flag) == flags.end()) flags.push_back(g.flag);
    for (const std::string& flag : flags) {
        Figure fig;
        fig.title = "Loss at the best LR against --" + flag;
        fig.columns = 2;
        std::vector<std::string> bases;
        for (const AxisBest& g : groups)
            if (g.flag == flag && std::find(bases.begin(), bases.end(), g.base) == bases.end()) bases.push_back(g.base);
        for (const std::string& b : bases) fig.panels.push_back(loss_panel(b, groups));
        write_svg(dir + "/loss_vs_" + flag + ".svg", fig);
    }
    if (print) print_best_tables(groups, trends);
}
