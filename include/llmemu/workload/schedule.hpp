#pragma once
/// \file schedule.hpp
/// Arrival rates that change over time.
///  - RampUp: vLLM's `--ramp-up-strategy linear|exponential` with `--ramp-up-start-rps` and
///    `--ramp-up-end-rps`: request i of n is sent at rate r_i (linear: start + (end - start) p;
///    exponential: start (end / start)^p; p = i / max(n - 1, 1)), its gap drawn as vLLM draws
///    it (Gamma(burstiness, 1 / (r_i burstiness))), and the gaps summed without vLLM's
///    rescaling (vLLM rescales only without ramp-up).
///  - RateSchedule: a rate curve, piecewise linear between (time, rate) points (a CSV) or a
///    named diurnal shape; arrivals are a renewal process of Gamma(burstiness) gaps in
///    expected-count time Λ(t) = ∫ rate, mapped back through Λ⁻¹ (burstiness 1: a
///    non-homogeneous Poisson process). A trace keeps its order and bursts and has its
///    times mapped the same way, so its rate follows the curve.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <istream>
#include <limits>
#include <numbers>
#include <string>
#include <string_view>
#include <vector>

#include "llmemu/config.hpp"
#include "llmemu/core/csv.hpp"
#include "llmemu/error.hpp"
#include "llmemu/random.hpp"

LLMEMU_BEGIN_NAMESPACE

/// vLLM's ramp-up strategies.
enum class RampUpStrategy : std::uint8_t { linear, exponential };

/// vLLM's ramp-up: the rate grows from start_rps to end_rps over the requests.
struct RampUp {
    RampUpStrategy strategy = RampUpStrategy::linear;
    double start_rps = 1.0;
    double end_rps = 1.0;

    /// Throws workload_error unless 0 < start <= end, both finite (vLLM asserts every
    /// request's rate is > 0, so a start of 0 cannot run there either).
    void validate() const {
        if (!(start_rps > 0.0) || !std::isfinite(start_rps) || !std::isfinite(end_rps) || !(start_rps <= end_rps))
            detail::throw_error<workload_error>(
                "ramp-up from " + std::to_string(start_rps) + " to " + std::to_string(end_rps) +
                " requests/s: give 0 < --ramp-up-start-rps <= --ramp-up-end-rps (vLLM refuses a rate of 0)");
    }
    /// The rate of request `i` of `n`.
    [[nodiscard]] double rate_at(std::size_t i, std::size_t n) const noexcept {
        const double p = static_cast<double>(i) / static_cast<double>(std::max<std::size_t>(n, 2) - 1);
        if (strategy == RampUpStrategy::linear) return start_rps + (end_rps - start_rps) * p;
        return start_rps * std::pow(end_rps / start_rps, p);
    }
};

/// Send times of `n` requests under a ramp-up (one Gamma draw per request from `rng`).
inline std::vector<double> ramp_up_arrival_times(std::size_t n, const RampUp& ramp, double burstiness, Rng& rng) {
    ramp.validate();
    if (!(burstiness > 0.0))
        detail::throw_error<workload_error>("burstiness " + std::to_string(burstiness) + ": must be > 0");
    std::vector<double> t(n, 0.0);
    double sum = 0.0;
    for (std::size_t i = 0; i < n; ++i) {
        const double r = ramp.rate_at(i, n);
        sum += std::isinf(burstiness) ? 1.0 / r : gamma(rng, burstiness, 1.0 / (r * burstiness));
        t[i] = sum;
    }
    return t;
}

/// A request rate over time: piecewise linear between points, constant before the first
/// and after the last; with `period_s` > 0 the curve (the last rate held to the period's
/// end) repeats.
class RateSchedule {
public:
    struct Point {
        double time_s = 0.0;
        double rate = 0.0;
    };

    /// `points`: times >= 0, strictly increasing; rates >= 0, finite, not all 0. Throws
    /// workload_error otherwise (naming `source`).
    explicit RateSchedule(std::vector<Point> points, double period_s = 0.0, std::string source = "rate schedule")
        : m_points(std::move(points)), m_period(period_s), m_source(std::move(source)) {
        if (m_points.empty()) fail("no points; give time,rate lines");
        bool any = false;
        for (std::size_t i = 0; i < m_points.size(); ++i) {
            const auto& p = m_points[i];
            if (!std::isfinite(p.time_s) || p.time_s < 0.0 || (i > 0 && !(p.time_s > m_points[i - 1].time_s)))
                fail("point " + std::to_string(i) + ": times must be >= 0 and strictly increasing");
            if (!std::isfinite(p.rate) || p.rate < 0.0) fail("point " + std::to_string(i) + ": rates must be >= 0");
            any = any || p.rate > 0.0;
        }
        if (!any) fail("every rate is 0, so no request would ever be sent");
        if (m_period > 0.0 && !(m_points.back().time_s <= m_period)) fail("the points extend past the period");
        // Cumulative expected count at each point.
        m_cum.assign(m_points.size(), 0.0);
        m_cum[0] = m_points[0].rate * m_points[0].time_s;
        for (std::size_t i = 1; i < m_points.size(); ++i)
            m_cum[i] = m_cum[i - 1] +
                       0.5 * (m_points[i].rate + m_points[i - 1].rate) * (m_points[i].time_s - m_points[i - 1].time_s);
        if (m_period > 0.0) {
            m_cum_period = m_cum.back() + m_points.back().rate * (m_period - m_points.back().time_s);
            if (!(m_cum_period > 0.0)) fail("the period holds no requests");
        } else if (!(m_points.back().rate > 0.0)) {
            m_tail_zero = true;
        }
    }

