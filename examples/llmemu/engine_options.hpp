#pragma once
// Engine and workload flags shared by `llmemu simulate`, `sweep`, `serve` and `bench`, named
// as vLLM names them. add_engine_options / add_workload_options register the flags on a
// CLI11 app; make_engine_config / make_workload_spec turn what the user typed into an
// EngineConfig and a WorkloadSpec, rejecting contradictory combinations with one line that
// names the flags and the fix.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>

#include "command.hpp"
#include "llmemu/core/csv.hpp"
#include "llmemu/engine/config.hpp"
#include "llmemu/oracle/any_latency_model.hpp"
#include "llmemu/oracle/layerwise_model.hpp"
#include "llmemu/profile/hf_config.hpp"
#include "llmemu/profile/model_config.hpp"
#include "llmemu/workload/workload.hpp"
#include "llmemu/workload/workload_spec.hpp"

namespace llmemu::cli {

/// The engine settings as typed on the command line (0 = "not given, use the default").
struct EngineFlags {
    /// --profile: pack JSON path, const:<time> or affine:<base>,<per_token>,<per_request> (units us/ms/s);
    /// empty = the bundled default pack.
    std::string profile;
    std::uint32_t max_num_seqs = 256;
    std::uint32_t max_num_batched_tokens = 2048;
    std::uint32_t num_gpu_blocks = 0;
    std::uint32_t block_size = 16;
    /// 0 = auto: the profile's max_model_len, raised to fit the workload's longest request.
    std::uint32_t max_model_len = 0;
    std::uint32_t long_prefill_token_threshold = 0;
    bool enable_prefix_caching = true;
    bool no_prefix_caching = false;
    bool no_async_scheduling = false;
    double gpu_memory_utilization = 0.9;
    std::uint64_t seed = 0;
    /// Layer-wise profiles: --model-config (empty: found beside the profile),
    /// --tensor-parallel-size, --layerwise-options; --gpu-memory-gib sizes the KV pool.
    std::string model_config;
    std::uint32_t tensor_parallel_size = 1;
    std::string layerwise_options;
    double gpu_memory_gib = 0;
    /// --fallback-model / --fallback-scope: a learned model answering the pack's sparse or
    /// out-of-range steps (empty: none).
    std::string fallback_model;
    std::string fallback_scope = "sparse";

