#include "io/svg.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <utility>

#include "util/util.h"

namespace {

const double FIGURE_PAD = 10;           // blank border around the figure
const double FIGURE_TITLE_HEIGHT = 30;
const double TICK_FONT = 11, LABEL_FONT = 12, TITLE_FONT = 13, FIGURE_TITLE_FONT = 15;
const double LEGEND_ROW = 16;           // height of one legend entry
const double LEGEND_SAMPLE = 22;        // length of the colored line before a label

// Coordinates with two decimals and no trailing zeros: a hundredth of a pixel
// is invisible, and the files stay small.
std::string num(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.2f", v);
    std::string s = buf;
    while (s.back() == '0') s.pop_back();
    if (s.back() == '.') s.pop_back();
    return s == "-0" ? "0" : s;
}

// No font metrics here: an average sans-serif glyph is about 0.6 em wide,
// which is enough to size margins and legends. Counts UTF-8 characters, not bytes.
double text_width(const std::string& s, double font_size) {
    size_t chars = 0;
    for (unsigned char c : s) chars += (c & 0xC0) != 0x80;
    return (double)chars * font_size * 0.6;
}

void text(std::string& out, double x, double y, const std::string& s, const char* anchor,
          double size, const std::string& attrs = "") {
    out += "<text x=\"" + num(x) + "\" y=\"" + num(y) + "\" text-anchor=\"" + anchor +
           "\" font-size=\"" + num(size) + "\"" + attrs + ">" + xml_escape(s) + "</text>\n";
}

void line(std::string& out, double x1, double y1, double x2, double y2, const std::string& attrs = "") {
    out += "<line x1=\"" + num(x1) + "\" y1=\"" + num(y1) + "\" x2=\"" + num(x2) + "\" y2=\"" +
           num(y2) + "\"" + attrs + "/>\n";
}

bool drawable(double v, int log_base) { return std::isfinite(v) && (log_base == 0 || v > 0); }

// Position along the axis in the axis's own units: log_base(v) on a log axis.
double to_axis(double v, int log_base) { return log_base ? std::log(v) / std::log((double)log_base) : v; }
double from_axis(double a, int log_base) { return log_base ? std::pow((double)log_base, a) : a; }

struct Extent {
    double lo = INFINITY, hi = -INFINITY;
    void add(double v) { lo = std::min(lo, v), hi = std::max(hi, v); }
    bool empty() const { return lo > hi; }
};

// Multiples of `step` inside [lo, hi], each computed as k * step (no running
// sum, so no drift) with the tolerance of a rounding error at the ends.
std::vector<double> multiples(double lo, double hi, double step) {
    std::vector<double> ticks;
    double k0 = std::ceil(lo / step - 1e-9), k1 = std::floor(hi / step + 1e-9);
    // Past 2^53, k++ stops changing k: a range like [1e17, 1e17 + 16] gets no ticks here.
    if (!(k1 - k0 < 1000) || std::fabs(k0) > 1e15) return ticks;
    for (double k = k0; k <= k1; k++) ticks.push_back(k == 0 ? 0.0 : k * step);
    return ticks;
}

std::vector<double> linear_ticks(double lo, double hi, int max_ticks) {
    // Steps from one a bit larger than the span down to a hundredth of it, in
    // units of p: 1, 2, 5 x 10^k first; 2.5 x 10^k only if those give no good
    // count (e.g. [0.1, 19.9]: step 5 gives 3 ticks, step 2 gives 9).
    const std::vector<double> plain = {10, 5, 2, 1, 0.5, 0.2, 0.1, 0.05, 0.02, 0.01};
    const std::vector<double> with_quarters = {10, 5, 2.5, 2, 1, 0.5, 0.25, 0.2, 0.1, 0.05, 0.025, 0.02, 0.01};
    double p = std::pow(10.0, std::floor(std::log10(hi - lo)));
    int want = std::min(4, max_ticks);
    for (const auto* steps : {&plain, &with_quarters})
        for (double step : *steps) {  // the largest step that gives a good count
            std::vector<double> t = multiples(lo, hi, step * p);
            if ((int)t.size() >= want && (int)t.size() <= max_ticks) return t;
        }
    // Only when max_ticks is tiny: the fewest ticks that are still two.
    for (double step : plain) {
        std::vector<double> t = multiples(lo, hi, step * p);
        if (t.size() >= 2) return t;
    }
    return {lo, hi};
}

std::vector<double> log_ticks(double lo, double hi, int base, int max_ticks) {
    double a = to_axis(lo, base), b = to_axis(hi, base);
    int k0 = (int)std::ceil(a - 1e-9), k1 = (int)std::floor(b + 1e-9);
    int n = k1 - k0 + 1;
    if (n >= 2) {
        // Too many powers: keep every stride-th one, preferring exponents that
        // are multiples of the stride so the labels read regularly.
        int stride = (n + max_ticks - 1) / max_ticks;
        std::vector<double> t;
        for (int k = k0; k <= k1; k++)
            if (k % stride == 0) t.push_back(std::pow((double)base, k));
        if (t.size() < 2) {
            t.clear();
            for (int k = k0; k <= k1; k += stride) t.push_back(std::pow((double)base, k));
        }
        return t;
    }
    // Less than two powers in range: ticks at m x base^k for a few mantissas m,
    // the sparsest set that gives three ticks (or else two).
    std::vector<std::vector<double>> mantissas;
    if (base == 10) mantissas = {{1, 2, 5}, {1, 2, 3, 4, 5, 6, 7, 8, 9}};
    if (base == 2) mantissas = {{1, 1.5}};
    std::vector<double> two;
    for (const auto& ms : mantissas) {
        std::vector<double> t;
        for (int k = k0 - 1; k <= k1 + 1; k++)
            for (double m : ms) {
                double v = m * std::pow((double)base, k);
                if (v >= lo * (1 - 1e-9) && v <= hi * (1 + 1e-9)) t.push_back(v);
            }
        if ((int)t.size() > max_ticks) break;
        if (t.size() >= 3) return t;
        if (t.size() == 2 && two.empty()) two = t;
    }
    if (!two.empty()) return two;
    return linear_ticks(lo, hi, max_ticks);  // a very narrow range: plain steps are fine
}

struct LegendEntry {
    std::string label, color;
    std::string dash;  // stroke-dasharray; "" = solid
    bool markers, line;
};

std::string series_color(const Series& s, size_t index) { return s.color.empty() ? palette_color(index) : s.color; }

// The series' stroke-dasharray: "" for a solid line.
static std::string series_dash(const Series& s) {
    if (!s.dashed) return "";
    return s.dash_pattern.empty() ? "6 4" : s.dash_pattern;
}

std::vector<LegendEntry> panel_legend(const Panel& panel) {
    std::vector<LegendEntry> entries;
    for (size_t i = 0; i < panel.series.size(); i++) {
        const Series& s = panel.series[i];
        if (!s.label.empty()) entries.push_back({s.label, series_color(s, i), series_dash(s), s.markers || !s.line, s.line});
    }
    return entries;
}

// One entry per distinct (label, color) over all panels, in order of first use:
// the coordinate check has the same layers in every panel.
std::vector<LegendEntry> shared_legend(const Figure& fig) {
    std::vector<LegendEntry> entries;
    for (const Panel& panel : fig.panels)
        for (const LegendEntry& e : panel_legend(panel)) {
            bool seen = false;
            for (const LegendEntry& f : entries) seen = seen || (f.label == e.label && f.color == e.color);
            if (!seen) entries.push_back(e);
        }
    return entries;
}

double legend_width(const std::vector<LegendEntry>& entries) {
    double w = 0;
    for (const LegendEntry& e : entries) w = std::max(w, text_width(e.label, TICK_FONT));
    return 8 + LEGEND_SAMPLE + 6 + w + 8;
}
double legend_height(const std::vector<LegendEntry>& entries) { return 6 + LEGEND_ROW * (double)entries.size(); }

void draw_legend(std::string& out, const std::vector<LegendEntry>& entries, double x, double y) {
    out += "<g class=\"legend\">\n<rect x=\"" + num(x) + "\" y=\"" + num(y) + "\" width=\"" +
           num(legend_width(entries)) + "\" height=\"" + num(legend_height(entries)) +
           "\" fill=\"white\" fill-opacity=\"0.85\" stroke=\"#cccccc\"/>\n";
    for (size_t i = 0; i < entries.size(); i++) {
        const LegendEntry& e = entries[i];
        std::string color = xml_escape(e.color);
        double row_y = y + 3 + LEGEND_ROW * ((double)i + 0.5);
        if (e.line)
            line(out, x + 8, row_y, x + 8 + LEGEND_SAMPLE, row_y,
                 " stroke=\"" + color + "\" stroke-width=\"2\"" + (e.dash.empty() ? "" : " stroke-dasharray=\"" + xml_escape(e.dash) + "\""));
        if (e.markers)
            out += "<circle cx=\"" + num(x + 8 + LEGEND_SAMPLE / 2) + "\" cy=\"" + num(row_y) +
                   "\" r=\"2.6\" fill=\"" + color + "\"/>\n";
        text(out, x + 8 + LEGEND_SAMPLE + 6, row_y + TICK_FONT * 0.35, e.label, "start", TICK_FONT, " fill=\"#222222\"");
    }
    out += "</g>\n";
}

// Whether point i of s has an error bar that can be drawn: both ends (and x).
bool has_error_bar(const Series& s, size_t i, const Panel& panel) {
    return i < s.y_lo.size() && drawable(s.x[i], panel.log_x) && drawable(s.y_lo[i], panel.log_y) &&
           drawable(s.y_hi[i], panel.log_y);
}

// A vertical error bar at pixel x from y1 to y2, with caps CAP pixels each side.
void error_bar(std::string& out, double x, double y1, double y2) {
    const double CAP = 4;
    line(out, x, y1, x, y2, " stroke-width=\"1.2\"");
    line(out, x - CAP, y1, x + CAP, y1, " stroke-width=\"1.2\"");
    line(out, x - CAP, y2, x + CAP, y2, " stroke-width=\"1.2\"");
}

// One panel in its own coordinates: (0, 0) to (cell_w, cell_h).
void render_panel(std::string& out, const Panel& panel, double cell_w, double cell_h, bool own_legend) {
    // Margins around the plot area: room for the title, tick labels and axis labels.
    double top = panel.title.empty() ? 12 : 28;
    double bottom = 10 + TICK_FONT + (panel.xlabel.empty() ? 4 : LABEL_FONT + 10);
    double right = 14;
    double ylabel_room = panel.ylabel.empty() ? 6 : LABEL_FONT + 12;
    double plot_h = std::max(20.0, cell_h - top - bottom);

    if (!panel.title.empty()) text(out, cell_w / 2, 18, panel.title, "middle", TITLE_FONT, " font-weight=\"bold\"");

    // The data extent: every point that can be drawn, then the reference lines.
    Extent ex, ey;
    for (const Series& s : panel.series) {
        if (s.x.size() != s.y.size())
            fail("series \"" + s.label + "\": x has " + std::to_string(s.x.size()) + " values but y has " +
                 std::to_string(s.y.size()));
        if (!(s.y_lo.empty() && s.y_hi.empty()) && (s.y_lo.size() != s.y.size() || s.y_hi.size() != s.y.size()))
            fail("series \"" + s.label + "\": error bars need y_lo and y_hi as long as y (" +
                 std::to_string(s.y.size()) + "), got " + std::to_string(s.y_lo.size()) + " and " +
                 std::to_string(s.y_hi.size()));
        for (size_t i = 0; i < s.x.size(); i++) {
            if (drawable(s.x[i], panel.log_x) && drawable(s.y[i], panel.log_y)) ex.add(s.x[i]), ey.add(s.y[i]);
            if (has_error_bar(s, i, panel)) ex.add(s.x[i]), ey.add(s.y_lo[i]), ey.add(s.y_hi[i]);
        }
    }
    for (const Marker& m : panel.markers)
        if (drawable(m.x, panel.log_x) && drawable(m.y, panel.log_y)) ex.add(m.x), ey.add(m.y);
    bool has_data = !ex.empty();
    for (const RefLine& r : panel.lines)
        if (has_data && drawable(r.value, r.horizontal ? panel.log_y : panel.log_x)) (r.horizontal ? ey : ex).add(r.value);

    auto axis_labels = [&](double left, double plot_w) {
        if (!panel.xlabel.empty()) text(out, left + plot_w / 2, cell_h - 8, panel.xlabel, "middle", LABEL_FONT);
        if (!panel.ylabel.empty())
            out += "<text transform=\"translate(" + num(LABEL_FONT + 4) + "," + num(top + plot_h / 2) +
                   ") rotate(-90)\" text-anchor=\"middle\" font-size=\"" + num(LABEL_FONT) + "\">" +
                   xml_escape(panel.ylabel) + "</text>\n";
    };
    auto frame = [&](double left, double plot_w) {
        out += "<rect x=\"" + num(left) + "\" y=\"" + num(top) + "\" width=\"" + num(plot_w) + "\" height=\"" +
               num(plot_h) + "\" fill=\"none\" stroke=\"#444444\"/>\n";
    };

    if (!has_data) {
        double left = ylabel_room + 30, plot_w = std::max(20.0, cell_w - left - right);
        frame(left, plot_w);
        text(out, left + plot_w / 2, top + plot_h / 2, "no data", "middle", LABEL_FONT, " fill=\"#888888\"");
        axis_labels(left, plot_w);
        return;
    }

    AxisRange xr = padded_range(ex.lo, ex.hi, panel.log_x), yr = padded_range(ey.lo, ey.hi, panel.log_y);
    std::vector<double> yt = axis_ticks(yr.lo, yr.hi, panel.log_y, std::clamp((int)(plot_h / 22), 2, 8));
    double ytick_w = 0;
    for (double t : yt) ytick_w = std::max(ytick_w, text_width(format_number(t), TICK_FONT));
    double left = ylabel_room + ytick_w + 10;
    double plot_w = std::max(20.0, cell_w - left - right);
    auto px = [&](double v) { return map_to_pixel(v, xr.lo, xr.hi, panel.log_x, left, left + plot_w); };
    auto py = [&](double v) { return map_to_pixel(v, yr.lo, yr.hi, panel.log_y, top + plot_h, top); };

    // As many x ticks as fit without their labels running into each other.
    std::vector<double> xt;
    for (int max_ticks = 8; max_ticks >= 2; max_ticks--) {
        xt = axis_ticks(xr.lo, xr.hi, panel.log_x, max_ticks);
        bool fits = true;
        for (size_t i = 1; i < xt.size(); i++) {
            double need = (text_width(format_number(xt[i - 1]), TICK_FONT) + text_width(format_number(xt[i]), TICK_FONT)) / 2;
            fits = fits && px(xt[i]) - px(xt[i - 1]) >= need + 8;
        }
        if (fits) break;
    }

    // Grid and tick marks, then tick labels.
    double bottom_y = top + plot_h;
    out += "<g stroke=\"#e6e6e6\">\n";
    for (double t : xt) line(out, px(t), top, px(t), bottom_y);
    for (double t : yt) line(out, left, py(t), left + plot_w, py(t));
    out += "</g>\n<g stroke=\"#444444\">\n";
    for (double t : xt) line(out, px(t), bottom_y, px(t), bottom_y + 4);
    for (double t : yt) line(out, left - 4, py(t), left, py(t));
    out += "</g>\n<g fill=\"#333333\">\n";
    for (double t : xt) text(out, px(t), bottom_y + 6 + TICK_FONT, format_number(t), "middle", TICK_FONT);
    for (double t : yt) text(out, left - 6, py(t) + TICK_FONT * 0.35, format_number(t), "end", TICK_FONT);
    out += "</g>\n";
    axis_labels(left, plot_w);

    // Reference lines, then every label that sits inside the plot. Labels go
    // under the series so they never hide data, with a white outline that
    // keeps them legible over grid and reference lines.
    const std::string halo = " stroke=\"white\" stroke-width=\"3\" paint-order=\"stroke\"";
    for (const RefLine& r : panel.lines) {
        if (!drawable(r.value, r.horizontal ? panel.log_y : panel.log_x)) continue;
        std::string color = xml_escape(r.color.empty() ? "#555555" : r.color);
        std::string style = " stroke=\"" + color + "\" stroke-width=\"1.2\" stroke-dasharray=\"5 4\"";
        if (r.horizontal) {
            line(out, left, py(r.value), left + plot_w, py(r.value), style);
            if (!r.label.empty()) text(out, left + plot_w - 4, py(r.value) - 4, r.label, "end", TICK_FONT - 1, " fill=\"" + color + "\"" + halo);
        } else {
            line(out, px(r.value), top, px(r.value), bottom_y, style);
            if (!r.label.empty()) text(out, px(r.value) + 4, top + 12, r.label, "start", TICK_FONT - 1, " fill=\"" + color + "\"" + halo);
        }
    }

    for (const Marker& m : panel.markers) {
        if (m.label.empty() || !drawable(m.x, panel.log_x) || !drawable(m.y, panel.log_y)) continue;
        double x = px(m.x), y = py(m.y);
        bool to_left = x + 9 + text_width(m.label, TICK_FONT) > left + plot_w - 2;  // keep the label inside
        text(out, to_left ? x - 9 : x + 9, y - 8, m.label, to_left ? "end" : "start", TICK_FONT,
             " fill=\"" + xml_escape(m.color.empty() ? "#000000" : m.color) + "\" font-weight=\"bold\"" + halo);
    }

    // Series. A point that cannot be drawn ends the current run, so a diverged
    // run shows as a gap and no line is drawn across it. `ink` samples what was
    // drawn, for placing the legend where it hides the least.
    std::vector<std::pair<double, double>> ink;
    for (size_t si = 0; si < panel.series.size(); si++) {
        const Series& s = panel.series[si];
        std::string color = xml_escape(series_color(s, si));
        std::vector<std::vector<std::pair<double, double>>> runs(1);
        for (size_t i = 0; i < s.x.size(); i++) {
            if (drawable(s.x[i], panel.log_x) && drawable(s.y[i], panel.log_y)) runs.back().push_back({px(s.x[i]), py(s.y[i])});
            else if (!runs.back().empty()) runs.emplace_back();
        }
        out += "<g stroke=\"" + color + "\" fill=\"" + color + "\">\n";
        // error bars first, so the line and its dots sit on top of them
        for (size_t i = 0; i < s.x.size(); i++) {
            if (!has_error_bar(s, i, panel)) continue;
            double x = px(s.x[i]), y1 = py(s.y_lo[i]), y2 = py(s.y_hi[i]);
            error_bar(out, x, y1, y2);
            for (int k = 0; k <= 4; k++) ink.push_back({x, y1 + (y2 - y1) * k / 4.0});
        }
        for (const auto& run : runs) {
            if (run.size() >= 2 && s.line) {
                out += "<polyline fill=\"none\" stroke-width=\"1.8\" stroke-linejoin=\"round\"";
                if (s.dashed) out += " stroke-dasharray=\"" + xml_escape(series_dash(s)) + "\"";
                out += " points=\"";
                for (size_t i = 0; i < run.size(); i++) out += (i ? " " : "") + num(run[i].first) + "," + num(run[i].second);
                out += "\"/>\n";
            }
            for (size_t i = 0; i < run.size(); i++) {
                // A lone point gets a dot even without markers, or it would be invisible.
                // (a scatter's dots are smaller and translucent, so that a dense cloud shows its density)
                if (s.markers || !s.line || run.size() == 1)
                    out += "<circle cx=\"" + num(run[i].first) + "\" cy=\"" + num(run[i].second) +
                           (s.line ? "\" r=\"2.6\"" : "\" r=\"1.8\" fill-opacity=\"0.55\"") + " stroke=\"none\"/>\n";
                for (int k = 0; k < 8 && s.line && i + 1 < run.size(); k++)
                    ink.push_back({run[i].first + (run[i + 1].first - run[i].first) * k / 8.0,
                                   run[i].second + (run[i + 1].second - run[i].second) * k / 8.0});
                ink.push_back(run[i]);
            }
        }
        out += "</g>\n";
    }

    for (const Marker& m : panel.markers) {
        if (!drawable(m.x, panel.log_x) || !drawable(m.y, panel.log_y)) continue;
        std::string color = xml_escape(m.color.empty() ? "#000000" : m.color);
        double x = px(m.x), y = py(m.y);
        out += "<circle cx=\"" + num(x) + "\" cy=\"" + num(y) + "\" r=\"6.5\" fill=\"none\" stroke=\"" + color +
               "\" stroke-width=\"2\"/>\n";
        for (int k = 0; k < 4; k++) ink.push_back({x, y});  // weigh markers more than line samples
    }

    frame(left, plot_w);

    // The legend goes in the inside corner that covers the fewest drawn samples.
    std::vector<LegendEntry> entries = panel_legend(panel);
    if (!own_legend || !panel.legend || entries.empty()) return;
    double w = legend_width(entries), h = legend_height(entries);
    double xs[2] = {left + plot_w - 6 - w, left + 6}, ys[2] = {top + 6, bottom_y - 6 - h};
    double best_x = xs[0], best_y = ys[0];
    size_t best = SIZE_MAX;
    for (double y : ys)
        for (double x : xs) {
            size_t covered = 0;
            for (const auto& p : ink) covered += p.first >= x && p.first <= x + w && p.second >= y && p.second <= y + h;
            if (covered < best) best = covered, best_x = x, best_y = y;
        }
    draw_legend(out, entries, best_x, best_y);
}

}  // namespace

