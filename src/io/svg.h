// Small SVG chart writer for the µP coordinate check and the learning-rate
// sweeps: line charts on linear or log axes, in a grid of panels.
//
// Why our own writer: the figures are results of the program itself, and the
// core path should not need Python or matplotlib to produce them. SVG is plain
// text that any browser opens, so a chart is a few hundred lines of string
// formatting that a test can check.
//
// The design is data-driven: a Figure is a grid of Panels; a Panel holds
// Series (lines through points), Markers (highlighted points, e.g. the best
// learning rate) and RefLines (horizontal or vertical lines across the panel),
// and says which axes are logarithmic; a Series may carry error bars. Axis
// ranges come from the data, so a caller fills in numbers and labels and
// never pixels. A point that cannot be drawn (NaN or inf from a diverged run,
// or a value <= 0 on a log axis) is skipped and breaks its line, so a gap in
// the data is a gap in the plot.
#pragma once
#include <string>
#include <vector>

struct Series {
    std::string label;           // legend text; "" = not in the legend
    std::vector<double> x, y;    // same length
    std::string color;           // any SVG color; "" = palette color by index in the panel
    bool markers = true;         // a dot at every point
    bool dashed = false;
    std::string dash_pattern = {};  // with dashed: the SVG stroke-dasharray ("2 3" dots); {} = "6 4"
    // Optional error bars: from y_lo[i] to y_hi[i] at x[i], drawn as a
    // vertical segment with small caps. Both empty (no bars) or both as long
    // as y; a bar with an end that cannot be drawn is left out (the point
    // stays). The bars count in the axis range, so none is clipped. (The
    // "= {}" lets brace-initialized Series leave them out without a warning.)
    std::vector<double> y_lo = {}, y_hi = {};
    // false: dots only, no line through them (a scatter plot); the dots are
    // drawn whatever `markers` says.
    bool line = true;
};

// A highlighted point, drawn as a ring, e.g. the optimum of an LR sweep.
struct Marker {
    double x = 0, y = 0;
    std::string label;           // written next to the ring; may be ""
    std::string color;           // "" = black
};

// A line across the whole panel at y = value (horizontal) or x = value.
struct RefLine {
    bool horizontal = true;
    double value = 0;
    std::string label;           // written at the line's end; may be ""
    std::string color;           // "" = dark gray
};

struct Panel {
    std::string title, xlabel, ylabel;
    int log_x = 0, log_y = 0;    // 0 = linear axis, else the log base (2 or 10)
    std::vector<Series> series;
    std::vector<Marker> markers;
    std::vector<RefLine> lines;
    bool legend = true;          // ignored when the figure has a shared legend
};

struct Figure {
    std::string title;
    int columns = 3;                            // panels per row
    int panel_width = 380, panel_height = 300;  // pixels per panel, axes and labels included
    std::vector<Panel> panels;
    bool shared_legend = false;  // one legend beside the grid instead of one per panel
};

// The whole figure as a standalone SVG document.
std::string render_svg(const Figure& fig);
// render_svg written with write_file_atomic (a crash never leaves half a file).
void write_svg(const std::string& path, const Figure& fig);

// --- pieces exposed for the tests ---------------------------------------------

// Tick values for an axis showing [lo, hi]. Linear (log_base 0): multiples of
// a 1, 2 or 5 x 10^k step, 4 to 8 of them where the range allows. Log: the
// integer powers of the base inside the range (every second or third power
// when there are too many); when fewer than two powers fall inside, values in
// between (1-2-5 or 1..9 x 10^k, 1 and 1.5 x 2^k), and plain linear steps if
// even those give fewer than two. Never more than max_ticks.
std::vector<double> axis_ticks(double lo, double hi, int log_base, int max_ticks = 8);

// Tick label: an integer below 10^6 as is ("1024"), otherwise the shortest %g
// with up to 4 significant digits that gives the value back ("0.001", "1e-05").
std::string format_number(double v);

// Where v lands between pixel_lo (at axis value lo) and pixel_hi (at hi);
// linear or logarithmic in v. For a y axis pass pixel_lo > pixel_hi.
double map_to_pixel(double v, double lo, double hi, int log_base, double pixel_lo, double pixel_hi);

// The axis range shown for data spanning [data_lo, data_hi]: 5% of the span
// added on each side (in log space on a log axis). Constant data gets a fixed
// margin instead (±10% of the value, ±1 around 0, half a power on a log axis).
struct AxisRange {
    double lo = 0, hi = 1;
};
AxisRange padded_range(double data_lo, double data_hi, int log_base);

// Pixel layout of a figure: panels in a grid of `columns` x `rows` cells of
// panel_width x panel_height, starting at (grid_left, grid_top), then the
// shared legend (if any) in a column of legend_width to the right.
struct FigureLayout {
    int columns = 0, rows = 0;
    int width = 0, height = 0;
    int grid_left = 0, grid_top = 0;
    int legend_width = 0;
};
FigureLayout figure_layout(const Figure& fig);

// The fixed palette used for series without a color: 10 colors, wrapping.
const std::string& palette_color(size_t index);

// & < > " ' as entities, so any label is safe in text and in attributes.
std::string xml_escape(const std::string& s);
