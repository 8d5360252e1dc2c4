//===- VectorLanes.cpp - vectors assembled from lanes of others -----------===//

#include "VectorLanes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

using namespace mlir;

Value mlir::mrope::assembleLanes(OpBuilder &b, Location loc,
                                 ArrayRef<std::pair<Value, int64_t>> from) {
  const int64_t n = from.size();
  SmallVector<Value> sources;
  for (const auto &entry : from)
    if (!llvm::is_contained(sources, entry.first))
      sources.push_back(entry.first);
  Value first = sources.front();
  const int64_t firstSize = cast<VectorType>(first.getType()).getDimSize(0);
  if (sources.size() == 1) {
    const int64_t start = from.front().second;
    bool consecutive = llvm::all_of(llvm::enumerate(from), [&](auto entry) {
      return entry.value().second == start + int64_t(entry.index());
    });
    if (consecutive && start == 0 && n == firstSize)
      return first;
    if (consecutive)
      return vector::ExtractStridedSliceOp::create(b, loc, first, {start}, {n},
                                                   {1});
  }
  // Lanes of the first two sources; lanes of later ones are placeholders
  // (lane 0) until their own shuffle.
  Value second = sources.size() > 1 ? sources[1] : first;
  SmallVector<int64_t> mask;
  for (const auto &[source, lane] : from)
    mask.push_back(source == first    ? lane
                   : source == second ? firstSize + lane
                                      : 0);
  Value result = vector::ShuffleOp::create(b, loc, first, second, mask);
  for (Value source :
       ArrayRef(sources).drop_front(std::min<size_t>(2, sources.size()))) {
    mask.clear();
    for (auto [l, entry] : llvm::enumerate(from))
      mask.push_back(entry.first == source ? n + entry.second : int64_t(l));
    result = vector::ShuffleOp::create(b, loc, result, source, mask);
  }
  return result;
}

SmallVector<Value> mlir::mrope::packLanes(OpBuilder &b, Location loc,
                                          Value source, ArrayRef<int64_t> lanes,
                                          int64_t width) {
  Value zeros = arith::ConstantOp::create(
      b, loc, b.getZeroAttr(cast<VectorType>(source.getType())));
  const int64_t count = lanes.size();
  SmallVector<Value> pieces;
  for (int64_t first = 0; first < count; first += width) {
    SmallVector<std::pair<Value, int64_t>> from;
    for (int64_t i = first; i < first + width; ++i)
      from.push_back(i < count ? std::make_pair(source, lanes[i])
                               : std::make_pair(zeros, int64_t(0)));
    pieces.push_back(assembleLanes(b, loc, from));
  }
  return pieces;
}
