#pragma once
/// \file capacity.hpp
/// Capacity planning on top of runs: service-level objectives and whether a run meets them,
/// and the two monotone searches a planner needs: the highest request rate one setting
/// sustains (`find_highest_rate`), and the fewest replicas that serve a load
/// (`find_fewest_passing`). Each search probes exponentially, then bisects, and records
/// every point it ran, so its cost is known (a handful of runs where a grid needs dozens).
/// With replicates (K seeds), run one search per seed and combine the answers
/// (`combine_fewest`, `combine_rates`): the answer on every seed and the 95 % interval.
///
/// ```cpp
/// const llmemu::SloTargets slo = llmemu::parse_slo_targets("ttft:p99:2000,tpot:p99:100", 0.9);
/// auto run = [&](std::uint32_t replicas) { return llmemu::check_slo(simulate(replicas), slo, n).pass; };
/// const llmemu::ReplicaSearch s = llmemu::find_fewest_passing(1, 32, run);  // s.fewest, s.tried
/// ```

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "llmemu/config.hpp"
#include "llmemu/core/csv.hpp"
#include "llmemu/error.hpp"
#include "llmemu/metrics/bench_result.hpp"
#include "llmemu/metrics/interval.hpp"

LLMEMU_BEGIN_NAMESPACE

/// One service-level objective: a percentile of a metric under a bound ("ttft:p99:2000"),
/// or a bound every request should meet, counted in the goodput share ("ttft:2000").
struct SloBound {
    /// ttft, tpot, itl or e2el (itl only as a percentile bound).
    std::string metric;
    /// The percentile in [0, 100]; empty: a per-request bound.
    std::optional<double> percentile;
    double limit_ms = 0.0;
};

/// A run's objectives: percentile bounds, and per-request bounds that at least
/// `min_attainment` of the requests must meet (vLLM's goodput SLOs).
struct SloTargets {
    std::vector<SloBound> bounds;
    double min_attainment = 0.9;

    [[nodiscard]] bool has_per_request() const noexcept {
        for (const auto& b : bounds)
            if (!b.percentile) return true;
        return false;
    }
    /// Makes `o` compute what the check reads: the per-request bounds as its goodput SLOs and
    /// every bound's percentile among its percentiles.
    void apply(SummaryOptions& o) const {
        for (const auto& b : bounds) {
            if (b.percentile) {
                bool have = false;
                for (const double p : o.percentiles) have = have || p == *b.percentile;
                if (!have) o.percentiles.push_back(*b.percentile);
            } else if (b.metric == "ttft") {
                o.slo_ttft_ms = b.limit_ms;
            } else if (b.metric == "tpot") {
                o.slo_tpot_ms = b.limit_ms;
            } else {
                o.slo_e2el_ms = b.limit_ms;
            }
        }
    }
};

/// Parses "ttft:p99:2000,tpot:p99:100" (percentile bounds, ms) and "ttft:500,e2el:8000"
/// (per-request bounds, ms; vLLM's goodput syntax), mixed freely, comma or space separated.
/// `min_attainment` in (0, 1] is the goodput share the per-request bounds need. Throws
/// config_error naming the bad item and the fix.
[[nodiscard]] inline SloTargets parse_slo_targets(std::string_view spec, double min_attainment) {
    if (!(min_attainment > 0.0 && min_attainment <= 1.0))
        detail::throw_error<config_error>("SLO attainment " + std::to_string(min_attainment) +
                                          ": give the share of requests that must meet the SLOs, in (0, 1]");
    SloTargets t;
    t.min_attainment = min_attainment;
    auto bad = [](std::string_view item, const std::string& why) {
        detail::throw_error<config_error>(
            "SLO '" + std::string(item) + "': " + why +
            "; give METRIC:pNN:MS (a percentile bound, e.g. ttft:p99:2000) or METRIC:MS (a bound each request "
            "should meet, e.g. tpot:100) with METRIC one of ttft, tpot, itl (percentiles only), e2el");
    };
    auto number = [](std::string_view s, double& v) {
        const auto r = parse_number<double>(s);
        if (r) v = *r;
        return r.has_value();
    };
    std::size_t pos = 0;
    while (pos < spec.size()) {
        std::size_t end = spec.find_first_of(", ", pos);
        if (end == std::string_view::npos) end = spec.size();
        const std::string_view item = spec.substr(pos, end - pos);
        pos = end + 1;
        if (item.empty()) continue;
        SloBound b;
        const std::size_t c1 = item.find(':');
        if (c1 == std::string_view::npos) bad(item, "no ':'");
        b.metric = std::string(item.substr(0, c1));
        if (b.metric != "ttft" && b.metric != "tpot" && b.metric != "itl" && b.metric != "e2el")
            bad(item, "unknown metric '" + b.metric + "'");
        std::string_view rest = item.substr(c1 + 1);
        const std::size_t c2 = rest.find(':');
        if (c2 != std::string_view::npos) {
            const std::string_view p = rest.substr(0, c2);
            double pv = 0.0;
            if (p.size() < 2 || p[0] != 'p' || !number(p.substr(1), pv) || !(pv >= 0.0 && pv <= 100.0))
                bad(item, "'" + std::string(p) + "' is not a percentile like p99 or p99.9");
            b.percentile = pv;
            rest = rest.substr(c2 + 1);
        } else if (b.metric == "itl") {
            bad(item, "itl has no per-request bound (vLLM's goodput has none); give a percentile");
        }
        if (!number(rest, b.limit_ms) || b.limit_ms < 0.0)
            bad(item, "'" + std::string(rest) + "' is not a non-negative number of milliseconds");
        t.bounds.push_back(std::move(b));
    }
    if (t.bounds.empty()) bad(spec, "no objective given");
    return t;
}

