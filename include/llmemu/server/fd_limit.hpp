#pragma once
/// \file fd_limit.hpp
/// Raises the soft limit on open files to the hard limit: a server or load client with
/// thousands of concurrent streams needs one descriptor per connection, and many systems
/// default the soft limit to 1024. `llmemu serve` and `llmemu bench` call it at start;
/// so can a program that embeds the server or the load generator.

#include <cstdint>

#include <sys/resource.h>

#include "llmemu/config.hpp"

LLMEMU_BEGIN_NAMESPACE

/// Raises RLIMIT_NOFILE's soft limit to its hard limit; returns the resulting soft limit
/// (0 when it cannot be read).
inline std::uint64_t raise_fd_limit() noexcept {
    rlimit lim{};
    if (getrlimit(RLIMIT_NOFILE, &lim) != 0) return 0;
    if (lim.rlim_cur < lim.rlim_max) {
        rlimit want = lim;
        want.rlim_cur = lim.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &want) == 0) lim = want;
    }
    return static_cast<std::uint64_t>(lim.rlim_cur);
}

LLMEMU_END_NAMESPACE
