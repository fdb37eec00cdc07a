#!/usr/bin/env bash
# The downtime lab's hosts: network namespaces on this machine.
#
#   hosts.sh up     [--prefix P] [--rate RATE] [--agents] [--tmpfs]
#   hosts.sh down   [--prefix P]
#   hosts.sh status [--prefix P]
#   hosts.sh agent  HOST [--prefix P] [--port N] [--tmpfs]   start HOST's target agent
#   hosts.sh agent-stop HOST [--prefix P]
#   hosts.sh run    HOST [--prefix P] [--agent-ns] -- CMD...  run CMD on HOST, in the foreground
#   hosts.sh spawn  HOST [--prefix P] [--log FILE] -- CMD...  start CMD detached on HOST, print its PID
#   hosts.sh rate   RATE|off [--prefix P]                     (re)set the A<->B link's limit
#   hosts.sh service HOST [--prefix P]                        send the clients' service traffic to HOST
#   hosts.sh addr   HOST|service [--prefix P]                 print an address (for scripts)
#   hosts.sh pid    HOST NSPID [--prefix P]                   machine PID of PID NSPID under HOST's agent
#   hosts.sh path   work|state|token [--prefix P]             print a lab path (for scripts)
#
# HOST is a, b or c (or P-a, P-b, P-c). P defaults to "lab".
#
#   P-a  tob 10.77.0.1/24 ----- migration link (tbf RATE) ----- toa 10.77.0.2/24  P-b
#        toc 10.77.1.1/24 ---+                             +--- toc 10.77.1.2/24
#                            |   P-c: bridge br0 10.77.1.254/24 over toa, tob (the clients)
#   service address 10.77.100.1/32 on lo of both P-a and P-b; P-c routes it to
#   the host that runs the service (`service a|b`), initially P-a.
#
# Why nsenter and not `ip netns exec`: `ip netns exec` also unshares a new mount
# namespace (to remount /sys) for every command. A workload and the migrate CLI
# started that way sit in two different mount namespaces, CRIU sees a foreign
# one ("Will take mnt namespace in the image") and the dump fails ("Mount ...
# /run/netns/... has unreachable sharing"). `nsenter --net=/run/netns/NAME`
# changes only the network namespace, so everything run on a host shares the
# machine's mount namespace with the CLI, and CRIU dumps no namespace at all.
#
# Each agent runs in its host's network namespace and in its own PID and mount
# namespace (unshare --pid --fork --mount-proc --kill-child), so restored PIDs
# are free. Stopping an agent (agent-stop, down) kills everything restored
# under it. Processes restored by B's agent live in that PID namespace: to act
# on them from inside (e.g. to migrate them back to A), use `run b --agent-ns`.
#
# State (PIDs, logs, the shared token) is in /run/migrate-lab/P; the agents'
# work directories are /var/tmp/migrate-lab/P/a and /b, and src is free for the
# CLI's --work-dir (all in a tmpfs mounted there with --tmpfs).
# `up` tears down leftovers first; `down` removes everything and can run twice.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
prefix=lab
rate=
agents=0
port=7700
tmpfs=0
log_file=/dev/null
agent_ns=0

link_a=10.77.0.1 link_b=10.77.0.2
client_a=10.77.1.1 client_b=10.77.1.2 client_c=10.77.1.254
service=10.77.100.1

die() { printf 'hosts.sh: error: %s\n' "$*" >&2; exit 1; }
log() { printf 'hosts.sh: %s\n' "$*" >&2; }

usage() {
  sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}" >&2
  exit 2
}

# ---- arguments ---------------------------------------------------------------

[ $# -ge 1 ] || usage
command=$1
shift
positional=()
cmd=()
while [ $# -gt 0 ]; do
  case $1 in
    --prefix) prefix=${2:?--prefix needs a value}; shift 2 ;;
    --rate) rate=${2:?--rate needs a value}; shift 2 ;;
    --agents) agents=1; shift ;;
    --port) port=${2:?--port needs a value}; shift 2 ;;
    --tmpfs) tmpfs=1; shift ;;
    --log) log_file=${2:?--log needs a value}; shift 2 ;;
    --agent-ns) agent_ns=1; shift ;;
    --) shift; cmd=("$@"); break ;;
    -h|--help) usage ;;
    -*) die "unknown option $1" ;;
    *) positional+=("$1"); shift ;;
  esac