const std::string& palette_color(size_t index) {
    // Ten colors that stay apart from each other on screen and in print.
    static const std::string palette[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                          "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f"};
    return palette[index % 10];
}

std::string xml_escape(const std::string& s) {
    std::string out;
    out.reserve(s.size());
    for (char c : s) {
        switch (c) {
            case '&': out += "&amp;"; break;
            case '<': out += "&lt;"; break;
            case '>': out += "&gt;"; break;
            case '"': out += "&quot;"; break;
            case '\'': out += "&apos;"; break;
            // XML 1.0 forbids most control characters even as entities.
            default: out += ((unsigned char)c < 0x20 && c != '\t' && c != '\n' && c != '\r') ? '?' : c;
        }
    }
    return out;
}

std::string format_number(double v) {
    if (v == 0) return "0";
    char buf[32];
    if (std::fabs(v) < 1e6 && v == std::round(v)) {
        std::snprintf(buf, sizeof buf, "%.0f", v);
        return buf;
    }
    for (int digits = 1; digits <= 4; digits++) {
        std::snprintf(buf, sizeof buf, "%.*g", digits, v);
        if (std::fabs(std::strtod(buf, nullptr) - v) <= 1e-9 * std::fabs(v)) return buf;
    }
    std::snprintf(buf, sizeof buf, "%.3g", v);  // e.g. 2^-13 = 0.0001220703125 -> "0.000122"
    return buf;
}

