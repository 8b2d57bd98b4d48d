// Tests for src/svg.*: axis ticks, coordinate mapping, gaps in lines,
// escaping, the figure grid, and that the output is well-formed XML.
#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>
#include <random>
#include <regex>
#include <string>
#include <vector>

#include "io/svg.h"
#include "test_helpers.h"
#include "util/util.h"

using Catch::Contains;

namespace {

const double NaN = std::nan("");

void require_ticks(const std::vector<double>& got, const std::vector<double>& want) {
    INFO("got " << got.size() << " ticks, want " << want.size());
    REQUIRE(got.size() == want.size());
    for (size_t i = 0; i < want.size(); i++) REQUIRE(got[i] == Approx(want[i]).epsilon(1e-12).margin(1e-15));
}

size_t count(const std::string& text, const std::string& what) {
    size_t n = 0;
    for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) n++;
    return n;
}

// Just enough of an XML checker for our output: every tag is closed in order,
// attribute values are quoted and hold no '<', text holds no bare '<' or '&'
// (only the five entities), and the whole document is one <svg> element.
// Returns "" if well-formed, else what is wrong.
std::string xml_problem(const std::string& doc) {
    std::vector<std::string> open;
    bool root_seen = false;
    size_t i = 0;
    auto check_entity = [&](size_t at) {
        for (const char* e : {"&amp;", "&lt;", "&gt;", "&quot;", "&apos;"})
            if (doc.compare(at, std::string(e).size(), e) == 0) return true;
        return false;
    };
    while (i < doc.size()) {
        char c = doc[i];
        if (c == '&') {
            if (!check_entity(i)) return "bare & at " + std::to_string(i);
            i++;
        } else if (c == '>') {
            return "bare > in text at " + std::to_string(i);
        } else if (c != '<') {
            if (open.empty() && !std::isspace((unsigned char)c)) return "text outside the root at " + std::to_string(i);
            i++;
        } else if (doc.compare(i, 2, "<?") == 0) {
            size_t end = doc.find("?>", i);
            if (end == std::string::npos || root_seen) return "bad processing instruction";
            i = end + 2;
        } else {
            bool closing = doc.compare(i, 2, "</") == 0;
            size_t j = i + (closing ? 2 : 1), name_start = j;
            while (j < doc.size() && (std::isalnum((unsigned char)doc[j]) || doc[j] == '-' || doc[j] == ':')) j++;
            std::string name = doc.substr(name_start, j - name_start);
            if (name.empty()) return "tag without a name at " + std::to_string(i);
            bool self_closing = false;
            // attributes: name="value" pairs up to '>' or '/>'
            while (true) {
                while (j < doc.size() && std::isspace((unsigned char)doc[j])) j++;
                if (j >= doc.size()) return "unterminated tag " + name;
                if (doc[j] == '>') break;
                if (doc.compare(j, 2, "/>") == 0 && !closing) {
                    self_closing = true;
                    j++;
                    break;
                }
                if (closing) return "attributes in closing tag " + name;
                size_t eq = doc.find('=', j);
                if (eq == std::string::npos || eq + 1 >= doc.size() || doc[eq + 1] != '"')
                    return "unquoted attribute in " + name;
                size_t end = doc.find('"', eq + 2);
                if (end == std::string::npos) return "unterminated attribute in " + name;
                for (size_t k = eq + 2; k < end; k++) {
                    if (doc[k] == '<') return "'<' in an attribute of " + name;
                    if (doc[k] == '&' && !check_entity(k)) return "bare & in an attribute of " + name;
                }
                j = end + 1;
            }
            i = j + 1;
            if (closing) {
                if (open.empty() || open.back() != name) return "</" + name + "> does not close the open element";
                open.pop_back();
            } else {
                if (open.empty()) {
                    if (root_seen) return "second root element " + name;
                    if (name != "svg") return "root is " + name + ", not svg";
                    root_seen = true;
                }
                if (!self_closing) open.push_back(name);
            }
        }
    }
    if (!root_seen) return "no root element";
    if (!open.empty()) return "unclosed <" + open.back() + ">";
    return "";
}

