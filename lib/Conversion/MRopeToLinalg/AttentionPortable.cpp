//===- AttentionPortable.cpp - mrope.attention as portable linalg ---------===//
//
// The portable form of mrope.attention (`portable-attention`, set by
// mrope-to-linalg-pipeline): whole-tensor linalg on tensors, which IREE and
// other linalg consumers compile with their own tiling and fusion.
//
//   q [B, Hq, S, D] -> [B, Hkv, G, S, D]        (expand_shape: GQA groups)
//   scores[b,h,g,s,t] = sum_d q[b,h,g,s,d] k[b,h,t,d]       (f32)
//   logits = scores * scale + mask, -inf where causal hides the key
//   m = max_t logits, e = exp(logits - m), l = sum_t e
//   out[b,h,g,s,c] = (sum_t e[b,h,g,s,t] v[b,h,t,c]) / l     (0 if l == 0)
//
// Every contraction accumulates in f32, as the CPU and GPU forms do; a
// query row without keys (all masked) is 0, their convention. bshd operands
// are transposed to bhsd and the result back.
//
// Packed sequences (thd) are one bshd sequence [1, T, H, D] whose keys are
// limited per query token: token i attends the rows [begin_i, end_i) of
// the key space (its sequence's keys, cut by causal masking), found by a
// reduction over the sequences (the last one that holds the token, as in
// the CPU form) -- a key outside is hidden like a causally masked one. A
// paged cache's keys and values are first gathered into the key space's
// rows (sequence n's key j at row n * M * P + j) through block_table. The
// scores are T x T over all packed tokens: the price of a loop-free form.
//
//===----------------------------------------------------------------------===//

#include "AttentionKeyRange.h"
#include "AttentionLowering.h"
#include "Common/ActivationLayout.h"
#include "mrope/Conversion/MRopeToGPU/MRopeToGPU.h"
#include "mrope/Dialect/MRope/IR/MRopeOps.h"

#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Arith/Utils/Utils.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/PatternMatch.h"

#include <limits>

using namespace mlir;
using namespace mlir::mrope;

/// Heads and head dims static (the GQA grouping and the contractions' shapes
/// depend on them), the mask's batch and head sizes (1: broadcast) and a
/// paged cache's block table; batch, token and sequence counts may be
/// dynamic.
bool mlir::mrope::hasPortableForm(AttentionOp op) {
  ActivationLayout d = ActivationLayout::get(op.getLayout());
  for (Value x : {op.getQ(), op.getK(), op.getV()}) {
    auto type = cast<RankedTensorType>(x.getType());
    if (type.isDynamicDim(d.heads) || type.isDynamicDim(d.rank - 1))
      return false;
  }
  if (op.getBlockTable() && ShapedType::isDynamic(op.getKeyRows()))
    return false;
  // Whether the mask broadcasts over the batch or the heads (a size of 1)
  // is read from its type.
  if (Value mask = op.getMask()) {
    auto type = cast<RankedTensorType>(mask.getType());
    if (type.isDynamicDim(0) || type.isDynamicDim(1))
      return false;
  }
  return true;
}

namespace {

/// Builds the linalg ops of one attention; dimensions of the 5-D iteration
/// space are (b, h, g, s, x) with x the key (t) or value channel (c).
struct PortableAttentionBuilder {
  PatternRewriter &b;
  Location loc;
  Type f32;

  Value extend(OpBuilder &ob, Location l, Value x) const {
    return x.getType() == f32 ? x : arith::ExtFOp::create(ob, l, f32, x);
  }

  Value filled(ArrayRef<OpFoldResult> shape, float value) const {
    Value init = tensor::EmptyOp::create(b, loc, shape, f32);
    Value c = arith::ConstantOp::create(b, loc, b.getF32FloatAttr(value));
    return linalg::FillOp::create(b, loc, ValueRange{c}, ValueRange{init})
        .getResult(0);
  }

  AffineMap map(unsigned dims, ArrayRef<AffineExpr> results) const {
    return AffineMap::get(dims, 0, results, b.getContext());
  }