    /// `diurnal:MEAN[,AMPLITUDE[,PERIOD_S]]`: MEAN (1 + AMPLITUDE cos(2π (t - peak) / PERIOD))
    /// with the peak at 14:00 of a 24 h period by default; amplitude in [0, 1] (default 0.5),
    /// sampled every PERIOD / 288 (5 minutes) and repeating.
    [[nodiscard]] static RateSchedule diurnal(double mean, double amplitude = 0.5, double period_s = 86400.0) {
        if (!(mean > 0.0) || !std::isfinite(mean) || !(amplitude >= 0.0 && amplitude <= 1.0) || !(period_s > 0.0) ||
            !std::isfinite(period_s))
            detail::throw_error<workload_error>("diurnal schedule: give MEAN > 0 requests/s, AMPLITUDE in [0, 1] and "
                                                "PERIOD_S > 0 (diurnal:MEAN[,AMPLITUDE[,PERIOD_S]])");
        std::vector<Point> pts;
        constexpr int steps = 288;
        const double peak = period_s * 14.0 / 24.0;
        for (int k = 0; k < steps; ++k) {
            const double t = period_s * k / steps;
            pts.push_back({t, mean * (1.0 + amplitude * std::cos(2.0 * std::numbers::pi * (t - peak) / period_s))});
        }
        return RateSchedule(std::move(pts), period_s, "diurnal schedule");
    }

    [[nodiscard]] const std::vector<Point>& points() const noexcept { return m_points; }
    [[nodiscard]] double period() const noexcept { return m_period; }

    /// The rate at time t.
    [[nodiscard]] double rate(double t) const noexcept {
        if (m_period > 0.0) t = std::fmod(t, m_period);
        if (t <= m_points.front().time_s) return m_points.front().rate;
        const auto it = std::upper_bound(m_points.begin(), m_points.end(), t,
                                         [](double v, const Point& p) { return v < p.time_s; });
        if (it == m_points.end()) return m_points.back().rate; // held to the end (of the period)
        const Point& b = *it;
        const Point& a = *(it - 1);
        return a.rate + (b.rate - a.rate) * (t - a.time_s) / (b.time_s - a.time_s);
    }

    /// The time at which `s` requests are expected (Λ⁻¹(s)), s >= 0. Throws workload_error
    /// when the schedule ends at rate 0 before that many.
    [[nodiscard]] double inverse(double s) const {
        double base_t = 0.0;
        if (m_period > 0.0) {
            const double cycles = std::floor(s / m_cum_period);
            base_t = cycles * m_period;
            s -= cycles * m_cum_period;
            // Within one period: the constant head, the points, then the tail to the period.
            if (s > m_cum.back()) { // past the last point: its rate, held to the period's end
                return base_t + m_points.back().time_s + (s - m_cum.back()) / std::max(m_points.back().rate, 1e-300);
            }
        }
        if (s <= m_cum[0]) {
            if (!(m_points[0].rate > 0.0)) return base_t + m_points[0].time_s;
            return base_t + s / m_points[0].rate;
        }
        const auto it = std::lower_bound(m_cum.begin(), m_cum.end(), s);
        if (it == m_cum.end()) {
            if (m_tail_zero)
                fail("the rate is 0 after t = " + std::to_string(m_points.back().time_s) +
                     " s, before every request was sent; add a later point with a rate > 0 or send fewer requests");
            return base_t + m_points.back().time_s + (s - m_cum.back()) / m_points.back().rate;
        }
        const auto i = static_cast<std::size_t>(it - m_cum.begin());
        const Point& a = m_points[i - 1];
        const Point& b = m_points[i];
        const double dt = b.time_s - a.time_s;
        const double need = s - m_cum[i - 1];
        const double k = (b.rate - a.rate) / dt; // rate(a + x) = a.rate + k x
        double x = 0.0;
        if (std::fabs(k) * dt < 1e-12 * std::max(a.rate, 1e-300)) {
            x = need / a.rate;
        } else {
            const double disc = a.rate * a.rate + 2.0 * k * need;
            x = (std::sqrt(std::max(disc, 0.0)) - a.rate) / k;
        }
        return base_t + a.time_s + std::clamp(x, 0.0, dt);
    }

private:
    [[noreturn]] void fail(const std::string& what) const {
        detail::throw_error<workload_error>(m_source + ": " + what);
    }

    std::vector<Point> m_points;
    std::vector<double> m_cum;
    double m_period = 0.0;
    double m_cum_period = 0.0;
    bool m_tail_zero = false;
    std::string m_source;
};

