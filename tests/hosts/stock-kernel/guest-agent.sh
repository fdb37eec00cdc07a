#!/bin/bash
# PID 1 of the stock-kernel guest, after init.sh's switch_root into this machine's
# root (shared read-only over 9p) with everything mounted. Run by the guest's
# kernel, never on the host.
#
#   guest-agent.sh EXCHANGE TOKEN
#
# It writes "TOKEN KERNEL-RELEASE" to EXCHANGE/.stock-kernel/ready, then serves the
# requests host.sh exec drops into that directory:
#   ID.sh   bash assignments: dir=... (cwd) and argv=(...) (the command)
#   ID.req  "run TIMEOUT" or "detach"; written after ID.sh, renamed into place
# and answers with ID.out, ID.err, ID.rc (exit code) and, for detach, ID.pid.
# Answers are one write of a newline-terminated line; host.sh only takes a line
# once its newline is there. The file "poweroff" there powers the guest off.
#
# Every exec of a binary from the 9p root is slow under emulation, so the loop runs
# on bash builtins only, and a request costs as few execs as possible.
# No "set -e": if PID 1 exits, the guest kernel panics.
set -u
shopt -s nullglob

exchange=$1 token=$2
ctl=$exchange/.stock-kernel
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root LANG=C.UTF-8

# Uptime-stamped, like the kernel's lines, to see where boot time goes.
log() {
  local up _
  read -r up _ </proc/uptime
  echo "[$up] stock-kernel agent: $*"
}
power_off() {
  sync
  /bin/busybox poweroff -f
  echo o >/proc/sysrq-trigger
}
fail() {
  log "error: $*"
  power_off
}

[ -d "$ctl" ] || fail "$ctl missing: host.sh start creates it before booting"

# A sleep without fork: read with a timeout on a FIFO nobody writes to. Children
# get fd 9 closed so the FIFO does not end up in their CRIU images.
{ mkfifo /run/stock-kernel-tick && exec 9<>/run/stock-kernel-tick; } || fail "cannot create the tick FIFO"
tick() { read -r -t "$1" -u 9 _ || true; }

# run: the subshell sources the request, then "timeout" runs the command (its
# signal handlers also undo bash's SIGINT/SIGQUIT ignoring for background jobs).
run_request() {
  local id=$1 limit=$2
  (
    dir=/ argv=()
    # shellcheck source=/dev/null # sets dir and argv
    source "$ctl/$id.sh"
    cd -- "$dir" 2>/dev/null || cd /
    exec timeout --kill-after=5 "$limit" "${argv[@]}"
  ) </dev/null >"$ctl/$id.out" 2>"$ctl/$id.err" 9<&-
  echo "$?" >"$ctl/$id.rc"
}

# detach: the background subshell itself execs the command, so $! is its PID.
# env --default-signal undoes bash's SIGINT/SIGQUIT ignoring (CRIU would carry
# it along); setsid gives it its own session (CRIU dumps need that; host.sh
# adds it unless the command starts with it). The PID is reported once the
# command itself runs (past env and setsid), or once it died (then the exit code
# first), so host.sh can tell "started" from "failed at once".
mapfile -d '' agent_argv </proc/$$/cmdline
detach_request() {
  local id=$1 pid i dead='' argv stat
  (
    dir=/ argv=()
    # shellcheck source=/dev/null # sets dir and argv
    source "$ctl/$id.sh"
    cd -- "$dir" 2>/dev/null || cd /
    exec env --default-signal "${argv[@]}"
  ) </dev/null >"$ctl/$id.out" 2>"$ctl/$id.err" 9<&- &
  pid=$!
  for ((i = 0; i < 1200; i++)); do
    stat=
    read -r stat </proc/$pid/stat 2>/dev/null
    stat=${stat##*) }
    [[ -n $stat && $stat != [ZX]* ]] || { dead=1; break; } # it failed or ended
    argv=()
    mapfile -d '' argv </proc/$pid/cmdline 2>/dev/null
    # Still on the way: the forked agent, then env, then setsid, each exec'ing
    # the next one. An empty command line: caught in the middle of an exec.
    if [ ${#argv[@]} -gt 0 ] && [ "${argv[*]}" != "${agent_argv[*]}" ] \
       && [ "${argv[0]}" != env ] && [ "${argv[0]##*/}" != setsid ]; then
      break
    fi
    tick 0.05
  done
  if [ -n "$dead" ]; then
    wait "$pid"
    echo "$?" >"$ctl/$id.rc"
    echo "$pid" >"$ctl/$id.pid"
    return
  fi
  echo "$pid" >"$ctl/$id.pid"
  wait "$pid"
  echo "$?" >"$ctl/$id.rc"
}

read -r kver </proc/sys/kernel/osrelease
echo "$token $kver" >"$ctl/ready" || fail "cannot write $ctl/ready"
log "ready: kernel $kver, exchange $exchange"

# host.sh deletes a request's files once it has the answer; until then the
# agent remembers which requests it already started (no exec for rm here).
declare -A seen=()
while :; do
  if [ -e "$ctl/poweroff" ]; then
    log "powering off"
    power_off
  fi
  for req in "$ctl"/*.req; do
    id=${req##*/}
    id=${id%.req}
    [ -n "${seen[$id]:-}" ] && continue
    seen[$id]=1
    mode='' limit=''
    read -r mode limit <"$req"
    case "$mode" in
      run) run_request "$id" "${limit:-0}" & ;;
      detach) detach_request "$id" & ;;
      *)
        echo "stock-kernel agent: unknown request mode '$mode'" >"$ctl/$id.err"
        echo 2 >"$ctl/$id.rc"
        ;;
    esac
  done
  tick 0.1
done