  /// x [B, S, H, D] -> [B, H, S, D] (and back: the same permutation).
  Value swapSeqHeads(Value x) const {
    auto type = cast<RankedTensorType>(x.getType());
    SmallVector<OpFoldResult> shape = tensor::getMixedSizes(b, loc, x);
    std::swap(shape[1], shape[2]);
    Value init = tensor::EmptyOp::create(b, loc, shape, type.getElementType());
    return linalg::TransposeOp::create(b, loc, x, init,
                                       ArrayRef<int64_t>{0, 2, 1, 3})
        .getResult()[0];
  }

  /// sum over the last dimension of the 6-D space (b, h, g, s, x, r) of
  /// lhs[lhsMap] * rhs[rhsMap], into f32 [B, H, G, S, X].
  Value contract(Value lhs, AffineMap lhsMap, Value rhs, AffineMap rhsMap,
                 ArrayRef<OpFoldResult> outShape) const {
    Value init = filled(outShape, 0.0f);
    SmallVector<utils::IteratorType> iterators(5,
                                               utils::IteratorType::parallel);
    iterators.push_back(utils::IteratorType::reduction);
    AffineMap out =
        AffineMap::getMultiDimIdentityMap(6, b.getContext()).getMajorSubMap(5);
    return linalg::GenericOp::create(
               b, loc, TypeRange{init.getType()}, ValueRange{lhs, rhs},
               ValueRange{init}, ArrayRef<AffineMap>{lhsMap, rhsMap, out},
               iterators,
               [&](OpBuilder &ob, Location l, ValueRange a) {
                 Value p = arith::MulFOp::create(ob, l, extend(ob, l, a[0]),
                                                 extend(ob, l, a[1]));
                 linalg::YieldOp::create(
                     ob, l, ValueRange{arith::AddFOp::create(ob, l, a[2], p)});
               })
        .getResult(0);
  }

  /// A reduction over the last dimension of f32 `x` [B, H, G, S, T] with
  /// `combine`, from `initial`.
  Value reduceKeys(
      Value x, float initial,
      function_ref<Value(OpBuilder &, Location, Value, Value)> combine) const {
    SmallVector<OpFoldResult> shape = tensor::getMixedSizes(b, loc, x);
    Value init = filled(ArrayRef<OpFoldResult>(shape).drop_back(), initial);
    SmallVector<utils::IteratorType> iterators(4,
                                               utils::IteratorType::parallel);
    iterators.push_back(utils::IteratorType::reduction);
    AffineMap id = AffineMap::getMultiDimIdentityMap(5, b.getContext());
    return linalg::GenericOp::create(
               b, loc, TypeRange{init.getType()}, ValueRange{x},
               ValueRange{init}, ArrayRef<AffineMap>{id, id.getMajorSubMap(4)},
               iterators,
               [&](OpBuilder &ob, Location l, ValueRange a) {
                 linalg::YieldOp::create(ob, l, combine(ob, l, a[1], a[0]));
               })
        .getResult(0);
  }

  /// An elementwise generic over the 5-D space of `shape` into a new
  /// tensor of `type`.
  Value elementwise(
      ArrayRef<OpFoldResult> shape, Type type, ValueRange inputs,
      ArrayRef<AffineMap> inputMaps,
      function_ref<Value(OpBuilder &, Location, ValueRange)> body) const {
    Value init = tensor::EmptyOp::create(b, loc, shape, type);
    SmallVector<AffineMap> maps(inputMaps);
    maps.push_back(AffineMap::getMultiDimIdentityMap(5, b.getContext()));
    return linalg::GenericOp::create(
               b, loc, TypeRange{init.getType()}, inputs, ValueRange{init},
               maps,
               SmallVector<utils::IteratorType>(5,
                                                utils::IteratorType::parallel),
               [&](OpBuilder &ob, Location l, ValueRange a) {
                 linalg::YieldOp::create(ob, l, body(ob, l, a));
               })
        .getResult(0);
  }

  /// Packed x [T, H, D] as one bshd sequence [1, T, H, D].
  Value asOneSequence(Value x) const {
    auto type = cast<RankedTensorType>(x.getType());
    SmallVector<OpFoldResult> sizes = tensor::getMixedSizes(b, loc, x);
    sizes.insert(sizes.begin(), b.getIndexAttr(1));
    SmallVector<int64_t> shape(type.getShape());
    shape.insert(shape.begin(), 1);
    return tensor::ExpandShapeOp::create(
        b, loc, RankedTensorType::get(shape, type.getElementType()), x,
        ArrayRef<ReassociationIndices>{{0, 1}, {2}, {3}}, sizes);
  }

