# Command-line tests of `llmemu plan` (a hand-worked case with const: profiles), of the
# sweep's SLO capacity (--replicates, --rate-search, a failing point in its row) and, when
# the CLI is built with MPI, of `mpirun -np 2|3 llmemu sweep|plan` against one process.
if(TARGET llmemu_cli)
  set(_d ${CMAKE_CURRENT_BINARY_DIR}/cli_plan)
  file(MAKE_DIRECTORY ${_d} ${_d}/sweep ${_d}/plan)
  # Three single-pool candidates, 16 requests of 32 + 2 tokens all sent at t = 0, four
  # sequences per replica. With round robin a replica of k requests runs ceil(k/4) batches
  # of a prefill step and a decode step, so its last first token comes at (2 ceil(k/4) - 1)
  # steps: pool a (10 ms steps, 1 GPU at 1.0/h): 1 replica 70 ms, 2 replicas 30 ms;
  # pool b (5 ms, 2.5/h): 1 replica 35 ms; pool c (4.5 ms, TP 2 at 0.9/GPU-h = 1.8/h):
  # 1 replica 31.5 ms. Under ttft:p100:35 each needs a=2 (2.0/h), b=1 (2.5/h), c=1 (1.8/h):
  # c is the cheapest, and the frontier is c (1.8/h, 31.5 ms) then a (2.0/h, 30 ms).
  foreach(p "a;const:10;1;1.0" "b;const:5;1;2.5" "c;const:4.5;2;0.9")
    list(GET p 0 _n)
    list(GET p 1 _prof)
    list(GET p 2 _tp)
    list(GET p 3 _cost)
    file(WRITE ${_d}/${_n}.json "{\"pools\": [{\"name\": \"${_n}\", \"profile\": \"${_prof}\", \"tensor_parallel_size\": ${_tp}, \"cost_per_gpu_hour\": ${_cost}, \"replica_range\": [1, 8], \"engine\": {\"max_num_seqs\": 4, \"num_gpu_blocks\": 1000}}]}\n")
  endforeach()
  file(WRITE ${_d}/bad_range.json "{\"pools\": [{\"name\": \"x\", \"profile\": \"const:1\", \"replica_range\": [4, 2]}]}\n")
  # A candidate whose every point fails to start (3 KV blocks cannot hold max_model_len).
  file(WRITE ${_d}/tiny.json "{\"pools\": [{\"name\": \"t\", \"profile\": \"const:1\", \"replica_range\": [1, 2], \"engine\": {\"num_gpu_blocks\": 3}}]}\n")
  set(_w --dataset random --num-prompts 16 --input-len 32 --output-len 2 --request-rate inf)
  set(_fleets --fleet ${_d}/a.json,${_d}/b.json,${_d}/c.json)
  add_test(NAME cli.plan.hand_worked
           COMMAND llmemu_cli plan -q ${_fleets} ${_w} --slo ttft:p100:35 --csv ${_d}/hand.csv)
  set_tests_properties(cli.plan.hand_worked PROPERTIES PASS_REGULAR_EXPRESSION
    "\n3 +c.json +round_robin +c=1 +2 +1.80 +31.5 +1  pass\n1 +a.json +round_robin +a=2 +2 +2.00 +30.0 +2  pass\n2 +b.json +round_robin +b=1 +1 +2.50 +35.0 +1  pass\ncheapest passing: #3 [^\n]*c.json behind round_robin: c=1 \\(2 GPUs, 1.80/h\\)\nPareto frontier[^\n]*\n  1.80/h  31.5  #3 round_robin c=1\n  2.00/h  30.0  #1 round_robin a=2\nfleet runs: 4 \\(a full grid of the same ranges and seeds: 24\\)")
  # Bisection: under ttft:p100:10 pool a needs 4 replicas (3 leave 6 requests on a replica:
  # 30 ms): it runs 1, 2, 4, then 3; the CSV has every point, the fewest marked.
  add_test(NAME cli.plan.bisection
           COMMAND sh -c "\"$0\" plan -q --fleet \"$1/a.json\" --dataset random --num-prompts 16 --input-len 32 --output-len 2 --request-rate inf --slo ttft:p100:10 --csv \"$1/bis.csv\" --json \"$1/bis.json\" >/dev/null && cat \"$1/bis.csv\" && grep -c '\"scale\"' \"$1/bis.json\""
                   $<TARGET_FILE:llmemu_cli> ${_d})
  set_tests_properties(cli.plan.bisection PROPERTIES PASS_REGULAR_EXPRESSION
    "candidate,fleet,router,scale,replicas,gpus,cost_per_hour,seeds,pass,ttft_p100_ms,fewest,pareto,error\n1,a.json,round_robin,1,a=1,1,1.0000,1,0,70.0000,0,0,\n1,a.json,round_robin,2,a=2,2,2.0000,1,0,30.0000,0,0,\n1,a.json,round_robin,3,a=3,3,3.0000,1,0,30.0000,0,0,\n1,a.json,round_robin,4,a=4,4,4.0000,1,1,10.0000,1,1,\n6\n")
  # Replicates: const profiles give every seed the same answer (interval 0).
  add_test(NAME cli.plan.replicates
           COMMAND llmemu_cli plan -q --fleet ${_d}/a.json ${_w} --slo ttft:p100:35 --replicates 3 --router round_robin,least_loaded)
  set_tests_properties(cli.plan.replicates PROPERTIES PASS_REGULAR_EXPRESSION
    "a=2 [^\n]* 6  pass \\(scale per seed 2.00 \\+- 0.00, \\[2, 2\\]\\)\n2 +a.json +least_loaded .*fleet runs: 12 \\(a full grid of the same ranges and seeds: 48\\)")
  add_test(NAME cli.plan.failing_point
           COMMAND llmemu_cli plan -q ${_fleets},${_d}/tiny.json ${_w} --slo ttft:p100:35)
  set_tests_properties(cli.plan.failing_point PROPERTIES PASS_REGULAR_EXPRESSION
    "\n4 +tiny.json +round_robin +t=2 [^\n]* 2  FAIL at the range's top \\(error: [^\n]*KV pool holds 32 tokens[^\n]*\ncheapest passing: #3")
  function(llmemu_plan_bad name regex)
    add_test(NAME cli.plan.${name}
             COMMAND sh -c "\"$0\" \"$@\" 2>&1; echo \"rc=$?\"" $<TARGET_FILE:llmemu_cli> ${ARGN})
    set_tests_properties(cli.plan.${name} PROPERTIES PASS_REGULAR_EXPRESSION "llmemu: [^\n]*${regex}[^\n]*\nrc=2\n$")
  endfunction()
  llmemu_plan_bad(no_fleet "--fleet" plan --slo ttft:p99:5)
  llmemu_plan_bad(bad_slo "SLO 'ttft:q99:5'" plan --fleet ${_d}/a.json --slo ttft:q99:5)
  llmemu_plan_bad(bad_range "replica_range': LO 4 > HI 2" plan --fleet ${_d}/bad_range.json --slo ttft:p99:5)
  llmemu_plan_bad(sweep_search_without_slo "add --slo" sweep --rate-search 1:8)
  llmemu_plan_bad(sweep_replicates_and_seeds "give one of them" sweep --replicates 2 --num-seeds 2 --slo ttft:5)

  # The sweep: one grid point fails (3 KV blocks cannot hold max_model_len): its rows carry
  # the reason, the other setting's capacity is still found, the exit code is 0.
  set(_sw sweep -q --profile const:2 --dataset random --num-prompts 20 --input-len 64 --output-len 4
          --request-rates 4,inf --num-gpu-blocks 3,500 --slo ttft:50)
  add_test(NAME cli.plan.sweep_failing_point COMMAND llmemu_cli ${_sw})
  set_tests_properties(cli.plan.sweep_failing_point PROPERTIES PASS_REGULAR_EXPRESSION
    ",error\n4,1,0,256,2048,3,,[^\n]*,1,none,engine config: the KV pool holds 32 tokens[^\n]*\n.*num_gpu_blocks=500: inf req/s")
  # --replicates: the sustainable rate per seed with its interval; --rate-search finds it.
  add_test(NAME cli.plan.sweep_rate_search
           COMMAND llmemu_cli sweep -q --profile const:20 --num-gpu-blocks 2000 --dataset random --num-prompts 40
                   --input-len 64 --output-len 8 --rate-search 0.5:64:0.05 --max-num-seqs 8 --slo ttft:100 --replicates 3)
  set_tests_properties(cli.plan.sweep_rate_search PROPERTIES PASS_REGULAR_EXPRESSION
    "max_num_seqs=8 [^\n]*: [0-9.]+ req/s on every seed \\([0-9]+ runs\\); per seed [0-9.]+ \\+- [0-9.]+ req/s \\(95% CI, 3 seeds")

  # (Not under sanitizers: OpenMPI itself is not instrumented and trips them.)
  if(LLMEMU_MPI_FOUND AND MPIEXEC_EXECUTABLE AND NOT CMAKE_CXX_FLAGS MATCHES "sanitize")
    # The same output from 1, 2 and 3 ranks, byte for byte (stdout, CSV and JSON), a
    # failing sweep point included.
    foreach(np 2 3)
      add_test(NAME cli.plan.mpi_sweep_np${np}
               COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/mpi_compare.sh ${MPIEXEC_EXECUTABLE} ${np} $<TARGET_FILE:llmemu_cli>
                       ${_d}/sweep ${_sw} --num-seeds 2 -j 1 -o @OUT@.csv)
      add_test(NAME cli.plan.mpi_plan_np${np}
               COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/mpi_compare.sh ${MPIEXEC_EXECUTABLE} ${np} $<TARGET_FILE:llmemu_cli>
                       ${_d}/plan plan -q ${_fleets},${_d}/tiny.json ${_w} --slo ttft:p100:35
                       --router round_robin,least_loaded -j 1 --csv @OUT@.csv --json @OUT@.json)
      # The failing points' reasons are in the compared outputs (counted per file).
      set_tests_properties(cli.plan.mpi_sweep_np${np} PROPERTIES TIMEOUT 60
        PASS_REGULAR_EXPRESSION "^1 4 1 identical\n")
      set_tests_properties(cli.plan.mpi_plan_np${np} PROPERTIES TIMEOUT 60
        PASS_REGULAR_EXPRESSION "^[1-9][0-9]* [1-9][0-9]* [1-9][0-9]* [1-9][0-9]* identical")
    endforeach()
  endif()
