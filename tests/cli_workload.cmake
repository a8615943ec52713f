# Command-line tests of the workload features: Mooncake traces (ideal vs achieved prefix
# hits), `llmemu workload fit`, --output-lengths and vLLM's datasets. Bad input gives ONE
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
endif()
