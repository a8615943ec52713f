#pragma once
/// \file openai.hpp
/// OpenAI-compatible request parsing and validation, response and stream-chunk
/// formatting, and OpenAI-style error objects, for /v1/completions and
/// /v1/chat/completions. Independent of the HTTP layer (testable on plain strings).

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "llmemu/config.hpp"
#include "llmemu/error.hpp"
#include "llmemu/executor/step.hpp"
#include "llmemu/server/vocabulary.hpp"

LLMEMU_BEGIN_NAMESPACE
namespace server {

/// Which OpenAI endpoint a request came in on.
enum class Endpoint { completions, chat_completions };

/// An OpenAI-style error: HTTP status plus the `{"error": {message, type, param, code}}` body.
struct ApiError {
    int status = 400;
    std::string message;
    std::string type = "invalid_request_error";
    std::string param; // empty -> null
    std::string code;  // empty -> null
    /// vLLM's body: `code` is the HTTP status as a number (e.g. the unknown-model 404).
    bool numeric_code = false;

    /// The JSON body clients expect (openai-python / openai-node parse `error.message`).
    /// Never throws on odd bytes: invalid UTF-8 in the message becomes U+FFFD.
    [[nodiscard]] std::string body() const {
        nlohmann::json e{{"message", message},
                         {"type", type},
                         {"param", param.empty() ? nlohmann::json(nullptr) : nlohmann::json(param)},
                         {"code", numeric_code   ? nlohmann::json(status)
                                  : code.empty() ? nlohmann::json(nullptr)
                                                 : nlohmann::json(code)}};
        return nlohmann::json{{"error", std::move(e)}}.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    }
};

/// Echoes client input into a message: at most `max_bytes` of it, control bytes,
/// backslashes and bytes outside printable ASCII written as \xNN, and "..." when cut.
/// The result is plain ASCII, so it is safe in any JSON string, log line or header.
[[nodiscard]] inline std::string echo_input(std::string_view s, std::size_t max_bytes = 64) {
    static constexpr char hex[] = "0123456789abcdef";
    std::string out;
    out.reserve(std::min(s.size(), max_bytes) + 8);
    const std::size_t n = std::min(s.size(), max_bytes);
    for (std::size_t i = 0; i < n; ++i) {
        const auto u = static_cast<unsigned char>(s[i]);
        if (u >= 0x20 && u < 0x7f && u != '\\') {
            out += static_cast<char>(u);
        } else {
            out += "\\x";
            out += hex[u >> 4U];
            out += hex[u & 15U];
        }
    }
    if (s.size() > max_bytes) out += "...";
    return out;
}

/// Thrown by the parser for a request the server must refuse; carries the response.
class api_exception : public request_error {
public:
    explicit api_exception(ApiError e) : request_error(e.message), m_error(std::move(e)) {}
    [[nodiscard]] const ApiError& error() const noexcept { return m_error; }

private:
    ApiError m_error;
};

namespace detail {
[[noreturn, gnu::cold, gnu::noinline]] inline void throw_api(int status, std::string message, std::string param = {},
                                                             std::string code = "invalid_value",
                                                             std::string type = "invalid_request_error") {
    throw api_exception(ApiError{status, std::move(message), std::move(type), std::move(param), std::move(code)});
}
} // namespace detail

/// Server-side facts the validator checks requests against.
struct ValidationLimits {
    /// Model names this server answers to (the first is the canonical name).
    std::vector<std::string> served_models{"llmemu"};
    std::uint32_t max_model_len = 4096;
    /// `max_tokens` when a /v1/completions request gives none (OpenAI's default).
    std::uint32_t default_completion_max_tokens = 16;
    /// Deepest nesting of arrays/objects a body may have (deeper: 400 before parsing).
    std::size_t max_json_depth = 64;
    /// The engine orders by `priority` (vLLM's --scheduling-policy priority); when false a
    /// nonzero priority is refused, as vLLM refuses it.
    bool priority_scheduling = false;
    /// Streams always end with a usage chunk (vLLM's --enable-force-include-usage).
    bool force_include_usage = false;
    /// Most logprobs / top_logprobs a request may ask for (vLLM's --max-logprobs).
    std::uint32_t max_logprobs = 20;
    /// Largest `n` (choices per request) accepted.
    std::int64_t max_n = 128;
    /// `tool_choice: "auto"` (the default when `tools` are given) is served; vLLM needs
    /// --enable-auto-tool-choice and --tool-call-parser for it, else refuses it.
    bool enable_auto_tool_choice = false;
    /// `tool_choice: "none"` leaves the tools out of the prompt (vLLM's
    /// --exclude-tools-when-tool-choice-none).
    bool exclude_tools_when_tool_choice_none = false;
};

/// What a choice's text is made of: the synthetic vocabulary, or a JSON instance
/// (response_format json_object / json_schema, guided_json, structured_outputs.json),
/// or one of a list of strings (guided_choice / structured_outputs.choice).
enum class OutputFormat { text, json_object, json_schema, choice };

/// OpenAI's tool_choice on /v1/chat/completions.
enum class ToolChoice { none, automatic, required, named };

/// One entry of `tools` (type function).
struct ToolSpec {
    std::string name;
    /// The function's `parameters` JSON schema (an empty object when absent).
    nlohmann::json parameters = nlohmann::json::object();
};

/// A validated generation request, ready for the engine.
struct GenerationRequest {
    Endpoint endpoint = Endpoint::completions;
    std::string model;
    bool stream = false;
    bool include_usage = false;
    bool continuous_usage = false;
    /// Exact for token-id prompts; by SyntheticVocabulary's rule for text.
    std::uint32_t prompt_len = 0;
    std::vector<TokenId> prompt_tokens;
    std::uint32_t max_tokens = 16;
    std::uint32_t min_tokens = 0;
    bool ignore_eos = false;
    int priority = 0;
    /// Choices to generate (OpenAI's `n`): one engine request each.
    std::uint32_t n = 1;
    /// Generation stops when the text contains one of these (not included in the output
    /// unless include_stop_str_in_output), or at one of stop_token_ids; both only after
    /// min_tokens, as vLLM.
    std::vector<std::string> stop;
    std::vector<TokenId> stop_token_ids;
    bool include_stop_str_in_output = false;
    /// Synthetic logprobs: the number of top alternatives per token (completions'
    /// `logprobs`, chat's `top_logprobs` with `logprobs: true`); unset = none.
    std::optional<std::uint32_t> logprobs;
    /// The request's `seed` (instances and tool choices are deterministic per seed).
    std::optional<std::int64_t> seed;
    /// Structured output: the format, its schema (json_schema) or strings (choice), and
    /// the field it came from (named in errors).
    OutputFormat format = OutputFormat::text;
    nlohmann::json format_spec;
    std::string format_param;
    /// Tools (chat): the functions offered, the choice, the named function, and whether
    /// the conversation ends with a tool result (then `auto` answers in text).
    std::vector<ToolSpec> tools;
    ToolChoice tool_choice = ToolChoice::none;
    std::string tool_name;
    bool last_message_is_tool = false;
    /// vLLM's parallel_tool_calls (default true): auto / required may make several calls;
    /// false keeps one (vLLM keeps only the first, index 0).
    bool parallel_tool_calls = true;
};

/// The unknown-model answer, vLLM's text and body (HTTP 404, NotFoundError).
[[nodiscard]] inline ApiError model_not_found(std::string_view model) {
    ApiError e{404, "The model `" + echo_input(model) + "` does not exist.", "NotFoundError", {}, {}};
    e.numeric_code = true;
    return e;
}

namespace detail {

inline std::string type_name(const nlohmann::json& v) {
    switch (v.type()) {
    case nlohmann::json::value_t::null:
        return "null";
    case nlohmann::json::value_t::boolean:
        return "a boolean";
    case nlohmann::json::value_t::string:
        return "a string";
    case nlohmann::json::value_t::array:
        return "an array";
    case nlohmann::json::value_t::object:
        return "an object";
    case nlohmann::json::value_t::number_float:
        return "a float";
    default:
        return "an integer";
    }
}

// A short, non-recursive description of a JSON value for error messages: a number or
// literal as written, a string (echoed, cut), or the kind and size of a container (never
// its contents: a body may nest containers thousands deep).
inline std::string brief(const nlohmann::json& v) {
    switch (v.type()) {
    case nlohmann::json::value_t::string:
        return "\"" + echo_input(v.get_ref<const std::string&>(), 40) + "\"";
    case nlohmann::json::value_t::array:
        return "an array of " + std::to_string(v.size());
    case nlohmann::json::value_t::object:
        return "an object of " + std::to_string(v.size()) + " keys";
    default:
        return echo_input(v.dump(), 40);
    }
}

// Deepest nesting of arrays/objects in a JSON text (strings skipped), stopping as soon as
// `limit` is exceeded; a cheap pre-pass so that no later step (parse, error messages,
// destruction) ever recurses that deep.
inline std::size_t json_nesting_depth(std::string_view text, std::size_t limit) noexcept {
    std::size_t depth = 0, deepest = 0;
    bool in_string = false;
    for (std::size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (in_string) {
            if (c == '\\')
                ++i;
            else if (c == '"')
                in_string = false;
        } else if (c == '"') {
            in_string = true;
        } else if (c == '[' || c == '{') {
            if (++depth > deepest) {
                deepest = depth;
                if (deepest > limit) return deepest;
            }
        } else if ((c == ']' || c == '}') && depth > 0) {
            --depth;
        }
    }
    return deepest;
}

// Integer-valued number (1, 1.0) in [lo, hi], or nullopt when absent/null.
inline std::optional<std::int64_t> get_int(const nlohmann::json& body, const char* key, std::int64_t lo,
                                           std::int64_t hi) {
    const auto it = body.find(key);
    if (it == body.end() || it->is_null()) return std::nullopt;
    double v = 0;
    if (it->is_number_integer()) {
        if (it->is_number_unsigned()) {
            const auto u = it->get<std::uint64_t>();
            if (u > static_cast<std::uint64_t>(hi) || (lo > 0 && u < static_cast<std::uint64_t>(lo)))
                throw_api(400,
                          std::string("'") + key + "' is " + std::to_string(u) + "; it must be in [" +
                              std::to_string(lo) + ", " + std::to_string(hi) + "]",
                          key);
            return static_cast<std::int64_t>(u);
        }
        v = static_cast<double>(it->get<std::int64_t>());
    } else if (it->is_number_float()) {
        v = it->get<double>();
        if (!std::isfinite(v) || v != std::floor(v))
            throw_api(400, std::string("'") + key + "' must be an integer, got " + brief(*it), key, "invalid_type");
    } else {
        throw_api(400, std::string("'") + key + "' must be an integer, got " + type_name(*it), key, "invalid_type");
    }
    if (v < static_cast<double>(lo) || v > static_cast<double>(hi))
        throw_api(400,
                  std::string("'") + key + "' is " + brief(*it) + "; it must be in [" + std::to_string(lo) + ", " +
                      std::to_string(hi) + "]",
                  key);
    return static_cast<std::int64_t>(v);
}

inline std::optional<bool> get_bool(const nlohmann::json& body, const char* key) {
    const auto it = body.find(key);
    if (it == body.end() || it->is_null()) return std::nullopt;
    if (!it->is_boolean())
        throw_api(400, std::string("'") + key + "' must be a boolean, got " + type_name(*it), key, "invalid_type");
    return it->get<bool>();
}

inline void check_number(const nlohmann::json& body, const char* key) {
    const auto it = body.find(key);
    if (it == body.end() || it->is_null()) return;
    if (!it->is_number())
        throw_api(400, std::string("'") + key + "' must be a number, got " + type_name(*it), key, "invalid_type");
}

// Token ids: a non-empty array of non-negative integers.
inline void read_token_ids(const nlohmann::json& arr, std::vector<TokenId>& out) {
    out.reserve(arr.size());
    for (const auto& t : arr) {
        if (!t.is_number_integer() || t.get<std::int64_t>() < 0 ||
            t.get<std::int64_t>() > std::numeric_limits<TokenId>::max())
            throw_api(400, "'prompt' token ids must be non-negative 32-bit integers, got " + brief(t), "prompt",
                      "invalid_type");
        out.push_back(static_cast<TokenId>(t.get<std::int64_t>()));
    }
}

inline void read_prompt(const nlohmann::json& body, GenerationRequest& r) {
    const auto it = body.find("prompt");
    if (it == body.end() || it->is_null())
        throw_api(400, "'prompt' is required (a string, or a list of token ids)", "prompt",
                  "missing_required_parameter");
    const nlohmann::json* p = &*it;
    if (p->is_array() && !p->empty() && (p->front().is_string() || p->front().is_array())) {
        if (p->size() != 1)
            throw_api(400,
                      "'prompt' holds " + std::to_string(p->size()) +
                          " prompts; batched prompts are not supported, send one prompt per request",
                      "prompt", "unsupported_parameter");
        p = &p->front();
    }
    if (p->is_string()) {
        SyntheticVocabulary::tokenize(p->get_ref<const std::string&>(), r.prompt_tokens);
    } else if (p->is_array()) {
        read_token_ids(*p, r.prompt_tokens);
    } else {
        throw_api(400, "'prompt' must be a string or a list of token ids, got " + type_name(*p), "prompt",
                  "invalid_type");
    }
}

// ChatML-like template: <|im_start|> role \n content <|im_end|> per message (4 tokens of
// overhead) and <|im_start|> assistant \n to prime the reply (3 tokens).
inline void read_messages(const nlohmann::json& body, GenerationRequest& r) {
    const auto it = body.find("messages");
    if (it == body.end() || it->is_null())
        throw_api(400, "'messages' is required (a non-empty list of {role, content})", "messages",
                  "missing_required_parameter");
    if (!it->is_array() || it->empty())
        throw_api(400, "'messages' must be a non-empty list of {role, content}", "messages", "invalid_type");
    constexpr TokenId im_start = SyntheticVocabulary::id_space + 1;
    constexpr TokenId im_end = SyntheticVocabulary::id_space + 2;
    constexpr TokenId newline = SyntheticVocabulary::id_space + 3;
    auto role_id = [](std::string_view role) -> TokenId {
        static constexpr std::string_view roles[] = {"system", "user", "assistant", "tool", "developer", "function"};
        for (std::size_t i = 0; i < std::size(roles); ++i)
            if (roles[i] == role) return SyntheticVocabulary::id_space + 10 + static_cast<TokenId>(i);
        return -1;
    };
    std::size_t index = 0;
    for (const auto& m : *it) {
        const std::string param = "messages[" + std::to_string(index++) + "]";
        if (!m.is_object()) throw_api(400, "'" + param + "' must be an object {role, content}", param, "invalid_type");
        const auto role = m.find("role");
        if (role == m.end() || !role->is_string())
            throw_api(400, "'" + param + ".role' is required and must be a string", param + ".role", "invalid_type");
        const TokenId rid = role_id(role->get_ref<const std::string&>());
        if (rid < 0)
            throw_api(400,
                      "'" + param + ".role' is '" + echo_input(role->get_ref<const std::string&>(), 32) +
                          "'; expected system, user, assistant, tool or developer",
                      param + ".role");
        r.prompt_tokens.push_back(im_start);
        r.prompt_tokens.push_back(rid);
        r.prompt_tokens.push_back(newline);
        const auto content = m.find("content");
        if (content == m.end() || content->is_null()) {
            if (role->get_ref<const std::string&>() != "assistant")
                throw_api(400, "'" + param + ".content' is required", param + ".content", "missing_required_parameter");
        } else if (content->is_string()) {
            SyntheticVocabulary::tokenize(content->get_ref<const std::string&>(), r.prompt_tokens);
        } else if (content->is_array()) {
            for (const auto& part : *content) {
                const auto type = part.is_object() ? part.find("type") : part.end();
                const auto text = part.is_object() ? part.find("text") : part.end();
                if (!part.is_object() || type == part.end() || !type->is_string() ||
                    type->get_ref<const std::string&>() != "text" || text == part.end() || !text->is_string())
                    throw_api(400,
                              "'" + param +
                                  ".content' parts must be {\"type\": \"text\", \"text\": ...}; the emulator "
                                  "serves text only",
                              param + ".content", "invalid_type");
                SyntheticVocabulary::tokenize(text->get_ref<const std::string&>(), r.prompt_tokens);
            }
        } else {
            throw_api(400,
                      "'" + param + ".content' must be a string or a list of text parts, got " + type_name(*content),
                      param + ".content", "invalid_type");
        }
        r.prompt_tokens.push_back(im_end);
    }
    r.prompt_tokens.push_back(im_start);
    r.prompt_tokens.push_back(role_id("assistant"));
    r.prompt_tokens.push_back(newline);
}

inline void reject_if_present(const nlohmann::json& body, const char* key, const std::string& why) {
    const auto it = body.find(key);
    if (it == body.end() || it->is_null()) return;
    const bool empty = (it->is_string() && it->get_ref<const std::string&>().empty()) ||
                       (it->is_array() && it->empty()) || (it->is_boolean() && !it->get<bool>());
    if (!empty) throw_api(400, std::string("'") + key + "' is not supported: " + why, key, "unsupported_parameter");
}

// response_format (OpenAI), guided_json / guided_choice (vLLM <= 0.11) and
// structured_outputs (vLLM 0.11+): at most one; regex and grammar forms are refused.
inline void read_output_format(const nlohmann::json& body, GenerationRequest& r) {
    auto set = [&r](OutputFormat f, nlohmann::json spec, std::string param) {
        if (r.format != OutputFormat::text)
            throw_api(400,
                      "'" + param + "' and '" + r.format_param + "' both ask for a structured output; give only one",
                      param, "invalid_value");
        r.format = f;
        r.format_spec = std::move(spec);
        r.format_param = std::move(param);
    };
    // A schema sent as a string (vLLM allows it) gets the body's nesting limit too, so no
    // later step (copies, comparisons, dumps) recurses deeper than a body could.
    auto schema_text = [](const std::string& text, const std::string& param) {
        if (json_nesting_depth(text, 64) > 64)
            throw_api(400, "'" + param + "' nests arrays/objects more than 64 levels deep; flatten the schema", param,
                      "invalid_json");
        try {
            return nlohmann::json::parse(text);
        } catch (const nlohmann::json::exception&) {
            throw_api(400, "'" + param + "' is a string but not a JSON schema", param, "invalid_value");
        }
    };
    auto choice_list = [](const nlohmann::json& v, const std::string& param) {
        if (!v.is_array() || v.empty() || v.size() > 1024)
            throw_api(400, "'" + param + "' must be a list of 1 to 1024 strings", param, "invalid_type");
        for (const auto& c : v)
            if (!c.is_string())
                throw_api(400, "'" + param + "' must hold strings, got " + brief(c), param, "invalid_type");
        return v;
    };
    if (const auto it = body.find("response_format"); it != body.end() && !it->is_null()) {
        const auto t = it->is_object() ? it->find("type") : it->end();
        if (!it->is_object() || t == it->end() || !t->is_string())
            throw_api(400, "'response_format' must be an object with a 'type' (text, json_object or json_schema)",
                      "response_format", "invalid_type");
        const auto& type = t->get_ref<const std::string&>();
        if (type == "json_object") {
            set(OutputFormat::json_object, nullptr, "response_format");
        } else if (type == "json_schema") {
            const auto js = it->find("json_schema");
            if (js == it->end() || !js->is_object())
                throw_api(400,
                          "'response_format.json_schema' is required with type json_schema (an object with 'schema')",
                          "response_format.json_schema", "missing_required_parameter");
            const auto schema = js->find("schema");
            if (schema == js->end() || schema->is_null())
                throw_api(400, "'response_format.json_schema.schema' is required", "response_format.json_schema.schema",
                          "missing_required_parameter");
            set(OutputFormat::json_schema, *schema, "response_format.json_schema.schema");
        } else if (type != "text") {
            throw_api(400,
                      "'response_format.type' is '" + echo_input(type, 32) +
                          "'; llmemu serves text, json_object and json_schema",
                      "response_format.type", type == "structural_tag" ? "unsupported_parameter" : "invalid_value");
        }
    }
    if (const auto it = body.find("guided_json"); it != body.end() && !it->is_null()) {
        set(OutputFormat::json_schema,
            it->is_string() ? schema_text(it->get_ref<const std::string&>(), "guided_json") : *it, "guided_json");
    }
    if (const auto it = body.find("guided_choice"); it != body.end() && !it->is_null())
        set(OutputFormat::choice, choice_list(*it, "guided_choice"), "guided_choice");
    for (const char* key : {"guided_regex", "guided_grammar"})
        reject_if_present(body, key, "regex and grammar outputs are not emulated; use guided_json or guided_choice");
    if (const auto it = body.find("structured_outputs"); it != body.end() && !it->is_null()) {
        if (!it->is_object())
            throw_api(400, "'structured_outputs' must be an object", "structured_outputs", "invalid_type");
        for (const auto& [key, value] : it->items()) {
            if (value.is_null()) continue;
            const std::string param = "structured_outputs." + key;
            if (key == "json") {
                set(OutputFormat::json_schema,
                    value.is_string() ? schema_text(value.get_ref<const std::string&>(), param) : value, param);
            } else if (key == "json_object") {
                if (!value.is_boolean()) throw_api(400, "'" + param + "' must be a boolean", param, "invalid_type");
                if (value.get<bool>()) set(OutputFormat::json_object, nullptr, param);
            } else if (key == "choice") {
                set(OutputFormat::choice, choice_list(value, param), param);
            } else if (key == "disable_fallback" || key == "disable_any_whitespace" ||
                       key == "disable_additional_properties" || key == "whitespace_pattern") {
                continue; // decoding-backend options: no decoder here, the output is valid already
            } else {
                throw_api(400,
                          "'" + echo_input(param, 48) +
                              "' is not supported: llmemu emulates json, json_object and choice structured outputs "
                              "(regex, grammar and structural_tag are not emulated)",
                          param, "unsupported_parameter");
            }
        }
    }
}

// The member `key` of an object, else nullptr (also for a non-object).
inline const nlohmann::json* member(const nlohmann::json& v, const char* key) {
    if (!v.is_object()) return nullptr;
    const auto it = v.find(key);
    return it == v.end() ? nullptr : &*it;
}

// tools / tool_choice (chat), vLLM's rules: tool_choice defaults to "auto" when tools
// are given (and "auto" needs --enable-auto-tool-choice); a tool_choice other than
// "none" needs tools; a named tool must be among them.
inline void read_tools(const nlohmann::json& body, GenerationRequest& r, const ValidationLimits& limits) {
    const auto tools = body.find("tools");
    const bool have_tools = tools != body.end() && !tools->is_null();
    if (have_tools) {
        if (!tools->is_array())
            throw_api(400, "'tools' must be a list of {\"type\": \"function\", \"function\": {...}}", "tools",
                      "invalid_type");
        for (std::size_t i = 0; i < tools->size(); ++i) {
            const auto& t = (*tools)[i];
            const std::string param = "tools[" + std::to_string(i) + "]";
            const auto type = t.is_object() ? t.find("type") : t.end();
            if (!t.is_object() || type == t.end() || *type != "function")
                throw_api(400, "'" + param + "' must be {\"type\": \"function\", \"function\": {...}}", param,
                          "invalid_type");
            const nlohmann::json* fn = member(t, "function");
            const nlohmann::json* name = fn != nullptr ? member(*fn, "name") : nullptr;
            if (fn == nullptr || name == nullptr || !name->is_string() || name->get_ref<const std::string&>().empty())
                throw_api(400, "'" + param + ".function.name' is required (a non-empty string)", param + ".function",
                          "missing_required_parameter");
            ToolSpec spec;
            spec.name = name->get<std::string>();
            if (const nlohmann::json* p = member(*fn, "parameters"); p != nullptr && !p->is_null()) {
                if (!p->is_object())
                    throw_api(400, "'" + param + ".function.parameters' must be a JSON schema object",
                              param + ".function.parameters", "invalid_type");
                spec.parameters = *p;
            }
            r.tools.push_back(std::move(spec));
        }
    }
    const auto choice = body.find("tool_choice");
    if (choice == body.end() || choice->is_null()) {
        r.tool_choice = have_tools && !r.tools.empty() ? ToolChoice::automatic : ToolChoice::none;
    } else if (choice->is_string()) {
        const auto& c = choice->get_ref<const std::string&>();
        if (c == "none")
            r.tool_choice = ToolChoice::none;
        else if (c == "auto")
            r.tool_choice = ToolChoice::automatic;
        else if (c == "required")
            r.tool_choice = ToolChoice::required;
        else
            throw_api(400,
                      "'tool_choice' is '" + echo_input(c, 32) +
                          "'; expected none, auto, required or {\"type\": \"function\", \"function\": {\"name\": ...}}",
                      "tool_choice");
    } else if (choice->is_object()) {
        const nlohmann::json* fn = member(*choice, "function");
        const nlohmann::json* name = fn != nullptr ? member(*fn, "name") : nullptr;
        if (name == nullptr || !name->is_string())
            throw_api(400,
                      "'tool_choice' must name a function: {\"type\": \"function\", \"function\": {\"name\": ...}}",
                      "tool_choice", "invalid_type");
        r.tool_choice = ToolChoice::named;
        r.tool_name = name->get<std::string>();
    } else {
        throw_api(400, "'tool_choice' must be a string or an object, got " + type_name(*choice), "tool_choice",
                  "invalid_type");
    }
    if (r.tool_choice != ToolChoice::none && r.tools.empty())
        throw_api(400, "When using `tool_choice`, `tools` must be set.", "tool_choice");
    if (r.tool_choice == ToolChoice::named &&
        std::none_of(r.tools.begin(), r.tools.end(), [&r](const ToolSpec& t) { return t.name == r.tool_name; }))
        throw_api(400, "The tool specified in `tool_choice` does not match any of the specified `tools`",
                  "tool_choice");
    if (r.tool_choice == ToolChoice::automatic && !limits.enable_auto_tool_choice)
        throw_api(400, "\"auto\" tool choice requires --enable-auto-tool-choice and --tool-call-parser to be set",
                  "tool_choice");
    if (const auto p = body.find("parallel_tool_calls"); p != body.end() && !p->is_null()) {
        if (!p->is_boolean())
            throw_api(400, "'parallel_tool_calls' must be a boolean", "parallel_tool_calls", "invalid_type");
        r.parallel_tool_calls = p->get<bool>();
    }
}

} // namespace detail

/// Parses and validates one request body. Throws api_exception (status 400) with an
/// OpenAI-style error for malformed JSON, wrong types, missing fields, unsupported
/// parameters, an unknown model, and prompts or `max_tokens` beyond `max_model_len`.
inline GenerationRequest parse_generation_request(std::string_view body_text, Endpoint endpoint,
                                                  const ValidationLimits& limits) {
    using detail::throw_api;
    if (const auto depth = detail::json_nesting_depth(body_text, limits.max_json_depth); depth > limits.max_json_depth)
        throw_api(400,
                  "request body nests arrays/objects more than " + std::to_string(limits.max_json_depth) +
                      " levels deep; flatten it (a prompt is a string or a flat list of token ids)",
                  {}, "invalid_json");
    nlohmann::json body;
    try {
        body = nlohmann::json::parse(body_text.begin(), body_text.end());
    } catch (const nlohmann::json::exception& e) {
        // parse_error, and out_of_range for a number beyond double (1e400). The parser's
        // message quotes the offending bytes (maybe invalid UTF-8): echo them escaped.
        throw_api(400, "request body is not valid JSON: " + echo_input(e.what(), 200), {}, "invalid_json");
    }
    if (!body.is_object())
        throw_api(400, "request body must be a JSON object, got " + detail::type_name(body), {}, "invalid_type");

    GenerationRequest r;
    r.endpoint = endpoint;
    const auto model = body.find("model");
    if (model == body.end() || model->is_null())
        throw_api(400, "'model' is required", "model", "missing_required_parameter");
    if (!model->is_string())
        throw_api(400, "'model' must be a string, got " + detail::type_name(*model), "model", "invalid_type");
    r.model = model->get<std::string>();
    if (std::find(limits.served_models.begin(), limits.served_models.end(), r.model) == limits.served_models.end())
        throw api_exception(model_not_found(r.model));

    r.n = static_cast<std::uint32_t>(detail::get_int(body, "n", 1, limits.max_n).value_or(1));
    if (const auto b = detail::get_int(body, "best_of", std::numeric_limits<std::int64_t>::min(),
                                       std::numeric_limits<std::int64_t>::max());
        b && *b != 1)
        throw_api(400, "'best_of' is " + std::to_string(*b) + "; only best_of = 1 is supported", "best_of",
                  "unsupported_parameter");
    if (const auto it = body.find("stop"); it != body.end() && !it->is_null()) {
        auto add = [&r](const nlohmann::json& v) {
            if (!v.is_string())
                throw_api(400, "'stop' must be a string or a list of strings, got " + detail::brief(v), "stop",
                          "invalid_type");
            if (!v.get_ref<const std::string&>().empty()) r.stop.push_back(v.get<std::string>());
        };
        if (it->is_array()) {
            if (it->size() > 64)
                throw_api(400, "'stop' lists " + std::to_string(it->size()) + " strings; at most 64", "stop");
            for (const auto& v : *it) add(v);
        } else {
            add(*it);
        }
        for (const auto& st : r.stop)
            if (st.size() > 1024) throw_api(400, "a 'stop' string is longer than 1024 bytes", "stop");
    }
    if (const auto it = body.find("stop_token_ids"); it != body.end() && !it->is_null()) {
        if (!it->is_array() || it->size() > 1024)
            throw_api(400, "'stop_token_ids' must be a list of at most 1024 token ids", "stop_token_ids",
                      "invalid_type");
        for (const auto& t : *it) {
            if (!t.is_number_integer() || t.get<std::int64_t>() < 0 ||
                t.get<std::int64_t>() > std::numeric_limits<TokenId>::max())
                throw_api(400, "'stop_token_ids' must hold non-negative 32-bit integers, got " + detail::brief(t),
                          "stop_token_ids", "invalid_type");
            r.stop_token_ids.push_back(static_cast<TokenId>(t.get<std::int64_t>()));
        }
    }
    r.include_stop_str_in_output = detail::get_bool(body, "include_stop_str_in_output").value_or(false);
    detail::reject_if_present(body, "echo", "echo is not supported");
    detail::reject_if_present(body, "suffix", "suffix is not supported");
    // Logprobs: synthetic values of the right shape (completions: logprobs = k; chat:
    // logprobs = true with top_logprobs = k), at most --max-logprobs, as vLLM checks.
    const std::int64_t max_lp = limits.max_logprobs;
    if (endpoint == Endpoint::completions) {
        if (const auto lp = detail::get_int(body, "logprobs", 0, std::numeric_limits<std::int64_t>::max())) {
            if (*lp > max_lp)
                throw_api(400,
                          "Requested sample logprobs of " + std::to_string(*lp) +
                              ", which is greater than max allowed: " + std::to_string(max_lp),
                          "logprobs");
            r.logprobs = static_cast<std::uint32_t>(*lp);
        }
    } else {
        const bool want = detail::get_bool(body, "logprobs").value_or(false);
        const auto top = detail::get_int(body, "top_logprobs", 0, std::numeric_limits<std::int64_t>::max());
        if (top && !want && *top > 0)
            throw_api(400, "when using 'top_logprobs', 'logprobs' must be set to true", "top_logprobs");
        if (top && *top > max_lp)
            throw_api(400,
                      "Requested sample logprobs of " + std::to_string(*top) +
                          ", which is greater than max allowed: " + std::to_string(max_lp),
                      "top_logprobs");
        if (want) r.logprobs = static_cast<std::uint32_t>(top.value_or(0));
    }
    detail::read_output_format(body, r);
    if (endpoint == Endpoint::chat_completions) detail::read_tools(body, r, limits);
    for (const char* key :
         {"temperature", "top_p", "top_k", "min_p", "presence_penalty", "frequency_penalty", "repetition_penalty"})
        detail::check_number(body, key);
    r.seed = detail::get_int(body, "seed", std::numeric_limits<std::int64_t>::min(),
                             std::numeric_limits<std::int64_t>::max());

    r.stream = detail::get_bool(body, "stream").value_or(false);
    if (const auto so = body.find("stream_options"); so != body.end() && !so->is_null()) {
        if (!so->is_object())
            throw_api(400, "'stream_options' must be an object, got " + detail::type_name(*so), "stream_options",
                      "invalid_type");
        if (!r.stream) throw_api(400, "'stream_options' can only be given when 'stream' is true", "stream_options");
        r.include_usage = detail::get_bool(*so, "include_usage").value_or(false);
        r.continuous_usage = detail::get_bool(*so, "continuous_usage_stats").value_or(false);
    }
    r.ignore_eos = detail::get_bool(body, "ignore_eos").value_or(false);
    r.priority = static_cast<int>(
        detail::get_int(body, "priority", std::numeric_limits<int>::min(), std::numeric_limits<int>::max())
            .value_or(0));
    if (r.priority != 0 && !limits.priority_scheduling)
        throw_api(400,
                  "Got priority " + std::to_string(r.priority) +
                      " but Priority scheduling is not enabled (start the server with --scheduling-policy priority)",
                  "priority");
    if (limits.force_include_usage && r.stream) r.include_usage = true;

    if (endpoint == Endpoint::completions) {
        detail::read_prompt(body, r);
    } else {
        detail::read_messages(body, r);
        // The chat template renders the tools first (a shared prefix across requests).
        if (!r.tools.empty() && !(r.tool_choice == ToolChoice::none && limits.exclude_tools_when_tool_choice_none)) {
            std::vector<TokenId> tool_tokens;
            SyntheticVocabulary::tokenize(
                body.at("tools").dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), tool_tokens);
            r.prompt_tokens.insert(r.prompt_tokens.begin(), tool_tokens.begin(), tool_tokens.end());
        }
        const nlohmann::json* role = detail::member(body.at("messages").back(), "role");
        r.last_message_is_tool = role != nullptr && *role == "tool";
    }
    if (r.prompt_tokens.empty())
        throw_api(400, "the prompt is empty; give at least one token",
                  endpoint == Endpoint::completions ? "prompt" : "messages");
    if (r.prompt_tokens.size() >= limits.max_model_len)
        throw_api(400,
                  "This model's maximum context length is " + std::to_string(limits.max_model_len) +
                      " tokens. However, your request has " + std::to_string(r.prompt_tokens.size()) +
                      " input tokens. Please reduce the length of the input.",
                  endpoint == Endpoint::completions ? "prompt" : "messages", "context_length_exceeded");
    r.prompt_len = static_cast<std::uint32_t>(r.prompt_tokens.size());
    const std::uint32_t room = limits.max_model_len - r.prompt_len;

