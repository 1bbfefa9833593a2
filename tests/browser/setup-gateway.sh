#!/usr/bin/env bash
# Prepares gateway/ for the gateway and browser tests (and scripts/run.sh):
# npm ci when node_modules is missing or older than package-lock.json (offline
# from npm's cache after the first time), code generated from proto/ with
# Debian's protoc, the panel bundled with esbuild. Idempotent, a few seconds.
set -euo pipefail
gateway="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../gateway" && pwd)"
cd "$gateway"
if [[ ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ]]; then
  echo "[gateway] npm ci" >&2
  npm ci --prefer-offline --no-audit --no-fund --loglevel=error
fi
npm run -s generate >&2
npm run -s build >&2
