#pragma once
/// \file llmemu.hpp
/// Umbrella header: the types, engines and policies of the core library (step vocabulary,
/// profile store, oracle, clocks, executor, token emitters, reference engine, fleets,
/// arrivals and lengths, metrics). It parses the standard library only: no third-party
/// header (docs/embedding.md, "What including llmemu costs"). Not included here:
///  - the readers, <llmemu/io.hpp>: AnyLatencyModel::from_spec and everything else that
///    parses packs, traces, datasets and configs (simdjson);
///  - the nlohmann-json writers (llmemu/metrics/*_json.hpp, fleet/fleet_json.hpp,
///    workload/workload_spec.hpp), the HTML report (llmemu/report/) and the HTTP server
///    (llmemu/server/, Boost.Beast);
///  - the offline fitting tools that need Eigen (llmemu/oracle/learned_fit.hpp,
///    llmemu/oracle/holdout.hpp).

#include "llmemu/error.hpp"
#include "llmemu/fwd.hpp"
#include "llmemu/random.hpp"
#include "llmemu/version.hpp"

#include "llmemu/core/coverage.hpp"
#include "llmemu/core/csv.hpp"
#include "llmemu/core/quantile.hpp"
#include "llmemu/core/step.hpp"
#include "llmemu/engine/block_hash.hpp"
#include "llmemu/engine/config.hpp"
#include "llmemu/engine/engine.hpp"
#include "llmemu/engine/kv_cache.hpp"
#include "llmemu/engine/live_engine.hpp"
#include "llmemu/engine/request.hpp"
#include "llmemu/engine/scheduler.hpp"
#include "llmemu/engine/simulation.hpp"
#include "llmemu/engine/stats.hpp"
#include "llmemu/engine/observer.hpp"
#include "llmemu/engine/timeseries.hpp"
#include "llmemu/executor/emulated_executor.hpp"
#include "llmemu/executor/step.hpp"
#include "llmemu/executor/step_executor.hpp"
#include "llmemu/fleet/fleet.hpp"
#include "llmemu/fleet/router.hpp"
#include "llmemu/metrics/bench_result.hpp"
#include "llmemu/metrics/bench_result_sketch.hpp"
#include "llmemu/metrics/prometheus.hpp"
#include "llmemu/metrics/request_metrics.hpp"
#include "llmemu/metrics/validation.hpp"
#include "llmemu/oracle/analytic.hpp"
#include "llmemu/oracle/coverage.hpp"
#include "llmemu/oracle/latency_model.hpp"
#include "llmemu/oracle/neighbours.hpp"
#include "llmemu/oracle/oracle.hpp"
#include "llmemu/oracle/shepard.hpp"
#include "llmemu/oracle/step_shape.hpp"
#include "llmemu/profile/analytic.hpp"
#include "llmemu/profile/model_config.hpp"
#include "llmemu/profile/store.hpp"
#include "llmemu/time/clock.hpp"
#include "llmemu/time/timer_future.hpp"
#include "llmemu/time/timer_service.hpp"
#include "llmemu/time/virtual_clock.hpp"
#include "llmemu/time/wall_clock.hpp"
#include "llmemu/tokens/constant_token_emitter.hpp"
#include "llmemu/tokens/emitters.hpp"
#include "llmemu/tokens/eos_at_length_emitter.hpp"
#include "llmemu/tokens/replay_token_emitter.hpp"
#include "llmemu/tokens/token_emitter.hpp"
#include "llmemu/tokens/uniform_vocab_emitter.hpp"
#include "llmemu/workload/arrivals.hpp"
#include "llmemu/workload/lengths.hpp"
#include "llmemu/workload/prompt.hpp"
