#!/usr/bin/env bash
# Proves the downtime lab end to end, on real CRIU:
#   1. compiles the workloads and runs each for a few seconds;
#   2. brings the lab up (hosts.sh up --agents --tmpfs);
#   3. shows the `ip netns exec` trap (expected: refused/rolled back), then
#      migrates a heartbeat from host A to host B (nsenter) and checks it runs in B;
#   4. migrates redis-server with --tcp-established while a client on host C
#      keeps one connection open, and checks it answers on B over that
#      connection and a new one;
#   5. measures downtime (downtime.sh) for heartbeat and a 256 MiB dirtier at
#      each rate in RATES;
#   6. brings the lab down and checks nothing is left.
#
#   prove.sh [--prefix P] [--runs N] [--rates "1gbit 10gbit"] [--keep]
#
# --keep leaves the lab up at the end. Exits non-zero on the first failure
# (after taking the lab down, unless --keep).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
hosts=$here/hosts.sh
prefix=lab runs=2 rates="1gbit 10gbit" keep=0
while [ $# -gt 0 ]; do
  case $1 in
    --prefix) prefix=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --rates) rates=$2; shift 2 ;;
    --keep) keep=1; shift ;;
    *) echo "prove.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

H() { "$hosts" "$1" --prefix "$prefix" "${@:2}"; }
step() { printf '\n=== %s\n' "$*"; }
fail() { echo "prove.sh: FAILED: $*" >&2; exit 1; }
field() { tr ' ' '\n' <"$2" | sed -n "s/^$1=//p" | head -1; }
num() { sed -n "s/.*\"$1\": *\\(-\\{0,1\\}[0-9.][0-9.eE+-]*\\).*/\\1/p" "$2" | head -1; }
netns_of() { stat -L -c %i "$1"; }

cleanup() {
  local rc=$?
  if [ $keep -eq 0 ]; then
    H down >/dev/null 2>&1 || true
  fi
  exit $rc
}
trap cleanup EXIT

[ -x "$repo/bin/migrate" ] && [ -x "$repo/bin/migrate-target" ] || "$repo/scripts/setup.sh"
command -v redis-server >/dev/null || {
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends redis-server redis-tools >/dev/null
}

step "lab up"
H up --rate "${rates%% *}" --agents --tmpfs
work=$(H path work)
token=$(H path token)
bin=$work/bin
mkdir -p "$bin" "$work/try"

step "workloads: compile (gcc -O2 -Wall -Werror) and run each for 3 s on host A"
for w in counter heartbeat dirtier clockcaller; do
  gcc -O2 -Wall -Werror -o "$bin/$w" "$repo/tests/workloads/$w.c"
done
pids=(
  "$(H spawn a -- "$bin/heartbeat" "$work/try/heartbeat.status" "$work/try/heartbeat.gaps")"
  "$(H spawn a -- "$bin/dirtier" "$work/try/dirtier.status" 64 16 50)"
  "$(H spawn a -- "$bin/clockcaller" "$work/try/clockcaller.status")"
)
sleep 3
for w in heartbeat dirtier clockcaller; do
  printf '%-12s %s\n' "$w:" "$(sed 's/ *$//' "$work/try/$w.status")"
done
printf '%-12s %s lines\n' "gaps file:" "$(wc -l <"$work/try/heartbeat.gaps")"
grep -q 'verify=ok' "$work/try/dirtier.status" || fail "dirtier does not verify"
grep -q 'clocks=ok' "$work/try/clockcaller.status" || fail "clockcaller is not ok"
kill "${pids[@]}"

step "the trap: workload and CLI each under 'ip netns exec' (expected to be refused or rolled back)"
ip netns exec "$prefix-a" "$bin/heartbeat" "$work/try/trap.status" "$work/try/trap.gaps" &
sleep 1
trap_pid=$(pgrep -n -f "heartbeat $work/try/trap.status") || fail "trap workload did not start"
echo "workload PID $trap_pid, mount namespace $(readlink "/proc/$trap_pid/ns/mnt") (the machine's is $(readlink /proc/self/ns/mnt))"
rc=0
ip netns exec "$prefix-a" "$repo/bin/migrate" --to "$(H addr b):7700" --token-file "$token" \
  --work-dir "$work/src" --quiet "$trap_pid" >"$work/try/trap.out" 2>&1 || rc=$?
