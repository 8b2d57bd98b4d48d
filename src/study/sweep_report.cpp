// The report of a sweep: results.csv, optimum.csv, loss_vs_lr.svg and the
// optimum table (see sweep_report.h); drift.cpp adds the per-seed optima and
// the drift with its interval.
#include "study/sweep_report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <set>
#include <utility>

#include "io/svg.h"
#include "study/drift.h"
#include "study/sweep_axis.h"
#include "train/train.h"
#include "util/util.h"

// ---------------------------------------------------------------- results

std::vector<RunResult> collect_results(const std::string& dir) {
    std::vector<RunResult> out;
    // steps (the horizon axis) is the last column, so the columns before it
    // keep the places they had before the axis existed
    std::string csv = "id,config,width,lr,seed,status,final_val_loss,min_train_loss,steps_run,elapsed_s,steps\n";
    for (const PlanEntry& e : read_plan(dir)) {
        RunResult r;
        r.entry = e;
        r.status = "missing";
        r.final_val_loss = r.min_train_loss = r.elapsed_s = NAN;
        RunOutcome o = read_run_outcome(e.out_dir);
        r.status = outcome_name(o.state);
        if (o.state == RunOutcome::Invalid) {
            // not a result: reported, not counted (the runner reruns the run)
            std::fprintf(stderr, "warning: %s; run %s is counted as unfinished\n", o.problem.c_str(), e.id.c_str());
        } else if (o.state != RunOutcome::Missing) {
            r.final_val_loss = o.final_val_loss;
            r.min_train_loss = o.min_train_loss;
            r.elapsed_s = o.elapsed_s;
            r.steps_run = o.steps_run;
        }
        out.push_back(r);
        char line[512];
        std::snprintf(line, sizeof line, "%s,%s,%d,%.17g,%lld,%s,%.9g,%.9g,%lld,%.3f,%lld\n", e.id.c_str(),
                      e.config.c_str(), e.width, e.lr, (long long)e.seed, r.status.c_str(), r.final_val_loss,
                      r.min_train_loss, (long long)r.steps_run, r.elapsed_s, (long long)e.steps);
        csv += line;
    }
    write_file_atomic(dir + "/results.csv", csv);
    return out;
}

bool counts_in_fit(const RunResult& r) { return r.status == "done" || r.status == "diverged"; }

double fit_loss(const RunResult& r) {
    return r.status == "diverged" || !std::isfinite(r.final_val_loss) ? INFINITY : r.final_val_loss;
}

std::string curve_group_name(const std::string& config, int64_t steps) {
    return steps > 0 ? config + ", " + std::to_string(steps) + " steps" : config;
}

// ---------------------------------------------------------------- the optimum

bool parabola_vertex(const double x[3], const double y[3], double* vx, double* vy) {
    // y = a x^2 + b x + c through three points (Lagrange form)
    double d0 = (x[0] - x[1]) * (x[0] - x[2]), d1 = (x[1] - x[0]) * (x[1] - x[2]), d2 = (x[2] - x[0]) * (x[2] - x[1]);
    if (d0 == 0 || d1 == 0 || d2 == 0) return false;
    double a = y[0] / d0 + y[1] / d1 + y[2] / d2;
    double b = -(y[0] * (x[1] + x[2]) / d0 + y[1] * (x[0] + x[2]) / d1 + y[2] * (x[0] + x[1]) / d2);
    double c = y[0] * x[1] * x[2] / d0 + y[1] * x[0] * x[2] / d1 + y[2] * x[0] * x[1] / d2;
    if (!(a > 0) || !std::isfinite(a) || !std::isfinite(b)) return false;
    *vx = -b / (2 * a);
    *vy = c - b * b / (4 * a);
    return true;
}

CurveOptimum curve_optimum(const std::map<double, double>& curve) {
    CurveOptimum o;
    std::vector<std::pair<double, double>> pts(curve.begin(), curve.end());
    size_t best = pts.size();
    for (size_t i = 0; i < pts.size(); i++)
        if (std::isfinite(pts[i].second) && (best == pts.size() || pts[i].second < pts[best].second)) best = i;
    if (best == pts.size()) return o;  // nothing finished, or everything diverged
    o.best_lr = o.lr = pts[best].first;
    o.best_loss = o.loss = pts[best].second;
    o.at_edge = best == 0 || best + 1 == pts.size();
    if (o.at_edge || !std::isfinite(pts[best - 1].second) || !std::isfinite(pts[best + 1].second)) return o;
    double x[3], y[3], vx, vy;
    for (int k = 0; k < 3; k++) {
        x[k] = std::log2(pts[best - 1 + k].first);
        y[k] = pts[best - 1 + k].second;
    }
    if (parabola_vertex(x, y, &vx, &vy) && vx >= x[0] && vx <= x[2]) {
        o.lr = std::pow(2.0, vx);
        o.loss = vy;
        o.fitted = true;
    }
    return o;
}

