#!/usr/bin/env bash
# Runs CRIU's zdtm static tests through migrate and through plain CRIU by hand,
# side by side, and ends with the line
#   zdtm: migrate N passed, criu K passed, of M
#
#   scripts/zdtm.sh [--table FILE] [--logs DIR] [TEST...]
#   scripts/zdtm.sh --list [TEST...]
#
# TEST is a static test's name (env00, or zdtm/static/env00); without one, every
# test that the selection below admits runs. Exits 0 when migrate passed at
# least as many tests as CRIU, 1 when it passed fewer or the run failed, 2 on
# bad arguments. --table writes the results as a
# Markdown table (test, migrate, criu, reason); --logs keeps each failed run's
# logs under DIR/TEST/SIDE; --list prints the tests that would run, and why the
# others would not, and runs nothing.
#
# The suite is built once from the CRIU tarball that setup caches and kept under
# $MIGRATE_CACHE (default /var/cache/migrate). Each test runs twice, each time in
# fresh namespaces:
#   source   a sandbox of its own PID, mount, UTS, IPC and network namespaces,
#            where the test starts and where CRIU dumps it (or migrate moves it);
#   target   another such set, where it is restored: by `criu restore` by hand,
#            or by a migrate-target that is PID 1 there.
# CRIU and migrate run inside the source sandbox, so the test shares their
# namespaces: zdtm's "h" (host) flavour, without touching the host's. Both
# sides get the same CRIU options: those the test's .desc file asks for. A
# test that holds a lock, a lease or a FIFO in its directory gets a target
# with a copy of that directory of its own (needs_own_directory).
# Then the test is sent SIGTERM where it was restored, checks itself and
# writes PASS or FAIL in its .out file (CRIU's test/zdtm/lib/test.c, zdtm.py).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=lib/packages.sh
source "$repo/scripts/lib/packages.sh"
# shellcheck source=lib/agents.sh
source "$repo/scripts/lib/agents.sh"
cache=${MIGRATE_CACHE:-/var/cache/migrate}
criu_version=4.2.1
criu_tarball=$cache/criu_${criu_version}.orig.tar.xz
criu_sha256=29ec0ee09e296479fe7048c80980e8ef1d0684d0b0204c2b101dfea19f6725b9
# What the suite's Makefiles link against (test/zdtm/static/Makefile, lib/Makefile)
# besides the C toolchain and CRIU's own build dependencies, which setup installs.
zdtm_packages=(build-essential pkgconf libaio-dev libcap-dev libnl-3-dev libnl-route-3-dev
               libprotobuf-c-dev protobuf-c-compiler protobuf-compiler)
# zdtm.py's identity for tests without the 'suid' flag ("Numbers should match those in criu").
zdtm_uid=18943 zdtm_gid=58467 zdtm_groups="27495 48244"
# Seconds a step may take before it counts as failed: a test's start and its
# check (zdtm.py's default, a .desc may ask for more), CRIU's dump and restore,
# one whole migration.
step_timeout=30 criu_timeout=120 migrate_timeout=300
# The two sandboxes of a migration talk over a veth pair of their own.
source_address=10.251.0.1 target_address=10.251.0.2

log() { printf 'zdtm: %s\n' "$*" >&2; }
die() { printf 'zdtm: error: %s\n' "$*" >&2; exit 1; }

usage() { sed -n '2,/^set -euo/{/^set -euo/d; s/^# \{0,1\}//p}' "${BASH_SOURCE[0]}"; }

table='' logs='' list=''
tests=()
while [ $# -gt 0 ]; do
  case $1 in
    --table) table=${2:?--table needs a file}; shift 2 ;;
    --logs) logs=${2:?--logs needs a directory}; shift 2 ;;
    --list) list=1; shift ;;
    -h|--help) usage; exit 0 ;;
    -*) usage >&2; exit 2 ;;
    *) tests+=("${1##*/}"); shift ;;
  esac
done

