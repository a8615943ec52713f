#pragma once
/// \file step.hpp
/// Forwarding header: StepBatch, ScheduledRequest, StepOutput and RequestOutput live in
/// llmemu/core/step.hpp, below executor/, tokens/ and oracle/ that all use them.

#include "llmemu/core/step.hpp"
