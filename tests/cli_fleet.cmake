# Command-line tests of fleets (`simulate --replicas/--router/--data-parallel-size`) and of
# the bounded-memory result (`--save-detailed`, runs of 1e8 simulated seconds).
if(TARGET llmemu_cli)
  set(_d ${CMAKE_CURRENT_BINARY_DIR}/cli_fleet)
  file(MAKE_DIRECTORY ${_d})

  function(llmemu_fleet_bad name regex)
    add_test(NAME cli.fleet.${name}
             COMMAND sh -c "\"$0\" \"$@\" 2>&1; echo \"rc=$?\"" $<TARGET_FILE:llmemu_cli> ${ARGN})
    set_tests_properties(cli.fleet.${name} PROPERTIES
      PASS_REGULAR_EXPRESSION "^llmemu: [^\n]*${regex}[^\n]*\nrc=2\n$")
  endfunction()
  llmemu_fleet_bad(zero_replicas "--replicas 0" simulate --replicas 0)
  llmemu_fleet_bad(unknown_router "router 'random': use round_robin" simulate --router random --num-prompts 2)
  llmemu_fleet_bad(weights_without_scored "add --router scored" simulate --router-weights queue=1)
  llmemu_fleet_bad(bad_weights "router-weights 'queue=x'" simulate --router scored --router-weights queue=x)
  llmemu_fleet_bad(dp_and_replicas "give one of them" simulate --replicas 2 --data-parallel-size 2)
  llmemu_fleet_bad(dp_and_router "drop --router" simulate --router least_loaded --data-parallel-size 2)
  llmemu_fleet_bad(fleet_realtime "virtual time only" simulate --mode realtime --replicas 2)
  llmemu_fleet_bad(zero_jobs "--jobs: 0 is outside \\[1, 4096\\]" simulate --replicas 2 -j 0)

  # One replica behind any router prints exactly the single engine's vLLM summary.
  set(_summary "sed -n '/Serving Benchmark Result/,/^=*$/p'")
  foreach(router round_robin least_loaded prefix_aware scored data_parallel)
    add_test(NAME cli.fleet.one_replica_${router}
             COMMAND sh -c "\"$0\" simulate -q --num-prompts 150 | ${_summary} > \"$1/single_${router}.txt\" && \"$0\" simulate -q --num-prompts 150 --replicas 1 --router ${router} | ${_summary} > \"$1/fleet_${router}.txt\" && test -s \"$1/single_${router}.txt\" && cmp \"$1/single_${router}.txt\" \"$1/fleet_${router}.txt\" && echo identical"
                     $<TARGET_FILE:llmemu_cli> ${_d})
    set_tests_properties(cli.fleet.one_replica_${router} PROPERTIES PASS_REGULAR_EXPRESSION "identical")
  endforeach()

  # A fleet: per-replica table, per-replica JSON, one trace process per replica, determinism
  # (the same result on 2 threads and on 1: the replicas advance in parallel between arrivals).
  add_test(NAME cli.fleet.four_replicas
           COMMAND sh -c "\"$0\" simulate -q --num-prompts 200 --replicas 4 --router least_loaded -j 2 --result-json \"$1/f1.json\" --chrome-trace \"$1/f.trace.json\" && \"$0\" simulate -q --num-prompts 200 --replicas 4 --router least_loaded --jobs 1 --result-json \"$1/f2.json\" > /dev/null && cmp \"$1/f1.json\" \"$1/f2.json\" && grep -c '\"per_replica\"' \"$1/f1.json\" && grep -o '\"replica 3 requests\"' \"$1/f.trace.json\""
                   $<TARGET_FILE:llmemu_cli> ${_d})
  set_tests_properties(cli.fleet.four_replicas PROPERTIES
    PASS_REGULAR_EXPRESSION "4 replicas behind the least_loaded router.*llmemu fleet.*\n3 +[0-9]+ +[0-9]+ .*\n1\n\"replica 3 requests\"")
  add_test(NAME cli.fleet.data_parallel
           COMMAND llmemu_cli simulate -q --num-prompts 100 --data-parallel-size 2)
  set_tests_properties(cli.fleet.data_parallel PROPERTIES
    PASS_REGULAR_EXPRESSION "2 replicas behind the data_parallel router \\(vLLM's internal DP load balancer\\).*Successful requests: +100 ")

  # Per-request lists only with --save-detailed (vLLM's flag).
  add_test(NAME cli.fleet.save_detailed
           COMMAND sh -c "\"$0\" simulate -q --num-prompts 20 --result-json \"$1/short.json\" && \"$0\" simulate -q --num-prompts 20 --save-detailed --result-json \"$1/detailed.json\" && ! grep -q '\"itls\"' \"$1/short.json\" && grep -q '\"itls\"' \"$1/detailed.json\" && grep -q '\"start_times\"' \"$1/detailed.json\" && echo lists-only-when-detailed"
                   $<TARGET_FILE:llmemu_cli> ${_d})
  set_tests_properties(cli.fleet.save_detailed PROPERTIES PASS_REGULAR_EXPRESSION "lists-only-when-detailed")

  # 3e8 simulated seconds in 400 MB of address space (a per-second vector needed 2.4 GB).
  # Not under sanitizers, which reserve terabytes of address space.
  if(NOT CMAKE_CXX_FLAGS MATCHES "sanitize")
  add_test(NAME cli.fleet.long_run_bounded_memory
           COMMAND sh -c "ulimit -v 400000 && \"$0\" simulate -q --dataset random --num-prompts 3 --input-len 10 --output-len 5 --request-rate 1e-8 --seed 1"
                   $<TARGET_FILE:llmemu_cli>)
  set_tests_properties(cli.fleet.long_run_bounded_memory PROPERTIES
    PASS_REGULAR_EXPRESSION "Successful requests: +3 .*Benchmark duration \\(s\\): +3000[0-9][0-9][0-9][0-9][0-9]\\.")
  endif()
