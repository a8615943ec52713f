// libFuzzer target for `--kv-events-config` (vLLM's KVEventsConfig JSON) and the endpoint
// port offset of data-parallel ranks. Any input either parses or raises
// llmemu::config_error, never a crash, hang, other exception or sanitizer report. What
// parses must be consistent: a publisher of "zmq" or "null", events published only when
// enabled with zmq, counts in range, and an offset endpoint that keeps its scheme.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "llmemu/error.hpp"
#include "llmemu/server/kv_events_config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const std::string text(reinterpret_cast<const char*>(data) + 1, size - 1);
    llmemu::server::KVEventsConfig c;
    try {
        c = llmemu::server::parse_kv_events_config(text);
    } catch (const llmemu::config_error&) {
        return 0; // rejected with a message: fine
    }
    if (c.publisher != "zmq" && c.publisher != "null") std::abort();
    if (c.publishes() != (c.enable_kv_cache_events && c.publisher == "zmq")) std::abort();
    if (c.max_queue_size == 0 || c.max_queue_size > (1ULL << 32U) || c.hwm > (1ULL << 32U) ||
        c.buffer_steps > (1ULL << 32U))
        std::abort();
    if (c.endpoint.empty() || (c.replay_endpoint && c.replay_endpoint->empty())) std::abort();
    try {
        const std::string moved = llmemu::server::offset_endpoint_port(c.endpoint, data[0] % 8U);
        if (moved.substr(0, 3) != c.endpoint.substr(0, 3)) std::abort();
        if (data[0] % 8U == 0 && moved != c.endpoint) std::abort();
    } catch (const llmemu::config_error&) {
    }
    return 0;
}
