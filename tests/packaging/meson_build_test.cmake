# The project's own Meson build: `meson setup` with every option on (tests, examples and
# benchmarks), so every dependency lookup, source listing and target definition of
# meson.build is evaluated; then the examples compile and run and `meson test --list`
# names llmemu_tests. Compiling the CLI and the test binary a second time would only
# repeat the CMake dev build (about 8 minutes on 2 cores) with the same sources and flags.
file(REMOVE_RECURSE ${WORK})
foreach(step "setup;${WORK};${SOURCE};--buildtype=debug;-Dtests=true;-Dexamples=true;-Dbenchmarks=true"
             "compile;-C;${WORK};-j;2;embed_in_host;host_loop_both_clocks")
  execute_process(COMMAND ${MESON} ${step} RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "meson ${step} failed")
  endif()
endforeach()
foreach(ex embed_in_host host_loop_both_clocks)
  execute_process(COMMAND ${WORK}/${ex} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "the Meson-built example ${ex} failed (exit ${rc}):\n${out}")
  endif()
endforeach()
execute_process(COMMAND ${MESON} test -C ${WORK} --list RESULT_VARIABLE rc OUTPUT_VARIABLE listed)
if(NOT rc EQUAL 0 OR NOT listed MATCHES "llmemu_tests")
  message(FATAL_ERROR "meson test --list does not name llmemu_tests:\n${listed}")
endif()
message(STATUS "meson build ok")