Series make_series(const std::string& label, std::vector<double> x, std::vector<double> y) {
    Series s;
    s.label = label;
    s.x = std::move(x);
    s.y = std::move(y);
    return s;
}

// A coordinate-check-like figure that uses every feature once.
Figure busy_figure() {
    Figure fig;
    fig.title = "coord check: mean |activation| vs width";
    std::vector<double> widths = {64, 128, 256, 512, 1024};
    Panel a;
    a.title = "step 1";
    a.xlabel = "width";
    a.ylabel = "mean |act|";
    a.log_x = 2;
    a.log_y = 10;
    a.series.push_back(make_series("embedding", widths, {1.0, 1.01, 0.99, 1.0, 1.02}));
    a.series.push_back(make_series("attn out", widths, {0.1, 0.2, NaN, 0.8, 1.6}));
    a.series.push_back(make_series("logits", widths, {0.01, 0.02, 0.04, 0.08, 0.16}));
    a.series.back().dashed = true;
    Panel b = a;
    b.title = "LR sweep";
    b.log_y = 0;
    b.series.resize(1);
    b.markers.push_back({256, 1.0, "best", "#d62728"});
    b.lines.push_back({true, 1.05, "baseline", ""});
    b.lines.push_back({false, 100, "", "blue"});
    fig.panels = {a, b};
    return fig;
}

}  // namespace

// --- ticks, numbers and mapping -------------------------------------------------

TEST_CASE("linear ticks use 1-2-5 steps and exact values", "[svg]") {
    require_ticks(axis_ticks(0, 1, 0), {0, 0.2, 0.4, 0.6, 0.8, 1.0});
    require_ticks(axis_ticks(-0.05, 1.05, 0), {0, 0.2, 0.4, 0.6, 0.8, 1.0});
    require_ticks(axis_ticks(3, 97, 0), {20, 40, 60, 80});
    require_ticks(axis_ticks(0, 10, 0), {0, 2, 4, 6, 8, 10});
    require_ticks(axis_ticks(-3.2, 1.7, 0), {-3, -2, -1, 0, 1});
    require_ticks(axis_ticks(1000, 5000, 0), {1000, 2000, 3000, 4000, 5000});
    // neither 5 (3 ticks) nor 2 (9 ticks) fits, so 2.5 is used
    require_ticks(axis_ticks(0.1, 19.9, 0), {2.5, 5, 7.5, 10, 12.5, 15, 17.5});
    // a zero tick is exactly 0, not -0 or 1e-17
    for (double t : axis_ticks(-0.3, 0.3, 0)) REQUIRE((t == 0 || std::fabs(t) > 1e-3));
}

TEST_CASE("linear ticks: 4 to 8 of them on any range, inside the range", "[svg]") {
    std::mt19937 rng(7);
    std::uniform_real_distribution<double> exponent(-6, 6), unit(0, 1);
    for (int i = 0; i < 5000; i++) {
        double lo = (unit(rng) - 0.5) * std::pow(10, exponent(rng));
        double hi = lo + std::pow(10, exponent(rng)) * (0.01 + unit(rng));
        std::vector<double> t = axis_ticks(lo, hi, 0);
        INFO("range " << lo << " .. " << hi);
        REQUIRE(t.size() >= 4);
        REQUIRE(t.size() <= 8);
        double tolerance = (hi - lo) * 1e-6;
        REQUIRE(t.front() >= lo - tolerance);
        REQUIRE(t.back() <= hi + tolerance);
    }
    // fewer ticks when asked (the x axis of a narrow panel)
    REQUIRE(axis_ticks(0, 10, 0, 3).size() <= 3);
}

TEST_CASE("log ticks sit on powers of the base", "[svg]") {
    require_ticks(axis_ticks(60, 1100, 2), {64, 128, 256, 512, 1024});
    require_ticks(axis_ticks(0.0005, 20, 10), {0.001, 0.01, 0.1, 1, 10});
    require_ticks(axis_ticks(1, 1000, 10), {1, 10, 100, 1000});  // ends count despite log rounding
    // 11 powers are too many: every second one, at even exponents
    require_ticks(axis_ticks(std::pow(2, -14), std::pow(2, -4), 2),
                  {std::pow(2, -14), std::pow(2, -12), std::pow(2, -10), std::pow(2, -8), std::pow(2, -6), std::pow(2, -4)});
    REQUIRE(axis_ticks(1e-12, 1e12, 10).size() <= 8);
}