[ "$(id -u)" -eq 0 ] || die "run as root: CRIU and the namespaces need it"
[ -x "$repo/bin/migrate" ] && [ -x "$repo/bin/migrate-target" ] || die "no bin/migrate: run scripts/setup.sh first"
command -v criu >/dev/null || die "no criu on PATH: run scripts/setup.sh first"

# --- the suite ---------------------------------------------------------------

# Builds test/zdtm from the verified tarball into the cache, once, and records
# each static test's command line as its Makefile would run it (the %.pid rules
# in test/zdtm/static/Makefile) in static/zdtm-commands. Sets $static.
build_suite() {
  local key dir work lock names
  [ -f "$criu_tarball" ] && echo "$criu_sha256  $criu_tarball" | sha256sum -c --quiet - >/dev/null 2>&1 \
    || die "$criu_tarball is missing or does not match its checksum: run scripts/setup.sh first"
  # The key covers the tarball and this recipe, so a changed recipe builds anew.
  key=$({ echo "$criu_sha256"; declare -f build_suite; echo "${zdtm_packages[*]}"; } | sha256sum | cut -c1-16)
  dir=$cache/zdtm-$criu_version-$key
  static=$dir/criu-$criu_version/test/zdtm/static
  [ -f "$dir/.built" ] && return
  ensure_packages "${zdtm_packages[@]}" || die "the packages above are needed to build zdtm"
  exec {lock}>"$cache/zdtm.lock"
  flock "$lock"
  if [ ! -f "$dir/.built" ]; then
    log "building the zdtm suite from $criu_tarball (a few minutes)"
    work=$(mktemp -d "$cache/zdtm-build.XXXXXX")
    tar -xf "$criu_tarball" -C "$work"
    make -C "$work/criu-$criu_version/test/zdtm" -j"$(nproc)" >"$work/build.log" 2>&1 \
      || { tail -20 "$work/build.log" >&2; die "zdtm build failed (log: $work/build.log)"; }
    names=$(make -s --no-print-directory -C "$work/criu-$criu_version/test/zdtm/static" \
              --eval 'zdtm-names: ; @echo $(TST)' zdtm-names)
    # shellcheck disable=SC2046 # one target per test
    make -s -n --no-print-directory -C "$work/criu-$criu_version/test/zdtm/static" $(printf '%s.pid ' $names) 2>/dev/null \
      | grep '^\./' >"$work/criu-$criu_version/test/zdtm/static/zdtm-commands"
    chmod 0755 "$work"
    rm -rf "$dir"
    mv "$work" "$dir"
    touch "$dir/.built"
  fi
  exec {lock}>&-
}

