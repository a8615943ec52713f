#pragma once
/// \file version.hpp
/// llmemu's version, for compile-time checks and for the tools to print (the macros are
/// in config.hpp: LLMEMU_VERSION_MAJOR, _MINOR, _PATCH, _STRING and LLMEMU_VERSION).

#include "llmemu/config.hpp"

namespace llmemu {
/// The library version as "major.minor.patch".
inline constexpr const char* version_string = LLMEMU_VERSION_STRING;
} // namespace llmemu
