#!/usr/bin/env bash
# The downtime matrix: memory size x dirty rate x link rate, N runs each, for
# three ways of moving a process from lab host A to lab host B.
#
#   matrix.sh [--sizes 64] [--rates 0,50] [--links 1gbit,10gbit] [--runs 3]
#             [--methods precopy,noprecopy,byhand] [--out DIR] [--prefix mx]
#             [--no-setup]
#
# Methods (each run of each cell migrates a fresh workload with each method,
# the methods interleaved so that drift in the machine's load hits all alike):
#   precopy    bin/migrate (pre-copy --precopy auto: content-hash on this kernel)
#   noprecopy  bin/migrate --precopy off (one dump, everything moves frozen)
#   byhand     what a user would script with CRIU 4.2.1 alone, no migrate:
#                1. on B, start a receiver (socat listening on B's link
#                   address, piping into tar -x) and wait until it listens;
#                2. on A: criu dump -t PID -D IMAGES --leave-stopped (stopped,
#                   not killed, so a failed copy or restore can still
#                   kill -CONT it back to life on A);
#                3. on A: tar -c IMAGES | socat - TCP:B (crosses the
#                   rate-limited A-B link, like scp would, minus ssh's cost);
#                4. on B, in B's agent PID namespace (where the PID is free):
#                   criu restore -D IMAGES -d (the process runs at once);
#                5. kill -KILL the stopped source copy.
#              Images live in the lab's tmpfs on both sides, as migrate's do.
#
# The workload (tests/workloads/dirtier.c) on host A: SIZE MiB of random data
# whose every page it verifies against a checksum, a pass about every 250 ms.
# At RATE > 0 it rewrites random pages of a hot set of HOT = SIZE/8 MiB (at
# least 1) at RATE MiB/s. RATE 0 means an idle process: no hot set, no writes
# (dirtier HOT 0 with rate argument 1, so its loop still sleeps 1 ms a turn).
# A thread inside it beats every 1 ms and records its longest gap by
# CLOCK_REALTIME: that gap is the downtime the application saw.
#
# Per run: start the dirtier, wait for 2 verification passes, migrate, find
# the copy on B (in B's network namespace), wait for 2 more passes there
# (the second done wholly after the resume), require verify=ok, read the gap,
# end the copy by its PID. Columns of results.csv:
#   method size_mib hot_mib rate_mibs link run
#   downtime_ms   the workload's longest heartbeat gap (CLOCK_REALTIME)
#   frozen_ms     migrate: the report's frozenMs; byhand: from the dump's start
#                 to criu restore returning, by this script's clock
#   total_ms      wall time of the whole move as a user waits for it: the
#                 migrate command; byhand: receiver start to source killed
#   bytes         bytes that crossed the link: report bytesOnWire; byhand:
#                 the image directory's size
#   verified      ok, or why not (BAD page, no pass after the resume, exit N)
#   report_total_ms rounds stop  (migrate's report: totalMs, pre-copy rounds,
#                 stopReason)
#   load1         the 1-minute load average when the run started
# results.md: medians with min-max per cell and method; downtime.png: the
# medians (bars) and min-max (whiskers) of downtime and total time.
#
# The lab (prefix mx, so it never meets the tests' "lab") is brought up fresh,
# which also clears what a crashed earlier run left, and down at the end,
# whatever happens. Exits 1 if any run failed to migrate or verify.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
# shellcheck source=../lib/packages.sh
source "$repo/scripts/lib/packages.sh"
hosts=$repo/tests/hosts/lab/hosts.sh
criu=/usr/local/sbin/criu

sizes=64 rates=0,50 links=1gbit,10gbit runs=3 methods=precopy,noprecopy,byhand
out=/var/tmp/migrate-matrix prefix=mx setup=1
command_line="scripts/lab/matrix.sh $*"

usage() {
  sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}" >&2
  exit 2
}
while [ $# -gt 0 ]; do
  case $1 in
    --sizes) sizes=${2:?}; shift 2 ;;
    --rates) rates=${2:?}; shift 2 ;;
    --links) links=${2:?}; shift 2 ;;
    --runs) runs=${2:?}; shift 2 ;;
    --methods) methods=${2:?}; shift 2 ;;
    --out) out=${2:?}; shift 2 ;;
    --prefix) prefix=${2:?}; shift 2 ;;
    --no-setup) setup=0; shift ;;
    -h|--help) usage ;;
    *) echo "matrix.sh: unknown argument $1" >&2; usage ;;
  esac
