#!/usr/bin/env bash
# Measures a migration's downtime on the lab link two ways: as the migrated
# process saw it (a heartbeat gap, by CLOCK_REALTIME) and as the migrate
# report says it (frozenMs, freeze to resume).
#
#   downtime.sh [--prefix P] [--workload heartbeat|dirtier] [--runs N]
#               [--size MIB] [--hot MIB] [--dirty-rate MIB_PER_S]
#
# Needs a lab with both agents: scripts/lab/hosts.sh up --agents [--rate R].
# Each run starts the workload on host A, migrates it to host B's agent with
# bin/migrate run on host A, reads the gap, checks the process (dirtier: waits
# for a full verification pass that began after the resume, and requires
# verify=ok), then ends the migrated copy by its PID. Prints one line per run:
#
#   workload rate run frozen_ms gap_ms mono_gap_ms dump_ms transfer_ms restore_ms resume_ms bytes_raw bytes_wire check
#
# gap_ms is the longest stall of the process's own 1 ms heartbeat across the
# migration; mono_gap_ms the same stall by the process's CLOCK_MONOTONIC
# (heartbeat only; CRIU restores into a new time namespace whose monotonic
# clock hides most of the stall). The dirtier defaults: 256 MiB, 64 MiB hot,
# 100 MiB/s. Exits 1 if any run failed.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
hosts=$here/hosts.sh
prefix=lab workload=heartbeat runs=3 size=256 hot=64 dirty_rate=100

while [ $# -gt 0 ]; do
  case $1 in
    --prefix) prefix=$2; shift 2 ;;
    --workload) workload=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --size) size=$2; shift 2 ;;
    --hot) hot=$2; shift 2 ;;
    --dirty-rate) dirty_rate=$2; shift 2 ;;
    *) echo "downtime.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
case $workload in heartbeat|dirtier) ;; *) echo "downtime.sh: --workload heartbeat or dirtier" >&2; exit 2 ;; esac

H() { "$hosts" "$1" --prefix "$prefix" "${@:2}"; }
die() { echo "downtime.sh: error: $*" >&2; exit 1; }

work=$(H path work)
token=$(H path token)
state=$(H path state)
[ -d "$state" ] || die "no lab '$prefix': run $hosts up --agents"
rate=$(cat "$state/rate" 2>/dev/null || true)
rate=${rate:-none}
target=$(H addr b):7700

bin=$work/bin
mkdir -p "$bin"
gcc -O2 -Wall -Werror -o "$bin/$workload" "$repo/tests/workloads/$workload.c"

num() { # KEY FILE: a number from the flat or timeline part of a report
  sed -n "s/.*\"$1\": *\\(-\\{0,1\\}[0-9.][0-9.eE+-]*\\).*/\\1/p" "$2" | head -1
}
field() { # KEY FILE: KEY=value from a status line
  tr ' ' '\n' <"$2" | sed -n "s/^$1=//p" | head -1
}
ms() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "") print "-"; else printf "%.1f", b - a }'; }

wait_for() { # SECONDS COMMAND...: until COMMAND succeeds
  local deadline=$((SECONDS + $1))
  shift
  until "$@"; do
    [ $SECONDS -lt $deadline ] || return 1
    sleep 0.1
  done
}
beats_over() { [ "$(field beats "$1" 2>/dev/null || echo 0)" -gt "$2" ] 2>/dev/null; }
passes_at_least() { [ "$(field passes "$1" 2>/dev/null || echo 0)" -ge "$2" ] 2>/dev/null; }

failed=0
printf '%-9s %-7s %3s %9s %8s %11s %7s %11s %10s %9s %10s %10s %s\n' \
  workload rate run frozen_ms gap_ms mono_gap_ms dump_ms transfer_ms restore_ms resume_ms bytes_raw bytes_wire check
