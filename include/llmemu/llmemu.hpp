#pragma once
/// \file llmemu.hpp
/// Umbrella header: the whole core library (profiles, oracle, clocks, executor, tokens,
/// reference engine, workloads, metrics). The HTTP server (llmemu/server/) is separate
/// and never included here.

#include "llmemu/error.hpp"
#include "llmemu/fwd.hpp"
#include "llmemu/random.hpp"
#include "llmemu/version.hpp"

#include "llmemu/executor/step.hpp"
#include "llmemu/oracle/latency_model.hpp"
#include "llmemu/oracle/step_shape.hpp"
#include "llmemu/profile/model_config.hpp"
