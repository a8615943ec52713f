#pragma once
/// \file backend.hpp
/// What the HTTP server needs from an engine: submit a request with a token callback,
/// abort it, and read its statistics. LiveEngineBackend (live_engine_backend.hpp) adapts
/// the reference engine; tests plug in small fakes; another engine can plug in its own.

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "llmemu/config.hpp"
#include "llmemu/engine/request.hpp"
#include "llmemu/engine/stats.hpp"
#include "llmemu/metrics/prometheus.hpp"

LLMEMU_BEGIN_NAMESPACE
namespace server {

/// One engine's prefix cache (GET /debug/kv_cache): what a consumer of its KV-cache
/// events holds after replaying them.
struct KVCacheContents {
    /// The engine's data-parallel rank (0 for a single engine).
    std::uint32_t rank = 0;
    std::uint32_t block_size = 0;
    /// Hashes of every block in the prefix cache (in use or free).
    std::vector<std::uint64_t> block_hashes;
};

/// Request ids with this bit set come from a RoutedBackend in front of the engine
/// (routed_backend.hpp), so they never meet the ids a replica's own server gives it.
inline constexpr RequestId routed_request_id_tag = RequestId{1} << 62U;

/// The engine behind the server.
class Backend {
public:
    /// Receives a request's TokenEvents on the engine's thread; must not block.
    using EventCallback = std::function<void(const TokenEvent&)>;

    virtual ~Backend() = default;

    /// Starts a request (`spec.id` is chosen by the server, unique while alive). Events
    /// may arrive before submit returns. Throws request_error for a request that can
    /// never run (the server answers 400 with its message).
    virtual void submit(RequestSpec spec, EventCallback on_event) = 0;
    /// Aborts a request; its final event (reason abort) still arrives. Thread-safe.
    virtual void abort(RequestId id) = 0;
    /// Ends a request the front end stopped (a stop string or stop token matched): like
    /// abort, but recorded as finished with FinishReason::stop, as vLLM's output processor
    /// counts it (vllm:request_success_total{finished_reason="stop"}). Thread-safe. The
    /// default aborts (a backend without finish reasons).
    virtual void stop(RequestId id) { abort(id); }
    /// Counters and gauges for /metrics. Thread-safe.
    [[nodiscard]] virtual EngineStats snapshot() const = 0;
    /// Engines behind this backend, each with its own `engine` label on /metrics (vLLM's
    /// data-parallel ranks); TokenEvent::engine and RequestPhases::engine say which one.
    [[nodiscard]] virtual std::uint32_t num_engines() const { return 1; }
    /// snapshot() of each engine (num_engines() entries). Thread-safe.
    [[nodiscard]] virtual std::vector<EngineStats> engine_snapshots() const { return {snapshot()}; }
    /// Longest prompt + output a request may have.
    [[nodiscard]] virtual std::uint32_t max_model_len() const = 0;
    /// Shown as vllm:cache_config_info.
    [[nodiscard]] virtual metrics::CacheConfigInfo cache_info() const { return {}; }
    /// Why the engine's latest failed step failed (its requests finished with
    /// FinishReason::error), for the 500 the server answers them; empty if unknown.
    [[nodiscard]] virtual std::string last_error() const { return {}; }
    /// Moves the engine-side phase times of requests finished since the last call into
    /// `out` (for the queue/prefill/decode/inference histograms). Called on the server's
    /// thread; a backend that does not time phases leaves `out` alone.
    virtual void take_phases(std::vector<metrics::RequestPhases>& out) { (void)out; }
    /// The same for the requests a RoutedBackend in front submitted (ids with
    /// routed_request_id_tag), which take_phases leaves to it.
    virtual void take_routed_phases(std::vector<metrics::RequestPhases>& out) { (void)out; }
    /// The prefix caches' contents, one entry per engine (empty: not available). Called
    /// on the server's thread; may wait for the engine's step in flight.
    [[nodiscard]] virtual std::vector<KVCacheContents> kv_cache_contents() { return {}; }
};

/// EngineStats -> the gauges and counters of vLLM's /metrics.
[[nodiscard]] inline metrics::EngineMetricsSnapshot to_metrics_snapshot(const EngineStats& s) {
    metrics::EngineMetricsSnapshot m;
    m.num_requests_running = s.running;
    m.num_requests_waiting = s.waiting;
    m.kv_cache_usage = s.kv_usage;
    m.prompt_tokens = s.prompt_tokens;
    m.generation_tokens = s.generation_tokens;
    m.num_preemptions = s.preemptions;
    m.prefix_cache_queries = s.prefix_cache_queries;
    m.prefix_cache_hits = s.prefix_cache_hits;
    for (const auto r : {FinishReason::stop, FinishReason::length, FinishReason::abort}) {
        m.request_success[to_string(r)] = s.num_finished(r);
    }
    // Newer vLLM also reports "error"; shown once a step has failed.
    if (s.num_finished(FinishReason::error) > 0) m.request_success["error"] = s.num_finished(FinishReason::error);
    return m;
}

} // namespace server
LLMEMU_END_NAMESPACE