/// Whether one run met its objectives, and if not the first one it missed.
struct SloVerdict {
    bool pass = true;
    /// The share of the workload's requests that met every per-request bound (1 without them).
    double attainment = 1.0;
    /// Empty when passing, else e.g. "ttft p99 2311.2 ms > 2000 ms".
    std::string miss;
};

/// Checks `r` (summarised with options that `targets.apply` prepared) of a run of
/// `num_requests` requests. A run with failed (rejected) requests misses its objectives.
[[nodiscard]] inline SloVerdict check_slo(const BenchResult& r, const SloTargets& targets, std::size_t num_requests) {
    SloVerdict v;
    char buf[160];
    auto miss = [&v](const char* text) {
        if (v.pass) v.miss = text;
        v.pass = false;
    };
    if (r.failed > 0) {
        std::snprintf(buf, sizeof buf, "%llu of %zu requests failed", static_cast<unsigned long long>(r.failed),
                      num_requests);
        miss(buf);
    }
    for (const auto& b : targets.bounds) {
        if (!b.percentile) continue;
        const MetricStats& m = metric_stats(r, b.metric);
        double value = std::numeric_limits<double>::quiet_NaN();
        for (const auto& [p, x] : m.percentiles_ms)
            if (p == *b.percentile) value = x;
        if (std::isnan(value))
            detail::throw_error<config_error>("check_slo: the summary lacks p" +
                                              metrics_percentile_word(*b.percentile) + " of " + b.metric +
                                              "; summarise with SloTargets::apply");
        if (!(value <= b.limit_ms)) {
            std::snprintf(buf, sizeof buf, "%s p%s %.1f ms > %g ms", b.metric.c_str(),
                          metrics_percentile_word(*b.percentile).c_str(), value, b.limit_ms);
            miss(buf);
        }
    }
    if (targets.has_per_request()) {
        v.attainment =
            num_requests == 0 ? 0.0 : static_cast<double>(r.good_completed) / static_cast<double>(num_requests);
        if (!(v.attainment >= targets.min_attainment)) {
            std::snprintf(buf, sizeof buf, "%.1f%% of requests meet the per-request SLOs < %g%%", v.attainment * 100.0,
                          targets.min_attainment * 100.0);
            miss(buf);
        }
    }
    return v;
}

/// One point a search ran and whether it met the objectives.
template <class T>
struct SearchPoint {
    T at{};
    bool pass = false;
};

/// What find_fewest_passing found.
struct ReplicaSearch {
    /// The fewest passing count; empty when even the range's top fails.
    std::optional<std::uint32_t> fewest;
    /// Every point run, in the order run.
    std::vector<SearchPoint<std::uint32_t>> tried;
    [[nodiscard]] std::size_t runs() const noexcept { return tried.size(); }
};

/// The fewest n in [lo, hi] with pass(n), for pass monotone (false ... false true ... true):
/// probes lo, lo+1, lo+3, lo+7, ... (capped at hi) until one passes, then bisects between
/// the last failure and it. About 2 log2(hi - lo) runs where a grid needs hi - lo + 1.
/// Throws config_error for lo == 0 or lo > hi.
template <class Pass>
[[nodiscard]] ReplicaSearch find_fewest_passing(std::uint32_t lo, std::uint32_t hi, Pass&& pass) {
    if (lo == 0 || lo > hi)
        detail::throw_error<config_error>("find_fewest_passing: the range [" + std::to_string(lo) + ", " +
                                          std::to_string(hi) + "] is empty or starts at 0; give 1 <= lo <= hi");
    ReplicaSearch s;
    auto probe = [&](std::uint32_t n) {
        const bool ok = static_cast<bool>(pass(n));
        s.tried.push_back({n, ok});
        return ok;
    };
    std::uint64_t fail = 0, ok_at = 0; // fail: highest failing n (0 = none below)
    std::uint64_t step = 1;
    for (std::uint64_t n = lo;; n = std::min<std::uint64_t>(hi, n + step), step *= 2) {
        if (probe(static_cast<std::uint32_t>(n))) {
            ok_at = n;
            break;
        }
        fail = n;
        if (n == hi) return s;
    }
    while (ok_at - fail > 1 && ok_at > lo) {
        const std::uint64_t mid = fail + (ok_at - fail) / 2;
        if (mid < lo) break;
        if (probe(static_cast<std::uint32_t>(mid)))
            ok_at = mid;
        else
            fail = mid;
    }
    s.fewest = static_cast<std::uint32_t>(ok_at);
    return s;
}

