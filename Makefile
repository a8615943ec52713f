# One entry point over the CMake presets. `make demo` and `make test` are the README's
# two commands; both install the Debian packages llmemu needs first.
#   make demo      build (release) and run the main job: an emulated serving benchmark
#                  of the bundled A40 / Qwen3-8B profile on one hour of Azure traffic
#   make test      build (dev) and run the whole test suite
#   make asan | tsan | bench | install PREFIX=... | format | clean
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
PREFIX ?= /usr/local
# Warnings are errors in CI (CI=true) and wherever WERROR=ON is given.
ifneq ($(CI),)
WERROR ?= ON
endif
WERROR ?= OFF
export LLMEMU_WERROR := $(WERROR)
# The concurrent parts: timer thread, futures, live engine, executor, HTTP server. The TSan
# build compiles only the test files that hold such cases (found by their names), so that
# it does not spend CI time building cases it would not run.
TSAN_PREFIXES := TimerService TimerFuture WallClock LiveEngine Server Executor Engine LatencyModel.shared LatencyModel.executor Fleet.own_clocks Capacity.work_team Capacity.parallel_for
empty :=
space := $(empty) $(empty)
comma := ,
TSAN_CASES ?= -tc='$(subst $(space),$(comma),$(addsuffix *,$(TSAN_PREFIXES)))'
lparen := (
rparen := )
TSAN_RE = TEST_CASE\$(lparen)"$(lparen)$(subst .,\.,$(subst $(space),|,$(TSAN_PREFIXES)))$(rparen)
TSAN_FILES = $(shell grep -l -E '$(TSAN_RE)' tests/test_*.cpp | xargs -n1 basename | paste -sd';')

.PHONY: deps demo test asan tsan bench install format clean

deps:
	@bash scripts/install-deps.sh

demo: deps
	cmake --preset release >/dev/null
	cmake --build --preset release -j $(JOBS) --target llmemu_cli
	./build/release/bin/llmemu simulate

test: deps
	cmake --preset dev
	cmake --build --preset dev -j $(JOBS)
	ctest --preset dev -j $(JOBS)

asan: deps
	cmake --preset asan
	cmake --build --preset asan -j $(JOBS)
	ctest --preset asan -j $(JOBS) -LE 'packaging|compile_fail'

tsan: deps
	cmake --preset tsan -DLLMEMU_TEST_GLOB="$(TSAN_FILES)"
	cmake --build --preset tsan -j $(JOBS) --target llmemu_tests
	TSAN_OPTIONS=halt_on_error=1 ./build/tsan/tests/llmemu_tests $(TSAN_CASES)

bench: deps
	cmake --preset release >/dev/null
	cmake --build --preset release -j $(JOBS)
	@for b in build/release/bench/bench_*; do echo "== $$b"; $$b --benchmark_min_time=0.2; done

install: deps
	cmake --preset release >/dev/null
	cmake --build --preset release -j $(JOBS)
	cmake --install build/release --prefix $(PREFIX)

format:
	find include examples tests bench fuzz -name '*.hpp' -o -name '*.cpp' | xargs clang-format -i

clean:
	rm -rf build
