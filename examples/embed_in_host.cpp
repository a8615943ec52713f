// embed_in_host: a small foreign scheduler — not llmemu's reference engine — that drives
// an LLM step executor through the StepExecutor concept alone. The host keeps its own
// control path (admission, chunked prefill, stopping) and hands each step to whatever
// executor it is given: here llmemu's EmulatedExecutor on a virtual clock (instant,
// exact) and on the wall clock (real time), and a decorator that counts steps.
//
// Build: part of the examples (cmake ... && ninja embed_in_host); run: ./bin/embed_in_host
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <vector>

#include <llmemu/executor/emulated_executor.hpp>
#include <llmemu/executor/step_executor.hpp>
#include <llmemu/oracle/analytic.hpp>
#include <llmemu/time/virtual_clock.hpp>
#include <llmemu/time/wall_clock.hpp>
#include <llmemu/tokens/eos_at_length_emitter.hpp>

namespace host {

// The host's own request bookkeeping.
struct Request {
    llmemu::RequestId id;
    std::uint32_t prompt_len;
    std::uint32_t max_tokens;
    std::uint32_t computed = 0;  // prompt tokens already prefilled
    std::uint32_t generated = 0; // output tokens so far
    bool admitted = false;
    bool done = false;
    std::chrono::nanoseconds first_token{-1}, finish{-1};
};

struct Report {
    std::vector<Request> requests;
    std::uint64_t steps = 0;
    std::chrono::nanoseconds origin{0}, end{0}, busy{0};
    std::uint64_t analytic_mismatches = 0;
};

// A toy policy, deliberately unlike vLLM's: at most `max_running` requests, shortest prompt
// first, fixed 128-token prefill chunks under a 512-token step budget, decode first.
// `expected_us` (optional) is an analytic latency to check each step against.
template <llmemu::StepExecutor E, class Expected>
Report run(E& executor, std::vector<Request> requests, Expected expected_us) {
    constexpr std::uint32_t max_running = 8, chunk = 128, budget = 512;
    std::deque<Request*> waiting;
    for (auto& r : requests) waiting.push_back(&r);
    std::sort(waiting.begin(), waiting.end(),
              [](const Request* a, const Request* b) { return a->prompt_len < b->prompt_len; });
    std::vector<Request*> running;
    Report rep;
    bool first_step = true;
    while (!waiting.empty() || !running.empty()) {
        while (running.size() < max_running && !waiting.empty()) {
            running.push_back(waiting.front());
            waiting.pop_front();
        }
        llmemu::StepBatch batch;
        batch.step_id = rep.steps;
        std::uint32_t tokens = 0;
        for (Request* r : running) { // decodes first, then prefill chunks
            if (r->computed == r->prompt_len && tokens < budget) {
                batch.requests.push_back(
                    llmemu::ScheduledRequest::decode(r->id, r->prompt_len + r->generated - 1, r->generated));
                tokens += 1;
            }
        }
        for (Request* r : running) {
            if (r->computed < r->prompt_len && tokens < budget) {
                const std::uint32_t n = std::min({chunk, r->prompt_len - r->computed, budget - tokens});
                batch.requests.push_back(llmemu::ScheduledRequest::prefill_chunk(r->id, n, r->computed, r->prompt_len)
                                             .admitted(!r->admitted));
                tokens += n;
            }
        }
        // Hand the step to the executor and wait for its result: this is the whole plug-in point.
        auto future = executor.execute(batch);
        const llmemu::StepOutput out = future.get();
        if (first_step) rep.origin = out.start;
        first_step = false;
        rep.end = out.end;
        rep.busy += out.end - out.start;
        ++rep.steps;
        const double want = expected_us(out.shape);
        if (want >= 0 && out.end - out.start != std::chrono::nanoseconds(std::llround(want * 1000.0)))
            ++rep.analytic_mismatches;

        for (std::size_t i = 0; i < out.outputs.size(); ++i) {
            const llmemu::ScheduledRequest& s = batch.requests[i];
            Request* r = *std::find_if(running.begin(), running.end(), [&](const Request* q) { return q->id == s.id; });
            r->admitted = true;
            if (r->computed < r->prompt_len) r->computed += s.num_scheduled_tokens;
            const llmemu::RequestOutput& o = out.outputs[i];
            if (!o.token) continue; // a partial prefill chunk samples no token
            if (r->generated++ == 0) r->first_token = out.end;
            if (o.is_eos || r->generated == r->max_tokens) {
                r->done = true;
                r->finish = out.end;
            }
        }
        std::erase_if(running, [](const Request* r) { return r->done; });
    }
    rep.requests = std::move(requests);
    return rep;
}

void print(const char* title, const Report& rep) {
    const double total_ms = std::chrono::duration<double, std::milli>(rep.end - rep.origin).count();
    std::uint64_t out_tokens = 0;
    double ttft = 0, e2e = 0;
    for (const auto& r : rep.requests) {
        out_tokens += r.generated;
        ttft += std::chrono::duration<double, std::milli>(r.first_token - rep.origin).count();
        e2e += std::chrono::duration<double, std::milli>(r.finish - rep.origin).count();
    }
    const auto n = static_cast<double>(rep.requests.size());
    std::printf("%s\n  %zu requests, %llu steps, %llu output tokens in %.3f emulated ms (%.0f tok/s)\n"
                "  mean TTFT %.3f ms, mean E2E latency %.3f ms\n",
                title, rep.requests.size(), static_cast<unsigned long long>(rep.steps),
                static_cast<unsigned long long>(out_tokens), total_ms,
                static_cast<double>(out_tokens) / (total_ms / 1000.0), ttft / n, e2e / n);
}

std::vector<Request> workload(std::uint32_t n, std::uint32_t max_tokens) {
    std::vector<Request> rs;
    for (std::uint32_t i = 0; i < n; ++i) rs.push_back(Request{i, 64 + (i * 97) % 700, max_tokens});
    return rs;
}

} // namespace host

