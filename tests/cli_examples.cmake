# The small example programs run to completion.
if(TARGET embed_in_host)
  add_test(NAME example.embed_in_host COMMAND embed_in_host)
  set_tests_properties(example.embed_in_host PROPERTIES TIMEOUT 60)
endif()
if(TARGET host_loop_both_clocks)
  add_test(NAME example.host_loop_both_clocks COMMAND host_loop_both_clocks)
  set_tests_properties(example.host_loop_both_clocks PROPERTIES TIMEOUT 60)
endif()
