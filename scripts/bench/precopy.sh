#!/usr/bin/env bash
# End-to-end pre-copy numbers on loopback, with the real agents and CRIU.
#
#   scripts/bench/precopy.sh [--size-mib 256] [--hot-mib 16] [--runs 3]
#
# Starts one target agent as the integration tests do (its own PID namespace,
# 127.0.0.1, port 0) and, in each run, migrates fresh workloads into it:
#
#  a. Round-1 stream throughput of `--precopy content-hash` (the report's
#     rounds[0]: bytesRaw / durationMs, and bytesOnWire / durationMs) for
#       heap      heapfill heap:   SIZE MiB of heap-like data, compressible ~3x
#       random    heapfill random: SIZE MiB of random bytes, incompressible
#       dirtier   dirtier SIZE 0 0: random bytes too, but its verifier keeps a
#                 core busy (tests/workloads/README.md), as a working process would
#     heapfill (tests/workloads/heapfill.c) sleeps between checks, so heap and
#     random differ only in their data.
#  b. dirtier SIZE HOT 0 migrated with `--precopy content-hash` and an identical
#     fresh one with `--precopy off`: frozenMs, final.bytesOnWire, final.pagesSent,
#     rounds and stop reason, and whether what moved during the freeze stayed
#     within 2 x HOT. RATE 0 (rewrite as fast as it can, about 1.7 GB/s here)
#     makes the whole hot set dirty at every moment: the final diff is the
#     hot set whatever the rounds' timing, so the 2 x HOT bound is tested at
#     its worst and runs compare like with like. A finite rate would leave the
#     final set to depend on how long the last round took.
#
# After each migration it waits for a verification pass done wholly on the
# target (status passes >= P0 + 2) and requires verify=ok, then ends the
# migrated process (it lives in the agent's namespace; killed by its PID
# there). Prints one line per migration, then a Markdown table of medians
# (min-max) over the runs. Exits 1 if a migration failed or a page was bad.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
# shellcheck source=../lib/packages.sh
source "$repo/scripts/lib/packages.sh"
size=256 hot=16 runs=3

usage() { echo "usage: $0 [--size-mib N] [--hot-mib N] [--runs N]" >&2; exit 2; }
while [ $# -gt 0 ]; do
  case $1 in
    --size-mib) size=${2:?}; shift 2 ;;
    --hot-mib) hot=${2:?}; shift 2 ;;
    --runs) runs=${2:?}; shift 2 ;;
    *) usage ;;
  esac
done
for n in "$size" "$hot" "$runs"; do [[ $n =~ ^[0-9]+$ ]] || usage; done
if [ "$size" -eq 0 ] || [ "$runs" -eq 0 ] || [ "$hot" -gt "$size" ]; then usage; fi

