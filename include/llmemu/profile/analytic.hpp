#pragma once
/// \file analytic.hpp
/// Forwarding header: ConstantProfile and AffineProfile are latency models and live in
/// llmemu/oracle/analytic.hpp.

#include "llmemu/oracle/analytic.hpp"