TEST_CASE("log ticks add values in between when fewer than two powers are in range", "[svg]") {
    require_ticks(axis_ticks(1.4, 6, 10), {2, 3, 4, 5, 6});  // 1-2-5 would give only 2 and 5
    require_ticks(axis_ticks(0.5, 8, 10), {0.5, 1, 2, 5});
    // one in-between value is not enough: plain linear steps
    require_ticks(axis_ticks(0.15, 0.25, 10), {0.16, 0.18, 0.2, 0.22, 0.24});
    require_ticks(axis_ticks(0.3, 0.9, 10), {0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9});
    require_ticks(axis_ticks(60, 100, 2), {64, 96});
    require_ticks(axis_ticks(0.84, 1.19, 2), {0.85, 0.9, 0.95, 1, 1.05, 1.1, 1.15});
}

TEST_CASE("bad axes are rejected", "[svg]") {
    REQUIRE_THROWS_WITH(axis_ticks(0, 10, 10), Contains("log axis"));
    REQUIRE_THROWS_WITH(axis_ticks(1, 10, 1), Contains("log axis"));
    REQUIRE_THROWS_WITH(axis_ticks(NaN, 10, 0), Contains("bad range"));
    require_ticks(axis_ticks(5, 5, 0), {5});
}

TEST_CASE("tick labels are compact", "[svg]") {
    REQUIRE(format_number(1024) == "1024");
    REQUIRE(format_number(64) == "64");
    REQUIRE(format_number(0) == "0");
    REQUIRE(format_number(0.001) == "0.001");
    REQUIRE(format_number(1e-5) == "1e-05");
    REQUIRE(format_number(0.5) == "0.5");
    REQUIRE(format_number(-2.5) == "-2.5");
    REQUIRE(format_number(3 * 0.1) == "0.3");  // 0.30000000000000004
    REQUIRE(format_number(std::pow(2, -13)) == "0.000122");
    REQUIRE(format_number(2e6) == "2e+06");
}

TEST_CASE("values map to pixels linearly or logarithmically", "[svg]") {
    REQUIRE(map_to_pixel(5, 0, 10, 0, 0, 400) == Approx(200));
    REQUIRE(map_to_pixel(0, 0, 10, 0, 50, 450) == Approx(50));
    REQUIRE(map_to_pixel(10, 0, 10, 0, 50, 450) == Approx(450));
    // the log midpoint of 64..1024 is 256, not 544
    REQUIRE(map_to_pixel(256, 64, 1024, 2, 100, 300) == Approx(200));
    REQUIRE(map_to_pixel(544, 64, 1024, 2, 100, 300) != Approx(200));
    // a y axis runs from the bottom pixel up; the base does not change a log mapping
    REQUIRE(map_to_pixel(0.1, 0.001, 10, 10, 250, 50) == Approx(150));
    REQUIRE(map_to_pixel(0.1, 0.001, 10, 2, 250, 50) == Approx(150));
    // a zero-width axis does not divide by zero
    REQUIRE(map_to_pixel(3, 3, 3, 0, 0, 100) == Approx(50));
}

TEST_CASE("axis ranges get a margin, also for constant data", "[svg]") {
    AxisRange r = padded_range(0, 10, 0);
    REQUIRE(r.lo == Approx(-0.5));
    REQUIRE(r.hi == Approx(10.5));
    r = padded_range(1, 100, 10);
    REQUIRE(r.lo == Approx(std::pow(10, -0.1)));
    REQUIRE(r.hi == Approx(std::pow(10, 2.1)));
    r = padded_range(3, 3, 0);
    REQUIRE(r.lo == Approx(2.7));
    REQUIRE(r.hi == Approx(3.3));
    r = padded_range(0, 0, 0);
    REQUIRE(r.lo == Approx(-1));
    REQUIRE(r.hi == Approx(1));
    r = padded_range(0.5, 0.5, 10);
    REQUIRE(r.lo == Approx(0.5 / std::sqrt(10)));
    REQUIRE(r.hi == Approx(0.5 * std::sqrt(10)));
    // and such a range still gets at least two ticks
    REQUIRE(axis_ticks(r.lo, r.hi, 10).size() >= 2);
    r = padded_range(64, 64, 2);
    REQUIRE(axis_ticks(r.lo, r.hi, 2).size() >= 2);
}