done
IFS=, read -r -a size_list <<<"$sizes"
IFS=, read -r -a rate_list <<<"$rates"
IFS=, read -r -a link_list <<<"$links"
IFS=, read -r -a method_list <<<"$methods"
for n in "${size_list[@]}" "${rate_list[@]}" "$runs"; do
  [[ $n =~ ^[0-9]+$ ]] || { echo "matrix.sh: sizes, rates and runs are whole numbers (MiB, MiB/s)" >&2; exit 2; }
done
[ "$runs" -ge 1 ] || usage
for m in "${method_list[@]}"; do
  case $m in precopy|noprecopy|byhand) ;; *) echo "matrix.sh: unknown method $m" >&2; exit 2 ;; esac
done
[ "$(id -u)" -eq 0 ] || { echo "matrix.sh: run as root" >&2; exit 1; }

log() { printf 'matrix.sh: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }
# shellcheck source=common.sh
source "$here/common.sh"
H() { "$hosts" "$1" --prefix "$prefix" "${@:2}"; }

# ---- what the matrix needs ----------------------------------------------------

if [ $setup -eq 1 ]; then
  "$repo/scripts/setup.sh" >&2 || {
    [ -x "$repo/bin/migrate" ] || die "scripts/setup.sh failed and there is no bin/migrate"
    log "warning: scripts/setup.sh failed; using the bin/migrate already published"
  }
fi
[ -x "$criu" ] || die "no CRIU at $criu (scripts/setup.sh builds it)"
ensure_packages jq socat gnuplot-nox || die "jq, socat and gnuplot run the matrix"

# ---- processes this script started, ended by PID --------------------------------

declare -A mine=() # PID -> start time (field 22 of /proc/PID/stat), to never hit a reused PID
start_time() { local s; s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1; s=${s##*) }; set -- $s; echo "${20}"; }
alive() { # PID: exists and is not a zombie
  local s
  s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  s=${s##*) }
  [ "${s:0:1}" != Z ]
}
remember() { local t; t=$(start_time "$1") && mine[$1]=$t || true; }
end_pid() { # PID: SIGKILL (a stopped process needs nothing else) and wait until it is gone
  local pid=$1 deadline=$((SECONDS + 10))
  if [ -n "${mine[$pid]:-}" ] && [ "$(start_time "$pid" 2>/dev/null)" = "${mine[$pid]}" ]; then
    kill -KILL "$pid" 2>/dev/null || true
    while alive "$pid" && [ $SECONDS -lt $deadline ]; do sleep 0.05; done
    alive "$pid" && log "warning: PID $pid survived SIGKILL"
  fi
  unset "mine[$pid]"
}

finish() {
  local rc=$?
  trap - EXIT INT TERM
  for pid in "${!mine[@]}"; do end_pid "$pid"; done
  # Ends the agents and anything left in the hosts' namespaces, removes the tmpfs.
  H down >/dev/null 2>&1 || log "warning: '$hosts down --prefix $prefix' failed"
  exit $rc
}
trap finish EXIT
trap 'exit 130' INT TERM

# ---- helpers ------------------------------------------------------------------

passes_at_least() { local p; p=$(field passes "$1"); [ -n "$p" ] && [ "$p" -ge "$2" ]; }
ms_between() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", (b - a) / 1000 }'; } # two EPOCHREALTIME µs values
us() { echo "${EPOCHREALTIME/./}"; }
listening() { H run b -- ss -Hltn "sport = :$1" 2>/dev/null | grep -q .; }
in_netns_b() { [ "$(stat -L -c %i "/proc/$1/ns/net" 2>/dev/null)" = "$(stat -L -c %i "/run/netns/$prefix-b")" ]; }
jnum() { jq -r "$1 // empty" "$2" 2>/dev/null | head -1; }
round1() { [ -z "$1" ] || awk -v v="$1" 'BEGIN { printf "%.1f", v }'; }

# ---- one run: start, move, verify, end -------------------------------------------

# Sets: r_downtime r_frozen r_total r_bytes r_verified r_report_total r_rounds r_stop
move() { # METHOD PID DIR
  local method=$1 pid=$2 dir=$3 rc=0 t0 t1 t2 t3 t4
  r_frozen='' r_total='' r_bytes='' r_report_total='' r_rounds='' r_stop='' r_verified=''
  case $method in
    precopy|noprecopy)
      local extra=()
      [ "$method" = noprecopy ] && extra=(--precopy off)
      t0=$(us)
      H run a -- "$repo/bin/migrate" --to "$link_b:7700" --token-file "$token" --work-dir "$work/src" \
        --report "$dir/report.json" --quiet "${extra[@]}" "$pid" >"$dir/migrate.out" 2>&1 || rc=$?
      t1=$(us)
      r_total=$(ms_between "$t0" "$t1")
      if [ -f "$dir/report.json" ]; then
        r_frozen=$(round1 "$(jnum .frozenMs "$dir/report.json")")
        r_bytes=$(jnum .bytesOnWire "$dir/report.json")
        r_report_total=$(round1 "$(jnum .totalMs "$dir/report.json")")
        r_rounds=$(jq -r '.rounds | length' "$dir/report.json" 2>/dev/null || true)
        r_stop=$(jnum .precopy.stopReason "$dir/report.json")
      fi
      [ $rc -eq 0 ] || { r_verified="migrate-exit-$rc"; return 1; }
      ;;
    byhand)
      local images_a=$work/byhand/a images_b=$work/byhand/b port=7710 receiver
      rm -rf "$work/byhand"
      mkdir -p "$images_a" "$images_b"
      t0=$(us)
      # 1. The receiver on B, ready before anything stops.
      H run b -- bash -c "socat -u TCP-LISTEN:$port,bind=$link_b,reuseaddr - | tar -x -C '$images_b'" \
        </dev/null >"$dir/receive.out" 2>&1 &
      receiver=$!
      remember "$receiver"
      wait_until 20 "the receiver on B" listening "$port" || { r_verified="receiver-not-listening"; return 1; }
      # 2. Dump, leaving the source stopped.
      t1=$(us)
      if ! H run a -- "$criu" dump -t "$pid" -D "$images_a" -W "$dir" -o dump.log --leave-stopped >"$dir/byhand.out" 2>&1; then
        r_verified="criu-dump-failed"; return 1 # CRIU resumed the source; the receiver is ended by the caller
      fi
      t2=$(us)
      # 3. Copy across the link.
      if ! H run a -- bash -c "tar -c -C '$images_a' . | socat -u - TCP:$link_b:$port" >>"$dir/byhand.out" 2>&1 ||
        ! wait_until 60 "the receiver to finish" eval "! alive $receiver" || ! wait "$receiver"; then
        r_verified="copy-failed"; return 1
      fi
      t3=$(us)
      r_bytes=$(du -sb "$images_a" | cut -f1)
      # 4. Restore in B's agent namespace; the process runs when this returns.
      if ! H run b --agent-ns -- "$criu" restore -D "$images_b" -W "$dir" -o restore.log -d >>"$dir/byhand.out" 2>&1; then
        r_verified="criu-restore-failed"; return 1
      fi
      t4=$(us)
      # 5. The stopped source copy goes.
      end_pid "$pid"
      r_total=$(ms_between "$t0" "$(us)")
      r_frozen=$(ms_between "$t1" "$t4")
      printf 'dump_ms=%s copy_ms=%s restore_ms=%s bytes=%s\n' "$(ms_between "$t1" "$t2")" \
        "$(ms_between "$t2" "$t3")" "$(ms_between "$t3" "$t4")" "$r_bytes" >"$dir/byhand.times"
      rm -rf "$work/byhand"
      ;;
  esac
}

run_one() { # METHOD SIZE RATE LINK RUN
  local method=$1 size=$2 rate=$3 link=$4 run=$5 hot rate_arg pid restored here_pid dir status p0 gap0 gap load1
  if [ "$rate" -eq 0 ]; then
    hot=0 rate_arg=1
  else
    hot=$((size / 8)) rate_arg=$rate
    [ "$hot" -ge 1 ] || hot=1
  fi
  dir=$out/runs/$link-$size-$rate-$run-$method
  rm -rf "$dir"
  mkdir -p "$dir"
  status=$dir/status
  load1=$(cut -d' ' -f1 /proc/loadavg)
  r_downtime=
  pid=$(H spawn a -- "$bin/dirtier" "$status" "$size" "$hot" "$rate_arg")
  remember "$pid"
  if ! wait_until $((60 + size / 4)) "the dirtier's first passes" passes_at_least "$status" 2; then
    r_verified=workload-did-not-start r_frozen='' r_total='' r_bytes='' r_report_total='' r_rounds='' r_stop=''
  else
    gap0=$(field max_gap_us "$status")
    if move "$method" "$pid" "$dir"; then
      here_pid=
      restored=$pid
      [ -f "$dir/report.json" ] && restored=$(jnum .restoredPid "$dir/report.json")
      if here_pid=$(H pid b "$restored" 2>/dev/null) && in_netns_b "$here_pid"; then
        remember "$here_pid"
        p0=$(field passes "$status")
        if wait_until $((60 + size / 4)) "2 verification passes on B" passes_at_least "$status" $((p0 + 2)); then
          r_verified=$(field verify "$status")
          [ "$r_verified" = ok ] || r_verified="BAD-page-$(field page "$status")"
        else
          r_verified="no-pass-after-resume"
        fi
        gap=$(field max_gap_us "$status")
        r_downtime=$(awk -v g="$gap" 'BEGIN { printf "%.1f", g / 1000 }')
        # The freeze must be the longest gap of the workload's life; if not, say so.
        [ "$gap" -gt "$gap0" ] || r_verified="$r_verified;gap-not-new"
        end_pid "$here_pid"
      else
        r_verified="not-found-on-b"
      fi
    fi
  fi
  # Whatever is left of this run: the source (after a failure), a receiver.
  for p in "${!mine[@]}"; do end_pid "$p"; done
  printf '%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s\n' "$method" "$size" "$hot" "$rate" "$link" "$run" \
    "$r_downtime" "$r_frozen" "$r_total" "$r_bytes" "$r_verified" "$r_report_total" "$r_rounds" "$r_stop" "$load1" >>"$csv"
  log "$(printf '%-9s %5s MiB rate %3s link %-7s run %s: downtime %8s ms, frozen %8s ms, total %8s ms, %s' \
    "$method" "$size" "$rate" "$link" "$run" "${r_downtime:--}" "${r_frozen:--}" "${r_total:--}" "$r_verified")"
  [ "$r_verified" = ok ]
}

# ---- the matrix ----------------------------------------------------------------

mkdir -p "$out"
rm -rf "$out/runs"
csv=$out/results.csv
echo "method,size_mib,hot_mib,rate_mibs,link,run,downtime_ms,frozen_ms,total_ms,bytes,verified,report_total_ms,rounds,stop,load1" >"$csv"

log "lab '$prefix' up (a stale one from a crash is torn down first)"
lab_up --tmpfs
work=$(H path work) token=$(H path token)
link_b=$(H addr b)
bin=$work/bin
mkdir -p "$bin"
gcc -O2 -Wall -Werror -o "$bin/dirtier" "$repo/tests/workloads/dirtier.c"

started=$(date -u '+%Y-%m-%d %H:%M UTC')
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
t_start=$SECONDS
failures=0 total_runs=0
for link in "${link_list[@]}"; do
  H rate "$link" >&2
  for size in "${size_list[@]}"; do
    for rate in "${rate_list[@]}"; do
      for run in $(seq 1 "$runs"); do
        for method in "${method_list[@]}"; do
          total_runs=$((total_runs + 1))
          run_one "$method" "$size" "$rate" "$link" "$run" || failures=$((failures + 1))
        done
      done
    done
  done
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
elapsed=$((SECONDS - t_start))

# ---- results.md: medians (min-max) per cell and method ---------------------------

stats() { # the CSV -> one line per cell and method: keys, then n_ok/n and med min max of 4 columns
  awk -F, '
    function summary(key, col,   n, i, j, v, t, a) {
      n = 0
      for (i = 1; i <= cnt[key]; i++) { v = val[key, i, col]; if (v != "") a[++n] = v + 0 }
      if (n == 0) return "- - -"
      for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
      return sprintf("%.1f %.1f %.1f", (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2, a[1], a[n])
    }
    NR > 1 {
      key = $5 SUBSEP $2 SUBSEP $3 SUBSEP $4 SUBSEP $1
      if (!(key in cnt)) { order[++keys] = key; cnt[key] = 0; ok[key] = 0 }
      i = ++cnt[key]
      val[key, i, 1] = $7; val[key, i, 2] = $8; val[key, i, 3] = $9; val[key, i, 4] = ($10 == "" ? "" : $10 / 1048576)
      if ($11 == "ok") ok[key]++
    }
    END {
      for (k = 1; k <= keys; k++) {
        key = order[k]; split(key, f, SUBSEP)
        printf "%s %s %s %s %s %d %d %s %s %s %s\n", f[1], f[2], f[3], f[4], f[5], ok[key], cnt[key],
          summary(key, 1), summary(key, 2), summary(key, 3), summary(key, 4)
      }
    }' "$csv"
}
method_name() {
  case $1 in
    precopy) echo "migrate" ;;
    noprecopy) echo "migrate --precopy off" ;;
    byhand) echo "criu by hand" ;;
  esac
}
cell() { # MED MIN MAX
  if [ "$1" = - ]; then echo "–"; elif [ "$2" = "$3" ]; then echo "$1"; else echo "$1 ($2–$3)"; fi
}
{
  echo "Downtime matrix, $started, $(nproc) cores, Linux $(uname -r), CRIU $("$criu" --version | sed -n 's/^Version: //p'), migrate at $(git -C "$repo" rev-parse --short HEAD)$(git -C "$repo" diff --quiet HEAD -- src 2>/dev/null || echo '+uncommitted src')."
  echo
  echo "Command: \`$command_line\` ($total_runs runs in $((elapsed / 60)) min $((elapsed % 60)) s; load average before $load_before, after $load_after)."
  echo
  echo "Median (min–max) over the runs. Downtime: the workload's longest 1 ms-heartbeat gap (CLOCK_REALTIME). Frozen: migrate's frozenMs; by hand, dump start to restore return. Total: the whole move's wall time. Hot set = size/8 rewritten at the dirty rate (rate 0: no writes)."
  echo
  echo "| size MiB | dirty MiB/s | link | method | downtime ms | frozen ms | total ms | MiB on the link | verified |"
  echo "|---:|---:|---|---|---:|---:|---:|---:|---:|"
  stats | while read -r link size hot rate method okn n d1 d2 d3 f1 f2 f3 t1 t2 t3 b1 _; do
    printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s/%s |\n' "$size" "$rate" "$link" "$(method_name "$method")" \
      "$(cell "$d1" "$d2" "$d3")" "$(cell "$f1" "$f2" "$f3")" "$(cell "$t1" "$t2" "$t3")" "$b1" "$okn" "$n"
  done
  echo
  echo "$failures of $total_runs runs failed to migrate or verify."
} >"$out/results.md"

