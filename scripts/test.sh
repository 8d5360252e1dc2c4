#!/usr/bin/env bash
# Runs the whole test suite: set-up and build if needed (scripts/setup.sh),
# then every lit test under test/. Ends with one summary line
# "N passed, N failed, N skipped" and exits non-zero on any failure.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${MROPE_BUILD_DIR:-$ROOT/build}"
export CUDA_HOME="${CUDA_HOME:-/usr/local/cuda}"

if ! MROPE_SKIP_DEMO=1 "$ROOT/scripts/setup.sh"; then
  echo "set-up or build failed"
  echo "0 passed, 1 failed, 0 skipped"
  exit 1
fi

LOG="$BUILD/lit-results.txt"
/usr/lib/llvm-22/bin/lit -sv "$BUILD/test" "$@" 2>&1 | tee "$LOG"
lit_rc=${PIPESTATUS[0]}

# lit's summary lines look like "  Passed    : 41 (95.35%)".
count() {
  sed -nE "s/^ *$1 *: *([0-9]+).*/\1/p" "$LOG" | awk '{s += $1} END {print s + 0}'
}
passed=$(( $(count "Passed") + $(count "Expectedly Failed") ))
failed=$(( $(count "Failed") + $(count "Unresolved") + $(count "Timed Out") + $(count "Unexpectedly Passed") ))
skipped=$(( $(count "Unsupported") + $(count "Excluded") + $(count "Skipped") ))
if [ "$lit_rc" -ne 0 ] && [ "$failed" -eq 0 ]; then
  failed=1  # lit itself failed (e.g. a configuration error)
fi

echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