// --- rendering --------------------------------------------------------------------

TEST_CASE("the output is one well-formed svg element", "[svg]") {
    std::string svg = render_svg(busy_figure());
    INFO(svg);
    REQUIRE(xml_problem(svg) == "");
    REQUIRE_THAT(svg, Contains("xmlns=\"http://www.w3.org/2000/svg\""));
    REQUIRE_THAT(svg, Contains("viewBox=\"0 0 "));
    REQUIRE(svg.find("nan") == std::string::npos);
    REQUIRE(svg.find("inf") == std::string::npos);
    // the checker itself notices broken documents
    REQUIRE(xml_problem("<svg><g></svg>") != "");
    REQUIRE(xml_problem("<svg><text>a < b</text></svg>") != "");
    REQUIRE(xml_problem("<svg><text>a & b</text></svg>") != "");
    REQUIRE(xml_problem("<svg x=\"1\"/>") == "");
}

TEST_CASE("labels are XML-escaped", "[svg]") {
    REQUIRE(xml_escape("<&>\"'") == "&lt;&amp;&gt;&quot;&apos;");
    Figure fig = busy_figure();
    fig.title = "a<b & c>d";
    fig.panels[0].title = "\"quoted\" 'single'";
    fig.panels[0].series[0].label = "<script>";
    fig.panels[1].markers[0].label = "x&y";
    std::string svg = render_svg(fig);
    REQUIRE_THAT(svg, Contains("a&lt;b &amp; c&gt;d"));
    REQUIRE_THAT(svg, Contains("&quot;quoted&quot; &apos;single&apos;"));
    REQUIRE_THAT(svg, Contains("&lt;script&gt;"));
    REQUIRE_THAT(svg, Contains("x&amp;y"));
    REQUIRE(svg.find("<script") == std::string::npos);
    REQUIRE(xml_problem(svg) == "");
}

TEST_CASE("points that cannot be drawn split a line into segments", "[svg]") {
    auto polylines = [](std::vector<double> y, int log_y) {
        Figure fig;
        Panel p;
        p.log_y = log_y;
        p.series.push_back(make_series("s", {1, 2, 3, 4, 5}, y));
        fig.panels.push_back(p);
        return count(render_svg(fig), "<polyline");
    };
    REQUIRE(polylines({1, 2, 3, 4, 5}, 0) == 1);
    REQUIRE(polylines({1, 2, NaN, 4, 5}, 0) == 2);
    REQUIRE(polylines({1, 2, INFINITY, 4, 5}, 0) == 2);
    REQUIRE(polylines({1, NaN, 3, NaN, 5}, 0) == 0);  // only lone points: dots, no lines
    REQUIRE(polylines({1, 2, 3, 4, NaN}, 0) == 1);
    REQUIRE(polylines({1, 2, -1, 4, 5}, 0) == 1);   // negative is fine on a linear axis
    REQUIRE(polylines({1, 2, -1, 4, 5}, 10) == 2);  // but not on a log axis
    REQUIRE(polylines({1, 2, 0, 4, 5}, 10) == 2);

    // each segment holds only its own points
    Figure fig;
    Panel p;
    p.series.push_back(make_series("s", {1, 2, 3, 4, 5}, {1, 2, NaN, 4, 5}));
    p.series[0].markers = false;
    fig.panels.push_back(p);
    std::string svg = render_svg(fig);
    size_t at = svg.find("<polyline");
    while (at != std::string::npos) {
        size_t pts = svg.find("points=\"", at) + 8;
        std::string points = svg.substr(pts, svg.find('"', pts) - pts);
        REQUIRE(count(points, ",") == 2);
        at = svg.find("<polyline", at + 1);
    }
}

