#pragma once
/// \file request_metrics.hpp
/// Per-request client-side timings, measured the way vLLM's benchmark client
/// (`vllm bench serve`) measures them, so that a number computed here means what the same
/// number means in a vLLM result file.

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "llmemu/config.hpp"

LLMEMU_BEGIN_NAMESPACE

/// What a streaming benchmark client observes for one request (vLLM's RequestFuncOutput).
/// All times are in seconds.
struct RequestTiming {
    /// The request finished normally (length or stop); failed requests count in `failed`.
    bool success = false;
    /// When the client sent the request, seconds since the run's origin.
    double start_time_s = 0.0;
    /// Time to first token: first output token - send time.
    double ttft_s = 0.0;
    /// Gaps between consecutive output tokens after the first (pooled over requests for ITL).
    std::vector<double> itl_s;
    /// End-to-end latency: last output token - send time.
    double latency_s = 0.0;
    std::uint32_t prompt_len = 0;
    std::uint32_t output_len = 0;
    /// Why the request failed (empty on success).
    std::string error;
};

namespace detail {
inline double metrics_seconds(std::chrono::nanoseconds ns) noexcept {
    return std::chrono::duration<double>(ns).count();
}
} // namespace detail

/// The client-side timing of one engine RequestRecord (engine/request.hpp): send time =
/// arrival, TTFT = first token - arrival, ITL = gaps between the recorded token times,
/// E2EL = last token (or finish when no token was produced) - arrival. A request that ended
/// `rejected` or `abort`, or carries an error, is a failure, as a client would see it.
/// A template so that this header does not depend on the engine's headers.
template <class Record>
RequestTiming timing_from_record(const Record& r) {
    RequestTiming t;
    using Reason = decltype(r.reason);
    t.success = r.error.empty() && (r.reason == Reason::length || r.reason == Reason::stop);
    t.start_time_s = detail::metrics_seconds(r.arrival);
    t.prompt_len = r.prompt_len;
    t.output_len = t.success ? r.output_len : 0U;
    if (!t.success) {
        t.error = r.error.empty() ? std::string("request ") + std::to_string(r.id) + " finished with reason '" +
                                        std::string(to_string(r.reason)) + "'"
                                  : r.error;
        return t;
    }
    if (!r.token_times.empty()) {
        t.ttft_s = detail::metrics_seconds(r.token_times.front() - r.arrival);
        t.itl_s.reserve(r.token_times.size() - 1);
        for (std::size_t i = 1; i < r.token_times.size(); ++i)
            t.itl_s.push_back(detail::metrics_seconds(r.token_times[i] - r.token_times[i - 1]));
        t.latency_s = detail::metrics_seconds(r.token_times.back() - r.arrival);
    } else {
        t.ttft_s = detail::metrics_seconds(r.first_token - r.arrival);
        t.latency_s = detail::metrics_seconds(r.finish - r.arrival);
    }
    return t;
}

LLMEMU_END_NAMESPACE
