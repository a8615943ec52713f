#pragma once
/// \file arrivals.hpp
/// Request arrival times drawn exactly the way vLLM's benchmark client (`vllm bench serve`,
/// get_request) draws them: rate inf sends everything at t = 0; otherwise each request's
/// gap is Gamma(shape = burstiness, scale = 1 / (rate * burstiness)) (burstiness 1 is a
/// Poisson process, burstiness inf a constant gap), the gaps are summed, and the sums are
/// rescaled so that the last request is sent at exactly n / rate seconds.

#include <cmath>
#include <cstddef>
#include <limits>
#include <string>
#include <vector>

#include "llmemu/config.hpp"
#include "llmemu/error.hpp"
#include "llmemu/random.hpp"

LLMEMU_BEGIN_NAMESPACE

/// An arrival process: requests per second (inf = all at once) and Gamma burstiness.
struct ArrivalProcess {
    double request_rate = std::numeric_limits<double>::infinity();
    /// Gamma shape: 1 = Poisson; < 1 burstier; > 1 more regular; inf = constant gaps.
    double burstiness = 1.0;

    /// Throws workload_error unless rate > 0 and burstiness > 0 (both may be inf; NaN never).
    void validate() const {
        if (!(request_rate > 0.0))
            detail::throw_error<workload_error>("request rate " + std::to_string(request_rate) +
                                                ": must be > 0 requests/s (or inf to send all requests at t=0)");
        if (!(burstiness > 0.0))
            detail::throw_error<workload_error>("burstiness " + std::to_string(burstiness) +
                                                ": must be > 0 (1 = Poisson, < 1 burstier, > 1 more regular)");
    }
    [[nodiscard]] bool is_instant() const noexcept { return std::isinf(request_rate); }
};

/// The send times (seconds from the start) of `n` requests under `process`, drawn with
/// llmemu::gamma from `rng` (one draw per request, in order): the same seed gives the same
/// times on every platform.
inline std::vector<double> arrival_times(std::size_t n, const ArrivalProcess& process, Rng& rng) {
    process.validate();
    std::vector<double> t(n, 0.0);
    if (n == 0 || process.is_instant()) return t;
    const double rate = process.request_rate;
    double sum = 0.0;
    for (std::size_t i = 0; i < n; ++i) {
        double gap = 0.0;
        if (std::isinf(process.burstiness))
            gap = 1.0 / rate;
        else
            gap = gamma(rng, process.burstiness, 1.0 / (rate * process.burstiness));
        sum += gap;
        t[i] = sum;
    }
    // vLLM closes the 1-2 % gap between the random total and n / rate, so throughput does not
    // depend on the seed.
    if (sum != 0.0) {
        const double factor = (static_cast<double>(n) / rate) / sum;
        for (double& x : t) x *= factor;
    }
    return t;
}

LLMEMU_END_NAMESPACE
