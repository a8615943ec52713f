# `llmemu serve` topology and KV-cache events (issue 13): --replicas on ports with their own
# /metrics, --router in front of them, --data-parallel-size on one port, SIGTERM draining
# every replica (tests/server_replicas.py); vLLM's KV-cache events over ZeroMQ rebuilt by a
# subscriber and compared with the engine's prefix cache (tests/server_kv_events.py).
if(TARGET llmemu_cli)
  find_program(LLMEMU_PYTHON3 python3)
  if(LLMEMU_PYTHON3)
    add_test(NAME cli.server.replicas
      COMMAND ${LLMEMU_PYTHON3} ${CMAKE_CURRENT_SOURCE_DIR}/server_replicas.py $<TARGET_FILE:llmemu_cli>)
    set_tests_properties(cli.server.replicas PROPERTIES TIMEOUT 60 PASS_REGULAR_EXPRESSION "replicas: ok")
    add_test(NAME cli.server.kv_events
      COMMAND ${LLMEMU_PYTHON3} ${CMAKE_CURRENT_SOURCE_DIR}/server_kv_events.py $<TARGET_FILE:llmemu_cli>
              ${CMAKE_CURRENT_BINARY_DIR}/kv_events)
    set_tests_properties(cli.server.kv_events PROPERTIES TIMEOUT 60 SKIP_RETURN_CODE 77
      PASS_REGULAR_EXPRESSION "kv events: [0-9]+ batches.*replay ok")
  endif()
  macro(llmemu_serve_bad name regex)
    add_test(NAME cli.server.${name} COMMAND $<TARGET_FILE:llmemu_cli> serve --profile const:1 --port 0 ${ARGN})
    set_tests_properties(cli.server.${name} PROPERTIES PASS_REGULAR_EXPRESSION "${regex}")
  endmacro()
  llmemu_serve_bad(dp_and_replicas "--data-parallel-size with --replicas: give one of them" -dp 2 --replicas 2)
  llmemu_serve_bad(router_without_replicas "fronts --replicas N \\(N >= 2\\); add --replicas" --router least_loaded)
  llmemu_serve_bad(router_with_dp "vLLM's data-parallel balancer is the router" -dp 2 --router round_robin)
  llmemu_serve_bad(router_unknown "router 'nearest': use round_robin" --replicas 2 --router nearest)
  add_test(NAME cli.server.replicas_past_port
    COMMAND $<TARGET_FILE:llmemu_cli> serve --profile const:1 --replicas 3 --port 65535)
  set_tests_properties(cli.server.replicas_past_port PROPERTIES PASS_REGULAR_EXPRESSION "needs ports up to 65537")
  llmemu_serve_bad(kv_events_unknown_key "unknown key 'enable_events'" --kv-events-config "{\"enable_events\": true}")
  llmemu_serve_bad(kv_events_not_json "--kv-events-config: not JSON" --kv-events-config "{nope")
endif()
