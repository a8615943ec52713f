#pragma once
/// \file coverage.hpp
/// Forwarding header: Coverage and CoverageKind live in llmemu/core/coverage.hpp.

#include "llmemu/core/coverage.hpp"