  /// A paged cache's pool x [pages * P, H, D] gathered into the rows of the
  /// key space [B * M * P, H, D] (AttentionOp::getKeyRows, buildKeyRow).
  Value gatherPages(AttentionOp op, Value x) const {
    auto type = cast<RankedTensorType>(x.getType());
    SmallVector<int64_t> shape(type.getShape());
    shape[0] = op.getKeyRows();
    Value init = tensor::EmptyOp::create(b, loc, shape, type.getElementType());
    return linalg::GenericOp::create(
               b, loc, TypeRange{init.getType()}, ValueRange{},
               ValueRange{init},
               ArrayRef<AffineMap>{
                   AffineMap::getMultiDimIdentityMap(3, b.getContext())},
               SmallVector<utils::IteratorType>(3,
                                                utils::IteratorType::parallel),
               [&](OpBuilder &ob, Location l, ValueRange) {
                 Value row =
                     buildKeyRow(ob, l, op, linalg::IndexOp::create(ob, l, 0));
                 linalg::YieldOp::create(
                     ob, l,
                     ValueRange{tensor::ExtractOp::create(
                         ob, l, x,
                         ValueRange{row, linalg::IndexOp::create(ob, l, 1),
                                    linalg::IndexOp::create(ob, l, 2)})});
               })
        .getResult(0);
  }

