//===- MRopeToLinalg.cpp - mrope to linalg-on-tensors ---------------------===//
//
// mrope.apply / mrope.cos_sin  ->  angles per (token, pair) from strided runs
// of the allocation  ->  cos/sin  ->  one linalg.generic per rotated tensor.
//
//===----------------------------------------------------------------------===//

#include "mrope/Conversion/MRopeToLinalg/MRopeToLinalg.h"
#include "RopeIndexLowering.h"
#include "mrope/Conversion/Passes.h"
#include "mrope/Dialect/MRope/IR/MRopeOps.h"
#include "mrope/Dialect/MRope/Utils/AxisRuns.h"
#include "mrope/Dialect/MRope/Utils/FrequencyMath.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/DialectConversion.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir::mrope {
#define GEN_PASS_DEF_CONVERTMROPETOLINALG
#include "mrope/Conversion/Passes.h.inc"
} // namespace mlir::mrope

using namespace mlir;
using namespace mlir::mrope;

namespace {

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
};

SmallVector<utils::IteratorType> parallel(int64_t rank) {
  return SmallVector<utils::IteratorType>(rank, utils::IteratorType::parallel);
}

/// The sizes of `value` as OpFoldResults (constants where static).
SmallVector<OpFoldResult> sizesOf(OpBuilder &b, Location loc, Value value) {
  return tensor::getMixedSizes(b, loc, value);
}

Value emptyLike(OpBuilder &b, Location loc, ArrayRef<OpFoldResult> sizes,
                Type elementType) {
  return tensor::EmptyOp::create(b, loc, sizes, elementType);
}

/// positions as f32 (integer positions convert exactly below 2^24, as the
/// reference's `.float()` does).
Value positionsToF32(OpBuilder &b, Location loc, Value positions) {
  auto type = cast<RankedTensorType>(positions.getType());
  Type f32 = b.getF32Type();
  if (type.getElementType() == f32)
    return positions;
  Value init = emptyLike(b, loc, sizesOf(b, loc, positions), f32);
  AffineMap id = b.getMultiDimIdentityMap(type.getRank());
  return linalg::GenericOp::create(
             b, loc, TypeRange{init.getType()}, ValueRange{positions},
             ValueRange{init}, ArrayRef<AffineMap>{id, id},
             parallel(type.getRank()),
             [&](OpBuilder &nb, Location nloc, ValueRange args) {
               Value f = arith::SIToFPOp::create(nb, nloc, nb.getF32Type(),
                                                 args[0]);
               linalg::YieldOp::create(nb, nloc, f);
             })
      .getResult(0);
}

/// One row of the f32 positions, rank-reduced: [B, S] (or [T] packed).
Value positionRow(OpBuilder &b, Location loc, Value posF, Axis axis) {
  auto type = cast<RankedTensorType>(posF.getType());
  SmallVector<OpFoldResult> sizes = sizesOf(b, loc, posF);
  SmallVector<OpFoldResult> offsets(type.getRank(), b.getIndexAttr(0));
  SmallVector<OpFoldResult> strides(type.getRank(), b.getIndexAttr(1));
  offsets[0] = b.getIndexAttr(static_cast<int64_t>(axis));
  sizes[0] = b.getIndexAttr(1);
  auto rowType = RankedTensorType::get(type.getShape().drop_front(),
                                       type.getElementType());
  return tensor::ExtractSliceOp::create(b, loc, rowType, posF, offsets, sizes,
                                        strides);
}

