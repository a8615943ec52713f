#pragma once
/// \file router.hpp
/// Request routers for a fleet of engine replicas. A routing policy is any type with
/// `route(const RoutingRequest&, std::span<const ReplicaView>) -> std::uint32_t` (the
/// RoutingPolicy concept, also spelled Router), like every other policy in llmemu: it
/// sees the request, the virtual time and each replica's queues, KV usage and prefix
/// cache, and names the replica that serves the request. Provided, each a type:
/// round robin, least loaded, prefix aware (consistent hashing of the first blocks), a
/// scored router like llm-d's (weighted queue, KV-cache and prefix-cache scorers) and
/// vLLM's own data-parallel load balancer. AnyRouter holds one chosen at run time.

#include <algorithm>
#include <chrono>
#include <concepts>
#include <cstdint>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "llmemu/config.hpp"
#include "llmemu/engine/block_hash.hpp"
#include "llmemu/engine/kv_cache.hpp"
#include "llmemu/engine/request.hpp"
#include "llmemu/error.hpp"

LLMEMU_BEGIN_NAMESPACE

/// What a router sees of one replica when a request arrives.
struct ReplicaView {
    std::uint32_t running = 0;
    std::uint32_t waiting = 0;
    /// Share of its KV blocks in use (0..1).
    double kv_usage = 0.0;
    /// Its KV cache (for prefix-cache lookups); never null inside a driver.
    const KVCacheManager* kv = nullptr;
    /// Tokens of the request's prompt its prefix cache holds, when the caller knows them
    /// without `kv` (server::RoutedBackend, from the engines' KV-cache events); used
    /// instead of a lookup in `kv`.
    std::optional<std::uint32_t> cached_prefix_tokens = std::nullopt;
};

/// The request being routed and when (since the run's origin).
struct RoutingRequest {
    const RequestSpec& spec;
    std::chrono::nanoseconds now{0};
};

/// A routing policy (see the file comment). Deterministic routers give deterministic runs.
template <class R>
concept RoutingPolicy = requires(R& r, const RoutingRequest& q, std::span<const ReplicaView> replicas) {
    { r.route(q, replicas) } -> std::convertible_to<std::uint32_t>;
};
/// The same concept under its first name.
template <class R>
concept Router = RoutingPolicy<R>;

/// Whether a router's choice depends only on the request, its own state and each
/// replica's running + waiting (not their split, KV usage or prefix cache): such a router
/// declares `static constexpr bool routes_by_load = true` (AnyRouter answers for the one it
/// holds). A fleet on several cores may then route arrivals ahead of the replicas' steps,
/// from the finishes it knows are coming, and run more steps at once (see fleet.hpp); the
/// views it passes have the exact running + waiting, their split and KV usage possibly
/// older. Any other router sees every replica exactly as of its arrival.
template <class R>
[[nodiscard]] constexpr bool routes_by_load(const R& r) noexcept {
    if constexpr (requires { { r.routes_by_load() } -> std::convertible_to<bool>; })
        return r.routes_by_load();
    else if constexpr (requires { { R::routes_by_load } -> std::convertible_to<bool>; })
        return R::routes_by_load;
    else
        return false;
}

namespace detail {
/// Lamping and Veach's jump consistent hash: key -> bucket in [0, n), moving only 1/n of
/// the keys when n grows by one.
[[nodiscard]] inline std::uint32_t fleet_jump_hash(std::uint64_t key, std::uint32_t n) noexcept {
    std::int64_t b = -1, j = 0;
    while (j < static_cast<std::int64_t>(n)) {
        b = j;
        key = key * 2862933555777941757ULL + 1;
        j = static_cast<std::int64_t>(static_cast<double>(b + 1) *
                                      (static_cast<double>(1LL << 31) / static_cast<double>((key >> 33) + 1)));
    }
    return static_cast<std::uint32_t>(b);
}

[[nodiscard]] inline std::uint32_t fleet_least_loaded(std::span<const ReplicaView> replicas) noexcept {
    std::uint32_t best = 0;
    std::uint64_t best_load = std::numeric_limits<std::uint64_t>::max();
    for (std::uint32_t i = 0; i < replicas.size(); ++i) {
        const std::uint64_t load = std::uint64_t{replicas[i].running} + replicas[i].waiting;
        if (load < best_load) {
            best_load = load;
            best = i;
        }
    }
    return best;
}
} // namespace detail

/// Replicas in turn, in arrival order.
class RoundRobinRouter {
public:
    static constexpr bool routes_by_load = true;
    std::uint32_t route(const RoutingRequest&, std::span<const ReplicaView> replicas) noexcept {
        return static_cast<std::uint32_t>(m_next++ % replicas.size());
    }

private:
    std::uint64_t m_next = 0;
};