echo "migrate exited $rc: $(grep -m1 -o 'Error (criu/mount.c[^)]*): .*' "$work/try/trap.out" || head -1 "$work/try/trap.out")"
grep -q "Will take mnt namespace" "$work"/src/*/criu-dump.log && echo "CRIU log: 'Will take mnt namespace in the image'"
[ $rc -ne 0 ] || fail "the ip netns exec migration was expected to fail"
kill "$trap_pid"
wait "$trap_pid" 2>/dev/null || true

step "a workload: heartbeat on host A -> host B (both started with nsenter --net)"
hb=$(H spawn a -- "$bin/heartbeat" "$work/try/hb.status" "$work/try/hb.gaps")
sleep 1
H run a -- "$repo/bin/migrate" --to "$(H addr b):7700" --token-file "$token" \
  --work-dir "$work/src" --report "$work/try/hb.json" "$hb" || fail "migrate exited $?"
hb_b=$(H pid b "$(num restoredPid "$work/try/hb.json")")
[ "$(netns_of "/proc/$hb_b/ns/net")" = "$(netns_of "/run/netns/$prefix-b")" ] || fail "PID $hb_b is not in $prefix-b's network namespace"
b1=$(field beats "$work/try/hb.status")
sleep 1
b2=$(field beats "$work/try/hb.status")
[ "$b2" -gt "$b1" ] || fail "the migrated heartbeat does not beat"
echo "runs on $prefix-b as PID $hb_b (PID $(num restoredPid "$work/try/hb.json") in the agent's namespace); beats $b1 -> $b2; frozenMs $(num frozenMs "$work/try/hb.json")"
echo "largest gap: $(sort -t= -k3 -n "$work/try/hb.gaps" | tail -1)"
echo "time namespace: $(readlink "/proc/$hb_b/ns/time") (the machine's: $(readlink /proc/self/ns/time)); offsets: $(tr '\n' ' ' <"/proc/$hb_b/timens_offsets")"
kill "$hb_b"

step "redis-server on host A (service address $(H addr service)), client on host C, migrate with --tcp-established"
svc=$(H addr service)
mkdir -p "$work/redis"
redis=$(H spawn a --log "$work/redis/redis.out" -- redis-server --bind "$svc" --port 6379 --save '' \
  --appendonly no --daemonize no --protected-mode no --dir "$work/redis" --logfile "$work/redis/redis.log")
for _ in $(seq 50); do H run c -- redis-cli -h "$svc" ping >/dev/null 2>&1 && break; sleep 0.1; done
H run c -- redis-cli -h "$svc" set greeting "hello from A" >/dev/null
H spawn c -- "$here/redis-client.sh" "$svc" 6379 "$work/redis/client.status" >/dev/null
sleep 2
echo "client before: $(cat "$work/redis/client.status")"
H run a -- "$repo/bin/migrate" --to "$(H addr b):7700" --token-file "$token" --tcp-established \
  --work-dir "$work/src" --report "$work/redis/report.json" "$redis" || fail "redis migrate exited $?"
H service b
redis_b=$(H pid b "$(num restoredPid "$work/redis/report.json")")
[ "$(netns_of "/proc/$redis_b/ns/net")" = "$(netns_of "/run/netns/$prefix-b")" ] || fail "redis is not in $prefix-b"
sleep 3
echo "client after:  $(cat "$work/redis/client.status")"
cat "$work/redis/client.status.slow"
grep -q 'connection=open' "$work/redis/client.status" || fail "the client's connection was lost"
n1=$(field requests "$work/redis/client.status")
sleep 1
n2=$(field requests "$work/redis/client.status")
[ "$n2" -gt "$n1" ] || fail "the client makes no progress over its old connection"
answer=$(H run c -- redis-cli -h "$svc" get greeting)
[ "$answer" = "hello from A" ] || fail "redis on B answered '$answer'"
echo "redis runs on $prefix-b as PID $redis_b; frozenMs $(num frozenMs "$work/redis/report.json"); new connection: GET greeting -> '$answer'; old connection: requests $n1 -> $n2"

step "downtime: heartbeat gap vs frozenMs"
downtime_failed=0
for r in $rates; do
  H rate "$r"
  "$here/downtime.sh" --prefix "$prefix" --workload heartbeat --runs "$runs" || downtime_failed=1
  "$here/downtime.sh" --prefix "$prefix" --workload dirtier --runs "$runs" || downtime_failed=1
done

if [ $keep -eq 1 ]; then
  step "lab left up (--keep)"
  exit 0
fi
step "lab down, and nothing left"
H down
H down
left=$(ip netns list | grep -E "^$prefix-[abc]( |$)" || true)
[ -z "$left" ] || fail "namespaces left: $left"
[ ! -e "/run/migrate-lab/$prefix" ] || fail "state left in /run/migrate-lab/$prefix"
[ ! -e "$work" ] || fail "work dir left: $work"
stray=$(pgrep -f -a "$work|/run/migrate-lab/$prefix" || true)
[ -z "$stray" ] || fail "processes left: $stray"
echo "no namespaces, no veths (they lived only in the namespaces), no state, no processes left"
ip -br link
keep=1 # already down
[ $downtime_failed -eq 0 ] || fail "some downtime runs did not migrate or verify (see the check column)"
echo "prove.sh: all passed"
