#!/usr/bin/env bash
# Runs the whole test suite: set-up and build if needed (scripts/setup.sh),
# every lit test under test/, the Python package's pytest suite
# (python/tests; MROPE_SKIP_PYTEST=1 skips it), then the lit suite again on an
# AddressSanitizer + UndefinedBehaviorSanitizer build (scripts/sanitize.sh;
# MROPE_SKIP_SANITIZERS=1 skips it). Ends with one summary line
# "N passed, N failed, N skipped" over both runs and exits non-zero on any
# failure.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${MROPE_BUILD_DIR:-$ROOT/build}"
export CUDA_HOME="${CUDA_HOME:-/usr/local/cuda}"

if [ -z "${MROPE_LIT_ONLY:-}" ] && ! MROPE_SKIP_DEMO=1 "$ROOT/scripts/setup.sh"; then
  echo "set-up or build failed"
  echo "0 passed, 1 failed, 0 skipped"
  exit 1
fi

LOG="$BUILD/lit-results.txt"
/usr/lib/llvm-22/bin/lit -sv "$BUILD/test" "$@" 2>&1 | tee "$LOG"
lit_rc=${PIPESTATUS[0]}

# lit's summary lines look like "  Passed    : 41 (95.35%)".
count() {
  sed -nE "s/^ *$1 *: *([0-9]+).*/\1/p" "$2" | awk '{s += $1} END {print s + 0}'
}
passed=$(( $(count "Passed" "$LOG") + $(count "Expectedly Failed" "$LOG") ))
failed=$(( $(count "Failed" "$LOG") + $(count "Unresolved" "$LOG") + $(count "Timed Out" "$LOG") + $(count "Unexpectedly Passed" "$LOG") ))
skipped=$(( $(count "Unsupported" "$LOG") + $(count "Excluded" "$LOG") + $(count "Skipped" "$LOG") ))
if [ "$lit_rc" -ne 0 ] && [ "$failed" -eq 0 ]; then
  failed=1  # lit itself failed (e.g. a configuration error)
fi

# The Python package's tests (pytest in build/pyenv). Its summary looks like
# "3 failed, 318 passed, 1 skipped in 27.1s".
if [ -z "${MROPE_LIT_ONLY:-}" ] && [ -z "${MROPE_SKIP_PYTEST:-}" ]; then
  echo "$passed passed, $failed failed, $skipped skipped (lit, release build)"
  PY_LOG="$BUILD/pytest-results.txt"
  PYENV_PYTHON="$BUILD/pyenv/bin/python"
  if [ -x "$PYENV_PYTHON" ] && "$PYENV_PYTHON" -c "import pytest" 2>/dev/null; then
    MROPE_PYTHON_PATH="$BUILD/python_packages" "$PYENV_PYTHON" -m pytest -q -rs \
      -p no:cacheprovider "$ROOT/python/tests" 2>&1 | tee "$PY_LOG"
    py_rc=${PIPESTATUS[0]}
    summary=$(grep -E '[0-9]+ (passed|failed|skipped|errors?)' "$PY_LOG" | tail -1)
    pcount() { grep -oE "[0-9]+ ($1)" <<<"$summary" | awk '{s += $1} END {print s + 0}'; }
    py_passed=$(pcount "passed|xfailed")
    py_failed=$(pcount "failed|errors?|xpassed")
    py_skipped=$(pcount "skipped|deselected")
    if [ "$py_rc" -ne 0 ] && [ "$py_failed" -eq 0 ]; then
      py_failed=1  # pytest itself failed (collection or usage error)
    fi
  else
    echo "pytest is not installed in build/pyenv: the Python tests are skipped"
    py_passed=0; py_failed=0; py_skipped=1
  fi
  echo "$py_passed passed, $py_failed failed, $py_skipped skipped (pytest)"
  passed=$((passed + py_passed)); failed=$((failed + py_failed))
  skipped=$((skipped + py_skipped))
fi

# The sanitizer run adds its own summary line; fold it into this one.
if [ -z "${MROPE_LIT_ONLY:-}" ] && [ -z "${MROPE_SKIP_SANITIZERS:-}" ]; then
  SAN_LOG="$BUILD/sanitizer-results.txt"
  "$ROOT/scripts/sanitize.sh" "$@" 2>&1 | tee "$SAN_LOG"
  line=$(grep -E '^[0-9]+ passed, [0-9]+ failed, [0-9]+ skipped$' "$SAN_LOG" | tail -1)
  if [ -z "$line" ]; then
    line="0 passed, 1 failed, 0 skipped"
  fi
  echo "$line (sanitizer build)"
  read -r sp _ sf _ ss _ <<<"$line"
  passed=$((passed + sp)); failed=$((failed + sf)); skipped=$((skipped + ss))
fi

echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
