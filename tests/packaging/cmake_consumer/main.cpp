// Builds against llmemu as a user would and checks the umbrella header works.
#include <llmemu/llmemu.hpp>

#include <cstdio>
#include <cstring>

int main() {
    llmemu::StepBatch batch;
    batch.requests.push_back(llmemu::ScheduledRequest::prefill_chunk(1, 128, 0, 128).admitted());
    const llmemu::StepShape shape = batch.shape();
    if (shape.phase != llmemu::Phase::prefill || shape.total_tokens != 128) return 1;
    if (std::strcmp(llmemu::version_string, LLMEMU_VERSION_STRING) != 0) return 1;
    std::printf("llmemu %s consumer ok\n", llmemu::version_string);
    return 0;
}
