#!/usr/bin/env bash
# Sets up what is needed, runs the whole test suite, and ends with the line
#   tests: N passed, M failed, K skipped
# Exits non-zero when a test failed or a test assembly did not report.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$repo/scripts/setup.sh"

results=$(mktemp -d /tmp/migrate-tests.XXXXXX)
trap 'rm -rf "$results"' EXIT

projects=("$repo"/tests/*/*.Tests.csproj "$repo"/tests/*/*.IntegrationTests.csproj)
run_status=0
dotnet test "$repo/Migration.sln" --nologo --logger "trx" --logger "console;verbosity=normal" \
  --results-directory "$results" "$@" || run_status=$?

# Each test assembly writes one TRX file; its Counters element has the totals.
read -r passed failed skipped reports < <(
  awk '/<Counters /{
         for (i = 1; i <= NF; i++) {
           split($i, kv, "=");
           gsub(/"/, "", kv[2]);
           if (kv[1] == "passed") p += kv[2];
           if (kv[1] == "failed" || kv[1] == "error" || kv[1] == "timeout" || kv[1] == "aborted") f += kv[2];
           if (kv[1] == "notExecuted") s += kv[2];
         }
         n++
       }
       END { printf "%d %d %d %d\n", p, f, s, n }' "$results"/*.trx 2>/dev/null || echo "0 0 0 0")

if [ "$reports" -lt "${#projects[@]}" ]; then
  echo "test.sh: only $reports of ${#projects[@]} test assemblies reported results (dotnet test exited $run_status)" >&2
  failed=$((failed + 1))
fi
echo "tests: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ] && [ "$run_status" -eq 0 ]
