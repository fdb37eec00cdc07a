#!/usr/bin/env bash
# A redis client that keeps one TCP connection open and measures what it sees.
#
#   redis-client.sh HOST PORT STATUS_FILE [PERIOD_S]
#
# Sends `INCR lab:counter` every PERIOD_S (default 0.01) over a single
# connection (bash /dev/tcp, no redis-cli) and rewrites STATUS_FILE after each
# reply with one line:
#
#   requests=N last_reply=R max_latency_us=N slow=N connection=open|lost
#
# Every reply slower than 20 ms is also appended to STATUS_FILE.slow as
# "sent_us=REALTIME_US latency_us=N reply=R". A migration with
# --tcp-established must leave connection=open and the counter increasing
# by one per request; max_latency_us is the downtime as this client saw it.
# Exits 1 when the connection is lost (status connection=lost).
set -uo pipefail

[ $# -ge 3 ] || { echo "usage: $0 HOST PORT STATUS_FILE [PERIOD_S]" >&2; exit 2; }
host=$1 port=$2 status=$3 period=${4:-0.01}

write_status() { # CONNECTION
  printf 'requests=%d last_reply=%s max_latency_us=%d slow=%d connection=%s\n' \
    "$n" "$last" "$max" "$slow" "$1" >"$status.tmp" && mv -f "$status.tmp" "$status"
}

n=0 max=0 slow=0 last=none
: >"$status.slow"
if ! exec 3<>"/dev/tcp/$host/$port"; then
  write_status lost
  exit 1
fi
while :; do
  t0=${EPOCHREALTIME/./}
  if ! printf 'INCR lab:counter\r\n' >&3 || ! IFS= read -r -t 120 reply <&3; then
    write_status lost
    exit 1
  fi
  t1=${EPOCHREALTIME/./}
  d=$((t1 - t0))
  n=$((n + 1))
  last=${reply%$'\r'}
  ((d > max)) && max=$d
  if ((d > 20000)); then
    slow=$((slow + 1))
    echo "sent_us=$t0 latency_us=$d reply=$last" >>"$status.slow"
  fi
  write_status open
  sleep "$period"
done
