#pragma once
/// \file fwd.hpp
/// Declarations of llmemu's main types, for headers that only name them (as nlohmann's
/// json_fwd.hpp): every main class and enum, the id aliases, and the class templates whose
/// parameters are unconstrained. Costs next to nothing to include.
///
/// Not here: the templates constrained by concepts (LatencyOracle, EmulatedExecutor, Engine,
/// TimerFuture, BasicEosAtLengthEmitter, OutputLengthEmitter). C++20 checks a constrained
/// template's arguments, defaults included, wherever a specialization is named, and caches
/// the answer: `LatencyOracle<>` named with AdaptiveKNeighbours still incomplete would fail
/// (and a later complete check would then be an error), and a concept cannot be declared
/// without its definition. Name those after including their header (oracle/oracle.hpp,
/// executor/emulated_executor.hpp, engine/engine.hpp, time/timer_future.hpp,
/// tokens/eos_at_length_emitter.hpp, workload/length_model.hpp).

#include <cstdint>

#include "llmemu/config.hpp"

LLMEMU_BEGIN_NAMESPACE

// ---- errors (error.hpp) ----
class error;
class profile_error;
class config_error;
class request_error;
class workload_error;
class contract_error;
class future_error;

// ---- the step vocabulary (core/) ----
class Rng;
using TokenId = std::int32_t;
using RequestId = std::uint64_t;
enum class Phase : std::uint8_t;
enum class CoverageKind : std::uint8_t;
struct Coverage;
struct StepShape;
struct ScheduledRequest;
struct StepBatch;
struct RequestOutput;
struct StepOutput;
class WorkTeam; // core/parallel.hpp

// ---- profiles (profile/) ----
struct ModelConfig;
class ProfileStore;
class ProfileTable;
struct LayerwiseProfile;

// ---- latency models (oracle/) ----
struct LatencySample;
struct Resolution;
struct OracleOptions;
struct AdaptiveKNeighbours;
struct ShepardWeights;
struct UniformWeights;
struct ConstantProfile;
struct AffineProfile;
class AnyLatencyModel;
class LearnedLatencyModel;
enum class FallbackScope : std::uint8_t;
/// A pack oracle that hands some steps to a learned model (oracle/learned_model.hpp).
template <class Oracle>
class OracleWithFallback;
class LayerwiseModel;
struct LayerwiseSpec;

// ---- clocks and futures (time/) ----
struct TimerHandle;
class VirtualClock;
class WallClock;
class TimerService;

// ---- token emitters (tokens/) ----
struct EmittedToken;
class ConstantTokenEmitter;
class UniformVocabEmitter;
class ReplayTokenEmitter;
class SyntheticVocabulary;

// ---- the reference engine (engine/) ----
struct EngineConfig;
struct EngineStats;
struct RequestSpec;
struct RequestRecord;
struct TokenEvent;
struct StepRecord;
class EngineObserver;
class ChromeTraceObserver;
class KVCacheManager;
class Scheduler;
/// A thread-safe, real-time Engine (engine/live_engine.hpp).
template <class E>
class LiveEngine;
struct SimulationOptions;
struct SimulationResult;
class EngineTimeSeries;

// ---- fleets, workloads, metrics ----
struct FleetResult;
struct FleetSettings;
struct ReplicaPlan;
struct RunOutcome;
struct SweepSetting;
struct SweepGrid;
struct SweepRun;
struct SweepPoint;
struct SweepSearch;
struct SweepCapacity;
struct PlanCandidate;
struct PlanRun;
struct PlanProbe;
struct PlanSearch;
struct PlanPoint;
struct PlanAnswer;
struct PlanResult;
struct ArrivalProcess;
struct Trace;
struct TraceRequest;
struct Workload;
struct WorkloadSpec;
struct WorkloadRequest;
class OutputLengthModel;
struct BenchResult;
class StreamingSummary;
struct ValidationReport;

LLMEMU_END_NAMESPACE