/// Selected angles `pos[axis(j)] * inv_freq[j]`.
///
/// Shared tables: [B, S, P] ([T, P] packed). Head-partitioned: [B, KV, S, P]
/// ([KV, T, P] packed). Every strided run of pairs (or of KV heads) reads one
/// position row fixed at compile time; NoPE entries stay 0.
Value buildAngles(OpBuilder &b, Location loc, Value posF, Value invFreq,
                  RotaryAttr rotary, int64_t numKVHeads) {
  AllocationAttr alloc = rotary.getAlloc();
  const int64_t numPairs = rotary.getRotaryDim() / 2;
  const bool perHead = alloc.isHeadPartitioned();
  Type f32 = b.getF32Type();

  // Angle table shape: position dims (without the row dim), [KV], pairs.
  auto posType = cast<RankedTensorType>(posF.getType());
  SmallVector<OpFoldResult> tokenSizes = sizesOf(b, loc, posF);
  tokenSizes.erase(tokenSizes.begin()); // [B, S] or [T]
  const int64_t tokenRank = posType.getRank() - 1;
  // Index of the head dim in the table (before the tokens' seq dim).
  const int64_t headPos = perHead ? tokenRank - 1 : -1;
  SmallVector<OpFoldResult> tableSizes(tokenSizes);
  if (perHead)
    tableSizes.insert(tableSizes.begin() + headPos,
                      b.getIndexAttr(numKVHeads));
  tableSizes.push_back(b.getIndexAttr(numPairs));
  const int64_t tableRank = tableSizes.size();

  Value zero = arith::ConstantOp::create(b, loc, b.getF32FloatAttr(0.0f));
  Value table = linalg::FillOp::create(b, loc, ValueRange{zero},
                                       ValueRange{emptyLike(b, loc, tableSizes,
                                                            f32)})
                    .getResult(0);

  // Runs over pairs, or over KV heads (all pairs of a head read its axis).
  std::vector<AxisRun> runs =
      perHead ? decomposeIntoRuns(alloc.getHeadAxes(numKVHeads))
              : decomposeIntoRuns(alloc.getPairAxes(numPairs));
  for (const AxisRun &run : runs) {
    if (run.axis == Axis::NoPE)
      continue;
    Value row = positionRow(b, loc, posF, run.axis);
    Value freqs = invFreq;
    SmallVector<OpFoldResult> runSizes(tableSizes);
    SmallVector<OpFoldResult> offsets(tableRank, b.getIndexAttr(0));
    SmallVector<OpFoldResult> strides(tableRank, b.getIndexAttr(1));
    int64_t runDim = perHead ? headPos : tableRank - 1;
    runSizes[runDim] = b.getIndexAttr(run.count);
    offsets[runDim] = b.getIndexAttr(run.start);
    strides[runDim] = b.getIndexAttr(run.stride);
    if (!perHead) {
      auto freqType = RankedTensorType::get({run.count}, f32);
      freqs = tensor::ExtractSliceOp::create(
          b, loc, freqType, invFreq,
          ArrayRef<OpFoldResult>{b.getIndexAttr(run.start)},
          ArrayRef<OpFoldResult>{b.getIndexAttr(run.count)},
          ArrayRef<OpFoldResult>{b.getIndexAttr(run.stride)});
    }
    // angles[..tokens.., (head), j] = row[..tokens..] * freqs[j]
    SmallVector<AffineExpr> rowExprs, freqExprs;
    for (int64_t d = 0; d < tableRank; ++d) {
      if (d == tableRank - 1)
        freqExprs.push_back(b.getAffineDimExpr(d));
      else if (d != headPos)
        rowExprs.push_back(b.getAffineDimExpr(d));
    }
    MLIRContext *ctx = b.getContext();
    SmallVector<AffineMap> maps = {
        AffineMap::get(tableRank, 0, rowExprs, ctx),
        AffineMap::get(tableRank, 0, freqExprs, ctx),
        b.getMultiDimIdentityMap(tableRank)};
    Value init = emptyLike(b, loc, runSizes, f32);
    Value angles =
        linalg::GenericOp::create(
            b, loc, TypeRange{init.getType()}, ValueRange{row, freqs},
            ValueRange{init}, maps, parallel(tableRank),
            [&](OpBuilder &nb, Location nloc, ValueRange args) {
              Value a = arith::MulFOp::create(nb, nloc, args[0], args[1]);
              linalg::YieldOp::create(nb, nloc, a);
            })
            .getResult(0);
    table = tensor::InsertSliceOp::create(b, loc, angles, table, offsets,
                                          runSizes, strides);
  }
  return table;
}