// Any type with execute() -> future-like works; this decorator counts what passes through.
template <llmemu::StepExecutor E>
struct CountingExecutor {
    E& inner;
    std::uint64_t prefill_steps = 0, decode_steps = 0;
    auto execute(const llmemu::StepBatch& b) {
        (b.num_new() > 0 ? prefill_steps : decode_steps) += 1;
        return inner.execute(b);
    }
};

int main() {
    // 1. Virtual clock, affine profile: 2 ms + 25 us/token + 40 us/sequence per step.
    //    EOS at a per-request length drawn from [16, 64), or max_tokens = 48, whichever first.
    const llmemu::AffineProfile affine{2.0, 25.0, 40.0};
    llmemu::VirtualClock vclock;
    llmemu::EosAtLengthEmitter eos(2, llmemu::UniformVocabEmitter(32000, 2), [](llmemu::RequestId, llmemu::Rng& g) {
        return static_cast<std::uint32_t>(16 + llmemu::uniform_index(g, 48));
    });
    llmemu::EmulatedExecutor<llmemu::AffineProfile, llmemu::VirtualClock, llmemu::EosAtLengthEmitter> sim(
        affine, vclock, eos, 42);
    CountingExecutor<decltype(sim)> counted{sim};
    const auto wall0 = std::chrono::steady_clock::now();
    const host::Report rep = host::run(counted, host::workload(40, 48), [&](const llmemu::StepShape& s) {
        llmemu::Rng unused;
        return affine.sample(s, unused);
    });
    const double wall_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - wall0).count();
    host::print("virtual clock, affine:2ms,25us,40us (EOS at sampled lengths)", rep);
    std::printf("  %llu prefill + %llu decode steps; %llu steps off the analytic latency; "
                "simulated in %.2f wall ms (%.0fx faster than real time)\n",
                static_cast<unsigned long long>(counted.prefill_steps),
                static_cast<unsigned long long>(counted.decode_steps),
                static_cast<unsigned long long>(rep.analytic_mismatches), wall_ms,
                std::chrono::duration<double, std::milli>(rep.end - rep.origin).count() / wall_ms);

    // 2. The same host on the wall clock: steps resolve at real deadlines.
    llmemu::WallClock wclock;
    llmemu::EmulatedExecutor<llmemu::ConstantProfile> live(llmemu::ConstantProfile{2.0}, wclock);
    const auto t0 = llmemu::WallClock::now();
    const host::Report live_rep =
        host::run(live, host::workload(4, 8), [](const llmemu::StepShape&) { return 2000.0; });
    const double elapsed_ms = std::chrono::duration<double, std::milli>(llmemu::WallClock::now() - t0).count();
    host::print("wall clock, const:2", live_rep);
    const auto ms = [](std::chrono::nanoseconds d) { return std::chrono::duration<double, std::milli>(d).count(); };
    std::printf("  real elapsed %.3f ms for %.3f emulated ms: GPU busy %.3f ms, idle %.3f ms while the host\n"
                "  worked between a step's end and its next dispatch; %llu steps off the analytic latency\n",
                elapsed_ms, ms(live_rep.end - live_rep.origin), ms(live_rep.busy),
                ms(live_rep.end - live_rep.origin - live_rep.busy),
                static_cast<unsigned long long>(live_rep.analytic_mismatches));

    return rep.analytic_mismatches == 0 && live_rep.analytic_mismatches == 0 ? 0 : 1;
}