TEST_CASE("a series without its line is a scatter: one dot per point, no polyline", "[svg]") {
    Figure fig;
    Panel p;
    p.log_x = p.log_y = 10;
    p.series.push_back(make_series("cloud", {1, 2, 3, 4, 5}, {5, 1, 4, 2, 3}));
    p.series[0].line = false;
    p.series[0].markers = false;  // a scatter's dots are drawn all the same
    fig.panels.push_back(p);
    const std::string svg = render_svg(fig);
    REQUIRE(count(svg, "<polyline") == 0);
    REQUIRE(count(svg, "fill-opacity=\"0.55\"") == 5);
    // its legend entry is a dot without a line sample
    REQUIRE(count(svg, "stroke-width=\"2\"") == 0);
    REQUIRE(xml_problem(svg) == "");
}

TEST_CASE("a panel without drawable data says so", "[svg]") {
    Figure fig;
    fig.panels.resize(1);
    REQUIRE_THAT(render_svg(fig), Contains("no data"));
    fig.panels[0].series.push_back(make_series("diverged", {1, 2}, {NaN, INFINITY}));
    REQUIRE_THAT(render_svg(fig), Contains("no data"));
    fig.panels[0].log_x = 10;
    fig.panels[0].series.push_back(make_series("negative x", {-1, 0}, {1, 2}));
    REQUIRE_THAT(render_svg(fig), Contains("no data"));
    REQUIRE(xml_problem(render_svg(fig)) == "");
    fig.panels[0].series.push_back(make_series("fine", {1, 2}, {1, 2}));
    REQUIRE(render_svg(fig).find("no data") == std::string::npos);
}

TEST_CASE("constant data renders without dividing by zero", "[svg]") {
    Figure fig;
    Panel p;
    p.log_x = 2;
    p.log_y = 10;
    p.series.push_back(make_series("flat", {64, 64}, {0.5, 0.5}));
    fig.panels.push_back(p);
    p.log_x = p.log_y = 0;
    p.series[0] = make_series("zero", {0, 0, 0}, {0, 0, 0});
    fig.panels.push_back(p);
    std::string svg = render_svg(fig);
    REQUIRE(svg.find("nan") == std::string::npos);
    REQUIRE(svg.find("inf") == std::string::npos);
    REQUIRE(xml_problem(svg) == "");
}

TEST_CASE("panels fill a grid of columns", "[svg]") {
    Figure fig;
    fig.columns = 3;
    fig.panel_width = 300;
    fig.panel_height = 200;
    for (int i = 0; i < 5; i++) {
        Panel p;
        p.series.push_back(make_series("s", {0, 1}, {(double)i, i + 1.0}));
        fig.panels.push_back(p);
    }
    FigureLayout L = figure_layout(fig);
    REQUIRE(L.columns == 3);
    REQUIRE(L.rows == 2);
    REQUIRE(L.width == 3 * 300 + 2 * L.grid_left);
    REQUIRE(L.height == L.grid_top + 2 * 200 + L.grid_left);  // grid_left is the border on every side
    std::string svg = render_svg(fig);
    REQUIRE_THAT(svg, Contains("width=\"" + std::to_string(L.width) + "\" height=\"" + std::to_string(L.height) + "\""));
    REQUIRE(count(svg, "class=\"panel\"") == 5);
    // the fourth panel starts the second row
    std::string row2 = "translate(" + std::to_string(L.grid_left) + "," + std::to_string(L.grid_top + 200) + ")";
    REQUIRE(count(svg, row2) == 1);
    REQUIRE(count(svg, "translate(" + std::to_string(L.grid_left + 2 * 300) + ",") == 1);

    // fewer panels than columns: the figure is only as wide as its panels; a title adds a band
    fig.panels.resize(2);
    fig.title = "t";
    L = figure_layout(fig);
    REQUIRE(L.columns == 2);
    REQUIRE(L.rows == 1);
    REQUIRE(L.width == 2 * 300 + 2 * L.grid_left);
    REQUIRE(L.grid_top > L.grid_left);

    fig.columns = 0;
    REQUIRE_THROWS_WITH(figure_layout(fig), Contains("columns"));
}