/// cos and sin of the angles times the attention scaling, in f32.
std::pair<Value, Value> buildCosSin(OpBuilder &b, Location loc, Value angles,
                                    double attentionScaling) {
  auto type = cast<RankedTensorType>(angles.getType());
  SmallVector<OpFoldResult> sizes = sizesOf(b, loc, angles);
  Value cosInit = emptyLike(b, loc, sizes, b.getF32Type());
  Value sinInit = emptyLike(b, loc, sizes, b.getF32Type());
  AffineMap id = b.getMultiDimIdentityMap(type.getRank());
  auto generic = linalg::GenericOp::create(
      b, loc, TypeRange{cosInit.getType(), sinInit.getType()},
      ValueRange{angles}, ValueRange{cosInit, sinInit},
      ArrayRef<AffineMap>{id, id, id}, parallel(type.getRank()),
      [&](OpBuilder &nb, Location nloc, ValueRange args) {
        Value c = math::CosOp::create(nb, nloc, args[0]);
        Value s = math::SinOp::create(nb, nloc, args[0]);
        if (attentionScaling != 1.0) {
          Value scale = arith::ConstantOp::create(
              nb, nloc,
              nb.getF32FloatAttr(static_cast<float>(attentionScaling)));
          c = arith::MulFOp::create(nb, nloc, c, scale);
          s = arith::MulFOp::create(nb, nloc, s, scale);
        }
        linalg::YieldOp::create(nb, nloc, ValueRange{c, s});
      });
  return {generic.getResult(0), generic.getResult(1)};
}

/// Affine expression of the pair that channel `d` belongs to.
AffineExpr pairOf(AffineExpr d, PairLayout pairs, int64_t numPairs) {
  return pairs == PairLayout::NeoX ? d % numPairs : d.floorDiv(2);
}

/// Rotates the first rotary_dim channels of `x` pair by pair:
///   y1 = x1 * cos - x2 * sin,  y2 = x2 * cos + x1 * sin
/// where (x1, x2) are the two channels of each pair: the two halves for NeoX,
/// the even and odd channels for GPT-J, taken as (strided) slices. cos/sin
/// are rounded to x's type first, as Hugging Face does. The generic writes
/// into the slices it reads, at the same indices, so bufferization can
/// rotate in place when `x` is not used afterwards; the other channels
/// (partial rotary) are untouched.
Value rotate(OpBuilder &b, Location loc, Value x, Value cosTable,
             Value sinTable, RotaryAttr rotary, TensorLayout layout,
             int64_t groupSize, bool inverse) {
  auto xType = cast<RankedTensorType>(x.getType());
  ActivationLayout l = ActivationLayout::get(layout);
  const int64_t rank = xType.getRank();
  const int64_t numPairs = rotary.getRotaryDim() / 2;
  const bool neox = rotary.getPairs() == PairLayout::NeoX;
  const bool perHead = rotary.getAlloc().isHeadPartitioned();
  MLIRContext *ctx = b.getContext();
  Type elementType = xType.getElementType();

  // The two channels of every pair, as slices of x.
  SmallVector<OpFoldResult> sizes = sizesOf(b, loc, x);
  sizes.back() = b.getIndexAttr(numPairs);
  SmallVector<OpFoldResult> strides(rank, b.getIndexAttr(1));
  strides.back() = b.getIndexAttr(neox ? 1 : 2);
  SmallVector<int64_t> shape(xType.getShape());
  shape.back() = numPairs;
  auto halfType = RankedTensorType::get(shape, elementType);
  auto slice = [&](int64_t offset) {
    SmallVector<OpFoldResult> offsets(rank, b.getIndexAttr(0));
    offsets.back() = b.getIndexAttr(offset);
    return std::make_pair(
        tensor::ExtractSliceOp::create(b, loc, halfType, x, offsets, sizes,
                                       strides)
            .getResult(),
        offsets);
  };
  auto [x1, offsets1] = slice(0);
  auto [x2, offsets2] = slice(neox ? numPairs : 1);

  // Tables: [B], [KV], S, P  (packed: [KV], T, P), indexed by pair.
  SmallVector<AffineExpr> tableExprs;
  if (!l.packed())
    tableExprs.push_back(b.getAffineDimExpr(l.batch));
  if (perHead)
    tableExprs.push_back(b.getAffineDimExpr(l.heads).floorDiv(groupSize));
  tableExprs.push_back(b.getAffineDimExpr(l.seq));
  tableExprs.push_back(b.getAffineDimExpr(rank - 1));
  AffineMap id = b.getMultiDimIdentityMap(rank);
  AffineMap tableMap = AffineMap::get(rank, 0, tableExprs, ctx);

  auto rotated = linalg::GenericOp::create(
      b, loc, TypeRange{halfType, halfType},
      ValueRange{x1, x2, cosTable, sinTable}, ValueRange{x1, x2},
      ArrayRef<AffineMap>{id, id, tableMap, tableMap, id, id}, parallel(rank),
      [&](OpBuilder &nb, Location nloc, ValueRange args) {
        Value a = args[0], c2 = args[1], c = args[2], s = args[3];
        if (elementType != nb.getF32Type()) {
          c = arith::TruncFOp::create(nb, nloc, elementType, c);
          s = arith::TruncFOp::create(nb, nloc, elementType, s);
        }
        if (inverse)
          s = arith::NegFOp::create(nb, nloc, s);
        // x * cos + rotate_half(x) * sin, with rotate_half = (-x2, x1).
        Value negated = arith::NegFOp::create(nb, nloc, c2);
        Value y1 = arith::AddFOp::create(
            nb, nloc, arith::MulFOp::create(nb, nloc, a, c),
            arith::MulFOp::create(nb, nloc, negated, s));
        Value y2 = arith::AddFOp::create(
            nb, nloc, arith::MulFOp::create(nb, nloc, c2, c),
            arith::MulFOp::create(nb, nloc, a, s));
        linalg::YieldOp::create(nb, nloc, ValueRange{y1, y2});
      });
  Value result = tensor::InsertSliceOp::create(b, loc, rotated.getResult(0),
                                               x, offsets1, sizes, strides);
  return tensor::InsertSliceOp::create(b, loc, rotated.getResult(1), result,
                                       offsets2, sizes, strides);
}

