# The project's own Meson build: `meson setup build && meson test -C build`.
file(REMOVE_RECURSE ${WORK})
foreach(step "setup;${WORK};${SOURCE};--buildtype=debug"
             "compile;-C;${WORK};-j;2"
             "test;-C;${WORK};--print-errorlogs")
  execute_process(COMMAND ${MESON} ${step} RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "meson ${step} failed")
  endif()
endforeach()
