#!/usr/bin/env bash
# Checks the deployment files without a Docker engine (there is none on the
# build machine):
#  1. docker-compose.yml is valid (docker-compose config -q);
#  2. every runtime stage of deploy/Dockerfile installs, directly or through
#     package dependencies, the Debian package of every shared library its
#     binaries need (readelf NEEDED -> dpkg -S -> dependency closure of the
#     stage's apt-get list, read from dpkg's database);
#  3. .dockerignore keeps deploy/secrets and local build outputs (but the
#     Debian packages the images install) out of the build context;
#  4. the systemd units (agent, service, gateway) pass systemd-analyze
#     verify and keep the properties the design needs (the agent before
#     network-pre, restart always, CAP_NET_ADMIN, a state directory; the
#     service as user egress), running the packaged binaries.
# Usage: deploy_check.sh REPO_DIR BUILD_DIR
set -euo pipefail
repo="$1"
build="$2"
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

echo "== docker-compose config"
(cd "$repo" && docker-compose -f docker-compose.yml config -q) || fail "docker-compose.yml does not validate"
services="$(cd "$repo" && docker-compose -f docker-compose.yml config --services | sort | tr '\n' ' ')"
[[ "$services" == "agent gateway postgres service-a service-b " ]] || fail "services are: $services"

# Secrets and local build outputs stay out of the build context; only the
# Debian packages the images install come in.
for pattern in 'deploy/secrets/*' 'build/*' '!build/packages/*.deb' var gateway/node_modules; do
  grep -qxF "$pattern" "$repo/.dockerignore" || fail ".dockerignore lacks $pattern"
done
for dockerfile in deploy/Dockerfile gateway/Dockerfile; do
  if grep -E '^(COPY|ADD) ' "$repo/$dockerfile" | grep -v 'PACKAGES}/egress' | grep -q .; then
    fail "$dockerfile copies more than the packages: review .dockerignore"
  fi
done

# The packages one `FROM ... AS <stage>` stage installs with apt-get.
stage_packages() {
  awk -v stage="$1" '
    /^FROM / { in_stage = ($NF == stage) }
    in_stage && /apt-get install/ { collecting = 1 }
    in_stage && collecting {
      for (i = 1; i <= NF; i++) if ($i ~ /^[a-z0-9][a-z0-9.+-]+$/ && $i != "apt-get" && $i != "install" && $i != "update" && $i != "rm") print $i
      if ($0 !~ /\\$/) collecting = 0
    }' "$repo/deploy/Dockerfile"
}

# Packages reachable from the arguments through Depends/Pre-Depends (one
# dpkg-query for the whole database, then a walk in awk).
closure() {
  dpkg-query -W -f='${Package}\t${Depends}, ${Pre-Depends}\n' | awk -F'\t' -v roots="$*" '
    { deps[$1] = $2 }
    END {
      n = split(roots, queue, " ")
      for (i = 1; i <= n; i++) {
        p = queue[i]
        if (p in seen) continue
        seen[p] = 1
        # Unknown names are virtual packages (Provides) when reached as a
        # dependency; the stage list itself is checked with dpkg-query.
        if (!(p in deps)) continue
        m = split(deps[p], list, ",")
        for (j = 1; j <= m; j++) {
          d = list[j]
          sub(/\|.*/, "", d); sub(/\(.*\)/, "", d); sub(/:any/, "", d); gsub(/ /, "", d)
          if (d != "" && !(d in seen)) queue[++n] = d
        }
      }
      for (p in seen) print p
    }'
}

check_stage() {
  local stage="$1"
  shift
  local listed available binary lib path pkg
  listed="$(stage_packages "$stage" | sort -u)"
  [[ -n "$listed" ]] || { fail "stage $stage installs no package"; return; }
  for pkg in $listed; do
    dpkg-query -W "$pkg" >/dev/null 2>&1 || fail "stage $stage: $pkg is not a Debian 12 package here"
  done
  # debian:12-slim already holds the essential packages (libc6, ...).
  available="$( (closure $listed; dpkg-query -W -f='${Package} ${Essential} ${Priority}\n' |
    awk '$2 == "yes" || $3 == "required" {print $1}') | sort -u)"
  for binary in "$@"; do
    local before=$failures
    [[ -x "$build/$binary" ]] || { fail "$build/$binary not built"; continue; }
    grep -q "$(basename "$binary")" "$repo/deploy/Dockerfile" || fail "stage $stage: $binary not copied"
    local paths=() owners
    for lib in $(readelf -d "$build/$binary" | sed -n 's/.*Shared library: \[\(.*\)\]/\1/p'); do
      # (awk reads all of ldconfig's output: an early exit would SIGPIPE it.)
      path="$(ldconfig -p | awk -v l="$lib" '!found && $1 == l && /x86-64/ {print $NF; found = 1}')"
      [[ -n "$path" ]] || { fail "$binary: $lib not found by ldconfig"; continue; }
      paths+=("$(readlink -f "$path")")
    done
    # One dpkg -S for all of them (each call reads every file list).
    owners="$(dpkg -S "${paths[@]}" 2>/dev/null | sed 's/:.*//; s/, /\n/g' | sort -u)" || true
    for pkg in $owners; do
      if ! grep -qx "$pkg" <<<"$available"; then
        fail "stage $stage: $binary needs a library of $pkg, which the stage does not install"
      fi
    done
    [[ "$(wc -w <<<"$owners")" -gt 0 ]] || fail "$binary: no package owns its libraries"
    ((failures == before)) && echo "stage $stage: $binary ok"
  done
}

echo "== deploy/Dockerfile runtime stages"
check_stage service service/egress-service tools/egressctl/egressctl
check_stage agent agent/egress-agent

echo "== systemd units in deploy/"
# The binaries are not installed on the build machine (nor the manual
# pages); everything else must verify.
for unit in "$repo"/deploy/egress-agent.service "$repo"/deploy/egress-service.service \
  "$repo"/deploy/egress-gateway.service; do
  verify="$(systemd-analyze verify --man=no "$unit" 2>&1 | grep -v 'is not executable: No such file or directory' || true)"
  [[ -z "$verify" ]] || fail "systemd-analyze verify $(basename "$unit"): $verify"
done
unit="$repo/deploy/egress-agent.service"
for line in 'Before=network-pre.target shutdown.target' 'Wants=network-pre.target' 'DefaultDependencies=no' \
  'Restart=always' 'StateDirectory=egress-agent' 'AmbientCapabilities=CAP_NET_ADMIN' \
  'CapabilityBoundingSet=CAP_NET_ADMIN' 'WantedBy=sysinit.target' \
  'ExecStart=/usr/sbin/egress-agent --flagfile=/etc/egress/agent.flags'; do
  grep -qx "$line" "$unit" || fail "egress-agent.service lacks $line"
done
unit="$repo/deploy/egress-service.service"
for line in 'User=egress' 'ExecStart=/usr/sbin/egress-service --flagfile=/etc/egress/service.flags' \
  'RuntimeDirectory=egress' 'WantedBy=multi-user.target'; do
  grep -qx "$line" "$unit" || fail "egress-service.service lacks $line"
done

if ((failures)); then
  echo "$failures failure(s)"
  exit 1
fi
echo "deploy files ok"
