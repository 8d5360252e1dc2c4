//===- FuseRotaryIntoAttention.cpp - apply + attention -> fused -----------===//

#include "mrope/Dialect/MRope/IR/MRopeOps.h"
#include "mrope/Dialect/MRope/Transforms/Passes.h"

#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir::mrope {
#define GEN_PASS_DEF_MROPEFUSEROTARYINTOATTENTION
#include "mrope/Dialect/MRope/Transforms/Passes.h.inc"
} // namespace mlir::mrope

using namespace mlir;
using namespace mlir::mrope;

namespace {

struct FuseApplyIntoAttention : OpRewritePattern<AttentionOp> {
  FuseApplyIntoAttention(MLIRContext *context, bool allowRecompute)
      : OpRewritePattern(context), allowRecompute(allowRecompute) {}

  LogicalResult matchAndRewrite(AttentionOp attention,
                                PatternRewriter &rewriter) const override {
    if (attention.hasRotaryPrologue())
      return rewriter.notifyMatchFailure(attention, "already has rotary");
    auto apply = attention.getQ().getDefiningOp<ApplyOp>();
    if (!apply || attention.getK() != apply.getKOut() ||
        attention.getQ() != apply.getQOut())
      return rewriter.notifyMatchFailure(
          attention, "q and k are not the results of one mrope.apply");
    if (apply.getInverse())
      return rewriter.notifyMatchFailure(attention, "inverse rotation");
    if (attention.getBlockTable())
      return rewriter.notifyMatchFailure(
          attention, "a paged cache holds keys rotated when written");
    if (apply.getLayout() != attention.getLayout())
      return rewriter.notifyMatchFailure(attention, "layouts differ");
    if (!allowRecompute &&
        (!apply.getQOut().hasOneUse() || !apply.getKOut().hasOneUse()))
      return rewriter.notifyMatchFailure(
          attention, "rotated q/k have other users; fusing would rotate "
                     "them twice");

    rewriter.modifyOpInPlace(attention, [&] {
      attention.getQMutable().assign(apply.getQ());
      attention.getKMutable().assign(apply.getK());
      attention.getQPositionsMutable().assign(apply.getPositions());
      attention.getKPositionsMutable().assign(apply.getPositions());
      attention.getInvFreqMutable().assign(apply.getInvFreq());
      attention.setRotaryAttr(apply.getRotary());
    });
    if (apply->use_empty())
      rewriter.eraseOp(apply);
    return success();
  }

  bool allowRecompute;
};

struct MRopeFuseRotaryIntoAttentionPass
    : mrope::impl::MRopeFuseRotaryIntoAttentionBase<
          MRopeFuseRotaryIntoAttentionPass> {
  using Base::Base;

  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    populateFuseRotaryIntoAttentionPatterns(patterns, allowRecompute);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace

void mlir::mrope::populateFuseRotaryIntoAttentionPatterns(
    RewritePatternSet &patterns, bool allowRecompute) {
  patterns.add<FuseApplyIntoAttention>(patterns.getContext(), allowRecompute);
}