TEST_CASE("series colors come from the palette unless given", "[svg]") {
    Figure fig;
    Panel p;
    for (int i = 0; i < 12; i++) p.series.push_back(make_series("s" + std::to_string(i), {0, 1}, {0, 1.0 + i}));
    p.series[1].color = "#123456";
    fig.panels.push_back(p);
    std::string svg = render_svg(fig);
    REQUIRE_THAT(svg, Contains("stroke=\"" + palette_color(0) + "\""));
    REQUIRE_THAT(svg, Contains("stroke=\"#123456\""));
    REQUIRE(count(svg, "<g stroke=\"" + palette_color(1) + "\"") == 1);  // only series 11 (wrapped around)
    REQUIRE(palette_color(10) == palette_color(0));
    for (size_t i = 0; i < 10; i++)
        for (size_t j = 0; j < i; j++) REQUIRE(palette_color(i) != palette_color(j));
}

TEST_CASE("legends: one per panel, or one for the figure", "[svg]") {
    Figure fig = busy_figure();  // panel a has 3 labeled series, panel b 1
    std::string svg = render_svg(fig);
    REQUIRE(count(svg, "class=\"legend\"") == 2);
    REQUIRE(count(svg, ">embedding</text>") == 2);

    fig.shared_legend = true;
    svg = render_svg(fig);
    REQUIRE(count(svg, "class=\"legend\"") == 1);
    REQUIRE(count(svg, ">embedding</text>") == 1);
    REQUIRE(count(svg, ">logits</text>") == 1);
    FigureLayout L = figure_layout(fig);
    REQUIRE(L.legend_width > 0);
    REQUIRE(L.width == 2 * fig.panel_width + 2 * L.grid_left + L.legend_width);

    fig.shared_legend = false;
    fig.panels[0].legend = false;
    REQUIRE(count(render_svg(fig), "class=\"legend\"") == 1);
}

TEST_CASE("markers and reference lines are drawn with their labels", "[svg]") {
    std::string svg = render_svg(busy_figure());
    REQUIRE_THAT(svg, Contains("r=\"6.5\" fill=\"none\" stroke=\"#d62728\""));  // the ring
    REQUIRE_THAT(svg, Contains(">best</text>"));
    REQUIRE_THAT(svg, Contains(">baseline</text>"));
    REQUIRE_THAT(svg, Contains("stroke=\"blue\""));
    REQUIRE(count(svg, "stroke-dasharray=\"5 4\"") == 2);
}

TEST_CASE("a dashed series: 6 4 unless it gives its own pattern, in the line and its legend sample", "[svg]") {
    Figure fig;
    fig.panels.resize(1);
    fig.panels[0].series.push_back(make_series("mccandlish", {1, 2, 3}, {1, 2, 3}));
    fig.panels[0].series.back().dashed = true;
    fig.panels[0].series.push_back(make_series("surge", {1, 2, 3}, {3, 2, 1}));
    fig.panels[0].series.back().dashed = true;
    fig.panels[0].series.back().dash_pattern = "2 3";
    fig.panels[0].series.push_back(make_series("solid", {1, 2, 3}, {2, 2, 2}));
    fig.panels[0].series.back().dash_pattern = "2 3";  // ignored: not dashed
    const std::string svg = render_svg(fig);
    REQUIRE(count(svg, "stroke-dasharray=\"6 4\"") == 2);  // the polyline and the legend's sample
    REQUIRE(count(svg, "stroke-dasharray=\"2 3\"") == 2);
}

TEST_CASE("mismatched series lengths are an error", "[svg]") {
    Figure fig;
    fig.panels.resize(1);
    fig.panels[0].series.push_back(make_series("loss", {1, 2, 3}, {1, 2}));
    REQUIRE_THROWS_WITH(render_svg(fig), Contains("\"loss\": x has 3 values but y has 2"));
}

TEST_CASE("write_svg writes the rendered figure atomically", "[svg]") {
    TempDir dir;
    std::string path = dir.file("coord_check.svg");
    Figure fig = busy_figure();
    write_svg(path, fig);
    REQUIRE(file_exists(path));
    std::vector<uint8_t> bytes = read_file(path);
    REQUIRE(std::string(bytes.begin(), bytes.end()) == render_svg(fig));
    // overwriting leaves exactly one file: no temporary is left behind
    fig.title = "second";
    write_svg(path, fig);
    bytes = read_file(path);
    REQUIRE(std::string(bytes.begin(), bytes.end()) == render_svg(fig));
    int files = 0;
    for (const auto& entry : std::filesystem::directory_iterator(dir.path)) {
        files++;
        REQUIRE(entry.path().filename() == "coord_check.svg");
    }
    REQUIRE(files == 1);
    REQUIRE_THROWS_WITH(write_svg(dir.file("missing/dir/x.svg"), fig), Contains("cannot write"));
}

