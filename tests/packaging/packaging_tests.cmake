# Packaging tests: build small consumer projects the way users consume llmemu.
# They configure and build separate CMake/Meson projects, so they carry the
# "packaging" label (the sanitizer runs skip them).
set(_pkg_dir ${CMAKE_CURRENT_BINARY_DIR}/packaging)
set(_prefix ${_pkg_dir}/prefix)

add_test(NAME packaging.install
  COMMAND ${CMAKE_COMMAND} --install ${PROJECT_BINARY_DIR} --prefix ${_prefix})
set_tests_properties(packaging.install PROPERTIES FIXTURES_SETUP llmemu_installed LABELS packaging)

add_test(NAME packaging.find_package
  COMMAND ${CMAKE_CTEST_COMMAND} --build-and-test
    ${CMAKE_CURRENT_SOURCE_DIR}/packaging/cmake_consumer ${_pkg_dir}/find_package
    --build-generator ${CMAKE_GENERATOR}
    --build-options -DCMAKE_PREFIX_PATH=${_prefix} -DCMAKE_BUILD_TYPE=Release
    --test-command consumer)
set_tests_properties(packaging.find_package PROPERTIES FIXTURES_REQUIRED llmemu_installed
  LABELS packaging PASS_REGULAR_EXPRESSION "consumer ok")

add_test(NAME packaging.pkg_config
  COMMAND ${CMAKE_COMMAND} -DPREFIX=${_prefix} -DSOURCE=${CMAKE_CURRENT_SOURCE_DIR}/packaging/cmake_consumer/main.cpp
    -DOUT=${_pkg_dir}/pkgconfig_consumer -DCXX=${CMAKE_CXX_COMPILER}
    -P ${CMAKE_CURRENT_SOURCE_DIR}/packaging/pkg_config_test.cmake)
set_tests_properties(packaging.pkg_config PROPERTIES FIXTURES_REQUIRED llmemu_installed
  LABELS packaging PASS_REGULAR_EXPRESSION "consumer ok")

add_test(NAME packaging.installed_cli
  COMMAND ${_prefix}/bin/llmemu simulate --help)
set_tests_properties(packaging.installed_cli PROPERTIES FIXTURES_REQUIRED llmemu_installed LABELS packaging)

add_test(NAME packaging.add_subdirectory
  COMMAND ${CMAKE_CTEST_COMMAND} --build-and-test
    ${CMAKE_CURRENT_SOURCE_DIR}/packaging/cmake_consumer ${_pkg_dir}/add_subdirectory
    --build-generator ${CMAKE_GENERATOR}
    --build-options -DLLMEMU_SOURCE_DIR=${PROJECT_SOURCE_DIR} -DCMAKE_BUILD_TYPE=Release
    --test-command consumer)
set_tests_properties(packaging.add_subdirectory PROPERTIES LABELS packaging PASS_REGULAR_EXPRESSION "consumer ok")

find_program(LLMEMU_MESON meson)
if(LLMEMU_MESON)
  add_test(NAME packaging.meson_subproject
    COMMAND ${CMAKE_COMMAND} -DMESON=${LLMEMU_MESON} -DSOURCE=${PROJECT_SOURCE_DIR}
      -DWORK=${_pkg_dir}/meson_subproject
      -P ${CMAKE_CURRENT_SOURCE_DIR}/packaging/meson_subproject_test.cmake)
  set_tests_properties(packaging.meson_subproject PROPERTIES LABELS packaging)
  add_test(NAME packaging.meson_build
    COMMAND ${CMAKE_COMMAND} -DMESON=${LLMEMU_MESON} -DSOURCE=${PROJECT_SOURCE_DIR}
      -DWORK=${_pkg_dir}/meson_build
      -P ${CMAKE_CURRENT_SOURCE_DIR}/packaging/meson_build_test.cmake)
  set_tests_properties(packaging.meson_build PROPERTIES LABELS packaging TIMEOUT 1800)
endif()
