#pragma once
/// \file config.hpp
/// EngineConfig: the knobs of the reference engine, named and defaulted as vLLM's engine
/// arguments (max_num_seqs, max_num_batched_tokens, block_size, num_gpu_blocks_override,
/// max_model_len, long_prefill_token_threshold, enable_prefix_caching, async_scheduling,
/// scheduling_policy, gpu_memory_utilization), and the KV-pool sizing vLLM performs.

#include <algorithm>
#include <cstdint>
#include <string>

#include "llmemu/config.hpp"
#include "llmemu/error.hpp"
#include "llmemu/profile/model_config.hpp"

#if LLMEMU_POSIX
#include <unistd.h>
#endif

LLMEMU_BEGIN_NAMESPACE

/// Which request the scheduler serves (and preempts) first.
/// fcfs: admission in arrival order, preempt the most recently admitted running request.
/// priority: admission by (priority, arrival) ascending (lower value = served first, as
/// vLLM), preempt the running request with the largest (priority, arrival).
enum class SchedulingPolicy : std::uint8_t { fcfs, priority };

/// "fcfs" or "priority".
[[nodiscard]] inline const char* to_string(SchedulingPolicy p) noexcept {
    return p == SchedulingPolicy::fcfs ? "fcfs" : "priority";
}

/// The reference engine's configuration. Defaults are vLLM's server defaults for GPUs
/// under 70 GiB (2048 tokens / 256 sequences per step, 16-token blocks, chunked prefill,
/// prefix caching and async scheduling on).
struct EngineConfig {
    /// Most requests in the running set (vLLM --max-num-seqs).
    std::uint32_t max_num_seqs = 256;
    /// Token budget of one step (vLLM --max-num-batched-tokens).
    std::uint32_t max_num_batched_tokens = 2048;
    /// Tokens per KV block (vLLM --block-size).
    std::uint32_t block_size = 16;
    /// KV blocks in the pool, counted as vLLM counts them (one of them is vLLM's reserved
    /// null block, so num_gpu_blocks - 1 hold tokens); 0 = derive it from the latency
    /// model's ModelConfig (see derive_num_gpu_blocks). Like --num-gpu-blocks-override.
    std::uint32_t num_gpu_blocks = 0;
    /// Longest sequence (prompt + output) a request may reach (vLLM --max-model-len).
    std::uint32_t max_model_len = 4096;
    /// Longest prefill chunk one request gets per step; 0 = no cap
    /// (vLLM --long-prefill-token-threshold).
    std::uint32_t long_prefill_token_threshold = 0;
    /// Reuse KV blocks of identical token prefixes (vLLM --enable-prefix-caching).
    bool enable_prefix_caching = true;
    /// Schedule step N+1 while step N executes (vLLM --async-scheduling).
    bool async_scheduling = true;
    /// fcfs or priority (vLLM --scheduling-policy).
    SchedulingPolicy policy = SchedulingPolicy::fcfs;
    /// Share of GPU memory vLLM may use when num_gpu_blocks is derived
    /// (vLLM --gpu-memory-utilization).
    double gpu_memory_utilization = 0.9;

    /// Largest values validate() accepts: far beyond any real GPU (vLLM's largest contexts
    /// are ~10M tokens), and small enough that sums of two lengths fit in 32 bits.
    static constexpr std::uint32_t max_model_len_limit = 1U << 28U;
    static constexpr std::uint32_t max_num_seqs_limit = 1U << 20U;
    static constexpr std::uint32_t max_num_batched_tokens_limit = 1U << 28U;