namespace {

// The error bars' lines in an SVG document, as {x1, y1, x2, y2}: the lines
// whose only style is the bars' stroke width (grid, ticks and reference
// lines carry other attributes).
std::vector<std::vector<double>> error_bar_lines(const std::string& svg) {
    std::regex bar("<line x1=\"([-0-9.]+)\" y1=\"([-0-9.]+)\" x2=\"([-0-9.]+)\" y2=\"([-0-9.]+)\" stroke-width=\"1.2\"/>");
    std::vector<std::vector<double>> out;
    for (auto it = std::sregex_iterator(svg.begin(), svg.end(), bar); it != std::sregex_iterator(); ++it)
        out.push_back({std::stod((*it)[1]), std::stod((*it)[2]), std::stod((*it)[3]), std::stod((*it)[4])});
    return out;
}

}  // namespace

TEST_CASE("error bars: a capped vertical segment per point, inside the axis range", "[svg]") {
    Figure fig;
    fig.panels.resize(1);
    fig.panels[0].log_x = 2;
    Series s = make_series("drift", {500, 2000, 8000}, {1, 2, 3});
    fig.panels[0].series.push_back(s);
    const std::string plain = render_svg(fig);
    REQUIRE(error_bar_lines(plain).empty());  // no bars asked for, none drawn
    REQUIRE_THAT(plain, !Contains(">10</text>"));
    s.y_lo = {0.5, 1.5, NaN};  // the third bar has an end that cannot be drawn: left out
    s.y_hi = {1.5, 10, 4};
    fig.panels[0].series[0] = s;
    const std::string svg = render_svg(fig);
    REQUIRE(xml_problem(svg) == "");
    std::vector<std::vector<double>> lines = error_bar_lines(svg);
    REQUIRE(lines.size() == 6);  // two bars, each a segment and two caps
    for (size_t b = 0; b < 6; b += 3) {
        const auto &seg = lines[b], &cap1 = lines[b + 1], &cap2 = lines[b + 2];
        REQUIRE(seg[0] == seg[2]);  // vertical
        REQUIRE(cap1[1] == seg[1]);
        REQUIRE(cap1[3] == seg[1]);  // a horizontal cap at each end, centred on the bar
        REQUIRE(cap2[1] == seg[3]);
        REQUIRE(cap2[3] == seg[3]);
        REQUIRE(cap1[2] - cap1[0] == Approx(8));
        REQUIRE((cap1[0] + cap1[2]) / 2 == Approx(seg[0]));
        REQUIRE(seg[1] > seg[3]);  // y_lo below y_hi on the page (pixel y grows downwards)
    }
    // at the points' x, and as long as the data says (linear y: 8.5 / 1.0)
    std::smatch dot;
    REQUIRE(std::regex_search(svg, dot, std::regex("<circle cx=\"([-0-9.]+)\"")));
    REQUIRE(std::stod(dot[1]) == Approx(lines[0][0]).margin(0.01));
    REQUIRE((lines[3][1] - lines[3][3]) / (lines[0][1] - lines[0][3]) == Approx(8.5).epsilon(0.01));
    REQUIRE_THAT(svg, Contains(">10</text>"));  // the axis grew to hold the bar's top
    // bars of the wrong length are an error, as are bars with only one end
    s.y_lo = {0.5, 1.5};
    fig.panels[0].series[0] = s;
    REQUIRE_THROWS_WITH(render_svg(fig), Contains("\"drift\": error bars need y_lo and y_hi as long as y (3)"));
    s.y_lo.clear();
    fig.panels[0].series[0] = s;
    REQUIRE_THROWS_WITH(render_svg(fig), Contains("error bars need y_lo and y_hi"));
}
