#pragma once
/// \file fwd.hpp
/// Forward declarations of llmemu's main types, for headers that only name them.

#include <cstdint>

namespace llmemu {

class error;
class profile_error;
class config_error;
class request_error;
class workload_error;
class contract_error;
class future_error;

class Rng;
enum class Phase : std::uint8_t;
struct StepShape;
struct ModelConfig;
struct ScheduledRequest;
struct StepBatch;
struct RequestOutput;
struct StepOutput;

class ProfileStore;
class ProfileTable;
class AnyLatencyModel;
struct ConstantProfile;
struct AffineProfile;
struct Coverage;
struct LatencySample;

class VirtualClock;
class WallClock;
class TimerService;

struct EngineConfig;
struct EngineStats;
struct RequestSpec;
struct RequestRecord;
struct TokenEvent;
class KVCacheManager;
class Scheduler;

} // namespace llmemu