    constexpr std::int64_t max_value = std::numeric_limits<std::uint32_t>::max();
    auto max_tokens = detail::get_int(body, "max_tokens", 1, max_value);
    const auto max_completion = detail::get_int(body, "max_completion_tokens", 1, max_value);
    if (max_completion) max_tokens = max_completion;
    const char* max_param = max_completion ? "max_completion_tokens" : "max_tokens";
    if (!max_tokens) {
        r.max_tokens = endpoint == Endpoint::completions ? std::min(limits.default_completion_max_tokens, room) : room;
    } else if (*max_tokens > room) {
        throw_api(400,
                  "'" + std::string(max_param) + "' is too large: " + std::to_string(*max_tokens) +
                      ". This model's maximum context length is " + std::to_string(limits.max_model_len) +
                      " tokens and your request has " + std::to_string(r.prompt_len) + " input tokens (" +
                      std::to_string(*max_tokens) + " > " + std::to_string(limits.max_model_len) + " - " +
                      std::to_string(r.prompt_len) + ").",
                  max_param, "context_length_exceeded");
    } else {
        r.max_tokens = static_cast<std::uint32_t>(*max_tokens);
    }
    const auto min_tokens = detail::get_int(body, "min_tokens", 0, max_value);
    r.min_tokens = static_cast<std::uint32_t>(min_tokens.value_or(0));
    if (r.min_tokens > r.max_tokens)
        throw_api(400,
                  "'min_tokens' (" + std::to_string(r.min_tokens) + ") must be at most 'max_tokens' (" +
                      std::to_string(r.max_tokens) + ")",
                  "min_tokens");
    return r;
}

