#pragma once
/// \file error.hpp
/// One small exception hierarchy: every error llmemu throws derives from llmemu::error,
/// and its message names the input and the fix.

#include <stdexcept>
#include <string>

#include "llmemu/config.hpp"

LLMEMU_BEGIN_NAMESPACE

/// Base of every exception llmemu throws.
class error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// A profile pack, step trace or analytic profile spec is malformed or unusable.
class profile_error : public error {
public:
    using error::error;
};

/// Engine, executor or tool configuration is invalid or contradictory.
class config_error : public error {
public:
    using error::error;
};

/// A request cannot be served (too long for max_model_len, bad parameters ...).
class request_error : public error {
public:
    using error::error;
};

/// A workload (trace file, dataset, arrival process) is malformed.
class workload_error : public error {
public:
    using error::error;
};

/// A caller broke an API precondition, or llmemu broke its own invariant (a programming
/// error, not bad input): an engine reused while it still has requests, a request source
/// out of arrival order, an executor whose output does not match its step, a router naming
/// a replica that does not exist, an engine that can no longer schedule. The CLI reports
/// it as an internal error (exit code 3), never as bad input.
class contract_error : public error {
public:
    using error::error;
};

/// A future was cancelled, or its value was taken twice.
class future_error : public error {
public:
    using error::error;
};

namespace detail {
// Throw helpers kept out of line of hot paths.
template <class E>
[[noreturn, gnu::cold, gnu::noinline]] void throw_error(const std::string& message) {
    throw E(message);
}
} // namespace detail

LLMEMU_END_NAMESPACE
