// Shared by the compile-fail cases: each case defines one CASE_* macro and must fail to
// compile with the diagnostic named in compile_fail_tests.cmake; CASE_NONE must compile.
#include <llmemu/core/step.hpp>
#include <llmemu/executor/emulated_executor.hpp>
#include <llmemu/oracle/analytic.hpp>
#include <llmemu/time/virtual_clock.hpp>
#include <llmemu/tokens/constant_token_emitter.hpp>

struct RngByValueModel {
    double sample(const llmemu::StepShape& /*shape*/, llmemu::Rng rng) { return static_cast<double>(rng() % 100); }
};
struct RngByValueEmitter {
    llmemu::EmittedToken emit(const llmemu::ScheduledRequest& /*r*/, llmemu::Rng rng) {
        return {static_cast<llmemu::TokenId>(rng() % 100), false};
    }
};
