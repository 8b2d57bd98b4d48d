#include "study/figures.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <set>
#include <sstream>

#include "io/csv.h"
#include "util/flags.h"
#include "optim/schedule.h"
#include "io/svg.h"
#include "study/sweep.h"
#include "train/run_metadata.h"
#include "util/util.h"

namespace {

// One layer's measurements over training.
struct Trace {
    std::vector<double> step, rrc, align, w_rms, w_eq, rel_update, lr, decay;
};

// Every field read is checked (csv.h): a damaged measure.csv fails naming
// its file and line, a torn last row is skipped with a warning. Never returns
// an empty trace, so callers may use front(), back() and [0].
Trace read_trace(const std::string& run_dir, const std::string& layer) {
    std::string path = run_dir + "/measure.csv";
    CsvTable t = read_csv(path);
    int c_step = t.col("step"), c_tensor = t.col("tensor"), c_rrc = t.col("rrc"), c_align = t.col("alignment_ratio"),
        c_w = t.col("w_rms"), c_eq = t.col("w_rms_equilibrium"), c_rel = t.col("rel_update"), c_lr = t.col("lr"),
        c_d = t.col("decay");
    Trace tr;
    for (const CsvRow& r : t.rows) {
        if (t.text(r, c_tensor) != layer) continue;
        // the step orders and keys the points (mean_between, the closed
        // form's map), so it must be a real number
        tr.step.push_back(t.finite_number(r, c_step));
        tr.rrc.push_back(t.number(r, c_rrc));
        tr.align.push_back(t.number(r, c_align));
        tr.w_rms.push_back(t.number(r, c_w));
        tr.w_eq.push_back(t.number(r, c_eq));
        tr.rel_update.push_back(t.number(r, c_rel));
        tr.lr.push_back(t.number(r, c_lr));
        tr.decay.push_back(t.number(r, c_d));
    }
    if (tr.step.empty()) fail(path + ": no measurements of " + layer + " (was --measure-every 0?)");
    return tr;
}

// mean of v over the entries whose step lies in [lo, hi]
double mean_between(const std::vector<double>& step, const std::vector<double>& v, double lo, double hi) {
    double s = 0;
    int n = 0;
    for (size_t i = 0; i < step.size(); i++)
        if (step[i] >= lo && step[i] <= hi && std::isfinite(v[i])) s += v[i], n++;
    return n ? s / n : NAN;
}

std::string g(double x) {
    char b[32];
    std::snprintf(b, sizeof b, "%.3g", x);
    return b;
}

}  // namespace

