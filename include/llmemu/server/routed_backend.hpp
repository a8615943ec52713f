#pragma once
/// \file routed_backend.hpp
/// RoutedBackend: several backends (engines) behind one server, each request sent to the
/// one a fleet router (fleet/router.hpp) names. `llmemu serve --data-parallel-size N`
/// puts N engines behind vLLM's own data-parallel balancer (DataParallelRouter) on one
/// port; `--replicas N --router POLICY` fronts N replicas (each also on its own port)
/// with any of the fleet's routers.
///
/// The router sees each engine's running and waiting requests and KV usage as of its last
/// iteration. The engines' prefix caches live on the engines' threads; what the router
/// knows of them comes from a KVBlockIndex (below) fed by the engines' own KV-cache events,
/// as llm-d's precise prefix-cache scorer learns vLLM's caches from their ZeroMQ events:
/// with one attached (set_block_index), every replica's matched prefix of the request
/// reaches the router as ReplicaView::cached_prefix_tokens (the scored router's prefix
/// scorer). prefix_aware hashes the prompt itself and works as in a fleet.

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "llmemu/config.hpp"
#include "llmemu/engine/block_hash.hpp"
#include "llmemu/engine/kv_events.hpp"
#include "llmemu/error.hpp"
#include "llmemu/fleet/fleet.hpp"
#include "llmemu/fleet/router.hpp"
#include "llmemu/server/backend.hpp"

LLMEMU_BEGIN_NAMESPACE
namespace server {

/// Which engine's prefix cache holds which blocks, rebuilt from each engine's KV-cache
/// events (BlockStored adds a request's new blocks, BlockRemoved drops an evicted one,
/// AllBlocksCleared empties the engine's set): llm-d's KV-block index, in process. apply()
/// runs on the engines' threads (LiveEngine::set_kv_event_sink), lookups on the router's;
/// each engine's set has its own lock, held only to update or probe it.
class KVBlockIndex {
public:
    KVBlockIndex(std::uint32_t engines, std::uint32_t block_size) : m_block_size(block_size) {
        if (engines == 0 || block_size == 0)
            llmemu::detail::throw_error<config_error>("KV block index: give at least one engine and a block size");
        m_engines.reserve(engines);
        for (std::uint32_t i = 0; i < engines; ++i) m_engines.push_back(std::make_unique<Engine>());
    }

    /// One step's events of engine `engine`. Blocks without token ids (synthetic prompts,
    /// keyed per request) are skipped: no other request's prompt can match them.
    void apply(std::uint32_t engine, const KVEventLog& events) {
        Engine& e = at(engine);
        std::lock_guard lock(e.mutex);
        for (const KVCacheEvent& ev : events) {
            switch (ev.kind) {
            case KVCacheEvent::Kind::block_stored:
                if (!ev.token_ids.empty()) e.blocks.insert(ev.block_hashes.begin(), ev.block_hashes.end());
                break;
            case KVCacheEvent::Kind::block_removed:
                for (const std::uint64_t h : ev.block_hashes) e.blocks.erase(h);
                break;
            case KVCacheEvent::Kind::all_blocks_cleared:
                e.blocks.clear();
                break;
            }
        }
    }

    /// The chained hashes (hash_block_tokens, the engines' own) of the prompt's full blocks
    /// a prefix cache can serve: the first (n - 1) / block_size, as the engine looks them up
    /// (at least one prompt token is always computed).
    [[nodiscard]] std::vector<std::uint64_t> prompt_block_hashes(std::span<const TokenId> prompt) const {
        std::vector<std::uint64_t> out;
        if (prompt.empty()) return out;
        const std::size_t blocks = (prompt.size() - 1) / m_block_size;
        out.reserve(blocks);
        std::uint64_t parent = root_block_hash;
        for (std::size_t b = 0; b < blocks; ++b) {
            parent = hash_block_tokens(parent, prompt.subspan(b * m_block_size, m_block_size));
            out.push_back(parent);
        }
        return out;
    }

    /// How many leading blocks of `hashes` (prompt_block_hashes) engine `engine` holds.
    [[nodiscard]] std::uint32_t matched_blocks(std::uint32_t engine, std::span<const std::uint64_t> hashes) const {
        const Engine& e = at(engine);
        std::lock_guard lock(e.mutex);
        std::uint32_t n = 0;
        while (n < hashes.size() && e.blocks.contains(hashes[n])) ++n;
        return n;
    }

