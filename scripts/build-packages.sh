#!/usr/bin/env bash
# Builds the Debian packages of egress (debian/, dpkg-buildpackage with
# debhelper) into OUT_DIR (default: <build dir>/packages):
#   egress-agent, egress-service, egressctl (binary, from the CMake build) and
#   egress-gateway (architecture-independent: Node.js 20 + its pinned
#   libraries), with their -dbgsym packages, .buildinfo and .changes; then
#   checks them with lintian (errors and warnings fail the build).
#
# The binaries come from the project's CMake build directory: only the three
# targets are built (a no-op when they are up to date), nothing is compiled
# twice. The version is the CMake project VERSION unless overridden.
#
# Usage: scripts/build-packages.sh [OUT_DIR]
# Environment:
#   EGRESS_BUILD_DIR          CMake build directory (default: <repo>/build)
#   EGRESS_PACKAGE_VERSION    package version (default: project VERSION of CMakeLists.txt)
#   EGRESS_PACKAGE_SKIP_BUILD 1: package what is built as it is (the caller built the
#                             binaries and ran tests/browser/setup-gateway.sh)
#   EGRESS_PACKAGE_GATEWAY    0: leave out egress-gateway (no npm, no Node.js needed)
#   EGRESS_PACKAGE_LINTIAN    0: skip the lintian check
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build_dir="$(realpath -m "${EGRESS_BUILD_DIR:-$repo/build}")"
out_dir="$(realpath -m "${1:-$build_dir/packages}")"
log() { printf '[packages] %s\n' "$*" >&2; }
started=$(date +%s)

version="${EGRESS_PACKAGE_VERSION:-$(sed -n 's/^project(egress VERSION \([^ )]*\).*/\1/p' "$repo/CMakeLists.txt")}"
# Native packages: a version without a Debian revision (no hyphen).
if [[ -z "$version" || "$version" == *-* ]] || ! dpkg --validate-version "$version" 2>/dev/null; then
  log "bad package version \"$version\" (digits, dots, ~ or +; no hyphen)"
  exit 2
fi

if [[ "${EGRESS_PACKAGE_SKIP_BUILD:-0}" != 1 ]]; then
  [[ -f "$build_dir/CMakeCache.txt" ]] || cmake -S "$repo" -B "$build_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  log "building egress-agent egress-service egressctl in $build_dir"
  cmake --build "$build_dir" -j "$(nproc)" --target egress-agent egress-service egressctl >/dev/null
fi

stage="$out_dir/.stage"
rm -rf "$stage"
mkdir -p "$stage/egress-$version"
cp -R "$repo/debian" "$stage/egress-$version/"

binary_kind=-B  # architecture-dependent packages only
if [[ "${EGRESS_PACKAGE_GATEWAY:-1}" != 0 ]]; then
  binary_kind=-b
  # The gateway's production tree: the generated code and the bundled panel
  # (tests/browser/setup-gateway.sh: npm ci with the development tools,
  # protoc, esbuild), then only the production libraries, as the lock pins
  # them (npm's cache answers after the first time).
  if [[ "${EGRESS_PACKAGE_SKIP_BUILD:-0}" != 1 ]]; then
    log "preparing the gateway (npm)"
    "$repo/tests/browser/setup-gateway.sh"
  fi
  for built in gateway/gen gateway/panel/dist/index.html; do
    [[ -e "$repo/$built" ]] || { log "$built missing: run tests/browser/setup-gateway.sh"; exit 1; }
  done
  gateway="$stage/gateway"
  mkdir -p "$gateway/panel"
  cp "$repo/gateway/package.json" "$repo/gateway/package-lock.json" "$gateway/"
  (cd "$gateway" && npm ci --omit=dev --prefer-offline --no-audit --no-fund --loglevel=error >&2)
  rm "$gateway/package-lock.json" "$gateway/node_modules/.package-lock.json"
  # npm's own bookkeeping is no part of an installed package.
  find "$gateway/node_modules" -name .npmignore -delete
  cp -R "$repo/gateway/src" "$repo/gateway/gen" "$gateway/"
  cp -R "$repo/gateway/panel/dist" "$gateway/panel/"
  export EGRESS_GATEWAY_DIR="$gateway"
fi

# debian/changelog is written here from the version, so that the CMake
# project VERSION is the only place a release number is kept. Its date is
# the last commit's (reproducible builds), or now outside a git checkout.
date="$(git -C "$repo" log -1 --format=%cD 2>/dev/null || date -R)"
maintainer="$(sed -n 's/^Maintainer: //p' "$repo/debian/control")"
cat >"$stage/egress-$version/debian/changelog" <<EOF
egress ($version) unstable; urgency=medium

  * egress $version, built from the project's sources by
    scripts/build-packages.sh (the project's history is its git log).

 -- $maintainer  $date
EOF

log "dpkg-buildpackage $binary_kind (version $version)"
export EGRESS_SOURCE_DIR="$repo" EGRESS_BUILD_DIR="$build_dir"
if ! (cd "$stage/egress-$version" && dpkg-buildpackage "$binary_kind" --no-pre-clean --no-sign -j"$(nproc)" \
  >"$stage/dpkg-buildpackage.log" 2>&1); then
  tail -n 40 "$stage/dpkg-buildpackage.log" >&2
  log "dpkg-buildpackage FAILED; full log: $stage/dpkg-buildpackage.log"
  exit 1
fi
mkdir -p "$out_dir"
# Only this build's packages in OUT_DIR (the images copy egress-*.deb from it).
rm -f "$out_dir"/egress*.deb "$out_dir"/egress_*.changes "$out_dir"/egress_*.buildinfo
# The .changes file lists exactly what this build produced.
changes="$(ls "$stage"/egress_"$version"_*.changes)"
mv "$changes" "$out_dir/"
changes="$out_dir/$(basename "$changes")"
for file in $(awk '/^Files:/ {on = 1; next} /^[^ ]/ {on = 0} on {print $5}' "$changes"); do
  mv "$stage/$file" "$out_dir/"
done

if [[ "${EGRESS_PACKAGE_LINTIAN:-1}" != 0 ]]; then
  log "lintian"
  # Errors and warnings fail; info tags are printed. Overrides, each with
  # its reason, are in debian/*.lintian-overrides.
  if ! lintian --display-info --fail-on error,warning "$changes" >&2; then
    log "lintian FAILED"
    exit 1
  fi
fi
rm -rf "$stage"
log "built in $(($(date +%s) - started)) s:"
ls -1 "$out_dir" | grep -E '\.(deb|ddeb)$' | sed "s#^#  $out_dir/#" >&2
