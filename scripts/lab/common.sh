# shellcheck shell=bash
# Sourced by the lab's scripts (matrix.sh, redis.sh): what they share.
# Each defines log() before it sources this.

# field NAME FILE: the value of NAME=VALUE in a workload's one-line status file.
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

# lab_up UP_OPTION...: brings the lab up (a stale one from a crash goes first)
# with host B's target agent. Each script defines H: hosts.sh with its --prefix.
lab_up() {
  H up "$@" >&2
  H agent b >&2
}
