#pragma once
/// \file load_generator.hpp
/// vLLM's benchmark method (vllm bench serve) against any OpenAI-compatible server: each
/// request is sent at its arrival time (at most `max_concurrency` in flight; later ones
/// wait for a slot, as vLLM's semaphore makes them), streamed, and timed by
/// StreamingClient exactly like vLLM's client. The timings feed metrics::summarize.

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <nlohmann/json.hpp>

#include "llmemu/config.hpp"
#include "llmemu/metrics/request_metrics.hpp"
#include "llmemu/random.hpp"
#include "llmemu/server/openai_client.hpp"
#include "llmemu/server/vocabulary.hpp"

LLMEMU_BEGIN_NAMESPACE
namespace server {

/// One request to send.
struct LoadRequest {
    /// Seconds after the start of the run.
    double arrival_s = 0;
    std::uint32_t prompt_len = 1;
    std::uint32_t output_len = 1;
};

/// How to send them.
struct LoadOptions {
    ClientApi api = ClientApi::completions;
    /// Path below the base URL ("/v1/completions" or "/v1/chat/completions").
    std::string endpoint = "/v1/completions";
    std::string model = "llmemu";
    /// Requests in flight at most (nullopt: unlimited).
    std::optional<std::uint32_t> max_concurrency;
    /// Send ignore_eos so every request generates exactly output_len tokens.
    bool ignore_eos = true;
    /// Seeds the prompt contents (unique random token ids per request, as vLLM's random
    /// dataset; no two prompts share a prefix-cache block).
    std::uint64_t seed = 0;
    /// When set, fills request `index`'s prompt token ids (prompt_len of them, for workloads
    /// that share prefixes); unset or left empty: unique random ids.
    std::function<void(std::size_t index, std::vector<std::int32_t>& ids)> prompt_ids;
    /// Called after each finished request with the number finished so far.
    std::function<void(std::size_t)> progress;
    /// When not empty, request i carries `x-request-id: <prefix><i>` (vLLM's
    /// --request-id-prefix); the server echoes it and uses it in the response id.
    std::string request_id_prefix;
    /// Extra "Name: value\r\n" header lines on every request (Authorization, --header).
    std::string headers;
    /// `logprobs` to ask for on completions requests (vLLM's --logprobs; unset: none).
    std::optional<std::uint32_t> logprobs;
};

/// What a run measured.
struct LoadResult {
    std::vector<RequestTiming> timings;  // in request order
    std::vector<StreamOutcome> outcomes; // raw client outcomes, same order
    /// First send to last completion, seconds (vLLM's benchmark_duration).
    double duration_s = 0;
};

/// The JSON body of request `index`: completions get a token-id prompt of exactly
/// prompt_len ids; chat gets synthetic words such that SyntheticVocabulary counts
/// prompt_len tokens with the chat template (prompt_len - 7 words, at least one).
inline std::string make_request_body(const LoadRequest& r, std::size_t index, const LoadOptions& o) {
    Rng rng(o.seed * 0x9E3779B97F4A7C15ULL + index + 1);
    nlohmann::json body{
        {"model", o.model}, {"temperature", 0.0}, {"stream", true}, {"stream_options", {{"include_usage", true}}}};
    if (o.ignore_eos) body["ignore_eos"] = true;
    std::vector<std::int32_t> shared;
    if (o.prompt_ids) o.prompt_ids(index, shared);
    if (o.api == ClientApi::completions) {
        std::vector<std::int32_t> ids = std::move(shared);
        if (ids.empty()) {
            ids.resize(r.prompt_len);
            for (auto& id : ids) id = static_cast<std::int32_t>(1000 + uniform_index(rng, 29000));
        }
        body["prompt"] = std::move(ids);
        body["max_tokens"] = r.output_len;
        if (o.logprobs) body["logprobs"] = *o.logprobs;
    } else {
        const std::uint32_t words = r.prompt_len > 8 ? r.prompt_len - 7 : 1;
        std::string text;
        text.reserve(words * 5);
        // Shared-prefix prompts: one word per id, so equal id prefixes give equal text prefixes.
        for (std::uint32_t i = 0; i < words; ++i)
            text += SyntheticVocabulary::token_text(
                i < shared.size() ? shared[i] : static_cast<TokenId>(uniform_index(rng, 1U << 20U)));
        body["messages"] = nlohmann::json::array({{{"role", "user"}, {"content", std::move(text)}}});
        body["max_completion_tokens"] = r.output_len;
        if (o.logprobs) {
            body["logprobs"] = true;
            body["top_logprobs"] = *o.logprobs;
        }
    }
    return body.dump();
}

/// Runs the requests on `ioc` (which must not be running elsewhere) and returns when all
/// have finished.
inline LoadResult run_load(boost::asio::io_context& ioc, StreamingClient& client, const std::vector<LoadRequest>& reqs,
                           const LoadOptions& opts) {
    using clock = std::chrono::steady_clock;
    LoadResult result;
    result.timings.resize(reqs.size());
    result.outcomes.resize(reqs.size());
    std::vector<std::size_t> order(reqs.size());
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::stable_sort(order.begin(), order.end(),
                     [&](std::size_t a, std::size_t b) { return reqs[a].arrival_s < reqs[b].arrival_s; });
    std::vector<std::string> bodies(reqs.size());
    for (std::size_t i = 0; i < reqs.size(); ++i) bodies[i] = make_request_body(reqs[i], i, opts);

    const auto t0 = clock::now();
    auto last_done = t0;
    std::size_t next = 0; // into order
    std::size_t in_flight = 0;
    std::size_t finished = 0;
    std::deque<std::size_t> ready;
    boost::asio::steady_timer timer(ioc);
    const std::size_t limit = opts.max_concurrency ? std::max<std::uint32_t>(*opts.max_concurrency, 1U) : SIZE_MAX;

    std::function<void()> dispatch;
    std::function<void()> arm;
    dispatch = [&] {
        while (!ready.empty() && in_flight < limit) {
            const std::size_t i = ready.front();
            ready.pop_front();
            ++in_flight;
            std::string headers = opts.headers;
            if (!opts.request_id_prefix.empty())
                headers += "x-request-id: " + opts.request_id_prefix + std::to_string(i) + "\r\n";
            client.post(
                opts.endpoint, std::move(bodies[i]), opts.api,
                [&, i](StreamOutcome o) {
                    const auto now = clock::now();
                    last_done = std::max(last_done, now);
                    // With ignore_eos the server owes exactly output_len tokens: fewer is a failure
                    // (a stream cut short), as it would be for vllm bench serve's users.
                    if (o.success && opts.ignore_eos && o.output_tokens < reqs[i].output_len) {
                        o.success = false;
                        o.error = "the stream ended after " + std::to_string(o.output_tokens) + " of " +
                                  std::to_string(reqs[i].output_len) + " tokens (finish_reason \"" + o.finish_reason +
                                  "\")";
                    }
                    RequestTiming t;
                    t.success = o.success;
                    t.start_time_s = std::chrono::duration<double>(o.start - t0).count();
                    t.ttft_s = o.ttft_s;
                    t.itl_s = o.itl_s;
                    t.latency_s = o.latency_s;
                    t.prompt_len = reqs[i].prompt_len;
                    t.output_len = o.success ? o.output_tokens : 0;
                    t.error = o.error;
                    result.timings[i] = std::move(t);
                    result.outcomes[i] = std::move(o);
                    --in_flight;
                    ++finished;
                    if (opts.progress) opts.progress(finished);
                    dispatch();
                },
                headers);
        }
    };
    arm = [&] {
        const auto now = clock::now();
        while (next < order.size() && t0 + std::chrono::duration_cast<clock::duration>(
                                               std::chrono::duration<double>(reqs[order[next]].arrival_s)) <=
                                          now)
            ready.push_back(order[next++]);
        dispatch();
        if (next < order.size()) {
            timer.expires_at(t0 + std::chrono::duration_cast<clock::duration>(
                                      std::chrono::duration<double>(reqs[order[next]].arrival_s)));
            timer.async_wait([&](const boost::system::error_code& ec) {
                if (!ec) arm();
            });
        }
    };
    arm();
    ioc.restart();
    ioc.run();
    result.duration_s = std::chrono::duration<double>(last_done - t0).count();
    return result;
}

} // namespace server
LLMEMU_END_NAMESPACE