/// Returns the KV head count, failing on a dynamic one where it is needed.
FailureOr<int64_t> staticKVHeads(Operation *op, RotaryAttr rotary,
                                 int64_t numKVHeads,
                                 PatternRewriter &rewriter) {
  if (!rotary.getAlloc().isHeadPartitioned())
    return int64_t(1);
  if (ShapedType::isDynamic(numKVHeads))
    return rewriter.notifyMatchFailure(
        op, "head-partitioned allocation needs a static KV head count");
  return numKVHeads;
}

struct ApplyOpLowering : OpRewritePattern<ApplyOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(ApplyOp op,
                                PatternRewriter &rewriter) const override {
    RotaryAttr rotary = op.getRotary();
    FailureOr<int64_t> numKV =
        staticKVHeads(op, rotary, op.getNumKVHeads(), rewriter);
    if (failed(numKV))
      return failure();
    ActivationLayout l = ActivationLayout::get(op.getLayout());
    int64_t groupSize = 1;
    if (rotary.getAlloc().isHeadPartitioned()) {
      int64_t qHeads =
          cast<RankedTensorType>(op.getQ().getType()).getDimSize(l.heads);
      if (ShapedType::isDynamic(qHeads))
        return rewriter.notifyMatchFailure(
            op, "head-partitioned allocation needs a static head count");
      groupSize = qHeads / *numKV;
    }
    Location loc = op.getLoc();
    Value posF = positionsToF32(rewriter, loc, op.getPositions());
    Value angles = buildAngles(rewriter, loc, posF, op.getInvFreq(), rotary,
                               *numKV);
    auto [cosTable, sinTable] = buildCosSin(
        rewriter, loc, angles, rotary.getAttentionScaling());
    Value q = rotate(rewriter, loc, op.getQ(), cosTable, sinTable, rotary,
                     op.getLayout(), groupSize, op.getInverse());
    Value k = rotate(rewriter, loc, op.getK(), cosTable, sinTable, rotary,
                     op.getLayout(), /*groupSize=*/1, op.getInverse());
    rewriter.replaceOp(op, {q, k});
    return success();
  }
};

