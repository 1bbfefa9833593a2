#!/usr/bin/env bash
# Sets up (packages, build) and runs the whole test suite: format check,
# compose-file check, then every CTest tier (unit, db, ...). Each tier starts
# what it needs itself (PostgreSQL clusters in /tmp, ...), so nothing has to
# be running beforehand, and nothing is left running afterwards.
#
# Environment:
#   EGRESS_TEST_JOBS   parallel test processes (default: number of cores)
#   EGRESS_TEST_LABELS CTest label regex (default: all tiers)
#   plus those of scripts/setup.sh.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build_dir="${EGRESS_BUILD_DIR:-$repo/build}"
export EGRESS_BUILD_DIR="$build_dir"
log() { printf '[test] %s\n' "$*" >&2; }
started=$(date +%s)

"$repo/scripts/setup.sh"

log "checking formatting (clang-format, .clang-format)"
"$repo/scripts/check-format.sh"

log "checking docker-compose.yml"
(cd "$repo" && docker-compose -f docker-compose.yml config -q)

# The libFuzzer targets are a separate clang build (fuzz/); CTest's
# security_fuzz_bounded_run runs each for a bounded time.
log "building the fuzz targets (clang, libFuzzer + ASan/UBSan)"
"$repo/fuzz/run.sh" --build-only

jobs="${EGRESS_TEST_JOBS:-$(nproc)}"
labels="${EGRESS_TEST_LABELS:-}"
log "running tests with $jobs parallel jobs${labels:+ (labels: $labels)}"
ctest_args=(--test-dir "$build_dir" -j "$jobs" --output-on-failure --no-tests=error)
[[ -n "$labels" ]] && ctest_args+=(-L "$labels")
status=0
ctest "${ctest_args[@]}" || status=$?
log "finished in $(( $(date +%s) - started )) s (exit $status)"
exit "$status"
