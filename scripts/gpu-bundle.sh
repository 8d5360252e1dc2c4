#!/bin/sh
# Builds build/gpu-bundle: the GPU golden checks and benchmark, compiled here
# for a GPU machine without LLVM/MLIR (tools/mrope-bench/gpu_bundle.py).
# There: `sh build/gpu-bundle/run.sh` (with the device tool: carry
# build/gpu-bundle). Needs a built tree (scripts/setup.sh) and CUDA's ptxas.
set -e
cd "$(dirname "$0")/.."
export CUDA_HOME="${CUDA_HOME:-/usr/local/cuda}"
exec python3 tools/mrope-bench/gpu_bundle.py build/gpu-bundle "$@"