struct CosSinOpLowering : OpRewritePattern<CosSinOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(CosSinOp op,
                                PatternRewriter &rewriter) const override {
    RotaryAttr rotary = op.getRotary();
    FailureOr<int64_t> numKV =
        staticKVHeads(op, rotary, op.getNumKVHeads(), rewriter);
    if (failed(numKV))
      return failure();
    Location loc = op.getLoc();
    Value posF = positionsToF32(rewriter, loc, op.getPositions());
    Value angles = buildAngles(rewriter, loc, posF, op.getInvFreq(), rotary,
                               *numKV);
    auto [cosTable, sinTable] = buildCosSin(
        rewriter, loc, angles, rotary.getAttentionScaling());

    // Expand [.., P] to the Hugging Face [.., D] layout.
    auto resultType = cast<RankedTensorType>(op.getCos().getType());
    const int64_t rank = resultType.getRank();
    SmallVector<AffineExpr> exprs;
    for (int64_t i = 0; i < rank - 1; ++i)
      exprs.push_back(rewriter.getAffineDimExpr(i));
    exprs.push_back(pairOf(rewriter.getAffineDimExpr(rank - 1),
                           rotary.getPairs(), rotary.getRotaryDim() / 2));
    AffineMap tableMap =
        AffineMap::get(rank, 0, exprs, rewriter.getContext());
    AffineMap id = rewriter.getMultiDimIdentityMap(rank);
    SmallVector<OpFoldResult> sizes = sizesOf(rewriter, loc, angles);
    sizes.back() = rewriter.getIndexAttr(rotary.getRotaryDim());
    Type elementType = resultType.getElementType();
    Value cosInit = emptyLike(rewriter, loc, sizes, elementType);
    Value sinInit = emptyLike(rewriter, loc, sizes, elementType);
    auto generic = linalg::GenericOp::create(
        rewriter, loc, TypeRange{cosInit.getType(), sinInit.getType()},
        ValueRange{cosTable, sinTable}, ValueRange{cosInit, sinInit},
        ArrayRef<AffineMap>{tableMap, tableMap, id, id}, parallel(rank),
        [&](OpBuilder &nb, Location nloc, ValueRange args) {
          Value c = args[0], s = args[1];
          if (elementType != nb.getF32Type()) {
            c = arith::TruncFOp::create(nb, nloc, elementType, c);
            s = arith::TruncFOp::create(nb, nloc, elementType, s);
          }
          linalg::YieldOp::create(nb, nloc, ValueRange{c, s});
        });
    Value cos = generic.getResult(0), sin = generic.getResult(1);
    if (cos.getType() != resultType) {
      cos = tensor::CastOp::create(rewriter, loc, resultType, cos);
      sin = tensor::CastOp::create(rewriter, loc, resultType, sin);
    }
    rewriter.replaceOp(op, {cos, sin});
    return success();
  }
};

/// positions[r, b, k] = next[b] + k for the K next tokens.
struct DecodePositionsOpLowering : OpRewritePattern<DecodePositionsOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(DecodePositionsOp op,
                                PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    auto type = cast<RankedTensorType>(op.getPositions().getType());
    Type elementType = type.getElementType();
    SmallVector<OpFoldResult> sizes = {
        rewriter.getIndexAttr(3),
        tensor::getMixedSize(rewriter, loc, op.getNextPositions(), 0),
        rewriter.getIndexAttr(type.getDimSize(2))};
    Value init = emptyLike(rewriter, loc, sizes, elementType);
    MLIRContext *ctx = rewriter.getContext();
    AffineMap nextMap =
        AffineMap::get(3, 0, {rewriter.getAffineDimExpr(1)}, ctx);
    Value result =
        linalg::GenericOp::create(
            rewriter, loc, TypeRange{init.getType()},
            ValueRange{op.getNextPositions()}, ValueRange{init},
            ArrayRef<AffineMap>{nextMap, rewriter.getMultiDimIdentityMap(3)},
            parallel(3),
            [&](OpBuilder &nb, Location nloc, ValueRange args) {
              Value k = linalg::IndexOp::create(nb, nloc, 2);
              Value sum;
              if (isa<FloatType>(elementType)) {
                Value k64 = arith::IndexCastOp::create(nb, nloc,
                                                       nb.getI64Type(), k);
                Value kf = arith::SIToFPOp::create(nb, nloc, elementType, k64);
                sum = arith::AddFOp::create(nb, nloc, args[0], kf);
              } else {
                Value ki =
                    arith::IndexCastOp::create(nb, nloc, elementType, k);
                sum = arith::AddIOp::create(nb, nloc, args[0], ki);
              }
              linalg::YieldOp::create(nb, nloc, sum);
            })
            .getResult(0);
    if (result.getType() != type)
      result = tensor::CastOp::create(rewriter, loc, type, result);
    rewriter.replaceOp(op, result);
    return success();
  }
};

