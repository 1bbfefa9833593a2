#!/usr/bin/env bash
# Sets up (packages, build) and runs egress with its embedded default:
#   - a PostgreSQL cluster of its own in var/pg (initdb on first run), on a
#     unix socket in var/run, no TCP port;
#   - egress-service on 127.0.0.1:50051 (migrations applied at start);
#   - a demo node "demo-node" with accounts "demo-alice" and "demo-bob".
# Ctrl-C (or SIGTERM) stops everything it started. Data stays in var/.
#
# Environment:
#   EGRESS_VAR_DIR     data folder (default: <repo>/var)
#   EGRESS_LISTEN      service address (default: 127.0.0.1:50051)
#   EGRESS_TIME_ZONE   civil-day time zone (default: UTC)
#   EGRESS_NO_DEMO=1   do not create the demo node and accounts
#   EGRESS_GATEWAY_LISTEN  gateway + panel address (default: 127.0.0.1:8080)
#   EGRESS_NO_AGENT=1  do not start the demo node (namespaces + egress-agent)
#   EGRESS_METRICS_LISTEN  service's Prometheus /metrics (default 127.0.0.1:9464;
#                      the gateway's is the next port; empty: none)
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build_dir="${EGRESS_BUILD_DIR:-$repo/build}"
var_dir="${EGRESS_VAR_DIR:-$repo/var}"
listen="${EGRESS_LISTEN:-127.0.0.1:50051}"
time_zone="${EGRESS_TIME_ZONE:-UTC}"
metrics_listen="${EGRESS_METRICS_LISTEN-127.0.0.1:9464}"
gateway_metrics_listen=""
if [[ -n "$metrics_listen" ]]; then
  gateway_metrics_listen="${metrics_listen%:*}:$((${metrics_listen##*:} + 1))"
fi
pg_bin=/usr/lib/postgresql/15/bin
log() { printf '[run] %s\n' "$*" >&2; }

mkdir -p "$var_dir/pg" "$var_dir/run" "$var_dir/log"
var_dir="$(cd "$var_dir" && pwd)"

# Packages first; then the gateway's npm install and panel bundle run beside
# the C++ build (mostly waiting on npm's registry and disk: it hides ~30 s of
# a first start behind the compiler).
export EGRESS_PACKAGES="${EGRESS_PACKAGES:-run}"
EGRESS_SKIP_BUILD=1 "$repo/scripts/setup.sh"
"$repo/tests/browser/setup-gateway.sh" >"$var_dir/log/setup-gateway.log" 2>&1 &
gateway_setup_pid=$!
trap 'kill "$gateway_setup_pid" 2>/dev/null; exit 130' INT TERM
# Only the binaries this script runs: a first start does not wait for the
# tests, benchmarks and fuzz helpers (scripts/test.sh builds everything).
if ! EGRESS_SKIP_PACKAGES=1 \
  EGRESS_BUILD_TARGETS="${EGRESS_BUILD_TARGETS-egress-service egress-agent egressctl}" \
  "$repo/scripts/setup.sh"; then
  kill "$gateway_setup_pid" 2>/dev/null || true
  exit 1
fi
if ! wait "$gateway_setup_pid"; then
  cat "$var_dir/log/setup-gateway.log" >&2
  log "preparing the gateway failed (log above, also in $var_dir/log/setup-gateway.log)"
  exit 1
fi
# PostgreSQL refuses to run as root: as root, run it as `postgres`.
as_pg=()
pg_super="$(id -un)"
if [[ $EUID -eq 0 ]]; then
  pg_super=postgres
  touch "$var_dir/log/postgres.log"
  chown postgres:postgres "$var_dir/pg" "$var_dir/run" "$var_dir/log/postgres.log"
  chmod 700 "$var_dir/pg"
  as_pg=(runuser -u postgres --)
  if ! "${as_pg[@]}" test -w "$var_dir/pg"; then
    log "the postgres user cannot reach $var_dir (a parent folder is private);"
    log "set EGRESS_VAR_DIR to a folder it can reach, e.g. EGRESS_VAR_DIR=/var/lib/egress"
    exit 1
  fi
fi

