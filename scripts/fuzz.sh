#!/usr/bin/env bash
# Runs the fuzz targets on the sanitizer build (AddressSanitizer + UBSan +
# libFuzzer), each for SECONDS (default 600), seeded from the test suite.
#
#   scripts/fuzz.sh [ir|json|both] [SECONDS]
#   scripts/fuzz.sh shapes [EXTENTS]
#
#   ir:   build-asan/bin/mrope-fuzz-ir, libFuzzer over mrope IR: parse,
#         verify, every mrope pass (output verified) and the pipelines.
#   json: tools/mrope-fuzz/mrope-fuzz-json.py, atheris (libFuzzer for Python)
#         over mrope-conform's JSON input, compiling what it writes with the
#         sanitizer build's mrope-opt.
#   shapes: tools/mrope-fuzz/shape-sweep.py over every mrope function of
#         the test suite: each static extent set to each of EXTENTS
#         (default 0,1,3,?) through the portable, CPU and GPU pipelines, with
#         the release build's mrope-opt (MROPE_OPT to override); findings
#         in build/fuzz/shapes/. Deterministic, ~10 minutes per extent here.
#
# Findings are written to build-asan/fuzz/{ir,json}-crash-*; the corpus grows
# in build-asan/fuzz/corpus-{ir,json}. A fixed finding goes into
# test/Fuzz/{ir,json}-regressions/ (see test/Fuzz/*.test). libFuzzer's last
# lines ("Done N runs in S second(s)") give the execution count.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ASAN="${MROPE_ASAN_BUILD_DIR:-$ROOT/build-asan}"
WHICH="${1:-both}"
SECONDS_EACH="${2:-600}"
PYENV="$ROOT/build/pyenv"
FUZZ="$ASAN/fuzz"

if [ "$WHICH" = shapes ]; then
  exec python3 "$ROOT/tools/mrope-fuzz/shape-sweep.py" \
    --mrope-opt "${MROPE_OPT:-$ROOT/build/bin/mrope-opt}" --extents "${2:-0,1,3,?}" \
    --save "$ROOT/build/fuzz/shapes" "$ROOT/test"
fi

MROPE_SANITIZE_BUILD_ONLY=1 "$ROOT/scripts/sanitize.sh"
mkdir -p "$FUZZ"
python3 "$ROOT/tools/mrope-fuzz/make-seeds.py" "$ROOT" "$FUZZ/seeds-ir" "$FUZZ/seeds-json"
mkdir -p "$FUZZ/corpus-ir" "$FUZZ/corpus-json"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:allow_user_poisoning=0}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

if [ "$WHICH" = ir ] || [ "$WHICH" = both ]; then
  echo "== mrope-fuzz-ir for ${SECONDS_EACH}s"
  "$ASAN/bin/mrope-fuzz-ir" -max_total_time="$SECONDS_EACH" -timeout=60 \
    -rss_limit_mb=4096 -print_final_stats=1 -artifact_prefix="$FUZZ/ir-" \
    "$FUZZ/corpus-ir" "$FUZZ/seeds-ir" "$ROOT/test/Fuzz/ir-regressions"
fi

if [ "$WHICH" = json ] || [ "$WHICH" = both ]; then
  if ! "$PYENV/bin/python" -c "import atheris" 2>/dev/null; then
    if [ ! -x "$PYENV/bin/pip" ]; then
      python3 -m venv "$PYENV"
    fi
    "$PYENV/bin/pip" install -q --disable-pip-version-check atheris
  fi
  echo "== mrope-fuzz-json for ${SECONDS_EACH}s"
  MROPE_OPT="$ASAN/bin/mrope-opt" "$PYENV/bin/python" \
    "$ROOT/tools/mrope-fuzz/mrope-fuzz-json.py" -max_total_time="$SECONDS_EACH" \
    -timeout=120 -max_len=65536 -print_final_stats=1 -artifact_prefix="$FUZZ/json-" \
    "$FUZZ/corpus-json" "$FUZZ/seeds-json" "$ROOT/test/Fuzz/json-regressions"
fi