    /// Throws config_error naming the field and the fix when the configuration cannot work.
    void validate() const {
        auto fail = [](const std::string& msg) { detail::throw_error<config_error>("engine config: " + msg); };
        if (max_num_seqs == 0) fail("max_num_seqs must be >= 1 (set --max-num-seqs)");
        if (max_num_batched_tokens == 0) fail("max_num_batched_tokens must be >= 1 (set --max-num-batched-tokens)");
        if (block_size == 0) fail("block_size must be >= 1 (vLLM uses 16)");
        if (max_model_len < 2) fail("max_model_len must be >= 2 (set --max-model-len)");
        if (max_model_len > max_model_len_limit)
            fail("max_model_len=" + std::to_string(max_model_len) + " is above the supported " +
                 std::to_string(max_model_len_limit) + " tokens (set --max-model-len lower)");
        if (max_num_seqs > max_num_seqs_limit)
            fail("max_num_seqs=" + std::to_string(max_num_seqs) + " is above the supported " +
                 std::to_string(max_num_seqs_limit) + " (set --max-num-seqs lower)");
        if (max_num_batched_tokens > max_num_batched_tokens_limit)
            fail("max_num_batched_tokens=" + std::to_string(max_num_batched_tokens) + " is above the supported " +
                 std::to_string(max_num_batched_tokens_limit) + " (set --max-num-batched-tokens lower)");
        if (num_gpu_blocks == 1)
            fail("num_gpu_blocks=1 leaves no usable block (one is vLLM's null block); use >= 2 or 0 to derive");
        if (!(gpu_memory_utilization > 0.0 && gpu_memory_utilization <= 1.0))
            fail("gpu_memory_utilization=" + std::to_string(gpu_memory_utilization) + " must be in (0, 1]");
    }
};

/// Bytes of KV cache one block holds on one GPU: K and V for every layer and the GPU's
/// share of the KV heads (2 * layers * kv_heads_per_gpu * head_dim * dtype_bytes *
/// block_size), as vLLM's FullAttentionSpec page size. With tensor parallelism each GPU
/// holds max(1, kv_heads / tensor_parallel_size) heads (vLLM replicates KV heads when
/// there are fewer than GPUs). Throws config_error when the model config lacks a field.
[[nodiscard]] inline std::uint64_t kv_block_bytes(const ModelConfig& m, std::uint32_t block_size) {
    if (m.num_hidden_layers == 0 || m.num_key_value_heads == 0 || block_size == 0)
        detail::throw_error<config_error>(
            "cannot size the KV pool: model config '" + m.model_name +
            "' lacks num_hidden_layers/num_key_value_heads; set num_gpu_blocks (--num-gpu-blocks) directly");
    std::uint64_t head_dim = m.head_dim;
    if (head_dim == 0) {
        if (m.hidden_size == 0 || m.num_attention_heads == 0)
            detail::throw_error<config_error>("cannot size the KV pool: model config '" + m.model_name +
                                              "' has neither head_dim nor hidden_size/num_attention_heads; "
                                              "set num_gpu_blocks directly");
        head_dim = m.hidden_size / m.num_attention_heads;
    }
    const std::uint64_t dtype = m.kv_dtype_bytes == 0 ? 2 : m.kv_dtype_bytes;
    const std::uint64_t tp = m.tensor_parallel_size == 0 ? 1 : m.tensor_parallel_size;
    const std::uint64_t kv_heads = m.num_key_value_heads / tp == 0 ? 1 : m.num_key_value_heads / tp;
    return 2ULL * m.num_hidden_layers * kv_heads * head_dim * dtype * block_size;
}

/// Estimated bytes of model weights on one GPU: embedding and (unless tied) LM head
/// (vocab * hidden each) plus, per layer, attention projections
/// (hidden * (heads + 2 * kv_heads) * head_dim + heads * head_dim * hidden) and either a
/// gated MLP (3 * hidden * intermediate) or, for a mixture of experts, a router
/// (hidden * experts) and experts * 3 * hidden * moe_intermediate; times the weight dtype
/// bytes, divided by tensor_parallel_size. Qwen3-8B: 8.19e9 parameters; Qwen3-30B-A3B:
/// 30.5e9.
[[nodiscard]] inline std::uint64_t estimate_weight_bytes(const ModelConfig& m) {
    const std::uint64_t hidden = m.hidden_size;
    const std::uint64_t heads = m.num_attention_heads;
    const std::uint64_t kv_heads = m.num_key_value_heads;
    const std::uint64_t head_dim = m.head_dim != 0 ? m.head_dim : (heads != 0 ? hidden / heads : 0);
    const std::uint64_t mlp = m.num_experts != 0
                                  ? hidden * m.num_experts + m.num_experts * 3ULL * hidden * m.moe_intermediate_size
                                  : 3ULL * hidden * m.intermediate_size;
    const std::uint64_t per_layer = hidden * (heads + 2 * kv_heads) * head_dim + heads * head_dim * hidden + mlp;
    const std::uint64_t params =
        (m.tie_word_embeddings ? 1ULL : 2ULL) * m.vocab_size * hidden + m.num_hidden_layers * per_layer;
    const std::uint64_t dtype = m.weight_dtype_bytes == 0 ? 2 : m.weight_dtype_bytes;
    const std::uint64_t tp = m.tensor_parallel_size == 0 ? 1 : m.tensor_parallel_size;
    return params * dtype / tp;
}