/// Fewest running + waiting requests; ties go to the lowest index.
struct LeastLoadedRouter {
    static constexpr bool routes_by_load = true;
    std::uint32_t route(const RoutingRequest&, std::span<const ReplicaView> replicas) const noexcept {
        return detail::fleet_least_loaded(replicas);
    }
};

/// Requests whose prompt has at least one full block of token ids go to the replica that
/// a consistent hash (jump hash) of their first `prefix_blocks` full blocks names, so equal
/// prefixes meet in one prefix cache; other requests go to the least loaded replica.
class PrefixAwareRouter {
public:
    static constexpr bool routes_by_load = true;
    PrefixAwareRouter(std::uint32_t block_size, std::uint32_t prefix_blocks = 1)
        : m_block_size(block_size), m_prefix_blocks(prefix_blocks) {
        if (block_size == 0 || prefix_blocks == 0)
            detail::throw_error<config_error>("prefix-aware router: block size and prefix blocks must be >= 1");
    }
    std::uint32_t route(const RoutingRequest& q, std::span<const ReplicaView> replicas) const noexcept {
        const auto& tokens = q.spec.prompt_tokens;
        const std::size_t full = tokens.size() / m_block_size;
        if (full == 0) return detail::fleet_least_loaded(replicas);
        std::uint64_t h = root_block_hash;
        for (std::size_t b = 0; b < std::min<std::size_t>(full, m_prefix_blocks); ++b)
            h = hash_block_tokens(h, std::span<const TokenId>(tokens.data() + b * m_block_size, m_block_size));
        return detail::fleet_jump_hash(h, static_cast<std::uint32_t>(replicas.size()));
    }

private:
    std::uint32_t m_block_size;
    std::uint32_t m_prefix_blocks;
};

/// Weights of the scored router's scorers.
struct ScorerWeights {
    /// Queue depth (running + waiting): 1 for the emptiest replica, 0 for the fullest.
    double queue = 1.0;
    /// KV-cache usage: 1 - usage.
    double kv_cache = 1.0;
    /// Prefix cache: the share of the prompt the replica's prefix cache holds now.
    double prefix = 2.0;
};

/// A scored router like llm-d's inference scheduler: each replica gets
/// weights.queue * queue score + weights.kv_cache * KV score + weights.prefix * prefix
/// score (each in [0, 1], see ScorerWeights), and the highest total wins (ties: lowest
/// index). The prefix score looks the prompt's blocks up in each replica's actual prefix
/// cache (llm-d's precise prefix-cache scorer), or takes ReplicaView::cached_prefix_tokens
/// where the caller indexed the caches itself; requests without token ids score 0 there.
class ScoredRouter {
public:
    explicit ScoredRouter(ScorerWeights w = {}) : m_w(w) {
        if (!(w.queue >= 0 && w.kv_cache >= 0 && w.prefix >= 0))
            detail::throw_error<config_error>("scored router: weights must be >= 0");
    }
    std::uint32_t route(const RoutingRequest& q, std::span<const ReplicaView> replicas) {
        std::uint64_t lo = std::numeric_limits<std::uint64_t>::max(), hi = 0;
        for (const auto& r : replicas) {
            const std::uint64_t load = std::uint64_t{r.running} + r.waiting;
            lo = std::min(lo, load);
            hi = std::max(hi, load);
        }
        const bool prefix = m_w.prefix > 0 && !q.spec.prompt_tokens.empty();
        if (prefix) {
            m_kv.clear_blocks();
            m_kv.hashes.clear();
            m_kv.freed.clear();
            m_kv.salt = 0;
            m_kv.tokens = q.spec.prompt_tokens;
        }
        std::uint32_t best = 0;
        double best_score = -1.0;
        for (std::uint32_t i = 0; i < replicas.size(); ++i) {
            const auto& r = replicas[i];
            const std::uint64_t load = std::uint64_t{r.running} + r.waiting;
            const double queue = hi == lo ? 1.0 : static_cast<double>(hi - load) / static_cast<double>(hi - lo);
            double score = m_w.queue * queue + m_w.kv_cache * (1.0 - r.kv_usage);
            if (prefix) {
                const auto n = static_cast<std::uint32_t>(q.spec.prompt_tokens.size());
                std::uint32_t hit = 0;
                if (r.cached_prefix_tokens)
                    hit = std::min(*r.cached_prefix_tokens, n);
                else if (r.kv != nullptr && r.kv->caching_enabled())
                    hit = r.kv->find_cached_prefix(m_kv, n, m_hits);
                score += m_w.prefix * static_cast<double>(hit) / static_cast<double>(n);
            }
            if (score > best_score) {
                best_score = score;
                best = i;
            }
        }
        return best;
    }

private:
    ScorerWeights m_w;
    RequestKV m_kv;
    std::vector<std::uint32_t> m_hits;
};