/// max(positions) + 1 as a reduction.
struct SequenceLengthOpLowering : OpRewritePattern<SequenceLengthOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(SequenceLengthOp op,
                                PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    auto type = cast<RankedTensorType>(op.getPositions().getType());
    Type elementType = type.getElementType();
    Value lowest = arith::ConstantOp::create(
        rewriter, loc,
        IntegerAttr::get(elementType,
                         APInt::getSignedMinValue(
                             elementType.getIntOrFloatBitWidth())));
    Value init = linalg::FillOp::create(
                     rewriter, loc, ValueRange{lowest},
                     ValueRange{tensor::EmptyOp::create(
                         rewriter, loc, ArrayRef<int64_t>{}, elementType)})
                     .getResult(0);
    int64_t rank = type.getRank();
    AffineMap scalar = AffineMap::get(rank, 0, {}, rewriter.getContext());
    Value largest =
        linalg::GenericOp::create(
            rewriter, loc, TypeRange{init.getType()},
            ValueRange{op.getPositions()}, ValueRange{init},
            ArrayRef<AffineMap>{rewriter.getMultiDimIdentityMap(rank), scalar},
            SmallVector<utils::IteratorType>(rank,
                                             utils::IteratorType::reduction),
            [&](OpBuilder &nb, Location nloc, ValueRange args) {
              Value m = arith::MaxSIOp::create(nb, nloc, args[0], args[1]);
              linalg::YieldOp::create(nb, nloc, m);
            })
            .getResult(0);
    Value value = tensor::ExtractOp::create(rewriter, loc, largest);
    if (elementType != rewriter.getI64Type())
      value = arith::ExtSIOp::create(rewriter, loc, rewriter.getI64Type(), value);
    Value one = arith::ConstantIntOp::create(rewriter, loc, 1, 64);
    rewriter.replaceOpWithNewOp<arith::AddIOp>(op, value, one);
    return success();
  }
};

/// inv_freq with a runtime length. Dynamic NTK follows the runtime update of
/// transformers, where `seq_len` is a tensor and the rescaled base is
/// computed in float32; LongRoPE selects the short or long factors.
struct InvFreqOpLowering : OpRewritePattern<InvFreqOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(InvFreqOp op,
                                PatternRewriter &rewriter) const override {
    if (!op.getSeqLen())
      return rewriter.notifyMatchFailure(op, "folds instead");
    ScalingAttr scaling = *op.getScaling();
    freq::ScalingParams params = scaling.toParams();
    Location loc = op.getLoc();
    const int64_t dim = op.getRotaryDim();
    const double theta = op.getTheta().convertToDouble();
    auto type = cast<RankedTensorType>(op.getInvFreq().getType());
    Value length = op.getSeqLen();
    if (length.getType() != rewriter.getI64Type())
      length = arith::ExtSIOp::create(rewriter, loc, rewriter.getI64Type(),
                                      length);

    if (scaling.getKind() == ScalingKind::LongRoPE) {
      int64_t original = params.originalMaxPositionEmbeddings.value_or(
          params.maxPositionEmbeddings.value_or(0));
      auto table = [&](std::optional<int64_t> seqLen) -> Value {
        std::vector<float> values =
            freq::scaledInvFreq(dim, theta, params, seqLen);
        return arith::ConstantOp::create(
            rewriter, loc,
            DenseElementsAttr::get(type, ArrayRef<float>(values)));
      };
      Value isLong = arith::CmpIOp::create(
          rewriter, loc, arith::CmpIPredicate::sgt, length,
          arith::ConstantIntOp::create(rewriter, loc, original, 64));
      rewriter.replaceOpWithNewOp<arith::SelectOp>(
          op, isLong, table(original + 1), table(std::nullopt));
      return success();
    }

    // Dynamic NTK, in float32 as the runtime update computes it.
    Type f32 = rewriter.getF32Type();
    auto constant = [&](double v) -> Value {
      return arith::ConstantOp::create(
          rewriter, loc, rewriter.getF32FloatAttr(static_cast<float>(v)));
    };
    const auto l0 = *params.maxPositionEmbeddings;
    Value clamped = arith::MaxSIOp::create(
        rewriter, loc, length,
        arith::ConstantIntOp::create(rewriter, loc, l0, 64));
    Value lengthF = arith::SIToFPOp::create(rewriter, loc, f32, clamped);
    Value ratio = arith::DivFOp::create(
        rewriter, loc,
        arith::MulFOp::create(rewriter, loc, constant(params.factor), lengthF),
        constant(static_cast<double>(l0)));
    Value grown =
        arith::SubFOp::create(rewriter, loc, ratio, constant(params.factor - 1));
    Value powered = math::PowFOp::create(
        rewriter, loc, grown,
        constant(static_cast<double>(dim) / static_cast<double>(dim - 2)));
    Value base = arith::MulFOp::create(rewriter, loc, constant(theta), powered);
    // inv_freq[j] = 1 / base^(float(2j) / D)
    SmallVector<float> exponents;
    for (int64_t j = 0; j < dim / 2; ++j)
      exponents.push_back(static_cast<float>(2 * j) /
                          static_cast<float>(dim));
    Value exps = arith::ConstantOp::create(
        rewriter, loc, DenseElementsAttr::get(type, ArrayRef<float>(exponents)));
    Value init = tensor::EmptyOp::create(rewriter, loc, type.getShape(), f32);
    AffineMap id = rewriter.getMultiDimIdentityMap(1);
    Value result =
        linalg::GenericOp::create(
            rewriter, loc, TypeRange{type}, ValueRange{exps}, ValueRange{init},
            ArrayRef<AffineMap>{id, id}, parallel(1),
            [&](OpBuilder &nb, Location nloc, ValueRange args) {
              Value p = math::PowFOp::create(nb, nloc, base, args[0]);
              Value one = arith::ConstantOp::create(nb, nloc,
                                                    nb.getF32FloatAttr(1.0f));
              Value inv = arith::DivFOp::create(nb, nloc, one, p);
              linalg::YieldOp::create(nb, nloc, inv);
            })
            .getResult(0);
    rewriter.replaceOp(op, result);
    return success();
  }
};

