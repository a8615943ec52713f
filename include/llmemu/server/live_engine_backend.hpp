#pragma once
/// \file live_engine_backend.hpp
/// LiveEngineBackend: the reference engine (LiveEngine over the wall clock) behind the
/// HTTP server. Token events go straight through; finished requests' engine-side phase
/// times (queue, prefill, decode, inference) are collected for /metrics.

#include <algorithm>
#include <chrono>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "llmemu/config.hpp"
#include "llmemu/engine/live_engine.hpp"
#include "llmemu/server/backend.hpp"

LLMEMU_BEGIN_NAMESPACE
namespace server {

/// Adapts LiveEngine<E> to the server's Backend interface. The engine must outlive it.
template <class E>
class LiveEngineBackend final : public Backend {
public:
    /// Phase records kept when nobody collects them (the server collects after every batch).
    static constexpr std::size_t max_pending_phases = 1U << 20U;

    explicit LiveEngineBackend(LiveEngine<E>& engine) : m_engine(engine) {
        m_engine.set_on_finish([this](const RequestRecord& r) { on_finish(r); });
    }
    ~LiveEngineBackend() override { m_engine.set_on_finish({}); }
    LiveEngineBackend(const LiveEngineBackend&) = delete;
    LiveEngineBackend& operator=(const LiveEngineBackend&) = delete;

    void submit(RequestSpec spec, EventCallback on_event) override {
        (void)m_engine.submit(std::move(spec), std::move(on_event));
    }
    void abort(RequestId id) override { m_engine.abort(id); }
    void stop(RequestId id) override { m_engine.abort(id, FinishReason::stop); }
    [[nodiscard]] EngineStats snapshot() const override { return m_engine.snapshot(); }
    [[nodiscard]] std::string last_error() const override { return m_engine.last_error(); }
    [[nodiscard]] std::uint32_t max_model_len() const override { return m_engine.config().max_model_len; }
    [[nodiscard]] metrics::CacheConfigInfo cache_info() const override {
        const auto& c = m_engine.config();
        return {c.block_size, c.num_gpu_blocks, c.enable_prefix_caching, c.gpu_memory_utilization};
    }
    void take_phases(std::vector<metrics::RequestPhases>& out) override { take(m_pending, out); }
    void take_routed_phases(std::vector<metrics::RequestPhases>& out) override { take(m_pending_routed, out); }

    [[nodiscard]] std::vector<KVCacheContents> kv_cache_contents() override {
        KVCacheContents c;
        c.rank = m_rank;
        c.block_size = m_engine.config().block_size;
        c.block_hashes = m_engine.inspect([](const typename LiveEngine<E>::engine_type& e) {
            return e.scheduler().kv_cache().cached_block_hashes();
        });
        return {std::move(c)};
    }

    [[nodiscard]] LiveEngine<E>& engine() noexcept { return m_engine; }
    /// The rank reported by kv_cache_contents (an engine's data-parallel rank).
    void set_rank(std::uint32_t rank) noexcept { m_rank = rank; }

private:
    void on_finish(const RequestRecord& r) {
        if (r.first_scheduled == RequestRecord::unset) return; // rejected / aborted while queued
        auto s = [](std::chrono::nanoseconds d) { return std::chrono::duration<double>(d).count(); };
        const metrics::RequestPhases p{
            s(r.queue_time()), s(r.prefill_time()), s(r.decode_time()), s(r.inference_time()),
            static_cast<double>(r.prompt_len > r.num_cached_tokens ? r.prompt_len - r.num_cached_tokens : 0U)};
        std::lock_guard lock(m_mutex);
        auto& pending = (r.id & routed_request_id_tag) != 0 ? m_pending_routed : m_pending;
        if (pending.size() < max_pending_phases) pending.push_back(p);
    }
    void take(std::vector<metrics::RequestPhases>& from, std::vector<metrics::RequestPhases>& out) {
        std::lock_guard lock(m_mutex);
        out.insert(out.end(), from.begin(), from.end());
        from.clear();
    }

    LiveEngine<E>& m_engine;
    std::uint32_t m_rank = 0;
    std::mutex m_mutex;
    std::vector<metrics::RequestPhases> m_pending, m_pending_routed;
};

} // namespace server
LLMEMU_END_NAMESPACE
