// libFuzzer target for the JSON-schema reader and instance generator (json_schema.hpp),
// and the structured-output / tool-call planning of a request. Any input either is
// refused with a 4xx api_exception (bounded message, valid JSON body) or, as a schema,
// yields instances that are valid JSON, within max_instance_bytes, and valid for the
// schema by its own validator, at several seeds and token targets — never another
// exception, a crash or a sanitizer report. The input is also tried as a chat request
// body (tools, response_format, ...), planned as the server plans it.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include <pthread.h>

#include <nlohmann/json.hpp>

#include "llmemu/server/json_schema.hpp"
#include "llmemu/server/openai.hpp"

namespace {
using namespace llmemu::server;

void check_refusal(const api_exception& e) {
    const ApiError& err = e.error();
    if (err.status < 400 || err.status > 499) std::abort();
    if (err.message.size() > 4096) std::abort();
    if (!nlohmann::json::accept(err.body())) std::abort();
}

void check_schema(std::string_view text) {
    if (detail::json_nesting_depth(text, 64) > 64) return; // the server refuses such bodies first
    const nlohmann::json schema = nlohmann::json::parse(text.begin(), text.end(), nullptr, false);
    if (schema.is_discarded()) return;
    try {
        const JsonSchema s(schema, "schema");
        for (const std::uint64_t seed : {0ULL, 1ULL, 977ULL})
            for (const std::uint32_t target : {0U, 40U, 300U}) {
                const std::string instance = s.instance(seed, target);
                if (instance.size() > JsonSchema::max_instance_bytes + 65536) std::abort();
                const nlohmann::json v = nlohmann::json::parse(instance, nullptr, false);
                if (v.is_discarded()) std::abort();
                if (!s.validate(v).empty()) std::abort();
                if (instance != s.instance(seed, target)) std::abort(); // deterministic
            }
    } catch (const api_exception& e) {
        check_refusal(e);
    }
}

void check_request(std::string_view body) {
    ValidationLimits limits;
    limits.served_models = {"m"};
    limits.max_model_len = 4096;
    limits.enable_auto_tool_choice = true;
    try {
        const GenerationRequest r = parse_generation_request(body, Endpoint::chat_completions, limits);
        const auto plan = plan_scripted_outputs(r, 7);
        if (!plan.empty() && plan.size() != r.n) std::abort();
        for (const auto& o : plan) {
            std::string joined;
            for (std::size_t i = 0; i < o.pieces(); ++i) joined += o.piece(i);
            if (joined != o.text) std::abort();
            if (o.tool_call()) {
                // Parallel calls: each call's own arguments are JSON, together the whole text.
                if (o.tool_calls.size() > 1 && (!r.parallel_tool_calls || r.tool_choice == ToolChoice::named))
                    std::abort();
                std::string calls;
                for (std::size_t k = 0; k < o.tool_calls.size(); ++k) {
                    const std::string_view args = o.call_arguments(k, o.pieces());
                    if (!nlohmann::json::accept(args)) std::abort();
                    if (o.call_of(o.tool_calls[k].first_piece) != k) std::abort();
                    calls += args;
                }
                if (calls != o.text) std::abort();
            } else if (r.format != OutputFormat::choice && !nlohmann::json::accept(o.text)) {
                std::abort();
            }
        }
    } catch (const api_exception& e) {
        check_refusal(e);
    }
}

void* run(void* p) {
    const auto* text = static_cast<const std::string_view*>(p);
    check_schema(*text);
    check_request(*text);
    return nullptr;
}
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    // The server's threads have 8 MiB; 1 MiB here still shows recursion that grows with input.
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 1U << 20U);
    pthread_t thread;
    if (pthread_create(&thread, &attr, run, &text) != 0) std::abort();
    pthread_join(thread, nullptr);
    pthread_attr_destroy(&attr);
    return 0;
}