std::string make_figures(const FiguresConfig& fc) {
    const std::string& dir = fc.sweep_dir;
    const std::string out = fc.out_dir.empty() ? dir : fc.out_dir;
    make_dirs(out);
    std::vector<RunResult> results = collect_results(dir);
    if (results.empty()) fail(dir + "/plan.csv: the sweep has no runs; nothing to draw");
    // Its panels are per (config, width): runs of several horizons would be
    // mixed in one curve, so a sweep with a horizon axis is drawn one horizon
    // at a time (--steps), never all at once.
    std::set<int64_t> horizons;
    for (const auto& r : results)
        if (r.entry.steps > 0) horizons.insert(r.entry.steps);
    if (!horizons.empty() && fc.steps == 0) {
        std::string list;
        for (int64_t h : horizons) list += (list.empty() ? "" : ",") + std::to_string(h);
        fail(dir + " has a horizon axis (--horizons); choose the one to draw with --steps (" + list + ")");
    }
    if (fc.steps != 0) {
        if (horizons.empty()) fail("--steps " + std::to_string(fc.steps) + ": " + dir + " has no horizon axis");
        if (!horizons.count(fc.steps)) fail("--steps " + std::to_string(fc.steps) + ": " + dir + " has no runs of that horizon");
        results.erase(std::remove_if(results.begin(), results.end(),
                                     [&](const RunResult& r) { return r.entry.steps != fc.steps; }),
                      results.end());
    }
    std::vector<Optimum> optima = find_optima(results);
    std::vector<std::string> configs;
    std::map<std::string, std::vector<int>> widths;
    std::map<std::string, std::vector<double>> lrs;
    for (const auto& r : results) {
        const auto& e = r.entry;
        if (std::find(configs.begin(), configs.end(), e.config) == configs.end()) configs.push_back(e.config);
        if (std::find(widths[e.config].begin(), widths[e.config].end(), e.width) == widths[e.config].end())
            widths[e.config].push_back(e.width);
        if (std::find(lrs[e.config].begin(), lrs[e.config].end(), e.lr) == lrs[e.config].end()) lrs[e.config].push_back(e.lr);
    }
    // the base LR shown for a configuration: the grid value nearest (in log) to
    // the narrowest width's optimum, or to --lr
    auto chosen_lr = [&](const std::string& c) {
        double target = fc.lr;
        if (!(target > 0)) {
            int narrow = *std::min_element(widths[c].begin(), widths[c].end());
            for (const auto& o : optima)
                if (o.config == c && o.width == narrow) target = o.lr;
        }
        if (!(target > 0)) fail("figures: configuration " + c + " has no finished run at its narrowest width");
        double best = lrs[c][0];
        for (double lr : lrs[c])
            if (std::fabs(std::log(lr / target)) < std::fabs(std::log(best / target))) best = lr;
        return best;
    };
    auto run_of = [&](const std::string& c, int w, double lr) -> const RunResult* {
        for (const auto& r : results)
            if (r.entry.config == c && r.entry.width == w && r.entry.lr == lr && r.status == "done") return &r;
        return nullptr;
    };

    Figure rrc_fig, norm_fig;
    rrc_fig.title = "Relative representation change and alignment ratio of " + fc.layer;
    rrc_fig.columns = 2;
    norm_fig.title = "Weight RMS of " + fc.layer + " (solid) and its equilibrium sqrt(lr/(2 lambda)) = lr/sqrt(2d) (dashed)";
    norm_fig.columns = std::min<int>(3, (int)configs.size());
    std::string summary = "config,width,lr,steps,alignment_early,alignment_late,rrc_early,rrc_late\n";
    std::ostringstream text;
    text << "layer " << fc.layer << "; early = first " << g(100 * fc.early_fraction) << "% of steps, late = last "
         << g(100 * fc.late_fraction) << "%\n";
    char line[400];
    std::snprintf(line, sizeof line, "%-24s %6s %9s %10s %10s %10s %10s\n", "config", "width", "lr", "align early",
                  "align late", "RRC early", "RRC late");
    text << line;
    std::map<std::string, std::pair<double, double>> spread;  // config -> RRC spread across widths early, late
    std::map<std::string, std::string> norm_ratio;            // config -> late weight RMS / equilibrium, per width
    for (const std::string& c : configs) {
        double lr = chosen_lr(c);
        Panel p_rrc, p_align, p_norm;
        p_rrc.title = c + " (lr " + g(lr) + "): RRC";
        p_align.title = c + ": alignment ratio";
        p_norm.title = c + " (lr " + g(lr) + ")";
        p_rrc.xlabel = p_align.xlabel = p_norm.xlabel = "step";
        p_rrc.ylabel = "||dW X|| / ||W X||";
        p_align.ylabel = "alpha_dW / alpha_W";
        p_norm.ylabel = "weight RMS";
        p_rrc.log_y = p_align.log_y = p_norm.log_y = 10;
        std::vector<int> ws = widths[c];
        std::sort(ws.begin(), ws.end());
        double early_lo = INFINITY, early_hi = 0, late_lo = INFINITY, late_hi = 0;
        for (size_t k = 0; k < ws.size(); k++) {
            const RunResult* r = run_of(c, ws[k], lr);
            if (!r) continue;
            Trace tr = read_trace(r->entry.out_dir, fc.layer);
            double last = tr.step.back();
            double steps = (double)r->steps_run;
            double e_hi = std::max(fc.early_fraction * steps, tr.step.front()), l_lo = (1 - fc.late_fraction) * steps;
            double ae = mean_between(tr.step, tr.align, 0, e_hi), al = mean_between(tr.step, tr.align, l_lo, last);
            double re = mean_between(tr.step, tr.rrc, 0, e_hi), rl = mean_between(tr.step, tr.rrc, l_lo, last);
            std::snprintf(line, sizeof line, "%-24s %6d %9.3g %10.3g %10.3g %10.3g %10.3g\n", c.c_str(), ws[k], lr, ae, al,
                          re, rl);
            text << line;
            std::snprintf(line, sizeof line, "%s,%d,%.6g,%lld,%.6g,%.6g,%.6g,%.6g\n", c.c_str(), ws[k], lr,
                          (long long)r->steps_run, ae, al, re, rl);
            summary += line;
            early_lo = std::min(early_lo, re), early_hi = std::max(early_hi, re);
            late_lo = std::min(late_lo, rl), late_hi = std::max(late_hi, rl);
            const std::string color = palette_color(k);
            Series s_rrc{"width " + std::to_string(ws[k]), tr.step, tr.rrc, color, false, false};
            Series s_al{"width " + std::to_string(ws[k]), tr.step, tr.align, color, false, false};
            p_rrc.series.push_back(s_rrc);
            p_align.series.push_back(s_al);
            p_norm.series.push_back({"width " + std::to_string(ws[k]), tr.step, tr.w_rms, color, false, false});
            // the equilibrium of docs/science.md §3 with a unit-RMS update, sqrt(eta/(2 lambda)) = lr/sqrt(2d):
            // with momentum the norm follows the un-averaged normalized gradient
            // (RMS about 1 for Adam), not the momentum direction (see measure.h)
            std::vector<double> eq(tr.step.size());
            for (size_t i = 0; i < eq.size(); i++) eq[i] = tr.decay[i] > 0 ? tr.lr[i] / std::sqrt(2 * tr.decay[i]) : NAN;
            p_norm.series.push_back({"", tr.step, eq, color, false, true});
            double ratio_late = mean_between(tr.step, tr.w_rms, l_lo, last) / mean_between(tr.step, eq, l_lo, last);
            norm_ratio[c] += (norm_ratio[c].empty() ? "" : ", ") + std::string("w") + std::to_string(ws[k]) + " " + g(ratio_late);
        }
        spread[c] = {early_hi / early_lo, late_hi / late_lo};
        p_align.lines.push_back({true, 1.0, "1", ""});
        rrc_fig.panels.push_back(p_rrc);
        rrc_fig.panels.push_back(p_align);
        norm_fig.panels.push_back(p_norm);
    }
    text << "spread of RRC across widths (max/min of the per-width means):\n";
    for (const std::string& c : configs) {
        std::snprintf(line, sizeof line, "  %-24s early %.3g   late %.3g\n", c.c_str(), spread[c].first, spread[c].second);
        text << line;
    }
    text << "weight RMS / equilibrium lr/sqrt(2d), mean over the last part of training:\n";
    for (const std::string& c : configs) text << "  " << c << ": " << (norm_ratio[c].empty() ? "-" : norm_ratio[c]) << "\n";
    write_svg(out + "/rrc_alignment.svg", rrc_fig);
    write_svg(out + "/weight_norm.svg", norm_fig);
    write_file_atomic(out + "/figures_summary.csv", summary);

    // ---- the implicit warmup: µP's relative update over SP's, against s_t
    if (!fc.mup_config.empty() && !fc.sp_config.empty()) {
        if (!widths.count(fc.mup_config) || !widths.count(fc.sp_config))
            fail("figures: --mup-config and --sp-config must name configurations of the sweep");
        double lr = chosen_lr(fc.mup_config);
        Figure fig;
        fig.title = "Implicit warmup: muP's relative update of " + fc.layer + " over SP's (solid), closed form s_t (dashed)";
        fig.columns = 1;
        fig.panel_width = 640;
        fig.panel_height = 360;
        Panel p;
        p.title = fc.mup_config + " / " + fc.sp_config + " at base lr " + g(lr);
        p.xlabel = "step";
        p.ylabel = "ratio of relative updates";
        p.log_y = 2;
        std::vector<int> ws = widths[fc.mup_config];
        std::sort(ws.begin(), ws.end());
        text << "implicit warmup (" << fc.mup_config << " / " << fc.sp_config << ", lr " << g(lr)
             << "): measured ratio vs closed form at the first two measured steps and at the end\n";
        for (size_t k = 0; k < ws.size(); k++) {
            const RunResult *mu = run_of(fc.mup_config, ws[k], lr), *sp = run_of(fc.sp_config, ws[k], lr);
            if (!mu || !sp) continue;
            Trace tm = read_trace(mu->entry.out_dir, fc.layer), ts = read_trace(sp->entry.out_dir, fc.layer);
            Series meas{"width " + std::to_string(ws[k]), {}, {}, palette_color(k), false, false};
            Series pred{"", {}, {}, palette_color(k), false, true};
            // m as the µP run resolved it (its run.json)
            double m = read_run_metadata(mu->entry.out_dir).width_multiplier;
            if (read_run_metadata(sp->entry.out_dir).replacement_warmup != WarmupKind::None)
                fail("figures: --sp-config " + fc.sp_config + " has a replacement warmup; give a plain SP configuration");
            // the closed form with SP's own LR and decay, stepped through
            // every step (the SP run's log has the LR of each step)
            CsvTable log = read_csv(sp->entry.out_dir + "/log.csv");
            int c_step = log.col("step"), c_hlr = log.col("hidden_lr");
            if (log.rows.empty()) fail(log.path + ": no steps logged; no closed form");
            // ts is never empty (read_trace), so its first measurement exists
            ClosedFormTracker tr{ts.w_rms[0], ts.decay[0] > 0 && ts.lr[0] > 0 ? ts.decay[0] / ts.lr[0] : 0, m};
            if (!(tr.lambda > 0)) fail("figures: the SP run has no weight decay on " + fc.layer + "; no closed form");
            std::map<double, double> predicted;
            for (const CsvRow& row : log.rows) {
                double step = log.finite_number(row, c_step), eta = log.optional_number(row, c_hlr);
                if (!std::isfinite(eta)) continue;
                predicted[step] = tr.factor();
                tr.advance(eta);
            }
            for (size_t i = 0; i < tm.step.size() && i < ts.step.size(); i++) {
                if (tm.step[i] != ts.step[i]) break;
                meas.x.push_back(tm.step[i]);
                meas.y.push_back(tm.rel_update[i] / ts.rel_update[i]);
                pred.x.push_back(tm.step[i]);
                pred.y.push_back(predicted.count(tm.step[i]) ? predicted[tm.step[i]] : NAN);
            }
            if (meas.x.size() > 1) {
                size_t last = meas.x.size() - 1;
                std::snprintf(line, sizeof line,
                              "  width %5d (m = %.3g): step %g: measured %.3g, predicted %.3g | step %g: measured %.3g, "
                              "predicted %.3g | step %g: measured %.3g, predicted %.3g\n",
                              ws[k], m, meas.x[0], meas.y[0], pred.y[0], meas.x[1], meas.y[1], pred.y[1], meas.x[last],
                              meas.y[last], pred.y[last]);
                text << line;
            }
            p.series.push_back(meas);
            p.series.push_back(pred);
        }
        p.lines.push_back({true, 1.0, "1", ""});
        fig.panels.push_back(p);
        write_svg(out + "/implicit_warmup.svg", fig);
    }
    return text.str();
}

