// libFuzzer target for the OpenAI request decoder (parse_generation_request) on both
// endpoints: any body either decodes into a request within the server's limits or is
// refused with an api_exception whose message is bounded and whose error body is valid
// JSON — never another exception, a crash or a sanitizer report. The decoder runs on a
// thread with a 64 KiB stack, so recursion that grows with the input's nesting (which
// overflowed the server's 8 MiB stack at 100,000 levels) shows up within -max_len bytes.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include <pthread.h>

#include <nlohmann/json.hpp>

#include "llmemu/server/openai.hpp"

namespace {
struct Input {
    std::string_view body;
};

void check(std::string_view body, llmemu::server::Endpoint endpoint) {
    using namespace llmemu::server;
    ValidationLimits limits;
    limits.served_models = {"m", "llmemu"};
    limits.max_model_len = 4096;
    try {
        const GenerationRequest r = parse_generation_request(body, endpoint, limits);
        if (r.prompt_len == 0 || r.prompt_len != r.prompt_tokens.size() || r.prompt_len >= limits.max_model_len)
            std::abort();
        if (r.max_tokens == 0 || r.max_tokens > limits.max_model_len - r.prompt_len || r.min_tokens > r.max_tokens)
            std::abort();
        if (r.n < 1 || r.n > limits.max_n) std::abort();
        if (r.logprobs && *r.logprobs > limits.max_logprobs) std::abort();
        for (const auto& stop : r.stop)
            if (stop.empty() || stop.size() > 1024) std::abort();
        if (r.priority != 0 && !limits.priority_scheduling) std::abort();
    } catch (const api_exception& e) {
        const ApiError& err = e.error();
        if (err.status < 400 || err.status > 499) std::abort();
        if (err.message.size() > 2048) std::abort(); // echoed input must be cut
        if (!nlohmann::json::accept(err.body())) std::abort();
    }
}

void* run(void* p) {
    const auto* in = static_cast<const Input*>(p);
    check(in->body, llmemu::server::Endpoint::completions);
    check(in->body, llmemu::server::Endpoint::chat_completions);
    return nullptr;
}
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    Input in{std::string_view(reinterpret_cast<const char*>(data), size)};
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 64U * 1024U);
    pthread_t thread;
    if (pthread_create(&thread, &attr, run, &in) != 0) std::abort();
    pthread_join(thread, nullptr);
    pthread_attr_destroy(&attr);
    return 0;
}
