# Command-line tests of issue 18's hardening: out-of-range and overflowing flag values, and
# inputs that used to exhaust memory, end in ONE line "llmemu: ..." naming the flag or file
# and the fix, exit code 2, before anything is allocated or served.
if(TARGET llmemu_cli)
  set(_d ${CMAKE_CURRENT_BINARY_DIR}/cli_harden)
  file(MAKE_DIRECTORY ${_d})
  set(_h "arrived_at,num_prefill_tokens,num_decode_tokens\n")
  file(WRITE ${_d}/blank_first.csv "\n${_h}0,100,10\n1,100,10\n")
  file(WRITE ${_d}/extra_field.csv "${_h}1,5,103,13\n")
  file(WRITE ${_d}/dup_column.csv "arrived_at,num_prefill_tokens,num_decode_tokens,num_decode_tokens\n0,1,2,3\n")
  file(WRITE ${_d}/long_trace.csv "${_h}0,100,10\n100000000,100,10\n")

  function(llmemu_harden_bad name regex)
    add_test(NAME cli.harden.${name}
             COMMAND sh -c "\"$0\" \"$@\" 2>&1; echo \"rc=$?\"" $<TARGET_FILE:llmemu_cli> ${ARGN})
    set_tests_properties(cli.harden.${name} PROPERTIES TIMEOUT 30
      PASS_REGULAR_EXPRESSION "^llmemu: [^\n]*${regex}[^\n]*\nrc=2\n$")
  endfunction()

  set(_sim simulate --profile const:1 --num-gpu-blocks 1000 --dataset random --num-prompts 2)
  # Integer flags: digits only, in range (CLI11 alone wrapped -1 into 2^64 - 1).
  llmemu_harden_bad(seed_negative "--seed: '-1' is not a whole number" ${_sim} --seed -1)
  llmemu_harden_bad(num_prompts_negative "--num-prompts: '-1' is not a whole number"
                    simulate --profile const:1 --num-gpu-blocks 1000 --dataset random --num-prompts -1)
  llmemu_harden_bad(max_num_seqs_zero "--max-num-seqs: 0 is outside \\[1, 1048576\\]" ${_sim} --max-num-seqs 0)
  llmemu_harden_bad(block_size_not_vllm "--block-size" ${_sim} --block-size 7)
  llmemu_harden_bad(burstiness_inf "--burstiness inf: must be a finite number > 0" ${_sim} --request-rate 5 --burstiness inf)
  llmemu_harden_bad(max_model_len_overflow "--max-model-len: 4294967295 is outside" ${_sim} --max-model-len 4294967295)
  # Sizes that tried to allocate tens of GB are refused with the numbers.
  # simulate prints its settings header before it sizes the pool, so stdout may hold it too.
  add_test(NAME cli.harden.num_gpu_blocks_beyond_memory
           COMMAND sh -c "\"$0\" \"$@\" 2>&1; echo \"rc=$?\"" $<TARGET_FILE:llmemu_cli>
                   simulate --profile const:1 --num-gpu-blocks 4294967295 --dataset random --num-prompts 2)
  set_tests_properties(cli.harden.num_gpu_blocks_beyond_memory PROPERTIES TIMEOUT 30
    PASS_REGULAR_EXPRESSION "llmemu: [^\n]*a KV pool of 4294967295 blocks needs about [0-9]+ MiB[^\n]*at most [0-9]+ blocks fit.*rc=2\n$")
  llmemu_harden_bad(num_prompts_beyond_memory "--num-prompts 1000000000: about [0-9]+ MiB.*at most [0-9]+ requests fit"
                    simulate --profile const:1 --num-gpu-blocks 1000 --dataset random --num-prompts 1000000000)
  llmemu_harden_bad(trace_dev_zero "/dev/zero:1: is longer than 4096 bytes"
                    simulate --profile const:1 --num-gpu-blocks 1000 --trace /dev/zero)
  # Silent trace misreads are errors naming file and line.
  llmemu_harden_bad(trace_blank_first_line "blank_first.csv:1: is blank"
                    simulate --profile const:1 --num-gpu-blocks 1000 --trace ${_d}/blank_first.csv)
  llmemu_harden_bad(trace_extra_field "extra_field.csv:2: has 4 fields but the header has 3"
                    simulate --profile const:1 --num-gpu-blocks 1000 --trace ${_d}/extra_field.csv)
  llmemu_harden_bad(trace_duplicate_column "dup_column.csv:1: the header names column 'num_decode_tokens' twice"
                    simulate --profile const:1 --num-gpu-blocks 1000 --trace ${_d}/dup_column.csv)
  # Analytic specs: one unit rule; the old bare affine slopes are refused with the new spelling.
  llmemu_harden_bad(profile_affine_bare_slopes "affine:2,25,40.*write affine:2ms,25us,40us"
                    simulate --profile affine:2,25,40 --num-gpu-blocks 1000 --dataset random --num-prompts 2)
  llmemu_harden_bad(profile_const_bad_unit "const:30min.*not a number with a unit"
                    simulate --profile const:30min --num-gpu-blocks 1000 --dataset random --num-prompts 2)
  # sweep lists: an empty item is an error, not dropped.
  llmemu_harden_bad(sweep_empty_rate "--request-rates '1,,2' has an empty item"
                    sweep --profile const:1 --num-gpu-blocks 1000 --dataset random --num-prompts 2 --request-rates 1,,2)
  llmemu_harden_bad(sweep_empty_seqs "--max-num-seqs '8,' has an empty item"
                    sweep --profile const:1 --num-gpu-blocks 1000 --dataset random --num-prompts 2 --max-num-seqs 8,)
  # serve: refused before it binds anything.
  set(_serve serve --profile const:1 --port 0)
  llmemu_harden_bad(serve_idle_timeout_overflow "--idle-timeout 1e\\+10: give seconds in \\(0, 86400\\]"
                    ${_serve} --idle-timeout 1e10)
  llmemu_harden_bad(serve_drain_timeout_overflow "--drain-timeout .*: give seconds in \\[0, 86400\\]"
                    ${_serve} --drain-timeout 1e300)
  llmemu_harden_bad(serve_max_body_negative "--max-body-bytes: '-1' is not a whole number" ${_serve} --max-body-bytes -1)
  llmemu_harden_bad(serve_max_num_seqs_overflow "--max-num-seqs: 4294967295 is outside" ${_serve} --max-num-seqs 4294967295)
  llmemu_harden_bad(serve_max_model_len_overflow "--max-model-len: 4294967295 is outside"
                    ${_serve} --max-model-len 4294967295)
  llmemu_harden_bad(serve_analytic_pool_beyond_memory "a KV pool of [0-9]+ blocks needs about"
                    ${_serve} --max-num-seqs 1048576 --max-model-len 268435456)
  llmemu_harden_bad(serve_allowed_hosts_empty "--allowed-hosts 'a,,b' has an empty name" ${_serve} --allowed-hosts a,,b)

  # Memory that used to grow with simulated time: 20 requests at 1e-7 req/s (2e8 s) and a
  # two-line trace 1e8 s long must run under a 512 MiB address-space limit.
  # (The streaming summaries of metrics/ keep no per-second vector, so the low-rate case
  # passes.) Not under sanitizers, which reserve terabytes of address space.
  if(NOT CMAKE_CXX_FLAGS MATCHES "sanitize")
  add_test(NAME cli.harden.memory_bounded_low_rate
           COMMAND sh -c "ulimit -v 524288 && \"$0\" \"$@\" >/dev/null" $<TARGET_FILE:llmemu_cli>
                   simulate --profile const:1 --num-gpu-blocks 1000 --dataset random --num-prompts 20
                   --input-len 16 --output-len 4 --request-rate 1e-7)
  add_test(NAME cli.harden.memory_bounded_long_trace
           COMMAND sh -c "ulimit -v 524288 && \"$0\" \"$@\" >/dev/null" $<TARGET_FILE:llmemu_cli>
                   simulate --profile const:1 --num-gpu-blocks 1000 --trace ${_d}/long_trace.csv)
  # The same runs at an ordinary rate prove the limit itself leaves room for a run.
  add_test(NAME cli.harden.memory_bound_baseline
           COMMAND sh -c "ulimit -v 524288 && \"$0\" \"$@\" >/dev/null" $<TARGET_FILE:llmemu_cli>
                   simulate --profile const:1 --num-gpu-blocks 1000 --dataset random --num-prompts 20
                   --input-len 16 --output-len 4 --request-rate 10)
  set_tests_properties(cli.harden.memory_bounded_low_rate cli.harden.memory_bounded_long_trace
                       cli.harden.memory_bound_baseline PROPERTIES TIMEOUT 60)
  endif()

  # A short run of the serve soak (CI runs the 2-minute one under ASan: .ci/run).
  add_test(NAME cli.harden.serve_soak_short
           COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/soak/serve_soak.sh $<TARGET_FILE:llmemu_cli> 8 18451)
  set_tests_properties(cli.harden.serve_soak_short PROPERTIES TIMEOUT 90 PASS_REGULAR_EXPRESSION "soak: ok")
endif()