log() { printf 'precopy.sh: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

"$repo/scripts/setup.sh"
ensure_packages jq || die "jq reads the reports"

work=$(mktemp -d /tmp/migrate-bench.XXXXXX)
target_pid=      # unshare, parent of the agent
agent_pid=       # the agent: PID 1 of its namespace
declare -A waiters=()  # workload PID -> the subshell that waits for it, our child
cleanup() {
  local pid
  for pid in "${!waiters[@]}"; do stop_workload "$pid"; done
  # unshare ignores SIGTERM while it waits; SIGKILL ends it, --kill-child ends
  # the agent, and the namespace (with whatever was migrated into it) goes too.
  if [ -n "$target_pid" ]; then
    kill -KILL "$target_pid" 2>/dev/null || true
    wait "$target_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- helpers ---------------------------------------------------------------

# wait_for SECONDS COMMAND...: polls COMMAND until it succeeds; fails after SECONDS.
wait_for() {
  local deadline=$((SECONDS + $1))
  shift
  until "$@"; do
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 0.05
  done
}

# field KEY FILE: KEY's value in a workload's status line (key=value tokens).
field() { tr ' ' '\n' 2>/dev/null <"$2" | sed -n "s/^$1=//p" | head -1; }
passes_at_least() { local p; p=$(field passes "$1"); [ -n "$p" ] && [ "$p" -ge "$2" ]; }
alive() { kill -0 "$1" 2>/dev/null; }
gone() { [ ! -e "/proc/$1" ]; }
# ended PID: the process has exited (a zombie, or already collected).
ended() { local state; state=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null) || return 0; [ -z "$state" ] || [ "$state" = Z ]; }

# stop_workload PID: ends a workload if it still runs on the source (not migrated,
# or rolled back), and collects its waiter.
stop_workload() {
  local waiter=${waiters[$1]}
  # While its waiter runs, the PID is still the workload's (alive or a zombie).
  if ! ended "$waiter"; then kill -KILL "$1" 2>/dev/null || true; fi
  wait "$waiter" 2>/dev/null || true
  unset "waiters[$1]"
}

# guest_pid NSPID: our PID for the process that is NSPID in the agent's namespace.
guest_pid() {
  local ns status pid
  ns=$(readlink "/proc/$agent_pid/ns/pid") || return 1
  for status in /proc/[0-9]*/status; do
    pid=${status#/proc/}
    pid=${pid%/status}
    [ "$(readlink "/proc/$pid/ns/pid" 2>/dev/null)" = "$ns" ] || continue
    if awk -v want="$1" '$1 == "NSpid:" && $NF == want { found = 1 } END { exit !found }' "$status" 2>/dev/null; then
      echo "$pid"
      return 0
    fi
  done
  return 1
}

target_listening() {
  alive "$target_pid" || { cat "$work/target.log" >&2; die "the target agent exited"; }
  grep -q 'listening on http://127.0.0.1:' "$work/target.log"
}

start_target() {
  unshare --pid --fork --mount-proc --kill-child \
    "$repo/bin/migrate-target" --listen 127.0.0.1:0 --work-dir "$work/target" --token-file "$work/token" \
    >"$work/target.log" 2>&1 &
  target_pid=$!
  wait_for 60 target_listening || die "the target agent did not listen within 60 s: $(cat "$work/target.log")"
  port=$(sed -n 's|.*listening on http://127\.0\.0\.1:\([0-9]*\).*|\1|p' "$work/target.log" | head -1)
  read -r agent_pid <"/proc/$target_pid/task/$target_pid/children" || true
  if [ -z "$port" ] || [ -z "$agent_pid" ]; then die "cannot find the agent's port or PID"; fi
}

# workload_ready PID STATUS: filled and verified once (passes >= 1); dies if the workload exited.
workload_ready() {
  alive "$1" || die "workload $1 exited before it was ready"
  passes_at_least "$2" 1
}

# start_workload NAME COMMAND...: starts a detaching workload with status file $work/NAME.status
# as its first argument and waits until its memory is filled; sets workload_pid.
#
# The workload runs under a subshell that waits for it. The source copy dies by
# SIGKILL at the commit, and bash reports its own children's deaths by a signal
# ("line N: PID Killed"); the subshell's report goes to /dev/null, and the
# workload keeps the real standard error (fd 3) until it detaches.
start_workload() {
  local name=$1 status="$work/$1.status" pidfile="$work/$1.pid" waiter
  shift
  rm -f "$status" "$pidfile"
  ( "$1" "$status" "${@:2}" 2>&3 & echo "$!" >"$pidfile"; wait "$!" ) 3>&2 2>/dev/null &
  waiter=$!
  wait_for 10 test -s "$pidfile" || die "workload $name did not start"
  workload_pid=$(<"$pidfile")
  waiters[$workload_pid]=$waiter
  wait_for 180 workload_ready "$workload_pid" "$status" || die "workload $name was not ready within 180 s"
}

# migrate_workload NAME PID PRECOPY: migrates PID, checks it on the target and ends it.
# Leaves $work/NAME.json; returns 1 if the migration failed or a page was bad.
migrate_workload() {
  local name=$1 pid=$2 precopy=$3 status="$work/$1.status" report="$work/$1.json" rc=0
  timeout 300 "$repo/bin/migrate" --to "127.0.0.1:$port" --token-file "$work/token" --work-dir "$work/source" \
    --precopy "$precopy" --report "$report" --quiet "$pid" >"$work/$name.log" 2>&1 || rc=$?
  if [ "$rc" -ne 0 ] || [ "$(jq -r .outcome "$report" 2>/dev/null)" != migrated ]; then
    log "$name: migrate exited $rc"
    tail -n 20 "$work/$name.log" >&2
    stop_workload "$pid"
    alive "$target_pid" || die "the target agent is gone (log: $(tail -n 5 "$work/target.log"))"
    return 1
  fi
  # The source copy was killed at the commit; once its waiter has collected it,
  # its PID is never signalled again.
  wait_for 10 ended "${waiters[$pid]}" || die "$name: the source copy of PID $pid still runs after the migration"
  stop_workload "$pid"

  local p0 ok=0 guest
  p0=$(field passes "$status")
  if ! wait_for 120 passes_at_least "$status" $((p0 + 2)); then
    log "$name: no full verification pass on the target within 120 s: $(cat "$status")"
    ok=1
  elif [ "$(field verify "$status")" != ok ]; then
    log "$name: bad page after the migration: $(cat "$status")"
    ok=1
  fi
  guest=$(guest_pid "$(jq -r .restoredPid "$report")") || die "$name: the migrated process is not in the agent's namespace"
  kill -KILL "$guest"
  wait_for 30 gone "$guest" || die "$name: the migrated process $guest did not end"
  return "$ok"
}

# stats: "median (min-max)" of the numbers on standard input, with printf format $1.
stats() {
  sort -g | awk -v fmt="$1" '
    { v[NR] = $1 }
    END {
      if (NR == 0) { print "-"; exit }
      m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
      if (NR == 1) printf fmt "\n", m
      else printf fmt " (" fmt "-" fmt ")\n", m, v[1], v[NR]
    }'
}

# col FILE N SCENARIO: column N of FILE's tab-separated rows for SCENARIO (column 1).
col() { awk -F'\t' -v s="$3" -v c="$2" '$1 == s { print $c }' "$1"; }

# --- the runs --------------------------------------------------------------

gcc -O2 -Wall -Werror -o "$work/heapfill" "$repo/tests/workloads/heapfill.c"
gcc -O2 -Wall -Werror -o "$work/dirtier" "$repo/tests/workloads/dirtier.c"
start_target
log "target agent on 127.0.0.1:$port (PID $agent_pid in its namespace); load: $(cut -d' ' -f1-3 /proc/loadavg)"

# The agent is a daemon that serves many migrations: a small migration first,
# not counted, so its first-use costs do not land in run 1.
start_workload warmup "$work/heapfill" 16 heap
migrate_workload warmup "$workload_pid" content-hash || die "the warm-up migration failed"

failures=0
throughput="$work/throughput.tsv"
freeze="$work/freeze.tsv"
: >"$throughput"
: >"$freeze"
mib=$((1 << 20))
hot_bytes=$((hot * mib))

for run in $(seq 1 "$runs"); do
  for kind in heap random dirtier; do
    name=$kind-$run
    case $kind in
      heap | random) start_workload "$name" "$work/heapfill" "$size" "$kind" ;;
      dirtier) start_workload "$name" "$work/dirtier" "$size" 0 0 ;;
    esac
    if ! migrate_workload "$name" "$workload_pid" content-hash; then
      failures=$((failures + 1))
      continue
    fi
    r="$work/$name.json"
    jq -r --arg k "$kind" --arg run "$run" '.rounds[0] as $r |
      [$k, $run, $r.bytesRaw / $r.durationMs / 1000, $r.bytesOnWire / $r.durationMs / 1000,
       $r.bytesRaw / $r.bytesOnWire, $r.durationMs, (.rounds | length)] | @tsv' "$r" >>"$throughput"
    awk -F'\t' -v n="$name" 'END { printf "  %-12s round 1: %7.1f MB/s raw, %7.1f MB/s wire, ratio %.2f, %.0f ms\n", n, $3, $4, $5, $6 }' "$throughput" >&2
  done

  for precopy in content-hash off; do
    name=hot-$precopy-$run
    start_workload "$name" "$work/dirtier" "$size" "$hot" 0
    if ! migrate_workload "$name" "$workload_pid" "$precopy"; then
      failures=$((failures + 1))
      continue
    fi
    r="$work/$name.json"
    jq -r --arg p "$precopy" --arg run "$run" --argjson limit $((2 * hot_bytes)) '
      [$p, $run, .frozenMs, .final.bytesOnWire, .final.pagesSent, (.rounds | length), .precopy.stopReason,
       (if .final.bytesOnWire <= $limit then "yes" else "no" end),
       .final.frozen.dumpMs, .final.frozen.diffMs, .final.frozen.transferMs, .final.frozen.rebuildMs,
       .final.frozen.restoreMs, .final.frozen.verifyMs, .final.frozen.resumeMs] | @tsv' "$r" >>"$freeze"
    awk -F'\t' -v n="$name" -v mib="$mib" 'END {
      printf "  %-22s frozen %6.0f ms, %6.1f MiB in %6d pages during the freeze, %d rounds (%s)\n", n, $3, $4 / mib, $5, $6, $7 }' "$freeze" >&2
  done
