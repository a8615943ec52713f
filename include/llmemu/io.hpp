#pragma once
/// \file io.hpp
/// The readers: everything of the library that parses files, which the umbrella
/// <llmemu/llmemu.hpp> leaves out so that it parses the standard library only
/// (docs/embedding.md, "What including llmemu costs"). Include both for the whole library.
///
///  - AnyLatencyModel and its `from_spec` (packs, learned models, layer-wise profile folders),
///    bootstrap resamples of a pack (`bootstrap_model`),
///    with the models behind it: LearnedLatencyModel, LayerwiseModel;
///  - profile packs (`load_llm_emu_pack`, `write_llm_emu_pack`) and their long-CSV form
///    (`read_samples_csv`, `write_samples_csv`), the pack builder from step traces, Hugging
///    Face `config.json`, layer-wise profile tables, the bundled data folder;
///  - workloads (`build_workload`): CSV and Mooncake traces, vLLM datasets, output-length
///    models, rate schedules, sessions, and WorkloadSource for the engine and fleet drivers;
///    the step shapes a trace implies (`trace_step_shapes`).
/// Parsing uses simdjson (a public dependency of `llmemu::llmemu`, not of `llmemu::core`).
/// Not here either: the nlohmann-json writers (metrics/*_json.hpp, fleet/fleet_json.hpp,
/// workload/workload_spec.hpp), the HTML report (llmemu/report/) and the HTTP server
/// (llmemu/server/), the Eigen fitting tools (oracle/learned_fit.hpp, oracle/holdout.hpp),
/// nor the command line's whole-run driver (fleet/emulation.hpp: run_emulation).

#include "llmemu/llmemu.hpp"

#include "llmemu/oracle/any_latency_model.hpp"
#include "llmemu/oracle/bootstrap.hpp"
#include "llmemu/oracle/layerwise_model.hpp"
#include "llmemu/oracle/learned_model.hpp"
#include "llmemu/profile/builder.hpp"
#include "llmemu/profile/data_dir.hpp"
#include "llmemu/profile/hf_config.hpp"
#include "llmemu/profile/layerwise_profile.hpp"
#include "llmemu/profile/llm_emu_json.hpp"
#include "llmemu/profile/samples_csv.hpp"
#include "llmemu/workload/datasets.hpp"
#include "llmemu/workload/length_model.hpp"
#include "llmemu/workload/mooncake.hpp"
#include "llmemu/workload/schedule.hpp"
#include "llmemu/workload/sessions.hpp"
#include "llmemu/workload/source.hpp"
#include "llmemu/workload/trace.hpp"
#include "llmemu/workload/trace_shapes.hpp"
#include "llmemu/workload/workload.hpp"
