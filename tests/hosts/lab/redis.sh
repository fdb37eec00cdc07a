#!/usr/bin/env bash
# One verified migration of a real server: redis-server from Debian, with a
# populated dataset and a client that checks every reply, moved from lab host
# A to lab host B with migrate --tcp-established.
#
#   redis.sh [--keys 200000] [--value-bytes 256] [--rate 1gbit] [--prefix rd] [--no-setup]
#
#  1. lab up (prefix rd: never the tests' "lab"), B's agent, link limit RATE;
#  2. redis-server on A, listening on the lab's service address 10.77.100.1
#     (both A and B have it; host C routes it to whichever runs the service);
#  3. from C: KEYS keys k:1..k:KEYS, each value VALUE_BYTES long and made of
#     its own number ("0000042:0000042:..."), loaded with redis-cli --pipe;
#  4. from C: redis-client.sh keeps one connection issuing INCR lab:counter
#     every 10 ms and checks each reply is the previous plus one;
#  5. migrate --tcp-established PID on A, then `hosts.sh service b`;
#  6. checks: the client's connection stayed open, it kept going, no reply
#     was wrong; over a new connection every key's value is exact (MGET,
#     compared byte for byte), DBSIZE is KEYS + 1, and lab:counter equals
#     what the client's replies add up to;
#  7. prints frozenMs, the client's longest wait for a reply (the downtime a
#     client sees: the freeze, the route switch to B and TCP's retransmission
#     backoff), and the data check; takes the lab down, whatever happened.
# Exits 0 only if everything checked out.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../../.." && pwd)
# shellcheck source=../../../scripts/lib/packages.sh
source "$repo/scripts/lib/packages.sh"
hosts=$here/hosts.sh
keys=200000 value_bytes=256 rate=1gbit prefix=rd setup=1
while [ $# -gt 0 ]; do
  case $1 in
    --keys) keys=${2:?}; shift 2 ;;
    --value-bytes) value_bytes=${2:?}; shift 2 ;;
    --rate) rate=${2:?}; shift 2 ;;
    --prefix) prefix=${2:?}; shift 2 ;;
    --no-setup) setup=0; shift ;;
    *) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}" >&2; exit 2 ;;
  esac
done
[[ $keys =~ ^[0-9]+$ && $value_bytes =~ ^[0-9]+$ && $keys -ge 1 && $value_bytes -ge 8 ]] ||
  { echo "redis.sh: --keys >= 1, --value-bytes >= 8" >&2; exit 2; }
[ "$(id -u)" -eq 0 ] || { echo "redis.sh: run as root" >&2; exit 1; }

log() { printf 'redis.sh: %s\n' "$*" >&2; }
die() { log "FAILED: $*"; exit 1; }
H() { "$hosts" "$1" --prefix "$prefix" "${@:2}"; }

# field NAME FILE: the value of NAME=VALUE in a status file of key=value tokens.
field() { tr ' ' '\n' 2>/dev/null <"$2" | sed -n "s/^$1=//p" | head -1; }

# wait_until SECONDS WHAT COMMAND...: polls COMMAND every 50 ms until it succeeds;
# returns 1, saying what it waited for, when SECONDS have passed.
wait_until() {
  local deadline=$((SECONDS + $1)) what=$2
  shift 2
  until "$@"; do
    if [ $SECONDS -ge $deadline ]; then log "timed out waiting for $what"; return 1; fi
    sleep 0.05
  done
}

if [ $setup -eq 1 ]; then
  "$repo/scripts/setup.sh" >&2 || [ -x "$repo/bin/migrate" ] || die "scripts/setup.sh failed"
fi
ensure_packages redis-server redis-tools jq || die "redis-server, redis-cli and jq run this"

pids=() # what this script started, ended by PID before the lab goes down
finish() {
  local rc=$? pid
  trap - EXIT INT TERM
  for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  H down >/dev/null 2>&1 || log "warning: '$hosts down --prefix $prefix' failed"
  exit $rc
}
trap finish EXIT
trap 'exit 130' INT TERM

log "lab '$prefix' up, link $rate"
# A stale lab of this prefix from a crash goes first.
H up --tmpfs --rate "$rate" >&2
H agent b >&2
work=$(H path work) token=$(H path token)
svc=$(H addr service)
dir=$work/redis
mkdir -p "$dir"
cli() { H run c -- redis-cli -h "$svc" -p 6379 "$@"; }
pinged() { [ "$(cli ping 2>/dev/null)" = PONG ]; }

redis=$(H spawn a --log "$dir/redis.out" -- redis-server --bind "$svc" --port 6379 --save '' --appendonly no \
  --daemonize no --protected-mode no --dir "$dir" --logfile "$dir/redis.log")
pids+=("$redis")
wait_until 30 "redis-server on A to answer" pinged || exit 1

# The dataset: value i is "%07d:" of i repeated to VALUE_BYTES, so a value
# moved to the wrong key or cut short cannot pass for right.
log "loading $keys keys of $value_bytes bytes"
awk -v n="$keys" -v vb="$value_bytes" 'BEGIN {
  for (i = 1; i <= n; i++) {
    s = sprintf("%07d:", i); v = s; while (length(v) < vb) v = v s; v = substr(v, 1, vb); k = "k:" i
    printf "*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n", length(k), k, vb, v
  } }' >"$dir/load.resp"