done

# --- the tables ------------------------------------------------------------

echo
echo "## Pre-copy round 1, ${size} MiB, loopback (median (min-max) of $runs runs; MB = 10^6 bytes)"
echo
echo "| workload | raw MB/s | wire MB/s | LZ4 ratio | round 1 ms | runs |"
echo "|---|---|---|---|---|---|"
for kind in heap random dirtier; do
  case $kind in
    heap) label="heap-like (heapfill heap)" ;;
    random) label="random (heapfill random)" ;;
    dirtier) label="random, busy (dirtier $size 0 0)" ;;
  esac
  printf '| %s | %s | %s | %s | %s | %s |\n' "$label" \
    "$(col "$throughput" 3 "$kind" | stats %.0f)" "$(col "$throughput" 4 "$kind" | stats %.0f)" \
    "$(col "$throughput" 5 "$kind" | stats %.2f)" "$(col "$throughput" 6 "$kind" | stats %.0f)" \
    "$(col "$throughput" 1 "$kind" | wc -l)"
done

echo
echo "## ${size} MiB dirtier, ${hot} MiB hot set rewritten as fast as it can (median (min-max) of $runs runs)"
echo
echo "| --precopy | frozenMs | final.bytesOnWire MiB | final.pagesSent | rounds | stop reason | freeze <= 2 x hot ($((2 * hot)) MiB) | runs |"
echo "|---|---|---|---|---|---|---|---|"
for precopy in content-hash off; do
  printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' "$precopy" \
    "$(col "$freeze" 3 "$precopy" | stats %.0f)" \
    "$(col "$freeze" 4 "$precopy" | awk -v m="$mib" '{ print $1 / m }' | stats %.1f)" \
    "$(col "$freeze" 5 "$precopy" | stats %.0f)" \
    "$(col "$freeze" 6 "$precopy" | stats %.0f)" \
    "$(col "$freeze" 7 "$precopy" | sort | uniq -c | awk '{ printf "%s%s x%d", (NR > 1 ? ", " : ""), $2, $1 }')" \
    "$(col "$freeze" 8 "$precopy" | sort | uniq -c | awk '{ printf "%s%s x%d", (NR > 1 ? ", " : ""), $2, $1 }')" \
    "$(col "$freeze" 1 "$precopy" | wc -l)"
done

echo
echo "Where the freeze went (ms, median (min-max)):"
echo
echo "| --precopy | dump | diff | transfer | rebuild | restore | verify | resume |"
echo "|---|---|---|---|---|---|---|---|"
for precopy in content-hash off; do
  printf '| %s |' "$precopy"
  for c in 9 10 11 12 13 14 15; do printf ' %s |' "$(col "$freeze" "$c" "$precopy" | stats %.0f)"; done
  echo
done

echo
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
if [ "$failures" -gt 0 ]; then
  log "$failures migration(s) failed or found a bad page"
  exit 1
fi