done
[[ $prefix =~ ^[A-Za-z0-9_]{1,12}$ ]] || die "--prefix must be 1-12 letters, digits or _"
[ "$(id -u)" -eq 0 ] || die "run as root"

state=/run/migrate-lab/$prefix
work=/var/tmp/migrate-lab/$prefix
token=$state/token
hosts=("$prefix-a" "$prefix-b" "$prefix-c")

# a, b, c, P-a, P-b or P-c -> P-a, P-b or P-c
host_name() {
  case $1 in
    a|b|c) echo "$prefix-$1" ;;
    "$prefix-a"|"$prefix-b"|"$prefix-c") echo "$1" ;;
    *) die "unknown host '$1' (a, b, c or $prefix-a, $prefix-b, $prefix-c)" ;;
  esac
}
host_letter() { local n; n=$(host_name "$1"); echo "${n##*-}"; }
link_ip() { case $(host_letter "$1") in a) echo $link_a ;; b) echo $link_b ;; *) die "host c has no migration link" ;; esac; }
netns_exists() { [ -e "/run/netns/$1" ]; }

# ---- processes, by PID only ---------------------------------------------------

# "PID STARTTIME": the start time (field 22 of /proc/PID/stat) tells a PID
# reused by another process from the one recorded.
proc_id() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  set -- $stat
  echo "${20}"
}

pid_alive_as() { # PID STARTTIME
  [ -n "$1" ] && [ "$(proc_id "$1" 2>/dev/null)" = "$2" ]
}

wait_gone() { # PID STARTTIME SECONDS
  local deadline=$((SECONDS + $3))
  while pid_alive_as "$1" "$2"; do
    [ $SECONDS -lt $deadline ] || return 1
    sleep 0.1
  done
}

# TERM (and CONT: a stopped process acts on nothing else) to each PID, then
# KILL to those still there after GRACE seconds.
end_processes() { # GRACE PID...
  local grace=$1 pid deadline
  shift
  local -A start=()
  for pid in "$@"; do
    start[$pid]=$(proc_id "$pid") || continue
    kill -TERM "$pid" 2>/dev/null || true
    kill -CONT "$pid" 2>/dev/null || true
  done
  deadline=$((SECONDS + grace))
  for pid in "${!start[@]}"; do
    wait_gone "$pid" "${start[$pid]}" $((deadline > SECONDS ? deadline - SECONDS : 0)) && continue
    kill -KILL "$pid" 2>/dev/null || true
  done
  for pid in "${!start[@]}"; do
    wait_gone "$pid" "${start[$pid]}" 5 || log "warning: PID $pid survived SIGKILL"
  done
}

# Inherited descriptors (a caller's pipes) would be external files to CRIU.
close_inherited_fds() {
  local fd
  for fd in /proc/$BASHPID/fd/*; do
    fd=${fd##*/}
    [ "$fd" -gt 2 ] 2>/dev/null && eval "exec $fd>&-" 2>/dev/null || true
  done
}

# ---- agents -------------------------------------------------------------------

agent_file() { echo "$state/agent-$(host_letter "$1")"; }

# Prints "UNSHARE_PID UNSHARE_START AGENT_PID ADDRESS" of a live agent, or fails.
agent_info() {
  local f
  f=$(agent_file "$1").state
  [ -f "$f" ] || return 1
  local upid ustart apid addr
  read -r upid ustart apid addr <"$f" || return 1
  pid_alive_as "$upid" "$ustart" || return 1
  echo "$upid $ustart $apid $addr"
}