endif()

if(TARGET llmemu_cli)
  # Fleet files: two heterogeneous pools, per-pool costs; errors name the pool and key.
  set(_d ${CMAKE_CURRENT_BINARY_DIR}/cli_fleet)
  file(WRITE ${_d}/two_pools.json "{\"router\":\"least_loaded\",\"pools\":[{\"name\":\"slow\",\"replicas\":2,\"profile\":\"const:40\",\"cost_per_gpu_hour\":1.5,\"engine\":{\"num_gpu_blocks\":3000}},{\"name\":\"fast\",\"replicas\":1,\"profile\":\"const:10\",\"tensor_parallel_size\":2,\"cost_per_gpu_hour\":2,\"engine\":{\"num_gpu_blocks\":3000,\"max_num_seqs\":32}}]}")
  file(WRITE ${_d}/bad_pool.json "{\"pools\":[{\"name\":\"big\",\"replicas\":-1}]}")
  add_test(NAME cli.fleet.file_two_pools
           COMMAND llmemu_cli simulate -q --dataset random --num-prompts 60 --input-len 64 --output-len 8 --request-rate 20 --fleet ${_d}/two_pools.json --result-json ${_d}/pools.json)
  set_tests_properties(cli.fleet.file_two_pools PROPERTIES
    PASS_REGULAR_EXPRESSION "3 replicas behind the least_loaded router.*Successful requests: +60 .*llmemu pools.*\nslow +mixed +2 .*\nfast +mixed +1 .*Fleet cost.*llmemu fleet")
  llmemu_fleet_bad(file_bad_pool "bad_pool.json': pool 'big' \\(pools\\[0\\]\\) key 'replicas'" simulate --fleet ${_d}/bad_pool.json)
  llmemu_fleet_bad(file_missing "cannot open the file" simulate --fleet ${_d}/nope.json)
  llmemu_fleet_bad(file_and_replicas "the fleet file gives the replicas" simulate --fleet ${_d}/two_pools.json --replicas 2)
endif()