/// Estimated bytes vLLM keeps outside weights and KV: peak activations of a 2048-token
/// profiling pass ((4 * hidden + 2 * intermediate) * 2048 * 2 bytes), fp32 logits of
/// 256 sequences (256 * vocab * 4 bytes), plus 512 MiB of CUDA graphs / non-torch memory.
[[nodiscard]] inline std::uint64_t estimate_activation_bytes(const ModelConfig& m) {
    const std::uint64_t act = (4ULL * m.hidden_size + 2ULL * m.intermediate_size) * 2048ULL * 2ULL;
    const std::uint64_t logits = 256ULL * m.vocab_size * 4ULL;
    return act + logits + (512ULL << 20U);
}

/// Number of KV blocks vLLM would allocate: (gpu_memory_bytes * utilization - weights -
/// activation reserve) / kv_block_bytes, the weights and reserve estimated from the model
/// config (estimate_weight_bytes, estimate_activation_bytes). Qwen3-8B on an A40 (47.7 GB)
/// at 0.9: about 10,900 blocks (174k tokens). Throws config_error when the config lacks
/// what is needed or nothing is left for the KV cache.
[[nodiscard]] inline std::uint32_t derive_num_gpu_blocks(const ModelConfig& m, std::uint64_t gpu_memory_bytes,
                                                         double utilization, std::uint32_t block_size) {
    if (gpu_memory_bytes == 0)
        detail::throw_error<config_error>("cannot size the KV pool: no GPU memory size (model config '" + m.model_name +
                                          "' records none); set num_gpu_blocks directly");
    if (!(utilization > 0.0 && utilization <= 1.0))
        detail::throw_error<config_error>("gpu_memory_utilization=" + std::to_string(utilization) +
                                          " must be in (0, 1]");
    const std::uint64_t block = kv_block_bytes(m, block_size);
    const double budget = static_cast<double>(gpu_memory_bytes) * utilization;
    const double reserved = static_cast<double>(estimate_weight_bytes(m) + estimate_activation_bytes(m));
    if (budget <= reserved + static_cast<double>(block))
        detail::throw_error<config_error>(
            "cannot size the KV pool: " + std::to_string(gpu_memory_bytes) + " bytes x " + std::to_string(utilization) +
            " leave no room for KV cache after an estimated " + std::to_string(static_cast<std::uint64_t>(reserved)) +
            " bytes of weights and activations; raise gpu_memory_utilization or set num_gpu_blocks");
    const double n = (budget - reserved) / static_cast<double>(block);
    return n >= 4.0e9 ? 4000000000U : static_cast<std::uint32_t>(n);
}

/// Host bytes the reference engine keeps per KV block, an upper estimate: the block
/// manager's hash, ref count, map flag and free-ring slot (16 bytes), the free ring (2 to
/// 4 entries a block, up to 16 bytes), the prefix map's slots (2 to 4 a block, 12 bytes
/// each: up to 48) and the blocks' share of per-request block lists (4): 84, rounded up.
inline constexpr std::uint64_t kv_host_bytes_per_block = 96;

/// This machine's physical memory in bytes (0 when the system does not say).
[[nodiscard]] inline std::uint64_t physical_memory_bytes() noexcept {
#if LLMEMU_POSIX && defined(_SC_PHYS_PAGES)
    const long pages = ::sysconf(_SC_PHYS_PAGES);
    const long page = ::sysconf(_SC_PAGESIZE);
    return pages > 0 && page > 0 ? static_cast<std::uint64_t>(pages) * static_cast<std::uint64_t>(page) : 0;
#else
    return 0; // not POSIX: unknown
#endif
}

