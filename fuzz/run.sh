#!/usr/bin/env bash
# Builds the libFuzzer targets (a separate clang build, see fuzz/README.md)
# and runs each one for a bounded time from its committed seed corpus.
# Exits non-zero if any target crashes, leaks, hits a sanitizer report or
# breaks an invariant; the input that did it is saved beside the build.
#
#   fuzz/run.sh [--build-only] [--seconds N] [--targets "a b"]
#
# Environment: EGRESS_FUZZ_BUILD_DIR (default: $EGRESS_BUILD_DIR/fuzz, else
# build/fuzz), EGRESS_FUZZ_SECONDS (per target, default 20).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build_dir="${EGRESS_FUZZ_BUILD_DIR:-${EGRESS_BUILD_DIR:-$repo/build}/fuzz}"
seconds="${EGRESS_FUZZ_SECONDS:-20}"
targets="ip_parse page_token spool_record ingest_batch note_day"
build_only=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --build-only) build_only=1 ;;
    --seconds) seconds="$2"; shift ;;
    --targets) targets="$2"; shift ;;
    *) echo "usage: $0 [--build-only] [--seconds N] [--targets \"a b\"]" >&2; exit 2 ;;
  esac
  shift
done
log() { printf '[fuzz] %s\n' "$*" >&2; }

if [[ ! -f "$build_dir/CMakeCache.txt" ]]; then
  log "configuring $build_dir (clang++, -fsanitize=fuzzer,address,undefined)"
  cmake -S "$repo/fuzz" -B "$build_dir" -DCMAKE_CXX_COMPILER=clang++ >/dev/null
fi
log "building fuzz targets"
cmake --build "$build_dir" -j "$(nproc)" >/dev/null
[[ "$build_only" == 1 ]] && exit 0

status=0
for target in $targets; do
  work="$build_dir/corpus-work/$target"
  artifacts="$build_dir/artifacts/$target"
  mkdir -p "$work" "$artifacts"
  # New inputs go to the work corpus; the committed seeds stay as they are.
  out="$build_dir/$target.log"
  if "$build_dir/${target}_fuzzer" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
      -print_final_stats=1 -artifact_prefix="$artifacts/" "$work" "$repo/fuzz/corpus/$target" \
      >"$out" 2>&1; then
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$out" | grep -o '[0-9]*$' || echo '?')
    cov=$(grep -o 'cov: [0-9]*' "$out" | tail -1 | grep -o '[0-9]*' || echo '?')
    log "$target: ok, $runs runs in ${seconds}s, coverage $cov edges"
  else
    status=1
    log "$target: FAILED (log: $out, inputs: $artifacts)"
    grep -E 'ERROR|invariant violated|runtime error|SUMMARY' "$out" | head -5 >&2 || true
  fi
done
exit "$status"
