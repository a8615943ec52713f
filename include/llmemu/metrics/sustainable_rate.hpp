#pragma once
/// \file sustainable_rate.hpp
/// The capacity rule of a request-rate sweep: the sustainable rate of one engine setting is
/// the highest rate such that it and every lower rate meet the SLOs (at least
/// `min_attainment` of the requests within them) on every seed. `llmemu sweep --slo`
/// prints it and `llmemu report` marks it from the sweep CSV; both call this function.

#include <algorithm>
#include <cstddef>
#include <optional>
#include <vector>

#include "llmemu/config.hpp"

LLMEMU_BEGIN_NAMESPACE

/// One run of a sweep: its request rate and the share of its requests that met every SLO.
struct RateAttainment {
    double rate = 0.0;
    double attainment = 0.0;
};

/// What the rule finds for one engine setting.
struct SustainableRate {
    /// The highest sustained rate; empty when even the lowest rate misses the SLOs.
    std::optional<double> rate;
    /// The lowest rate that misses them (on some seed); empty when every rate tried meets them.
    std::optional<double> first_miss;
    /// The lowest attainment over the seeds at `first_miss` (1 when there is none).
    double attainment_at_first_miss = 1.0;
};

/// Applies the rule to the runs of one engine setting (any order, one entry per run, so
/// several per rate when the sweep ran several seeds). A run counts as meeting the SLOs when
/// its attainment is >= `min_attainment`; NaN attainment counts as missing them.
[[nodiscard]] inline SustainableRate sustainable_rate(std::vector<RateAttainment> runs, double min_attainment) {
    std::stable_sort(runs.begin(), runs.end(),
                     [](const RateAttainment& a, const RateAttainment& b) { return a.rate < b.rate; });
    SustainableRate out;
    for (std::size_t i = 0; i < runs.size();) {
        const double rate = runs[i].rate;
        bool ok = true;
        double worst = 1.0;
        for (; i < runs.size() && runs[i].rate == rate; ++i) {
            worst = std::min(worst, runs[i].attainment);
            ok = ok && runs[i].attainment >= min_attainment; // false for NaN
            if (runs[i].attainment != runs[i].attainment) worst = 0.0;
        }
        if (!ok) {
            out.first_miss = rate;
            out.attainment_at_first_miss = worst;
            return out;
        }
        out.rate = rate;
    }
    return out;
}

LLMEMU_END_NAMESPACE
