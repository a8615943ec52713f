// The old positional aggregate (id, tokens, computed, outputs, is_new, completes_prompt)
// no longer compiles: a ScheduledRequest is built by its named constructors only.
#include "common.hpp"
int main() {
    llmemu::StepBatch b{0, {llmemu::ScheduledRequest{7, 512, 0, 0, true, false}}};
    return static_cast<int>(b.total_tokens());
}
