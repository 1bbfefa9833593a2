#!/usr/bin/env bash
# A demo hosting node for scripts/run.sh: two network namespaces joined by a
# veth pair — "egress-demo-node" (the hosting server, where egress-agent runs)
# and "egress-demo-remote" (the internet: TCP 443/80 and UDP 53 listeners on
# 10.99.0.100 and fd99::100, plus an address the demo blocks, 10.99.0.66) —
# and a trickle of connections by the demo accounts' uids (2001, 2002).
#
#   scripts/demo-node.sh up SERVICE_SOCKET TOKEN_FILE STATE_DIR LOG_DIR AGENT_BIN
#   scripts/demo-node.sh down
#
# `up` runs in the foreground until killed; `down` removes everything `up`
# made (also safe when nothing is there). Traffic never leaves the two
# namespaces. The service is told the same addresses (scripts/run.sh): the
# node's IP 10.99.0.1 / fd99::1, demo-alice's dedicated IPs 10.99.0.2, .3.
set -euo pipefail
node_ns=egress-demo-node
remote_ns=egress-demo-remote

down() {
  ip netns pids "$node_ns" 2>/dev/null | xargs -r kill 2>/dev/null || true
  ip netns pids "$remote_ns" 2>/dev/null | xargs -r kill 2>/dev/null || true
  sleep 0.2
  ip netns del "$node_ns" 2>/dev/null || true
  ip netns del "$remote_ns" 2>/dev/null || true
}

up() {
  local socket="$1" token_file="$2" state_dir="$3" log_dir="$4" agent="$5"
  down
  ip netns add "$node_ns"
  ip netns add "$remote_ns"
  ip link add egress-demo0 type veth peer name egress-demo1
  ip link set egress-demo0 netns "$node_ns"
  ip link set egress-demo1 netns "$remote_ns"
  ip -n "$node_ns" addr add 10.99.0.1/24 dev egress-demo0
  ip -n "$node_ns" addr add 10.99.0.2/24 dev egress-demo0
  ip -n "$node_ns" addr add 10.99.0.3/24 dev egress-demo0
  ip -n "$node_ns" addr add fd99::1/64 dev egress-demo0 nodad
  ip -n "$remote_ns" addr add 10.99.0.100/24 dev egress-demo1
  ip -n "$remote_ns" addr add 10.99.0.66/24 dev egress-demo1
  ip -n "$remote_ns" addr add fd99::100/64 dev egress-demo1 nodad
  for ns in "$node_ns" "$remote_ns"; do
    ip -n "$ns" link set lo up
  done
  ip -n "$node_ns" link set egress-demo0 up
  ip -n "$remote_ns" link set egress-demo1 up

  # The remote end: accept and close (TCP), swallow datagrams (UDP).
  for port in 443 80; do
    ip netns exec "$remote_ns" socat -T1 "TCP6-LISTEN:$port,ipv6only=0,fork,reuseaddr" /dev/null \
      >/dev/null 2>&1 &
  done
  ip netns exec "$remote_ns" socat -u "UDP6-RECVFROM:53,ipv6only=0,fork,reuseaddr" /dev/null \
    >/dev/null 2>&1 &

  mkdir -p "$state_dir"
  ip netns exec "$node_ns" "$agent" --node-id=demo-node --service="unix:$socket" \
    --token-file="$token_file" --state-dir="$state_dir" --batch-interval=2s \
    --stats-interval=30s >"$log_dir/agent.out" 2>>"$log_dir/agent.log" &

  # The accounts' sites at work: a connection every few seconds each, TCP
  # and UDP, IPv4 and IPv6, and demo-alice's attempts at the blocked address.
  local round=0
  while true; do
    round=$((round + 1))
    ip netns exec "$node_ns" setpriv --reuid=2001 --regid=2001 --clear-groups \
      bash -c 'exec 3<>/dev/tcp/10.99.0.100/443' 2>/dev/null || true
    ip netns exec "$node_ns" setpriv --reuid=2002 --regid=2002 --clear-groups \
      bash -c 'echo q >/dev/udp/10.99.0.100/53' 2>/dev/null || true
    if ((round % 3 == 0)); then
      ip netns exec "$node_ns" setpriv --reuid=2001 --regid=2001 --clear-groups \
        bash -c 'exec 3<>/dev/tcp/fd99::100/80' 2>/dev/null || true
      ip netns exec "$node_ns" setpriv --reuid=2001 --regid=2001 --clear-groups \
        bash -c 'exec 3<>/dev/tcp/10.99.0.66/443' 2>/dev/null || true
    fi
    sleep 3
  done
}

case "${1:-}" in
  up) shift; up "$@" ;;
  down) down ;;
  *) echo "usage: $0 up SOCKET TOKEN_FILE STATE_DIR LOG_DIR AGENT_BIN | down" >&2; exit 2 ;;
esac
