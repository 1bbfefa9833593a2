#!/usr/bin/env bash
# Longer runs of the fault tests (tests/netns/fault_*_netns_test.cc): each
# fault loop (agent kill -9 every few seconds, service restarts and replica
# fail-over, PostgreSQL outages of 30 s, the link cut) repeats for --minutes
# instead of its bounded test-suite count, then the counts in PostgreSQL are
# compared with the connections made, exactly. Runs as root (namespaces).
#
#   bench/fault_soak.sh [--minutes=10] [--only=agent_kill|service|postgres|network|spool]
#
# The network test cuts the link for the whole --minutes once. Tests run one
# after the other; each prints its figures (kills, outages, counts).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build_dir="${EGRESS_BUILD_DIR:-$repo/build}"
minutes=10
only=""
for arg in "$@"; do
  case "$arg" in
    --minutes=*) minutes="${arg#--minutes=}" ;;
    --only=*) only="${arg#--only=}" ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) echo "unknown argument: $arg" >&2; exit 2 ;;
  esac
done
tests=(agent_kill service postgres network spool)
[[ -n "$only" ]] && tests=("$only")
cmake --build "$build_dir" -j2 --target $(printf 'fault_%s_netns_test ' "${tests[@]}")
status=0
for t in "${tests[@]}"; do
  echo "== fault_${t}_netns_test, ${minutes} min"
  start=$(date +%s)
  if EGRESS_SOAK_MINUTES="$minutes" "$build_dir/tests/netns/fault_${t}_netns_test"; then
    echo "== fault_${t}_netns_test passed in $(( $(date +%s) - start )) s"
  else
    echo "== fault_${t}_netns_test FAILED after $(( $(date +%s) - start )) s"
    status=1
  fi
done
exit $status
