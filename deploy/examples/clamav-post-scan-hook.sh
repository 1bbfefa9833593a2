#!/bin/sh
# ClamAV post-scan hook for egress: reports the scan of one account's home,
# so that egress blocks all the account's outgoing connections while malware
# is there and lifts the block after a clean scan.
#
# Run it after each scan of an account's home:
#
#   clamscan --infected --recursive /home/alice > /var/tmp/alice.scan; status=$?
#   clamav-post-scan-hook.sh alice /home/alice /var/tmp/alice.scan "$status"
#
#   ACCOUNT          the account's id in egress
#   HOME             the folder scanned: threat paths are sent relative to it
#   REPORT           clamscan's output (its stderr too if you like: its
#                    warnings are skipped, files it could not read are
#                    warned about)
#   CLAMSCAN_STATUS  clamscan's exit status: 0 nothing found, 1 threats found,
#                    anything else a failed scan, which is not reported (it
#                    must not lift a lock). Give it: without it the report
#                    alone decides.
#
# Environment:
#   EGRESS_SERVER       egress-service address, host:port
#   EGRESS_TOKEN_FILE   file with a token of scope antivirus (egressctl token
#                       --scope=antivirus), or the token itself in EGRESS_TOKEN
#   EGRESS_TLS_CA_FILE  CA of the service's certificate (optional; TLS)
#   EGRESSCTL           egressctl to run (default: egressctl from PATH)
#
# The scan finished when clamscan last wrote the report (its modification
# time); the scan id is made of that time and a hash of the report, so
# running the hook twice for one report records one scan. A report older
# than the newest one reported for the account changes nothing.
#
# Exit status: 0 reported; 1 the service refused the report or could not be
# reached (run the hook again later); 2 nothing reported: bad arguments, a
# failed scan, or a report that is not clamscan output.
set -eu

usage() {
  echo "usage: $0 ACCOUNT HOME REPORT [CLAMSCAN_STATUS]" >&2
  exit 2
}
[ $# -eq 3 ] || [ $# -eq 4 ] || usage
account=$1
home=$2
report=$3
status=${4:-}
egressctl=${EGRESSCTL:-egressctl}

log() { echo "clamav-post-scan-hook: account=$account $*" >&2; }

[ -n "$account" ] || usage
if [ ! -r "$report" ] || [ ! -f "$report" ]; then
  log "error=\"cannot read report $report\""
  exit 2
fi

# clamscan's verdict and the report must agree: a report cut short, or the
# wrong file, must neither lift a lock nor be taken for a clean scan.
found=no
if tr -d '\r' <"$report" | grep -q ' FOUND$'; then found=yes; fi
case "$status" in
  "") ;;
  0) if [ $found = yes ]; then log "error=\"clamscan said clean but the report lists threats\""; exit 2; fi ;;
  1) if [ $found = no ]; then log "error=\"clamscan found threats but the report lists none\""; exit 2; fi ;;
  *) log "error=\"clamscan failed (status $status): nothing reported\""; exit 2 ;;
esac

if [ -n "${EGRESS_TOKEN_FILE:-}" ]; then
  EGRESS_TOKEN=$(cat "$EGRESS_TOKEN_FILE")
  export EGRESS_TOKEN
fi
if [ -z "${EGRESS_TOKEN:-}" ]; then
  log "error=\"no token: set EGRESS_TOKEN_FILE or EGRESS_TOKEN\""
  exit 2
fi

finished=$(date -u -r "$report" +%Y-%m-%dT%H:%M:%SZ)
scan_id="clamav-$(date -u -r "$report" +%Y%m%dT%H%M%SZ)-$(sha256sum <"$report" | cut -c1-16)"

set -- report-scan "$account" "$scan_id" --report="$report" --report-format=clamscan \
  --report-base="$home" --finished="$finished"
if [ -n "${EGRESS_TLS_CA_FILE:-}" ]; then
  set -- --tls-ca-file="$EGRESS_TLS_CA_FILE" "$@"
fi
code=0
"$egressctl" "$@" >/dev/null || code=$?
log "scan_id=$scan_id finished=$finished threats_found=$found exit=$code"
exit $code