# Every static test's command line, and the string values of the .desc files
# (Python dict literals: {'flavor': 'h ns', 'flags': 'suid', ...}), read once.
declare -A commands=() descs=()
load_suite() {
  local line t key value
  while read -r line; do
    t=${line%% *}
    commands[${t#./}]=$line
  done <"$static/zdtm-commands"
  while IFS=$'\t' read -r t key value; do
    descs[$t:$key]=$value
  done < <(cd "$static" && grep -o "'[a-z_]*' *: *'[^']*'" -- *.desc \
             | sed "s/^\(.*\)\.desc:'\([a-z_]*\)' *: *'\(.*\)'\$/\1\t\2\t\3/")
}

# The value of KEY in test T's .desc file, if any.
desc() { printf '%s' "${descs[$1:$2]:-}"; }

has_flag() { case " ${descs[$1:flags]:-} " in *" $2 "*) return 0 ;; esac; return 1; }

declare -A criu_features=()
criu_feature() {
  [ -n "${criu_features[$1]:-}" ] || { criu check --feature "$1" >/dev/null 2>&1 && criu_features[$1]=yes || criu_features[$1]=no; }
  [ "${criu_features[$1]}" = yes ]
}

# Sets $why to why test T does not run here, or to nothing if it does. The rules are
# zdtm.py's for the h flavour (its main loop: arch, noauto, feature, checkskip,
# flavor), plus those of this harness: zdtm's 'crfail' tests are meant to fail
# CRIU, and tests with a .hook need zdtm.py's hook machinery.
not_run_because() {
  local t=$1 flavor=${descs[$1:flavor]:-h ns uns} arch=${descs[$1:arch]:-} feature
  why=
  if [ -z "${commands[$t]:-}" ]; then why="not a static test built here"
  elif [[ " $flavor " != *" h "* ]]; then why="no h flavour ($flavor)"
  elif [ -n "$arch" ] && [ "$arch" != "$(uname -m)" ]; then why="for $arch only"
  elif has_flag "$t" noauto; then why="noauto: zdtm runs it by hand only"
  elif has_flag "$t" crfail; then why="crfail: zdtm expects CRIU to fail it"
  # Restored into another network namespace, as a migration does, the test's
  # peer outside the dumped tree is not there; zdtm skips these too when it
  # restores into another one (--join-ns).
  elif has_flag "$t" samens; then why="samens: needs its restore in the network namespace it was dumped in"
  elif [ -e "$static/$t.hook" ]; then why="needs zdtm.py's hook $t.hook"
  fi
  [ -z "$why" ] || return 0
  for feature in ${descs[$t:feature]:-}; do
    criu_feature "$feature" || { why="CRIU feature $feature is missing here"; return 0; }
  done
  if [ -x "$static/$t.checkskip" ] && ! (cd "$static" && "./$t.checkskip" >/dev/null 2>&1); then
    why="$t.checkskip says skip"
  fi
}

# Maps the CRIU options a test's .desc asks for to migrate's. Prints them, or
# fails naming the first option migrate has no way to pass.
migrate_options() {
  local t=$1 option
  # shellcheck disable=SC2046 # one option or value per word
  set -- $(desc "$t" opts) $(desc "$t" dopts) $(desc "$t" ropts)
  while [ $# -gt 0 ]; do
    option=$1
    shift
    case $option in
      --tcp-established|--tcp-close|--skip-in-flight|--file-locks|--link-remap|--ext-unix-sk) echo "$option" ;;
      --ghost-limit) echo "$option $1"; shift ;;
      # How CRIU reads a sparse deleted file's content (with FIEMAP or by
      # SEEK_DATA), not what it dumps: migrate leaves CRIU's default.
      --ghost-fiemap|--no-ghost-fiemap) ;;
      # The lock migrate takes for --tcp-established is nftables already.
      --network-lock) [ "$1" = nftables ] || { echo "$option $1"; return 1; }; shift ;;
      # CRIU's default cgroup mode is soft (criu/include/cr_options.h), and
      # migrate leaves it so.
      --manage-cgroups|--manage-cgroups=soft) ;;
      *) echo "$option"; return 1 ;;
    esac
  done
  # zdtm leaves 'nolazy' tests out of lazy restores; migrate restores lazily by default.
  has_flag "$t" nolazy && echo "--restore eager"
  return 0
}

# --- sandboxes ---------------------------------------------------------------

live_sandboxes=()
# Set by sandbox_start.
source_pid='' target_pid=''

# sandbox_start NAME COMMAND...: starts COMMAND as PID 1 of fresh PID, mount,
# UTS, IPC and network namespaces. Sets ${NAME}_pid (PID 1 there, as this
# shell sees it); the unshare process, whose end ends them, goes into
# live_sandboxes.
sandbox_start() {
  local name=$1 unshare_pid pid
  shift
  unshare --pid --fork --mount-proc --kill-child --mount --uts --ipc --net -- "$@" &
  unshare_pid=$!
  live_sandboxes+=("$unshare_pid")
  until pid=$(cat "/proc/$unshare_pid/task/$unshare_pid/children" 2>/dev/null) && [ -n "$pid" ]; do
    kill -0 "$unshare_pid" 2>/dev/null || return 1
    sleep 0.05
  done
  printf -v "${name}_pid" %s "${pid% }"
}