if [[ ! -f "$var_dir/pg/PG_VERSION" ]]; then
  log "creating the PostgreSQL cluster in $var_dir/pg"
  "${as_pg[@]}" "$pg_bin/initdb" -D "$var_dir/pg" -U "$pg_super" -A peer -E UTF8 \
    --locale=C.UTF-8 --no-instructions >"$var_dir/log/initdb.log"
fi

service_pid=""
gateway_pid=""
demo_pid=""
cleanup() {
  trap - INT TERM EXIT
  if [[ -n "$demo_pid" ]]; then
    log "stopping the demo node (egress-agent, namespaces)"
    kill -TERM "$demo_pid" 2>/dev/null || true
    wait "$demo_pid" 2>/dev/null || true
    "$repo/scripts/demo-node.sh" down
  fi
  if [[ -n "$gateway_pid" ]] && kill -0 "$gateway_pid" 2>/dev/null; then
    log "stopping egress-gateway"
    kill -TERM "$gateway_pid" 2>/dev/null || true
    wait "$gateway_pid" 2>/dev/null || true
  fi
  if [[ -n "$service_pid" ]] && kill -0 "$service_pid" 2>/dev/null; then
    log "stopping egress-service"
    kill -TERM "$service_pid" 2>/dev/null || true
    wait "$service_pid" 2>/dev/null || true
  fi
  if "${as_pg[@]}" "$pg_bin/pg_ctl" -D "$var_dir/pg" status >/dev/null 2>&1; then
    log "stopping PostgreSQL"
    "${as_pg[@]}" "$pg_bin/pg_ctl" -D "$var_dir/pg" -m fast -w stop >/dev/null || true
  fi
}
trap cleanup INT TERM EXIT

log "starting PostgreSQL (socket in $var_dir/run, log $var_dir/log/postgres.log)"
"${as_pg[@]}" "$pg_bin/pg_ctl" -D "$var_dir/pg" -w -l "$var_dir/log/postgres.log" \
  -o "-k $var_dir/run -c listen_addresses=''" start >/dev/null
# Peer authentication: the service connects as the OS user it runs as, which
# gets a role of its own owning the database.
db_user="$(id -un)"
psql_super=("${as_pg[@]}" psql -h "$var_dir/run" -U "$pg_super" -d postgres -v ON_ERROR_STOP=1 -qtA)
if [[ -z "$("${psql_super[@]}" -c "SELECT 1 FROM pg_roles WHERE rolname = '$db_user'")" ]]; then
  "${psql_super[@]}" -c "CREATE ROLE \"$db_user\" LOGIN"
fi
if [[ -z "$("${psql_super[@]}" -c "SELECT 1 FROM pg_database WHERE datname = 'egress'")" ]]; then
  "${psql_super[@]}" -c "CREATE DATABASE egress OWNER \"$db_user\""
fi

# The secret that signs every token; generated once, kept in var/secrets.
mkdir -p "$var_dir/secrets"
chmod 700 "$var_dir/secrets"
secret_file="$var_dir/secrets/token-secret"
if [[ ! -s "$secret_file" ]]; then
  (umask 077 && head -c 48 /dev/urandom | base64 -w0 >"$secret_file")
  log "generated the token secret $secret_file"
fi
ctl_bin="$build_dir/tools/egressctl/egressctl"
admin_token="$("$ctl_bin" token --secret-file="$secret_file" --scope=admin --ttl=720h ops)"

log "starting egress-service on $listen (log $var_dir/log/service.log)"
"$build_dir/service/egress-service" --listen="$listen" --time-zone="$time_zone" \
  --database="host=$var_dir/run user=$db_user dbname=egress" --token-secret-file="$secret_file" \
  --also-listen="unix:$var_dir/run/service.sock" --metrics-listen="$metrics_listen" \
  >"$var_dir/log/service.out" 2> >(tee -a "$var_dir/log/service.log" >&2) &
service_pid=$!
for _ in $(seq 1 300); do
  grep -q "listening on" "$var_dir/log/service.out" 2>/dev/null && break
  kill -0 "$service_pid" 2>/dev/null || { log "egress-service exited; see above"; exit 1; }
  sleep 0.1
done
address="$(sed -n 's/^egress-service listening on //p' "$var_dir/log/service.out")"

