#pragma once
/// \file trace_shapes.hpp
/// The step shapes a request trace implies, approximately, without running the engine:
/// what `llmemu profile inspect --trace` feeds to a pack's oracle to tell how well the pack
/// covers a workload before simulating it. Standard library only.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "llmemu/config.hpp"
#include "llmemu/error.hpp"
#include "llmemu/oracle/step_shape.hpp"
#include "llmemu/random.hpp"
#include "llmemu/workload/trace.hpp"

LLMEMU_BEGIN_NAMESPACE

/// Step shapes of `trace` under a simple model of a vLLM engine: the concurrency at each
/// arrival is the requests still running then (each runs for output_len decode steps of
/// `step_s` seconds), capped at `max_seqs`; a prompt is chunked by the token budget
/// `budget` and shares its step with the other running sequences' decode tokens; then one
/// decode step per further output token. At most about `max_shapes` shapes are kept (an
/// even stride over all of them). `budget` and `max_seqs` must be >= 1.
[[nodiscard]] inline std::vector<StepShape> trace_step_shapes(const Trace& trace, double step_s, std::uint32_t budget,
                                                              std::uint32_t max_seqs, std::size_t max_shapes) {
    if (budget == 0 || max_seqs == 0)
        detail::throw_error<config_error>("trace_step_shapes: budget and max_seqs must be >= 1");
    std::vector<StepShape> shapes;
    const auto& rq = trace.requests;
    std::vector<double> ends;
    ends.reserve(rq.size());
    for (const auto& r : rq)
        ends.push_back(r.arrived_at + static_cast<double>(std::max<std::uint32_t>(r.output_len, 1)) * step_s);
    std::vector<double> sorted_ends;
    std::size_t total_tokens = 0;
    for (const auto& r : rq) total_tokens += r.output_len + (r.prompt_len + budget - 1) / budget;
    const std::size_t stride = std::max<std::size_t>(1, total_tokens / std::max<std::size_t>(max_shapes, 1));
    std::size_t counter = 0;
    for (std::size_t i = 0; i < rq.size(); ++i) {
        // running = arrived before i and not yet finished at rq[i].arrived_at
        sorted_ends.insert(std::upper_bound(sorted_ends.begin(), sorted_ends.end(), ends[i]), ends[i]);
        const auto finished = static_cast<std::size_t>(
            std::upper_bound(sorted_ends.begin(), sorted_ends.end(), rq[i].arrived_at) - sorted_ends.begin());
        const auto running =
            static_cast<std::uint32_t>(std::clamp<std::size_t>(sorted_ends.size() - finished, 1, max_seqs));
        std::uint32_t left = rq[i].prompt_len;
        while (left > 0) {
            const std::uint32_t others = std::min(running - 1, budget - 1);
            const std::uint32_t chunk = std::min(left, budget - others);
            if (counter++ % stride == 0) shapes.push_back({Phase::prefill, chunk + others, running, 0});
            left -= chunk;
        }
        for (std::uint32_t t = 1; t < rq[i].output_len; ++t) {
            if (counter++ % stride == 0) shapes.push_back({Phase::decode, running, running, 0});
        }
    }
    return shapes;
}

/// trace_step_shapes with the step time estimated from `model` (any type with
/// `sample(StepShape, Rng&)` in µs): the median decode step at concurrency 1, refined once
/// at the concurrency that step time implies for the trace's rate and mean output length;
/// vLLM's default budget (2048 tokens) and max_num_seqs (256), at most 200,000 shapes.
/// Draws from `model` (a fixed seed; reset its coverage afterwards if it counts). Throws
/// workload_error when the trace has no requests.
template <class Model>
[[nodiscard]] std::vector<StepShape> trace_step_shapes(const Trace& trace, Model& model, const std::string& source) {
    if (trace.requests.empty()) detail::throw_error<workload_error>("trace '" + source + "' has no requests");
    Rng rng(1);
    auto median_at = [&](std::uint32_t n) {
        std::vector<double> v;
        for (int i = 0; i < 201; ++i) v.push_back(model.sample(StepShape{Phase::decode, n, n, 0}, rng));
        std::nth_element(v.begin(), v.begin() + 100, v.end());
        return v[100] * 1e-6;
    };
    double step_s = median_at(1);
    double mean_out = 0;
    for (const auto& r : trace.requests) mean_out += r.output_len;
    mean_out /= static_cast<double>(trace.requests.size());
    const double conc = std::clamp(trace.mean_rate() * mean_out * step_s, 1.0, 256.0);
    step_s = median_at(static_cast<std::uint32_t>(conc));
    return trace_step_shapes(trace, step_s, 2048, 256, 200000);
}

LLMEMU_END_NAMESPACE