/// vLLM's internal data-parallel load balancer (vllm/v1/engine/core_client.py,
/// DPLBAsyncMPClient.get_core_engine_for_request): the engine with the lowest
/// 4 x waiting + running wins (ties: the first from the client's start index, 0 here).
/// The counts are a snapshot the DP coordinator publishes every `stats_interval`
/// (100 ms in vLLM); between snapshots the client adds each request it sends to its
/// engine's waiting count.
class DataParallelRouter {
public:
    explicit DataParallelRouter(std::chrono::nanoseconds stats_interval = std::chrono::milliseconds(100))
        : m_interval(stats_interval) {
        if (stats_interval.count() <= 0)
            detail::throw_error<config_error>("data-parallel router: the stats interval must be positive");
    }
    std::uint32_t route(const RoutingRequest& q, std::span<const ReplicaView> replicas) {
        if (m_counts.size() != replicas.size() || q.now >= m_next_refresh) {
            m_counts.resize(replicas.size());
            for (std::size_t i = 0; i < replicas.size(); ++i) m_counts[i] = {replicas[i].waiting, replicas[i].running};
            // Snapshots come on the coordinator's own period, whatever the arrivals.
            const auto periods = q.now.count() / m_interval.count() + 1;
            m_next_refresh = std::chrono::nanoseconds(periods * m_interval.count());
        }
        std::uint32_t best = 0;
        std::uint64_t best_score = std::numeric_limits<std::uint64_t>::max();
        for (std::uint32_t i = 0; i < m_counts.size(); ++i) {
            const std::uint64_t score = 4 * m_counts[i].first + m_counts[i].second;
            if (score < best_score) {
                best_score = score;
                best = i;
            }
        }
        ++m_counts[best].first;
        return best;
    }

private:
    std::chrono::nanoseconds m_interval;
    std::chrono::nanoseconds m_next_refresh{0};
    std::vector<std::pair<std::uint64_t, std::uint64_t>> m_counts; // (waiting, running)
};

/// Settings for make_router.
struct RouterOptions {
    std::uint32_t block_size = 16;
    std::uint32_t prefix_blocks = 1;
    ScorerWeights weights;
    std::chrono::nanoseconds dp_stats_interval = std::chrono::milliseconds(100);
};

/// One of the provided routers, chosen at run time (by name: make_router, which `--router
/// NAME` calls). A routing policy of your own needs no AnyRouter: pass it to the fleet.
class AnyRouter {
public:
    using Variant =
        std::variant<RoundRobinRouter, LeastLoadedRouter, PrefixAwareRouter, ScoredRouter, DataParallelRouter>;
    template <class R>
    requires std::constructible_from<Variant, R> AnyRouter(R r)
        : m_router(std::move(r)) {} // NOLINT(google-explicit-constructor)

    std::uint32_t route(const RoutingRequest& q, std::span<const ReplicaView> replicas) {
        return std::visit([&](auto& r) -> std::uint32_t { return r.route(q, replicas); }, m_router);
    }
    /// Whether the router it holds routes by load only (see llmemu::routes_by_load).
    [[nodiscard]] bool routes_by_load() const noexcept {
        return std::visit([](const auto& r) { return llmemu::routes_by_load(r); }, m_router);
    }

private:
    Variant m_router;
};

/// The router names make_router knows.
inline constexpr std::string_view router_names[] = {"round_robin", "least_loaded", "prefix_aware", "scored",
                                                    "data_parallel"};

/// The router called `name` (see router_names). Throws config_error naming the choices.
[[nodiscard]] inline AnyRouter make_router(std::string_view name, const RouterOptions& o = {}) {
    if (name == "round_robin") return RoundRobinRouter{};
    if (name == "least_loaded") return LeastLoadedRouter{};
    if (name == "prefix_aware") return PrefixAwareRouter(o.block_size, o.prefix_blocks);
    if (name == "scored") return ScoredRouter(o.weights);
    if (name == "data_parallel") return DataParallelRouter(o.dp_stats_interval);
    detail::throw_error<config_error>("router '" + std::string(name) +
                                      "': use round_robin, least_loaded, prefix_aware, scored or data_parallel");
}

LLMEMU_END_NAMESPACE