    /// Blocks indexed for engine `engine` (what its events say its prefix cache holds).
    [[nodiscard]] std::size_t num_blocks(std::uint32_t engine) const {
        const Engine& e = at(engine);
        std::lock_guard lock(e.mutex);
        return e.blocks.size();
    }
    [[nodiscard]] std::uint32_t num_engines() const noexcept { return static_cast<std::uint32_t>(m_engines.size()); }
    [[nodiscard]] std::uint32_t block_size() const noexcept { return m_block_size; }

private:
    struct Engine {
        mutable std::mutex mutex;
        std::unordered_set<std::uint64_t> blocks;
    };
    [[nodiscard]] Engine& at(std::uint32_t engine) const {
        if (engine >= m_engines.size())
            llmemu::detail::throw_error<llmemu::contract_error>("KV block index: engine " + std::to_string(engine) +
                                                                " of " + std::to_string(m_engines.size()));
        return *m_engines[engine];
    }

    std::uint32_t m_block_size;
    std::vector<std::unique_ptr<Engine>> m_engines;
};

/// Backends behind a router (see the file comment). The backends must outlive it.
class RoutedBackend final : public Backend {
public:
    /// Most backends one router fronts (TokenEvent::engine numbers them).
    static constexpr std::size_t max_backends = 65536;

    RoutedBackend(std::vector<Backend*> backends, AnyRouter router)
        : m_backends(std::move(backends)), m_router(std::move(router)), m_origin(std::chrono::steady_clock::now()) {
        if (m_backends.empty()) llmemu::detail::throw_error<config_error>("routed backend: give at least one backend");
        if (m_backends.size() > max_backends)
            llmemu::detail::throw_error<config_error>("routed backend: " + std::to_string(m_backends.size()) +
                                                      " backends; at most " + std::to_string(max_backends) +
                                                      " fit TokenEvent::engine");
        m_routed.assign(m_backends.size(), 0);
    }

    void submit(RequestSpec spec, EventCallback on_event) override {
        const RequestId outer = spec.id;
        std::uint32_t pick = 0;
        RequestId inner = 0;
        // The engines' snapshots first, outside the lock: a backend may hold its own lock
        // while it calls an event callback, which takes this one.
        std::vector<ReplicaView> views(m_backends.size());
        std::vector<std::uint64_t> blocks;
        if (m_index != nullptr) blocks = m_index->prompt_block_hashes(spec.prompt_tokens);
        for (std::size_t i = 0; i < m_backends.size(); ++i) {
            const EngineStats s = m_backends[i]->snapshot();
            views[i] = ReplicaView{s.running, s.waiting, s.kv_usage, nullptr};
            if (m_index != nullptr && !spec.prompt_tokens.empty())
                views[i].cached_prefix_tokens =
                    m_index->matched_blocks(static_cast<std::uint32_t>(i), blocks) * m_index->block_size();
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
        auto forward = [this, outer, pick, cb = std::move(on_event)](const TokenEvent& ev) {
            TokenEvent out = ev;
            out.id = outer;
            out.engine = static_cast<std::uint16_t>(pick);
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
    [[nodiscard]] EngineStats snapshot() const override { return fleet_stats(engine_snapshots()); }
    /// One engine per backend (engine="0" ... on /metrics, as vLLM's data-parallel ranks).
    [[nodiscard]] std::uint32_t num_engines() const override { return static_cast<std::uint32_t>(m_backends.size()); }
    [[nodiscard]] std::vector<EngineStats> engine_snapshots() const override {
        std::vector<EngineStats> all;
        all.reserve(m_backends.size());
        for (const Backend* b : m_backends) all.push_back(b->snapshot());
        return all;
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
    /// Each backend's phases, tagged with its index (RequestPhases::engine).
    void take_phases(std::vector<metrics::RequestPhases>& out) override {
        for (std::size_t i = 0; i < m_backends.size(); ++i) {
            const std::size_t from = out.size();
            m_backends[i]->take_routed_phases(out);
            for (std::size_t k = from; k < out.size(); ++k) out[k].engine = static_cast<std::uint32_t>(i);
        }
    }
    [[nodiscard]] std::vector<KVCacheContents> kv_cache_contents() override {
        std::vector<KVCacheContents> out;
        for (Backend* b : m_backends)
            for (auto& c : b->kv_cache_contents()) out.push_back(std::move(c));
        return out;
    }

    /// Shows the router each backend's prefix cache through `index` (engine i = backend i),
    /// which the engines' KV-cache events must feed. Set it before the first submit; the
    /// index must outlive this backend. nullptr: the router sees no prefix caches.
    void set_block_index(const KVBlockIndex* index) {
        if (index != nullptr && index->num_engines() != m_backends.size())
            llmemu::detail::throw_error<config_error>("routed backend: the KV block index has " +
                                                      std::to_string(index->num_engines()) + " engines for " +
                                                      std::to_string(m_backends.size()) + " backends");
        m_index = index;
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
    const KVBlockIndex* m_index = nullptr;
    mutable std::mutex m_mutex;
    AnyRouter m_router;
    std::unordered_map<RequestId, Live> m_live;
    std::vector<std::uint64_t> m_routed;
    RequestId m_next_id = 1;
    std::chrono::steady_clock::time_point m_origin;
};

} // namespace server
LLMEMU_END_NAMESPACE
