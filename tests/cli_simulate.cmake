# Command-line tests of `llmemu simulate`, `validate` and `sweep`: bad input gives ONE line
# "llmemu: ..." naming the input and the fix, and exit code 2; good input works.
if(TARGET llmemu_cli)
  set(_d ${CMAKE_CURRENT_BINARY_DIR}/cli_simulate)
  file(MAKE_DIRECTORY ${_d})
  set(_h "arrived_at,num_prefill_tokens,num_decode_tokens\n")
  file(WRITE ${_d}/good.csv "${_h}0,100,10\n0.5,200,20\n1.0,50,5\n")
  file(WRITE ${_d}/bad_columns.csv "time,prompt,output\n0,100,10\n")
  file(WRITE ${_d}/negative.csv "${_h}-1,100,10\n")
  file(WRITE ${_d}/unsorted.csv "${_h}0,100,10\n2,100,10\n1,100,10\n")
  file(WRITE ${_d}/zero_prompt.csv "${_h}0,100,10\n1,0,10\n")
  file(WRITE ${_d}/not_a_number.csv "${_h}0,abc,10\n")
  file(WRITE ${_d}/real_r2.json "{\"request_rate\":2,\"mean_ttft_ms\":100,\"mean_tpot_ms\":20,\"mean_itl_ms\":20,\"mean_e2el_ms\":1000,\"output_throughput\":50}")
  file(WRITE ${_d}/emu_r2.json "{\"request_rate\":2,\"mean_ttft_ms\":110,\"mean_tpot_ms\":19,\"mean_itl_ms\":20,\"mean_e2el_ms\":990,\"output_throughput\":51}")
  file(WRITE ${_d}/emu_r4.json "{\"request_rate\":4,\"mean_ttft_ms\":110,\"mean_tpot_ms\":19,\"mean_itl_ms\":20,\"mean_e2el_ms\":990,\"output_throughput\":51}")
  file(WRITE ${_d}/broken.json "{\"request_rate\":")

  # Runs llmemu with the given arguments and expects exit code 2 and one "llmemu: ..." line
  # matching `regex`.
  function(llmemu_cli_bad name regex)
    add_test(NAME cli.simulate.${name}
             COMMAND sh -c "\"$0\" \"$@\" 2>&1; echo \"rc=$?\"" $<TARGET_FILE:llmemu_cli> ${ARGN})
    set_tests_properties(cli.simulate.${name} PROPERTIES
      PASS_REGULAR_EXPRESSION "^llmemu: [^\n]*${regex}[^\n]*\nrc=2\n$")
  endfunction()

  llmemu_cli_bad(unknown_flag "--bogus" simulate --bogus)
  llmemu_cli_bad(unknown_subcommand_flag "--nope" sweep --nope)
  llmemu_cli_bad(bad_mode "mode" simulate --mode fast)
  llmemu_cli_bad(prefix_caching_contradiction "contradict" simulate --enable-prefix-caching --no-enable-prefix-caching)
  llmemu_cli_bad(blocks_and_utilization "give one of them" simulate --num-gpu-blocks 100 --gpu-memory-utilization 0.8)
  llmemu_cli_bad(random_with_trace "drop one of them" simulate --dataset random --trace ${_d}/good.csv)
  llmemu_cli_bad(input_len_without_random "add --dataset random" simulate --input-len 10)
  llmemu_cli_bad(burstiness_on_replay "drop --burstiness" simulate --trace ${_d}/good.csv --burstiness 0.5)
  llmemu_cli_bad(zero_rate "request-rate '0'" simulate --request-rate 0)
  llmemu_cli_bad(rate_not_a_number "--request-rate '2.5x': give a number" simulate --request-rate 2.5x)
  llmemu_cli_bad(zero_max_num_seqs "--max-num-seqs: 0 is outside" simulate --max-num-seqs 0)
  llmemu_cli_bad(bad_range_ratio "range-ratio" simulate --dataset random --range-ratio 1.5)
  llmemu_cli_bad(bad_percentiles "percentiles" simulate --percentiles 50,abc)
  llmemu_cli_bad(bad_goodput "SLO" simulate --goodput latency:5)
  llmemu_cli_bad(missing_trace "cannot open" simulate --trace ${_d}/does_not_exist.csv)
  llmemu_cli_bad(trace_wrong_columns "bad_columns.csv:1: header" simulate --trace ${_d}/bad_columns.csv)
  llmemu_cli_bad(trace_negative_time "negative.csv:2: arrived_at is negative" simulate --trace ${_d}/negative.csv)
  llmemu_cli_bad(trace_unsorted "unsorted.csv:4: arrived_at 1 is earlier" simulate --trace ${_d}/unsorted.csv)
  llmemu_cli_bad(trace_zero_prompt "zero_prompt.csv:3: column 'num_prefill_tokens' is 0" simulate --trace ${_d}/zero_prompt.csv)
  llmemu_cli_bad(trace_not_a_number "not_a_number.csv:2: column 'num_prefill_tokens' has 'abc'" simulate --trace ${_d}/not_a_number.csv)
  llmemu_cli_bad(unknown_profile_spec "bogus" simulate --profile bogus:1 --trace ${_d}/good.csv)
  llmemu_cli_bad(bad_const_profile "const" simulate --profile const:abc --trace ${_d}/good.csv)
  llmemu_cli_bad(bad_max_model_len "max-model-len" simulate --max-model-len 1)
  llmemu_cli_bad(validate_missing_file "missing.json" validate --real ${_d}/missing.json --emu ${_d}/emu_r2.json)
  llmemu_cli_bad(validate_unpaired "no --real result" validate --real ${_d}/real_r2.json --emu ${_d}/emu_r2.json,${_d}/emu_r4.json)
  llmemu_cli_bad(validate_broken_json "not valid JSON" validate --real ${_d}/broken.json --emu ${_d}/emu_r2.json)
  llmemu_cli_bad(sweep_zero_seeds "num-seeds" sweep --num-seeds 0)
  llmemu_cli_bad(sweep_bad_rate "request-rates" sweep --request-rates 1,x)
  llmemu_cli_bad(sweep_bad_slo "SLO" sweep --slo ttft500)
  add_test(NAME cli.simulate.bad_data_dir
           COMMAND sh -c "LLMEMU_DATA_DIR=/nonexistent \"$0\" simulate 2>&1; echo \"rc=$?\"" $<TARGET_FILE:llmemu_cli>)
  set_tests_properties(cli.simulate.bad_data_dir PROPERTIES
    PASS_REGULAR_EXPRESSION "^llmemu: LLMEMU_DATA_DIR='/nonexistent'[^\n]*\nrc=2\n$")

  # Good input.
  add_test(NAME cli.simulate.help COMMAND llmemu_cli simulate --help)
  set_tests_properties(cli.simulate.help PROPERTIES PASS_REGULAR_EXPRESSION "--max-num-batched-tokens")
  add_test(NAME cli.simulate.trace_run
           COMMAND llmemu_cli simulate -q --trace ${_d}/good.csv --percentiles 50,90,99)
  set_tests_properties(cli.simulate.trace_run PROPERTIES
    PASS_REGULAR_EXPRESSION "Successful requests: +3 .*Total generated tokens: +35 .*P90 TTFT")
  add_test(NAME cli.simulate.default_data_short
           COMMAND llmemu_cli simulate -q --num-prompts 30 --chrome-trace ${_d}/trace.json)
  set_tests_properties(cli.simulate.default_data_short PROPERTIES
    PASS_REGULAR_EXPRESSION "Serving Benchmark Result.*Successful requests: +30 .*Oracle exact")
  # The engine flags reach the engine as given; without --max-model-len it is the
  # profile's, doubled to fit the longest request (auto_max_model_len).
  add_test(NAME cli.simulate.engine_flags_reach_the_engine
           COMMAND llmemu_cli simulate -q --dataset random --num-prompts 3 --input-len 10 --output-len 5
                   --max-model-len 2048 --no-enable-prefix-caching --no-async-scheduling --num-gpu-blocks 500 --max-num-seqs 8)
  set_tests_properties(cli.simulate.engine_flags_reach_the_engine PROPERTIES
    PASS_REGULAR_EXPRESSION "max_num_seqs=8 max_num_batched_tokens=2048 block_size=16\n +num_gpu_blocks=500\n +max_model_len=2048\n +prefix_caching=off async_scheduling=off")
  add_test(NAME cli.simulate.auto_max_model_len
           COMMAND llmemu_cli simulate -q --dataset random --num-prompts 2 --input-len 5000 --output-len 10)
  set_tests_properties(cli.simulate.auto_max_model_len PROPERTIES
    PASS_REGULAR_EXPRESSION "max_model_len=8192 \\(auto: the profile's 4096 raised to fit the longest request, 5010 tokens\\)")
  add_test(NAME cli.simulate.lengths_trace_with_rate_is_empirical
           COMMAND llmemu_cli simulate -q --trace ${PROJECT_SOURCE_DIR}/data/arxiv_summarization_stats_llama2_tokenizer_filtered_v2.csv
                   --num-prompts 5 --request-rate 4 --burstiness 0.5)
  set_tests_properties(cli.simulate.lengths_trace_with_rate_is_empirical PROPERTIES
    PASS_REGULAR_EXPRESSION "workload: lengths from arxiv_summarization[^\n]*\\(5 prompts\\), 4 req/s, burstiness 0.5 \\(Gamma\\)")
  add_test(NAME cli.simulate.refusals_hinted
           COMMAND llmemu_cli simulate -q --dataset random --num-prompts 5 --input-len 3000 --output-len 10 --max-model-len 2048)
  set_tests_properties(cli.simulate.refusals_hinted PROPERTIES
    PASS_REGULAR_EXPRESSION "Failed requests: +5 .*raise --max-model-len")
  add_test(NAME cli.simulate.deterministic_json
           COMMAND sh -c "\"$0\" simulate -q --dataset random --num-prompts 40 --request-rate 8 --burstiness 0.5 --seed 3 --result-json \"$1/a.json\" >/dev/null && \"$0\" simulate -q --dataset random --num-prompts 40 --request-rate 8 --burstiness 0.5 --seed 3 --result-json \"$1/b.json\" >/dev/null && cmp \"$1/a.json\" \"$1/b.json\" && echo identical"
                   $<TARGET_FILE:llmemu_cli> ${_d})
  set_tests_properties(cli.simulate.deterministic_json PROPERTIES PASS_REGULAR_EXPRESSION "identical")
  add_test(NAME cli.simulate.installed_layout
           COMMAND sh -c "rm -rf \"$1/inst\" && mkdir -p \"$1/inst/bin\" \"$1/inst/share/llmemu\" && cp \"$0\" \"$1/inst/bin/\" && cp \"$2/llm-emu-A40-Qwen3-8B-subset.json\" \"$2/splitwise_conv.csv\" \"$1/inst/share/llmemu/\" && \"$1/inst/bin/llmemu\" simulate -q --num-prompts 3"
                   $<TARGET_FILE:llmemu_cli> ${_d} ${PROJECT_SOURCE_DIR}/data)
  set_tests_properties(cli.simulate.installed_layout PROPERTIES
    PASS_REGULAR_EXPRESSION "inst/share/llmemu/llm-emu-A40-Qwen3-8B-subset.json")
  add_test(NAME cli.simulate.validate_table
           COMMAND llmemu_cli validate --real ${_d}/real_r2.json --emu ${_d}/emu_r2.json --csv -)
  set_tests_properties(cli.simulate.validate_table PROPERTIES
    PASS_REGULAR_EXPRESSION "rate,ttft_mean_pct,tpot_mean_pct,itl_mean_pct,e2e_mean_pct,tps_pct\n2,10.0000,-5.0000,0.0000,-1.0000,2.0000\nmax_abs,10.0000,5.0000")
  add_test(NAME cli.simulate.sweep_slo
           COMMAND llmemu_cli sweep -q --profile const:20 --num-gpu-blocks 2000 --dataset random --num-prompts 40
                   --input-len 64 --output-len 8 --request-rates 1,4,inf --max-num-seqs 8,64 --slo ttft:100)
  set_tests_properties(cli.simulate.sweep_slo PROPERTIES
    PASS_REGULAR_EXPRESSION "request_rate,burstiness,seed.*\ninf,1,0,64,2048,2000,.*max_num_seqs=8 [^\n]*: 4 req/s")
  add_test(NAME cli.simulate.sweep_deterministic_across_jobs
           COMMAND sh -c "\"$0\" sweep -q -j 1 --profile affine:5ms,10us,50us --num-gpu-blocks 500 --dataset random --num-prompts 30 --input-len 32 --output-len 4 --request-rates 2,8 --num-seeds 2 -o \"$1/s1.csv\" && \"$0\" sweep -q -j 3 --profile affine:5ms,10us,50us --num-gpu-blocks 500 --dataset random --num-prompts 30 --input-len 32 --output-len 4 --request-rates 2,8 --num-seeds 2 -o \"$1/s3.csv\" && cmp \"$1/s1.csv\" \"$1/s3.csv\" && echo identical"
                   $<TARGET_FILE:llmemu_cli> ${_d})
  set_tests_properties(cli.simulate.sweep_deterministic_across_jobs PROPERTIES PASS_REGULAR_EXPRESSION "identical")
endif()
