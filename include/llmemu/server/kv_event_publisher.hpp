#pragma once
/// \file kv_event_publisher.hpp
/// vLLM's ZmqEventPublisher (vllm/distributed/kv_events.py) for the emulated engine: each
/// step's KV-cache events (engine/kv_events.hpp) become one msgpack KVEventBatch, sent on
/// a ZeroMQ PUB socket as the multipart message [topic, seq (8 bytes, big endian),
/// payload], and kept for replay on an optional ROUTER socket (a client sends
/// [start seq]; it gets [seq, payload] for every buffered batch from there, then
/// [-1, ""]). Encoding and sending run on the publisher's own thread; the engine thread
/// only queues its events.
///
/// Wire layout (msgspec array_like structs, tagged with the class name, as vLLM encodes):
///   KVEventBatch     = [ts (float64, Unix seconds), [event, ...], data_parallel_rank]
///   BlockStored      = ["BlockStored", [hash, ...], parent_hash | nil, [token, ...],
///                       block_size, lora_id (nil), medium ("GPU"), lora_name (nil)]
///   BlockRemoved     = ["BlockRemoved", [hash, ...], medium ("GPU")]
///   AllBlocksCleared = ["AllBlocksCleared"]
/// Block hashes are the engine's 64-bit chained hashes as unsigned integers (vLLM's
/// ExternalBlockHash int form, what llm-d's KV-cache indexer decodes).
///
/// Needs cppzmq (libzmq) and msgpack-cxx: the build defines LLMEMU_HAVE_KV_EVENTS when
/// both were found.

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <msgpack.hpp>
#include <zmq.hpp>

#include "llmemu/engine/kv_events.hpp"
#include "llmemu/error.hpp"
#include "llmemu/server/kv_events_config.hpp"

namespace llmemu::server {

/// One KVEventBatch as vLLM's msgpack bytes (see the file comment).
[[nodiscard]] inline std::string encode_kv_event_batch(double ts, const KVEventLog& events,
                                                       std::optional<std::uint32_t> data_parallel_rank) {
    msgpack::sbuffer buf;
    msgpack::packer<msgpack::sbuffer> pk(buf);
    pk.pack_array(data_parallel_rank ? 3 : 2);
    pk.pack_double(ts);
    pk.pack_array(static_cast<std::uint32_t>(events.size()));
    for (const KVCacheEvent& e : events) {
        switch (e.kind) {
        case KVCacheEvent::Kind::block_stored:
            pk.pack_array(8);
            pk.pack(std::string_view("BlockStored"));
            pk.pack_array(static_cast<std::uint32_t>(e.block_hashes.size()));
            for (const std::uint64_t h : e.block_hashes) pk.pack_uint64(h);
            if (e.parent_block_hash)
                pk.pack_uint64(*e.parent_block_hash);
            else
                pk.pack_nil();
            pk.pack_array(static_cast<std::uint32_t>(e.token_ids.size()));
            for (const TokenId t : e.token_ids) pk.pack_int32(t);
            pk.pack_uint32(e.block_size);
            pk.pack_nil(); // lora_id
            pk.pack(std::string_view("GPU"));
            pk.pack_nil(); // lora_name
            break;
        case KVCacheEvent::Kind::block_removed:
            pk.pack_array(3);
            pk.pack(std::string_view("BlockRemoved"));
            pk.pack_array(static_cast<std::uint32_t>(e.block_hashes.size()));
            for (const std::uint64_t h : e.block_hashes) pk.pack_uint64(h);
            pk.pack(std::string_view("GPU"));
            break;
        case KVCacheEvent::Kind::all_blocks_cleared:
            pk.pack_array(1);
            pk.pack(std::string_view("AllBlocksCleared"));
            break;
        }
    }
    if (data_parallel_rank) pk.pack_uint32(*data_parallel_rank);
    return {buf.data(), buf.size()};
}

/// Publishes one engine's KV-cache events over ZeroMQ (see the file comment).
class KVEventPublisher {
public:
    /// Counters (readable from any thread).
    struct Stats {
        std::uint64_t batches = 0;
        std::uint64_t events = 0;
        /// Batches dropped because max_queue_size were already waiting for the thread.
        std::uint64_t dropped = 0;
        std::uint64_t replays = 0;
    };