    CLI::Option* opt_enable_prefix = nullptr;
    CLI::Option* opt_no_prefix = nullptr;
    CLI::Option* opt_num_gpu_blocks = nullptr;
    CLI::Option* opt_gpu_util = nullptr;
    CLI::Option* opt_max_model_len = nullptr;
    CLI::Option* opt_model_config = nullptr;
    CLI::Option* opt_tp = nullptr;
    CLI::Option* opt_layerwise = nullptr;
    CLI::Option* opt_gpu_memory = nullptr;
};

/// A flag's number as typed-ish ("%g"), short whatever its size, for messages.
inline std::string flag_number(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g", v);
    return buf;
}

/// A CLI11 check for an integer flag: decimal digits only (no sign, fraction or exponent),
/// value in [lo, hi]. CLI11 alone would wrap "-1" into 2^64 - 1 for an unsigned flag.
inline CLI::Validator whole_number(std::uint64_t lo, std::uint64_t hi) {
    return CLI::Validator(
        [lo, hi](std::string& text) -> std::string {
            const std::optional<std::uint64_t> v = parse_number<std::uint64_t>(text);
            const std::string range = "[" + std::to_string(lo) + ", " + std::to_string(hi) + "]";
            const bool digits = !text.empty() && text.find_first_not_of("0123456789") == std::string::npos;
            if (!v && !digits) return "'" + text.substr(0, 40) + "' is not a whole number; give one in " + range;
            if (!v || *v < lo || *v > hi) return text.substr(0, 40) + " is outside " + range; // digits beyond 2^64 too
            return {};
        },
        "", "whole_number");
}

/// Largest --input-len / --output-len / --num-prompts-style counts accepted (a prompt plus
/// its output must fit in 32 bits, as EngineConfig::max_model_len_limit).
inline constexpr std::uint64_t max_tokens_flag = EngineConfig::max_model_len_limit;

/// Splits a comma-separated flag value; throws usage_error naming `flag` for an empty item
/// ("1,,2", a trailing comma), which CLI11's own list splitting would drop silently.
inline std::vector<std::string> split_list(std::string_view text, std::string_view flag) {
    std::vector<std::string> out;
    std::size_t pos = 0;
    for (;;) {
        const std::size_t comma = std::min(text.find(',', pos), text.size());
        std::string_view item = text.substr(pos, comma - pos);
        while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
        while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
        if (item.empty())
            throw usage_error(std::string(flag) + " '" + std::string(text.substr(0, 80)) +
                              "' has an empty item; separate the values with single commas");
        out.emplace_back(item);
        if (comma == text.size()) return out;
        pos = comma + 1;
    }
}

/// A comma-separated list of whole numbers in [lo, hi] (split_list, then whole_number's rule).
inline std::vector<std::uint32_t> parse_uint_list(std::string_view text, std::string_view flag, std::uint32_t lo,
                                                  std::uint32_t hi) {
    std::vector<std::uint32_t> out;
    const CLI::Validator check = whole_number(lo, hi);
    for (std::string item : split_list(text, flag)) {
        if (const std::string why = check(item); !why.empty()) throw usage_error(std::string(flag) + ": " + why);
        out.push_back(static_cast<std::uint32_t>(*parse_number<std::uint64_t>(item))); // checked: <= hi
    }
    return out;
}

/// Host bytes a run keeps per request, an upper estimate (the workload entry, the engine's
/// request state and block list, its result record): --num-prompts is checked against it.
inline constexpr std::uint64_t host_bytes_per_request = 1024;

/// Throws usage_error, with the numbers, when `n` requests would need more than half of
/// `memory_bytes` (default: this machine's; 0 = unknown, no check).
inline void check_num_prompts_fit(std::uint64_t n, std::uint64_t memory_bytes = physical_memory_bytes()) {
    if (memory_bytes == 0 || n * host_bytes_per_request <= memory_bytes / 2) return;
    throw usage_error("--num-prompts " + std::to_string(n) + ": about " +
                      std::to_string((n * host_bytes_per_request) >> 20U) + " MiB of per-request state (" +
                      std::to_string(host_bytes_per_request) + " bytes each), more than half of this machine's " +
                      std::to_string(memory_bytes >> 20U) + " MiB; at most " +
                      std::to_string(memory_bytes / 2 / host_bytes_per_request) + " requests fit in one run");
}

/// Registers --profile, --max-num-seqs, --max-num-batched-tokens, --num-gpu-blocks,
/// --block-size, --max-model-len, --enable-prefix-caching / --no-enable-prefix-caching,
/// --long-prefill-token-threshold, --gpu-memory-utilization, --no-async-scheduling and
/// --seed. With `grid` (llmemu sweep), --max-num-seqs, --max-num-batched-tokens and
/// --num-gpu-blocks are left to the caller, which takes lists for them.
inline void add_engine_options(CLI::App& app, EngineFlags& f, bool grid = false) {
    app.add_option(
        "--profile", f.profile,
        "Step-time profile: an LLM-Emu pack JSON, a layer-wise profile folder (meta.yaml + tp<N>/, LLMServingSim "
        "layout), const:30ms, or affine:2ms,25us,40us (units us, ms, s; a bare number is ms) (default: the bundled A40 "
        "Qwen3-8B "
        "pack)");
    f.opt_model_config =
        app.add_option("--model-config", f.model_config,
                       "Hugging Face config.json of the model: layers, heads, experts for a layer-wise "
                       "profile (default: config.json in or beside its folder, or models/<model>.json "
                       "above it); with const:/affine: it sizes the KV pool with --gpu-memory-gib");
    f.opt_tp = app.add_option("--tensor-parallel-size", f.tensor_parallel_size,
                              "GPUs per model replica: picks a layer-wise profile's tp<N>/ tables and divides the "
                              "weights and KV heads per GPU")
                   ->check(CLI::Range(1U, 4096U));
    f.opt_layerwise =
        app.add_option("--layerwise-options", f.layerwise_options,
                       "Layer-wise model switches, comma-separated: skew=auto|on|off, interp=linear|loglog, "
                       "kv=batch|aggregate, allreduce_gbps=<GB/s>, allreduce_us=<us> (docs/profiles.md)");
    f.opt_gpu_memory =
        app.add_option("--gpu-memory-gib", f.gpu_memory_gib,
                       "GPU memory (GiB) the KV pool is derived from, for a layer-wise profile (default: "
                       "its GPU's known size) or with --model-config for const:/affine:")
            ->check(CLI::Range(0.001, 1.0e6));
    if (!grid) {
        app.add_option("--max-num-seqs", f.max_num_seqs, "Most requests running at once")
            ->capture_default_str()
            ->check(whole_number(1, EngineConfig::max_num_seqs_limit));
        app.add_option("--max-num-batched-tokens", f.max_num_batched_tokens, "Token budget of one engine step")
            ->capture_default_str()
            ->check(whole_number(1, EngineConfig::max_num_batched_tokens_limit));
        f.opt_num_gpu_blocks =
            app.add_option("--num-gpu-blocks,--num-gpu-blocks-override", f.num_gpu_blocks,
                           "KV-cache blocks (vLLM's --num-gpu-blocks-override, also accepted under that name); "
                           "default: derived from the profile's model and GPU memory")
                ->check(whole_number(2, std::numeric_limits<std::uint32_t>::max()));
    }
    app.add_option("--block-size", f.block_size, "Tokens per KV-cache block: 1, 8, 16, 32, 64, 128 or 256 (vLLM's)")
        ->capture_default_str()
        ->check(CLI::IsMember({1U, 8U, 16U, 32U, 64U, 128U, 256U}));
    f.opt_max_model_len =
        app.add_option("--max-model-len", f.max_model_len,
                       "Longest prompt + output a request may have; longer ones are refused (default: the "
                       "profile's value, raised to the next power of two that fits the workload's longest request)")
            ->check(whole_number(2, EngineConfig::max_model_len_limit));
    f.opt_enable_prefix = app.add_flag("--enable-prefix-caching", f.enable_prefix_caching,
                                       "Reuse KV blocks of identical prompt prefixes (default on)");
    f.opt_no_prefix = app.add_flag("--no-enable-prefix-caching", f.no_prefix_caching, "Turn prefix caching off");
    app.add_option("--long-prefill-token-threshold", f.long_prefill_token_threshold,
                   "Cap on one request's prefill chunk per step (0 = no cap)")
        ->capture_default_str()
        ->check(whole_number(0, EngineConfig::max_model_len_limit));
    f.opt_gpu_util = app.add_option("--gpu-memory-utilization", f.gpu_memory_utilization,
                                    "Share of GPU memory for weights + KV when deriving --num-gpu-blocks")
                         ->capture_default_str()
                         ->check(CLI::Range(0.0, 1.0));
    app.add_flag("--no-async-scheduling", f.no_async_scheduling,
                 "Schedule step N+1 only after step N finished (default: overlap, as vLLM 0.18)");
    app.add_option("--seed", f.seed, "Seed of every random draw (arrivals, lengths, step times, tokens)")
        ->capture_default_str()
        ->check(whole_number(0, std::numeric_limits<std::uint64_t>::max()));
    app.add_option("--fallback-model", f.fallback_model,
                   "Learned model JSON (llmemu profile fit) answering the steps the pack covers badly; see "
                   "--fallback-scope")
        ->check(CLI::ExistingFile);
    app.add_option("--fallback-scope", f.fallback_scope,
                   "Steps the learned fallback answers: sparse (missing, sparse and out-of-range buckets) or "
                   "out_of_range")
        ->capture_default_str()
        ->check(CLI::IsMember({"sparse", "out_of_range"}));
}

/// The EngineConfig the flags describe, not yet validated, max_model_len 0 when not given
/// (auto: SweepRun resolves it per run). Throws usage_error for contradictory flags.
inline EngineConfig engine_config_from_flags(const EngineFlags& f) {
    if (f.opt_enable_prefix != nullptr && f.opt_no_prefix != nullptr && f.opt_enable_prefix->count() > 0 &&
        f.opt_no_prefix->count() > 0)
        throw usage_error("--enable-prefix-caching and --no-enable-prefix-caching contradict each other; give one");
    if (f.opt_num_gpu_blocks != nullptr && f.opt_gpu_util != nullptr && f.opt_num_gpu_blocks->count() > 0 &&
        f.opt_gpu_util->count() > 0)
        throw usage_error("--num-gpu-blocks fixes the KV pool, so --gpu-memory-utilization (used only to derive it) "
                          "has no effect; give one of them");
    EngineConfig c;
    c.max_num_seqs = f.max_num_seqs;
    c.max_num_batched_tokens = f.max_num_batched_tokens;
    c.num_gpu_blocks = f.num_gpu_blocks;
    c.block_size = f.block_size;
    c.long_prefill_token_threshold = f.long_prefill_token_threshold;
    c.enable_prefix_caching = !f.no_prefix_caching;
    c.async_scheduling = !f.no_async_scheduling;
    c.gpu_memory_utilization = f.gpu_memory_utilization;
    c.max_model_len = f.max_model_len;
    return c;
}

/// The EngineConfig the flags describe. `model` is the profile's model config (nullptr for
/// analytic profiles); `longest_request` the workload's largest prompt + output (0 unknown),
/// used for the automatic max_model_len. Throws usage_error for contradictory flags.
inline EngineConfig make_engine_config(const EngineFlags& f, const ModelConfig* model,
                                       std::uint32_t longest_request = 0) {
    EngineConfig c = engine_config_from_flags(f);
    if (c.max_model_len == 0) c.max_model_len = auto_max_model_len(model, longest_request);
    c.validate();
    return c;
}

/// The workload as typed on the command line.
struct WorkloadFlags {
    std::string trace;
    std::string dataset;
    std::size_t num_prompts = 0;
    std::uint32_t input_len = 1024;
    std::uint32_t output_len = 128;
    double range_ratio = 0.0;
    std::string request_rate = "inf";
    double burstiness = 1.0;
    std::string output_lengths;
    // vLLM's dataset flags.
    std::string dataset_path;
    std::uint32_t random_prefix_len = 0;
    std::uint32_t prefix_len = 256;
    std::uint32_t suffix_len = 256;
    std::uint32_t num_prefixes = 10;
    std::uint32_t prefix_output_len = 128;
    std::uint32_t custom_output_len = 256;
    std::uint32_t sharegpt_output_len = 0;
    std::string ramp_up_strategy;
    double ramp_up_start_rps = 0.0;
    double ramp_up_end_rps = 0.0;
    std::string rate_schedule;
    // Multi-turn sessions and workload specs.
    std::size_t sessions = 0;
    std::uint32_t turns = 1;
    double think_time = 0.0;
    std::uint32_t turn_new_tokens = 64;
    std::string sessions_from;
    std::string workload_file;

