#!/usr/bin/env bash
# The built-in example: a Qwen2-VL prefill layer written in the mrope dialect
# (docs/examples/qwen2vl.mlir), shown after each step of the pipeline, then
# a Qwen2.5-VL batch through the Python package.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OPT="${MROPE_BUILD_DIR:-$ROOT/build}/bin/mrope-opt"
EXAMPLE="$ROOT/docs/examples/qwen2vl.mlir"

echo "== Frequency allocation (which axis each of the 64 rotary pairs reads)"
"$OPT" --mrope-print-allocation "$EXAMPLE" -o /dev/null 2>&1 |
  grep "remark:" | sed 's/^.*remark: /   /'
echo
echo "== After --canonicalize: positions and inv_freq folded to constants"
"$OPT" --canonicalize --mlir-print-elementsattrs-with-hex-if-larger=-1 \
  "$EXAMPLE"
echo
echo "== After --mrope-fuse-rotary-into-attention: rotation moved into attention"
"$OPT" --canonicalize --mrope-fuse-rotary-into-attention \
  --mlir-elide-elementsattrs-if-larger=8 "$EXAMPLE"
echo
BUILD="${MROPE_BUILD_DIR:-$ROOT/build}"
if compgen -G "$BUILD/python_packages/mrope/_mrope*.so" >/dev/null; then
  echo "== The same from Python (python/examples/demo.py): a Qwen2.5-VL batch"
  PYTHONPATH="$BUILD/python_packages" "$BUILD/pyenv/bin/python" "$ROOT/python/examples/demo.py"
else
  echo "== (Python package not built: nanobind was not installed)"
fi
