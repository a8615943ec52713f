#!/usr/bin/env bash
# ctest driver for the openai-node test. Usage: run.sh <llmemu> <work dir>
# Exits 77 (ctest SKIP_RETURN_CODE) when node/npm is missing or `npm install` fails (offline).
set -u
cli="$1"
work="$2"
here="$(cd "$(dirname "$0")" && pwd)"
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "node/npm not installed: skipping"; exit 77
fi
mkdir -p "$work"
cp "$here/package.json" "$here/stream_chat.mjs" "$work/"
if [ ! -d "$work/node_modules/openai" ]; then
  if ! (cd "$work" && timeout 180 npm install --no-audit --no-fund --loglevel=error >npm-install.log 2>&1); then
    echo "npm install failed (offline?): skipping"; cat "$work/npm-install.log" | tail -5; exit 77
  fi
fi
cd "$work" && exec timeout 120 node stream_chat.mjs "$cli"
