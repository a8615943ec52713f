// A token emitter taking the Rng by value: EmulatedExecutor refuses it, naming the signature.
#include "common.hpp"
int main() {
    llmemu::VirtualClock clock;
    llmemu::EmulatedExecutor<llmemu::ConstantProfile, llmemu::VirtualClock, RngByValueEmitter> exec(
        llmemu::ConstantProfile{1.0}, clock, RngByValueEmitter{});
    return static_cast<int>(exec.steps());
}