int figures_command(int argc, char** argv) {
    FiguresConfig fc;
    FlagSet f("figures",
              "lrt figures --sweep DIR [flags]\n\n"
              "Draws the measurement figures of a finished sweep (runs with measure.csv): rrc_alignment.svg,\n"
              "weight_norm.svg, implicit_warmup.svg (with --mup-config and --sp-config) and figures_summary.csv,\n"
              "and prints the alignment ratio and the RRC early and late in training.");
    f.add("sweep", &fc.sweep_dir, "the sweep directory (lrt sweep --dir)");
    f.add("out-dir", &fc.out_dir, "where the figures go; empty = the sweep directory");
    f.add("layer", &fc.layer, "the weight matrix to show");
    f.add("lr", &fc.lr, "base LR of the runs shown; 0 = the grid LR nearest each configuration's optimum at its "
          "narrowest width", at_least(0));
    f.add("mup-config", &fc.mup_config, "µP configuration for the implicit-warmup figure");
    f.add("sp-config", &fc.sp_config, "SP configuration for the implicit-warmup figure");
    f.add("steps", &fc.steps, "a sweep with --horizons: the horizon to draw (required there); 0 = none", at_least(0));
    f.add("early-fraction", &fc.early_fraction, "'early' = this first fraction of the steps", between(0.001, 1));
    f.add("late-fraction", &fc.late_fraction, "'late' = this last fraction of the steps", between(0.001, 1));
    if (!f.parse(argc, argv, 2)) return 0;
    if (fc.sweep_dir.empty()) fail("--sweep is required (see `lrt figures --help`)");
    std::string text = make_figures(fc);
    std::fputs(text.c_str(), stdout);
    std::printf("wrote %s/rrc_alignment.svg, weight_norm.svg%s, figures_summary.csv\n",
                (fc.out_dir.empty() ? fc.sweep_dir : fc.out_dir).c_str(),
                fc.mup_config.empty() ? "" : ", implicit_warmup.svg");
    return 0;
}