/// Synthetic logprobs of one generated token: the token itself is the most likely (a
/// deterministic logprob in (-1.0, -0.01]), followed by `top` other words of the synthetic
/// vocabulary at lower logprobs. Values have the shapes OpenAI clients parse; they are not
/// probabilities of any model.
struct SyntheticLogprobs {
    struct Entry {
        std::string_view token;
        double logprob = 0;
    };
    Entry sampled;
    std::vector<Entry> top;

    SyntheticLogprobs(TokenId id, std::string_view text, std::uint32_t k) {
        const auto h = static_cast<std::uint32_t>(id) * 2654435761U;
        sampled = {text, -0.01 - static_cast<double>(h % 990U) / 1000.0};
        top.reserve(k);
        if (k > 0) top.push_back(sampled);
        for (std::uint32_t j = 1; j < k; ++j)
            top.push_back({SyntheticVocabulary::token_text(static_cast<TokenId>(static_cast<std::uint32_t>(id) + j)),
                           sampled.logprob - 0.75 * j});
    }

    static nlohmann::json bytes(std::string_view t) {
        nlohmann::json b = nlohmann::json::array();
        for (const char c : t) b.push_back(static_cast<unsigned char>(c));
        return b;
    }
    /// Chat's `logprobs.content[i]`.
    [[nodiscard]] nlohmann::json chat_entry() const {
        nlohmann::json alts = nlohmann::json::array();
        for (const auto& e : top)
            alts.push_back({{"token", e.token}, {"logprob", e.logprob}, {"bytes", bytes(e.token)}});
        return {{"token", sampled.token},
                {"logprob", sampled.logprob},
                {"bytes", bytes(sampled.token)},
                {"top_logprobs", std::move(alts)}};
    }
    /// Completions' `top_logprobs[i]`: {token: logprob} (the sampled token at least).
    [[nodiscard]] nlohmann::json completion_top() const {
        nlohmann::json m = nlohmann::json::object();
        m[std::string(sampled.token)] = sampled.logprob;
        for (const auto& e : top) m[std::string(e.token)] = e.logprob;
        return m;
    }
};