endif()

if(TARGET llmemu_cli)
  # `llmemu report` draws a plan CSV: the passing points and the frontier of the hand-worked case.
  set(_d ${CMAKE_CURRENT_BINARY_DIR}/cli_plan)
  add_test(NAME cli.plan.report
           COMMAND sh -c "\"$0\" plan -q --fleet \"$1/a.json,$1/b.json,$1/c.json\" --dataset random --num-prompts 16 --input-len 32 --output-len 2 --request-rate inf --slo ttft:p100:35 --csv \"$1/rep.csv\" > /dev/null && \"$0\" report -q \"$1/rep.csv\" -o \"$1/rep.html\" && grep -o 'data-chart=\"plan_[0-9]*_frontier\"' \"$1/rep.html\" && grep -c 'Pareto frontier' \"$1/rep.html\""
                   $<TARGET_FILE:llmemu_cli> ${_d})
  set_tests_properties(cli.plan.report PROPERTIES PASS_REGULAR_EXPRESSION "data-chart=\"plan_[0-9]+_frontier\"\n[1-9]")
endif()

if(TARGET llmemu_cli)
  # A P/D split scales as a whole: prefill 1 : decode 2, ranges [1, 8] and [2, 16], so scale
  # m runs pre=m dec=2m for m in 1..8 (each a 3-GPU step in cost); a bound no scale meets
  # is reported at the top of the range with the SLO it missed.
  set(_d ${CMAKE_CURRENT_BINARY_DIR}/cli_plan)
  file(WRITE ${_d}/config.json "{\"num_hidden_layers\":36,\"num_key_value_heads\":8,\"head_dim\":128,\"hidden_size\":4096,\"num_attention_heads\":32,\"vocab_size\":151936,\"intermediate_size\":12288}")
  file(WRITE ${_d}/pd.json "{\"kv_transfer\":{\"bandwidth_gbps\":100,\"latency_ms\":1},\"pools\":[{\"name\":\"pre\",\"role\":\"prefill\",\"profile\":\"const:20\",\"model_config\":\"config.json\",\"cost_per_gpu_hour\":1,\"replica_range\":[1,8],\"engine\":{\"num_gpu_blocks\":3000}},{\"name\":\"dec\",\"replicas\":2,\"role\":\"decode\",\"profile\":\"const:8\",\"model_config\":\"config.json\",\"cost_per_gpu_hour\":1,\"replica_range\":[2,16],\"engine\":{\"num_gpu_blocks\":3000}}]}")
  set(_pdw --fleet ${_d}/pd.json --dataset random --num-prompts 64 --input-len 256 --output-len 16 --request-rate 50)
  add_test(NAME cli.plan.pd_split COMMAND llmemu_cli plan -q ${_pdw} --slo ttft:p99:60)
  set_tests_properties(cli.plan.pd_split PROPERTIES PASS_REGULAR_EXPRESSION
    "\n1 +pd.json +round_robin +pre=3 dec=6 +9 +9.00 +[0-9.]+ +4  pass\n.*fleet runs: 4 \\(a full grid of the same ranges and seeds: 8\\)")
  add_test(NAME cli.plan.pd_unreachable COMMAND llmemu_cli plan -q ${_pdw} --slo ttft:p99:30)
  set_tests_properties(cli.plan.pd_unreachable PROPERTIES PASS_REGULAR_EXPRESSION
    "pre=8 dec=16 +24 +24.00 [^\n]*FAIL at the range's top \\(ttft p99 [0-9.]+ ms > 30 ms\\)\ncheapest passing: none")
endif()
