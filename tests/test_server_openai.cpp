// Request parsing/validation, response formatting, the synthetic vocabulary and the
// Prometheus exposition: the server's pieces that need no sockets.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <string>

#include <nlohmann/json.hpp>

#include "llmemu/metrics/prometheus.hpp"
#include "llmemu/server/backend.hpp"
#include "llmemu/server/openai.hpp"
#include "llmemu/server/vocabulary.hpp"

using namespace llmemu;
using namespace llmemu::server;

namespace {
ValidationLimits limits(std::uint32_t max_model_len = 100) {
    ValidationLimits l;
    l.served_models = {"emu"};
    l.max_model_len = max_model_len;
    return l;
}

ApiError parse_error(const std::string& body, Endpoint ep = Endpoint::completions) {
    try {
        (void)parse_generation_request(body, ep, limits());
    } catch (const api_exception& e) {
        return e.error();
    }
    FAIL("request was accepted: " << body);
    return {};
}
} // namespace

TEST_CASE("Server.vocabulary.counting_rule") {
    CHECK(SyntheticVocabulary::count("") == 0);
    CHECK(SyntheticVocabulary::count("hello") == 2);       // 5 letters: 4 + 1
    CHECK(SyntheticVocabulary::count("the cat sat") == 3); // single spaces join the next word
    CHECK(SyntheticVocabulary::count("Hi, you!") == 4);    // Hi , you !
    CHECK(SyntheticVocabulary::count("a  b") == 3);        // a, "  ", b
    CHECK(SyntheticVocabulary::count("x\n") == 2);
    CHECK(SyntheticVocabulary::count("\xc3\xa9t\xc3\xa9") == 3); // é t é
    CHECK(SyntheticVocabulary::tokenize("the cat") == SyntheticVocabulary::tokenize("the cat"));
    CHECK(SyntheticVocabulary::tokenize("the cat") != SyntheticVocabulary::tokenize("the dog"));
    CHECK(SyntheticVocabulary::tokenize("ab ab")[0] != SyntheticVocabulary::tokenize("ab ab")[1]); // leading space
}

TEST_CASE("Server.vocabulary.generated_text_counts_back") {
    std::string text;
    for (TokenId id = 0; id < 1000; ++id) {
        const auto word = SyntheticVocabulary::token_text(id * 7919);
        REQUIRE(word.size() >= 2);
        CHECK(word[0] == ' ');
        text += word;
    }
    CHECK(SyntheticVocabulary::count(text) == 1000);
    CHECK(SyntheticVocabulary::token_text(5, true).empty());
}

TEST_CASE("Server.openai.completion_parsing") {
    const auto r = parse_generation_request(
        R"({"model":"emu","prompt":"the cat sat","max_tokens":5,"min_tokens":2,"ignore_eos":true,)"
        R"("stream":true,"stream_options":{"include_usage":true},"temperature":0.0,"logprobs":null})",
        Endpoint::completions, limits());
    CHECK(r.prompt_len == 3);
    CHECK(r.prompt_tokens.size() == 3);
    CHECK(r.max_tokens == 5);
    CHECK(r.min_tokens == 2);
    CHECK(r.ignore_eos);
    CHECK(r.stream);
    CHECK(r.include_usage);

    const auto ids = parse_generation_request(R"({"model":"emu","prompt":[1,2,3,4]})", Endpoint::completions, limits());
    CHECK(ids.prompt_len == 4);
    CHECK(ids.prompt_tokens == std::vector<TokenId>{1, 2, 3, 4});
    CHECK(ids.max_tokens == 16); // OpenAI's default for completions
    const auto nested = parse_generation_request(R"({"model":"emu","prompt":[[7,8]],"max_tokens":3.0})",
                                                 Endpoint::completions, limits());
    CHECK(nested.prompt_len == 2);
    CHECK(nested.max_tokens == 3);
    const auto near_limit = parse_generation_request(R"({"model":"emu","prompt":[1,2,3,4,5],"max_tokens":95})",
                                                     Endpoint::completions, limits());
    CHECK(near_limit.max_tokens == 95);
}

