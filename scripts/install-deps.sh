#!/usr/bin/env bash
# Installs the Debian 12 packages llmemu needs to build, test and benchmark.
# Only what is missing is installed; `apt-get update` runs only when needed.
# Usage: scripts/install-deps.sh [--with-tools]   (--with-tools: meson, clang/libFuzzer, node)
set -euo pipefail

pkgs=(cmake g++ make ninja-build pkg-config
      libzmq3-dev cppzmq-dev libmsgpack-cxx-dev  # `llmemu serve --kv-events-config` (ZeroMQ + msgpack)
      python3-zmq python3-msgpack                # the KV-events subscriber test (ctest cli.server.kv_events)
      libeigen3-dev libxtensor-dev xtl-dev doctest-dev libbenchmark-dev
      libsimdjson-dev nlohmann-json3-dev libcli11-dev libboost-dev libfmt-dev
      meson clang libclang-rt-14-dev curl nodejs npm
      chromium python3    # chromium + python3: the HTML report's browser test (tests/report/)
      libopenmpi-dev openmpi-bin  # mpirun -np K llmemu sweep|plan (ctests cli.plan.mpi_*)
      prometheus)         # promtool: `promtool check metrics` on /metrics (ctest cli.server.promtool)

missing=()
for p in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    # A binary already on PATH (e.g. a preinstalled npm or node) is good enough.
    case "$p" in
      npm|nodejs|cmake|g++|make|clang|curl|chromium|python3) command -v "${p/nodejs/node}" >/dev/null 2>&1 && continue ;;
      prometheus) command -v promtool >/dev/null 2>&1 && continue ;;
      openmpi-bin) command -v mpirun >/dev/null 2>&1 && continue ;;
    esac
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all packages present"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
if ! $SUDO apt-get install -y --no-install-recommends "${missing[@]}" >/tmp/llmemu-apt.log 2>&1; then
  $SUDO apt-get update >/tmp/llmemu-apt-update.log 2>&1
  $SUDO apt-get install -y --no-install-recommends "${missing[@]}" || {
    echo "install-deps: apt-get install failed; see output above" >&2; exit 1; }
fi
echo "install-deps: done"