# Ends the sandbox whose unshare is PID: unshare's --kill-child takes PID 1
# there with it, and with it every process in the namespace.
sandbox_stop() {
  local pid=$1 i
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  for i in "${!live_sandboxes[@]}"; do
    [ "${live_sandboxes[$i]}" = "$pid" ] && unset 'live_sandboxes[i]'
  done
  return 0
}

# in_sandbox PID COMMAND...: runs COMMAND in the namespaces of PID (the
# sandbox's PID 1), with its /proc.
in_sandbox() {
  local pid=$1
  shift
  nsenter --target "$pid" --mount --uts --ipc --net --pid -- "$@"
}

# in_sandbox_at PID DIR LOG COMMAND...: the same, in directory DIR, with no
# input, its output appended to LOG, and no other descriptor of ours: a test
# must own every file it holds, as zdtm.py's close_fds gives it. Directory and
# files are opened inside: nsenter's --wd, or a redirection here, would open
# them before entering the mount namespace, on a mount of the host's, which
# CRIU cannot find in the sandbox's ("Can't lookup mount=N", criu/files-reg.c).
in_sandbox_at() {
  local pid=$1 dir=$2 log=$3
  shift 3
  # shellcheck disable=SC2016 # expanded by the inner bash
  in_sandbox "$pid" bash -c '
    for fd in /proc/self/fd/*; do
      fd=${fd##*/}
      [ "$fd" -gt 2 ] && eval "exec $fd>&-" 2>/dev/null
    done
    cd "$1" && log=$2 && shift 2 && exec "$@" </dev/null >>"$log" 2>&1' bash "$dir" "$log" "$@"
}

# Gives the sandbox whose PID 1 is PID a devpts instance of its own, as each
# host has: otherwise a pseudo-terminal's index, which CRIU restores as it was
# (criu/tty.c), would still be taken by the stopped source copy during a
# migration. zdtm's ns flavour does the same (test/zdtm/lib/ns.c).
sandbox_own_ptys() {
  nsenter --target "$1" --mount -- sh -c \
    'mount -t devpts -o newinstance,ptmxmode=0666,mode=620 devpts /dev/pts && mount --bind /dev/pts/ptmx /dev/ptmx'
}

# Connects sandboxes S and T (their PID 1s) with a veth pair and brings up
# loopback in both; S is $source_address, T $target_address. Both get their
# own pseudo-terminals.
sandbox_connect() {
  local s=$1 t=$2
  sandbox_own_ptys "$s" && sandbox_own_ptys "$t" || return 1
  nsenter --target "$s" --net -- ip link add zdtm-s type veth peer name zdtm-t netns "$t" || return 1
  nsenter --target "$s" --net -- sh -c "ip link set lo up && ip addr add $source_address/30 dev zdtm-s && ip link set zdtm-s up" || return 1
  nsenter --target "$t" --net -- sh -c "ip link set lo up && ip addr add $target_address/30 dev zdtm-t && ip link set zdtm-t up"
}

# --- one test ----------------------------------------------------------------

# Starts test T in sandbox S (PID 1) with RUN as its working directory, as
# zdtm.py does for the h flavour; prints its PID there. The test's first
# process exits once the test is ready, after writing the PID file.
start_test() {
  local t=$1 s=$2 run=$3 command=() timeout env=()
  # The Makefile's command line, split as make's shell would (no quoting in them).
  read -ra command <<<"${commands[$t]}"
  timeout=$(desc "$t" timeout)
  env=(PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin TMPDIR=/tmp)
  has_flag "$t" suid || env+=("ZDTM_UID=$zdtm_uid" "ZDTM_GID=$zdtm_gid" "ZDTM_GROUPS=$zdtm_groups")
  # Later PIDs there stay clear of those the restore needs: the target's own
  # processes start from 1.
  in_sandbox "$s" sh -c 'echo 9999 >/proc/sys/kernel/ns_last_pid'
  in_sandbox_at "$s" "$run" "$run/start.log" timeout "${timeout:-$step_timeout}" \
    env -i "${env[@]}" "$static/${command[0]#./}" "${command[@]:1}" || return 1
  cat "$run/$t.pid"
}

