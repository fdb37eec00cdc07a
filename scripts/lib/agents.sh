# shellcheck shell=bash
# Sourced by scripts that migrate on this machine: how to start a migrate-target
# in namespaces of its own and how to call migrate against it. This is the one
# place that knows the agents' command lines and credential files, so a change
# there (a TLS credential instead of a token file) is made here alone.
#
#   agent_target_start DIR UNSHARE_OPTION...
#       Starts bin/migrate-target as PID 1 of new namespaces (unshare --pid --fork
#       --mount-proc --kill-child, plus the options given), listening on every
#       address of its own network namespace on a free port, with its work
#       directory and credentials under DIR. Sets AGENT_TARGET_UNSHARE (the
#       unshare process: kill it and the namespaces end), AGENT_TARGET_PID
#       (migrate-target, as this shell sees it) and AGENT_TARGET_PORT.
#   agent_migrate PREFIX_ARRAY DIR ADDRESS PID [MIGRATE_OPTION...]
#       Runs bin/migrate PID --to ADDRESS with the credentials of the target
#       started in DIR, its report in DIR/report.json, behind the command in the
#       array named PREFIX_ARRAY (for example nsenter into the source's
#       namespaces). Returns migrate's exit status.
#   agent_report_field DIR FIELD
#       Prints a top-level string or number FIELD of DIR/report.json.
#
# Needs $repo (the checkout) set by the caller.

agent_target_start() {
  local dir=$1 deadline
  shift
  # The agent refuses a work directory others may enter: it holds process memory.
  mkdir -p -m 700 "$dir/target-work"
  # In a network namespace of its own, loopback must be up before the agent
  # starts: CRIU's kernel checks connect a socket there (criu/kerndat.c,
  # kerndat_tcp_repair). exec keeps the agent PID 1.
  unshare --pid --fork --mount-proc --kill-child "$@" -- sh -c '
      ip link set lo up 2>/dev/null || true
      exec "$0" "$@"' \
    "$repo/bin/migrate-target" --listen 0.0.0.0:0 --work-dir "$dir/target-work" \
    --token-file "$dir/token" >"$dir/target.log" 2>&1 &
  AGENT_TARGET_UNSHARE=$!
  AGENT_TARGET_PID=
  AGENT_TARGET_PORT=
  # The agent prints its bound address once it listens (src/Migrate.Target/TargetHost.cs).
  # Minutes, not seconds: a .NET start and CRIU's kernel checks take that long
  # on a loaded two-core machine.
  deadline=$((SECONDS + 300))
  while [ -z "$AGENT_TARGET_PORT" ]; do
    if ! kill -0 "$AGENT_TARGET_UNSHARE" 2>/dev/null || [ "$SECONDS" -ge "$deadline" ]; then
      return 1
    fi
    sleep 0.1
    AGENT_TARGET_PORT=$(sed -n 's|^migrate-target: listening on https://[^ ]*:\([0-9][0-9]*\)$|\1|p' "$dir/target.log")
  done
  # The children file lists PIDs each followed by a space, with no newline.
  AGENT_TARGET_PID=$(<"/proc/$AGENT_TARGET_UNSHARE/task/$AGENT_TARGET_UNSHARE/children")
  AGENT_TARGET_PID=${AGENT_TARGET_PID% }
}

agent_migrate() {
  local -n agent_prefix=$1
  local dir=$2 address=$3 pid=$4
  shift 4
  "${agent_prefix[@]}" "$repo/bin/migrate" --to "$address" --token-file "$dir/token" \
    --report "$dir/report.json" --work-dir "$dir/source-work" --quiet "$@" "$pid"
}

agent_report_field() {
  [ -f "$1/report.json" ] || return 0
  sed -n 's/^  "'"$2"'": //p' "$1/report.json" | head -1 | sed 's/,$//; s/^"//; s/"$//'
}
