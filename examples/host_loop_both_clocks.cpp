// host_loop_both_clocks: an event-driven host — it never blocks on a step — whose code runs
// unchanged on the virtual clock (simulated time, instant) and on the wall clock (real
// time). Each step's continuation, attached with then(F(StepOutput)), applies the step's
// tokens and dispatches the next step; llmemu::drive_until() moves time on either clock
// until the host says it is done. Both runs schedule the same steps with the same step
// latencies; on the wall clock the host's own delays between steps show as GPU idle time.
//
// Build: part of the examples (ninja host_loop_both_clocks); run: ./bin/host_loop_both_clocks
#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <vector>

#include <llmemu/executor/emulated_executor.hpp>
#include <llmemu/oracle/analytic.hpp>
#include <llmemu/time/timer_future.hpp>
#include <llmemu/time/virtual_clock.hpp>
#include <llmemu/time/wall_clock.hpp>
#include <llmemu/tokens/constant_token_emitter.hpp>

namespace {

using llmemu::ScheduledRequest;

// Four requests, prompts of 300..900 tokens in 256-token chunks, 6 output tokens each.
struct Request {
    llmemu::RequestId id;
    std::uint32_t prompt, computed = 0, generated = 0;
};

template <llmemu::Clock C>
class Host {
public:
    using Executor = llmemu::EmulatedExecutor<llmemu::AffineProfile, C, llmemu::ConstantTokenEmitter>;

    explicit Host(C& clock) : m_exec(llmemu::AffineProfile{1.0, 2.0, 50.0}, clock, llmemu::ConstantTokenEmitter{7}) {
        for (std::uint32_t i = 0; i < 4; ++i) m_requests.push_back(Request{i, 300 + 200 * i});
    }

    void start() { dispatch(); }
    [[nodiscard]] bool done() const { return m_done.load(std::memory_order_acquire); }
    [[nodiscard]] const std::vector<llmemu::StepOutput>& steps() const { return m_steps; }

private:
    // Builds and dispatches the next step; its continuation calls back here. Runs on the
    // thread that resolves the previous step (wall clock: the timer thread), one at a time.
    void dispatch() {
        llmemu::StepBatch batch{m_step, {}};
        std::uint32_t budget = 512;
        for (const Request& r : m_requests) {
            if (r.generated == max_tokens || budget == 0) continue;
            if (r.computed < r.prompt) {
                const std::uint32_t n = std::min({256U, r.prompt - r.computed, budget});
                batch.requests.push_back(
                    ScheduledRequest::prefill_chunk(r.id, n, r.computed, r.prompt).admitted(r.computed == 0));
                budget -= n;
            } else {
                batch.requests.push_back(ScheduledRequest::decode(r.id, r.prompt + r.generated - 1, r.generated));
                budget -= 1;
            }
        }
        if (batch.requests.empty()) {
            m_done.store(true, std::memory_order_release);
            return;
        }
        // Keep the chained future alive (destroying it unresolved would cancel the step's
        // continuation); two slots suffice: the one overwritten has resolved.
        m_pending[m_step % 2] =
            m_exec.execute(batch).then([this, batch](const llmemu::StepOutput& out) { on_step(batch, out); });
        ++m_step;
    }

    void on_step(const llmemu::StepBatch& batch, const llmemu::StepOutput& out) {
        m_steps.push_back(out);
        for (std::size_t i = 0; i < batch.requests.size(); ++i) {
            Request& r = m_requests[batch.requests[i].id];
            if (r.computed < r.prompt) r.computed += batch.requests[i].num_scheduled_tokens;
            if (out.outputs[i].token) ++r.generated;
        }
        dispatch();
    }

    static constexpr std::uint32_t max_tokens = 6;
    Executor m_exec;
    std::vector<Request> m_requests;
    std::uint64_t m_step = 0;
    std::array<std::optional<llmemu::TimerFuture<void, C>>, 2> m_pending;
    std::vector<llmemu::StepOutput> m_steps;
    std::atomic<bool> m_done{false};
};

// The same host code on any clock: start, then let drive_until move time.
template <llmemu::Clock C>
std::vector<std::chrono::nanoseconds> run(C& clock, const char* name) {
    Host<C> host(clock);
    const auto t0 = std::chrono::steady_clock::now();
    host.start();
    llmemu::drive_until(clock, [&] { return host.done(); });
    const double wall_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    std::vector<std::chrono::nanoseconds> latencies;
    std::chrono::nanoseconds busy{0};
    for (const auto& o : host.steps()) {
        latencies.push_back(o.latency);
        busy += o.latency;
    }
    const auto span =
        host.steps().empty() ? std::chrono::nanoseconds{0} : host.steps().back().end - host.steps().front().start;
    const auto ms = [](std::chrono::nanoseconds d) { return std::chrono::duration<double, std::milli>(d).count(); };
    std::printf(
        "%-13s %zu steps in %.3f emulated ms: GPU busy %.3f ms, idle %.3f ms (host between steps); %.2f wall ms\n",
        name, latencies.size(), ms(span), ms(busy), ms(span - busy), wall_ms);
    return latencies;
}

} // namespace

int main() {
    llmemu::VirtualClock vclock;
    const auto simulated = run(vclock, "virtual clock");
    llmemu::WallClock wclock;
    const auto live = run(wclock, "wall clock");
    const bool same = !simulated.empty() && simulated == live;
    std::printf("same host code on both clocks: %s (%zu steps, identical step latencies)\n", same ? "yes" : "NO",
                simulated.size());
    return same ? 0 : 1;
}