    CLI::Option* opt_trace = nullptr;
    CLI::Option* opt_dataset = nullptr;
    CLI::Option* opt_input_len = nullptr;
    CLI::Option* opt_output_len = nullptr;
    CLI::Option* opt_range_ratio = nullptr;
    CLI::Option* opt_request_rate = nullptr;
    CLI::Option* opt_burstiness = nullptr;
    CLI::Option* opt_output_lengths = nullptr;
    CLI::Option* opt_dataset_path = nullptr;
    CLI::Option* opt_random_prefix_len = nullptr;
    std::vector<CLI::Option*> opt_prefix_repetition;
    CLI::Option* opt_custom_output_len = nullptr;
    CLI::Option* opt_sharegpt_output_len = nullptr;
    CLI::Option* opt_ramp_strategy = nullptr;
    CLI::Option* opt_ramp_start = nullptr;
    CLI::Option* opt_ramp_end = nullptr;
    CLI::Option* opt_rate_schedule = nullptr;
    CLI::Option* opt_num_prompts = nullptr;
    std::vector<CLI::Option*> opt_session_shape; // --turns, --think-time, --turn-new-tokens
    CLI::Option* opt_sessions = nullptr;
    CLI::Option* opt_sessions_from = nullptr;
    CLI::Option* opt_workload = nullptr;
};

/// Registers --trace, --dataset, --num-prompts, --input-len, --output-len, --range-ratio,
/// and (unless `with_rate` is false, for sweep's list of rates) --request-rate and --burstiness.
inline void add_workload_options(CLI::App& app, WorkloadFlags& f, bool with_rate = true) {
    f.opt_trace = app.add_option("--trace", f.trace,
                                 "Trace to replay: CSV (arrived_at,num_prefill_tokens,num_decode_tokens; a file "
                                 "without arrived_at, lengths only, is sampled with synthetic arrivals) or Mooncake "
                                 "JSONL (timestamp,input_length,output_length,hash_ids: its prefix reuse is kept)");
    f.opt_dataset =
        app.add_option("--dataset,--dataset-name", f.dataset,
                       "random: vLLM's random dataset (--input-len/--output-len/--range-ratio/--random-prefix-len); "
                       "trace: replay --trace; empirical: lengths drawn from --trace, synthetic arrivals; "
                       "prefix_repetition, custom, sharegpt: vLLM's datasets of those names (--dataset-path)")
            ->check(CLI::IsMember({"random", "trace", "empirical", "prefix_repetition", "custom", "sharegpt"}));
    f.opt_dataset_path = app.add_option("--dataset-path", f.dataset_path,
                                        "custom: JSONL with a \"prompt\" per line; sharegpt: ShareGPT JSON");
    f.opt_random_prefix_len = app.add_option("--random-prefix-len", f.random_prefix_len,
                                             "Random dataset: tokens of one prefix shared by every prompt (added to "
                                             "the drawn input length, as vLLM does)")
                                  ->capture_default_str();
    f.opt_prefix_repetition = {
        app.add_option("--prefix-repetition-prefix-len", f.prefix_len, "prefix_repetition: tokens per prefix")
            ->capture_default_str()
            ->check(CLI::PositiveNumber),
        app.add_option("--prefix-repetition-suffix-len", f.suffix_len, "prefix_repetition: tokens per suffix")
            ->capture_default_str()
            ->check(CLI::PositiveNumber),
        app.add_option("--prefix-repetition-num-prefixes", f.num_prefixes,
                       "prefix_repetition: distinct prefixes (each gets num_prompts / num_prefixes suffixes)")
            ->capture_default_str()
            ->check(CLI::PositiveNumber),
        app.add_option("--prefix-repetition-output-len", f.prefix_output_len, "prefix_repetition: output tokens")
            ->capture_default_str()
            ->check(CLI::PositiveNumber)};
    f.opt_custom_output_len =
        app.add_option("--custom-output-len", f.custom_output_len, "custom: output tokens of every request")
            ->capture_default_str()
            ->check(CLI::PositiveNumber);
    f.opt_sharegpt_output_len =
        app.add_option("--sharegpt-output-len", f.sharegpt_output_len,
                       "sharegpt: output tokens of every request (default: each completion's token count)")
            ->check(CLI::PositiveNumber);
    f.opt_num_prompts = app.add_option("--num-prompts", f.num_prompts,
                                       "Requests: the first N of a trace (default all), or how many to draw "
                                       "(default 1000; with sessions: how many sessions)")
                            ->check(whole_number(1, std::numeric_limits<std::uint32_t>::max()));
    f.opt_session_shape = {
        app.add_option("--turns", f.turns,
                       "Multi-turn sessions: turns per session; each synthetic request starts a session whose "
                       "later turns resend the history (prompt + output) plus new tokens, each sent after the "
                       "previous turn finished and the user thought")
            ->check(whole_number(1, 100000)),
        app.add_option("--think-time", f.think_time, "Sessions: mean think time between turns, s (exponential)")
            ->check(CLI::NonNegativeNumber),
        app.add_option("--turn-new-tokens", f.turn_new_tokens, "Sessions: new user tokens of each later turn")
            ->capture_default_str()
            ->check(whole_number(1, max_tokens_flag))};
    f.opt_sessions = app.add_option("--sessions", f.sessions,
                                    "Sessions: how many (the same as --num-prompts with --turns or --sessions-from)")
                         ->check(whole_number(1, std::numeric_limits<std::uint32_t>::max()));
    f.opt_sessions_from = app.add_option("--sessions-from", f.sessions_from,
                                         "Sessions: draw turns, think times and new tokens from a Mooncake trace "
                                         "that keeps turn order (llmemu workload sessions TRACE shows the fit)");
    f.opt_workload = app.add_option("--workload", f.workload_file,
                                    "Workload spec (JSON): several clients composed (share or rate, arrivals, "
                                    "lengths, prefix pool, sessions); replaces the other workload flags");
    f.opt_input_len =
        app.add_option("--input-len,--random-input-len", f.input_len, "Random dataset: mean prompt tokens")
            ->capture_default_str()
            ->check(whole_number(1, max_tokens_flag));
    f.opt_output_len =
        app.add_option("--output-len,--random-output-len", f.output_len, "Random dataset: mean output tokens")
            ->capture_default_str()
            ->check(whole_number(1, max_tokens_flag));
    f.opt_range_ratio = app.add_option("--range-ratio,--random-range-ratio", f.range_ratio,
                                       "Random dataset: lengths uniform in [len*(1-r), len*(1+r)], r in [0, 1)")
                            ->capture_default_str();
    f.opt_output_lengths = app.add_option("--output-lengths", f.output_lengths,
                                          "Output-length model (llmemu workload fit): synthetic requests draw each "
                                          "output length from it given their prompt length");
    f.opt_rate_schedule =
        app.add_option("--rate-schedule", f.rate_schedule,
                       "Rate over time: a time,rate CSV (seconds, requests/s; linear between points) or "
                       "diurnal:MEAN[,AMPLITUDE[,PERIOD_S]]; synthetic arrivals follow it, a trace's times are "
                       "mapped onto it");
    f.opt_ramp_strategy = app.add_option("--ramp-up-strategy", f.ramp_up_strategy,
                                         "vLLM's ramp-up of synthetic arrivals from --ramp-up-start-rps to "
                                         "--ramp-up-end-rps over the requests")
                              ->check(CLI::IsMember({"linear", "exponential"}));
    f.opt_ramp_start = app.add_option("--ramp-up-start-rps", f.ramp_up_start_rps, "Ramp-up: the first request's rate");
    f.opt_ramp_end = app.add_option("--ramp-up-end-rps", f.ramp_up_end_rps, "Ramp-up: the last request's rate");
    if (with_rate) {
        f.opt_request_rate = app.add_option("--request-rate", f.request_rate,
                                            "Requests per second (inf: all at t=0). With a trace: rescale its "
                                            "arrival times to this mean rate")
                                 ->capture_default_str();
        f.opt_burstiness = app.add_option("--burstiness", f.burstiness,
                                          "Gamma shape of arrival gaps: 1 = Poisson, < 1 burstier, > 1 more regular")
                               ->capture_default_str();
    }
}

/// Parses a request rate: a positive number or "inf". Throws usage_error naming `flag`.
inline double parse_rate(std::string_view text, std::string_view flag = "--request-rate") {
    if (text == "inf" || text == "Inf" || text == "INF") return std::numeric_limits<double>::infinity();
    return parse_input_number<double, usage_error>(text, flag, "give a number of requests per second > 0, or inf",
                                                   [](double v) { return v > 0.0; });
}

/// True when the trace file has an arrived_at column (peeks at its header only).
inline bool trace_has_arrivals(const std::filesystem::path& path) {
    if (looks_like_mooncake_trace(path)) return true; // Mooncake JSONL: every line has a timestamp
    return trace_file_has_arrivals(path);
}

/// The WorkloadSpec the flags describe; `default_trace` is used when neither --trace nor
/// --dataset is given. Throws usage_error for contradictory flags (e.g. --dataset random
/// with --trace, --input-len without --dataset random, --burstiness on a replayed trace).
inline WorkloadSpec make_workload_spec(const WorkloadFlags& f, const std::filesystem::path& default_trace,
                                       std::uint64_t seed) {
    auto given = [](const CLI::Option* o) { return o != nullptr && o->count() > 0; };
    WorkloadSpec s;
    s.seed = seed;
    s.num_prompts = f.num_prompts;
    check_num_prompts_fit(f.num_prompts);
    s.input_len = f.input_len;
    s.output_len = f.output_len;
    s.range_ratio = f.range_ratio;
    s.burstiness = f.burstiness;
    const double rate = parse_rate(f.request_rate);
    if (given(f.opt_request_rate)) s.request_rate = rate;
    if (!(f.burstiness > 0.0) || !std::isfinite(f.burstiness))
        throw usage_error("--burstiness " + flag_number(f.burstiness) +
                          ": must be a finite number > 0 (1 = Poisson, < 1 burstier, > 1 more regular)");
    const bool random = f.dataset == "random";
    if (random && given(f.opt_trace))
        throw usage_error(
            "--dataset random draws synthetic requests, so --trace '" + f.trace +
            "' would be ignored; drop one of them (or use --dataset empirical to draw lengths from the trace)");
    if (!random && (given(f.opt_input_len) || given(f.opt_output_len) || given(f.opt_range_ratio)))
        throw usage_error("--input-len/--output-len/--range-ratio shape the random dataset; add --dataset random");
    if (!(f.range_ratio >= 0.0 && f.range_ratio < 1.0))
        throw usage_error("--range-ratio " + flag_number(f.range_ratio) + ": must be in [0, 1)");
    if (given(f.opt_output_lengths)) {
        if (given(f.opt_output_len))
            throw usage_error("--output-lengths '" + f.output_lengths +
                              "' draws every output length, so --output-len would be ignored; give one of them");
        s.output_lengths = f.output_lengths;
    }
    // Rates over time (vLLM's ramp-up; llmemu's schedules).
    const bool ramp = given(f.opt_ramp_strategy);
    if (!ramp && (given(f.opt_ramp_start) || given(f.opt_ramp_end)))
        throw usage_error("--ramp-up-start-rps/--ramp-up-end-rps need --ramp-up-strategy linear or exponential");
    if (ramp) {
        if (!given(f.opt_ramp_start) || !given(f.opt_ramp_end))
            throw usage_error("--ramp-up-strategy needs both --ramp-up-start-rps and --ramp-up-end-rps");
        if (given(f.opt_request_rate) && !std::isinf(rate))
            throw usage_error("--ramp-up-strategy sets the rate request by request, so --request-rate " +
                              f.request_rate + " contradicts it (vLLM refuses this too); drop --request-rate");
        if (given(f.opt_rate_schedule))
            throw usage_error("--ramp-up-strategy and --rate-schedule both set the rate over time; give one");
        if (!(f.ramp_up_start_rps > 0.0) || !(f.ramp_up_start_rps <= f.ramp_up_end_rps) ||
            !std::isfinite(f.ramp_up_end_rps))
            throw usage_error("--ramp-up-start-rps " + std::to_string(f.ramp_up_start_rps) + " / --ramp-up-end-rps " +
                              std::to_string(f.ramp_up_end_rps) +
                              ": give 0 < start <= end requests/s (vLLM refuses a rate of 0)");
        s.ramp_up = RampUp{f.ramp_up_strategy == "linear" ? RampUpStrategy::linear : RampUpStrategy::exponential,
                           f.ramp_up_start_rps, f.ramp_up_end_rps};
    }
    if (given(f.opt_rate_schedule)) {
        if (given(f.opt_request_rate) && !std::isinf(rate))
            throw usage_error("--rate-schedule sets the rate over time, so --request-rate " + f.request_rate +
                              " contradicts it; drop --request-rate");
        s.rate_schedule = f.rate_schedule;
    }
    // Multi-turn sessions.
    if (given(f.opt_workload))
        throw usage_error("--workload '" + f.workload_file +
                          "' describes the whole workload; this command takes the workload flags instead");
    bool shaped = false;
    for (const CLI::Option* o : f.opt_session_shape) shaped = shaped || given(o);
    if (given(f.opt_sessions_from)) {
        if (shaped)
            throw usage_error("--sessions-from '" + f.sessions_from +
                              "' draws turns, think times and new tokens from the trace, so --turns/--think-time/"
                              "--turn-new-tokens would be ignored; give one of them");
        s.sessions = fit_sessions(f.sessions_from).shape;
    } else if (shaped) {
        if (!given(f.opt_session_shape[0]))
            throw usage_error("--think-time/--turn-new-tokens shape multi-turn sessions; add --turns N");
        SessionShape shape;
        shape.turns = f.turns;
        shape.think_time_s = f.think_time;
        shape.new_tokens = f.turn_new_tokens;
        s.sessions = shape;
    }
    if (given(f.opt_sessions)) {
        if (!s.sessions) throw usage_error("--sessions counts multi-turn sessions; add --turns N or --sessions-from");
        if (given(f.opt_num_prompts))
            throw usage_error("--sessions and --num-prompts both count the sessions; give one of them");
        s.num_prompts = f.sessions;
    }
    if (s.sessions && (f.dataset == "custom" || f.dataset == "sharegpt"))
        throw usage_error("--turns/--sessions-from extend prompts the " + f.dataset +
                          " dataset gives as text, which sessions do not support; use --dataset random, empirical or "
                          "prefix_repetition");
    // vLLM's dataset-specific flags belong to their dataset.
    const bool pr = f.dataset == "prefix_repetition";
    const bool text = f.dataset == "custom" || f.dataset == "sharegpt";
    if (given(f.opt_random_prefix_len) && !random)
        throw usage_error("--random-prefix-len shapes the random dataset; add --dataset random");
    for (const CLI::Option* o : f.opt_prefix_repetition)
        if (given(o) && !pr)
            throw usage_error(o->get_name() + " shapes the prefix_repetition dataset; add --dataset "
                                              "prefix_repetition");
    if (given(f.opt_custom_output_len) && f.dataset != "custom")
        throw usage_error("--custom-output-len shapes the custom dataset; add --dataset custom");
    if (given(f.opt_sharegpt_output_len) && f.dataset != "sharegpt")
        throw usage_error("--sharegpt-output-len shapes the sharegpt dataset; add --dataset sharegpt");
    if (given(f.opt_dataset_path) && !text)
        throw usage_error("--dataset-path names the file of --dataset custom or sharegpt; use --trace for traces");
    if ((pr || text) && given(f.opt_trace))
        throw usage_error("--dataset " + f.dataset + " does not read --trace '" + f.trace + "'; drop one of them" +
                          (text ? " (its file is --dataset-path)" : ""));
    if (text && !given(f.opt_dataset_path))
        throw usage_error("--dataset " + f.dataset + " reads its prompts from a file; give --dataset-path FILE");
    if ((given(f.opt_custom_output_len) || given(f.opt_sharegpt_output_len)) && given(f.opt_output_lengths))
        throw usage_error("--output-lengths draws every output length, so a fixed dataset output length would be "
                          "ignored; give one of them");
    if (pr || text) {
        s.kind = pr ? WorkloadKind::prefix_repetition
                    : (f.dataset == "custom" ? WorkloadKind::custom : WorkloadKind::sharegpt);
        s.prefix_len = f.prefix_len;
        s.suffix_len = f.suffix_len;
        s.num_prefixes = f.num_prefixes;
        s.prefix_output_len = f.prefix_output_len;
        s.dataset_path = f.dataset_path;
        s.custom_output_len = f.custom_output_len;
        s.sharegpt_output_len = f.sharegpt_output_len;
        if (s.num_prompts == 0) s.num_prompts = 1000;
        return s;
    }
    if (random) {
        s.kind = WorkloadKind::random;
        s.random_prefix_len = f.random_prefix_len;
        if (s.num_prompts == 0) s.num_prompts = 1000;
        return s;
    }
    s.trace_path = given(f.opt_trace) ? std::filesystem::path(f.trace) : default_trace;
    if (s.sessions && f.dataset != "empirical")
        throw usage_error("--turns/--sessions-from shape synthetic sessions, but trace '" + s.trace_path.string() +
                          "' is replayed as recorded; add --dataset random, empirical or prefix_repetition");
    if (f.dataset == "empirical")
        s.kind = WorkloadKind::empirical;
    else if (f.dataset == "trace")
        s.kind = WorkloadKind::trace;
    else
        s.kind = trace_has_arrivals(s.trace_path) ? WorkloadKind::trace : WorkloadKind::empirical;
    if (s.kind == WorkloadKind::empirical && s.num_prompts == 0) s.num_prompts = 1000;
    if (s.kind == WorkloadKind::trace && !s.output_lengths.empty())
        throw usage_error("--output-lengths draws output lengths for synthetic requests, but trace '" +
                          s.trace_path.string() +
                          "' is replayed with its own; drop --output-lengths or add --dataset empirical");
    if (s.kind == WorkloadKind::trace && ramp)
        throw usage_error("--ramp-up-strategy shapes synthetic arrivals, but trace '" + s.trace_path.string() +
                          "' is replayed with its own; use --rate-schedule to reshape a trace's rate, or add "
                          "--dataset empirical");
    if (s.kind == WorkloadKind::trace && given(f.opt_burstiness))
        throw usage_error("--burstiness shapes synthetic arrivals, but trace '" + s.trace_path.string() +
                          "' is replayed with its own arrival times; drop --burstiness or add --dataset empirical");
    return s;
}

/// The workload of simulate's and bench's flags as a stream: a --workload spec file (no other
/// workload flag may be given with it; `spec` stays default; its clients are merged as the
/// run goes) or make_workload_spec's (into `spec`; built whole).
inline WorkloadStream load_cli_stream(const WorkloadFlags& f, const std::filesystem::path& default_trace,
                                      std::uint64_t seed, WorkloadSpec& spec) {
    if (f.opt_workload == nullptr || f.opt_workload->count() == 0) {
        spec = make_workload_spec(f, default_trace, seed);
        return WorkloadStream(build_workload(spec));
    }
    std::vector<const CLI::Option*> others = {
        f.opt_trace,         f.opt_dataset,           f.opt_input_len,         f.opt_output_len,
        f.opt_range_ratio,   f.opt_request_rate,      f.opt_burstiness,        f.opt_output_lengths,
        f.opt_dataset_path,  f.opt_random_prefix_len, f.opt_custom_output_len, f.opt_sharegpt_output_len,
        f.opt_ramp_strategy, f.opt_ramp_start,        f.opt_ramp_end,          f.opt_rate_schedule,
        f.opt_num_prompts,   f.opt_sessions,          f.opt_sessions_from};
    others.insert(others.end(), f.opt_prefix_repetition.begin(), f.opt_prefix_repetition.end());
    others.insert(others.end(), f.opt_session_shape.begin(), f.opt_session_shape.end());
    for (const CLI::Option* o : others)
        if (o != nullptr && o->count() > 0)
            throw usage_error("--workload '" + f.workload_file + "' describes the whole workload, so " + o->get_name() +
                              " would be ignored; put it in the spec's clients or drop --workload");
    spec = WorkloadSpec{};
    return stream_workload(read_workload_spec(f.workload_file), seed);
}

/// load_cli_stream's workload built whole (bench sends a list).
inline Workload load_cli_workload(const WorkloadFlags& f, const std::filesystem::path& default_trace,
                                  std::uint64_t seed, WorkloadSpec& spec) {
    WorkloadStream s = load_cli_stream(f, default_trace, seed, spec);
    return s.collect();
}

/// The latency model --profile names (`spec`), with the layer-wise flags applied and the
/// learned fallback of --fallback-model if given. Throws usage_error when a layer-wise flag
/// is given for a profile it does not apply to.
inline AnyLatencyModel make_latency_model(const EngineFlags& f, const std::string& spec) {
    auto given = [](const CLI::Option* o) { return o != nullptr && o->count() > 0; };
    const bool analytic = spec.starts_with("const:") || spec.starts_with("affine:");
    const bool layerwise = !analytic && is_layerwise_profile_dir(std::filesystem::path(spec));
    if (!layerwise) {
        if (given(f.opt_layerwise))
            throw usage_error("--layerwise-options applies to a layer-wise profile folder, but --profile '" + spec +
                              "' is not one; drop it or give a folder with meta.yaml and tp<N>/");
        if (!analytic && (given(f.opt_model_config) || given(f.opt_gpu_memory)))
            throw usage_error("--model-config/--gpu-memory-gib: the pack '" + spec +
                              "' records its own model and GPU; drop them (they apply to layer-wise and "
                              "const:/affine: profiles)");
    }
    LayerwiseSpec lw;
    if (layerwise) {
        lw.model_config = f.model_config;
        lw.options.tensor_parallel_size = f.tensor_parallel_size;
        if (given(f.opt_layerwise)) parse_layerwise_options(f.layerwise_options, lw.options);
        if (f.gpu_memory_gib > 0)
            lw.options.gpu_memory_bytes = static_cast<std::uint64_t>(f.gpu_memory_gib * 1024.0 * 1024.0 * 1024.0);
    }
    AnyLatencyModel model =
        !f.fallback_model.empty()
            ? AnyLatencyModel::from_spec_with_fallback(
                  spec, f.fallback_model,
                  f.fallback_scope == "out_of_range" ? FallbackScope::out_of_range : FallbackScope::sparse, {}, lw)
            : AnyLatencyModel::from_spec(spec, {}, lw);
    // A pack's step times were measured at one tensor-parallel size, const:/affine: model
    // one GPU: --tensor-parallel-size (as vLLM command lines give it) must say the same.
    if (!layerwise && given(f.opt_tp)) {
        const ModelConfig* mc = model.model_config();
        const std::uint32_t measured = mc != nullptr ? std::max<std::uint32_t>(mc->tensor_parallel_size, 1U) : 1U;
        if (f.tensor_parallel_size != measured)
            throw usage_error(
                "--tensor-parallel-size " + std::to_string(f.tensor_parallel_size) + ": --profile '" + spec + "' " +
                (analytic ? std::string("models one GPU")
                          : "was measured at tensor-parallel size " + std::to_string(measured)) +
                ", so its step times are for " + std::to_string(measured) + " GPU" + (measured == 1 ? "" : "s") +
                "; give " + std::to_string(measured) + ", or a layer-wise profile folder with tp" +
                std::to_string(f.tensor_parallel_size) + "/ tables");
    }
    return model;
}

/// Sizes the KV pool when --num-gpu-blocks is not given and says how, for the run's
/// header: from the profile's model config and GPU; for const:/affine: profiles from
/// --model-config and --gpu-memory-gib (both needed), else the stated default of room for
/// max_num_seqs full-length requests (so KV capacity never limits an analytic what-if).
inline std::string resolve_kv_pool(EngineConfig& c, const AnyLatencyModel& model, const EngineFlags& f) {
    auto given = [](const CLI::Option* o) { return o != nullptr && o->count() > 0; };
    auto gib = [](std::uint64_t b) { return std::to_string(static_cast<double>(b) / 1073741824.0).substr(0, 5); };
    if (c.num_gpu_blocks != 0) {
        if (given(f.opt_gpu_memory))
            throw usage_error("--num-gpu-blocks fixes the KV pool, so --gpu-memory-gib (used only to derive it) has no "
                              "effect; give one of them");
        return "";
    }
    const ModelConfig* mc = model.model_config();
    if (mc != nullptr) {
        if (mc->gpu_memory_bytes == 0)
            throw usage_error("cannot size the KV pool: the profile's GPU '" + mc->gpu_name +
                              "' has no known memory size; give --gpu-memory-gib or --num-gpu-blocks");
        c.num_gpu_blocks = resolve_num_gpu_blocks(c, mc);
        return " (derived: " + (mc->gpu_name.empty() ? std::string("GPU") : mc->gpu_name) + " " +
               gib(mc->gpu_memory_bytes) + " GiB x " + std::to_string(c.gpu_memory_utilization).substr(0, 4) + ", " +
               mc->model_name + (mc->tensor_parallel_size > 1 ? " tp" + std::to_string(mc->tensor_parallel_size) : "") +
               "; " + std::to_string(static_cast<std::uint64_t>(c.num_gpu_blocks - 1) * c.block_size) + " KV tokens)";
    }
    if (given(f.opt_model_config) != given(f.opt_gpu_memory))
        throw usage_error("--model-config and --gpu-memory-gib size the KV pool of a const:/affine: profile together; "
                          "give both, or --num-gpu-blocks");
    if (given(f.opt_model_config)) {
        ModelConfig m = load_hf_config(f.model_config);
        m.tensor_parallel_size = f.tensor_parallel_size;
        m.gpu_memory_bytes = static_cast<std::uint64_t>(f.gpu_memory_gib * 1024.0 * 1024.0 * 1024.0);
        c.num_gpu_blocks = derive_num_gpu_blocks(m, m.gpu_memory_bytes, c.gpu_memory_utilization, c.block_size);
        return " (derived: --model-config " + m.model_name + ", --gpu-memory-gib " + gib(m.gpu_memory_bytes) + " x " +
               std::to_string(c.gpu_memory_utilization).substr(0, 4) + "; " +
               std::to_string(static_cast<std::uint64_t>(c.num_gpu_blocks - 1) * c.block_size) + " KV tokens)";
    }
    c.num_gpu_blocks = analytic_num_gpu_blocks(c);
    return " (default for analytic profiles: room for max_num_seqs=" + std::to_string(c.max_num_seqs) +
           " requests of max_model_len; size it with --num-gpu-blocks, or --model-config and --gpu-memory-gib)";
}

} // namespace llmemu::cli