/// Accumulates a choice's logprobs object (completions: tokens, token_logprobs,
/// top_logprobs, text_offset; chat: content).
class LogprobsBuilder {
public:
    explicit LogprobsBuilder(Endpoint endpoint) : m_chat(endpoint == Endpoint::chat_completions) {
        if (m_chat)
            m_json = {{"content", nlohmann::json::array()}};
        else
            m_json = {{"text_offset", nlohmann::json::array()},
                      {"token_logprobs", nlohmann::json::array()},
                      {"tokens", nlohmann::json::array()},
                      {"top_logprobs", nlohmann::json::array()}};
    }
    /// Adds one token whose text starts at `offset` of the choice's text.
    void add(const SyntheticLogprobs& lp, std::size_t offset) {
        if (m_chat) {
            m_json["content"].push_back(lp.chat_entry());
        } else {
            m_json["text_offset"].push_back(offset);
            m_json["token_logprobs"].push_back(lp.sampled.logprob);
            m_json["tokens"].push_back(lp.sampled.token);
            m_json["top_logprobs"].push_back(lp.completion_top());
        }
    }
    [[nodiscard]] const nlohmann::json& json() const noexcept { return m_json; }
    void clear() { *this = LogprobsBuilder(m_chat ? Endpoint::chat_completions : Endpoint::completions); }

private:
    bool m_chat;
    nlohmann::json m_json;
};