/// What find_highest_rate found.
struct RateSearch {
    /// The highest passing rate probed; empty when `lo` already fails.
    std::optional<double> rate;
    /// The lowest failing rate probed; empty when `hi` passes.
    std::optional<double> first_miss;
    std::vector<SearchPoint<double>> tried;
    [[nodiscard]] std::size_t runs() const noexcept { return tried.size(); }
};

/// The highest rate in [lo, hi] with pass(rate), for pass monotone (true ... true false ...
/// false): probes lo, 2 lo, 4 lo, ... (capped at hi) until one fails, then bisects
/// geometrically until first_miss / rate <= 1 + rel_tol. Throws config_error for a bad range
/// or tolerance.
template <class Pass>
[[nodiscard]] RateSearch find_highest_rate(double lo, double hi, double rel_tol, Pass&& pass) {
    if (!(lo > 0.0) || !(hi >= lo) || !std::isfinite(hi))
        detail::throw_error<config_error>("find_highest_rate: the range [" + std::to_string(lo) + ", " +
                                          std::to_string(hi) + "] must satisfy 0 < lo <= hi < inf");
    if (!(rel_tol > 0.0) || !std::isfinite(rel_tol))
        detail::throw_error<config_error>("find_highest_rate: tolerance " + std::to_string(rel_tol) +
                                          " must be a finite number > 0 (e.g. 0.05 for 5 %)");
    RateSearch s;
    auto probe = [&](double x) {
        const bool ok = static_cast<bool>(pass(x));
        s.tried.push_back({x, ok});
        return ok;
    };
    double good = 0.0, bad = 0.0;
    for (double x = lo;; x = std::min(hi, x * 2.0)) {
        if (!probe(x)) {
            bad = x;
            break;
        }
        good = x;
        if (x >= hi) {
            s.rate = good;
            return s;
        }
    }
    if (good == 0.0) {
        s.first_miss = bad;
        return s;
    }
    while (bad / good > 1.0 + rel_tol) {
        const double mid = std::sqrt(good * bad);
        if (probe(mid))
            good = mid;
        else
            bad = mid;
    }
    s.rate = good;
    s.first_miss = bad;
    return s;
}

/// The answers of one search per seed (replicates), combined.
struct ReplicatedAnswer {
    /// The answer that holds on every seed (the most replicas, the lowest rate); empty when
    /// some seed found none.
    std::optional<double> every_seed;
    /// Mean +- 95 % interval of the per-seed answers (seeds without one count as `none_as`).
    MeanInterval per_seed;
    /// Seeds whose search found no answer.
    std::size_t without_answer = 0;
};

namespace detail {
template <class T, class Pick>
ReplicatedAnswer capacity_combine(std::span<const std::optional<T>> per_seed, double none_as, Pick pick) {
    ReplicatedAnswer a;
    std::vector<double> values;
    bool all = !per_seed.empty();
    for (const auto& v : per_seed) {
        if (!v) {
            ++a.without_answer;
            all = false;
            values.push_back(none_as);
            continue;
        }
        const auto x = static_cast<double>(*v);
        values.push_back(x);
        a.every_seed = a.every_seed ? pick(*a.every_seed, x) : x;
    }
    if (!all) a.every_seed.reset();
    a.per_seed = mean_interval(values);
    return a;
}
} // namespace detail

/// Combines find_fewest_passing's answers over seeds: the most replicas any seed needed, and
/// the interval of the per-seed counts (a seed with no passing count is left out of it).
[[nodiscard]] inline ReplicatedAnswer combine_fewest(std::span<const std::optional<std::uint32_t>> per_seed) {
    std::vector<std::optional<std::uint32_t>> found;
    for (const auto& v : per_seed)
        if (v) found.push_back(v);
    ReplicatedAnswer a =
        detail::capacity_combine<std::uint32_t>(found, 0.0, [](double x, double y) { return std::max(x, y); });
    a.without_answer = per_seed.size() - found.size();
    if (a.without_answer > 0) a.every_seed.reset();
    return a;
}

/// Combines sustainable rates over seeds (find_highest_rate's, or sustainable_rate()'s per
/// seed): the lowest, and the interval of the per-seed rates, a seed that sustains none
/// counted as 0 req/s.
[[nodiscard]] inline ReplicatedAnswer combine_rates(std::span<const std::optional<double>> per_seed) {
    return detail::capacity_combine<double>(per_seed, 0.0, [](double x, double y) { return std::min(x, y); });
}

LLMEMU_END_NAMESPACE