    /// Binds or connects the sockets now (throws config_error naming the endpoint when
    /// that fails). `rank` is the batches' data_parallel_rank; `port_offset` is added to
    /// the endpoints' ports (vLLM adds the DP rank; a replica adds its index).
    KVEventPublisher(const KVEventsConfig& config, std::uint32_t rank, std::uint32_t port_offset)
        : m_config(config), m_rank(rank), m_context(1) {
        m_endpoint = offset_endpoint_port(config.endpoint, port_offset);
        if (config.replay_endpoint) m_replay_endpoint = offset_endpoint_port(*config.replay_endpoint, port_offset);
        try {
            m_pub = zmq::socket_t(m_context, zmq::socket_type::pub);
            m_pub.set(zmq::sockopt::sndhwm, static_cast<int>(std::min<std::uint64_t>(config.hwm, 0x7FFFFFFF)));
            m_pub.set(zmq::sockopt::linger, 500);
            // An IPv6 address ("tcp://[::1]:5557", bound by vLLM's '::' rule) needs IPv6 on.
            if (m_endpoint.find('[') != std::string::npos) m_pub.set(zmq::sockopt::ipv6, 1);
            const bool bind = m_endpoint.find('*') != std::string::npos || m_endpoint.find("::") != std::string::npos ||
                              m_endpoint.rfind("ipc://", 0) == 0 || m_endpoint.rfind("inproc://", 0) == 0;
            if (bind)
                m_pub.bind(m_endpoint);
            else
                m_pub.connect(m_endpoint);
        } catch (const zmq::error_t& e) {
            llmemu::detail::throw_error<config_error>("--kv-events-config: cannot open the PUB endpoint '" +
                                                      m_endpoint + "': " + e.what() + " (pick another endpoint port)");
        }
        if (!m_replay_endpoint.empty()) {
            try {
                m_replay = zmq::socket_t(m_context, zmq::socket_type::router);
                m_replay.set(zmq::sockopt::linger, 0);
                if (m_replay_endpoint.find('[') != std::string::npos) m_replay.set(zmq::sockopt::ipv6, 1);
                m_replay.bind(m_replay_endpoint);
            } catch (const zmq::error_t& e) {
                llmemu::detail::throw_error<config_error>("--kv-events-config: cannot bind replay_endpoint '" +
                                                          m_replay_endpoint + "': " + e.what() +
                                                          " (pick another port)");
            }
        }
        m_thread = std::thread([this] { run(); });
    }
    KVEventPublisher(const KVEventPublisher&) = delete;
    KVEventPublisher& operator=(const KVEventPublisher&) = delete;
    ~KVEventPublisher() { shutdown(); }

    /// The PUB and replay addresses in use (after the port offset).
    [[nodiscard]] const std::string& endpoint() const noexcept { return m_endpoint; }
    [[nodiscard]] const std::string& replay_endpoint() const noexcept { return m_replay_endpoint; }

    /// Queues one step's events as a batch stamped now (moves them out of `events`).
    /// Never blocks: beyond max_queue_size waiting batches the batch is dropped (counted).
    void publish(KVEventLog& events) {
        const double ts = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
        std::lock_guard lock(m_mutex);
        if (m_stopping) return;
        if (m_queue.size() >= m_config.max_queue_size) {
            ++m_stats.dropped;
            events.clear();
            return;
        }
        m_queue.push_back({ts, std::move(events)});
        events.clear();
        m_wake.notify_one();
    }

    /// Sends what is queued (waiting up to a second for it, as vLLM), then closes the
    /// sockets. Idempotent.
    void shutdown() {
        {
            std::lock_guard lock(m_mutex);
            m_stopping = true;
            m_wake.notify_one();
        }
        if (m_thread.joinable()) m_thread.join();
    }

    [[nodiscard]] Stats stats() const {
        std::lock_guard lock(m_mutex);
        return m_stats;
    }

private:
    struct Batch {
        double ts;
        KVEventLog events;
    };

