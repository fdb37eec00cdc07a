#!/usr/bin/env bash
# The local demo: sets up what is needed, starts a small workload and a target
# agent on this machine (in its own PID namespace, as another host would be),
# migrates the workload into it and prints the report. Leaves nothing behind.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$repo/scripts/setup.sh"

demo=$(mktemp -d /tmp/migrate-demo.XXXXXX)
target_pid=
workload_pid=
cleanup() {
  # Ending the target agent ends its PID namespace and the migrated workload
  # with it. unshare ignores SIGTERM while it waits for its child, and
  # --kill-child passes SIGKILL on. A killed child's status must not become
  # the demo's, hence the "|| true".
  if [ -n "$target_pid" ]; then kill -KILL "$target_pid" 2>/dev/null || true; wait "$target_pid" 2>/dev/null || true; fi
  if [ -n "$workload_pid" ]; then kill "$workload_pid" 2>/dev/null || true; fi
  rm -rf "$demo"
}
trap cleanup EXIT

say() { printf '\ndemo: %s\n' "$*"; }

gcc -O2 -o "$demo/counter" "$repo/tests/workloads/counter.c"

unshare --pid --fork --mount-proc --kill-child \
  "$repo/bin/migrate-target" --listen 127.0.0.1:0 --work-dir "$demo/target" --token-file "$demo/token" \
  >"$demo/target.log" 2>&1 &
target_pid=$!
for _ in $(seq 300); do
  port=$(sed -n 's|.*listening on https://127.0.0.1:\([0-9]*\).*|\1|p' "$demo/target.log")
  [ -n "$port" ] && break
  kill -0 "$target_pid" 2>/dev/null || { cat "$demo/target.log"; exit 1; }
  sleep 0.1
done
[ -n "$port" ] || { echo "demo: the target agent did not start" >&2; cat "$demo/target.log" >&2; exit 1; }
say "target agent listening on 127.0.0.1:$port in its own PID namespace"

# A workload with 64 MiB of memory that keeps counting and checks its buffer.
"$demo/counter" "$demo/status" 64 &
workload_pid=$!
# The commit kills this copy with SIGKILL; a job of this shell's would make
# bash print "Killed" for it. Disowned, it is no job of the shell's.
disown "$workload_pid"
for _ in $(seq 300); do [ -s "$demo/status" ] && break; sleep 0.1; done
say "workload PID $workload_pid: $(cat "$demo/status")"

say "migrate --to 127.0.0.1:$port $workload_pid"
status=0
"$repo/bin/migrate" --to "127.0.0.1:$port" --token-file "$demo/token" --report "$demo/report.json" "$workload_pid" || status=$?

sleep 0.5
say "after the migration, the workload reports (from the target): $(cat "$demo/status")"
say "report ($demo/report.json):"
cat "$demo/report.json"
echo
exit "$status"