# Sends test T (PID in the namespaces of sandbox PID 1 HOLDER) SIGTERM, waits
# for it to end and judges its .out file in RUN as zdtm.py does: PASS among the
# words of its last line. Prints the reason for a failure.
finish_test() {
  local t=$1 holder=$2 pid=$3 run=$4 timeout
  timeout=$(desc "$t" timeout)
  in_sandbox "$holder" kill -TERM "$pid" 2>/dev/null || { echo "the restored test is not running"; return 1; }
  # Ended once it is gone or a zombie: PID 1 there need not reap it.
  if ! in_sandbox "$holder" timeout "${timeout:-$step_timeout}" sh -c \
      'while [ -e /proc/$0 ] && [ "$(cut -d" " -f3 /proc/$0/stat 2>/dev/null)" != Z ]; do sleep 0.1; done' "$pid"; then
    echo "the test did not finish within ${timeout:-$step_timeout} s of SIGTERM"
    return 1
  fi
  [ -f "$run/$t.out" ] || { echo "the test wrote no result"; return 1; }
  tail -n1 "$run/$t.out" | tr -s ' \t' '\n\n' | grep -qx PASS && return 0
  grep -m1 -o 'FAIL:.*' "$run/$t.out" || echo "no PASS in $t.out: $(tail -n1 "$run/$t.out")"
  return 1
}

# The first error CRIU logged in LOG, or its last line. Not the one CRIU always
# logs here: root lacks CAP_SYS_RESOURCE, so it cannot raise its own
# RLIMIT_NOFILE (harmless, /work/shared/ENVIRONMENT.md).
criu_error() {
  { grep 'Error (' "$1" | grep -v -m1 "Can't setup RLIMIT_NOFILE for self" || tail -n1 "$1"; } 2>/dev/null \
    | sed 's/^([ 0-9.]*) *//'
}

# Why test T did not start in RUN: the last line it or its start wrote.
start_error() {
  local t=$1 run=$2
  echo "the test did not start: $(cat "$run/start.log" "$run/$t.out.inprogress" "$run/$t.out" 2>/dev/null | grep . | tail -n1)"
}

# run_criu T RUN: dump in one sandbox, restore in another, by hand. Sets
# $reason and fails if the test does not pass.
run_criu() {
  local t=$1 run=$2 pid dump_options=() restore_options=()
  read -ra dump_options <<<"$(desc "$t" opts) $(desc "$t" dopts)"
  read -ra restore_options <<<"$(desc "$t" opts) $(desc "$t" ropts)"
  # migrate locks the network with nftables when it moves TCP connections
  # (src/Engine/Criu/CriuClient.cs); CRIU's default, iptables, is not installed.
  case " ${dump_options[*]} " in
    *" --tcp-established "*) dump_options+=(--network-lock nftables); restore_options+=(--network-lock nftables) ;;
  esac
  sandbox_start source sleep infinity && sandbox_start target sleep infinity \
    && sandbox_connect "$source_pid" "$target_pid" || { reason="could not make the namespaces"; return 1; }
  pid=$(start_test "$t" "$source_pid" "$run") || { reason=$(start_error "$t" "$run"); return 1; }
  mkdir -p "$run/images"
  in_sandbox_at "$source_pid" "$run/images" "$run/criu.out" timeout "$criu_timeout" \
    criu dump --tree "$pid" --images-dir "$run/images" --log-file dump.log -v4 "${dump_options[@]}" \
    || { reason="criu dump: $(criu_error "$run/images/dump.log")"; return 1; }
  in_sandbox_at "$target_pid" "$run/images" "$run/criu.out" timeout "$criu_timeout" \
    criu restore --images-dir "$run/images" --log-file restore.log -v4 --restore-detached "${restore_options[@]}" \
    || { reason="criu restore: $(criu_error "$run/images/restore.log")"; return 1; }
  reason=$(finish_test "$t" "$target_pid" "$pid" "$run")
}

