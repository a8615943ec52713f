# docs/server.md carries the vLLM flag tables exactly as `llmemu serve --vllm-flags-markdown`
# and `llmemu bench --vllm-flags-markdown` print them (regenerate: see docs/server.md).
foreach(cmd serve bench)
  execute_process(COMMAND ${CLI} ${cmd} --vllm-flags-markdown OUTPUT_VARIABLE table RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "llmemu ${cmd} --vllm-flags-markdown failed (${rc})")
  endif()
  file(READ ${DOC} doc)
  string(FIND "${doc}" "${table}" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "docs/server.md lacks the current table of `llmemu ${cmd} --vllm-flags-markdown`; "
                        "paste its output between the '<!-- vllm-${cmd}-flags -->' markers")
  endif()
endforeach()
