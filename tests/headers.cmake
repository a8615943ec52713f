# headers.self_contained (label `headers`): every public header compiles on its own with
# GCC and with Clang, no header includes a higher layer, the umbrella reaches no
# third-party header, and the portable 128-bit product agrees with the int128 one
# (tests/check_headers.sh says how). Both compilers: the configured one and the other of
# g++ / clang++ when it is installed (scripts/install-deps.sh installs both).
if(CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
  find_program(LLMEMU_OTHER_CXX NAMES g++-12 g++)
else()
  find_program(LLMEMU_OTHER_CXX NAMES clang++-14 clang++)
endif()
set(_hdr_compilers ${CMAKE_CXX_COMPILER})
if(LLMEMU_OTHER_CXX)
  list(APPEND _hdr_compilers ${LLMEMU_OTHER_CXX})
else()
  message(STATUS "headers.self_contained: no second compiler (g++ / clang++) found; checking with ${CMAKE_CXX_COMPILER} only")
endif()
# The dependencies' include folders, as the targets carry them.
set(_hdr_flags "")
foreach(t Eigen3::Eigen simdjson::simdjson nlohmann_json::nlohmann_json Boost::headers doctest::doctest)
  if(TARGET ${t})
    get_target_property(_inc ${t} INTERFACE_INCLUDE_DIRECTORIES)
    foreach(d ${_inc})
      # (the compiler's own folders stay out: -isystem /usr/include breaks #include_next)
      if(d AND NOT d MATCHES "^\\$<" AND NOT d MATCHES "^/usr(/local)?/include/?$")
        string(APPEND _hdr_flags " -isystem ${d}")
      endif()
    endforeach()
  endif()
endforeach()
if(LLMEMU_WERROR)
  string(APPEND _hdr_flags " -Werror")
endif()
# A compile-time check: the sanitizer builds (make asan / tsan) would only repeat it.
if(CMAKE_CXX_FLAGS MATCHES "sanitize")
  return()
endif()
add_test(NAME headers.self_contained
  COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/check_headers.sh ${PROJECT_SOURCE_DIR} "${_hdr_flags}" ${_hdr_compilers})
# ~300 CPU s (2.5 min on 2 idle cores); the timeout leaves room for a machine shared by
# several builds (25 min there).
set_tests_properties(headers.self_contained PROPERTIES LABELS headers TIMEOUT 3000)
