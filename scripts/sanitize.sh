#!/usr/bin/env bash
# Builds the project with AddressSanitizer + UndefinedBehaviorSanitizer (and
# libFuzzer's coverage instrumentation, so the fuzz targets are real fuzzers
# here: scripts/fuzz.sh) into build-asan/ and runs the whole lit suite
# against those binaries. Any
# sanitizer report aborts the process under test, so it fails that test.
#
# Tests that must load our code into a program that is not instrumented
# (the mlir-opt-22 plugins) are reported unsupported here (lit feature
# `sanitizers`); they run in the normal build.
#
# Usage: scripts/sanitize.sh [lit args...]   (after scripts/setup.sh)
#        MROPE_SANITIZE_BUILD_ONLY=1 scripts/sanitize.sh   (build, no tests)
# Ends with "N passed, N failed, N skipped" like scripts/test.sh.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${MROPE_ASAN_BUILD_DIR:-$ROOT/build-asan}"
LLVM_PREFIX=/usr/lib/llvm-22
export CCACHE_BASEDIR="$ROOT"

# Configured every time (seconds): a tree from an older checkout picks up
# new options.
{
  echo "== configuring $BUILD (AddressSanitizer + UndefinedBehaviorSanitizer + libFuzzer coverage)"
  mkdir -p "$BUILD"
  # -O1: sanitizer builds compile about twice as fast as -O3 and keep
  # reports readable; LLVM_USE_SANITIZER adds -fno-omit-frame-pointer,
  # line tables and -fno-sanitize-recover=all (a UBSan report is fatal).
  if ! cmake -S "$ROOT" -B "$BUILD" -G Ninja \
      -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS_RELEASE="-O1 -DNDEBUG" \
      -DCMAKE_C_COMPILER=clang-22 -DCMAKE_CXX_COMPILER=clang++-22 \
      -DLLVM_USE_LINKER=lld -DLLVM_USE_SANITIZER="Address;Undefined" \
      -DLLVM_USE_SANITIZE_COVERAGE=ON -DMROPE_SANITIZERS=ON \
      -DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache \
      -DLLVM_EXTERNAL_LIT="$LLVM_PREFIX/bin/lit" \
      -DPython3_EXECUTABLE=/usr/bin/python3 \
      -DMLIR_DIR="$LLVM_PREFIX/lib/cmake/mlir" >"$BUILD/configure.log" 2>&1; then
    cat "$BUILD/configure.log"
    echo "sanitizer build: configuration failed"
    echo "0 passed, 1 failed, 0 skipped"
    exit 1
  fi
}

echo "== building $BUILD"
if ! cmake --build "$BUILD" --target all; then
  echo "sanitizer build: build failed"
  echo "0 passed, 1 failed, 0 skipped"
  exit 1
fi

if [ -n "${MROPE_SANITIZE_BUILD_ONLY:-}" ]; then
  exit 0
fi

# Leaks are reported too (LeakSanitizer); a report exits non-zero.
# allow_user_poisoning=0: LLVM's BumpPtrAllocator, inlined into our
# instrumented code, poisons its slabs, while the uninstrumented libMLIR.so
# that shares them never unpoisons -- every MLIR allocation would be a
# false "use-after-poison". Real heap, stack and leak checks are unaffected.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:allow_user_poisoning=0:strict_string_checks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
MROPE_BUILD_DIR="$BUILD" MROPE_LIT_ONLY=1 "$ROOT/scripts/test.sh" "$@"