if(TARGET llmemu_cli)
  # Prefill/decode disaggregation from a fleet file: const: profiles, a model config for
  # the KV bytes (36 layers x 8 KV heads x 128 x 2 x 2 B = 147,456 B per token), a 100 Gbit/s
  # link with 1 ms latency: a 512-token prompt moves 75.5 MB in 1 + 6.04 ms.
  set(_d ${CMAKE_CURRENT_BINARY_DIR}/cli_fleet)
  file(WRITE ${_d}/config.json "{\"num_hidden_layers\":36,\"num_key_value_heads\":8,\"head_dim\":128,\"hidden_size\":4096,\"num_attention_heads\":32,\"vocab_size\":151936,\"intermediate_size\":12288}")
  file(WRITE ${_d}/pd.json "{\"router\":\"least_loaded\",\"kv_transfer\":{\"bandwidth_gbps\":100,\"latency_ms\":1},\"pools\":[{\"name\":\"pre\",\"role\":\"prefill\",\"profile\":\"const:20\",\"model_config\":\"config.json\",\"engine\":{\"num_gpu_blocks\":3000}},{\"name\":\"dec\",\"replicas\":2,\"role\":\"decode\",\"profile\":\"const:8\",\"model_config\":\"config.json\",\"engine\":{\"num_gpu_blocks\":3000}}]}")
  file(WRITE ${_d}/pd_no_model.json "{\"kv_transfer\":{\"bandwidth_gbps\":100},\"pools\":[{\"name\":\"pre\",\"role\":\"prefill\",\"profile\":\"const:20\"},{\"name\":\"dec\",\"role\":\"decode\",\"profile\":\"const:8\"}]}")
  add_test(NAME cli.fleet.disaggregated
           COMMAND sh -c "\"$0\" simulate -q --dataset random --num-prompts 40 --input-len 512 --output-len 16 --request-rate 5 --fleet \"$1/pd.json\" --result-json \"$1/pd_out.json\" && grep -o '\"kv_transfer\":{[^}]*}' \"$1/pd_out.json\" | tail -1"
                   $<TARGET_FILE:llmemu_cli> ${_d})
  set_tests_properties(cli.fleet.disaggregated PROPERTIES
    PASS_REGULAR_EXPRESSION "Successful requests: +40 .*\npre +prefill +1 +40 .*\ndec +decode +2 +40 .*KV transfers: +40\n.*KV bytes transferred \\(GB\\): +3\\.020\n.*Mean / max KV transfer time \\(ms\\): +7\\.040 / 7\\.040.*\"bytes\":3019898880")
  llmemu_fleet_bad(disaggregated_no_model "pool 'pre': role prefill: no model config to size the KV transfer" simulate --dataset random --num-prompts 2 --fleet ${_d}/pd_no_model.json)

  # Autoscaling: a pool of 1..6 replicas under more load than one serves scales out after
  # its cold start and back in after the load; replica-hours, cost and attainment printed.
  file(WRITE ${_d}/autoscale.json "{\"router\":\"least_loaded\",\"pools\":[{\"name\":\"a\",\"profile\":\"const:30\",\"cost_per_gpu_hour\":1,\"engine\":{\"num_gpu_blocks\":3000,\"max_num_seqs\":8},\"autoscale\":{\"max_replicas\":6,\"metric\":\"waiting\",\"target\":2,\"interval_s\":5,\"cold_start_s\":10,\"slo_ttft_ms\":1000}}]}")
  add_test(NAME cli.fleet.autoscale
           COMMAND sh -c "\"$0\" simulate -q --dataset random --num-prompts 1000 --input-len 256 --output-len 64 --request-rate 40 --fleet \"$1/autoscale.json\" --result-json \"$1/as1.json\" && \"$0\" simulate -q --dataset random --num-prompts 1000 --input-len 256 --output-len 64 --request-rate 40 --fleet \"$1/autoscale.json\" --result-json \"$1/as2.json\" > /dev/null && cmp \"$1/as1.json\" \"$1/as2.json\" && grep -c '\"replicas_over_time\"' \"$1/as1.json\""
                   $<TARGET_FILE:llmemu_cli> ${_d})
  set_tests_properties(cli.fleet.autoscale PROPERTIES
    PASS_REGULAR_EXPRESSION "a +mixed +1-6 +1000 .*autoscale a \\(waiting, target 2\\): replica-hours [0-9.]+, TTFT <= 1000 ms for [0-9.]+% of requests\n  replicas over time \\(s: serving\\+starting\\+draining\\): 0\\.0:1\\+0\\+0 5\\.0:1\\+5\\+0 15\\.0:6\\+0\\+0 [0-9]+\\.[0-9]:[1-5]\\+0\\+[0-5].*\n1\n$")
endif()

# Routing on real prefix reuse: the first 600 requests of the Mooncake conversation trace
# over 4 replicas (A40 pack, a pool of 30,000 blocks so that a conversation's next turn can
# still find its blocks): prefix_aware (hashing the first 33 blocks of 16 tokens, past the
# trace's shared first 512-token block) hits the prefix cache more than round_robin.
set(_mooncake ${PROJECT_SOURCE_DIR}/../shared/data/mooncake_conversation_trace.jsonl)
if(TARGET llmemu_cli AND EXISTS ${_mooncake})
  add_test(NAME cli.fleet.mooncake_prefix_aware_beats_round_robin
           COMMAND sh -c "f=\"$1\"; rate() { \"$0\" simulate -q --trace \"$f\" --num-prompts 600 --replicas 4 --num-gpu-blocks 30000 \"$@\" | sed -n 's/^Prefix-cache hit rate (%): *//p'; }; rr=$(rate --router round_robin) && pa=$(rate --router prefix_aware --prefix-blocks 33) && echo \"round_robin $rr% prefix_aware $pa%\" && awk -v a=\"$pa\" -v b=\"$rr\" 'BEGIN { exit !(a + 0 > b + 0 && b + 0 > 0) }' && echo prefix-aware-wins"
                   $<TARGET_FILE:llmemu_cli> ${_mooncake})
  set_tests_properties(cli.fleet.mooncake_prefix_aware_beats_round_robin PROPERTIES
    PASS_REGULAR_EXPRESSION "round_robin [0-9.]+% prefix_aware [0-9.]+%\nprefix-aware-wins")
endif()
