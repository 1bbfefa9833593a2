#!/usr/bin/env bash
# docker-compose.yml for real, without Docker: Debian's podman (runc, cgroupfs,
# a private containers.conf and store) serves the Docker API on a unix socket
# and Debian's docker-compose drives it. The whole compose file comes up —
# PostgreSQL, two service replicas, the gateway and an agent — from images made
# of the project's Debian packages on stand-ins for the Docker Hub base images
# (stand-in-images.sh, kept between runs). Then: an account's real connections
# are counted by the agent and read back through the gateway (Connect JSON);
# one replica is killed and the gateway keeps answering; everything goes down.
#
# podman runs inside a network namespace of its own, so the compose file's
# host network (the agent's nftables, the published loopback ports) and the
# containers' bridge are that namespace's, never the machine's. Everything the
# test starts (podman service, containers, networks, volumes, the namespace)
# is removed at exit, also after a failure; the stand-in images stay in
# EGRESS_TEST_CACHE (default /var/cache/egress-test) for the next run.
#
# Podman without systemd runs no periodic health checks (it schedules them
# with systemd timers): this script runs `podman healthcheck run` every 2 s
# instead, which is what compose's `condition: service_healthy` waits for.
#
# Usage: compose_test.sh REPO_DIR BUILD_DIR   (root)
set -euo pipefail
repo="$1"
build="$2"
cache="${EGRESS_TEST_CACHE:-/var/cache/egress-test}"
run=/run/egress-test
ns="egress-compose-$$"
export COMPOSE_PROJECT_NAME="egresscompose$$"
started=$SECONDS
phase_started=$SECONDS
log() { printf '[compose-test %3d s] %s\n' "$((SECONDS - started))" "$*" >&2; }
phase() { log "$1 took $((SECONDS - phase_started)) s"; phase_started=$SECONDS; }
fail() {
  log "FAIL: $*"
  exit 1
}

[[ $EUID -eq 0 ]] || fail "needs root (podman, network namespaces)"
for tool in podman runc netavark docker-compose mmdebstrap nsenter node; do
  command -v "$tool" >/dev/null || [[ -x "/usr/lib/podman/$tool" ]] || fail "$tool is missing (scripts/packages.txt)"
done

work="$(mktemp -d /tmp/egress-compose-XXXXXX)"
mkdir -p "$cache/containers" "$run"
created_run_containers=0
[[ -e /run/containers ]] || created_run_containers=1
cat >"$work/containers.conf" <<EOF
# crun fails on this machine kind's hybrid cgroups: runc with cgroupfs. The
# default nofile limit exceeds the hard limit here.
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=4096:4096"]
log_driver = "k8s-file"
[engine]
cgroup_manager = "cgroupfs"
runtime = "runc"
events_logger = "file"
events_logfile_path = "$run/events.log"
tmp_dir = "$run/libpod"
[network]
network_backend = "netavark"
network_config_dir = "$run/networks"
EOF
cat >"$work/storage.conf" <<EOF
[storage]
driver = "overlay"
graphroot = "$cache/containers"
runroot = "$run/storage"
EOF
export CONTAINERS_CONF="$work/containers.conf" CONTAINERS_STORAGE_CONF="$work/storage.conf"

podman_pid=
health_pid=
compose_up=0
# Everything this run made goes, whatever happened.
cleanup() {
  local status=$?
  set +e
  trap - EXIT
  [[ -n "$health_pid" ]] && kill "$health_pid" 2>/dev/null && wait "$health_pid" 2>/dev/null
  if ((compose_up)); then
    if ((status != 0)); then
      log "logs of the failed run:"
      (cd "$repo" && docker-compose logs --no-color --tail=40) >&2 2>&1
    fi
    (cd "$repo" && timeout 120 docker-compose down --volumes --remove-orphans --timeout 5) >/dev/null 2>&1
  fi
  # The store is this test's own: whatever container, volume or network is
  # in it was made by a run of this test.
  podman rm --all --force --time 0 >/dev/null 2>&1
  podman volume prune --force >/dev/null 2>&1
  podman network prune --force >/dev/null 2>&1
  podman rmi --force localhost/egress-service:local localhost/egress-agent:local \
    localhost/egress-gateway:local egress-service:local egress-agent:local egress-gateway:local >/dev/null 2>&1
  podman image prune --force >/dev/null 2>&1
  [[ -n "$podman_pid" ]] && kill "$podman_pid" 2>/dev/null && wait "$podman_pid" 2>/dev/null
  if [[ -e "/run/netns/$ns" ]]; then
    # conmon, aardvark-dns and anything else still inside the namespace.
    ip netns pids "$ns" | xargs -r kill -9 2>/dev/null
    ip netns del "$ns"
  fi
  rm -rf "$work" "$run"
  ((created_run_containers)) && rm -rf /run/containers
  log "finished in $((SECONDS - started)) s (exit $status)"
  exit "$status"
}
trap cleanup EXIT

