#pragma once
/// \file step_shape.hpp
/// Forwarding header: Phase and StepShape live in llmemu/core/step.hpp with the rest of
/// the step vocabulary.

#include "llmemu/core/step.hpp"
