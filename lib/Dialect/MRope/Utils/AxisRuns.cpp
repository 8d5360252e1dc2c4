//===- AxisRuns.cpp - allocation maps as arithmetic progressions ----------===//

#include "mrope/Dialect/MRope/Utils/AxisRuns.h"

namespace mlir::mrope {

std::vector<AxisRun> decomposeIntoRuns(llvm::ArrayRef<Axis> axes) {
  const auto n = static_cast<int64_t>(axes.size());
  std::vector<bool> covered(n, false);
  std::vector<AxisRun> runs;
  for (int64_t start = 0; start < n; ++start) {
    if (covered[start])
      continue;
    AxisRun best{axes[start], start, 1, 1};
    for (int64_t stride = 1; start + stride < n; ++stride) {
      int64_t count = 1;
      for (int64_t i = start + stride;
           i < n && !covered[i] && axes[i] == axes[start]; i += stride)
        ++count;
      if (count > best.count)
        best = AxisRun{axes[start], start, stride, count};
    }
    for (int64_t k = 0; k < best.count; ++k)
      covered[best.start + k * best.stride] = true;
    runs.push_back(best);
  }
  return runs;
}

} // namespace mlir::mrope