/// Throws config_error, with the numbers, when the bookkeeping of a pool of
/// `num_gpu_blocks` (kv_host_bytes_per_block each) would need more than half of
/// `memory_bytes` (default: this machine's memory; 0 = unknown, no check). An emulated
/// GPU's pool lives in host memory: one that cannot fit must be refused, not allocated.
inline void check_kv_pool_fits(std::uint64_t num_gpu_blocks, std::uint64_t memory_bytes = physical_memory_bytes()) {
    if (memory_bytes == 0) return;
    const std::uint64_t need = num_gpu_blocks * kv_host_bytes_per_block;
    if (need > memory_bytes / 2)
        detail::throw_error<config_error>(
            "engine config: a KV pool of " + std::to_string(num_gpu_blocks) + " blocks needs about " +
            std::to_string(need >> 20U) + " MiB of host memory for its bookkeeping (" +
            std::to_string(kv_host_bytes_per_block) + " bytes a block), more than half of this machine's " +
            std::to_string(memory_bytes >> 20U) + " MiB; at most " +
            std::to_string(memory_bytes / 2 / kv_host_bytes_per_block) +
            " blocks fit: lower --num-gpu-blocks (or --max-num-seqs / --max-model-len, which size an analytic "
            "profile's pool)");
}

/// The max_model_len to run with when none is given: the profile's (`model->max_model_len`,
/// from the pack or config.json) or else 4096, doubled until `longest_request` (the
/// workload's largest prompt + output; 0 unknown) fits, so that no request of the workload
/// is refused for its length. `llmemu simulate` without --max-model-len uses this.
[[nodiscard]] inline std::uint32_t auto_max_model_len(const ModelConfig* model,
                                                      std::uint32_t longest_request = 0) noexcept {
    std::uint32_t len = model != nullptr && model->max_model_len != 0 ? model->max_model_len : 4096U;
    while (len < longest_request && len < (1U << 30U)) len *= 2;
    return len;
}

/// The KV pool of a latency model with no GPU to size it from (analytic const:/affine:
/// profiles without a model config): room for max_num_seqs requests of max_model_len
/// tokens each, plus vLLM's null block, so that KV capacity never limits an analytic
/// what-if (capped at 4e9 blocks). `llmemu simulate` and `llmemu serve` use it when
/// --num-gpu-blocks is not given; check_kv_pool_fits still applies when the engine starts.
[[nodiscard]] inline std::uint32_t analytic_num_gpu_blocks(const EngineConfig& c) noexcept {
    const std::uint64_t block = c.block_size == 0 ? 1 : c.block_size;
    const std::uint64_t per_seq = (std::uint64_t{c.max_model_len} + block - 1) / block;
    return static_cast<std::uint32_t>(std::min<std::uint64_t>(per_seq * c.max_num_seqs + 1, 4000000000ULL));
}

/// The pool size to use: config.num_gpu_blocks when set, else derived from `model`
/// (throws config_error when there is no model config to derive from, or when the pool
/// would not fit in this machine's memory: check_kv_pool_fits).
[[nodiscard]] inline std::uint32_t resolve_num_gpu_blocks(const EngineConfig& config, const ModelConfig* model) {
    if (config.num_gpu_blocks != 0) {
        check_kv_pool_fits(config.num_gpu_blocks);
        return config.num_gpu_blocks;
    }
    if (model == nullptr)
        detail::throw_error<config_error>(
            "engine config: num_gpu_blocks=0 asks to derive the KV pool from the profile's model config, "
            "but the latency model has none (analytic const:/affine: profiles); set num_gpu_blocks (--num-gpu-blocks)");
    const std::uint32_t n =
        derive_num_gpu_blocks(*model, model->gpu_memory_bytes, config.gpu_memory_utilization, config.block_size);
    check_kv_pool_fits(n);
    return n;
}

LLMEMU_END_NAMESPACE
