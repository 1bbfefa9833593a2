#!/usr/bin/env bash
# Long libFuzzer run of every target in fuzz/ (the test suite runs each for
# 20 s). Prints, per target, the coverage of the committed seed corpus alone
# (the baseline, measured in the same run) beside the coverage reached, the
# execution rate and the corpus growth; exits non-zero on any crash.
#
#   bench/fuzz_soak.sh [seconds per target, default 600] [targets...]
#
# Inputs that grow coverage stay in build/fuzz/corpus-work/<target>/; copy
# the interesting ones to fuzz/corpus/<target>/ to keep them.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build_dir="${EGRESS_FUZZ_BUILD_DIR:-${EGRESS_BUILD_DIR:-$repo/build}/fuzz}"
seconds="${1:-600}"
shift || true
targets="${*:-ip_parse page_token spool_record ingest_batch note_day}"

EGRESS_FUZZ_BUILD_DIR="$build_dir" "$repo/fuzz/run.sh" --build-only

cov_of() { grep -o 'cov: [0-9]*' "$1" | tail -1 | grep -o '[0-9]*' || echo 0; }

printf '%-14s %12s %12s %12s %14s %10s\n' target seed_cov soak_cov execs/s corpus_files result
status=0
for target in $targets; do
  fuzzer="$build_dir/${target}_fuzzer"
  work="$build_dir/corpus-work/$target"
  artifacts="$build_dir/artifacts/$target"
  mkdir -p "$work" "$artifacts"
  # Baseline: the committed seeds alone, nothing mutated.
  seed_log="$build_dir/$target.seed.log"
  "$fuzzer" -runs=0 "$repo/fuzz/corpus/$target" >"$seed_log" 2>&1 || true
  soak_log="$build_dir/$target.soak.log"
  result=ok
  if ! "$fuzzer" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
      -artifact_prefix="$artifacts/" "$work" "$repo/fuzz/corpus/$target" >"$soak_log" 2>&1; then
    result="CRASH (see $soak_log)"
    status=1
  fi
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$soak_log" | grep -o '[0-9]*$' || echo 0)
  rate=$(( runs / (seconds > 0 ? seconds : 1) ))
  files=$(find "$work" -type f | wc -l)
  printf '%-14s %12s %12s %12s %14s %10s\n' "$target" "$(cov_of "$seed_log")" "$(cov_of "$soak_log")" \
    "$rate" "$files" "$result"
done
exit "$status"
