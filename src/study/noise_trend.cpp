// The gradient noise scale over training along a sweep's axis (see noise_trend.h).
#include "study/noise_trend.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>

#include "io/csv.h"
#include "io/svg.h"
#include "study/drift.h"
#include "study/sweep_axis.h"
#include "util/util.h"

std::vector<NoisePoint> read_noise_points(const std::string& log_csv) {
    std::vector<NoisePoint> out;
    if (!file_exists(log_csv)) return out;
    CsvTable t = read_csv(log_csv);
    const int c_step = t.col("step"), c_loss = t.col("train_loss"), c_b = t.col("b_simple");
    double loss_sum = 0;
    int loss_n = 0;
    for (const CsvRow& row : t.rows) {
        const double loss = t.optional_number(row, c_loss);
        if (std::isfinite(loss)) loss_sum += loss, loss_n++;
        const double b = t.optional_number(row, c_b);
        if (!(std::isfinite(b) && b > 0) || loss_n == 0) continue;
        out.push_back({(int64_t)t.finite_number(row, c_step), loss_sum / loss_n, b});
        loss_sum = 0, loss_n = 0;
    }
    return out;
}

std::vector<NoisePoint> average_noise_points(const std::vector<std::vector<NoisePoint>>& runs) {
    struct Sum {
        double loss = 0, log_b = 0;
        size_t n = 0;          // runs with this step
        size_t last_run = SIZE_MAX;
    };
    std::map<int64_t, Sum> by_step;
    for (size_t r = 0; r < runs.size(); r++) {
        if (runs[r].empty()) return {};
        for (const NoisePoint& p : runs[r]) {
            Sum& s = by_step[p.step];
            if (s.last_run == r) continue;  // a step twice in one log (never written so, but not counted twice)
            s.loss += p.train_loss, s.log_b += std::log(p.b_simple), s.n++, s.last_run = r;
        }
    }
    std::vector<NoisePoint> out;
    for (const auto& [step, s] : by_step)
        if (s.n == runs.size()) out.push_back({step, s.loss / (double)s.n, std::exp(s.log_b / (double)s.n)});
    return out;
}

std::vector<NoiseTrend> noise_trends(const std::vector<RunResult>& results, const std::vector<Optimum>& optima) {
    std::vector<NoiseTrend> out;
    for (const Optimum& o : optima) {
        AxisPoint p;
        if (!parse_axis_point(o.config, &p) || !(o.best_lr > 0)) continue;
        std::vector<std::vector<NoisePoint>> runs;
        for (const RunResult* r : runs_at_best_lr(results, o))
            if (r->status == "done") runs.push_back(read_noise_points(r->entry.out_dir + "/log.csv"));
        NoiseTrend t;
        t.points = average_noise_points(runs);
        if (t.points.empty()) continue;
        t.base = p.base, t.flag = p.flag, t.value = p.value;
        t.steps = o.steps, t.width = o.width, t.lr = o.best_lr;
        t.runs = (int)runs.size();
        out.push_back(t);
    }
    return out;
}

// B_simple late in training: the median over the last quarter of the points.
static double late_b_simple(const NoiseTrend& t) {
    std::vector<double> b;
    for (size_t i = t.points.size() - (t.points.size() + 3) / 4; i < t.points.size(); i++) b.push_back(t.points[i].b_simple);
    return quantile(b, 0.5);
}

static void write_trend_csv(const std::string& path, const std::vector<NoiseTrend>& trends) {
    std::string csv = "config,flag,value,steps,width,lr,runs,step,train_loss,b_simple\n";
    for (const NoiseTrend& t : trends)
        for (const NoisePoint& p : t.points)
            csv += strprintf("%s,%s,%s,%lld,%d,%.6g,%d,%lld,%.6g,%.6g\n", t.base.c_str(), t.flag.c_str(),
                             t.value.c_str(), (long long)t.steps, t.width, t.lr, t.runs, (long long)p.step,
                             p.train_loss, p.b_simple);
    write_file_atomic(path, csv);
}

// One panel per (base, horizon, width): a line per axis value.
static Figure trend_figure(const std::vector<NoiseTrend>& trends) {
    Figure fig;
    fig.title = "Noise scale against loss, at each value's best LR";
    fig.panel_width = 520, fig.panel_height = 380;  // many crowded lines: larger than the default
    fig.columns = 2;
    for (size_t i = 0; i < trends.size();) {
        const NoiseTrend& first = trends[i];
        Panel p;
        p.title = curve_group_name(first.base, first.steps) + ", width " + std::to_string(first.width);
        p.xlabel = "train loss (mean since the previous measurement; training runs right to left)";
        p.ylabel = "B_simple (sequences)";
        p.log_y = 2;
        for (; i < trends.size() && trends[i].base == first.base && trends[i].steps == first.steps &&
               trends[i].width == first.width;
             i++) {
            const NoiseTrend& t = trends[i];
            Series s;
            s.label = "--" + t.flag + " " + t.value;
            s.color = palette_color(p.series.size());
            s.markers = false;
            for (const NoisePoint& q : t.points) s.x.push_back(q.train_loss), s.y.push_back(q.b_simple);
            // a batch size is in sequences, like B_simple: where the curve
            // crosses its level, the batch stops being small against the noise
            char* end = nullptr;
            const double b = std::strtod(t.value.c_str(), &end);
            if (t.flag == "batch-size" && *end == 0 && std::isfinite(b) && b > 0)
                p.lines.push_back({true, b, "B " + t.value, s.color});
            p.series.push_back(s);
        }
        fig.panels.push_back(p);
    }
    fig.columns = std::min<int>(2, (int)fig.panels.size());
    return fig;
}

void report_noise_trend(const std::string& dir, const std::vector<RunResult>& results,
                        const std::vector<Optimum>& optima, bool print) {
    std::vector<NoiseTrend> trends = noise_trends(results, optima);
    if (trends.empty()) return;
    write_trend_csv(dir + "/noise_trend.csv", trends);
    write_svg(dir + "/noise_scale_vs_loss.svg", trend_figure(trends));
    if (!print) return;
    std::printf("\nthe noise scale over training, at each value's best grid LR (B_simple: geometric mean over seeds; "
                "late: median of the last quarter of the measurements):\n%-24s %-16s %6s %10s %10s %10s %10s %10s\n",
                "config", "value", "width", "lr", "loss0", "B_simple0", "loss_late", "B_late");
    for (const NoiseTrend& t : trends)
        std::printf("%-24s %-16s %6d %10.4g %10.4g %10.4g %10.4g %10.4g\n", t.base.c_str(), (t.flag + "=" + t.value).c_str(),
                    t.width, t.lr, t.points.front().train_loss, t.points.front().b_simple, t.points.back().train_loss,
                    late_b_simple(t));
    std::printf("wrote %s/noise_trend.csv and %s/noise_scale_vs_loss.svg\n", dir.c_str(), dir.c_str());
}