TEST_CASE("Server.openai.chat_parsing") {
    const auto r = parse_generation_request(
        R"({"model":"emu","messages":[{"role":"system","content":"be calm"},)"
        R"({"role":"user","content":[{"type":"text","text":"hi you"}]}],"max_completion_tokens":7,"max_tokens":3})",
        Endpoint::chat_completions, limits());
    // (4 + 2) + (4 + 2) + 3 = 15 by the template rule
    CHECK(r.prompt_len == 15);
    CHECK(r.max_tokens == 7); // max_completion_tokens wins
    const auto d = parse_generation_request(R"({"model":"emu","messages":[{"role":"user","content":"x"}]})",
                                            Endpoint::chat_completions, limits());
    CHECK(d.prompt_len == 8);
    CHECK(d.max_tokens == 92); // chat default: max_model_len - prompt
    // The same conversation prefix gives the same token ids (prefix caching works).
    const auto longer = parse_generation_request(
        R"({"model":"emu","messages":[{"role":"user","content":"x"},{"role":"assistant","content":" the"},)"
        R"({"role":"user","content":"more"}]})",
        Endpoint::chat_completions, limits());
    CHECK(std::equal(d.prompt_tokens.begin(), d.prompt_tokens.begin() + 5, longer.prompt_tokens.begin()));
}

TEST_CASE("Server.openai.rejects_bad_requests") {
    CHECK(parse_error("{not json").code == "invalid_json");
    CHECK(parse_error("[1,2]").code == "invalid_type");
    CHECK(parse_error(R"({"prompt":"x"})").param == "model");
    CHECK(parse_error(R"({"model":7,"prompt":"x"})").code == "invalid_type");
    const ApiError unknown = parse_error(R"({"model":"gpt-4","prompt":"x"})");
    CHECK(unknown.status == 404);
    CHECK(unknown.type == "NotFoundError");
    CHECK(unknown.message == "The model `gpt-4` does not exist.");
    CHECK(nlohmann::json::parse(unknown.body())["error"]["code"] == 404);
    CHECK(parse_error(R"({"model":"emu"})").param == "prompt");
    CHECK(parse_error(R"({"model":"emu","prompt":5})").code == "invalid_type");
    CHECK(parse_error(R"({"model":"emu","prompt":""})").param == "prompt");
    CHECK(parse_error(R"({"model":"emu","prompt":["a","b"]})").code == "unsupported_parameter");
    CHECK(parse_error(R"({"model":"emu","prompt":[1,-2]})").code == "invalid_type");
    CHECK(parse_error(R"({"model":"emu","prompt":"x","max_tokens":-1})").param == "max_tokens");
    CHECK(parse_error(R"({"model":"emu","prompt":"x","max_tokens":0})").param == "max_tokens");
    CHECK(parse_error(R"({"model":"emu","prompt":"x","max_tokens":"5"})").code == "invalid_type");
    CHECK(parse_error(R"({"model":"emu","prompt":"x","max_tokens":2.5})").code == "invalid_type");
    CHECK(parse_error(R"({"model":"emu","prompt":"x","max_tokens":1e30})").param == "max_tokens");
    CHECK(parse_error(R"({"model":"emu","prompt":"x","max_tokens":18446744073709551615})").param == "max_tokens");
    CHECK(parse_error(R"({"model":"emu","prompt":"x","max_tokens":100})").code == "context_length_exceeded");
    CHECK(parse_error(R"({"model":"emu","prompt":"x","min_tokens":20,"max_tokens":3})").param == "min_tokens");
    CHECK(parse_error(R"({"model":"emu","prompt":"x","n":0})").param == "n");
    CHECK(parse_error(R"({"model":"emu","prompt":"x","n":1000})").param == "n");
    CHECK(parse_error(R"({"model":"emu","prompt":"x","stop":[3]})").param == "stop");
    CHECK(parse_error(R"({"model":"emu","prompt":"x","stop_token_ids":[-1]})").param == "stop_token_ids");
    CHECK(parse_error(R"({"model":"emu","prompt":"x","stream":"yes"})").param == "stream");
    CHECK(parse_error(R"({"model":"emu","prompt":"x","stream_options":{"include_usage":true}})").param ==
          "stream_options");
    CHECK(parse_error(R"({"model":"emu","prompt":"x","temperature":"hot"})").param == "temperature");
    CHECK(parse_error(R"({"model":"emu","prompt":"x","logprobs":21})").param == "logprobs");
    CHECK(parse_error(R"({"model":"emu","prompt":"x","logprobs":-1})").param == "logprobs");
    std::string too_long = R"({"model":"emu","prompt":[)";
    for (int i = 0; i < 100; ++i) too_long += (i ? ",1" : "1");
    too_long += "]}";
    CHECK(parse_error(too_long).code == "context_length_exceeded");
    CHECK(parse_error(R"({"model":"emu","messages":[]})", Endpoint::chat_completions).param == "messages");
    CHECK(parse_error(R"({"model":"emu","messages":[{"content":"x"}]})", Endpoint::chat_completions).param ==
          "messages[0].role");
    CHECK(parse_error(R"({"model":"emu","messages":[{"role":"king","content":"x"}]})", Endpoint::chat_completions)
              .param == "messages[0].role");
    CHECK(parse_error(R"({"model":"emu","messages":[{"role":"user","content":[{"type":"image_url"}]}]})",
                      Endpoint::chat_completions)
              .param == "messages[0].content");
    CHECK(parse_error(R"({"model":"emu","messages":[{"role":"user","content":"x"}],"top_logprobs":2})",
                      Endpoint::chat_completions)
              .param == "top_logprobs");
    // Allowed "empty" forms of unsupported parameters.
    CHECK_NOTHROW((void)parse_generation_request(R"({"model":"emu","prompt":"x","stop":[],"n":1,"echo":false})",
                                                 Endpoint::completions, limits()));
}

