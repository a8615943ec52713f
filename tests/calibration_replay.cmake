# The calibration replay (cmake -P): `llmemu simulate` on the bundled RTX 4090 layer-wise
# profile and the real run's workload with the run's engine settings, then `llmemu validate
# --json` against vLLM's own per-request records. Fails unless mean TTFT, TPOT and E2E are
# within LIMIT_PCT % of real vLLM (a regression guard; docs/fidelity.md has the figures).
# Variables: LLMEMU (the program), SRC (source tree), OUT (scratch directory), LIMIT_PCT.
set(run ${SRC}/data/vllm-runs/RTX4090-Llama-3.1-8B)
set(profile ${SRC}/data/layerwise-profiles/RTX4090/meta-llama/Llama-3.1-8B/bf16)
file(MAKE_DIRECTORY ${OUT})
execute_process(
  COMMAND ${LLMEMU} simulate --profile ${profile} --trace ${run}/workload.csv
          --num-gpu-blocks-override 2588 --max-num-seqs 256 --max-num-batched-tokens 2048
          --max-model-len 32768 --save-detailed --result-json ${OUT}/emu.json -q
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "simulate failed (${rc}): ${err}${out}")
endif()
execute_process(
  COMMAND ${LLMEMU} validate --real ${run}/requests.jsonl --emu ${OUT}/emu.json --json
  RESULT_VARIABLE rc OUTPUT_VARIABLE json ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "validate failed (${rc}): ${err}${json}")
endif()
string(JSON n GET "${json}" real requests)
if(NOT n EQUAL 300)
  message(FATAL_ERROR "expected the 300 real requests, read ${n}")
endif()
set(failed "")
foreach(metric ttft tpot e2e)
  string(JSON real GET "${json}" metrics ${metric} mean real)
  string(JSON emu GET "${json}" metrics ${metric} mean emu)
  string(JSON pct GET "${json}" metrics ${metric} mean pct)
  message(STATUS "mean ${metric}: real ${real} ms, ours ${emu} ms, ${pct} %")
  # |pct| <= LIMIT_PCT, compared as text-free numbers via math(EXPR) on hundredths.
  math(EXPR lim "${LIMIT_PCT} * 100")
  string(REGEX REPLACE "^-" "" abs "${pct}")
  string(REGEX MATCH "^[0-9]+" whole "${abs}")
  string(REGEX MATCH "\\.([0-9])([0-9])?" frac "${abs}")
  set(d1 ${CMAKE_MATCH_1})
  set(d2 ${CMAKE_MATCH_2})
  if(d1 STREQUAL "")
    set(d1 0)
  endif()
  if(d2 STREQUAL "")
    set(d2 0)
  endif()
  math(EXPR hundredths "${whole} * 100 + ${d1} * 10 + ${d2}")
  if(hundredths GREATER lim)
    list(APPEND failed "${metric} ${pct} %")
  endif()
endforeach()
if(failed)
  message(FATAL_ERROR "mean error beyond ${LIMIT_PCT} %: ${failed}")
endif()
