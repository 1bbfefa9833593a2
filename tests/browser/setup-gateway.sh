#!/usr/bin/env bash
# Prepares gateway/ for the gateway and browser tests (and scripts/run.sh):
# npm ci when node_modules is missing or older than package-lock.json (offline
# from npm's cache after the first time), code generated from proto/ with
# Debian's protoc, the panel bundled with esbuild. Idempotent: a few seconds, nothing when all is up to date.
set -euo pipefail
gateway="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../gateway" && pwd)"
cd "$gateway"
if [[ ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ]]; then
  echo "[gateway] npm ci" >&2
  npm ci --prefer-offline --no-audit --no-fund --loglevel=error
fi
# Only what is out of date (a second start of scripts/run.sh should not wait
# for them): the code is generated again when a .proto, the generator or the
# installed packages are newer than the last generation, the panel bundled
# again when its sources or the generated code are newer than its bundle.
newer_than() {
  local stamp="$1"
  shift
  [[ ! -f "$stamp" ]] || [[ -n "$(find "$@" -newer "$stamp" -print -quit 2>/dev/null)" ]]
}
if newer_than gen/.generated ../proto proto test/proto scripts/generate.js \
  node_modules/.package-lock.json; then
  npm run -s generate >&2
  touch gen/.generated
fi
if newer_than panel/dist/.built panel/src gen scripts/build-panel.js \
  node_modules/.package-lock.json; then
  npm run -s build >&2
  touch panel/dist/.built
fi