TEST_CASE("Server.openai.error_object_shape") {
    const auto e = parse_error(R"({"model":"emu","prompt":"x","echo":true})");
    const auto j = nlohmann::json::parse(e.body());
    REQUIRE(j.contains("error"));
    CHECK(j["error"]["message"].get<std::string>().find("echo") != std::string::npos);
    CHECK(j["error"]["type"] == "invalid_request_error");
    CHECK(j["error"]["param"] == "echo");
    CHECK(j["error"]["code"] == "unsupported_parameter");
    CHECK(e.status == 400);
}

TEST_CASE("Server.openai.stream_chunks_are_json") {
    ResponseWriter chat(Endpoint::chat_completions, "chatcmpl-1", "emu", 42);
    std::string out;
    chat.append_token_event(out, " the", nullptr, true);
    chat.append_token_event(out, " \"q\"\n", "length", false, std::make_pair(3U, 2U));
    chat.append_usage_event(out, 3, 2);
    ResponseWriter::append_done(out);
    std::vector<nlohmann::json> events;
    std::size_t pos = 0;
    bool done = false;
    while (pos < out.size()) {
        const auto end = out.find("\n\n", pos);
        REQUIRE(end != std::string::npos);
        const std::string line = out.substr(pos, end - pos);
        REQUIRE(line.rfind("data: ", 0) == 0);
        if (line == "data: [DONE]")
            done = true;
        else
            events.push_back(nlohmann::json::parse(line.substr(6)));
        pos = end + 2;
    }
    CHECK(done);
    REQUIRE(events.size() == 4);
    CHECK(events[0]["choices"][0]["delta"]["role"] == "assistant");
    CHECK(events[1]["choices"][0]["delta"]["content"] == " the");
    CHECK(events[1]["object"] == "chat.completion.chunk");
    CHECK(events[2]["choices"][0]["delta"]["content"] == " \"q\"\n");
    CHECK(events[2]["choices"][0]["finish_reason"] == "length");
    CHECK(events[2]["usage"]["completion_tokens"] == 2);
    CHECK(events[3]["choices"].empty());
    CHECK(events[3]["usage"]["total_tokens"] == 5);

    ResponseWriter cmpl(Endpoint::completions, "cmpl-1", "emu", 42);
    const auto full = nlohmann::json::parse(cmpl.full_response(" a b", "length", 4, 2));
    CHECK(full["object"] == "text_completion");
    CHECK(full["choices"][0]["text"] == " a b");
    CHECK(full["usage"]["prompt_tokens"] == 4);
    CHECK(full["usage"]["completion_tokens"] == 2);
}