# A run killed before its cleanup left its containers in the store and its
# namespace behind: clear them (their owner is gone).
podman rm --all --force --time 0 >/dev/null 2>&1 || true
for stale in $(ip netns list | awk '/^egress-compose-/ {print $1}'); do
  pid="${stale#egress-compose-}"
  if ! kill -0 "$pid" 2>/dev/null; then
    ip netns pids "$stale" | xargs -r kill -9 2>/dev/null || true
    ip netns del "$stale" || true
  fi
done

# ---- Base images (cached) and the packages the images install.
eval "$("$repo/tests/container/stand-in-images.sh" "$repo" "$work")"
export EGRESS_DEBIAN_IMAGE EGRESS_NODE_IMAGE EGRESS_POSTGRES_IMAGE
phase "stand-in images"
EGRESS_BUILD_DIR="$build" EGRESS_PACKAGE_SKIP_BUILD=1 EGRESS_PACKAGE_LINTIAN=0 \
  "$repo/scripts/build-packages.sh" "$repo/build/packages" 2>"$work/packages.log" ||
  { cat "$work/packages.log" >&2; fail "scripts/build-packages.sh"; }
export EGRESS_PACKAGES=build/packages
phase "packages"

# ---- Secrets, as deploy/secrets/README.md makes them (in the test's folder).
secrets="$work/secrets"
export EGRESS_SECRETS_DIR="$secrets"
mkdir -m 0700 "$secrets"
(
  umask 077
  head -c 18 /dev/urandom | base64 >"$secrets/postgres_password"
  printf 'postgres:5432:egress:egress:%s\n' "$(cat "$secrets/postgres_password")" >"$secrets/pgpass"
  head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$secrets/token_secret"
)
egressctl="$build/tools/egressctl/egressctl"
token() { "$egressctl" token --secret-file="$secrets/token_secret" --ttl=1h "$@"; }
token --scope=node node-1 >"$secrets/node_token"
admin_token="$(token --scope=admin compose-test)"
panel_token="$(token --scope=panel acct-compose)"
chown 65534:65534 "$secrets/pgpass" "$secrets/token_secret"
chmod 0400 "$secrets"/*
chmod 0755 "$work" "$secrets"

# ---- podman's Docker API, inside the namespace.
ip netns add "$ns"
ip -n "$ns" link set lo up
in_ns() { nsenter --net="/run/netns/$ns" -- "$@"; }
in_ns podman system service --time=0 "unix://$work/podman.sock" 2>"$work/podman.log" &
podman_pid=$!
export DOCKER_HOST="unix://$work/podman.sock"
# Builds through the API (podman's), not through a docker CLI that may be on PATH.
export COMPOSE_DOCKER_CLI_BUILD=0 DOCKER_BUILDKIT=0
for _ in $(seq 100); do
  [[ -S "$work/podman.sock" ]] && break
  sleep 0.1
done
[[ -S "$work/podman.sock" ]] || fail "podman system service did not start: $(cat "$work/podman.log")"
(
  set +e
  while sleep 2; do
    for id in $(podman ps --quiet 2>/dev/null); do podman healthcheck run "$id" >/dev/null 2>&1; done
  done
) &
health_pid=$!
cd "$repo"

# ---- Build and up: the central part first, then the node's agent once its
# node exists (it would otherwise back off for up to 30 s).
docker-compose build --quiet >"$work/build.log" 2>&1 || { cat "$work/build.log" >&2; fail "docker-compose build"; }
phase "docker-compose build"
compose_up=1
timeout 300 docker-compose up --detach postgres service-a service-b gateway >"$work/up.log" 2>&1 ||
  { cat "$work/up.log" >&2; fail "docker-compose up"; }
phase "docker-compose up (postgres, service-a, service-b, gateway)"
ctl() { docker-compose exec -T service-a egressctl --server=127.0.0.1:50051 --token="$admin_token" "$@"; }
ctl nodes upsert node-1 >/dev/null || fail "egressctl nodes upsert"
ctl accounts upsert acct-compose --node=node-1 --uid=2301 >/dev/null || fail "egressctl accounts upsert"
docker-compose up --detach agent >>"$work/up.log" 2>&1 || { cat "$work/up.log" >&2; fail "up agent"; }
# (The whole log, then the match: grep -q would close the pipe early.)
agent_applied_rules() { [[ "$(docker-compose logs --no-color agent 2>&1)" == *event=rules_applied* ]]; }
deadline=$((SECONDS + 60))
until agent_applied_rules || ((SECONDS > deadline)); do sleep 0.5; done
agent_applied_rules || fail "the agent never applied its rules"
phase "agent up and welcomed"

# ---- Real connections of the account (uid 2301) from the node (the
# namespace, the agent's host network) to the gateway's container.
gateway_ip="$(podman inspect --format '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' \
  "$(docker-compose ps --quiet gateway)")"
[[ -n "$gateway_ip" ]] || fail "no address for the gateway container"
connections=7
in_ns setpriv --reuid=2301 --regid=2301 --clear-groups bash -c "
  for i in \$(seq $connections); do exec 3<>/dev/tcp/$gateway_ip/8080 || exit 1; exec 3>&-; done" ||
  fail "connections to $gateway_ip:8080"

# The account's accepted count, read through the gateway's Connect JSON API
# on the published port (printed as a number, or ERROR ...).
daily_accepted() {
  in_ns node -e '
    fetch("http://127.0.0.1:8080/egress.v1.ConnectionsService/DailyCounts", {
      method: "POST",
      headers: { "content-type": "application/json", authorization: "Bearer " + process.argv[1] },
      body: JSON.stringify({ accountId: "acct-compose" }),
      signal: AbortSignal.timeout(5000),
    }).then(async (r) => {
      const body = await r.json();
      if (!r.ok) { console.log("ERROR", r.status, JSON.stringify(body)); return; }
      console.log((body.days || []).reduce((n, d) => n + Number(d.accepted || 0), 0));
    }, (e) => console.log("ERROR", e.message));' "$panel_token"
}
got=
for _ in $(seq 60); do
  got="$(daily_accepted)"
  [[ "$got" == "$connections" ]] && break
  sleep 0.5
done
[[ "$got" == "$connections" ]] || fail "the gateway reports \"$got\" accepted connections, want $connections"
log "the gateway reads back $got of $connections connections"
phase "ingest and read back"

# ---- One replica dies; the gateway keeps answering from the other.
# Its address may go silent rather than refuse (the container's network is
# gone: no reset comes back), so the gateway must not wait on it past its
# connect timeout; each call has 5 s.
docker-compose kill service-a >/dev/null 2>&1 || fail "kill service-a"
slowest_ms=0
for i in $(seq 10); do
  started_ms=$(date +%s%3N)
  got="$(daily_accepted)"
  [[ "$got" == "$connections" ]] || fail "call $i after killing service-a: \"$got\""
  took_ms=$(($(date +%s%3N) - started_ms))
  ((took_ms > slowest_ms)) && slowest_ms=$took_ms
done
log "10 of 10 calls answered with service-a killed (slowest ${slowest_ms} ms, node's start included)"
for _ in $(seq 20); do
  [[ "$(docker-compose logs --no-color gateway 2>&1)" == *event=upstream_down*upstream=service-a:50051* ]] && break
  sleep 0.5
done
[[ "$(docker-compose logs --no-color gateway 2>&1)" == *event=upstream_down*upstream=service-a:50051* ]] ||
  fail "the gateway never logged service-a as down"
phase "replica killed"

docker-compose down --volumes --remove-orphans --timeout 5 >/dev/null 2>&1 || fail "docker-compose down"
compose_up=0
[[ -z "$(podman ps --all --quiet)" ]] || fail "containers left after down: $(podman ps --all)"
phase "docker-compose down"
echo "compose test passed"
