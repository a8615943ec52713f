#pragma once
/// \file kv_events_config.hpp
/// vLLM's KVEventsConfig (vllm/config/kv_events.py) as `--kv-events-config JSON` gives it:
/// parsed with vLLM's keys and defaults, unknown keys and wrong types refused. The
/// publisher itself is kv_event_publisher.hpp (ZeroMQ + msgpack).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "llmemu/error.hpp"

namespace llmemu::server {

/// vLLM's KVEventsConfig.
struct KVEventsConfig {
    /// Record and publish KV-cache events at all.
    bool enable_kv_cache_events = false;
    /// "zmq" or "null" (vLLM: "zmq" when events are enabled and none is given).
    std::string publisher = "null";
    /// ZeroMQ PUB address: bound when it has '*', '::', or is ipc:// / inproc://, else
    /// connected (vLLM's rule). Data-parallel rank r (and replica r) adds r to the port.
    std::string endpoint = "tcp://*:5557";
    /// ZeroMQ ROUTER address that replays buffered batches from a sequence number.
    std::optional<std::string> replay_endpoint;
    /// Batches kept for replay.
    std::uint64_t buffer_steps = 10000;
    /// PUB socket's send high-water mark (0 = none).
    std::uint64_t hwm = 100000;
    /// Batches queued for the publisher thread before new ones are dropped.
    std::uint64_t max_queue_size = 100000;
    /// The first frame of every message (subscribers filter on it).
    std::string topic;

    /// Events are recorded and sent somewhere.
    [[nodiscard]] bool publishes() const noexcept { return enable_kv_cache_events && publisher == "zmq"; }
};

/// Parses `--kv-events-config`'s JSON object (`what` names the input in errors). Throws
/// config_error naming the key and the fix for bad JSON, unknown keys or wrong types.
[[nodiscard]] inline KVEventsConfig parse_kv_events_config(std::string_view text,
                                                           const std::string& what = "--kv-events-config") {
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(text.begin(), text.end());
    } catch (const nlohmann::json::exception& e) { // parse_error, or out_of_range for a huge number
        llmemu::detail::throw_error<config_error>(what + ": not JSON (" + e.what() +
                                                  "); give an object such as '{\"enable_kv_cache_events\": true}'");
    }
    if (!j.is_object())
        llmemu::detail::throw_error<config_error>(what +
                                                  ": give a JSON object such as '{\"enable_kv_cache_events\": true}'");
    KVEventsConfig c;
    bool publisher_given = false;
    auto fail = [&](const std::string& key, const std::string& want) {
        llmemu::detail::throw_error<config_error>(what + ": '" + key + "' must be " + want);
    };
    auto count = [&](const std::string& key, const nlohmann::json& v, std::uint64_t lo) {
        if (!v.is_number_integer() || (v.is_number_integer() && !v.is_number_unsigned() && v.get<std::int64_t>() < 0) ||
            v.get<std::uint64_t>() < lo || v.get<std::uint64_t>() > (1ULL << 32U))
            fail(key, "a whole number in [" + std::to_string(lo) + ", 4294967296]");
        return v.get<std::uint64_t>();
    };
    for (const auto& [key, v] : j.items()) {
        if (key == "enable_kv_cache_events") {
            if (!v.is_boolean()) fail(key, "true or false");
            c.enable_kv_cache_events = v.get<bool>();
        } else if (key == "publisher") {
            if (v.is_null()) continue; // vLLM's default: chosen from enable_kv_cache_events
            if (!v.is_string() || (v.get<std::string>() != "zmq" && v.get<std::string>() != "null"))
                fail(key, "\"zmq\" or \"null\"");
            c.publisher = v.get<std::string>();
            publisher_given = true;
        } else if (key == "endpoint") {
            if (!v.is_string() || v.get<std::string>().empty())
                fail(key, "a ZeroMQ address such as \"tcp://*:5557\" (bind) or \"tcp://host:5557\" (connect)");
            c.endpoint = v.get<std::string>();
        } else if (key == "replay_endpoint") {
            if (v.is_null()) {
                c.replay_endpoint.reset();
            } else {
                if (!v.is_string() || v.get<std::string>().empty())
                    fail(key, "null or a ZeroMQ address to bind, such as \"tcp://*:5558\"");
                c.replay_endpoint = v.get<std::string>();
            }
        } else if (key == "buffer_steps") {
            c.buffer_steps = count(key, v, 0);
        } else if (key == "hwm") {
            c.hwm = count(key, v, 0);
        } else if (key == "max_queue_size") {
            c.max_queue_size = count(key, v, 1);
        } else if (key == "topic") {
            if (!v.is_string()) fail(key, "a string");
            c.topic = v.get<std::string>();
        } else {
            llmemu::detail::throw_error<config_error>(
                what + ": unknown key '" + key +
                "'; vLLM's KVEventsConfig has enable_kv_cache_events, publisher, endpoint, replay_endpoint, "
                "buffer_steps, hwm, max_queue_size and topic");
        }
    }
    if (!publisher_given) c.publisher = c.enable_kv_cache_events ? "zmq" : "null";
    if (c.publisher == "zmq" && c.endpoint.find("tcp") == std::string::npos &&
        c.endpoint.find("inproc") == std::string::npos && c.endpoint.rfind("ipc://", 0) != 0)
        fail("endpoint", "a tcp://, ipc:// or inproc:// address (got \"" + c.endpoint + "\")");
    return c;
}

/// vLLM's ZmqEventPublisher.offset_endpoint_port: rank 0 keeps the endpoint; rank r adds
/// r to a tcp port, or appends "_dp<r>" to an inproc name. Throws config_error otherwise.
[[nodiscard]] inline std::string offset_endpoint_port(const std::string& endpoint, std::uint32_t rank) {
    if (endpoint.empty() || rank == 0) return endpoint;
    if (endpoint.find("inproc") != std::string::npos) return endpoint + "_dp" + std::to_string(rank);
    if (endpoint.find("tcp") != std::string::npos) {
        const auto colon = endpoint.rfind(':');
        if (colon == std::string::npos) return endpoint;
        const std::string port_text = endpoint.substr(colon + 1);
        std::uint64_t port = 0;
        bool ok = !port_text.empty() && port_text.size() <= 5;
        for (const char ch : port_text) {
            ok = ok && ch >= '0' && ch <= '9';
            if (ok) port = port * 10 + static_cast<std::uint64_t>(ch - '0');
        }
        if (!ok || port + rank > 65535)
            llmemu::detail::throw_error<config_error>("--kv-events-config: endpoint '" + endpoint + "' + rank " +
                                                      std::to_string(rank) +
                                                      ": give a tcp port that leaves room for one port per engine");
        return endpoint.substr(0, colon + 1) + std::to_string(port + rank);
    }
    llmemu::detail::throw_error<config_error>("--kv-events-config: endpoint '" + endpoint + "' for rank " +
                                              std::to_string(rank) +
                                              ": several engines need a tcp:// or inproc:// endpoint (one port each)");
}

} // namespace llmemu::server
