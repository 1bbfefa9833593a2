#!/usr/bin/env bash
# Installs the Debian packages the project needs (only the missing ones) and
# builds everything with CMake into build/. Idempotent: a second run installs
# nothing, prints one line, and rebuilds only what changed.
#
# Environment:
#   EGRESS_BUILD_DIR   build folder (default: <repo>/build)
#   EGRESS_BUILD_TYPE  CMake build type (default: RelWithDebInfo)
#   EGRESS_SKIP_BUILD  set to 1 to install packages only
#   EGRESS_SKIP_PACKAGES  set to 1 to build only (the caller checked them)
#   EGRESS_PACKAGES    "run": only the packages above the test marker of
#                      scripts/packages.txt (scripts/run.sh); default: all
#   EGRESS_BUILD_TARGETS  space-separated CMake targets to build (default: all);
#                      scripts/run.sh builds only the binaries it runs
#
# Compiles go through ccache when it is installed (scripts/packages.txt lists
# it): a second clone or a CI run on the same machine reuses what an earlier
# build compiled (CCACHE_DIR, default ~/.cache/ccache).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build_dir="${EGRESS_BUILD_DIR:-$repo/build}"
build_type="${EGRESS_BUILD_TYPE:-RelWithDebInfo}"

log() { printf '[setup] %s\n' "$*" >&2; }

wanted=()
while read -r pkg; do
  if [[ "$pkg" == "# ---- test"* && "${EGRESS_PACKAGES:-all}" == run ]]; then break; fi
  [[ -z "$pkg" || "$pkg" == \#* ]] && continue
  wanted+=("$pkg")
done < "$repo/scripts/packages.txt"
# One dpkg-query for all of them (one per package took ~2 s of every start).
declare -A installed=()
while read -r pkg state; do
  if [[ "$state" == "install ok installed" ]]; then installed["$pkg"]=1; fi
done < <(dpkg-query -W -f='${Package} ${Status}\n' "${wanted[@]}" 2>/dev/null || true)
missing=()
for pkg in "${wanted[@]}"; do
  if [[ -z "${installed[$pkg]:-}" ]]; then missing+=("$pkg"); fi
done

if [[ "${EGRESS_SKIP_PACKAGES:-0}" == 1 ]]; then
  :
elif ((${#missing[@]})); then
  if [[ $EUID -ne 0 ]]; then
    log "missing packages: ${missing[*]}; run as root (or install them) first"
    exit 1
  fi
  log "installing ${#missing[@]} Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  log "packages installed"
else
  log "all Debian packages present"
fi

[[ "${EGRESS_SKIP_BUILD:-0}" == 1 ]] && exit 0

jobs="$(nproc)"
cmake_args=(-DCMAKE_BUILD_TYPE="$build_type")
if command -v ccache >/dev/null; then
  # Paths relative to the repository, so clones in other folders share hits.
  export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$(dirname "$repo")}"
  export CCACHE_NOHASHDIR=1
  cmake_args+=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
fi
if [[ ! -f "$build_dir/CMakeCache.txt" ]]; then
  log "configuring $build_dir ($build_type)"
  cmake -S "$repo" -B "$build_dir" "${cmake_args[@]}" >/dev/null
fi
mkdir -p "$build_dir"
targets=()
for target in ${EGRESS_BUILD_TARGETS:-}; do targets+=(--target "$target"); done
log "building ${EGRESS_BUILD_TARGETS:-everything} with $jobs jobs (full log: $build_dir/build.log)"
# One line per finished target as progress; compiler diagnostics pass through.
set +o pipefail
cmake --build "$build_dir" -j "$jobs" "${targets[@]}" 2>&1 | tee "$build_dir/build.log" |
  grep --line-buffered -E 'Built target|error|warning|Error' | sed -u 's/^/[build] /' >&2
status=${PIPESTATUS[0]}
set -o pipefail
if [[ $status -ne 0 ]]; then
  log "build FAILED (exit $status); see $build_dir/build.log"
  exit "$status"
fi
log "build ready in $build_dir"
