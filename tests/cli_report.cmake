# `llmemu report` and `simulate --report`: bad input gives one line naming the input and the
# fix (exit 2); the report renders in headless Chromium with no console error, no network
# request, every chart drawn and a non-blank page (tests/report/run_browser_test.sh; skipped
# only when no Chromium is installed).
if(TARGET llmemu_cli)
  set(_d ${CMAKE_CURRENT_BINARY_DIR}/cli_report)
  file(MAKE_DIRECTORY ${_d})
  file(WRITE ${_d}/unknown.csv "a,b\n1,2\n")
  file(WRITE ${_d}/ragged.csv "t,running\n1,2\n2\n")
  file(WRITE ${_d}/broken.json "{\"completed\":")
  file(WRITE ${_d}/ok.json "{\"completed\":2,\"ttfts\":[0.1,0.2],\"latencies\":[1,2],\"output_lens\":[10,10],\"errors\":[\"\",\"\"]}")
  function(llmemu_report_bad name regex)
    add_test(NAME cli.report.${name}
             COMMAND sh -c "\"$0\" \"$@\" 2>&1; echo \"rc=$?\"" $<TARGET_FILE:llmemu_cli> ${ARGN})
    set_tests_properties(cli.report.${name} PROPERTIES
      PASS_REGULAR_EXPRESSION "^llmemu: [^\n]*${regex}[^\n]*\nrc=2\n$")
  endfunction()
  llmemu_report_bad(no_output "output" report ${_d}/ok.json)
  llmemu_report_bad(missing_file "missing.json" report ${_d}/missing.json -o ${_d}/x.html)
  llmemu_report_bad(unknown_csv "unknown.csv:1: a CSV of unknown kind" report ${_d}/unknown.csv -o ${_d}/x.html)
  llmemu_report_bad(ragged_csv "ragged.csv:3: 1 cells" report ${_d}/ragged.csv -o ${_d}/x.html)
  llmemu_report_bad(broken_json "broken.json: not valid JSON" report ${_d}/broken.json -o ${_d}/x.html)
  llmemu_report_bad(timeseries_not_csv "--timeseries" report ${_d}/ok.json --timeseries ${_d}/ok.json -o ${_d}/x.html)
  llmemu_report_bad(bad_slo "SLO" report ${_d}/ok.json --slo ttft500 -o ${_d}/x.html)
  llmemu_report_bad(labels_count "one label per input" report ${_d}/ok.json --label a,b -o ${_d}/x.html)
  llmemu_report_bad(unwritable "cannot write the report" report ${_d}/ok.json -o ${_d}/no/such/dir/x.html)
  llmemu_report_bad(simulate_unwritable "--report" simulate -q --num-prompts 3 --report ${_d}/no/such/dir/x.html)
  add_test(NAME cli.report.browser
           COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/report/run_browser_test.sh $<TARGET_FILE:llmemu_cli> ${_d}/browser)
  set_tests_properties(cli.report.browser PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 180
    PASS_REGULAR_EXPRESSION "as expected, the broken page fails" FAIL_REGULAR_EXPRESSION "FAIL:")
endif()
# vLLM bench's ramp-up keys in the result JSON (issue 14), and the fleet sections of a real
# `simulate --replicas 4` result.
if(TARGET llmemu_cli)
  add_test(NAME cli.simulate.ramp_up_keys
           COMMAND ${CMAKE_COMMAND} -DLLMEMU=$<TARGET_FILE:llmemu_cli> -DOUT=${CMAKE_CURRENT_BINARY_DIR}/cli_report/ramp
                   -P ${CMAKE_CURRENT_SOURCE_DIR}/report/ramp_up_keys.cmake)
  set_tests_properties(cli.simulate.ramp_up_keys PROPERTIES PASS_REGULAR_EXPRESSION "as vLLM bench writes them")
  set(_f ${CMAKE_CURRENT_BINARY_DIR}/cli_report/fleet)
  add_test(NAME cli.report.fleet_sections
           COMMAND sh -c "mkdir -p \"$1\" && \"$0\" simulate -q --replicas 4 --router least_loaded --dataset random \
--num-prompts 200 --input-len 300 --output-len 30 --request-rate 40 --result-json \"$1/fleet.json\" && \"$0\" report -q \
\"$1/fleet.json\" -o \"$1/fleet.html\" && for c in fleet_load fleet_kv fleet_hit fleet_ttft fleet_running; do \
grep -q \"data-chart=\\\"$c\\\"\" \"$1/fleet.html\" || { echo \"no chart $c\"; exit 1; }; done && echo fleet charts drawn"
                   $<TARGET_FILE:llmemu_cli> ${_f})
  set_tests_properties(cli.report.fleet_sections PROPERTIES PASS_REGULAR_EXPRESSION "fleet charts drawn"
    FAIL_REGULAR_EXPRESSION "no chart")
endif()
