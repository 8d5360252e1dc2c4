//===- MRopeDialect.cpp - mrope dialect -----------------------------------===//

#include "mrope/Dialect/MRope/IR/MRopeDialect.h"
#include "mrope/Dialect/MRope/IR/MRopeOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Interfaces/InferTypeOpInterface.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

using namespace mlir;
using namespace mlir::mrope;

#include "mrope/Dialect/MRope/IR/MRopeOpsDialect.cpp.inc"

void MRopeDialect::initialize() {
  addOperations<
#define GET_OP_LIST
#include "mrope/Dialect/MRope/IR/MRopeOps.cpp.inc"
      >();
  registerAttributes();
}

Operation *MRopeDialect::materializeConstant(OpBuilder &builder,
                                             Attribute value, Type type,
                                             Location loc) {
  return arith::ConstantOp::materialize(builder, value, type, loc);
}

namespace {

struct EmptyResults : RewritePattern {
  explicit EmptyResults(MLIRContext *ctx)
      : RewritePattern(MatchAnyOpTypeTag(), /*benefit=*/10, ctx) {}

  LogicalResult matchAndRewrite(Operation *op,
                                PatternRewriter &rewriter) const override {
    if (!isa_and_nonnull<MRopeDialect>(op->getDialect()) ||
        op->getNumResults() == 0 || !isPure(op))
      return failure();
    bool dynamic = false;
    for (Type type : op->getResultTypes()) {
      auto tensor = dyn_cast<RankedTensorType>(type);
      if (!tensor || !llvm::is_contained(tensor.getShape(), 0))
        return failure();
      dynamic |= !tensor.hasStaticShape();
    }
    // Dynamic sizes next to the zero one come from the op's operands.
    ReifiedRankedShapedTypeDims shapes;
    if (dynamic) {
      auto reify = dyn_cast<ReifyRankedShapedTypeOpInterface>(op);
      if (!reify || failed(reify.reifyResultShapes(rewriter, shapes)))
        return failure();
    }
    SmallVector<Value> empties;
    for (auto [n, type] : llvm::enumerate(op->getResultTypes())) {
      auto tensor = cast<RankedTensorType>(type);
      Value empty =
          dynamic ? tensor::EmptyOp::create(rewriter, op->getLoc(), shapes[n],
                                            tensor.getElementType())
                  : tensor::EmptyOp::create(rewriter, op->getLoc(),
                                            tensor.getShape(),
                                            tensor.getElementType());
      if (empty.getType() != type)
        empty = tensor::CastOp::create(rewriter, op->getLoc(), type, empty);
      empties.push_back(empty);
    }
    rewriter.replaceOp(op, empties);
    return success();
  }
};

} // namespace

void mlir::mrope::populateEmptyResultPatterns(RewritePatternSet &patterns) {
  patterns.add<EmptyResults>(patterns.getContext());
}

void MRopeDialect::getCanonicalizationPatterns(
    RewritePatternSet &results) const {
  populateEmptyResultPatterns(results);
}
