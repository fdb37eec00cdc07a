#!/usr/bin/env bash
# A redis client that keeps one TCP connection open and measures what it sees.
#
#   redis-client.sh HOST PORT STATUS_FILE [PERIOD_S]
#
# Sends `INCR lab:counter` every PERIOD_S (default 0.01) over a single
# connection (bash /dev/tcp, no redis-cli) and rewrites STATUS_FILE after each
# reply with one line:
#
#   requests=N last_reply=R max_latency_us=N slow=N connection=open|lost bad=N first=F
#
# Every reply is checked: being the counter's only writer, the client must
# see each INCR answered with the previous answer plus one (the first
# answer, F, sets the start). bad counts replies that were not; each is
# appended to STATUS_FILE.slow as "sent_us=REALTIME_US bad_reply=R expected=E".
# Every reply slower than 20 ms is also appended to STATUS_FILE.slow as
# "sent_us=REALTIME_US latency_us=N reply=R". A migration with
# --tcp-established must leave connection=open, bad=0 and the counter at
# F + requests - 1; max_latency_us is the downtime as this client saw it.
# Exits 1 when the connection is lost (status connection=lost).
set -uo pipefail

[ $# -ge 3 ] || { echo "usage: $0 HOST PORT STATUS_FILE [PERIOD_S]" >&2; exit 2; }
host=$1 port=$2 status=$3 period=${4:-0.01}

write_status() { # CONNECTION
  printf 'requests=%d last_reply=%s max_latency_us=%d slow=%d connection=%s bad=%d first=%s\n' \
    "$n" "$last" "$max" "$slow" "$1" "$bad" "$first" >"$status.tmp" && mv -f "$status.tmp" "$status"
}

n=0 max=0 slow=0 last=none bad=0 first=none expect=
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
  if [ -z "$expect" ] && [[ $last =~ ^:[0-9]+$ ]]; then
    first=${last#:}
  elif [ "$last" != ":$expect" ]; then
    bad=$((bad + 1))
    echo "sent_us=$t0 bad_reply=$last expected=:$expect" >>"$status.slow"
  fi
  [[ $last =~ ^:[0-9]+$ ]] && expect=$((${last#:} + 1))
  ((d > max)) && max=$d
  if ((d > 20000)); then
    slow=$((slow + 1))
    echo "sent_us=$t0 latency_us=$d reply=$last" >>"$status.slow"
  fi
  write_status open
  sleep "$period"
done