/// Why an op has no lowering yet, or empty if it has one.
std::string unsupportedReason(Operation *op) {
  if (isa<ApplyOp, CosSinOp, DecodePositionsOp, InvFreqOp,
          SequenceLengthOp, RopeIndexOp>(op))
    return {};
  if (isa<AttentionOp>(op))
    return "has no lowering to linalg yet";
  if (isa<PositionIdsOp>(op))
    return "was not folded: more than 2^22 positions; use mrope.rope_index "
           "for prompts this long";
  if (isa<AttentionScalingOp>(op))
    return "was not folded";
  return "has no lowering";
}

struct ConvertMRopeToLinalgPass
    : mrope::impl::ConvertMRopeToLinalgBase<ConvertMRopeToLinalgPass> {
  void runOnOperation() override {
    MLIRContext *ctx = &getContext();
    // Fold what is known at compile time (positions, frequencies) first: the
    // greedy driver runs every op's folder.
    if (failed(applyPatternsGreedily(getOperation(), RewritePatternSet(ctx))))
      return signalPassFailure();

    RewritePatternSet patterns(ctx);
    populateMRopeToLinalgConversionPatterns(patterns);
    ConversionTarget target(*ctx);
    target.addLegalDialect<arith::ArithDialect, linalg::LinalgDialect,
                           math::MathDialect, scf::SCFDialect,
                           tensor::TensorDialect>();
    target.addIllegalOp<ApplyOp, CosSinOp, DecodePositionsOp, InvFreqOp,
                        SequenceLengthOp>();
    target.addIllegalOp<RopeIndexOp>();
    target.markUnknownOpDynamicallyLegal([](Operation *) { return true; });
    if (failed(applyPartialConversion(getOperation(), target,
                                      std::move(patterns))))
      return signalPassFailure();

    WalkResult leftover = getOperation()->walk([](Operation *op) {
      if (!isa<MRopeDialect>(op->getDialect()))
        return WalkResult::advance();
      op->emitError() << "'" << op->getName() << "' "
                      << unsupportedReason(op);
      return WalkResult::interrupt();
    });
    if (leftover.wasInterrupted())
      signalPassFailure();
  }
};

} // namespace

void mlir::mrope::populateMRopeToLinalgConversionPatterns(
    RewritePatternSet &patterns) {
  patterns.add<ApplyOpLowering, CosSinOpLowering, DecodePositionsOpLowering,
               InvFreqOpLowering, SequenceLengthOpLowering>(
      patterns.getContext());
  populateRopeIndexLoweringPatterns(patterns);
}
