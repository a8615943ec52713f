// The control: the same includes and a correct use compile, so a failure of the other
// cases is theirs, not the harness's.
#include "common.hpp"
int main() {
    llmemu::VirtualClock clock;
    llmemu::EmulatedExecutor<llmemu::ConstantProfile, llmemu::VirtualClock, llmemu::ConstantTokenEmitter> exec(
        llmemu::ConstantProfile{1.0}, clock, llmemu::ConstantTokenEmitter{});
    const llmemu::StepBatch b{0, {llmemu::ScheduledRequest::decode(3, 900, 41)}};
    return exec.execute(b).get().outputs.size() == 1 ? 0 : 1;
}