# ---- downtime.png: bars of medians, whiskers min-max ------------------------------

dat=$out/plot.dat
{
  echo "# cell, then per method (${method_list[*]}): downtime med min max; then per method: total med min max"
  stats | awk -v methods="$methods" '
    BEGIN { nm = split(methods, m, ",") }
    { cell = $2 "M/" $4 "MiBs/" $1; if (!(cell in seen)) { seen[cell] = 1; order[++n] = cell }
      d[cell, $5] = $8 " " $9 " " $10; t[cell, $5] = $14 " " $15 " " $16 }
    END {
      for (i = 1; i <= n; i++) {
        line = order[i]
        for (j = 1; j <= nm; j++) line = line " " ((order[i], m[j]) in d ? d[order[i], m[j]] : "- - -")
        for (j = 1; j <= nm; j++) line = line " " ((order[i], m[j]) in t ? t[order[i], m[j]] : "- - -")
        gsub(/ -/, " NaN", line); print line
      }
    }'
} >"$dat"
cells=$(grep -vc '^#' "$dat")
nm=${#method_list[@]}
plot_cmd() { # FIRST_COLUMN: a histogram of nm methods starting at that column
  local first=$1 j parts=()
  for ((j = 0; j < nm; j++)); do
    local c=$((first + 3 * j))
    parts+=("'$dat' using $c:$((c + 1)):$((c + 2))$([ $j -eq 0 ] && echo ':xtic(1)') title '$(method_name "${method_list[$j]}")' lc $((j + 1))")
  done
  local IFS=,
  echo "${parts[*]}"
}
gnuplot <<EOF || log "warning: gnuplot failed; no downtime.png"
set terminal pngcairo size $((500 + cells * 110)),900 font ',10'
set output '$out/downtime.png'
set datafile missing 'NaN'
set style data histogram
set style histogram errorbars gap 1 lw 1
set style fill solid 0.7 border -1
set key outside top center horizontal
set grid ytics
set xtics rotate by -25
set multiplot layout 2,1 title 'Downtime lab: $(nproc) cores, medians (bars) and min-max (whiskers) of $runs runs; x: size/dirty rate/link'
set ylabel 'downtime, ms (heartbeat gap)'
set yrange [0:*]
plot $(plot_cmd 2)
set ylabel 'total time, ms (wall)'
plot $(plot_cmd $((2 + 3 * nm)))
unset multiplot
EOF

log "wrote $csv, $out/results.md, $out/downtime.png"
cat "$out/results.md"
[ $failures -eq 0 ]
