// Structured outputs and tool calls: the JSON-schema reader and instance generator
// (valid instances, deterministic per seed, sized to a token count, unsupported keywords
// refused by name), request parsing of response_format / guided_json / structured_outputs /
// tools / tool_choice with vLLM's rules, and the planned outputs per choice.
#include <doctest/doctest.h>

#include <algorithm>
#include <set>
#include <string>

#include <nlohmann/json.hpp>

#include "llmemu/server/json_schema.hpp"
#include "llmemu/server/openai.hpp"
#include "llmemu/server/vocabulary.hpp"

using namespace llmemu;
using namespace llmemu::server;
using nlohmann::json;

namespace {
ApiError schema_error(const json& schema) {
    try {
        (void)JsonSchema(schema, "response_format.json_schema.schema");
    } catch (const api_exception& e) {
        return e.error();
    }
    FAIL("schema was accepted: " << schema.dump());
    return {};
}

ValidationLimits limits(bool auto_tools = false) {
    ValidationLimits l;
    l.served_models = {"emu"};
    l.max_model_len = 4096;
    l.enable_auto_tool_choice = auto_tools;
    return l;
}

ApiError refusal(const json& body, const ValidationLimits& l = limits(), Endpoint ep = Endpoint::chat_completions) {
    try {
        const auto r = parse_generation_request(body.dump(), ep, l);
        (void)plan_scripted_outputs(r, 1);
    } catch (const api_exception& e) {
        return e.error();
    }
    FAIL("request was accepted: " << body.dump());
    return {};
}

const json weather = json::parse(R"({
  "type": "object",
  "properties": {
    "city": {"type": "string", "description": "the city"},
    "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
    "days": {"type": "integer", "minimum": 1, "maximum": 7},
    "when": {"type": "string", "format": "date"},
    "hourly": {"type": "boolean"},
    "tags": {"type": "array", "items": {"type": "string", "maxLength": 12}, "minItems": 1, "maxItems": 3},
    "where": {"type": "object", "properties": {"lat": {"type": "number", "minimum": -90, "maximum": 90},
                                               "lon": {"type": "number", "exclusiveMinimum": -180, "exclusiveMaximum": 180}},
              "required": ["lat", "lon"], "additionalProperties": false},
    "note": {"anyOf": [{"type": "string"}, {"type": "null"}]},
    "id": {"type": ["integer", "null"], "multipleOf": 5}
  },
  "required": ["city", "unit", "days", "when", "tags", "where"],
  "additionalProperties": false
})");
} // namespace

TEST_CASE("Server.schema.instances_are_valid_and_deterministic") {
    const JsonSchema s(weather, "p");
    std::set<std::string> distinct;
    for (std::uint64_t seed = 0; seed < 200; ++seed) {
        const std::string text = s.instance(seed);
        CAPTURE(text);
        const json v = json::parse(text);
        CHECK(s.validate(v).empty());
        CHECK(v["unit"].is_string());
        CHECK(v["days"].get<int>() >= 1);
        CHECK(v["days"].get<int>() <= 7);
        CHECK(v["when"].get<std::string>().size() == 10);
        CHECK(text == s.instance(seed)); // deterministic per seed
        distinct.insert(text);
    }
    CHECK(distinct.size() > 150); // seeds vary it
    // The validator is not a rubber stamp.
    CHECK_FALSE(s.validate(json::parse(R"({"city":"x"})")).empty());
    json bad = json::parse(s.instance(1));
    bad["unit"] = "kelvin";
    CHECK_FALSE(s.validate(bad).empty());
    bad = json::parse(s.instance(1));
    bad["extra"] = 1;
    CHECK_FALSE(s.validate(bad).empty());
}

TEST_CASE("Server.schema.instance_reaches_a_token_count") {
    const JsonSchema s(weather, "p");
    for (const std::uint32_t target : {150U, 300U, 700U}) {
        CAPTURE(target);
        const std::string text = s.instance(7, target);
        CHECK(SyntheticVocabulary::count(text) == target);
        CHECK(s.validate(json::parse(text)).empty());
    }
    // Nothing to stretch (no free strings): the instance keeps its size.
    const JsonSchema fixed(json::parse(R"({"type":"object","properties":{"a":{"enum":[1,2]}},"required":["a"]})"), "p");
    CHECK(SyntheticVocabulary::count(fixed.instance(3, 500)) < 10);
    // maxLength caps what a string absorbs.
    const JsonSchema capped(json::parse(R"({"type":"string","maxLength":20})"), "p");
    const std::string c = capped.instance(3, 500);
    CHECK(json::parse(c).get<std::string>().size() <= 20);
}