double map_to_pixel(double v, double lo, double hi, int log_base, double pixel_lo, double pixel_hi) {
    double a = to_axis(lo, log_base), b = to_axis(hi, log_base);
    double t = b > a ? (to_axis(v, log_base) - a) / (b - a) : 0.5;  // a zero-width axis puts everything mid-way
    return pixel_lo + t * (pixel_hi - pixel_lo);
}

AxisRange padded_range(double data_lo, double data_hi, int log_base) {
    double a = to_axis(data_lo, log_base), b = to_axis(data_hi, log_base);
    double pad = 0.05 * (b - a);
    if (!(pad > 0)) pad = log_base ? 0.5 : (a != 0 ? 0.1 * std::fabs(a) : 1.0);
    return {from_axis(a - pad, log_base), from_axis(b + pad, log_base)};
}

std::vector<double> axis_ticks(double lo, double hi, int log_base, int max_ticks) {
    if (!std::isfinite(lo) || !std::isfinite(hi) || lo > hi) fail("axis_ticks: bad range");
    if (log_base == 1 || log_base < 0 || (log_base && lo <= 0)) fail("axis_ticks: bad log axis");
    if (lo == hi) return {lo};
    max_ticks = std::max(2, max_ticks);
    return log_base ? log_ticks(lo, hi, log_base, max_ticks) : linear_ticks(lo, hi, max_ticks);
}

