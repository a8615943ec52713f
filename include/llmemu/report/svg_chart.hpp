#pragma once
/// \file svg_chart.hpp
/// The charts of the HTML report as data (Chart, Heatmap) and their rendering as inline
/// SVG: axes with units, ticks, a legend, reference lines, Okabe–Ito colours (safe for
/// colour-blind readers) and dash patterns when curves outnumber colours. No script is
/// needed to see a chart; every drawn element carries a <title> for hover text.
/// The <svg> element records its axes (data-x-min/max, data-x-log, data-y-min/max,
/// data-y-log, data-plot = "left top width height") so that tests can map a drawn point
/// back to the number it shows.

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "llmemu/config.hpp"

LLMEMU_BEGIN_NAMESPACE
namespace report {

/// Okabe & Ito's colour-blind-safe palette, in the order curves take them (yellow last: it
/// is faint on white).
inline constexpr const char* palette[] = {"#0072B2", "#D55E00", "#009E73", "#CC79A7",
                                          "#E69F00", "#56B4E9", "#000000", "#F0E442"};
inline constexpr std::size_t palette_size = sizeof(palette) / sizeof(palette[0]);

/// One axis: its label (with the unit), scale and optional fixed range.
struct Axis {
    std::string label;
    bool log = false;
    std::optional<double> min, max;
};

/// One curve (or set of bars) of a chart.
struct Series {
    enum class Style { line, step, markers, bars };
    std::string name;
    /// Index into the palette (and the dash pattern, past its end); the same index in every
    /// chart means the same input.
    std::size_t colour = 0;
    Style style = Style::line;
    bool dashed = false;
    std::vector<std::pair<double, double>> points;
    /// What a click on its legend entry toggles (the data-series attribute); empty: the
    /// colour index, i.e. that input's curves in every chart.
    std::string toggle;
};

/// A horizontal (vertical == false: y = value) or vertical (x = value) reference line.
struct RefLine {
    bool vertical = false;
    double value = 0.0;
    std::string label;
    std::size_t colour = 6; // black
};

/// An x-y chart: lines, steps, markers or bars.
struct Chart {
    /// Stable id (data-chart attribute), e.g. "cdf_ttft".
    std::string id;
    std::string title;
    /// A line under the title (what the chart shows, where the data came from).
    std::string note;
    Axis x, y;
    std::vector<Series> series;
    std::vector<RefLine> lines;
    /// Category labels for bar charts (x = 0, 1, ...); empty otherwise.
    std::vector<std::string> categories;
};

/// A grid of cells over (x bins, y bins), each with a share of three classes (the oracle's
/// exact / interpolated / out-of-range answers): drawn in the colour of its largest class,
/// darker for more steps.
struct Heatmap {
    std::string id;
    std::string title;
    std::string note;
    std::string x_label, y_label;
    /// Lower edges of the columns (x) and rows (y), one more than cells (the last is the
    /// upper edge of the last bin).
    std::vector<double> x_edges, y_edges;
    /// counts[class][y][x].
    std::vector<std::vector<std::vector<double>>> counts;
    std::vector<std::string> class_names;
    std::vector<std::size_t> class_colours;
};

namespace detail {

inline std::string svg_num(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.2f", v);
    return buf;
}

/// A short, readable number for ticks and hover text.
inline std::string svg_label(double v) {
    if (std::isnan(v)) return "n/a";
    if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
    char buf[32];
    const double a = std::abs(v);
    if (a != 0.0 && (a >= 1e6 || a < 1e-3))
        std::snprintf(buf, sizeof buf, "%.3g", v);
    else if (a >= 100 || std::floor(v) == v)
        std::snprintf(buf, sizeof buf, "%.0f", v);
    else
        std::snprintf(buf, sizeof buf, "%.3g", v);
    return buf;
}

inline std::string svg_escape(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (char c : s) {
        switch (c) {
        case '&':
            out += "&amp;";
            break;
        case '<':
            out += "&lt;";
            break;
        case '>':
            out += "&gt;";
            break;
        case '"':
            out += "&quot;";
            break;
        case '\'':
            out += "&#39;";
            break;
        default:
            out += c;
        }
    }
    return out;
}

/// A linear or log10 mapping of [lo, hi] onto [a, b] pixels.
struct Scale {
    double lo = 0.0, hi = 1.0, a = 0.0, b = 1.0;
    bool log = false;
    [[nodiscard]] double operator()(double v) const {
        const double t = log ? (std::log10(std::max(v, lo)) - std::log10(lo)) / (std::log10(hi) - std::log10(lo))
                             : (v - lo) / (hi - lo);
        return a + (b - a) * t;
    }
};

/// Round numbers covering [lo, hi] (about `target` ticks).
inline std::vector<double> linear_ticks(double lo, double hi, int target = 6) {
    std::vector<double> out;
    const double span = hi - lo;
    if (!(span > 0.0)) return {lo};
    const double raw = span / target;
    const double mag = std::pow(10.0, std::floor(std::log10(raw)));
    double step = mag;
    for (double m : {1.0, 2.0, 2.5, 5.0, 10.0})
        if (raw <= m * mag) {
            step = m * mag;
            break;
        }
    for (double v = std::ceil(lo / step - 1e-9) * step; v <= hi + step * 1e-9; v += step)
        out.push_back(std::abs(v) < step * 1e-9 ? 0.0 : v);
    return out;
}

/// Round numbers covering [lo, hi], lo > 0, for a log axis: decades, else 1-2-5 within
/// them, else every digit, else (a very narrow range) linear round numbers.
inline std::vector<double> log_ticks(double lo, double hi) {
    const int d0 = static_cast<int>(std::floor(std::log10(lo)));
    const int d1 = static_cast<int>(std::ceil(std::log10(hi)));
    const std::vector<double> mantissas[] = {{1}, {1, 2, 5}, {1, 2, 3, 4, 5, 6, 7, 8, 9}};
    for (const auto& ms : mantissas) {
        std::vector<double> out;
        for (int d = d0; d <= d1; ++d)
            for (double m : ms) {
                const double v = m * std::pow(10.0, d);
                if (v >= lo * (1 - 1e-9) && v <= hi * (1 + 1e-9)) out.push_back(v);
            }
        if (out.size() >= 3 && out.size() <= 12) return out;
        if (out.size() > 12) break; // too many: the coarser set (if it had 2) is better than crowding
    }
    return linear_ticks(lo, hi, 5);
}

/// The data range of an axis: fixed ends where given, else the data's, padded; log axes
/// only over positive values.
inline std::pair<double, double> axis_range(const Axis& ax, std::vector<double> values, bool bars) {
    values.erase(std::remove_if(values.begin(), values.end(),
                                [&](double v) { return !std::isfinite(v) || (ax.log && !(v > 0.0)); }),
                 values.end());
    double lo = 0.0, hi = 1.0;
    if (!values.empty()) {
        const auto [mn, mx] = std::minmax_element(values.begin(), values.end());
        lo = *mn;
        hi = *mx;
    } else if (ax.log) {
        lo = 1.0;
        hi = 10.0;
    }
    if (ax.log) {
        if (hi <= lo) {
            lo /= 2.0;
            hi *= 2.0;
        }
        lo /= 1.04; // keep data off the frame
        hi *= 1.04;
        lo = std::pow(10.0, std::floor(std::log10(lo) * 10.0) / 10.0);
        hi = std::pow(10.0, std::ceil(std::log10(hi) * 10.0) / 10.0);
    } else {
        if (bars || (lo >= 0.0 && lo <= 0.25 * hi)) lo = std::min(lo, 0.0);
        if (hi <= lo) hi = lo + (lo == 0.0 ? 1.0 : std::abs(lo) * 0.1);
        const double pad = (hi - lo) * 0.04;
        hi += pad;
        if (lo < 0.0 || lo > 0.0) lo -= pad;
    }
    if (ax.min) lo = *ax.min;
    if (ax.max) hi = *ax.max;
    if (ax.log && !(lo > 0.0)) lo = hi > 0.0 ? hi / 1000.0 : 1e-3;
    if (!(hi > lo)) hi = lo + 1.0;
    return {lo, hi};
}

inline const char* dash_of(std::size_t colour, bool dashed) {
    const std::size_t round = colour / palette_size;
    if (dashed || round == 1) return " stroke-dasharray=\"6 3\"";
    if (round >= 2) return " stroke-dasharray=\"2 2\"";
    return "";
}

} // namespace detail

/// Geometry shared by every chart.
struct ChartLayout {
    int width = 580, plot_height = 290;
    int left = 70, right = 20, top = 16, bottom = 48;
    int legend_row = 18, legend_columns = 2;
};

/// The chart as an inline <svg> (no script). Series with no points are listed in the legend
/// as "(no data)".
inline std::string render_svg(const Chart& c, const ChartLayout& L = {}) {
    const auto toggle_of = [](const Series& s) { return s.toggle.empty() ? std::to_string(s.colour) : s.toggle; };
    using detail::svg_num;
    const bool bars =
        std::any_of(c.series.begin(), c.series.end(), [](const Series& s) { return s.style == Series::Style::bars; });
    std::vector<double> xs, ys;
    for (const auto& s : c.series)
        for (const auto& [x, y] : s.points) {
            xs.push_back(x);
            ys.push_back(y);
        }
    for (const auto& l : c.lines) (l.vertical ? xs : ys).push_back(l.value);
    if (bars && !c.categories.empty()) {
        xs.push_back(-0.5);
        xs.push_back(static_cast<double>(c.categories.size()) - 0.5);
    }
    Axis xax = c.x;
    if (bars) {
        xax.min = -0.5;
        xax.max = static_cast<double>(std::max<std::size_t>(c.categories.size(), 1)) - 0.5;
        xax.log = false;
    }
    const auto [x0, x1] = detail::axis_range(xax, xs, false);
    const auto [y0, y1] = detail::axis_range(c.y, ys, bars);
    const int pw = L.width - L.left - L.right;
    std::size_t longest = 0;
    for (const auto& se : c.series) longest = std::max(longest, se.name.size() + (se.points.empty() ? 10 : 0));
    for (const auto& l : c.lines) longest = std::max(longest, l.label.size());
    const int columns =
        longest <= static_cast<std::size_t>(((L.width - L.left) / L.legend_columns - 34) / 7) ? L.legend_columns : 1;
    const int legend_rows = static_cast<int>(
        (c.series.size() + c.lines.size() + static_cast<std::size_t>(columns) - 1) / static_cast<std::size_t>(columns));
    const int height = L.top + L.plot_height + L.bottom + legend_rows * L.legend_row + 6;
    const detail::Scale sx{x0, x1, static_cast<double>(L.left), static_cast<double>(L.left + pw), xax.log};
    const detail::Scale sy{y0, y1, static_cast<double>(L.top + L.plot_height), static_cast<double>(L.top), c.y.log};

    std::string o;
    o.reserve(4096);
    o += "<svg class=\"chart\" role=\"img\" viewBox=\"0 0 " + std::to_string(L.width) + " " + std::to_string(height) +
         "\" width=\"" + std::to_string(L.width) + "\" height=\"" + std::to_string(height) + "\" data-chart=\"" +
         detail::svg_escape(c.id) + "\" data-x-min=\"" + detail::svg_label(x0) + "\" data-x-max=\"" +
         detail::svg_label(x1) + "\" data-x-log=\"" + (xax.log ? "1" : "0") + "\" data-y-min=\"" +
         detail::svg_label(y0) + "\" data-y-max=\"" + detail::svg_label(y1) + "\" data-y-log=\"" +
         (c.y.log ? "1" : "0") + "\" data-plot=\"" + std::to_string(L.left) + " " + std::to_string(L.top) + " " +
         std::to_string(pw) + " " + std::to_string(L.plot_height) + "\">";
    o += "<title>" + detail::svg_escape(c.title) + "</title>";
    // Exact axis ends (the data-* attributes above are rounded for reading).
    char exact[160];
    std::snprintf(exact, sizeof exact, "<desc>x %.17g %.17g y %.17g %.17g</desc>", x0, x1, y0, y1);
    o += exact;
    o += "<rect class=\"plot-bg\" x=\"" + std::to_string(L.left) + "\" y=\"" + std::to_string(L.top) + "\" width=\"" +
         std::to_string(pw) + "\" height=\"" + std::to_string(L.plot_height) + "\"/>";
    // Grid and ticks.
    const std::vector<double> xt =
        bars ? std::vector<double>{} : (xax.log ? detail::log_ticks(x0, x1) : detail::linear_ticks(x0, x1));
    const std::vector<double> yt = c.y.log ? detail::log_ticks(y0, y1) : detail::linear_ticks(y0, y1);
    const std::string ybase = std::to_string(L.top + L.plot_height);
    for (double v : xt) {
        const std::string px = svg_num(sx(v));
        o += "<line class=\"grid\" x1=\"" + px + "\" x2=\"" + px + "\" y1=\"" + std::to_string(L.top) + "\" y2=\"" +
             ybase + "\"/><text class=\"tick\" x=\"" + px + "\" y=\"" + std::to_string(L.top + L.plot_height + 16) +
             "\" text-anchor=\"middle\">" + detail::svg_label(v) + "</text>";
    }
    for (std::size_t i = 0; i < c.categories.size(); ++i)
        o += "<text class=\"tick\" x=\"" + svg_num(sx(static_cast<double>(i))) + "\" y=\"" +
             std::to_string(L.top + L.plot_height + 16) + "\" text-anchor=\"middle\">" +
             detail::svg_escape(c.categories[i]) + "</text>";
    for (double v : yt) {
        const std::string py = svg_num(sy(v));
        o += "<line class=\"grid\" x1=\"" + std::to_string(L.left) + "\" x2=\"" + std::to_string(L.left + pw) +
             "\" y1=\"" + py + "\" y2=\"" + py + "\"/><text class=\"tick\" x=\"" + std::to_string(L.left - 6) +
             "\" y=\"" + svg_num(sy(v) + 4) + "\" text-anchor=\"end\">" + detail::svg_label(v) + "</text>";
    }
    o += "<rect class=\"frame\" x=\"" + std::to_string(L.left) + "\" y=\"" + std::to_string(L.top) + "\" width=\"" +
         std::to_string(pw) + "\" height=\"" + std::to_string(L.plot_height) + "\"/>";
    o += "<text class=\"axis-label\" x=\"" + std::to_string(L.left + pw / 2) + "\" y=\"" +
         std::to_string(L.top + L.plot_height + 36) + "\" text-anchor=\"middle\">" + detail::svg_escape(c.x.label) +
         "</text>";
    o += "<text class=\"axis-label\" transform=\"translate(16 " + std::to_string(L.top + L.plot_height / 2) +
         ") rotate(-90)\" text-anchor=\"middle\">" + detail::svg_escape(c.y.label) + "</text>";

    // Data, clipped to the plot.
    o += "<clipPath id=\"clip-" + detail::svg_escape(c.id) + "\"><rect x=\"" + std::to_string(L.left) + "\" y=\"" +
         std::to_string(L.top) + "\" width=\"" + std::to_string(pw) + "\" height=\"" + std::to_string(L.plot_height) +
         "\"/></clipPath><g clip-path=\"url(#clip-" + detail::svg_escape(c.id) + ")\">";
    std::size_t nbars = 0;
    for (const auto& s : c.series) nbars += s.style == Series::Style::bars ? 1 : 0;
    std::size_t bar_index = 0;
    for (std::size_t si = 0; si < c.series.size(); ++si) {
        const Series& s = c.series[si];
        const char* colour = palette[s.colour % palette_size];
        const std::string head = "<g class=\"series\" data-series=\"" + detail::svg_escape(toggle_of(s)) +
                                 "\" data-name=\"" + detail::svg_escape(s.name) + "\">";
        auto visible = [&](double x, double y) {
            return std::isfinite(x) && std::isfinite(y) && (!xax.log || x > 0) && (!c.y.log || y > 0);
        };
        if (s.style == Series::Style::bars) {
            o += head;
            const double slot = 0.8 / static_cast<double>(std::max<std::size_t>(nbars, 1));
            for (const auto& [x, y] : s.points) {
                if (!visible(x, y)) continue;
                const double left = x - 0.4 + slot * static_cast<double>(bar_index);
                const double px0 = sx(left), px1 = sx(left + slot);
                const double py = sy(y), pbase = sy(std::max(y0, 0.0));
                o += "<rect class=\"data\" fill=\"" + std::string(colour) + "\" x=\"" + svg_num(px0) + "\" y=\"" +
                     svg_num(std::min(py, pbase)) + "\" width=\"" + svg_num(std::max(px1 - px0 - 1.0, 1.0)) +
                     "\" height=\"" + svg_num(std::max(std::abs(pbase - py), 0.5)) + "\"><title>" +
                     detail::svg_escape(s.name) + ": " + detail::svg_label(y) + "</title></rect>";
            }
            o += "</g>";
            ++bar_index;
            continue;
        }
        o += head;
        if (s.style == Series::Style::markers) {
            for (const auto& [x, y] : s.points) {
                if (!visible(x, y)) continue;
                o += "<circle class=\"data\" fill=\"" + std::string(colour) + "\" cx=\"" + svg_num(sx(x)) + "\" cy=\"" +
                     svg_num(sy(y)) + "\" r=\"3.5\"><title>" + detail::svg_escape(s.name) + ": " +
                     detail::svg_label(x) + ", " + detail::svg_label(y) + "</title></circle>";
            }
        } else {
            std::string pts;
            pts.reserve(s.points.size() * 16);
            double prev_y = 0.0;
            bool any = false;
            for (const auto& [x, y] : s.points) {
                if (!visible(x, y)) continue;
                if (s.style == Series::Style::step && any) pts += svg_num(sx(x)) + "," + svg_num(sy(prev_y)) + " ";
                pts += svg_num(sx(x)) + "," + svg_num(sy(y)) + " ";
                prev_y = y;
                any = true;
            }
            if (!pts.empty()) pts.pop_back();
            o += "<polyline class=\"data\" fill=\"none\" stroke=\"" + std::string(colour) + "\" stroke-width=\"1.8\"" +
                 detail::dash_of(s.colour, s.dashed) + " points=\"" + pts + "\"><title>" + detail::svg_escape(s.name) +
                 "</title></polyline>";
        }
        o += "</g>";
    }
    o += "</g>";
    for (const auto& l : c.lines) {
        const char* colour = palette[l.colour % palette_size];
        if (l.vertical) {
            const std::string px = svg_num(sx(l.value));
            o += "<line class=\"ref\" stroke=\"" + std::string(colour) + "\" stroke-dasharray=\"5 3\" x1=\"" + px +
                 "\" x2=\"" + px + "\" y1=\"" + std::to_string(L.top) + "\" y2=\"" + ybase + "\"><title>" +
                 detail::svg_escape(l.label) + "</title></line>";
        } else {
            const std::string py = svg_num(sy(l.value));
            o += "<line class=\"ref\" stroke=\"" + std::string(colour) + "\" stroke-dasharray=\"5 3\" x1=\"" +
                 std::to_string(L.left) + "\" x2=\"" + std::to_string(L.left + pw) + "\" y1=\"" + py + "\" y2=\"" + py +
                 "\"><title>" + detail::svg_escape(l.label) + "</title></line>";
        }
    }
    // Legend.
    const int colw = (L.width - L.left) / columns;
    const int ly0 = L.top + L.plot_height + L.bottom;
    std::size_t k = 0;
    auto entry = [&](const std::string& swatch, const std::string& text, const std::string& attrs) {
        const int col = static_cast<int>(k % static_cast<std::size_t>(columns));
        const int row = static_cast<int>(k / static_cast<std::size_t>(columns));
        const int x = L.left + col * colw, y = ly0 + row * L.legend_row;
        std::string t = text;
        const std::size_t maxc = static_cast<std::size_t>(std::max(8, (colw - 34) / 7));
        const std::string shown = t.size() > maxc ? t.substr(0, maxc - 1) + "\xE2\x80\xA6" : t;
        o += "<g class=\"legend-entry\"" + attrs + " transform=\"translate(" + std::to_string(x) + " " +
             std::to_string(y) + ")\">" + swatch + "<text class=\"legend\" x=\"26\" y=\"4\">" +
             detail::svg_escape(shown) + "<title>" + detail::svg_escape(t) + "</title></text></g>";
        ++k;
    };
    for (const auto& s : c.series) {
        const char* colour = palette[s.colour % palette_size];
        const std::string sw =
            s.style == Series::Style::bars
                ? "<rect x=\"0\" y=\"-5\" width=\"20\" height=\"10\" fill=\"" + std::string(colour) + "\"/>"
            : s.style == Series::Style::markers
                ? "<circle cx=\"10\" cy=\"0\" r=\"3.5\" fill=\"" + std::string(colour) + "\"/>"
                : "<line x1=\"0\" x2=\"20\" y1=\"0\" y2=\"0\" stroke-width=\"2\" stroke=\"" + std::string(colour) +
                      "\"" + detail::dash_of(s.colour, s.dashed) + "/>";
        entry(sw, s.points.empty() ? s.name + " (no data)" : s.name,
              " data-series=\"" + detail::svg_escape(toggle_of(s)) + "\"");
    }
    for (const auto& l : c.lines)
        entry("<line x1=\"0\" x2=\"20\" y1=\"0\" y2=\"0\" stroke-dasharray=\"5 3\" stroke=\"" +
                  std::string(palette[l.colour % palette_size]) + "\"/>",
              l.label, "");
    o += "</svg>";
    return o;
}

/// The heatmap as an inline <svg>: one cell per (x bin, y bin) with steps, coloured by
/// its largest class, opacity growing with log(count); hover text gives every count.
inline std::string render_svg(const Heatmap& h, const ChartLayout& L = {}) {
    using detail::svg_num;
    const std::size_t nx = h.x_edges.size() > 1 ? h.x_edges.size() - 1 : 0;
    const std::size_t ny = h.y_edges.size() > 1 ? h.y_edges.size() - 1 : 0;
    const int pw = L.width - L.left - L.right;
    const int legend_rows = static_cast<int>((h.class_names.size() + 2) / 3);
    const int height = L.top + L.plot_height + L.bottom + legend_rows * L.legend_row + 6;
    std::string o = "<svg class=\"chart\" role=\"img\" viewBox=\"0 0 " + std::to_string(L.width) + " " +
                    std::to_string(height) + "\" width=\"" + std::to_string(L.width) + "\" height=\"" +
                    std::to_string(height) + "\" data-chart=\"" + detail::svg_escape(h.id) + "\">";
    o += "<title>" + detail::svg_escape(h.title) + "</title>";
    o += "<rect class=\"plot-bg\" x=\"" + std::to_string(L.left) + "\" y=\"" + std::to_string(L.top) + "\" width=\"" +
         std::to_string(pw) + "\" height=\"" + std::to_string(L.plot_height) + "\"/>";
    double maxc = 0.0;
    for (std::size_t y = 0; y < ny; ++y)
        for (std::size_t x = 0; x < nx; ++x) {
            double t = 0.0;
            for (const auto& cls : h.counts)
                if (y < cls.size() && x < cls[y].size()) t += cls[y][x];
            maxc = std::max(maxc, t);
        }
    const double cw = nx == 0 ? 0.0 : static_cast<double>(pw) / static_cast<double>(nx);
    const double ch = ny == 0 ? 0.0 : static_cast<double>(L.plot_height) / static_cast<double>(ny);
    o += "<g class=\"series\">";
    for (std::size_t y = 0; y < ny; ++y)
        for (std::size_t x = 0; x < nx; ++x) {
            double total = 0.0, best = -1.0;
            std::size_t arg = 0;
            std::string tip;
            for (std::size_t k = 0; k < h.counts.size(); ++k) {
                const double v = y < h.counts[k].size() && x < h.counts[k][y].size() ? h.counts[k][y][x] : 0.0;
                total += v;
                if (v > best) {
                    best = v;
                    arg = k;
                }
                tip += (k == 0 ? "" : ", ") + h.class_names[k] + " " + detail::svg_label(v);
            }
            if (total <= 0.0) continue;
            const double opacity = 0.5 + 0.5 * std::log1p(total) / std::log1p(std::max(maxc, 1.0));
            const double px = L.left + cw * static_cast<double>(x);
            const double py = L.top + L.plot_height - ch * static_cast<double>(y + 1);
            o += "<rect class=\"data\" fill=\"" + std::string(palette[h.class_colours[arg] % palette_size]) +
                 "\" fill-opacity=\"" + svg_num(opacity) + "\" x=\"" + svg_num(px) + "\" y=\"" + svg_num(py) +
                 "\" width=\"" + svg_num(cw - 1.0) + "\" height=\"" + svg_num(ch - 1.0) + "\"><title>" +
                 detail::svg_escape(h.x_label) + " " + detail::svg_label(h.x_edges[x]) + "\xE2\x80\x93" +
                 detail::svg_label(h.x_edges[x + 1] - 1) + ", " + detail::svg_escape(h.y_label) + " " +
                 detail::svg_label(h.y_edges[y]) + "\xE2\x80\x93" + detail::svg_label(h.y_edges[y + 1] - 1) + ": " +
                 detail::svg_escape(tip) + " steps</title></rect>";
        }
    o += "</g>";
    // Ticks at bin edges (every other one when crowded).
    const std::size_t xstep = nx > 12 ? 2 : 1, ystep = ny > 12 ? 2 : 1;
    for (std::size_t x = 0; x <= nx; x += xstep)
        o += "<text class=\"tick\" x=\"" + svg_num(L.left + cw * static_cast<double>(x)) + "\" y=\"" +
             std::to_string(L.top + L.plot_height + 16) + "\" text-anchor=\"middle\">" +
             detail::svg_label(h.x_edges[x]) + "</text>";
    for (std::size_t y = 0; y <= ny; y += ystep)
        o += "<text class=\"tick\" x=\"" + std::to_string(L.left - 6) + "\" y=\"" +
             svg_num(L.top + L.plot_height - ch * static_cast<double>(y) + 4) + "\" text-anchor=\"end\">" +
             detail::svg_label(h.y_edges[y]) + "</text>";
    o += "<rect class=\"frame\" x=\"" + std::to_string(L.left) + "\" y=\"" + std::to_string(L.top) + "\" width=\"" +
         std::to_string(pw) + "\" height=\"" + std::to_string(L.plot_height) + "\"/>";
    o += "<text class=\"axis-label\" x=\"" + std::to_string(L.left + pw / 2) + "\" y=\"" +
         std::to_string(L.top + L.plot_height + 36) + "\" text-anchor=\"middle\">" + detail::svg_escape(h.x_label) +
         "</text>";
    o += "<text class=\"axis-label\" transform=\"translate(16 " + std::to_string(L.top + L.plot_height / 2) +
         ") rotate(-90)\" text-anchor=\"middle\">" + detail::svg_escape(h.y_label) + "</text>";
    const int ly0 = L.top + L.plot_height + L.bottom;
    for (std::size_t k = 0; k < h.class_names.size(); ++k) {
        const int x = L.left + static_cast<int>(k % 3) * ((L.width - L.left) / 3);
        const int y = ly0 + static_cast<int>(k / 3) * L.legend_row;
        o += "<g class=\"legend-entry\" transform=\"translate(" + std::to_string(x) + " " + std::to_string(y) +
             ")\"><rect x=\"0\" y=\"-6\" width=\"20\" height=\"12\" fill=\"" +
             std::string(palette[h.class_colours[k] % palette_size]) + "\"/><text class=\"legend\" x=\"26\" y=\"4\">" +
             detail::svg_escape(h.class_names[k]) + "</text></g>";
    }
    o += "</svg>";
    return o;
}

} // namespace report
LLMEMU_END_NAMESPACE
