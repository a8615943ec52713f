# Command-line tests of `llmemu serve` and `llmemu bench` (bad flags, help), and the
# official openai npm client driving a live server (skipped without node/npm or offline).
if(TARGET llmemu_cli)
  add_test(NAME cli.server.serve_help COMMAND $<TARGET_FILE:llmemu_cli> serve --help)
  set_tests_properties(cli.server.serve_help PROPERTIES PASS_REGULAR_EXPRESSION "--port.*--drain-timeout")
  add_test(NAME cli.server.bench_help COMMAND $<TARGET_FILE:llmemu_cli> bench --help)
  set_tests_properties(cli.server.bench_help PROPERTIES PASS_REGULAR_EXPRESSION "--max-concurrency")

  add_test(NAME cli.server.serve_bad_port COMMAND $<TARGET_FILE:llmemu_cli> serve --profile const:1 --port 70000)
  set_tests_properties(cli.server.serve_bad_port PROPERTIES WILL_FAIL TRUE)
  add_test(NAME cli.server.serve_bad_host COMMAND $<TARGET_FILE:llmemu_cli> serve --profile const:1 --port 0 --host not-an-ip)
  set_tests_properties(cli.server.serve_bad_host PROPERTIES PASS_REGULAR_EXPRESSION "llmemu: server: --host 'not-an-ip'")
  add_test(NAME cli.server.serve_bad_timer_priority COMMAND $<TARGET_FILE:llmemu_cli> serve --profile const:1 --port 0 --timer-priority 100)
  set_tests_properties(cli.server.serve_bad_timer_priority PROPERTIES PASS_REGULAR_EXPRESSION "--timer-priority 100: use 0")
  add_test(NAME cli.server.serve_bad_profile COMMAND $<TARGET_FILE:llmemu_cli> serve --profile const:nope --port 0)
  set_tests_properties(cli.server.serve_bad_profile PROPERTIES WILL_FAIL TRUE)

  add_test(NAME cli.server.bench_bad_url COMMAND $<TARGET_FILE:llmemu_cli> bench --base-url ftp://x --dataset random --num-prompts 1)
  set_tests_properties(cli.server.bench_bad_url PROPERTIES PASS_REGULAR_EXPRESSION "--base-url 'ftp://x'")
  add_test(NAME cli.server.bench_bad_endpoint COMMAND $<TARGET_FILE:llmemu_cli> bench --endpoint /v2/x --dataset random --num-prompts 1)
  set_tests_properties(cli.server.bench_bad_endpoint PROPERTIES PASS_REGULAR_EXPRESSION "--endpoint '/v2/x'")
  add_test(NAME cli.server.bench_zero_concurrency COMMAND $<TARGET_FILE:llmemu_cli> bench --max-concurrency 0 --dataset random --num-prompts 1)
  set_tests_properties(cli.server.bench_zero_concurrency PROPERTIES PASS_REGULAR_EXPRESSION "--max-concurrency must be >= 1")
  # Port 9 (discard) on loopback: nothing listens, so the model lookup fails with one line.
  add_test(NAME cli.server.bench_unreachable COMMAND $<TARGET_FILE:llmemu_cli> bench --base-url http://127.0.0.1:9 --dataset random --num-prompts 1)
  set_tests_properties(cli.server.bench_unreachable PROPERTIES PASS_REGULAR_EXPRESSION "llmemu: cannot GET http://127.0.0.1:9/v1/models")

  # End to end: `llmemu bench` against a live `llmemu serve` (then SIGTERM, exit 0).
  file(WRITE ${CMAKE_CURRENT_BINARY_DIR}/server_bench_smoke.sh [=[
set -u
cli="$1"
log="$(mktemp)"
"$cli" serve --profile const:2 --port 0 --model smoke --timer-priority 5 >"$log" 2>&1 &
pid=$!
for _ in $(seq 200); do grep -q 'listening on' "$log" && break; sleep 0.05; done
port=$(sed -n 's/.*listening on http:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' "$log")
[ -n "$port" ] || { cat "$log"; kill -TERM "$pid"; exit 1; }
"$cli" bench --base-url "http://127.0.0.1:$port" --dataset random --input-len 16 --output-len 4   --num-prompts 8 --max-concurrency 4 --request-rate 200 -q
rc=$?
kill -TERM "$pid"
wait "$pid"
src=$?
grep 'timer:' "$log"
tail -1 "$log"
rm -f "$log"
[ "$rc" -eq 0 ] && [ "$src" -eq 0 ]
]=])
  add_test(NAME cli.server.bench_against_serve
    COMMAND bash ${CMAKE_CURRENT_BINARY_DIR}/server_bench_smoke.sh $<TARGET_FILE:llmemu_cli>)
  set_tests_properties(cli.server.bench_against_serve PROPERTIES TIMEOUT 120
    PASS_REGULAR_EXPRESSION "Successful requests: +8 .*Failed requests: +0 .*timer: +(SCHED_FIFO priority 5|normal priority \\(SCHED_FIFO priority 5 refused).*llmemu serve: stopped")

  # vLLM's serve and bench command lines (tests/server_vllm_cli.sh); refused and no-effect
  # vLLM flags; docs/server.md's flag tables are the command's own.
  add_test(NAME cli.server.vllm_command_lines
    COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/server_vllm_cli.sh $<TARGET_FILE:llmemu_cli> ${CMAKE_CURRENT_BINARY_DIR}/vllm_cli)
  set_tests_properties(cli.server.vllm_command_lines PROPERTIES TIMEOUT 60 PASS_REGULAR_EXPRESSION "vllm command lines: ok")
  add_test(NAME cli.server.vllm_refused_flag COMMAND $<TARGET_FILE:llmemu_cli> serve --profile const:1 --port 0 --enable-lora)
  set_tests_properties(cli.server.vllm_refused_flag PROPERTIES WILL_FAIL TRUE)
  add_test(NAME cli.server.vllm_refused_flag_reason COMMAND $<TARGET_FILE:llmemu_cli> serve --profile const:1 --port 0 --speculative-config "{}")
  set_tests_properties(cli.server.vllm_refused_flag_reason PROPERTIES PASS_REGULAR_EXPRESSION "vLLM's --speculative-config is not supported: speculative decoding is not emulated")
  add_test(NAME cli.server.vllm_refused_value COMMAND $<TARGET_FILE:llmemu_cli> serve --profile const:1 --port 0 -pp 2)
  set_tests_properties(cli.server.vllm_refused_value PROPERTIES PASS_REGULAR_EXPRESSION "vLLM's --pipeline-parallel-size 2 is not supported")
  add_test(NAME cli.server.vllm_tp_mismatch COMMAND $<TARGET_FILE:llmemu_cli> serve --profile const:1 --port 0 --tensor-parallel-size 4)
  set_tests_properties(cli.server.vllm_tp_mismatch PROPERTIES PASS_REGULAR_EXPRESSION "--tensor-parallel-size 4: --profile 'const:1' models one GPU")
  add_test(NAME cli.server.vllm_bench_refused COMMAND $<TARGET_FILE:llmemu_cli> bench --use-beam-search --dataset random --num-prompts 1)
  set_tests_properties(cli.server.vllm_bench_refused PROPERTIES PASS_REGULAR_EXPRESSION "vLLM's --use-beam-search is not supported: beam search")
  add_test(NAME cli.server.vllm_flags_documented
    COMMAND ${CMAKE_COMMAND} -DCLI=$<TARGET_FILE:llmemu_cli> -DDOC=${PROJECT_SOURCE_DIR}/docs/server.md
            -P ${CMAKE_CURRENT_SOURCE_DIR}/check_vllm_flags_doc.cmake)

  add_test(NAME cli.server.promtool
    COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/server_promtool.sh $<TARGET_FILE:llmemu_cli>)
  set_tests_properties(cli.server.promtool PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 60
    PASS_REGULAR_EXPRESSION "promtool: clean but for vLLM's names")

  # examples/monitoring: a real Prometheus scrapes llmemu serve under llmemu bench load and
  # every PromQL query of the Grafana dashboard returns data (skipped without prometheus).
  add_test(NAME cli.server.monitoring_prometheus
    COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/monitoring_prometheus.sh $<TARGET_FILE:llmemu_cli> ${PROJECT_SOURCE_DIR}
            ${CMAKE_CURRENT_BINARY_DIR}/monitoring)
  set_tests_properties(cli.server.monitoring_prometheus PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 60 LABELS monitoring
    PASS_REGULAR_EXPRESSION "monitoring: all [0-9]+ dashboard queries of [0-9]+ panels return data")

  add_test(NAME cli.server.openai_node
    COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/node/run.sh $<TARGET_FILE:llmemu_cli> ${CMAKE_CURRENT_BINARY_DIR}/node)
  set_tests_properties(cli.server.openai_node PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 300
    PASS_REGULAR_EXPRESSION "openai-node: ok")
endif()