# Whether test T holds a kernel object that a file in its directory names: a
# lock or lease (the tests that ask for --file-locks) or a named FIFO's
# buffer. By hand, CRIU's dump kills the test before the restore takes the
# object again. migrate keeps the source copy frozen until the target's has
# been restored, as it must: on one kernel the restore would wait for the
# source copy's lock, break its lease, or find the FIFO's data still in the
# frozen copy's FIFO. Two hosts have two kernels and two disks, so for these
# tests the target gets a copy of the test's directory of its own.
needs_own_directory() {
  [[ " $(desc "$1" opts) " == *" --file-locks "* ]] || [[ $1 == fifo || $1 == fifo_ro ]]
}

# Gives the migrate-target whose PID 1 is HOLDER a copy of RUN, made now, at
# RUN in its mount namespace (a private one: unshare's default propagation).
# What the restored test writes there lands in COPY. A file under a lease is
# not opened, since an open for reading breaks a write lease: it must be
# empty, and its copy is made empty, with the same owner, mode and times.
target_own_directory() {
  local holder=$1 run=$2 copy=$3 leased file
  # /proc/locks: "ID: LEASE STATE TYPE PID MAJ:MIN:INODE START END"; waiters' lines have a "->" more.
  leased=" $(awk '$2 == "LEASE" { n = split($6, id, ":"); print id[n] }' /proc/locks | tr '\n' ' ') "
  mkdir "$copy" && chmod --reference="$run" "$copy" && chown --reference="$run" "$copy" || return 1
  for file in "$run"/* "$run"/.[!.]*; do
    [ -e "$file" ] || [ -L "$file" ] || continue
    if [[ $leased == *" $(stat -c %i "$file") "* ]]; then
      [ -f "$file" ] && [ ! -s "$file" ] || return 1
      touch "$copy/${file##*/}" && chown --reference="$file" "$copy/${file##*/}" \
        && chmod --reference="$file" "$copy/${file##*/}" && touch --reference="$file" "$copy/${file##*/}" || return 1
    else
      cp -a "$file" "$copy/" || return 1
    fi
  done
  touch --reference="$run" "$copy" && nsenter --target "$holder" --mount -- mount --bind "$copy" "$run"
}

# run_migrate T RUN: migrate from one sandbox to a migrate-target in another.
# Sets $reason and fails if the test does not pass.
run_migrate() {
  local t=$1 run=$2 pid options restored status=0 source_prefix results=$2
  options=$(migrate_options "$t") || { reason="migrate has no option for CRIU's ${options##*$'\n'}"; return 1; }
  sandbox_start source sleep infinity || { reason="could not make the namespaces"; return 1; }
  agent_target_start "$run" --mount --uts --ipc --net || status=$?
  [ -n "${AGENT_TARGET_UNSHARE:-}" ] && live_sandboxes+=("$AGENT_TARGET_UNSHARE")
  [ "$status" -eq 0 ] || { reason="migrate-target did not start: $(tail -n1 "$run/target.log")"; return 1; }
  sandbox_connect "$source_pid" "$AGENT_TARGET_PID" || { reason="could not link the namespaces"; return 1; }
  pid=$(start_test "$t" "$source_pid" "$run") || { reason=$(start_error "$t" "$run"); return 1; }
  if needs_own_directory "$t"; then
    results=$run.target
    target_own_directory "$AGENT_TARGET_PID" "$run" "$results" || { reason="could not give the target a directory of its own"; return 1; }
  fi
  # shellcheck disable=SC2034 # read through agent_migrate's nameref
  source_prefix=(in_sandbox_at "$source_pid" "$run" "$run/migrate.out" timeout "$migrate_timeout")
  # shellcheck disable=SC2086 # one option per word
  agent_migrate source_prefix "$run" "$target_address:$AGENT_TARGET_PORT" "$pid" $options || status=$?
  if [ "$status" -ne 0 ]; then
    reason="migrate exit $status: $(agent_report_field "$run" error | grep . || tail -n1 "$run/migrate.out")"
    return 1
  fi
  restored=$(agent_report_field "$run" restoredPid)
  reason=$(finish_test "$t" "$AGENT_TARGET_PID" "${restored:-$pid}" "$results")
}