FigureLayout figure_layout(const Figure& fig) {
    if (fig.columns < 1) fail("figure columns must be at least 1, got " + std::to_string(fig.columns));
    if (fig.panel_width < 100 || fig.panel_height < 80) fail("figure panels must be at least 100 x 80 pixels");
    FigureLayout L;
    int n = (int)fig.panels.size();
    L.columns = std::min(fig.columns, n);
    L.rows = n ? (n + L.columns - 1) / L.columns : 0;
    L.grid_left = (int)FIGURE_PAD;
    L.grid_top = (int)(FIGURE_PAD + (fig.title.empty() ? 0 : FIGURE_TITLE_HEIGHT));
    double legend_h = 0;
    if (fig.shared_legend) {
        std::vector<LegendEntry> entries = shared_legend(fig);
        if (!entries.empty()) {
            L.legend_width = (int)std::ceil(legend_width(entries)) + 10;
            legend_h = 28 + legend_height(entries);
        }
    }
    L.width = (int)(2 * FIGURE_PAD) + L.columns * fig.panel_width + L.legend_width;
    if (!fig.title.empty())  // a figure with a long title and one panel still shows the whole title
        L.width = std::max(L.width, (int)std::ceil(text_width(fig.title, FIGURE_TITLE_FONT) + 2 * FIGURE_PAD));
    L.height = L.grid_top + (int)std::ceil(std::max((double)(L.rows * fig.panel_height), legend_h)) + (int)FIGURE_PAD;
    return L;
}