for run in $(seq 1 "$runs"); do
  dir=$work/runs/$workload-$rate-$run
  rm -rf "$dir"
  mkdir -p "$dir"
  status=$dir/status
  if [ "$workload" = heartbeat ]; then
    pid=$(H spawn a -- "$bin/heartbeat" "$status" "$dir/gaps")
    wait_for 20 beats_over "$status" 1000 || die "heartbeat did not start"
  else
    pid=$(H spawn a -- "$bin/dirtier" "$status" "$size" "$hot" "$dirty_rate")
    wait_for 60 passes_at_least "$status" 2 || die "dirtier did not start"
  fi
  before_gap=$(field max_gap_us "$status")
  t0=${EPOCHREALTIME/./}
  rc=0
  H run a -- "$repo/bin/migrate" --to "$target" --token-file "$token" --report "$dir/report.json" \
    --work-dir "$work/src" --quiet "$pid" >"$dir/migrate.out" 2>&1 || rc=$?
  report=$dir/report.json
  if [ $rc -ne 0 ]; then
    # 3 refused, 4 rolled back: the workload still runs on A.
    kill "$pid" 2>/dev/null || true
    failed=1
    printf '%-9s %-7s %3s %9s %8s %11s %7s %11s %10s %9s %10s %10s %s\n' "$workload" "$rate" "$run" \
      - - - - - - - - - "migrate-exit-$rc: $(grep -m1 -o 'migrate: .*' "$dir/migrate.out" | cut -c1-160)"
    continue
  fi
  restored=$(num restoredPid "$report")
  here_pid=$(H pid b "$restored")
  check=ok
  gap=- mono=-
  [ "$(stat -L -c %i "/proc/$here_pid/ns/net")" = "$(stat -L -c %i "/run/netns/$prefix-b")" ] || check=not-on-b
  if [ "$workload" = heartbeat ]; then
    # Beats resume at once; give the status and gaps file a moment.
    beats0=$(field beats "$status")
    sleep 1
    line=$(awk -v t0="$t0" '{ split($2, s, "="); split($3, l, "="); split($4, m, "=")
                               if (s[2] + 0 >= t0 && l[2] + 0 > best) { best = l[2] + 0; mono = m[2] + 0 } }
                             END { if (best) printf "%.1f %.1f", best / 1000, mono / 1000 }' "$dir/gaps")
    [ -n "$line" ] || check=no-gap-recorded
    read -r gap mono <<<"${line:-- -}"
    [ "$(field beats "$status")" -gt "$beats0" ] || check=not-beating
  else
    p0=$(field passes "$status")
    if ! wait_for 60 passes_at_least "$status" $((p0 + 2)); then
      check=no-new-pass
    fi
    verdict=$(field verify "$status")
    [ "$verdict" = ok ] || check="verify=$verdict page=$(field page "$status")"
    check="$check(passes $p0->$(field passes "$status"))"
    after_gap=$(field max_gap_us "$status")
    gap=$(awk -v g="$after_gap" 'BEGIN { printf "%.1f", g / 1000 }')
    [ "$after_gap" -gt "$before_gap" ] || check="$check,gap-not-new"
  fi
  kill "$here_pid" 2>/dev/null || true
  case $check in ok|"ok(passes "*) ;; *) failed=1 ;; esac
  printf '%-9s %-7s %3s %9.1f %8s %11s %7s %11s %10s %9s %10s %10s %s\n' \
    "$workload" "$rate" "$run" "$(num frozenMs "$report")" "$gap" "$mono" \
    "$(ms "$(num freezeStart "$report")" "$(num dumpEnd "$report")")" \
    "$(ms "$(num dumpEnd "$report")" "$(num transferEnd "$report")")" \
    "$(ms "$(num transferEnd "$report")" "$(num restoreEnd "$report")")" \
    "$(ms "$(num restoreEnd "$report")" "$(num resume "$report")")" \
    "$(num bytesRaw "$report")" "$(num bytesOnWire "$report")" "$check"
done
exit $failed
