# Command-line tests of `llmemu validate` against vLLM's per-request records, and the
# calibration replay of the bundled real RTX 4090 run (docs/fidelity.md).
if(TARGET llmemu_cli)
  set(_d ${CMAKE_CURRENT_BINARY_DIR}/cli_validate)
  file(MAKE_DIRECTORY ${_d})
  set(_rec "{\"input_toks\":10,\"output_toks\":5,\"queued_ts\":1.0,\"first_token_ts\":1.5,\"last_token_ts\":2.5}")
  file(WRITE ${_d}/real.jsonl "${_rec}\n${_rec}\n")
  file(WRITE ${_d}/bad_line.jsonl "${_rec}\n{\"input_toks\":10,\n")
  file(WRITE ${_d}/no_first.jsonl "{\"input_toks\":10,\"output_toks\":5,\"queued_ts\":1.0,\"last_token_ts\":2.5}\n")
  file(WRITE ${_d}/means_only.json "{\"request_rate\":2,\"mean_ttft_ms\":100,\"mean_tpot_ms\":20,\"mean_itl_ms\":20,\"mean_e2el_ms\":1000,\"output_throughput\":50}")
  file(WRITE ${_d}/emu.json "{\"ttfts\":[0.5,0.6],\"output_lens\":[5,5],\"latencies\":[1.5,1.4],\"errors\":[\"\",\"\"]}")

  function(llmemu_validate_bad name regex)
    add_test(NAME cli.validate.${name}
             COMMAND sh -c "\"$0\" \"$@\" 2>&1; echo \"rc=$?\"" $<TARGET_FILE:llmemu_cli> ${ARGN})
    set_tests_properties(cli.validate.${name} PROPERTIES
      PASS_REGULAR_EXPRESSION "^llmemu: [^\n]*${regex}[^\n]*\nrc=2\n$")
  endfunction()
  llmemu_validate_bad(jsonl_bad_line "bad_line.jsonl:2: not valid JSON" validate --real ${_d}/bad_line.jsonl --emu ${_d}/emu.json)
  llmemu_validate_bad(jsonl_missing_field "no_first.jsonl:1: field 'first_token_ts' is missing" validate --real ${_d}/no_first.jsonl --emu ${_d}/emu.json)
  llmemu_validate_bad(emu_without_lists "has no per-request lists" validate --real ${_d}/real.jsonl --emu ${_d}/means_only.json)
  llmemu_validate_bad(timeseries_csv_alone "add --real-timeseries" validate --real ${_d}/real.jsonl --emu ${_d}/emu.json --timeseries-csv ${_d}/x.csv)
  llmemu_validate_bad(timeseries_without_section "no llmemu.timeseries" validate --real ${_d}/real.jsonl --emu ${_d}/emu.json --real-timeseries ${PROJECT_SOURCE_DIR}/data/vllm-runs/RTX4090-Llama-3.1-8B/timeseries.csv)
  llmemu_validate_bad(jsonl_with_several_emu "exactly one --emu" validate --real ${_d}/real.jsonl --emu ${_d}/emu.json,${_d}/means_only.json)

  add_test(NAME cli.validate.requests_jsonl_table
           COMMAND $<TARGET_FILE:llmemu_cli> validate --real ${_d}/real.jsonl --emu ${_d}/emu.json)
  set_tests_properties(cli.validate.requests_jsonl_table PROPERTIES
    PASS_REGULAR_EXPRESSION "TTFT   mean +500.00 +550.00 +\\+10.00.*Kolmogorov-Smirnov distance: TTFT 0.5000")

  # validate --replicates: the bundled real run against 3 emulated replicates of it.
  set(_run ${PROJECT_SOURCE_DIR}/data/vllm-runs/RTX4090-Llama-3.1-8B)
  add_test(NAME cli.validate.replicates_simulate
           COMMAND $<TARGET_FILE:llmemu_cli> simulate --profile ${PROJECT_SOURCE_DIR}/data/layerwise-profiles/RTX4090/meta-llama/Llama-3.1-8B/bf16
                   --trace ${_run}/workload.csv --num-gpu-blocks-override 2588 --max-num-seqs 256
                   --max-num-batched-tokens 2048 --max-model-len 32768 --replicates 3 --save-detailed
                   --result-json ${_d}/replicates.json -q)
  set_tests_properties(cli.validate.replicates_simulate PROPERTIES FIXTURES_SETUP validate_replicates)
  add_test(NAME cli.validate.replicates_table
           COMMAND $<TARGET_FILE:llmemu_cli> validate --real ${_run}/requests.jsonl --emu ${_d}/replicates.json --replicates 3)
  set_tests_properties(cli.validate.replicates_table PROPERTIES FIXTURES_REQUIRED validate_replicates
    PASS_REGULAR_EXPRESSION "first of 3 replicates.*ours 95% CI \\(ms\\) +inside\n-+\nTTFT   mean +65456.57 +[0-9.]+ +[-+][0-9.]+ +\\+- [0-9.]+ +(yes|no)\n.*Real value inside ours' 95% CI: [0-9]+ of 12\nKolmogorov-Smirnov distance \\(mean of 3 replicates\\)")
  add_test(NAME cli.validate.replicates_json
           COMMAND $<TARGET_FILE:llmemu_cli> validate --real ${_run}/requests.jsonl --emu ${_d}/replicates.json --replicates 3 --json)
  set_tests_properties(cli.validate.replicates_json PROPERTIES FIXTURES_REQUIRED validate_replicates
    PASS_REGULAR_EXPRESSION "\"emu_ci95_half_width\": [0-9].*\"real_inside\": (true|false).*\"replicates\": 3")
  llmemu_validate_bad(replicates_count "holds 3 replicate runs; give --replicates 3" validate --real ${_run}/requests.jsonl --emu ${_d}/replicates.json --replicates 2)
  set_tests_properties(cli.validate.replicates_count PROPERTIES FIXTURES_REQUIRED validate_replicates)
  llmemu_validate_bad(replicates_missing "has no llmemu.replicates.runs.*simulate --replicates 2 --save-detailed" validate --real ${_d}/real.jsonl --emu ${_d}/emu.json --replicates 2)
  llmemu_validate_bad(replicates_per_rate "without --csv" validate --real ${_d}/means_only.json --emu ${_d}/means_only.json --replicates 2)

  add_test(NAME cli.validate.calibration_replay
           COMMAND ${CMAKE_COMMAND} -DLLMEMU=$<TARGET_FILE:llmemu_cli> -DSRC=${PROJECT_SOURCE_DIR}
                   -DOUT=${_d}/replay -DLIMIT_PCT=5 -P ${CMAKE_CURRENT_SOURCE_DIR}/calibration_replay.cmake)
  set_tests_properties(cli.validate.calibration_replay PROPERTIES TIMEOUT 120)
endif()