start_agent() {
  local host letter ip base logf
  host=$(host_name "$1")
  letter=$(host_letter "$host")
  [ "$letter" != c ] || die "host c runs clients, not an agent"
  netns_exists "$host" || die "no host $host: run '$0 up --prefix $prefix' first"
  if agent_info "$host" >/dev/null; then
    log "agent on $host already running: $(agent_info "$host" | cut -d' ' -f4)"
    return 0
  fi
  ip=$(link_ip "$host")
  base=$(agent_file "$host")
  logf=$base.log
  mkdir -p "$state"
  make_work_dir
  mkdir -p -m 700 "$work/$letter"  # the agent refuses a work directory others may enter
  : >"$logf"
  (
    close_inherited_fds
    exec setsid nsenter --net="/run/netns/$host" -- \
      unshare --pid --fork --mount-proc --kill-child -- \
      "$repo/bin/migrate-target" --listen "$ip:$port" --work-dir "$work/$letter" --token-file "$token"
  ) </dev/null >>"$logf" 2>&1 &
  local upid=$! ustart deadline=$((SECONDS + 120))
  ustart=$(proc_id "$upid") || die "agent on $host exited at once: $(tail -5 "$logf")"
  until grep -q 'listening on' "$logf"; do
    if ! pid_alive_as "$upid" "$ustart" || [ $SECONDS -ge $deadline ]; then
      end_processes 2 "$upid"
      die "agent on $host did not start: $(tail -5 "$logf")"
    fi
    sleep 0.2
  done
  local addr apid
  addr=$(sed -n 's/.*listening on \(http[^ ]*\).*/\1/p' "$logf" | head -1)
  addr=${addr#https://}
  apid=$(cat "/proc/$upid/task/$upid/children" 2>/dev/null | awk '{print $1}')
  echo "$upid $ustart ${apid:-0} $addr" >"$base.state"
  log "agent on $host: $addr (unshare PID $upid, migrate-target PID ${apid:-?}, log $logf)"
}

stop_agent() {
  local host info upid ustart apid addr
  host=$(host_name "$1")
  if info=$(agent_info "$host"); then
    read -r upid ustart apid addr <<<"$info"
    # unshare blocks TERM while it waits; the agent (PID 1 of its namespace)
    # shuts down on TERM, and its namespace's processes die with it.
    [ "$apid" != 0 ] && kill -TERM "$apid" 2>/dev/null || true
    if ! wait_gone "$upid" "$ustart" 10; then
      # --kill-child: the agent gets SIGKILL when unshare dies.
      kill -KILL "$upid" 2>/dev/null || true
      wait_gone "$upid" "$ustart" 5 || log "warning: agent PID $upid survived SIGKILL"
    fi
    log "agent on $host stopped"
  fi
  rm -f "$(agent_file "$host").state"
}

# ---- the hosts ----------------------------------------------------------------

# The agents' and the CLI's image directories live under $work; --tmpfs puts
# them in memory (as ENVIRONMENT.md's timings were taken), not on the disk.
# Its size is 75% of memory, not tmpfs's default half: at its peak a pre-copy
# migration keeps three copies of the process there (the source's dump, the
# target's page store and the pages images it rebuilds), and a 4 GiB one ran
# out of the default 12 GiB on this 24 GiB machine. A tmpfs takes memory only
# for what it holds.
make_work_dir() {
  mkdir -p "$work"
  if [ $tmpfs -eq 1 ] && ! mountpoint -q "$work"; then
    mount -t tmpfs -o mode=0700,size=75% "migrate-lab-$prefix" "$work"
  fi
}

# tbf's burst must hold at least one timer tick of traffic: use 4 ms worth,
# at least 64 KiB.
tbf_args() {
  local r=$1 bytes
  bytes=$(awk -v r="$r" 'BEGIN {
    s = tolower(r); n = s + 0; u = s; sub(/^[0-9.]+/, "", u)
    m["bit"]=1/8; m["kbit"]=1e3/8; m["mbit"]=1e6/8; m["gbit"]=1e9/8; m["tbit"]=1e12/8
    m["bps"]=1; m["kbps"]=1e3; m["mbps"]=1e6; m["gbps"]=1e9
    if (!(u in m) || n <= 0) { print "bad"; exit }
    b = n * m[u] * 0.004; if (b < 65536) b = 65536; printf "%d\n", b }')
  [ "$bytes" != bad ] || die "bad rate '$r' (e.g. 100mbit, 1gbit, 10gbit)"
  echo "rate $r burst $bytes latency 20ms"
}

set_rate() {
  local r=$1
  for pair in "$prefix-a tob" "$prefix-b toa"; do
    set -- $pair
    if [ -z "$r" ] || [ "$r" = off ]; then
      tc -n "$1" qdisc del dev "$2" root 2>/dev/null || true
    else
      # shellcheck disable=SC2046
      tc -n "$1" qdisc replace dev "$2" root tbf $(tbf_args "$r")
    fi
  done
  if [ -z "$r" ] || [ "$r" = off ]; then
    log "migration link: no limit"
  else
    log "migration link: $r each way"
  fi
}

route_service() {
  local to
  case $(host_letter "$1") in a) to=$client_a ;; b) to=$client_b ;; *) die "the service runs on a or b" ;; esac
  ip -n "$prefix-c" route replace "$service/32" via "$to"
  log "clients on $prefix-c reach the service address $service on $(host_name "$1")"
}

