#pragma once
/// \file step_executor.hpp
/// Concept StepExecutor: the plug-in point. A host scheduler describes one step as a
/// StepBatch and gets back a future of its StepOutput; llmemu's EmulatedExecutor is one
/// model, a real GPU backend could be another. Defined by operations, not a base class.

#include <concepts>
#include <functional>
#include <utility>

#include "llmemu/config.hpp"
#include "llmemu/executor/step.hpp"

LLMEMU_BEGIN_NAMESPACE

/// A future-like result of one step: `f.ready()` (never blocks), `f.wait()`, and
/// `f.get()` returning the StepOutput (TimerFuture<StepOutput, C> models it).
template <class F>
concept StepFuture = requires(F& f, const F& cf) {
    { cf.ready() } -> std::convertible_to<bool>;
    f.wait();
    { f.get() } -> std::convertible_to<StepOutput>;
};

/// A StepFuture that can also run a callback when it resolves: `f.then(std::function<void()>)`.
/// Hosts that do not block (an event loop) need this.
template <class F>
concept ContinuableStepFuture = StepFuture<F> && requires(F& f, std::function<void()> fn) {
    f.then(std::move(fn));
};

/// A step executor: `e.execute(const StepBatch&)` dispatches a step and returns a
/// StepFuture. The executor may accept the next dispatch before the previous step
/// resolves (async scheduling), and resolves steps in dispatch order.
template <class E>
concept StepExecutor = requires(E& e, const StepBatch& batch) {
    { e.execute(batch) } -> StepFuture;
};

/// The future type an executor returns.
template <StepExecutor E>
using step_future_t = decltype(std::declval<E&>().execute(std::declval<const StepBatch&>()));

LLMEMU_END_NAMESPACE