std::string render_svg(const Figure& fig) {
    FigureLayout L = figure_layout(fig);
    std::string w = std::to_string(L.width), h = std::to_string(L.height);
    std::string out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
    out += "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + w + "\" height=\"" + h + "\" viewBox=\"0 0 " + w +
           " " + h + "\" font-family=\"Helvetica, Arial, sans-serif\">\n";
    out += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
    if (!fig.title.empty())
        text(out, L.width / 2.0, FIGURE_PAD + 18, fig.title, "middle", FIGURE_TITLE_FONT, " font-weight=\"bold\"");
    for (size_t i = 0; i < fig.panels.size(); i++) {
        int col = (int)i % L.columns, row = (int)i / L.columns;
        out += "<g class=\"panel\" transform=\"translate(" + std::to_string(L.grid_left + col * fig.panel_width) + "," +
               std::to_string(L.grid_top + row * fig.panel_height) + ")\">\n";
        render_panel(out, fig.panels[i], fig.panel_width, fig.panel_height, !fig.shared_legend);
        out += "</g>\n";
    }
    if (L.legend_width > 0)
        draw_legend(out, shared_legend(fig), L.grid_left + L.columns * fig.panel_width + 4, L.grid_top + 28);
    out += "</svg>\n";
    return out;
}

void write_svg(const std::string& path, const Figure& fig) { write_file_atomic(path, render_svg(fig)); }
