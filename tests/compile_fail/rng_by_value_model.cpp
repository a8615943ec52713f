// A latency model taking the Rng by value: EmulatedExecutor refuses it, naming the signature.
#include "common.hpp"
int main() {
    llmemu::VirtualClock clock;
    llmemu::EmulatedExecutor<RngByValueModel, llmemu::VirtualClock> exec(RngByValueModel{}, clock);
    return static_cast<int>(exec.steps());
}