  /// For each query token of packed `op`, the rows of the key space it
  /// attends: [begin, end) as i64 tensors [T]. `queryTokens` and `keyRows`
  /// are i64.
  std::pair<Value, Value> packedKeyRanges(AttentionOp op, OpFoldResult tokens,
                                          Value queryTokens,
                                          Value keyRows) const {
    Type i64 = b.getI64Type();
    MLIRContext *ctx = b.getContext();
    auto fill = [&](int64_t value) -> Value {
      Value init = tensor::EmptyOp::create(b, loc, {tokens}, i64);
      Value c = arith::ConstantOp::create(b, loc, b.getI64IntegerAttr(value));
      return linalg::FillOp::create(b, loc, ValueRange{c}, ValueRange{init})
          .getResult(0);
    };
    // The sequences as a loop dimension: cu_seqlens without its last
    // boundary (the body reads both of a sequence's boundaries).
    Value cu = op.getCuSeqlens();
    OpFoldResult numSeqs = affine::makeComposedFoldedAffineApply(
        b, loc, getAffineSymbolExpr(0, ctx) - 1,
        {tensor::getMixedSize(b, loc, cu, 0)});
    Value starts = tensor::ExtractSliceOp::create(
        b, loc, cu, ArrayRef<OpFoldResult>{b.getIndexAttr(0)},
        ArrayRef<OpFoldResult>{numSeqs},
        ArrayRef<OpFoldResult>{b.getIndexAttr(1)});
    // Token i's sequence is the last n with first_n <= i < last_n: an
    // argmax over n (order-independent, as a reduction must be), carrying
    // the sequence's keys and the end of its queries. No sequence: n = -1,
    // no keys.
    AffineExpr i, n;
    bindDims(ctx, i, n);
    AffineMap perToken = map(2, {i});
    SmallVector<Value> inits = {fill(-1), fill(0), fill(0), fill(0)};
    auto reduction = linalg::GenericOp::create(
        b, loc, ValueRange(inits).getTypes(), ValueRange{starts}, inits,
        ArrayRef<AffineMap>{map(2, {n}), perToken, perToken, perToken,
                            perToken},
        ArrayRef<utils::IteratorType>{utils::IteratorType::parallel,
                                      utils::IteratorType::reduction},
        [&](OpBuilder &ob, Location l, ValueRange a) {
          Value token = arith::IndexCastOp::create(
              ob, l, i64, linalg::IndexOp::create(ob, l, 0));
          Value seq = linalg::IndexOp::create(ob, l, 1);
          PackedSequenceBounds s = buildPackedSequenceBounds(
              ob, l, op, seq, i64, queryTokens, keyRows);
          Value inside = buildInHalfOpenRange(ob, l, token, s.first, s.last);
          Value take = arith::AndIOp::create(
              ob, l, inside,
              arith::CmpIOp::create(ob, l, arith::CmpIPredicate::sgt,
                                    arith::IndexCastOp::create(ob, l, i64, seq),
                                    a[1]));
          auto pick = [&](Value mine, Value kept) -> Value {
            return arith::SelectOp::create(ob, l, take, mine, kept);
          };
          linalg::YieldOp::create(
              ob, l,
              ValueRange{
                  pick(arith::IndexCastOp::create(ob, l, i64, seq), a[1]),
                  pick(s.keysFirst, a[2]), pick(s.keysLast, a[3]),
                  pick(s.last, a[4])});
        });
    Value begin = reduction.getResult(1), end = reduction.getResult(2);
    if (!op.getCausal())
      return {begin, end};
    AffineMap id = AffineMap::getMultiDimIdentityMap(1, ctx);
    end = linalg::GenericOp::create(
              b, loc, TypeRange{end.getType()},
              ValueRange{begin, end, reduction.getResult(3)},
              ValueRange{tensor::EmptyOp::create(b, loc, {tokens}, i64)},
              ArrayRef<AffineMap>{id, id, id, id},
              ArrayRef<utils::IteratorType>{utils::IteratorType::parallel},
              [&](OpBuilder &ob, Location l, ValueRange a) {
                Value token = arith::IndexCastOp::create(
                    ob, l, i64, linalg::IndexOp::create(ob, l, 0));
                linalg::YieldOp::create(
                    ob, l,
                    ValueRange{buildCausalKeyEnd(ob, l, op, token, a[0], a[1],
                                                 a[2], queryTokens, keyRows)});
              })
              .getResult(0);
    return {begin, end};
  }
};

struct PortableAttentionLowering : OpRewritePattern<AttentionOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(AttentionOp op,
                                PatternRewriter &rewriter) const override {
    if (op->hasAttr(kGPUKernelAttrName))
      return rewriter.notifyMatchFailure(op, "selected for the GPU");
    if (!hasPortableForm(op))
      return rewriter.notifyMatchFailure(
          op, "packed sequences, or dynamic heads, head dims or mask "
              "broadcast sizes");
    auto qType = cast<RankedTensorType>(op.getQ().getType());
    Location loc = op.getLoc();
    PortableAttentionBuilder p{rewriter, loc, rewriter.getF32Type()};
    MLIRContext *ctx = rewriter.getContext();

    Value q = op.getQ(), k = op.getK(), v = op.getV();
    if (op.hasRotaryPrologue())
      std::tie(q, k) = rotateAttentionPrologue(op, rewriter);
    // Packed sequences: the rows of the key space each query token attends,
    // and q, k, v as one bshd sequence.
    const bool packed = op.getLayout() == TensorLayout::THD;
    Value keyBegin, keyEnd;
    if (packed) {
      if (op.getBlockTable()) {
        k = p.gatherPages(op, k);
        v = p.gatherPages(op, v);
      }
      OpFoldResult tokens = tensor::getMixedSize(rewriter, loc, q, 0);
      auto asI64 = [&](OpFoldResult size) -> Value {
        if (std::optional<int64_t> known = getConstantIntValue(size))
          return arith::ConstantIntOp::create(rewriter, loc,
                                              rewriter.getI64Type(), *known);
        return arith::IndexCastOp::create(
            rewriter, loc, rewriter.getI64Type(),
            getValueOrCreateConstantIndexOp(rewriter, loc, size));
      };
      std::tie(keyBegin, keyEnd) =
          p.packedKeyRanges(op, tokens, asI64(tokens),
                            asI64(tensor::getMixedSize(rewriter, loc, k, 0)));
      q = p.asOneSequence(q);
      k = p.asOneSequence(k);
      v = p.asOneSequence(v);
    }
    const bool bshd = packed || op.getLayout() == TensorLayout::BSHD;
    if (bshd) {
      q = p.swapSeqHeads(q);
      k = p.swapSeqHeads(k);
      v = p.swapSeqHeads(v);
    }
    // Batch and token counts may be dynamic; heads and head dims are not.
    SmallVector<OpFoldResult> qSizes = tensor::getMixedSizes(rewriter, loc, q);
    SmallVector<OpFoldResult> kSizes = tensor::getMixedSizes(rewriter, loc, k);
    auto kShape = cast<RankedTensorType>(k.getType()).getShape();
    auto vShape = cast<RankedTensorType>(v.getType()).getShape();
    OpFoldResult batch = qSizes[0], seq = qSizes[2], keys = kSizes[2];
    const int64_t kvHeads = kShape[1];
    const int64_t group =
        cast<RankedTensorType>(q.getType()).getDimSize(1) / kvHeads;
    OpFoldResult valueDim = rewriter.getIndexAttr(vShape[3]);
    OpFoldResult kvHeadsSize = rewriter.getIndexAttr(kvHeads);
    OpFoldResult groupSize = rewriter.getIndexAttr(group);
    Type element = qType.getElementType();

    // x [B, Hq, S, X] as [B, Hkv, G, S, X]: query head h * G + g reads KV
    // head h.
    auto grouped = [&](Value x) -> Value {
      SmallVector<OpFoldResult> sizes = tensor::getMixedSizes(rewriter, loc, x);
      SmallVector<OpFoldResult> out = {sizes[0], kvHeadsSize, groupSize,
                                       sizes[2], sizes[3]};
      auto type = cast<RankedTensorType>(x.getType());
      SmallVector<int64_t> shape = {type.getDimSize(0), kvHeads, group,
                                    type.getDimSize(2), type.getDimSize(3)};
      return tensor::ExpandShapeOp::create(
          rewriter, loc, RankedTensorType::get(shape, type.getElementType()), x,
          ArrayRef<ReassociationIndices>{{0}, {1, 2}, {3}, {4}}, out);
    };
    Value q5 = grouped(q);

    AffineExpr bd, hd, gd, sd, xd, rd;
    bindDims(ctx, bd, hd, gd, sd, xd, rd);
    // scores[b,h,g,s,t] = sum_d q[b,h,g,s,d] k[b,h,t,d]
    SmallVector<OpFoldResult> scoreShape = {batch, kvHeadsSize, groupSize, seq,
                                            keys};
    Value scores = p.contract(q5, p.map(6, {bd, hd, gd, sd, rd}), k,
                              p.map(6, {bd, hd, xd, rd}), scoreShape);

    // logits = scores * scale (+ mask), -inf where causal masking hides the
    // key (bottom-right aligned: key t is visible from row s if
    // t <= s + keys - seq).
    SmallVector<Value> inputs = {scores};
    AffineMap id5 = AffineMap::getMultiDimIdentityMap(5, ctx);
    SmallVector<AffineMap> maps = {id5};
    AffineExpr b5, h5, g5, s5, t5;
    bindDims(ctx, b5, h5, g5, s5, t5);
    if (Value mask = op.getMask()) {
      auto maskType = cast<RankedTensorType>(mask.getType());
      AffineExpr zero = getAffineConstantExpr(0, ctx);
      AffineExpr mb = maskType.getDimSize(0) == 1 ? zero : b5;
      if (maskType.getDimSize(1) == 1) {
        maps.push_back(p.map(5, {mb, zero, s5, t5}));
      } else {
        mask = grouped(mask);
        maps.push_back(p.map(5, {mb, h5, g5, s5, t5}));
      }
      inputs.push_back(mask);
    }
    if (packed) {
      inputs.append({keyBegin, keyEnd});
      maps.append(2, p.map(5, {s5}));
    }
    // Packed sequences are cut causally in their key ranges.
    const bool causal = op.getCausal() && !packed;
    // Key t is visible from row s if t <= s + (keys - seq).
    Value shift;
    if (causal)
      shift = getValueOrCreateConstantIndexOp(
          rewriter, loc,
          affine::makeComposedFoldedAffineApply(rewriter, loc,
                                                getAffineSymbolExpr(0, ctx) -
                                                    getAffineSymbolExpr(1, ctx),
                                                {keys, seq}));
    const float scale = static_cast<float>(op.getEffectiveScale());
    const float negInf = -std::numeric_limits<float>::infinity();
    Value logits = p.elementwise(
        scoreShape, p.f32, inputs, maps,
        [&](OpBuilder &ob, Location l, ValueRange a) -> Value {
          Value x = arith::MulFOp::create(
              ob, l, a[0],
              arith::ConstantOp::create(ob, l, ob.getF32FloatAttr(scale)));
          if (op.getMask())
            x = arith::AddFOp::create(ob, l, x, p.extend(ob, l, a[1]));
          Value visible;
          if (packed) {
            // In the token's key range [a[1], a[2]) (packed ops have no mask
            // operand).
            Value t = arith::IndexCastOp::create(
                ob, l, ob.getI64Type(), linalg::IndexOp::create(ob, l, 4));
            visible = buildInHalfOpenRange(ob, l, t, a[1], a[2]);
          } else if (causal) {
            Value s = linalg::IndexOp::create(ob, l, 3);
            Value t = linalg::IndexOp::create(ob, l, 4);
            Value last = arith::AddIOp::create(ob, l, s, shift);
            visible = arith::CmpIOp::create(ob, l, arith::CmpIPredicate::sle, t,
                                            last);
          } else {
            return x;
          }
          return arith::SelectOp::create(
              ob, l, visible, x,
              arith::ConstantOp::create(ob, l, ob.getF32FloatAttr(negInf)));
        });

    // Softmax over the keys, normalized after the value contraction.
    Value top = p.reduceKeys(logits, negInf,
                             [](OpBuilder &ob, Location l, Value acc, Value x) {
                               return arith::MaximumFOp::create(ob, l, acc, x);
                             });
    AffineMap rowMap = p.map(5, {b5, h5, g5, s5});
    Value weights = p.elementwise(
        scoreShape, p.f32, {logits, top}, {id5, rowMap},
        [&](OpBuilder &ob, Location l, ValueRange a) -> Value {
          // A row whose keys are all hidden has max -inf: weights 0.
          Value none = arith::CmpFOp::create(
              ob, l, arith::CmpFPredicate::OEQ, a[1],
              arith::ConstantOp::create(ob, l, ob.getF32FloatAttr(negInf)));
          Value e = math::ExpOp::create(
              ob, l, arith::SubFOp::create(ob, l, a[0], a[1]));
          return arith::SelectOp::create(
              ob, l, none,
              arith::ConstantOp::create(ob, l, ob.getF32FloatAttr(0.0f)), e);
        });
    Value total = p.reduceKeys(
        weights, 0.0f, [](OpBuilder &ob, Location l, Value acc, Value x) {
          return arith::AddFOp::create(ob, l, acc, x);
        });
    // out[b,h,g,s,c] = sum_t e[b,h,g,s,t] v[b,h,t,c]
    SmallVector<OpFoldResult> outShape = {batch, kvHeadsSize, groupSize, seq,
                                          valueDim};
    Value weighted = p.contract(weights, p.map(6, {bd, hd, gd, sd, rd}), v,
                                p.map(6, {bd, hd, rd, xd}), outShape);
    Value out = p.elementwise(
        outShape, element, {weighted, total}, {id5, rowMap},
        [&](OpBuilder &ob, Location l, ValueRange a) -> Value {
          Value zero =
              arith::ConstantOp::create(ob, l, ob.getF32FloatAttr(0.0f));
          Value empty = arith::CmpFOp::create(ob, l, arith::CmpFPredicate::OEQ,
                                              a[1], zero);
          Value y = arith::SelectOp::create(
              ob, l, empty, zero, arith::DivFOp::create(ob, l, a[0], a[1]));
          return element == p.f32
                     ? y
                     : Value(arith::TruncFOp::create(ob, l, element, y));
        });
    Value result = tensor::CollapseShapeOp::create(
        rewriter, loc, out,
        ArrayRef<ReassociationIndices>{{0}, {1, 2}, {3}, {4}});
    if (bshd)
      result = p.swapSeqHeads(result);
    if (packed)
      result = tensor::CollapseShapeOp::create(
          rewriter, loc, result,
          ArrayRef<ReassociationIndices>{{0, 1}, {2}, {3}});
    rewriter.replaceOp(op, result);
    return success();
  }
};

} // namespace

void mlir::mrope::populatePortableAttentionPatterns(
    RewritePatternSet &patterns) {
  patterns.add<PortableAttentionLowering>(patterns.getContext());
}
