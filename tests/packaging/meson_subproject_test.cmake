# Builds tests/packaging/meson_consumer with llmemu as a Meson subproject.
file(REMOVE_RECURSE ${WORK})
file(MAKE_DIRECTORY ${WORK}/consumer/subprojects)
file(COPY ${SOURCE}/tests/packaging/meson_consumer/meson.build DESTINATION ${WORK}/consumer)
file(COPY ${SOURCE}/tests/packaging/cmake_consumer/main.cpp DESTINATION ${WORK}/consumer)
file(CREATE_LINK ${SOURCE} ${WORK}/consumer/subprojects/llmemu SYMBOLIC)
foreach(step "setup;${WORK}/build;${WORK}/consumer;-Dllmemu:tests=false;-Dllmemu:examples=false;-Dllmemu:benchmarks=false"
             "compile;-C;${WORK}/build"
             "test;-C;${WORK}/build")
  execute_process(COMMAND ${MESON} ${step} RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "meson ${step} failed")
  endif()
endforeach()
