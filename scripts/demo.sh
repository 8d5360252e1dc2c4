#!/usr/bin/env bash
# The built-in example: a Qwen2-VL prefill layer written in the mrope dialect
# (docs/examples/qwen2vl.mlir), shown after each step of the pipeline.
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