down() {
  for h in "$prefix-a" "$prefix-b"; do stop_agent "$h"; done
  local h pid pids=()
  # Anything still in a namespace (workloads, clients, an agent whose state
  # was lost) keeps it and its links alive: end each by its PID.
  for h in "${hosts[@]}"; do
    netns_exists "$h" || continue
    for pid in $(ip netns pids "$h" 2>/dev/null); do
      log "ending PID $pid ($(cat "/proc/$pid/comm" 2>/dev/null)) on $h"
      pids+=("$pid")
    done
  done
  [ ${#pids[@]} -eq 0 ] || end_processes 5 "${pids[@]}"
  for h in "${hosts[@]}"; do
    netns_exists "$h" || continue
    ip netns del "$h" 2>/dev/null || umount "/run/netns/$h" 2>/dev/null || true
    rm -f "/run/netns/$h"
  done
  if mountpoint -q "$work" 2>/dev/null; then
    umount "$work"
  fi
  rm -rf "$state" "$work"
  rmdir /run/migrate-lab /var/tmp/migrate-lab 2>/dev/null || true
}

up() {
  down
  local a=$prefix-a b=$prefix-b c=$prefix-c h
  for h in "$a" "$b" "$c"; do
    ip netns add "$h"
    ip -n "$h" link set dev lo up
  done
  # Created directly inside the namespaces: no names in the machine's own.
  ip link add tob netns "$a" type veth peer name toa netns "$b"
  ip link add toc netns "$a" type veth peer name toa netns "$c"
  ip link add toc netns "$b" type veth peer name tob netns "$c"
  ip -n "$c" link add br0 type bridge
  ip -n "$c" link set dev toa master br0
  ip -n "$c" link set dev tob master br0
  ip -n "$a" addr add $link_a/24 dev tob
  ip -n "$b" addr add $link_b/24 dev toa
  ip -n "$a" addr add $client_a/24 dev toc
  ip -n "$b" addr add $client_b/24 dev toc
  ip -n "$c" addr add $client_c/24 dev br0
  for h in "$a" "$b"; do
    ip -n "$h" addr add $service/32 dev lo
  done
  ip -n "$a" link set dev tob up
  ip -n "$b" link set dev toa up
  ip -n "$a" link set dev toc up
  ip -n "$b" link set dev toc up
  ip -n "$c" link set dev toa up
  ip -n "$c" link set dev tob up
  ip -n "$c" link set dev br0 up
  route_service a
  set_rate "$rate"
  mkdir -p "$state"
  make_work_dir
  echo "$rate" >"$state/rate"
  log "hosts $a ($link_a), $b ($link_b), clients $c ($client_c); service address $service"
  if [ $agents -eq 1 ]; then
    start_agent "$a"
    start_agent "$b"
  fi
}

status() {
  local h any=0 info
  for h in "${hosts[@]}"; do
    netns_exists "$h" || continue
    any=1
    echo "== $h"
    ip -n "$h" -br addr show | sed 's/^/   /'
    tc -n "$h" qdisc show 2>/dev/null | grep tbf | sed 's/^/   qdisc: /' || true
    [ "$h" = "$prefix-c" ] && ip -n "$h" route show "$service/32" | sed 's/^/   route: /'
    if [ "$h" != "$prefix-c" ]; then
      if info=$(agent_info "$h"); then
        set -- $info
        echo "   agent: $4 (unshare PID $1, migrate-target PID $3)"
      else
        echo "   agent: none"
      fi
    fi
    local pids
    pids=$(ip netns pids "$h" 2>/dev/null | tr '\n' ' ')
    echo "   processes: ${pids:-none}"
    for pid in $pids; do
      printf '     %s %s\n' "$pid" "$(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | cut -c1-100)"
    done
  done
  [ $any -eq 1 ] || echo "no lab '$prefix' on this machine"
}

# nsenter arguments that put a command on HOST.
enter_args() {
  local host=$1 info
  if [ $agent_ns -eq 1 ]; then
    info=$(agent_info "$host") || die "no agent running on $host"
    set -- $info
    # The agent's PID and mount namespaces (its /proc), and its network.
    echo "--target $3 --net --pid --mount"
  else
    echo "--net=/run/netns/$host"
  fi
}

case $command in
  up) up ;;
  down) down; log "lab '$prefix' is down" ;;
  status) status ;;
  agent) [ ${#positional[@]} -eq 1 ] || usage; start_agent "${positional[0]}" ;;
  agent-stop) [ ${#positional[@]} -eq 1 ] || usage; stop_agent "${positional[0]}" ;;
  rate)
    [ ${#positional[@]} -eq 1 ] || usage
    netns_exists "$prefix-a" || die "no lab '$prefix'"
    set_rate "${positional[0]}"
    echo "${positional[0]}" >"$state/rate"
    ;;
  service) [ ${#positional[@]} -eq 1 ] || usage; route_service "${positional[0]}" ;;
  addr)
    [ ${#positional[@]} -eq 1 ] || usage
    case ${positional[0]} in
      service) echo $service ;;
      *) case $(host_letter "${positional[0]}") in a) echo $link_a ;; b) echo $link_b ;; c) echo $client_c ;; esac ;;
    esac
    ;;
  path)
    [ ${#positional[@]} -eq 1 ] || usage
    case ${positional[0]} in work) echo "$work" ;; state) echo "$state" ;; token) echo "$token" ;; *) usage ;; esac
    ;;
  pid)
    # A restored process has the PID its image names inside the agent's PID
    # namespace (what a report's restoredPid says); this prints its PID here.
    [ ${#positional[@]} -eq 2 ] || usage
    host=$(host_name "${positional[0]}")
    info=$(agent_info "$host") || die "no agent running on $host"
    set -- $info
    agent_pidns=$(readlink "/proc/$3/ns/pid")
    for p in $(ip netns pids "$host"); do
      [ "$(readlink "/proc/$p/ns/pid" 2>/dev/null)" = "$agent_pidns" ] || continue
      nspid=$(awk '/^NSpid:/ {print $NF}' "/proc/$p/status" 2>/dev/null)
      if [ "$nspid" = "${positional[1]}" ]; then echo "$p"; exit 0; fi
    done
    die "no PID ${positional[1]} under the agent on $host"
    ;;
  run)
    [ ${#positional[@]} -eq 1 ] && [ ${#cmd[@]} -gt 0 ] || usage
    host=$(host_name "${positional[0]}")
    netns_exists "$host" || die "no host $host"
    # shellcheck disable=SC2046
    exec nsenter $(enter_args "$host") -- "${cmd[@]}"
    ;;
  spawn)
    [ ${#positional[@]} -eq 1 ] && [ ${#cmd[@]} -gt 0 ] || usage
    host=$(host_name "${positional[0]}")
    netns_exists "$host" || die "no host $host"
    [ $agent_ns -eq 0 ] || die "spawn starts processes in the machine's PID namespace only"
    (
      close_inherited_fds
      exec setsid nsenter --net="/run/netns/$host" -- "${cmd[@]}"
    ) </dev/null >>"$log_file" 2>&1 &
    echo $!
    ;;
  *) usage ;;
esac