TEST_CASE("Server.prometheus.find_sample_reads_one_unlabelled_value") {
    const std::string page = "# HELP process_cpu_seconds_total CPU\n"
                             "process_cpu_seconds_total_extra 9\n"
                             "process_cpu_seconds_total 12.5 1700000000000\n"
                             "up +Inf\n"
                             "down NaN\n"
                             "odd x1\n"
                             "plus +3\n";
    CHECK(metrics::find_prometheus_sample(page, "process_cpu_seconds_total") == 12.5); // timestamp skipped
    CHECK(metrics::find_prometheus_sample(page, "up") == std::numeric_limits<double>::infinity());
    const auto down = metrics::find_prometheus_sample(page, "down");
    REQUIRE(down);
    CHECK(std::isnan(*down));
    CHECK(metrics::find_prometheus_sample(page, "plus") == 3.0);
    CHECK_FALSE(metrics::find_prometheus_sample(page, "odd")); // not a number
    CHECK_FALSE(metrics::find_prometheus_sample(page, "absent"));
}

TEST_CASE("Server.prometheus.vllm_names_labels_buckets") {
    metrics::VllmMetrics m("emu\"x", "0", 2048, {16, 1000, true, 0.9});
    metrics::RequestObservation o;
    o.ttft_s = 0.02;
    o.e2e_s = 1.0;
    o.queue_s = 0.5;
    o.has_first_token = true;
    o.prompt_tokens = 10;
    o.generation_tokens = 3;
    o.itl_s = {0.03, 0.03};
    m.observe(o);
    m.observe_request_params(2, 100, 3);
    m.observe_iteration(12);
    EngineStats s;
    s.running = 3;
    s.waiting = 1;
    s.kv_usage = 0.25;
    s.prompt_tokens = 10;
    s.generation_tokens = 3;
    s.finished[static_cast<std::size_t>(FinishReason::length)] = 1;
    const std::string text = m.render(to_metrics_snapshot(s));
    auto has = [&](const std::string& line) {
        INFO(line);
        CHECK(text.find(line + "\n") != std::string::npos);
    };
    const std::string l = R"({model_name="emu\"x",engine="0")";
    has("# TYPE vllm:num_requests_running gauge");
    has("vllm:num_requests_running" + l + "} 3.0");
    has("vllm:num_requests_waiting" + l + "} 1.0");
    has("vllm:kv_cache_usage_perc" + l + "} 0.25");
    has("# TYPE vllm:prompt_tokens_total counter");
    has("# HELP vllm:prompt_tokens_total Number of prefill tokens processed.");
    has("# TYPE vllm:request_success_total counter");
    has("# TYPE vllm:iteration_tokens_total histogram");
    has("vllm:request_params_n_bucket" + l + R"(,le="1.0"} 0.0)");
    has("vllm:request_params_n_bucket" + l + R"(,le="2.0"} 1.0)");
    has("vllm:request_params_max_tokens_bucket" + l + R"(,le="50.0"} 0.0)");
    has("vllm:request_params_max_tokens_bucket" + l + R"(,le="100.0"} 1.0)");
    has("vllm:request_max_num_generation_tokens_bucket" + l + R"(,le="2.0"} 0.0)");
    has("vllm:request_max_num_generation_tokens_bucket" + l + R"(,le="5.0"} 1.0)");
    has("vllm:iteration_tokens_total_bucket" + l + R"(,le="8.0"} 0.0)");
    has("vllm:iteration_tokens_total_bucket" + l + R"(,le="16.0"} 1.0)");
    has("vllm:iteration_tokens_total_sum" + l + "} 12.0");
    has("vllm:prompt_tokens_total" + l + "} 10.0");
    has("vllm:generation_tokens_total" + l + "} 3.0");
    has("vllm:request_success_total" + l + R"(,finished_reason="length"} 1.0)");
    has("vllm:request_success_total" + l + R"(,finished_reason="abort"} 0.0)");
    has("vllm:num_preemptions_total" + l + "} 0.0");
    has("vllm:prefix_cache_queries_total" + l + "} 0.0");
    has("vllm:prefix_cache_hits_total" + l + "} 0.0");
    has("# TYPE vllm:time_to_first_token_seconds histogram");
    has("vllm:time_to_first_token_seconds_bucket" + l + R"(,le="0.01"} 0.0)");
    has("vllm:time_to_first_token_seconds_bucket" + l + R"(,le="0.02"} 1.0)");
    has("vllm:time_to_first_token_seconds_bucket" + l + R"(,le="2560.0"} 1.0)");
    has("vllm:time_to_first_token_seconds_bucket" + l + R"(,le="+Inf"} 1.0)");
    has("vllm:time_to_first_token_seconds_count" + l + "} 1.0");
    has("vllm:time_to_first_token_seconds_sum" + l + "} 0.02");
    has("vllm:inter_token_latency_seconds_count" + l + "} 2.0");
    has("vllm:time_per_output_token_seconds_bucket" + l + R"(,le="0.025"} 0.0)");
    has("vllm:time_per_output_token_seconds_bucket" + l + R"(,le="0.05"} 2.0)");
    has("vllm:request_time_per_output_token_seconds_count" + l + "} 1.0");
    has("vllm:e2e_request_latency_seconds_bucket" + l + R"(,le="1.0"} 1.0)");
    has("vllm:e2e_request_latency_seconds_bucket" + l + R"(,le="7680.0"} 1.0)");
    has("vllm:request_queue_time_seconds_bucket" + l + R"(,le="0.5"} 1.0)");
    has("vllm:request_queue_time_seconds_bucket" + l + R"(,le="0.3"} 0.0)");
    has("vllm:request_prefill_time_seconds_count" + l + "} 1.0");
    has("vllm:request_prompt_tokens_bucket" + l + R"(,le="2000.0"} 1.0)");
    has("vllm:request_generation_tokens_bucket" + l + R"(,le="2.0"} 0.0)");
    has("vllm:request_generation_tokens_bucket" + l + R"(,le="5.0"} 1.0)");
    CHECK(text.find(R"(le="5000.0")") == std::string::npos); // 1-2-5 up to max_model_len
    CHECK(text.find("vllm:cache_config_info{block_size=\"16\"") != std::string::npos);
    // Every bucket list is exactly vLLM's.
    CHECK(metrics::VllmBuckets::ttft().size() == 22);
    CHECK(metrics::VllmBuckets::tpot().size() == 19);
    CHECK(metrics::VllmBuckets::request_latency().size() == 21);
    CHECK(metrics::buckets_1_2_5(100) == std::vector<double>{1, 2, 5, 10, 20, 50, 100});
}

TEST_CASE("Server.openai.priority_needs_priority_policy") {
    // vLLM refuses a nonzero priority unless --scheduling-policy priority.
    const ApiError e = parse_error(R"({"model":"emu","prompt":"x","priority":3})");
    CHECK(e.param == "priority");
    CHECK(e.message.find("Priority scheduling is not enabled") != std::string::npos);
    CHECK(parse_generation_request(R"({"model":"emu","prompt":"x","priority":0})", Endpoint::completions, limits())
              .priority == 0);
    ValidationLimits l = limits();
    l.priority_scheduling = true;
    CHECK(
        parse_generation_request(R"({"model":"emu","prompt":"x","priority":-4})", Endpoint::completions, l).priority ==
        -4);
}

TEST_CASE("Server.openai.force_include_usage") {
    ValidationLimits l = limits();
    l.force_include_usage = true;
    CHECK(parse_generation_request(R"({"model":"emu","prompt":"x","stream":true})", Endpoint::completions, l)
              .include_usage);
    CHECK_FALSE(
        parse_generation_request(R"({"model":"emu","prompt":"x","stream":true})", Endpoint::completions, limits())
            .include_usage);
}
