# Command-line tests of layer-wise profiles (--profile DIR, --model-config,
# --tensor-parallel-size, --layerwise-options) and of KV-pool sizing for analytic
# profiles: bad input gives ONE line "llmemu: ..." and exit code 2; good input runs.
if(TARGET llmemu_cli)
  set(_lw ${CMAKE_CURRENT_BINARY_DIR}/cli_layerwise)
  file(MAKE_DIRECTORY ${_lw}/not_a_profile)
  file(WRITE ${_lw}/good.csv "arrived_at,num_prefill_tokens,num_decode_tokens\n0,100,10\n0.5,2200,20\n1.0,50,5\n")
  file(WRITE ${_lw}/config.json "{\"num_hidden_layers\": 32, \"hidden_size\": 4096, \"num_attention_heads\": 32, \"num_key_value_heads\": 8, \"vocab_size\": 128256, \"intermediate_size\": 14336}")
  set(_profiles ${PROJECT_SOURCE_DIR}/../shared/data/layerwise-profiles)
  set(_rtx4090 ${PROJECT_SOURCE_DIR}/data/layerwise-profiles/RTX4090/meta-llama/Llama-3.1-8B/bf16)
  set(_moe ${_profiles}/RTXPRO6000/Qwen/Qwen3-30B-A3B-Instruct-2507/bf16)

  function(llmemu_cli_layerwise_bad name regex)
    add_test(NAME cli.layerwise.${name}
             COMMAND sh -c "\"$0\" \"$@\" 2>&1; echo \"rc=$?\"" $<TARGET_FILE:llmemu_cli> ${ARGN})
    set_tests_properties(cli.layerwise.${name} PROPERTIES
      PASS_REGULAR_EXPRESSION "^llmemu: [^\n]*${regex}[^\n]*\nrc=2\n$")
  endfunction()
  function(llmemu_cli_layerwise_good name regex)
    add_test(NAME cli.layerwise.${name} COMMAND llmemu_cli ${ARGN})
    set_tests_properties(cli.layerwise.${name} PROPERTIES PASS_REGULAR_EXPRESSION "${regex}")
  endfunction()

  llmemu_cli_layerwise_bad(folder_not_a_profile "not a layer-wise profile" simulate --profile ${_lw}/not_a_profile --trace ${_lw}/good.csv)
  llmemu_cli_layerwise_bad(tp_on_pack "--tensor-parallel-size 2: --profile .const:10. models one GPU" simulate --profile const:10 --tensor-parallel-size 2 --trace ${_lw}/good.csv)
  llmemu_cli_layerwise_bad(options_on_pack "--layerwise-options applies" simulate --layerwise-options skew=off --trace ${_lw}/good.csv)
  llmemu_cli_layerwise_bad(analytic_config_without_memory "give both" simulate --profile const:10 --model-config ${_lw}/config.json --trace ${_lw}/good.csv)
  llmemu_cli_layerwise_bad(analytic_missing_config "cannot read the file" simulate --profile const:10 --model-config ${_lw}/missing.json --gpu-memory-gib 24 --trace ${_lw}/good.csv)
  llmemu_cli_layerwise_bad(blocks_and_memory "give one of them" simulate --profile const:10 --num-gpu-blocks 100 --gpu-memory-gib 24 --trace ${_lw}/good.csv)
  # Analytic profiles run without extra flags, and say how the pool was sized.
  llmemu_cli_layerwise_good(analytic_default_pool "num_gpu_blocks=[0-9]+ \\(default for analytic profiles.*Successful requests: +3 "
    simulate -q --profile const:10 --trace ${_lw}/good.csv)
  llmemu_cli_layerwise_good(analytic_derived_pool "num_gpu_blocks=2771 \\(derived: --model-config config, --gpu-memory-gib 23.5"
    simulate -q --profile const:10 --model-config ${_lw}/config.json --gpu-memory-gib 23.5160 --trace ${_lw}/good.csv)
  if(EXISTS ${_rtx4090}/meta.yaml)
    llmemu_cli_layerwise_bad(tp_not_profiled "--tensor-parallel-size 2: layer-wise profile [^\n]* was profiled at tp 1 only"
      simulate --profile ${_rtx4090} --tensor-parallel-size 2 --trace ${_lw}/good.csv)
    llmemu_cli_layerwise_bad(bad_option "'skew=maybe' must be auto, on or off" simulate --profile ${_rtx4090} --layerwise-options skew=maybe --trace ${_lw}/good.csv)
    llmemu_cli_layerwise_good(rtx4090_runs "layer-wise RTX4090 meta-llama/Llama-3.1-8B tp1 \\(32 layers; skew off, linear; config [^\n]*Llama-3.1-8B.json\\).*num_gpu_blocks=2771 \\(derived: NVIDIA GeForce RTX 4090 23.51 GiB.*Successful requests: +3 "
      simulate -q --profile ${_rtx4090} --trace ${_lw}/good.csv)
    llmemu_cli_layerwise_good(rtx4090_options "skew on, loglog, aggregate KV.*Successful requests: +3 "
      simulate -q --profile ${_rtx4090} --layerwise-options skew=on,interp=loglog,kv=aggregate --trace ${_lw}/good.csv)
  endif()
  if(EXISTS ${_moe}/meta.yaml)
    llmemu_cli_layerwise_good(moe_tp2_runs "layer-wise RTXPRO6000 Qwen/Qwen3-30B-A3B-Instruct-2507 tp2 \\(48 layers, 128 experts; skew on.*tp2; [0-9]+ KV tokens.*Successful requests: +3 "
      simulate -q --profile ${_moe} --tensor-parallel-size 2 --trace ${_lw}/good.csv)
  endif()
endif()
