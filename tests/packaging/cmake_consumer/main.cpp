// Builds against llmemu as a user would and checks the umbrella header works. CMake builds
// it with llmemu::core only (no third-party library), pkg-config and Meson with llmemu.
#include <llmemu/llmemu.hpp>

#include <chrono>
#include <cstdio>
#include <cstring>

int main() {
    llmemu::StepBatch batch;
    batch.requests.push_back(llmemu::ScheduledRequest::prefill_chunk(1, 128, 0, 128).admitted());
    const llmemu::StepShape shape = batch.shape();
    if (shape.phase != llmemu::Phase::prefill || shape.total_tokens != 128) return 1;
    if (std::strcmp(llmemu::version_string, LLMEMU_VERSION_STRING) != 0) return 1;
    // An emulated step on the virtual clock: the engine side works from the core headers.
    llmemu::VirtualClock clock;
    llmemu::EmulatedExecutor exec(llmemu::ConstantProfile{2.0}, clock);
    const llmemu::StepOutput out = exec.execute(batch).get();
    if (out.latency != std::chrono::milliseconds(2) || out.outputs.size() != 1) return 1;
    std::printf("llmemu %s consumer ok\n", llmemu::version_string);
    return 0;
}