/// A choice's extras on a stream chunk: its index, and the stop_reason and logprobs JSON
/// (already serialized; "null" when absent).
struct ChunkExtras {
    std::uint32_t index = 0;
    std::string_view stop_reason = "null";
    std::string_view logprobs = "null";
};

/// One finished choice of a non-streamed response.
struct FinishedChoice {
    std::string text;
    std::string finish_reason;
    nlohmann::json stop_reason; // null, a stop string or a token id
    nlohmann::json logprobs;    // null or the choice's logprobs object
    /// Chat: the message's tool_calls (null: none, an empty list is sent), and whether
    /// its content is null (vLLM's auto tool calls) rather than `text`.
    nlohmann::json tool_calls = nullptr;
    bool content_null = false;
};

/// One tool call's part of a streamed chunk: its index among the choice's calls (OpenAI's
/// tool_calls[].index), and on its first part the call's id and function name.
struct ToolCallDelta {
    std::uint32_t index = 0;
    bool first = false;
    std::string_view id;
    std::string_view name;
    std::string_view arguments;
};

/// Builds the response bodies and SSE chunks of one request. Chunks are assembled from
/// fixed prefix/suffix strings around the token text, so a token costs one append.
class ResponseWriter {
public:
    ResponseWriter(Endpoint endpoint, std::string id, std::string model, std::int64_t created)
        : m_endpoint(endpoint), m_id(std::move(id)), m_model(std::move(model)), m_created(created) {
        const bool chat = endpoint == Endpoint::chat_completions;
        m_head = "{\"id\":" + nlohmann::json(m_id).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) +
                 ",\"object\":\"" + (chat ? "chat.completion.chunk" : "text_completion") +
                 "\",\"created\":" + std::to_string(m_created) +
                 ",\"model\":" + nlohmann::json(m_model).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
        m_token_head = m_head + (chat ? ",\"choices\":[{\"index\":0,\"delta\":{\"content\":\""
                                      : ",\"choices\":[{\"index\":0,\"text\":\"");
    }

    [[nodiscard]] Endpoint endpoint() const noexcept { return m_endpoint; }
    [[nodiscard]] const std::string& id() const noexcept { return m_id; }

    /// Appends the SSE event `data: {...}\n\n` of one generated token. `finish_reason`
    /// (nullptr while streaming) goes on the chunk of the last token, as vLLM does.
    /// Chat streams open with a `{"role": "assistant", "content": ""}` chunk (first=true).
    void append_token_event(std::string& out, std::string_view text, const char* finish_reason, bool first,
                            const std::optional<std::pair<std::uint32_t, std::uint32_t>>& usage = {},
                            const ChunkExtras& extras = {}) const {
        const bool chat = m_endpoint == Endpoint::chat_completions;
        if (first && chat) append_role_event(out, usage, extras);
        out += "data: ";
        if (extras.index == 0) {
            out += m_token_head;
        } else {
            out += m_head;
            out += ",\"choices\":[{\"index\":";
            out += std::to_string(extras.index);
            out += chat ? ",\"delta\":{\"content\":\"" : ",\"text\":\"";
        }
        append_escaped(out, text);
        out += chat ? "\"},\"logprobs\":" : "\",\"logprobs\":";
        out += extras.logprobs;
        append_choice_tail(out, finish_reason, usage, extras);
    }

    /// Closes a streamed chunk's choice: finish_reason (null while running), stop_reason,
    /// the optional usage, the event's end.
    static void append_choice_tail(std::string& out, const char* finish_reason,
                                   const std::optional<std::pair<std::uint32_t, std::uint32_t>>& usage,
                                   const ChunkExtras& extras) {
        out += ",\"finish_reason\":";
        if (finish_reason) {
            out += '"';
            out += finish_reason;
            out += '"';
        } else {
            out += "null";
        }
        out += ",\"stop_reason\":";
        out += extras.stop_reason;
        out += "}]";
        if (usage) append_usage(out, usage->first, usage->second);
        out += "}\n\n";
    }

    /// Appends the SSE event of one token of tool calls (chat), as vLLM streams them: a
    /// call's first part carries its id, type and function name with the first piece of
    /// its arguments, later ones only `function.arguments`, each under the call's `index`
    /// (several calls with parallel_tool_calls); the last event carries finish_reason
    /// (vLLM: "tool_calls" once a tool call was streamed). `first_chunk`: the choice's
    /// first event (the role chunk goes before it).
    void append_tool_call_event(std::string& out, std::span<const ToolCallDelta> calls, const char* finish_reason,
                                bool first_chunk,
                                const std::optional<std::pair<std::uint32_t, std::uint32_t>>& usage = {},
                                const ChunkExtras& extras = {}) const {
        if (first_chunk) append_role_event(out, usage, extras);
        out += "data: ";
        out += m_head;
        out += ",\"choices\":[{\"index\":";
        out += std::to_string(extras.index);
        out += ",\"delta\":{\"tool_calls\":[";
        for (const ToolCallDelta& c : calls) {
            if (&c != calls.data()) out += ',';
            out += '{';
            if (c.first) {
                out += "\"id\":\"";
                append_escaped(out, c.id);
                out += "\",\"type\":\"function\",\"index\":";
                out += std::to_string(c.index);
                out += ",\"function\":{\"name\":\"";
                append_escaped(out, c.name);
                out += "\",\"arguments\":\"";
            } else {
                out += "\"index\":";
                out += std::to_string(c.index);
                out += ",\"function\":{\"arguments\":\"";
            }
            append_escaped(out, c.arguments);
            out += "\"}}";
        }
        out += "]},\"logprobs\":";
        out += extras.logprobs;
        append_choice_tail(out, finish_reason, usage, extras);
    }

    /// The closing usage-only chunk (`"choices": []`) of stream_options.include_usage.
    void append_usage_event(std::string& out, std::uint32_t prompt_tokens, std::uint32_t completion_tokens) const {
        out += "data: ";
        out += m_head;
        out += ",\"choices\":[]";
        append_usage(out, prompt_tokens, completion_tokens);
        out += "}\n\n";
    }

    /// The end of the stream.
    static void append_done(std::string& out) { out += "data: [DONE]\n\n"; }

    /// The whole (non-streaming) response body of one choice.
    [[nodiscard]] std::string full_response(std::string_view text, std::string_view finish_reason,
                                            std::uint32_t prompt_tokens, std::uint32_t completion_tokens) const {
        return full_response({FinishedChoice{std::string(text), std::string(finish_reason), nullptr, nullptr}},
                             prompt_tokens, completion_tokens);
    }

    /// The whole (non-streaming) response body; `completion_tokens` summed over the
    /// choices, the prompt counted once (vLLM's usage for n > 1).
    [[nodiscard]] std::string full_response(const std::vector<FinishedChoice>& choices, std::uint32_t prompt_tokens,
                                            std::uint32_t completion_tokens) const {
        nlohmann::json list = nlohmann::json::array();
        for (std::size_t i = 0; i < choices.size(); ++i) {
            const FinishedChoice& c = choices[i];
            if (m_endpoint == Endpoint::chat_completions)
                list.push_back({{"index", i},
                                {"message",
                                 {{"role", "assistant"},
                                  {"content", c.content_null ? nlohmann::json(nullptr) : nlohmann::json(c.text)},
                                  {"tool_calls", c.tool_calls.is_null() ? nlohmann::json::array() : c.tool_calls}}},
                                {"logprobs", c.logprobs},
                                {"finish_reason", c.finish_reason},
                                {"stop_reason", c.stop_reason}});
            else
                list.push_back({{"index", i},
                                {"text", c.text},
                                {"logprobs", c.logprobs},
                                {"finish_reason", c.finish_reason},
                                {"stop_reason", c.stop_reason}});
        }
        nlohmann::json j{{"id", m_id},
                         {"object", m_endpoint == Endpoint::chat_completions ? "chat.completion" : "text_completion"},
                         {"created", m_created},
                         {"model", m_model},
                         {"choices", std::move(list)},
                         {"usage",
                          {{"prompt_tokens", prompt_tokens},
                           {"total_tokens", prompt_tokens + completion_tokens},
                           {"completion_tokens", completion_tokens},
                           {"prompt_tokens_details", nullptr}}}};
        return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    }