ctl=("$ctl_bin" --server="$address" --token="$admin_token")
if [[ "${EGRESS_NO_DEMO:-0}" != 1 ]]; then
  # Addresses of the demo node namespace (scripts/demo-node.sh): server IP
  # 10.99.0.1 / fd99::1, demo-alice's dedicated IPs 10.99.0.2 (ordered first,
  # so her egress address) and 10.99.0.3, the node's resolver 10.99.0.53 exempt.
  "${ctl[@]}" nodes upsert demo-node --server-ipv4=10.99.0.1 --server-ipv6=fd99::1 \
    --exempt=10.99.0.53/32 >/dev/null
  "${ctl[@]}" accounts upsert demo-alice --node=demo-node --uid=2001 \
    --dedicated-ip=10.99.0.2@2024-01-01T00:00:00Z,10.99.0.3@2024-06-01T00:00:00Z >/dev/null
  "${ctl[@]}" accounts upsert demo-bob --node=demo-node --uid=2002 >/dev/null
fi

# The gateway (gRPC-web/Connect for browsers and curl) and the panel page.
gateway_listen="${EGRESS_GATEWAY_LISTEN:-127.0.0.1:8080}"
log "starting egress-gateway on $gateway_listen (log $var_dir/log/gateway.log)"
node "$repo/gateway/src/main.js" --listen="$gateway_listen" --upstream="$address" \
  ${gateway_metrics_listen:+--metrics-listen="$gateway_metrics_listen"} \
  >"$var_dir/log/gateway.out" 2> >(tee -a "$var_dir/log/gateway.log" >&2) &
gateway_pid=$!
for _ in $(seq 1 100); do
  grep -q "listening on" "$var_dir/log/gateway.out" 2>/dev/null && break
  kill -0 "$gateway_pid" 2>/dev/null || { log "egress-gateway exited; see above"; exit 1; }
  sleep 0.1
done
gateway_url="$(sed -n 's/^egress-gateway listening on //p' "$var_dir/log/gateway.out")"
if [[ "${EGRESS_NO_DEMO:-0}" != 1 ]]; then
  node "$repo/gateway/bin/demo-data.js" --server="$address" --secret-file="$secret_file" \
    --node=demo-node --uid=2001 --account=demo-alice >&2
fi
if [[ "${EGRESS_NO_DEMO:-0}" != 1 && "${EGRESS_NO_AGENT:-0}" != 1 ]]; then
  # A demo node: egress-agent in a network namespace of its own, streaming
  # to the service's unix socket, with the demo accounts making connections
  # to a "remote" namespace; demo-alice has one blocked address.
  "${ctl[@]}" block demo-alice 10.99.0.66 --protocol=any --port=0 \
    --note="demo: a blocked address" >/dev/null 2>&1 || true
  "$ctl_bin" token --secret-file="$secret_file" --scope=node --ttl=720h demo-node \
    >"$var_dir/secrets/demo-node-token"
  chmod 600 "$var_dir/secrets/demo-node-token"
  log "starting the demo node (egress-agent in namespace egress-demo-node, log $var_dir/log/agent.log)"
  setsid "$repo/scripts/demo-node.sh" up "$var_dir/run/service.sock" \
    "$var_dir/secrets/demo-node-token" "$var_dir/agent" "$var_dir/log" \
    "$build_dir/agent/egress-agent" &
  demo_pid=$!
fi
panel_url="$(node "$repo/gateway/bin/mint-token.js" --secret-file="$secret_file" \
  --subject=demo-alice --scope=panel --ttl=86400 --url="$gateway_url")"
printf '%s\n' "$admin_token" >"$var_dir/secrets/admin-token"
chmod 600 "$var_dir/secrets/admin-token"
cat >&2 <<MSG

  egress is running.
    egress-service (gRPC, health, reflection): $address
    PostgreSQL:  socket $var_dir/run, database egress, data $var_dir/pg
    logs:        $var_dir/log/
    admin token: $var_dir/secrets/admin-token (30 days)
    gateway:     $gateway_url (gRPC-web, Connect, /healthz)
    metrics:     ${metrics_listen:+http://$metrics_listen/metrics (service), http://$gateway_metrics_listen/metrics (gateway)}
    panel (demo-alice, link valid 24 h):
      $panel_url
  Try:
    export EGRESS_SERVER=$address EGRESS_TOKEN=\$(cat $var_dir/secrets/admin-token)
    $ctl_bin accounts list
    $ctl_bin services
  Ctrl-C stops everything.

MSG
wait "$service_pid"
