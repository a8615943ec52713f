# Negative-compilation tests: each case is an EXCLUDE_FROM_ALL object library built by its
# ctest with the project's own flags; the test passes when the build fails with the named
# diagnostic (PASS_REGULAR_EXPRESSION), so an unrelated error (a typo) does not pass it.
# (".*" stands for a quote: GCC prints typographic, multi-byte quotes in UTF-8 locales.)
# control_ok must build, proving the harness compiles what is right.
set(_cf_dir ${CMAKE_CURRENT_LIST_DIR})
set(_cf_cases
  "rng_by_value_model|LatencyModel: sample\\(\\) takes the random engine by value"
  "rng_by_value_emitter|TokenEmitter: emit\\(\\) takes the random engine by value"
  "step_positional|no matching function for call to .*llmemu::(v[0-9_]+::)?ScheduledRequest::ScheduledRequest\\(<brace-enclosed"
  "step_missing_field|no matching function for call to .*llmemu::(v[0-9_]+::)?ScheduledRequest::decode\\(int, int\\)"
  "step_default_constructed|ScheduledRequest::ScheduledRequest\\(\\).* is private within this context")
foreach(c ${_cf_cases})
  string(REPLACE "|" ";" parts "${c}")
  list(GET parts 0 name)
  list(SUBLIST parts 1 -1 patterns)
  add_library(compile_fail_${name} OBJECT EXCLUDE_FROM_ALL ${_cf_dir}/${name}.cpp)
  target_link_libraries(compile_fail_${name} PRIVATE llmemu::llmemu llmemu_project_options)
  add_test(NAME compile_fail.${name}
           COMMAND ${CMAKE_COMMAND} --build ${CMAKE_BINARY_DIR} --target compile_fail_${name})
  set_tests_properties(compile_fail.${name} PROPERTIES PASS_REGULAR_EXPRESSION "${patterns}"
                       LABELS compile_fail RESOURCE_LOCK llmemu_build_dir TIMEOUT 120)
endforeach()
add_library(compile_fail_control_ok OBJECT EXCLUDE_FROM_ALL ${_cf_dir}/control_ok.cpp)
target_link_libraries(compile_fail_control_ok PRIVATE llmemu::llmemu llmemu_project_options)
add_test(NAME compile_fail.control_ok COMMAND ${CMAKE_COMMAND} --build ${CMAKE_BINARY_DIR} --target compile_fail_control_ok)
set_tests_properties(compile_fail.control_ok PROPERTIES LABELS compile_fail RESOURCE_LOCK llmemu_build_dir TIMEOUT 120)
