#!/usr/bin/env bash
# One-step set-up for a fresh Debian 12 machine: installs what is missing
# (LLVM/MLIR 22 through apt), configures and builds into build/.
# Safe to re-run: it only installs missing packages and rebuilds incrementally.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${MROPE_BUILD_DIR:-$ROOT/build}"
LLVM_PREFIX=/usr/lib/llvm-22

# libsleef3: the vector math library PyTorch's CPU kernels call; a test
# checks the compiler's re-implementation of its pow/atan2/sin/cos against it.
# qemu-user, gcc-aarch64-linux-gnu, libc6-dev-arm64-cross: the golden cases
# compiled for AArch64 and run emulated (test/Conformance/aarch64.test).
PACKAGES=(clang-22 libclang-rt-22-dev lld-22 llvm-22-dev llvm-22-tools libmlir-22-dev
          mlir-22-tools ninja-build cmake ccache python3 python3-venv python3-dev
          libsleef3 qemu-user gcc-aarch64-linux-gnu libc6-dev-arm64-cross)

missing=()
for pkg in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" ||
    missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "== installing: ${missing[*]}"
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
fi

export CUDA_HOME="${CUDA_HOME:-/usr/local/cuda}"
export CCACHE_BASEDIR="$ROOT"

# Python packages, in a virtual environment inside the build directory:
# nanobind (to build the mrope Python extension), pytest and numpy (its
# tests), the IREE compiler and runtime (integration tests). If pip cannot
# install them, the tests that need them are reported as skipped, never
# silently passed.
PYENV="$BUILD/pyenv"
mkdir -p "$BUILD"
if [ -z "${MROPE_SKIP_PIP:-}" ]; then
  if [ ! -x "$PYENV/bin/python" ]; then
    python3 -m venv "$PYENV" || echo "== warning: could not create $PYENV"
  fi
  pip_install() {
    "$PYENV/bin/pip" install -q --disable-pip-version-check "$@"
  }
  if ! "$PYENV/bin/python" -c "import nanobind, pytest, numpy, setuptools, wheel" 2>/dev/null; then
    echo "== python packages (nanobind, pytest, numpy, setuptools, wheel) in $PYENV"
    pip_install nanobind pytest numpy setuptools wheel ||
      echo "== warning: could not install nanobind/pytest/numpy; the Python package and its tests will be skipped"
  fi
  if [ ! -x "$PYENV/bin/iree-compile" ]; then
    echo "== python packages (iree-base-compiler, iree-base-runtime) in $PYENV"
    pip_install iree-base-compiler iree-base-runtime ||
      echo "== warning: could not install the IREE packages; IREE tests will be skipped"
  fi
fi
NANOBIND_DIR="$("$PYENV/bin/python" -m nanobind --cmake_dir 2>/dev/null || true)"

# Configure on the first run, and again when nanobind appeared or moved.
if [ ! -f "$BUILD/build.ninja" ] ||
   ! grep -qxF "nanobind_DIR:PATH=$NANOBIND_DIR" "$BUILD/CMakeCache.txt"; then
  echo "== configuring $BUILD"
  cmake -S "$ROOT" -B "$BUILD" -G Ninja \
    -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_C_COMPILER=clang-22 -DCMAKE_CXX_COMPILER=clang++-22 \
    -DLLVM_USE_LINKER=lld \
    -DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache \
    -DLLVM_EXTERNAL_LIT="$LLVM_PREFIX/bin/lit" \
    -DPython3_EXECUTABLE=/usr/bin/python3 \
    -DPython_EXECUTABLE=/usr/bin/python3 \
    -Dnanobind_DIR:PATH="$NANOBIND_DIR" \
    -DMLIR_DIR="$LLVM_PREFIX/lib/cmake/mlir"
fi

echo "== building"
cmake --build "$BUILD" --target all mlir-doc

if [ -z "${MROPE_SKIP_DEMO:-}" ]; then
  "$ROOT/scripts/demo.sh"
fi
