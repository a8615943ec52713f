#pragma once
/// \file router.hpp
/// Moved: the replica routers are in llmemu/fleet/router.hpp and the fleet driver
/// (run_fleet_simulation, run_replicated_simulation) in llmemu/fleet/fleet.hpp. This
/// header forwards to both.

#include "llmemu/fleet/fleet.hpp"
#include "llmemu/fleet/router.hpp"