    void send_batch(const Batch& b) {
        const std::uint64_t seq = m_next_seq++;
        std::string payload = encode_kv_event_batch(b.ts, b.events, m_rank);
        const std::string seq_bytes = big_endian(seq);
        (void)m_pub.send(zmq::buffer(m_config.topic), zmq::send_flags::sndmore);
        (void)m_pub.send(zmq::buffer(seq_bytes), zmq::send_flags::sndmore);
        (void)m_pub.send(zmq::buffer(payload), zmq::send_flags::none);
        if (m_config.buffer_steps > 0) {
            if (m_buffer.size() >= m_config.buffer_steps) m_buffer.pop_front();
            m_buffer.emplace_back(seq, std::move(payload));
        }
        std::lock_guard lock(m_mutex);
        ++m_stats.batches;
        m_stats.events += b.events.size();
    }

    static std::string big_endian(std::uint64_t v) {
        std::string out(8, '\0');
        for (int i = 7; i >= 0; --i) {
            out[static_cast<std::size_t>(i)] = static_cast<char>(v & 0xFFU);
            v >>= 8U;
        }
        return out;
    }

    // A replay request: [identity, "", start seq (8 bytes big endian)].
    void service_replay() {
        for (;;) {
            std::vector<zmq::message_t> frames;
            zmq::message_t part;
            if (!m_replay.recv(part, zmq::recv_flags::dontwait)) return;
            frames.push_back(std::move(part));
            while (m_replay.get(zmq::sockopt::rcvmore) != 0) {
                zmq::message_t more;
                (void)m_replay.recv(more, zmq::recv_flags::none);
                frames.push_back(std::move(more));
            }
            if (frames.size() != 3 || frames[2].size() != 8) continue; // vLLM: logged and ignored
            std::uint64_t start = 0;
            for (std::size_t i = 0; i < 8; ++i) start = (start << 8U) | frames[2].data<std::uint8_t>()[i];
            const std::string id(frames[0].data<char>(), frames[0].size());
            for (const auto& [seq, payload] : m_buffer) {
                if (seq < start) continue;
                (void)m_replay.send(zmq::buffer(id), zmq::send_flags::sndmore);
                (void)m_replay.send(zmq::const_buffer(nullptr, 0), zmq::send_flags::sndmore);
                const std::string seq_bytes = big_endian(seq);
                (void)m_replay.send(zmq::buffer(seq_bytes), zmq::send_flags::sndmore);
                (void)m_replay.send(zmq::buffer(payload), zmq::send_flags::none);
            }
            (void)m_replay.send(zmq::buffer(id), zmq::send_flags::sndmore);
            (void)m_replay.send(zmq::const_buffer(nullptr, 0), zmq::send_flags::sndmore);
            (void)m_replay.send(zmq::buffer(big_endian(~std::uint64_t{0})), zmq::send_flags::sndmore);
            (void)m_replay.send(zmq::const_buffer(nullptr, 0), zmq::send_flags::none);
            std::lock_guard lock(m_mutex);
            ++m_stats.replays;
        }
    }

    void run() {
        std::deque<Batch> work;
        std::chrono::steady_clock::time_point stop_deadline{};
        for (;;) {
            bool stopping = false;
            {
                std::unique_lock lock(m_mutex);
                m_wake.wait_for(lock, std::chrono::milliseconds(20), [&] { return m_stopping || !m_queue.empty(); });
                work.swap(m_queue);
                stopping = m_stopping;
            }
            try {
                for (const Batch& b : work) send_batch(b);
                if (m_replay) service_replay();
            } catch (const zmq::error_t&) {
                // As vLLM: a failed send is skipped; the subscriber sees a sequence gap.
            }
            work.clear();
            if (stopping) {
                if (stop_deadline == std::chrono::steady_clock::time_point{})
                    stop_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(1);
                std::lock_guard lock(m_mutex);
                if (m_queue.empty() || std::chrono::steady_clock::now() >= stop_deadline) break;
            }
        }
        m_pub.close();
        if (m_replay) m_replay.close();
    }

    KVEventsConfig m_config;
    std::uint32_t m_rank;
    std::string m_endpoint;
    std::string m_replay_endpoint;
    zmq::context_t m_context;
    zmq::socket_t m_pub;
    zmq::socket_t m_replay;
    std::deque<std::pair<std::uint64_t, std::string>> m_buffer; // publisher thread
    std::uint64_t m_next_seq = 0;                               // publisher thread
    mutable std::mutex m_mutex;
    std::condition_variable m_wake;
    std::deque<Batch> m_queue;
    bool m_stopping = false;
    Stats m_stats;
    std::thread m_thread;
};

} // namespace llmemu::server