# What zdtm's tests could change on the host if they escaped their namespaces.
host_state() { printf '%s %s\n' "$(cat /proc/sys/kernel/hostname)" "$(cat /proc/sys/kernel/domainname)"; }

# run_side SIDE T: runs T one way in a fresh directory, cleans up after it and
# sets $result to "pass" or "fail: REASON".
run_side() {
  local side=$1 t=$2 run pid status=0
  run=$work/$t-$side
  reason=
  mkdir -p "$run"
  # Tests without 'suid' run as zdtm's user and write their files here.
  chmod 0777 "$run"
  "run_$side" "$t" "$run" || status=$?
  for pid in "${live_sandboxes[@]}"; do sandbox_stop "$pid"; done
  if [ "$status" -eq 0 ]; then
    result=pass
  else
    result="fail: ${reason:-exit $status}"
    if [ -n "$logs" ]; then
      mkdir -p "$logs/$t"
      rm -rf "${logs:?}/$t/$side"
      cp -a "$run" "$logs/$t/$side"
      [ -d "$run.target" ] && cp -a "$run.target" "$logs/$t/$side/target-directory"
    fi
  fi
  rm -rf "$run" "$run.target"
}

cleanup() {
  local pid
  for pid in "${live_sandboxes[@]}"; do sandbox_stop "$pid"; done
  [ -n "${work:-}" ] && rm -rf "$work"
  return 0
}

# --- main --------------------------------------------------------------------

build_suite
load_suite
if [ ${#tests[@]} -eq 0 ]; then
  read -ra tests <<<"$(printf '%s\n' "${!commands[@]}" | sort | tr '\n' ' ')"
  explicit=
else
  explicit=1
fi

selected=()
for t in "${tests[@]}"; do
  not_run_because "$t"
  if [ -z "$why" ]; then
    selected+=("$t")
    [ -n "$list" ] && echo "$t"
  elif [ -n "$list" ] || [ -n "$explicit" ]; then
    log "not run: $t: $why"
  fi
done
[ -n "$list" ] && exit 0
[ ${#selected[@]} -gt 0 ] || die "no test to run"

work=$(mktemp -d /tmp/migrate-zdtm.XXXXXX)
# zdtm's user must reach the test directories below.
chmod 0755 "$work"
trap cleanup EXIT
trap 'exit 130' INT TERM
host_before=$(host_state)
[ -n "$table" ] && printf '| test | migrate | criu | reason |\n|---|---|---|---|\n' >"$table"

migrate_passed=0 criu_passed=0 started=$SECONDS
for t in "${selected[@]}"; do
  run_side migrate "$t"
  m=$result
  run_side criu "$t"
  c=$result
  [ "$m" = pass ] && migrate_passed=$((migrate_passed + 1))
  [ "$c" = pass ] && criu_passed=$((criu_passed + 1))
  reason=
  [ "$m" = pass ] || reason="migrate: ${m#fail: }"
  [ "$c" = pass ] || reason="${reason:+$reason; }criu: ${c#fail: }"
  log "$t: migrate ${m%%:*}, criu ${c%%:*}${reason:+ ($reason)}"
  [ -n "$table" ] && printf '| %s | %s | %s | %s |\n' "$t" "${m%%:*}" "${c%%:*}" "${reason//|/\\|}" >>"$table"
  if [ "$(host_state)" != "$host_before" ]; then
    die "$t changed the host's hostname or domain name (was: $host_before; now: $(host_state))"
  fi
done
log "${#selected[@]} tests in $((SECONDS - started)) s"
echo "zdtm: migrate $migrate_passed passed, criu $criu_passed passed, of ${#selected[@]}"
[ "$migrate_passed" -ge "$criu_passed" ]