H run c -- bash -c "redis-cli -h '$svc' -p 6379 --pipe <'$dir/load.resp'" >"$dir/load.out" 2>&1 ||
  die "loading failed: $(tail -3 "$dir/load.out")"
grep -q "errors: 0, replies: $keys" "$dir/load.out" || die "loading: $(tail -1 "$dir/load.out")"
rm -f "$dir/load.resp"
awk -v n="$keys" -v vb="$value_bytes" 'BEGIN {
  for (i = 1; i <= n; i++) { s = sprintf("%07d:", i); v = s; while (length(v) < vb) v = v s; print substr(v, 1, vb) } }' >"$dir/expected"
awk -v n="$keys" 'BEGIN { for (i = 1; i <= n; i += 1000) { line = "MGET"; for (j = i; j < i + 1000 && j <= n; j++) line = line " k:" j; print line } }' \
  >"$dir/check.cmds"
used=$(cli info memory | sed -n 's/^used_memory_human:\([^\r]*\).*/\1/p')
log "redis-server PID $redis on A: $keys keys, used_memory $used"

client=$(H spawn c -- "$here/redis-client.sh" "$svc" 6379 "$dir/client.status" 0.01)
pids+=("$client")
requests_over() { local r; r=$(field requests "$dir/client.status"); [ -n "$r" ] && [ "$r" -gt "$1" ]; }
wait_until 30 "the client's first replies" requests_over 50 || exit 1

log "migrating redis-server (PID $redis) to B with --tcp-established"
t0=${EPOCHREALTIME/./}
rc=0
H run a -- "$repo/bin/migrate" --tcp-established --to "$(H addr b):7700" --token-file "$token" \
  --work-dir "$work/src" --report "$dir/report.json" --quiet "$redis" >"$dir/migrate.out" 2>&1 || rc=$?
t1=${EPOCHREALTIME/./}
[ $rc -eq 0 ] || die "migrate exited $rc: $(cat "$dir/migrate.out")"
# The commit is done: the clients' traffic for the service address goes to B now.
H service b >&2
t2=${EPOCHREALTIME/./}
restored=$(jq -r .restoredPid "$dir/report.json")
redis_b=$(H pid b "$restored")
pids+=("$redis_b")
[ "$(stat -L -c %i "/proc/$redis_b/ns/net")" = "$(stat -L -c %i "/run/netns/$prefix-b")" ] ||
  die "PID $redis_b is not in $prefix-b"

before=$(field requests "$dir/client.status")
wait_until 60 "the client to go on over its old connection" requests_over $((before + 100)) || exit 1
kill -TERM "$client" 2>/dev/null || true
wait_until 10 "the client to stop" eval "! kill -0 $client 2>/dev/null" || exit 1
st=$dir/client.status
[ "$(field connection "$st")" = open ] || die "the client's connection was lost: $(cat "$st")"
[ "$(field bad "$st")" = 0 ] || die "wrong replies: $(grep bad_reply "$st.slow" | head -3)"

# Every key, over a new connection to B.
H run c -- bash -c "redis-cli -h '$svc' -p 6379 <'$dir/check.cmds'" >"$dir/actual" 2>"$dir/check.err" ||
  die "reading the data back failed: $(head -3 "$dir/check.err")"
if cmp -s "$dir/expected" "$dir/actual"; then
  data="all $keys values exact"
else
  data="$(diff "$dir/expected" "$dir/actual" | grep -c '^<' || true) of $keys values differ"
fi
dbsize=$(cli dbsize)
counter=$(cli get lab:counter)
first=$(field first "$st") requests=$(field requests "$st")
# A request sent but not yet answered when the client stopped still counts on the server.
counter_ok=no
[ "$counter" -eq $((first + requests - 1)) ] || [ "$counter" -eq $((first + requests)) ] && counter_ok=yes

printf '\nredis-server %s keys x %s B (used_memory %s), link %s, load average %s\n' "$keys" "$value_bytes" "$used" "$rate" "$(cut -d' ' -f1-3 /proc/loadavg)"
printf '  frozenMs                  %s\n' "$(jq -r '.frozenMs | . * 10 | round / 10' "$dir/report.json")"
printf '  migrate wall time         %s ms (report totalMs %s; %s MiB on the wire)\n' $(((t1 - t0) / 1000)) \
  "$(jq -r '.totalMs | round' "$dir/report.json")" "$(jq -r '.bytesOnWire / 1048576 | . * 10 | round / 10' "$dir/report.json")"
printf '  route switched to B       %s ms after migrate returned\n' $(((t2 - t1) / 1000))
printf '  client: longest reply     %s ms (%s replies over 20 ms; connection %s; %s requests, %s wrong replies)\n' \
  $(($(field max_latency_us "$st") / 1000)) "$(field slow "$st")" "$(field connection "$st")" "$requests" "$(field bad "$st")"
printf '  data on B                 %s; DBSIZE %s (expected %s); lab:counter %s (client: first %s + %s requests) %s\n' \
  "$data" "$dbsize" $((keys + 1)) "$counter" "$first" "$requests" "$([ $counter_ok = yes ] && echo ok || echo WRONG)"
[ "$data" = "all $keys values exact" ] && [ "$dbsize" -eq $((keys + 1)) ] && [ $counter_ok = yes ] ||
  die "the data on B is not what was written"
echo "redis.sh: migrated and verified"
