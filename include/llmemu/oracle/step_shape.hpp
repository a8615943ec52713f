#pragma once
/// \file step_shape.hpp
/// What the latency oracle needs to know about one engine step.

#include <cstdint>

namespace llmemu {

/// Which profile table a step is drawn from. LLM-Emu's rule: a step that schedules at
/// least one newly admitted request is a prefill (or mixed) step; otherwise decode.
enum class Phase : std::uint8_t { decode = 0, prefill = 1 };

/// The key of one step: phase, total scheduled tokens (LLM-Emu's `tt`) and scheduled
/// requests (LLM-Emu's `conc`), plus the optional total KV depth of the batch.
struct StepShape {
    Phase phase = Phase::decode;
    std::uint32_t total_tokens = 0;
    std::uint32_t num_requests = 0;
    std::uint64_t kv_depth = 0;

    friend constexpr bool operator==(const StepShape&, const StepShape&) = default;
};

} // namespace llmemu