private:
    // Chat streams open each choice with {"role": "assistant", "content": ""}.
    void append_role_event(std::string& out, const std::optional<std::pair<std::uint32_t, std::uint32_t>>& usage,
                           const ChunkExtras& extras) const {
        out += "data: ";
        out += m_head;
        out += ",\"choices\":[{\"index\":";
        out += std::to_string(extras.index);
        out += ",\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"logprobs\":null,\"finish_reason\":null}]";
        if (usage) append_usage(out, usage->first, 0);
        out += "}\n\n";
    }
    static void append_usage(std::string& out, std::uint32_t prompt, std::uint32_t completion) {
        out += ",\"usage\":{\"prompt_tokens\":";
        out += std::to_string(prompt);
        out += ",\"total_tokens\":";
        out += std::to_string(prompt + completion);
        out += ",\"completion_tokens\":";
        out += std::to_string(completion);
        out += '}';
    }
    static void append_escaped(std::string& out, std::string_view s) {
        for (const char c : s) {
            const auto u = static_cast<unsigned char>(c);
            if (c == '"' || c == '\\') {
                out += '\\';
                out += c;
            } else if (u < 0x20) {
                static constexpr char hex[] = "0123456789abcdef";
                out += "\\u00";
                out += hex[u >> 4U];
                out += hex[u & 15U];
            } else {
                out += c;
            }
        }
    }

    Endpoint m_endpoint;
    std::string m_id;
    std::string m_model;
    std::int64_t m_created;
    std::string m_head;
    std::string m_token_head;
};

} // namespace server
LLMEMU_END_NAMESPACE
