//===- ActivationLayout.h - where q/k/v dims sit -----------------*- C++
//-*-===//

#ifndef MROPE_LIB_CONVERSION_MROPETOLINALG_ACTIVATIONLAYOUT_H
#define MROPE_LIB_CONVERSION_MROPETOLINALG_ACTIVATIONLAYOUT_H

#include "mrope/Dialect/MRope/IR/MRopeEnums.h"

#include "mlir/IR/AffineMap.h"
#include "llvm/Support/ErrorHandling.h"

namespace mlir::mrope {

/// Where batch, heads, tokens and channels sit in an activation.
struct ActivationLayout {
  int64_t rank;
  int batch; // -1 for the packed layout
  int heads;
  int seq;

  static ActivationLayout get(TensorLayout layout) {
    switch (layout) {
    case TensorLayout::BHSD:
      return {4, 0, 1, 2};
    case TensorLayout::BSHD:
      return {4, 0, 2, 1};
    case TensorLayout::THD:
      return {3, -1, 1, 0};
    }
    llvm_unreachable("unknown layout");
  }
  bool packed() const { return batch < 0; }

  /// From the activation's iteration space to a per-token table
  /// `[B, S, channels]` (`[T, channels]` packed), shared by every head.
  AffineMap tableMap(MLIRContext *ctx) const {
    SmallVector<AffineExpr> exprs;
    if (!packed())
      exprs.push_back(getAffineDimExpr(batch, ctx));
    exprs.push_back(getAffineDimExpr(seq, ctx));
    exprs.push_back(getAffineDimExpr(rank - 1, ctx));
    return AffineMap::get(rank, 0, exprs, ctx);
  }
};

} // namespace mlir::mrope

#endif // MROPE_LIB_CONVERSION_MROPETOLINALG_ACTIVATIONLAYOUT_H