// mean final loss per LR for one (config, horizon, width): diverged runs count as +inf
static std::map<double, double> loss_curve(const std::vector<RunResult>& results, const std::string& config,
                                           int64_t steps, int width, int* diverged, int* runs) {
    std::map<double, std::pair<double, int>> acc;
    for (const auto& r : results) {
        if (r.entry.config != config || r.entry.steps != steps || r.entry.width != width) continue;
        if (!counts_in_fit(r)) continue;  // unfinished, or not a valid result
        (*runs)++;
        if (r.status == "diverged") (*diverged)++;
        auto& a = acc[r.entry.lr];
        a.first += fit_loss(r);
        a.second += 1;
    }
    std::map<double, double> curve;
    for (const auto& kv : acc) curve[kv.first] = kv.second.first / kv.second.second;
    return curve;
}

std::vector<Optimum> find_optima(const std::vector<RunResult>& results) {
    // configurations in the plan's order; within one, horizons then widths ascending
    std::vector<std::string> configs;
    std::map<std::string, std::set<std::pair<int64_t, int>>> cells;
    for (const auto& r : results) {
        if (std::find(configs.begin(), configs.end(), r.entry.config) == configs.end()) configs.push_back(r.entry.config);
        cells[r.entry.config].insert({r.entry.steps, r.entry.width});
    }
    std::vector<Optimum> out;
    for (const std::string& c : configs)
        for (const auto& cell : cells[c]) {
            Optimum o;
            o.config = c;
            o.steps = cell.first;
            o.width = cell.second;
            CurveOptimum co = curve_optimum(loss_curve(results, c, o.steps, o.width, &o.diverged, &o.runs));
            o.best_lr = co.best_lr;
            o.best_loss = co.best_loss;
            o.lr = co.lr;
            o.loss = co.loss;
            o.fitted = co.fitted;
            o.at_edge = co.at_edge;
            out.push_back(o);
        }
    return out;
}

// ---------------------------------------------------------------- outputs

// The (config, horizon) groups of the optima, in their order.
static std::vector<std::pair<std::string, int64_t>> curve_groups(const std::vector<Optimum>& opt) {
    std::vector<std::pair<std::string, int64_t>> groups;
    for (const auto& o : opt)
        if (std::find(groups.begin(), groups.end(), std::make_pair(o.config, o.steps)) == groups.end())
            groups.push_back({o.config, o.steps});
    return groups;
}

static void write_optimum_csv(const std::string& dir, const std::vector<Optimum>& opt) {
    // steps last, as in results.csv: the older columns keep their places
    std::string csv = "config,width,best_lr,best_loss,fitted_lr,fitted_loss,fitted,at_edge,diverged,runs,steps\n";
    for (const auto& o : opt) {
        char line[256];
        std::snprintf(line, sizeof line, "%s,%d,%.6g,%.6g,%.6g,%.6g,%d,%d,%d,%d,%lld\n", o.config.c_str(), o.width,
                      o.best_lr, o.best_loss, o.lr, o.loss, (int)o.fitted, (int)o.at_edge, o.diverged, o.runs,
                      (long long)o.steps);
        csv += line;
    }
    write_file_atomic(dir + "/optimum.csv", csv);
}

// One panel per (configuration, horizon), one line per width.
static Figure loss_figure(const std::vector<RunResult>& results, const std::vector<Optimum>& opt) {
    Figure fig;
    fig.title = "Final validation loss against learning rate (optimum per width ringed)";
    const auto groups = curve_groups(opt);
    fig.columns = std::min<int>(3, (int)groups.size());
    for (const auto& g : groups) {
        Panel p;
        p.title = curve_group_name(g.first, g.second);
        p.xlabel = "learning rate";
        p.ylabel = "final val loss";
        p.log_x = 2;
        double floor_loss = INFINITY;
        for (const auto& o : opt)
            if (o.config == g.first && o.steps == g.second && std::isfinite(o.best_loss))
                floor_loss = std::min(floor_loss, o.best_loss);
        for (const auto& o : opt) {
            if (o.config != g.first || o.steps != g.second) continue;
            int diverged = 0, runs = 0;
            std::map<double, double> curve = loss_curve(results, o.config, o.steps, o.width, &diverged, &runs);
            Series s;
            s.label = "width " + std::to_string(o.width);
            for (const auto& kv : curve) {
                s.x.push_back(kv.first);
                // losses far above the panel's best squash the plot: not drawn
                s.y.push_back(kv.second <= floor_loss + 1.0 ? kv.second : NAN);
            }
            size_t color = p.series.size();
            s.color = palette_color(color);
            p.series.push_back(s);
            if (std::isfinite(o.lr)) p.markers.push_back({o.lr, o.loss, "", palette_color(color)});
        }
        fig.panels.push_back(p);
    }
    return fig;
}