/// Send times of `n` requests whose rate follows `schedule`: unit-mean Gamma(burstiness)
/// gaps (one draw per request from `rng`) in expected-count time, mapped through Λ⁻¹.
inline std::vector<double> schedule_arrival_times(std::size_t n, const RateSchedule& schedule, double burstiness,
                                                  Rng& rng) {
    if (!(burstiness > 0.0))
        detail::throw_error<workload_error>("burstiness " + std::to_string(burstiness) + ": must be > 0");
    std::vector<double> t(n, 0.0);
    double s = 0.0;
    for (std::size_t i = 0; i < n; ++i) {
        s += std::isinf(burstiness) ? 1.0 : gamma(rng, burstiness, 1.0 / burstiness);
        t[i] = schedule.inverse(s);
    }
    return t;
}

/// Maps a trace's arrival times (sorted, seconds) so that its rate follows `schedule`:
/// request i's time t becomes Λ⁻¹(t · n / span) (its expected count at the trace's mean
/// rate), so order and bursts are kept. A trace whose requests all arrive at 0 is spread
/// evenly in expected-count time.
inline void apply_schedule(std::vector<double>& times, const RateSchedule& schedule) {
    if (times.empty()) return;
    const double span = times.back();
    const double n = static_cast<double>(times.size());
    for (std::size_t i = 0; i < times.size(); ++i) {
        const double s = span > 0.0 ? times[i] * n / span : static_cast<double>(i + 1);
        times[i] = schedule.inverse(s);
    }
}

/// Parses a schedule CSV: `time,rate` lines (seconds from the start, requests per second),
/// an optional header line, blank lines and `#` comments skipped. Errors name the line.
inline RateSchedule parse_rate_schedule_csv(std::istream& in, const std::string& source) {
    std::vector<RateSchedule::Point> pts;
    std::string line;
    std::size_t line_no = 0;
    auto number = [&](std::string_view f, const char* what) {
        return detail::csv_number<workload_error>(detail::text_trim(f), {source, line_no}, what,
                                                  "each line is time,rate (seconds, requests per second)");
    };
    while (std::getline(in, line)) {
        ++line_no;
        std::string_view l = line;
        if (line_no == 1) l = detail::text_strip_bom(l);
        l = detail::text_trim(l);
        if (l.empty() || l.front() == '#') continue;
        if (pts.empty() && line_no <= 1 && (l == "time,rate" || l == "time_s,rate" || l == "t,rate")) continue;
        const auto comma = l.find(',');
        if (comma == std::string_view::npos || l.find(',', comma + 1) != std::string_view::npos)
            detail::throw_error<workload_error>(source + ":" + std::to_string(line_no) + ": '" + std::string(l) +
                                                "' is not time,rate (seconds, requests per second)");
        const double t = number(l.substr(0, comma), "time");
        const double r = number(l.substr(comma + 1), "rate");
        if (t < 0.0 || (!pts.empty() && !(t > pts.back().time_s)))
            detail::throw_error<workload_error>(source + ":" + std::to_string(line_no) + ": time " +
                                                std::string(l.substr(0, comma)) +
                                                " must be >= 0 and later than the previous line's; sort the file");
        if (r < 0.0)
            detail::throw_error<workload_error>(source + ":" + std::to_string(line_no) + ": rate " +
                                                std::string(l.substr(comma + 1)) + " is negative; rates are >= 0");
        pts.push_back({t, r});
    }
    if (pts.empty())
        detail::throw_error<workload_error>(source + ": no time,rate lines; give at least one (seconds, requests/s)");
    return RateSchedule(std::move(pts), 0.0, source);
}

/// A schedule from its command-line form: `diurnal:MEAN[,AMPLITUDE[,PERIOD_S]]` or a CSV path.
inline RateSchedule parse_rate_schedule(const std::string& spec) {
    if (spec.rfind("diurnal:", 0) == 0) {
        std::vector<double> v;
        std::string_view rest = std::string_view(spec).substr(8);
        while (true) {
            const auto comma = rest.find(',');
            const std::string_view f = rest.substr(0, comma);
            const auto x = parse_number<double>(f);
            if (!x)
                detail::throw_error<workload_error>("rate schedule '" + spec +
                                                    "': use diurnal:MEAN[,AMPLITUDE[,PERIOD_S]] with finite numbers");
            v.push_back(*x);
            if (comma == std::string_view::npos) break;
            rest.remove_prefix(comma + 1);
        }
        if (v.size() > 3)
            detail::throw_error<workload_error>("rate schedule '" + spec +
                                                "': at most three numbers (diurnal:MEAN[,AMPLITUDE[,PERIOD_S]])");
        return RateSchedule::diurnal(v[0], v.size() > 1 ? v[1] : 0.5, v.size() > 2 ? v[2] : 86400.0);
    }
    std::ifstream in(spec, std::ios::binary);
    if (!in)
        detail::throw_error<workload_error>("rate schedule '" + spec +
                                            "': cannot open the file; give a time,rate CSV or "
                                            "diurnal:MEAN[,AMPLITUDE[,PERIOD_S]]");
    return parse_rate_schedule_csv(in, spec);
}

LLMEMU_END_NAMESPACE
