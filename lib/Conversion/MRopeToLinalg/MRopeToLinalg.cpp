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
#include "mlir/Dialect/Arith/Utils/Utils.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/IR/TypeUtilities.h"
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
               Value f =
                   arith::SIToFPOp::create(nb, nloc, nb.getF32Type(), args[0]);
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

/// The KV heads of a head-partitioned allocation that share one axis, and so
/// one slice of the angle table.
struct HeadBlock {
  int64_t firstKVHead, numKVHeads, tableSlot;
};

/// Splits the KV heads into maximal blocks of consecutive heads on the same
/// axis (head-partitioned allocations give each axis one block).
SmallVector<HeadBlock> headBlocks(AllocationAttr alloc, int64_t numKVHeads) {
  SmallVector<Axis> axes = alloc.getHeadAxes(numKVHeads);
  SmallVector<HeadBlock> blocks;
  for (int64_t h = 0; h < numKVHeads; ++h) {
    if (h == 0 || axes[h] != axes[h - 1])
      blocks.push_back({h, 0, int64_t(blocks.size())});
    ++blocks.back().numKVHeads;
  }
  return blocks;
}

/// Selected angles `pos[axis(j)] * inv_freq[j]`.
///
/// Shared tables: [B, S, P] ([T, P] packed). Head-partitioned: [B, KV, S, P]
/// ([KV, T, P] packed), or with `compactHeads` one slot per head block instead
/// of per KV head ([B, blocks, S, P]): heads on the same axis have the same
/// angles, so cos/sin are computed once per axis rather than once per head.
/// Every strided run of pairs (or block of KV heads) reads one position row
/// fixed at compile time; NoPE entries stay 0.
Value buildAngles(OpBuilder &b, Location loc, Value posF, Value invFreq,
                  RotaryAttr rotary, int64_t numKVHeads,
                  bool compactHeads = false) {
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
  SmallVector<HeadBlock> blocks;
  if (perHead) {
    blocks = headBlocks(alloc, numKVHeads);
    tableSizes.insert(
        tableSizes.begin() + headPos,
        b.getIndexAttr(compactHeads ? int64_t(blocks.size()) : numKVHeads));
  }
  tableSizes.push_back(b.getIndexAttr(numPairs));
  const int64_t tableRank = tableSizes.size();

  Value zero = arith::ConstantOp::create(b, loc, b.getF32FloatAttr(0.0f));
  Value table =
      linalg::FillOp::create(b, loc, ValueRange{zero},
                             ValueRange{emptyLike(b, loc, tableSizes, f32)})
          .getResult(0);

  // Runs over pairs, or over table slots of head blocks (all pairs of a head
  // read its axis).
  std::vector<AxisRun> runs;
  if (!perHead)
    runs = decomposeIntoRuns(alloc.getPairAxes(numPairs));
  SmallVector<Axis> headAxes = alloc.getHeadAxes(numKVHeads);
  for (const HeadBlock &block : blocks) {
    Axis axis = headAxes[block.firstKVHead];
    if (compactHeads)
      runs.push_back({axis, block.tableSlot, 1, 1});
    else
      runs.push_back({axis, block.firstKVHead, 1, block.numKVHeads});
  }
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
    SmallVector<AffineMap> maps = {AffineMap::get(tableRank, 0, rowExprs, ctx),
                                   AffineMap::get(tableRank, 0, freqExprs, ctx),
                                   b.getMultiDimIdentityMap(tableRank)};
    // Write the run straight into its strided slice of the table, so the
    // table is filled in place.
    auto runType = RankedTensorType::get(
        llvm::map_to_vector(runSizes,
                            [](OpFoldResult r) {
                              std::optional<int64_t> c = getConstantIntValue(r);
                              return c ? *c : ShapedType::kDynamic;
                            }),
        f32);
    Value init = tensor::ExtractSliceOp::create(b, loc, runType, table, offsets,
                                                runSizes, strides);
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
/// the even and odd channels for GPT-J (stride-2 slices). cos/sin are rounded
/// to x's type first, as Hugging Face does.
///
/// The rotation is an scf.forall over every (token, head) row with `x` as its
/// shared output: each row extracts its two channel slices, rotates them with
/// a 1-D linalg.generic over the pairs, and writes them back with
/// tensor.parallel_insert_slice. Bufferization then rotates in place when `x`
/// is dead afterwards (no copies), the rows can run in parallel, and the
/// inner loop is a contiguous (or stride-2) loop over pairs that vectorizes.
/// Channels past rotary_dim (partial rotary) are never touched.
///
/// Head-partitioned tables have one slot per head block (see buildAngles): each
/// block gets its own forall over its heads (query heads firstKVHead * group ..
/// (firstKVHead + numKVHeads) * group), reading a slot fixed at compile time.
Value rotate(OpBuilder &b, Location loc, Value x, Value cosTable,
             Value sinTable, RotaryAttr rotary, TensorLayout layout,
             ArrayRef<HeadBlock> blocks, int64_t groupSize, bool inverse,
             bool vectorRows) {
  auto xType = cast<RankedTensorType>(x.getType());
  ActivationLayout l = ActivationLayout::get(layout);
  const int64_t rank = xType.getRank();
  const int64_t numPairs = rotary.getRotaryDim() / 2;
  const bool neox = rotary.getPairs() == PairLayout::NeoX;
  const bool perHead = rotary.getAlloc().isHeadPartitioned();
  Type elementType = xType.getElementType();
  Type f32 = b.getF32Type();

  auto rotateRows = [&](Value input, const HeadBlock *block) -> Value {
    // One forall iteration per row: every dim but the channels.
    SmallVector<OpFoldResult> rows = sizesOf(b, loc, input);
    rows.pop_back();
    if (block)
      rows[l.heads] = b.getIndexAttr(block->numKVHeads * groupSize);
    auto forall = scf::ForallOp::create(
        b, loc, rows, ValueRange{input}, /*mapping=*/std::nullopt,
        [&](OpBuilder &nb, Location nloc, ValueRange args) {
          SmallVector<Value> iv(args.take_front(rank - 1));
          if (block && block->firstKVHead != 0)
            iv[l.heads] = arith::AddIOp::create(
                nb, nloc, iv[l.heads],
                arith::ConstantIndexOp::create(nb, nloc,
                                               block->firstKVHead * groupSize));
          Value out = args.back();
          // The row's two channel slices, [numPairs].
          auto rowSlice = [&](Value source, int64_t offset, int64_t stride) {
            SmallVector<OpFoldResult> offsets(iv.begin(), iv.end());
            offsets.push_back(nb.getIndexAttr(offset));
            SmallVector<OpFoldResult> sizes(rank - 1, nb.getIndexAttr(1));
            sizes.push_back(nb.getIndexAttr(numPairs));
            SmallVector<OpFoldResult> strides(rank - 1, nb.getIndexAttr(1));
            strides.push_back(nb.getIndexAttr(stride));
            return std::make_tuple(offsets, sizes, strides);
          };
          int64_t stride = neox ? 1 : 2;
          auto [off1, sizes, strides] = rowSlice(out, 0, stride);
          auto [off2, sizes2, strides2] =
              rowSlice(out, neox ? numPairs : 1, stride);
          auto halfType = RankedTensorType::get({numPairs}, elementType);
          Value x1 = tensor::ExtractSliceOp::create(nb, nloc, halfType, out,
                                                    off1, sizes, strides);
          Value x2 = tensor::ExtractSliceOp::create(nb, nloc, halfType, out,
                                                    off2, sizes2, strides2);
          // The row of cos/sin: [B], [KV], S of the table, all pairs.
          SmallVector<OpFoldResult> tOffsets;
          if (!l.packed())
            tOffsets.push_back(iv[l.batch]);
          if (perHead)
            tOffsets.push_back(nb.getIndexAttr(block->tableSlot));
          tOffsets.push_back(iv[l.seq]);
          tOffsets.push_back(nb.getIndexAttr(0));
          int64_t tableRank = tOffsets.size();
          SmallVector<OpFoldResult> tSizes(tableRank - 1, nb.getIndexAttr(1));
          tSizes.push_back(nb.getIndexAttr(numPairs));
          SmallVector<OpFoldResult> tStrides(tableRank, nb.getIndexAttr(1));
          auto tableType = RankedTensorType::get({numPairs}, f32);
          Value c = tensor::ExtractSliceOp::create(
              nb, nloc, tableType, cosTable, tOffsets, tSizes, tStrides);
          Value s = tensor::ExtractSliceOp::create(
              nb, nloc, tableType, sinTable, tOffsets, tSizes, tStrides);
          // y1 = x1 c - x2 s, y2 = x2 c + x1 s, with cos/sin rounded to the
          // activation type: x * cos + rotate_half(x) * sin.
          auto rotatePair = [&](OpBuilder &bb, Location bloc, Value v1,
                                Value v2, Value cv,
                                Value sv) -> std::pair<Value, Value> {
            Type target = getElementTypeOrSelf(v1.getType());
            if (target != f32) {
              Type t = isa<VectorType>(cv.getType())
                           ? Type(VectorType::get({numPairs}, target))
                           : target;
              cv = arith::TruncFOp::create(bb, bloc, t, cv);
              sv = arith::TruncFOp::create(bb, bloc, t, sv);
            }
            if (inverse)
              sv = arith::NegFOp::create(bb, bloc, sv);
            Value negated = arith::NegFOp::create(bb, bloc, v2);
            Value y1 = arith::AddFOp::create(
                bb, bloc, arith::MulFOp::create(bb, bloc, v1, cv),
                arith::MulFOp::create(bb, bloc, negated, sv));
            Value y2 = arith::AddFOp::create(
                bb, bloc, arith::MulFOp::create(bb, bloc, v2, cv),
                arith::MulFOp::create(bb, bloc, v1, sv));
            return {y1, y2};
          };
          if (vectorRows) {
            // The whole rotated row as one vector: read it from the shared
            // output, split it into the pair channels (halves for NeoX,
            // deinterleave for GPT-J), rotate, join, and write it into the
            // row slice -- one write-only slice per iteration, so it
            // bufferizes in place.
            const int64_t width = 2 * numPairs;
            Value zero = arith::ConstantIndexOp::create(nb, nloc, 0);
            auto rowType = VectorType::get({width}, elementType);
            auto f32Vec = VectorType::get({numPairs}, f32);
            Value pad = arith::ConstantOp::create(nb, nloc,
                                                  nb.getZeroAttr(elementType));
            Value padF =
                arith::ConstantOp::create(nb, nloc, nb.getZeroAttr(f32));
            SmallVector<bool> inBounds = {true};
            SmallVector<Value> rowIndices(iv.begin(), iv.end());
            rowIndices.push_back(zero);
            Value row = vector::TransferReadOp::create(
                nb, nloc, rowType, out, rowIndices, pad, inBounds);
            Value v1, v2;
            if (neox) {
              v1 = vector::ExtractStridedSliceOp::create(nb, nloc, row, {0},
                                                         {numPairs}, {1});
              v2 = vector::ExtractStridedSliceOp::create(
                  nb, nloc, row, {numPairs}, {numPairs}, {1});
            } else {
              auto halves = vector::DeinterleaveOp::create(nb, nloc, row);
              v1 = halves.getRes1();
              v2 = halves.getRes2();
            }
            Value cv = vector::TransferReadOp::create(
                nb, nloc, f32Vec, c, ValueRange{zero}, padF, inBounds);
            Value sv = vector::TransferReadOp::create(
                nb, nloc, f32Vec, s, ValueRange{zero}, padF, inBounds);
            auto [y1, y2] = rotatePair(nb, nloc, v1, v2, cv, sv);
            Value joined;
            if (neox) {
              Value empty = arith::ConstantOp::create(nb, nloc, rowType,
                                                      nb.getZeroAttr(rowType));
              joined = vector::InsertStridedSliceOp::create(nb, nloc, y1, empty,
                                                            {0}, {1});
              joined = vector::InsertStridedSliceOp::create(
                  nb, nloc, y2, joined, {numPairs}, {1});
            } else {
              joined = vector::InterleaveOp::create(nb, nloc, y1, y2);
            }
            SmallVector<OpFoldResult> rowOffsets(iv.begin(), iv.end());
            rowOffsets.push_back(nb.getIndexAttr(0));
            SmallVector<OpFoldResult> rowSizes(rank - 1, nb.getIndexAttr(1));
            rowSizes.push_back(nb.getIndexAttr(width));
            SmallVector<OpFoldResult> unit(rank, nb.getIndexAttr(1));
            auto sliceType = RankedTensorType::get({width}, elementType);
            Value target = tensor::ExtractSliceOp::create(
                nb, nloc, sliceType, out, rowOffsets, rowSizes, unit);
            Value written =
                vector::TransferWriteOp::create(nb, nloc, joined, target,
                                                ValueRange{zero}, inBounds)
                    .getResult();
            auto inParallel = scf::InParallelOp::create(nb, nloc);
            OpBuilder::InsertionGuard guard(nb);
            nb.setInsertionPointToStart(inParallel.getBody());
            tensor::ParallelInsertSliceOp::create(nb, nloc, written, out,
                                                  rowOffsets, rowSizes, unit);
            return;
          }
          // The portable form: a 1-D generic over the pairs of the row.
          AffineMap id = nb.getMultiDimIdentityMap(1);
          auto rotated = linalg::GenericOp::create(
              nb, nloc, TypeRange{halfType, halfType}, ValueRange{x1, x2, c, s},
              ValueRange{x1, x2}, ArrayRef<AffineMap>{id, id, id, id, id, id},
              parallel(1), [&](OpBuilder &bb, Location bloc, ValueRange a) {
                auto [y1, y2] = rotatePair(bb, bloc, a[0], a[1], a[2], a[3]);
                linalg::YieldOp::create(bb, bloc, ValueRange{y1, y2});
              });
          Value r1 = rotated.getResult(0), r2 = rotated.getResult(1);
          auto inParallel = scf::InParallelOp::create(nb, nloc);
          OpBuilder::InsertionGuard guard(nb);
          nb.setInsertionPointToStart(inParallel.getBody());
          tensor::ParallelInsertSliceOp::create(nb, nloc, r1, out, off1, sizes,
                                                strides);
          tensor::ParallelInsertSliceOp::create(nb, nloc, r2, out, off2, sizes2,
                                                strides2);
        });
    return forall.getResult(0);
  };
  if (!perHead)
    return rotateRows(x, nullptr);
  // NoPE blocks are rotated too (by angle 0), so that attention scaling,
  // rounding and signed zeros match the reference exactly.
  Value result = x;
  for (const HeadBlock &block : blocks)
    result = rotateRows(result, &block);
  return result;
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
  ApplyOpLowering(MLIRContext *context, bool vectorRows)
      : OpRewritePattern(context), vectorRows(vectorRows) {}
  bool vectorRows;

  LogicalResult matchAndRewrite(ApplyOp op,
                                PatternRewriter &rewriter) const override {
    RotaryAttr rotary = op.getRotary();
    FailureOr<int64_t> numKV =
        staticKVHeads(op, rotary, op.getNumKVHeads(), rewriter);
    if (failed(numKV))
      return failure();
    ActivationLayout l = ActivationLayout::get(op.getLayout());
    int64_t groupSize = 1;
    SmallVector<HeadBlock> blocks;
    if (rotary.getAlloc().isHeadPartitioned()) {
      blocks = headBlocks(rotary.getAlloc(), *numKV);
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
                               *numKV, /*compactHeads=*/true);
    auto [cosTable, sinTable] =
        buildCosSin(rewriter, loc, angles, rotary.getAttentionScaling());
    Value q =
        rotate(rewriter, loc, op.getQ(), cosTable, sinTable, rotary,
               op.getLayout(), blocks, groupSize, op.getInverse(), vectorRows);
    Value k = rotate(rewriter, loc, op.getK(), cosTable, sinTable, rotary,
                     op.getLayout(), blocks, /*groupSize=*/1, op.getInverse(),
                     vectorRows);
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
    Value angles =
        buildAngles(rewriter, loc, posF, op.getInvFreq(), rotary, *numKV);
    auto [cosTable, sinTable] =
        buildCosSin(rewriter, loc, angles, rotary.getAttentionScaling());

    // Expand [.., P] to the Hugging Face [.., D] layout.
    auto resultType = cast<RankedTensorType>(op.getCos().getType());
    const int64_t rank = resultType.getRank();
    SmallVector<AffineExpr> exprs;
    for (int64_t i = 0; i < rank - 1; ++i)
      exprs.push_back(rewriter.getAffineDimExpr(i));
    exprs.push_back(pairOf(rewriter.getAffineDimExpr(rank - 1),
                           rotary.getPairs(), rotary.getRotaryDim() / 2));
    AffineMap tableMap = AffineMap::get(rank, 0, exprs, rewriter.getContext());
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
                Value k64 =
                    arith::IndexCastOp::create(nb, nloc, nb.getI64Type(), k);
                Value kf = arith::SIToFPOp::create(nb, nloc, elementType, k64);
                sum = arith::AddFOp::create(nb, nloc, args[0], kf);
              } else {
                Value ki = arith::IndexCastOp::create(nb, nloc, elementType, k);
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
        IntegerAttr::get(
            elementType,
            APInt::getSignedMinValue(elementType.getIntOrFloatBitWidth())));
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
      value =
          arith::ExtSIOp::create(rewriter, loc, rewriter.getI64Type(), value);
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
      length =
          arith::ExtSIOp::create(rewriter, loc, rewriter.getI64Type(), length);

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
    Value grown = arith::SubFOp::create(rewriter, loc, ratio,
                                        constant(params.factor - 1));
    Value powered = math::PowFOp::create(
        rewriter, loc, grown,
        constant(static_cast<double>(dim) / static_cast<double>(dim - 2)));
    Value base = arith::MulFOp::create(rewriter, loc, constant(theta), powered);
    // inv_freq[j] = 1 / base^(float(2j) / D)
    SmallVector<float> exponents;
    for (int64_t j = 0; j < dim / 2; ++j)
      exponents.push_back(static_cast<float>(2 * j) / static_cast<float>(dim));
    Value exps = arith::ConstantOp::create(
        rewriter, loc,
        DenseElementsAttr::get(type, ArrayRef<float>(exponents)));
    Value init = tensor::EmptyOp::create(rewriter, loc, type.getShape(), f32);
    AffineMap id = rewriter.getMultiDimIdentityMap(1);
    Value result =
        linalg::GenericOp::create(
            rewriter, loc, TypeRange{type}, ValueRange{exps}, ValueRange{init},
            ArrayRef<AffineMap>{id, id}, parallel(1),
            [&](OpBuilder &nb, Location nloc, ValueRange args) {
              Value p = math::PowFOp::create(nb, nloc, base, args[0]);
              Value one =
                  arith::ConstantOp::create(nb, nloc, nb.getF32FloatAttr(1.0f));
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
  if (isa<ApplyOp, CosSinOp, DecodePositionsOp, InvFreqOp, SequenceLengthOp,
          RopeIndexOp>(op))
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
  using Base::Base;
  void runOnOperation() override {
    MLIRContext *ctx = &getContext();
    // Fold what is known at compile time (positions, frequencies) first: the
    // greedy driver runs every op's folder.
    if (failed(applyPatternsGreedily(getOperation(), RewritePatternSet(ctx))))
      return signalPassFailure();

    RewritePatternSet patterns(ctx);
    populateMRopeToLinalgConversionPatterns(patterns, vectorRows);
    ConversionTarget target(*ctx);
    target.addLegalDialect<arith::ArithDialect, linalg::LinalgDialect,
                           math::MathDialect, scf::SCFDialect,
                           tensor::TensorDialect, vector::VectorDialect>();
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
      op->emitError() << "'" << op->getName() << "' " << unsupportedReason(op);
      return WalkResult::interrupt();
    });
    if (leftover.wasInterrupted())
      signalPassFailure();
  }
};

} // namespace

void mlir::mrope::populateMRopeToLinalgConversionPatterns(
    RewritePatternSet &patterns, bool vectorRows) {
  patterns.add<ApplyOpLowering>(patterns.getContext(), vectorRows);
  patterns.add<CosSinOpLowering, DecodePositionsOpLowering, InvFreqOpLowering,
               SequenceLengthOpLowering>(patterns.getContext());
  populateRopeIndexLoweringPatterns(patterns);
}