static void print_optimum_table(const std::vector<Optimum>& opt) {
    const bool horizons = std::any_of(opt.begin(), opt.end(), [](const Optimum& o) { return o.steps > 0; });
    std::printf("\n%-20s %s%6s %11s %11s %10s  %s\n", "config", horizons ? "  steps " : "", "width", "best lr",
                "fitted lr*", "loss", "note");
    for (const auto& o : opt) {
        std::string note = o.at_edge ? "optimum at the edge of the LR grid" : o.fitted ? "" : "no parabola fit";
        if (o.diverged) note += (note.empty() ? "" : "; ") + std::to_string(o.diverged) + " diverged";
        if (!std::isfinite(o.best_lr)) note = o.runs > 0 && o.diverged == o.runs ? "every run diverged" : "no finished run";
        std::string steps = horizons ? strprintf("%7lld ", (long long)o.steps) : "";
        std::printf("%-20s %s%6d %11.4g %11.4g %10.4f  %s\n", o.config.c_str(), steps.c_str(), o.width, o.best_lr, o.lr,
                    o.loss, note.c_str());
    }
}

// Each (config, horizon)'s drift from the narrowest to the widest width, from
// the optima of the seed-averaged curves.
static void print_width_drift(const std::vector<Optimum>& opt) {
    std::set<int> widths;
    for (const Optimum& o : opt) widths.insert(o.width);
    if (widths.size() < 2) {  // e.g. a batch-size sweep at one width: no line would say anything
        if (widths.size() == 1) std::printf("\n(one width: no drift of the optimal LR across widths to report)\n");
        return;
    }
    std::printf("\ndrift of the optimal LR from the narrowest to the widest width (log2, octaves):\n");
    for (const auto& g : curve_groups(opt)) {
        const std::string name = curve_group_name(g.first, g.second);
        const Optimum *lo = nullptr, *hi = nullptr;
        double mn = INFINITY, mx = -INFINITY;
        bool edge = false;
        for (const auto& o : opt) {
            if (o.config != g.first || o.steps != g.second) continue;
            edge = edge || o.at_edge;
            if (!std::isfinite(o.lr)) continue;
            if (!lo || o.width < lo->width) lo = &o;
            if (!hi || o.width > hi->width) hi = &o;
            mn = std::min(mn, std::log2(o.lr));
            mx = std::max(mx, std::log2(o.lr));
        }
        if (!lo || lo == hi) {
            std::printf("  %-20s (needs two widths with a finished run)\n", name.c_str());
            continue;
        }
        std::printf("  %-20s %+.2f octaves (width %d -> %d); spread over widths %.2f octaves%s\n", name.c_str(),
                    std::log2(hi->lr / lo->lr), lo->width, hi->width, mx - mn,
                    edge ? " (an optimum at the grid's edge: widen the grid)" : "");
    }
}

std::vector<Optimum> report_sweep(const std::string& dir, bool print) {
    std::vector<RunResult> results = collect_results(dir);
    std::vector<Optimum> opt = find_optima(results);
    write_optimum_csv(dir, opt);
    write_svg(dir + "/loss_vs_lr.svg", loss_figure(results, opt));
    if (print) {
        print_optimum_table(opt);
        print_width_drift(opt);
        std::printf("wrote %s/results.csv, %s/optimum.csv and %s/loss_vs_lr.svg\n", dir.c_str(), dir.c_str(), dir.c_str());
    }
    // the per-seed optima and the drift's interval: only where there is more
    // than one seed to compare, or horizons to compare across
    if (sweep_has_drift_axes(results)) report_drift(dir, results, print);
    if (sweep_has_axis(results)) report_axis(dir, results, print);
    return opt;
}
