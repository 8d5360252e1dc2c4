//===- AxisRuns.h - allocation maps as arithmetic progressions --*- C++ -*-===//
//
// A frequency allocation resolved for a rotary dimension is a map pair -> axis.
// Code generation wants it as a few strided ranges, each reading one axis,
// so that every pair's axis is fixed at compile time and no per-element table
// lookup remains: contiguous [16, 24, 24] is 3 unit-stride runs, interleaved
// [24, 20, 20] on 64 pairs is 3 stride-3 runs plus a 2-pair tail.
//
//===----------------------------------------------------------------------===//

#ifndef MROPE_DIALECT_MROPE_UTILS_AXISRUNS_H
#define MROPE_DIALECT_MROPE_UTILS_AXISRUNS_H

#include "mrope/Dialect/MRope/IR/MRopeEnums.h"

#include <cstdint>
#include <vector>

namespace mlir::mrope {

/// Indices start, start + stride, ..., start + (count - 1) * stride all read
/// `axis`.
struct AxisRun {
  Axis axis;
  int64_t start, stride, count;
};

/// Covers every index of `axes` exactly once with runs, greedily taking the
/// longest progression from the first uncovered index.
std::vector<AxisRun> decomposeIntoRuns(llvm::ArrayRef<Axis> axes);

} // namespace mlir::mrope

#endif // MROPE_DIALECT_MROPE_UTILS_AXISRUNS_H
