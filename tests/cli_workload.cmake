# Command-line tests of the workload features: Mooncake traces (ideal vs achieved prefix
# hits), `llmemu workload fit`, --output-lengths, vLLM's datasets, multi-turn sessions and
# workload specs (--workload). Bad input gives ONE
# line "llmemu: ..." naming the input and the fix, and exit code 2.
if(TARGET llmemu_cli)
  set(_w ${CMAKE_CURRENT_BINARY_DIR}/cli_workload)
  file(MAKE_DIRECTORY ${_w})
  file(WRITE ${_w}/five.jsonl
    "{\"timestamp\": 0, \"input_length\": 1024, \"output_length\": 4, \"hash_ids\": [1, 2]}\n"
    "{\"timestamp\": 1000, \"input_length\": 1536, \"output_length\": 4, \"hash_ids\": [1, 2, 3]}\n"
    "{\"timestamp\": 2000, \"input_length\": 600, \"output_length\": 4, \"hash_ids\": [1, 4]}\n"
    "{\"timestamp\": 3000, \"input_length\": 1024, \"output_length\": 4, \"hash_ids\": [5, 2]}\n"
    "{\"timestamp\": 4000, \"input_length\": 700, \"output_length\": 4, \"hash_ids\": [1, 4]}\n")
  file(WRITE ${_w}/bad.jsonl
    "{\"timestamp\": 0, \"input_length\": 1024, \"output_length\": 4, \"hash_ids\": [1, 2]}\n"
    "{\"timestamp\": 1000, \"input_length\": 1536, \"output_length\": 4, \"hash_ids\": [1]}\n")
  file(WRITE ${_w}/custom.jsonl "{\"prompt\": \"You are a helpful assistant. What is two plus two?\"}\n")

  file(WRITE ${_w}/spec.json
    "{\"request_rate\": 2, \"num_prompts\": 20, \"clients\": [\n"
    " {\"name\": \"chat\", \"share\": 1, \"dataset\": \"random\", \"input_len\": 100, \"output_len\": 10,\n"
    "  \"sessions\": {\"turns\": 3, \"think_time_s\": 1, \"new_tokens\": 20}},\n"
    " {\"name\": \"replay\", \"trace\": \"five.jsonl\", \"repeat\": 2}]}\n")
  file(WRITE ${_w}/config.json "{\"num_hidden_layers\":36,\"num_key_value_heads\":8,\"head_dim\":128,\"hidden_size\":4096,\"num_attention_heads\":32,\"vocab_size\":151936,\"intermediate_size\":12288}")
  file(WRITE ${_w}/pd.json "{\"router\":\"least_loaded\",\"kv_transfer\":{\"bandwidth_gbps\":100,\"latency_ms\":1},\"pools\":[{\"name\":\"pre\",\"role\":\"prefill\",\"profile\":\"const:20\",\"model_config\":\"config.json\",\"engine\":{\"num_gpu_blocks\":3000}},{\"name\":\"dec\",\"replicas\":2,\"role\":\"decode\",\"profile\":\"const:8\",\"model_config\":\"config.json\",\"engine\":{\"num_gpu_blocks\":3000}}]}")
  file(WRITE ${_w}/bad_spec.json "{\"clients\": [{\"name\": \"chat\", \"think\": 1}]}\n")

  function(llmemu_workload_bad name regex)
    add_test(NAME cli.workload.${name}
             COMMAND sh -c "\"$0\" \"$@\" 2>&1; echo \"rc=$?\"" $<TARGET_FILE:llmemu_cli> ${ARGN})
    set_tests_properties(cli.workload.${name} PROPERTIES
      PASS_REGULAR_EXPRESSION "^llmemu: [^\n]*${regex}[^\n]*\nrc=2\n$")
  endfunction()

  llmemu_workload_bad(mooncake_bad_line "bad.jsonl:2: 'hash_ids' has 1 ids but input_length 1536 needs 3"
    simulate --trace ${_w}/bad.jsonl --profile const:1 --num-gpu-blocks 2000)
  llmemu_workload_bad(output_lengths_on_replay "add --dataset empirical"
    simulate --trace ${_w}/five.jsonl --output-lengths ${_w}/none.json)
  llmemu_workload_bad(output_lengths_missing "output-length model '[^']*none.json': cannot open"
    simulate --dataset random --output-lengths ${_w}/none.json --profile const:1 --num-gpu-blocks 2000)
  llmemu_workload_bad(custom_needs_path "give --dataset-path FILE" simulate --dataset-name custom)
  llmemu_workload_bad(prefix_len_needs_random "add --dataset random" simulate --random-prefix-len 64)
  llmemu_workload_bad(prefix_repetition_flag "add --dataset prefix_repetition"
    simulate --prefix-repetition-num-prefixes 3)
  llmemu_workload_bad(fit_nothing_to_do "give -o FILE" workload fit ${_w}/five.jsonl)
  llmemu_workload_bad(think_time_needs_turns "add --turns N" simulate --dataset random --think-time 3)
  llmemu_workload_bad(sessions_on_replay "is replayed as recorded; add --dataset random"
    simulate --trace ${_w}/five.jsonl --turns 3)
  llmemu_workload_bad(sessions_and_num_prompts "give one of them"
    simulate --dataset random --turns 2 --sessions 5 --num-prompts 5)
  llmemu_workload_bad(spec_unknown_key "bad_spec.json': client 'chat' \\(clients\\[0\\]\\) key 'think': unknown client key"
    simulate --workload ${_w}/bad_spec.json)
  llmemu_workload_bad(spec_with_flags "would be ignored; put it in the spec's clients"
    simulate --workload ${_w}/spec.json --request-rate 3)
  llmemu_workload_bad(sessions_from_csv "sessions are fitted from a Mooncake JSONL trace"
    simulate --dataset random --sessions-from ${PROJECT_SOURCE_DIR}/data/splitwise_code.csv)
  llmemu_workload_bad(bench_sessions "open loop"
    bench --base-url http://127.0.0.1:18799 --dataset random --turns 2)

  add_test(NAME cli.workload.mooncake_ideal_hits
    COMMAND llmemu_cli simulate --trace ${_w}/five.jsonl --profile const:1 --num-gpu-blocks 2000 -q)
  set_tests_properties(cli.workload.mooncake_ideal_hits PROPERTIES
    PASS_REGULAR_EXPRESSION "Mooncake trace five.jsonl.*Prefix-cache hit rate \\(%\\): +43.57\nIdeal prefix-cache hit rate \\(%\\): +43.57 \\(infinite cache\\)")
  add_test(NAME cli.workload.fit_holdout_and_use
    COMMAND sh -c "\"$0\" workload fit \"$1\" --holdout -o \"$2\" && \"$0\" simulate --dataset random --num-prompts 50 --output-lengths \"$2\" --profile const:1 --num-gpu-blocks 20000 -q"
            $<TARGET_FILE:llmemu_cli> ${PROJECT_SOURCE_DIR}/data/splitwise_code.csv ${_w}/code_model.json)
  set_tests_properties(cli.workload.fit_holdout_and_use PROPERTIES
    PASS_REGULAR_EXPRESSION "mean over bins .*wrote .*code_model.json.*output lengths from code_model.json.*Successful requests: +50 ")
  add_test(NAME cli.workload.custom_dataset
    COMMAND llmemu_cli simulate --dataset-name custom --dataset-path ${_w}/custom.jsonl --num-prompts 5
            --custom-output-len 3 --profile const:1 --num-gpu-blocks 2000 -q)
  set_tests_properties(cli.workload.custom_dataset PROPERTIES
    PASS_REGULAR_EXPRESSION "custom dataset custom.jsonl \\(5 prompts, 1 distinct, output 3\\).*Total generated tokens: +15 ")
  add_test(NAME cli.workload.sessions_reach_ideal
    COMMAND llmemu_cli simulate --dataset random --input-len 200 --output-len 20 --request-rate 1 --sessions 10
            --turns 3 --think-time 2 --turn-new-tokens 30 --profile const:1 --num-gpu-blocks 20000 -q)
  set_tests_properties(cli.workload.sessions_reach_ideal PROPERTIES
    PASS_REGULAR_EXPRESSION "10 sessions \\(3 turns, think 2 s \\(exponential\\), 30 new tokens per turn; 30 requests.*Successful requests: +30 .*Total input tokens: +7500 .*Prefix-cache hit rate \\(%\\): +61.87\nIdeal prefix-cache hit rate \\(%\\): +61.87 \\(infinite cache\\)")
  add_test(NAME cli.workload.spec_composes_clients
    COMMAND llmemu_cli simulate --workload ${_w}/spec.json --profile const:1 --num-gpu-blocks 20000 -q)
  set_tests_properties(cli.workload.spec_composes_clients PROPERTIES
    PASS_REGULAR_EXPRESSION "workload spec spec.json \\(2 clients, 70 requests\\) chat: random dataset.*20 sessions.*replay: Mooncake trace five.jsonl \\(5 requests, its prefix reuse, replayed 2 times back to back.*Successful requests: +70 ")
  # Sessions over prefill/decode pools: the decode side's tokens release the next turns.
  add_test(NAME cli.workload.sessions_pd_fleet
    COMMAND llmemu_cli simulate -q --dataset random --num-prompts 20 --input-len 512 --output-len 16
            --request-rate 5 --turns 3 --think-time 1 --fleet ${_w}/pd.json)
  set_tests_properties(cli.workload.sessions_pd_fleet PROPERTIES
    PASS_REGULAR_EXPRESSION "60 requests.*Successful requests: +60 .*\npre +prefill +1 +60 .*\ndec +decode +2 +60 ")
  add_test(NAME cli.workload.sessions_fit
    COMMAND llmemu_cli workload sessions ${_w}/five.jsonl)
  set_tests_properties(cli.workload.sessions_fit PROPERTIES
    PASS_REGULAR_EXPRESSION "Sessions in five.jsonl: 5 requests, 3 sessions, 2 later turns.*turns per session: +mean 1.667")
endif()