TEST_CASE("Server.schema.refs_defs_and_recursion") {
    // pydantic's shape: $defs + $ref, a recursive tree whose children are optional.
    const json tree = json::parse(R"({
      "$defs": {"Node": {"type": "object", "properties": {"name": {"type": "string"},
                          "children": {"type": "array", "items": {"$ref": "#/$defs/Node"}}},
                         "required": ["name", "children"]}},
      "$ref": "#/$defs/Node"})");
    const JsonSchema s(tree, "p");
    for (std::uint64_t seed = 0; seed < 50; ++seed) CHECK(s.validate(json::parse(s.instance(seed))).empty());
    // "#" refers to the root; allOf of one member is the member.
    const JsonSchema list(json::parse(R"({"type":"object","properties":{"next":{"anyOf":[{"$ref":"#"},{"type":"null"}]},
                                           "v":{"allOf":[{"type":"integer"}]}},"required":["next","v"]})"),
                          "p");
    for (std::uint64_t seed = 0; seed < 50; ++seed) CHECK(list.validate(json::parse(list.instance(seed))).empty());
    // A required recursion has no finite instance: refused up front.
    const ApiError e =
        schema_error(json::parse(R"({"type":"object","properties":{"self":{"$ref":"#"}},"required":["self"]})"));
    CHECK(e.message.find("recurse") != std::string::npos);
}

TEST_CASE("Server.schema.unsupported_keywords_are_refused_by_name") {
    for (const char* keyword : {"pattern", "oneOf", "not", "if", "patternProperties", "minProperties", "uniqueItems",
                                "prefixItems", "contains", "propertyNames"}) {
        CAPTURE(keyword);
        json s = json::parse(R"({"type":"object","properties":{"a":{"type":"string"}}})");
        s["properties"]["a"][keyword] = keyword == std::string("uniqueItems") ? json(true) : json::object();
        const ApiError e = schema_error(s);
        CHECK(e.status == 400);
        CHECK(e.code == "unsupported_parameter");
        CHECK(e.param == "response_format.json_schema.schema");
        CHECK(e.message.find(std::string("'") + keyword + "'") != std::string::npos);
        CHECK(e.message.find("properties.a") != std::string::npos);
    }
    CHECK(schema_error(json::parse(R"({"type":"string","format":"regex"})")).message.find("format") !=
          std::string::npos);
    CHECK(schema_error(json::parse(R"({"$ref":"https://example.com/s.json"})")).message.find("local references") !=
          std::string::npos);
    CHECK(schema_error(json::parse(R"({"type":"integer","minimum":5,"maximum":4})")).code == "invalid_value");
    CHECK(schema_error(json::parse(R"({"type":"strin"})")).message.find("unknown type") != std::string::npos);
    CHECK(schema_error(json(false)).code == "invalid_value");
    // Annotations and x- extensions constrain nothing and are accepted.
    (void)JsonSchema(json::parse(R"({"type":"string","title":"t","description":"d","examples":["a"],"x-order":1})"),
                     "p");
}

TEST_CASE("Server.structured.response_format_guided_json_structured_outputs") {
    auto parse = [](const json& body) {
        return parse_generation_request(body.dump(), Endpoint::chat_completions, limits());
    };
    const json base = {{"model", "emu"}, {"messages", {{{"role", "user"}, {"content", "hi"}}}}};
    json b = base;
    b["response_format"] = {{"type", "json_schema"}, {"json_schema", {{"name", "w"}, {"schema", weather}}}};
    auto r = parse(b);
    CHECK(r.format == OutputFormat::json_schema);
    auto plan = plan_scripted_outputs(r, 9);
    REQUIRE(plan.size() == 1);
    CHECK(JsonSchema(weather, "p").validate(json::parse(plan[0].text)).empty());
    // The pieces are the text, token by token.
    std::string joined;
    for (std::size_t i = 0; i < plan[0].pieces(); ++i) joined += plan[0].piece(i);
    CHECK(joined == plan[0].text);
    CHECK(plan[0].pieces() == SyntheticVocabulary::count(plan[0].text));
    CHECK(plan[0].piece(plan[0].pieces()).empty());

    // ignore_eos: stretched to max_tokens; seed: the same text on every server.
    b["ignore_eos"] = true;
    b["max_tokens"] = 300;
    b["seed"] = 42;
    b["n"] = 2;
    r = parse(b);
    plan = plan_scripted_outputs(r, 1);
    REQUIRE(plan.size() == 2);
    CHECK(plan[0].pieces() == 300);
    CHECK(plan[0].text != plan[1].text);
    CHECK(plan_scripted_outputs(r, 2)[0].text == plan[0].text);

    b = base;
    b["response_format"] = {{"type", "json_object"}};
    plan = plan_scripted_outputs(parse(b), 3);
    CHECK(json::parse(plan[0].text).is_object());
    b = base;
    b["guided_json"] = weather.dump(); // vLLM also takes the schema as a string
    CHECK(parse(b).format == OutputFormat::json_schema);
    b = base;
    b["structured_outputs"] = {{"choice", {"yes", "no"}}};
    plan = plan_scripted_outputs(parse(b), 3);
    CHECK((plan[0].text == "yes" || plan[0].text == "no"));
    b = base;
    b["guided_choice"] = {"alpha"};
    CHECK(plan_scripted_outputs(parse(b), 3)[0].text == "alpha");
    // Completions take them too.
    const auto c = parse_generation_request(
        json{{"model", "emu"}, {"prompt", "x"}, {"response_format", {{"type", "json_object"}}}}.dump(),
        Endpoint::completions, limits());
    CHECK(c.format == OutputFormat::json_object);

    // Refusals name the field.
    b = base;
    b["structured_outputs"] = {{"regex", "[a-z]+"}};
    CHECK(refusal(b).param == "structured_outputs.regex");
    b = base;
    b["guided_json"] = std::string(100000, '[') + std::string(100000, ']'); // nesting inside a string
    CHECK(refusal(b).code == "invalid_json");
    b["guided_json"] = "{not json";
    CHECK(refusal(b).code == "invalid_value");
    b = base;
    b["guided_regex"] = "[a-z]+";
    CHECK(refusal(b).param == "guided_regex");
    b = base;
    b["response_format"] = {{"type", "json_schema"}, {"json_schema", {{"name", "w"}}}};
    CHECK(refusal(b).param == "response_format.json_schema.schema");
    b = base;
    b["response_format"] = {{"type", "json_object"}};
    b["guided_json"] = weather;
    CHECK(refusal(b).message.find("give only one") != std::string::npos);
    b = base;
    b["response_format"] = {{"type", "json_schema"},
                            {"json_schema", {{"schema", {{"type", "string"}, {"pattern", "^a"}}}}}};
    const ApiError e = refusal(b);
    CHECK(e.param == "response_format.json_schema.schema");
    CHECK(e.message.find("'pattern'") != std::string::npos);
}

TEST_CASE("Server.structured.tools_and_tool_choice_follow_vllm") {
    const json tools = {{{"type", "function"}, {"function", {{"name", "get_weather"}, {"parameters", weather}}}},
                        {{"type", "function"},
                         {"function",
                          {{"name", "get_time"},
                           {"parameters", {{"type", "object"}, {"properties", {{"tz", {{"type", "string"}}}}}}}}}}};
    json b = {{"model", "emu"}, {"messages", {{{"role", "user"}, {"content", "weather?"}}}}, {"tools", tools}};
    // tools without tool_choice means auto, which needs --enable-auto-tool-choice.
    CHECK(refusal(b).message ==
          "\"auto\" tool choice requires --enable-auto-tool-choice and --tool-call-parser to be set");
    const auto with = parse_generation_request(b.dump(), Endpoint::chat_completions, limits(true));
    CHECK(with.tool_choice == ToolChoice::automatic);
    const auto plain = parse_generation_request(
        json{{"model", "emu"}, {"messages", {{{"role", "user"}, {"content", "weather?"}}}}}.dump(),
        Endpoint::chat_completions, limits());
    CHECK(with.prompt_len > plain.prompt_len + 50); // the tools are in the prompt
    auto plan = plan_scripted_outputs(with, 5);
    REQUIRE(plan.size() == 1);
    REQUIRE(plan[0].tool_call());
    CHECK(plan[0].tool_calls[0].id.starts_with("chatcmpl-tool-"));
    CHECK((plan[0].tool_calls[0].name == "get_weather" || plan[0].tool_calls[0].name == "get_time"));
    CHECK(json::parse(plan[0].call_arguments(0, plan[0].pieces())).is_object());

    // parallel_tool_calls (vLLM's default true): auto and required may call several of the
    // tools at once, each call a distinct tool with arguments valid for its schema, its
    // pieces its own; false keeps one call.
    const json time_schema = tools[1]["function"]["parameters"];
    for (const char* choice : {"auto", "required"}) {
        json pb = b;
        pb["tool_choice"] = choice;
        pb["n"] = 8;
        const auto parallel =
            plan_scripted_outputs(parse_generation_request(pb.dump(), Endpoint::chat_completions, limits(true)), 3);
        std::size_t most = 0;
        for (const auto& o : parallel) {
            REQUIRE(o.tool_call());
            most = std::max(most, o.tool_calls.size());
            CHECK(o.tool_calls.size() <= 2); // two tools offered
            CHECK(o.tool_calls[0].first_piece == 0);
            std::set<std::string> names;
            for (std::size_t k = 0; k < o.tool_calls.size(); ++k) {
                const auto& call = o.tool_calls[k];
                CHECK(names.insert(call.name).second);
                if (k > 0) CHECK(call.first_piece > o.tool_calls[k - 1].first_piece);
                CHECK(o.call_of(call.first_piece) == k);
                const json args = json::parse(o.call_arguments(k, o.pieces()));
                CHECK(JsonSchema(call.name == "get_weather" ? weather : time_schema, "p").validate(args).empty());
            }
            std::string all;
            for (std::size_t k = 0; k < o.tool_calls.size(); ++k) all += o.call_arguments(k, o.pieces());
            CHECK(all == o.text);
        }
        CHECK(most == 2); // some choice among 8 calls both tools
        pb["parallel_tool_calls"] = false;
        for (const auto& o :
             plan_scripted_outputs(parse_generation_request(pb.dump(), Endpoint::chat_completions, limits(true)), 3))
            CHECK(o.tool_calls.size() == 1);
    }
    json bad_parallel = b;
    bad_parallel["parallel_tool_calls"] = "yes";
    CHECK(refusal(bad_parallel, limits(true)).param == "parallel_tool_calls");

    // Named: that function, arguments valid for its schema.
    b["tool_choice"] = {{"type", "function"}, {"function", {{"name", "get_weather"}}}};
    for (std::uint64_t seed = 0; seed < 20; ++seed) {
        plan = plan_scripted_outputs(parse_generation_request(b.dump(), Endpoint::chat_completions, limits()), seed);
        REQUIRE(plan[0].tool_calls.size() == 1); // a named tool_choice is one call
        CHECK(plan[0].tool_calls[0].name == "get_weather");
        CHECK(JsonSchema(weather, "p").validate(json::parse(plan[0].text)).empty());
    }
    b["tool_choice"] = {{"type", "function"}, {"function", {{"name", "nope"}}}};
    CHECK(refusal(b).message == "The tool specified in `tool_choice` does not match any of the specified `tools`");
    b["tool_choice"] = "required";
    CHECK(plan_scripted_outputs(parse_generation_request(b.dump(), Endpoint::chat_completions, limits()), 1)[0]
              .tool_call());
    // none: text, and the tools leave the prompt only with the exclude flag.
    b["tool_choice"] = "none";
    auto none = parse_generation_request(b.dump(), Endpoint::chat_completions, limits());
    CHECK(plan_scripted_outputs(none, 1).empty());
    CHECK(none.prompt_len == with.prompt_len);
    ValidationLimits ex = limits();
    ex.exclude_tools_when_tool_choice_none = true;
    CHECK(parse_generation_request(b.dump(), Endpoint::chat_completions, ex).prompt_len == plain.prompt_len);
    // auto after a tool result: the reply is text.
    json after = b;
    after.erase("tool_choice");
    after["messages"].push_back({{"role", "assistant"}, {"content", nullptr}});
    after["messages"].push_back({{"role", "tool"}, {"content", "18 C"}, {"tool_call_id", "x"}});
    CHECK(plan_scripted_outputs(parse_generation_request(after.dump(), Endpoint::chat_completions, limits(true)), 1)
              .empty());
    // tool_choice without tools; a tool schema llmemu cannot serve.
    CHECK(refusal({{"model", "emu"}, {"messages", {{{"role", "user"}, {"content", "x"}}}}, {"tool_choice", "required"}})
              .message == "When using `tool_choice`, `tools` must be set.");
    json bad = b;
    bad["tool_choice"] = "required";
    bad["tools"][1]["function"]["parameters"]["properties"]["tz"]["pattern"] = "^[A-Z]";
    const ApiError e = refusal(bad);
    CHECK(e.param == "tools[1].function.parameters");
    CHECK(e.message.find("'pattern'") != std::string::npos);
}

TEST_CASE("Server.structured.sizes_are_bounded") {
    // Each instance is bounded (1 MiB), and so are all choices of a request together.
    const json big = {{"type", "array"}, {"items", {{"type", "string"}, {"minLength", 2000}}}, {"minItems", 100}};
    json b = {{"model", "emu"},
              {"messages", {{{"role", "user"}, {"content", "x"}}}},
              {"response_format", {{"type", "json_schema"}, {"json_schema", {{"schema", big}}}}},
              {"n", 100}};
    const ApiError e = refusal(b);
    CHECK(e.param == "n");
    CHECK(e.message.find("16 MiB") != std::string::npos);
    b["n"] = 2;
    const auto plan =
        plan_scripted_outputs(parse_generation_request(b.dump(), Endpoint::chat_completions, limits()), 1);
    CHECK(plan.size() == 2);
    CHECK(plan[0].text.size() > 200000);
    const json huge = {{"type", "array"}, {"items", big}, {"minItems", 1000}};
    const JsonSchema accepted(huge, "p");                       // minItems 1000 is allowed ...
    CHECK_THROWS_AS((void)accepted.instance(1), api_exception); // ... its 200 MB instance is not
}
