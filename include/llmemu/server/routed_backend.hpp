#pragma once
/// \file routed_backend.hpp
/// RoutedBackend: several backends (engines) behind one server, each request sent to the
/// one a fleet router (fleet/router.hpp) names. `llmemu serve --data-parallel-size N`
/// puts N engines behind vLLM's own data-parallel balancer (DataParallelRouter) on one
/// port; `--replicas N --router POLICY` fronts N replicas (each also on its own port)
/// with any of the fleet's routers.
///
/// The router sees each engine's running and waiting requests and KV usage as of its last
/// iteration. It does not see the engines' prefix caches (they live on the engines'
/// threads), so the scored router's prefix scorer adds nothing here; prefix_aware hashes
/// the prompt itself and works as in a fleet.

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "llmemu/config.hpp"
#include "llmemu/error.hpp"
#include "llmemu/fleet/fleet.hpp"
#include "llmemu/fleet/router.hpp"
#include "llmemu/server/backend.hpp"

LLMEMU_BEGIN_NAMESPACE
namespace server {

/// Backends behind a router (see the file comment). The backends must outlive it.
class RoutedBackend final : public Backend {
public:
    RoutedBackend(std::vector<Backend*> backends, AnyRouter router)
        : m_backends(std::move(backends)), m_router(std::move(router)), m_origin(std::chrono::steady_clock::now()) {
        if (m_backends.empty()) llmemu::detail::throw_error<config_error>("routed backend: give at least one backend");
        m_routed.assign(m_backends.size(), 0);
    }

    void submit(RequestSpec spec, EventCallback on_event) override {
        const RequestId outer = spec.id;
        std::uint32_t pick = 0;
        RequestId inner = 0;
        // The engines' snapshots first, outside the lock: a backend may hold its own lock
        // while it calls an event callback, which takes this one.
        std::vector<ReplicaView> views(m_backends.size());
        for (std::size_t i = 0; i < m_backends.size(); ++i) {
            const EngineStats s = m_backends[i]->snapshot();
            views[i] = ReplicaView{s.running, s.waiting, s.kv_usage, nullptr};
        }
        {
            std::lock_guard lock(m_mutex);
            const auto now =
                std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - m_origin);
            pick = m_router.route(RoutingRequest{spec, now}, std::span<const ReplicaView>(views));
            if (pick >= m_backends.size())
                llmemu::detail::throw_error<llmemu::contract_error>("routed backend: the router named replica " +
                                                                    std::to_string(pick) + " of " +
                                                                    std::to_string(m_backends.size()));
            inner = routed_request_id_tag | m_next_id++;
            m_live.emplace(outer, Live{pick, inner});
            ++m_routed[pick];
        }
        spec.id = inner;
        auto forward = [this, outer, cb = std::move(on_event)](const TokenEvent& ev) {
            TokenEvent out = ev;
            out.id = outer;
            if (ev.finished) {
                std::lock_guard lock(m_mutex);
                m_live.erase(outer);
            }
            cb(out);
        };
        try {
            m_backends[pick]->submit(std::move(spec), std::move(forward));
        } catch (...) {
            std::lock_guard lock(m_mutex);
            m_live.erase(outer);
            throw;
        }
    }

    void abort(RequestId id) override { end_request(id, false); }
    /// A stop string / stop token: the engine records it as finished with stop.
    void stop(RequestId id) override { end_request(id, true); }

    /// The engines' statistics added up (fleet_stats: counters and queues summed, KV usage
    /// the largest).
    [[nodiscard]] EngineStats snapshot() const override {
        std::vector<EngineStats> all;
        all.reserve(m_backends.size());
        for (const Backend* b : m_backends) all.push_back(b->snapshot());
        return fleet_stats(all);
    }
    /// The latest failure any replica reports (a replica's engine step that threw).
    [[nodiscard]] std::string last_error() const override {
        std::string why;
        for (const Backend* b : m_backends)
            if (std::string e = b->last_error(); !e.empty()) why = std::move(e);
        return why;
    }
    [[nodiscard]] std::uint32_t max_model_len() const override { return m_backends.front()->max_model_len(); }
    [[nodiscard]] metrics::CacheConfigInfo cache_info() const override { return m_backends.front()->cache_info(); }
    void take_phases(std::vector<metrics::RequestPhases>& out) override {
        for (Backend* b : m_backends) b->take_routed_phases(out);
    }
    [[nodiscard]] std::vector<KVCacheContents> kv_cache_contents() override {
        std::vector<KVCacheContents> out;
        for (Backend* b : m_backends)
            for (auto& c : b->kv_cache_contents()) out.push_back(std::move(c));
        return out;
    }

    /// Requests routed to each backend so far.
    [[nodiscard]] std::vector<std::uint64_t> routed() const {
        std::lock_guard lock(m_mutex);
        return m_routed;
    }

private:
    // Sends an abort (or a stop) to the engine holding `id`.
    void end_request(RequestId id, bool stop) {
        Live where{};
        {
            std::lock_guard lock(m_mutex);
            const auto it = m_live.find(id);
            if (it == m_live.end()) return;
            where = it->second;
        }
        if (stop)
            m_backends[where.backend]->stop(where.inner);
        else
            m_backends[where.backend]->abort(where.inner);
    }
    struct Live {
        std::uint32_t backend = 0;
        RequestId inner = 0;
    };

    std::vector<Backend*> m_backends;
    mutable std::mutex m_mutex;
    AnyRouter m_router;
    std::unordered_map<RequestId, Live> m_live;
    std::vector<std::uint64_t> m_routed;
    RequestId m_next_id = 1;
    std::chrono::steady_clock::time_point m_origin;
};

} // namespace server
LLMEMU_END_NAMESPACE
