//===- MRopeToLinalg.cpp - mrope to linalg-on-tensors ---------------------===//
//
// mrope.apply / mrope.cos_sin  ->  angles per (token, pair) from strided runs
// of the allocation  ->  cos/sin  ->  one linalg.generic per rotated tensor
// (portable form), or for apply with vector-rows one scf.forall over tokens
// computing the token's angles as vectors and rotating every head.
//
//===----------------------------------------------------------------------===//

#include "mrope/Conversion/MRopeToLinalg/MRopeToLinalg.h"
#include "AttentionLowering.h"
#include "Common/ActivationLayout.h"
#include "Common/RotaryMath.h"
#include "Common/TorchMathIR.h"
#include "RopeIndexLowering.h"
#include "mrope/Conversion/MRopeToGPU/MRopeToGPU.h"
#include "mrope/Conversion/Passes.h"
#include "mrope/Dialect/MRope/IR/MRopeOps.h"
#include "mrope/Dialect/MRope/Utils/AxisRuns.h"
#include "mrope/Dialect/MRope/Utils/FrequencyMath.h"
#include "mrope/Dialect/MRope/Utils/TorchMath.h"

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

SmallVector<utils::IteratorType> parallel(int64_t rank) {
  return SmallVector<utils::IteratorType>(rank, utils::IteratorType::parallel);
}

/// The sizes of `value` as OpFoldResults (constants where static).
SmallVector<OpFoldResult> sizesOf(OpBuilder &b, Location loc, Value value) {
  return tensor::getMixedSizes(b, loc, value);
}

/// `value` as `type` (a tensor.cast where only static-ness differs).
Value castTo(OpBuilder &b, Location loc, Value value, Type type) {
  if (value.getType() == type)
    return value;
  return tensor::CastOp::create(b, loc, type, value);
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

/// The position each pair rotates by, `pos[axis(j)]` (the angle is this
/// times inv_freq[j]).
///
/// Shared tables: [B, S, P] ([T, P] packed). Head-partitioned: [B, KV, S, P]
/// ([KV, T, P] packed), or with `compactHeads` one slot per head block instead
/// of per KV head ([B, blocks, S, P]): heads on the same axis have the same
/// angles, so cos/sin are computed once per axis rather than once per head.
/// Every strided run of pairs (or block of KV heads) reads one position row
/// fixed at compile time; NoPE entries stay 0 (angle 0).
Value buildPairPositions(OpBuilder &b, Location loc, Value posF,
                         RotaryAttr rotary, int64_t numKVHeads,
                         bool compactHeads = false) {
  AllocationAttr alloc = rotary.getAlloc();
  const int64_t numPairs = rotary.getRotaryDim() / 2;
  const bool perHead = alloc.isHeadPartitioned();
  Type f32 = b.getF32Type();

  // Table shape: position dims (without the row dim), [KV], pairs.
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
  for (const HeadBlock &block : blocks) {
    if (compactHeads)
      runs.push_back({block.axis, block.tableSlot, 1, 1});
    else
      runs.push_back({block.axis, block.firstKVHead, 1, block.numKVHeads});
  }
  for (const AxisRun &run : runs) {
    if (run.axis == Axis::NoPE)
      continue;
    Value row = positionRow(b, loc, posF, run.axis);
    SmallVector<OpFoldResult> runSizes(tableSizes);
    SmallVector<OpFoldResult> offsets(tableRank, b.getIndexAttr(0));
    SmallVector<OpFoldResult> strides(tableRank, b.getIndexAttr(1));
    int64_t runDim = perHead ? headPos : tableRank - 1;
    runSizes[runDim] = b.getIndexAttr(run.count);
    offsets[runDim] = b.getIndexAttr(run.start);
    strides[runDim] = b.getIndexAttr(run.stride);
    // table[..tokens.., (head), j] = row[..tokens..] for the run's j (heads)
    SmallVector<AffineExpr> rowExprs;
    for (int64_t d = 0; d < tableRank - 1; ++d)
      if (d != headPos)
        rowExprs.push_back(b.getAffineDimExpr(d));
    MLIRContext *ctx = b.getContext();
    SmallVector<AffineMap> maps = {AffineMap::get(tableRank, 0, rowExprs, ctx),
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
    Value selected = linalg::GenericOp::create(
                         b, loc, TypeRange{init.getType()}, ValueRange{row},
                         ValueRange{init}, maps, parallel(tableRank),
                         [&](OpBuilder &nb, Location nloc, ValueRange args) {
                           linalg::YieldOp::create(nb, nloc, args[0]);
                         })
                         .getResult(0);
    table = tensor::InsertSliceOp::create(b, loc, selected, table, offsets,
                                          runSizes, strides);
  }
  return table;
}

/// cos and sin (times the attention scaling, in f32) of the angles
/// `pairPositions[.., j] * inv_freq[j]`.
std::pair<Value, Value> buildCosSin(OpBuilder &b, Location loc,
                                    Value pairPositions, Value invFreq,
                                    RotaryAttr rotary) {
  auto type = cast<RankedTensorType>(pairPositions.getType());
  const int64_t rank = type.getRank();
  SmallVector<OpFoldResult> sizes = sizesOf(b, loc, pairPositions);
  Value cosInit = emptyLike(b, loc, sizes, b.getF32Type());
  Value sinInit = emptyLike(b, loc, sizes, b.getF32Type());
  AffineMap id = b.getMultiDimIdentityMap(rank);
  AffineMap pair =
      AffineMap::get(rank, 0, b.getAffineDimExpr(rank - 1), b.getContext());
  auto generic = linalg::GenericOp::create(
      b, loc, TypeRange{cosInit.getType(), sinInit.getType()},
      ValueRange{pairPositions, invFreq}, ValueRange{cosInit, sinInit},
      ArrayRef<AffineMap>{id, pair, id, id}, parallel(rank),
      [&](OpBuilder &nb, Location nloc, ValueRange args) {
        auto [c, s] = buildRotaryCosSin(
            nb, nloc, args[0], args[1], rotary.getAngles(),
            rotary.getAttentionScaling(), SinCosLowering::Torch);
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
/// This is the portable form, plain linalg on tensors as IREE and Torch-MLIR
/// consume it: one linalg.generic over [.., pairs] reads the two channel
/// slices of `x` and the table (broadcast over heads) and writes both back
/// with tensor.insert_slice, so bufferization rotates in place when `x` is
/// dead afterwards. Channels past rotary_dim (partial rotary) are never
/// touched.
///
/// Head-partitioned tables have one slot per head block (see buildAngles):
/// each block gets its own generic over its heads (query heads
/// firstKVHead * group .. (firstKVHead + numKVHeads) * group), reading a slot
/// fixed at compile time.
Value rotate(OpBuilder &b, Location loc, Value x, Value cosTable,
             Value sinTable, RotaryAttr rotary, TensorLayout layout,
             ArrayRef<HeadBlock> blocks, int64_t groupSize, bool inverse) {
  auto xType = cast<RankedTensorType>(x.getType());
  ActivationLayout l = ActivationLayout::get(layout);
  const int64_t rank = xType.getRank();
  const int64_t numPairs = rotary.getRotaryDim() / 2;
  const bool neox = rotary.getPairs() == PairLayout::NeoX;
  MLIRContext *ctx = b.getContext();

  auto rotateHeads = [&](Value input, const HeadBlock *block) -> Value {
    SmallVector<OpFoldResult> sizes = sizesOf(b, loc, input);
    SmallVector<OpFoldResult> offsets1(rank, b.getIndexAttr(0));
    SmallVector<OpFoldResult> strides(rank, b.getIndexAttr(1));
    SmallVector<int64_t> shape(xType.getShape());
    if (block) {
      offsets1[l.heads] = b.getIndexAttr(block->firstKVHead * groupSize);
      sizes[l.heads] = b.getIndexAttr(block->numKVHeads * groupSize);
      shape[l.heads] = block->numKVHeads * groupSize;
    }
    sizes.back() = b.getIndexAttr(numPairs);
    shape.back() = numPairs;
    strides.back() = b.getIndexAttr(neox ? 1 : 2);
    SmallVector<OpFoldResult> offsets2(offsets1);
    offsets2.back() = b.getIndexAttr(neox ? numPairs : 1);
    auto halfType = RankedTensorType::get(shape, xType.getElementType());
    Value x1 = tensor::ExtractSliceOp::create(b, loc, halfType, input, offsets1,
                                              sizes, strides);
    Value x2 = tensor::ExtractSliceOp::create(b, loc, halfType, input, offsets2,
                                              sizes, strides);

    // The table rows: [B, S, P] ([T, P] packed), for a head block its slot.
    Value c = cosTable, s = sinTable;
    if (block) {
      auto tableType = cast<RankedTensorType>(cosTable.getType());
      const int64_t headPos = tableType.getRank() - 3;
      SmallVector<OpFoldResult> tOffsets(tableType.getRank(),
                                         b.getIndexAttr(0));
      SmallVector<OpFoldResult> tSizes = sizesOf(b, loc, cosTable);
      SmallVector<OpFoldResult> tStrides(tableType.getRank(),
                                         b.getIndexAttr(1));
      tOffsets[headPos] = b.getIndexAttr(block->tableSlot);
      tSizes[headPos] = b.getIndexAttr(1);
      SmallVector<int64_t> rowShape(tableType.getShape());
      rowShape.erase(rowShape.begin() + headPos);
      auto rowType =
          RankedTensorType::get(rowShape, tableType.getElementType());
      c = tensor::ExtractSliceOp::create(b, loc, rowType, cosTable, tOffsets,
                                         tSizes, tStrides);
      s = tensor::ExtractSliceOp::create(b, loc, rowType, sinTable, tOffsets,
                                         tSizes, tStrides);
    }
    AffineMap id = b.getMultiDimIdentityMap(rank);
    AffineMap tableMap = l.tableMap(ctx);
    auto rotated = linalg::GenericOp::create(
        b, loc, TypeRange{halfType, halfType}, ValueRange{x1, x2, c, s},
        ValueRange{x1, x2},
        ArrayRef<AffineMap>{id, id, tableMap, tableMap, id, id}, parallel(rank),
        [&](OpBuilder &nb, Location nloc, ValueRange a) {
          auto [cv, sv] =
              roundCosSin(nb, nloc, a[2], a[3], a[0].getType(), inverse);
          auto [y1, y2] = rotatePair(nb, nloc, a[0], a[1], cv, sv);
          linalg::YieldOp::create(nb, nloc, ValueRange{y1, y2});
        });
    Value result = tensor::InsertSliceOp::create(
        b, loc, rotated.getResult(0), input, offsets1, sizes, strides);
    return tensor::InsertSliceOp::create(b, loc, rotated.getResult(1), result,
                                         offsets2, sizes, strides);
  };
  if (blocks.empty())
    return rotateHeads(x, nullptr);
  // NoPE blocks are rotated too (by angle 0), so that attention scaling,
  // rounding and signed zeros match the reference exactly.
  Value result = x;
  for (const HeadBlock &block : blocks)
    result = rotateHeads(result, &block);
  return result;
}

/// The CPU form of mrope.apply: one scf.forall over tokens, q and k as its
/// shared outputs. Per token it
///   - builds the angles of all pairs as one vector: the broadcast T, H and W
///     positions chosen per pair by constant masks of the allocation (NoPE:
///     0), times inv_freq -- no gathers and no table in memory;
///   - takes cos and sin once (once per head block for MHRoPE);
///   - rotates every head of q and k in an scf.for: one vector read of the
///     row's rotary channels, split into the pair channels (NeoX halves or
///     GPT-J even/odd), rotated, joined and written back.
/// Each token writes only its own rows of q and k, so bufferization rotates
/// in place and the tokens can run in parallel. The arithmetic is exactly the
/// table form's: cos/sin of the angle pos * inv_freq (buildRotaryCosSin, per
/// the rotary's `angles`) times the attention scaling in f32, rounded to the
/// activation type, then the rotation.
std::pair<Value, Value>
rotateTokensWithVectors(OpBuilder &b, Location loc, Value q, Value k,
                        Value positions, Value invFreq, RotaryAttr rotary,
                        TensorLayout layout, ArrayRef<HeadBlock> blocks,
                        int64_t groupSize, bool inverse, int64_t chunkPairs,
                        SinCosLowering sinCos) {
  ActivationLayout l = ActivationLayout::get(layout);
  AllocationAttr alloc = rotary.getAlloc();
  const int64_t numPairs = rotary.getRotaryDim() / 2;
  const bool neox = rotary.getPairs() == PairLayout::NeoX;
  if (chunkPairs <= 0 || chunkPairs > numPairs)
    chunkPairs = numPairs;
  const double scaling = rotary.getAttentionScaling();
  Type f32 = b.getF32Type();
  auto f32Vec = VectorType::get({numPairs}, f32);
  auto maskVec = VectorType::get({numPairs}, b.getI1Type());

  // Loop-invariant values: inv_freq as a vector and the per-pair axis masks.
  Value zero = arith::ConstantIndexOp::create(b, loc, 0);
  Value padF = arith::ConstantOp::create(b, loc, b.getZeroAttr(f32));
  bool freqInBounds =
      !cast<RankedTensorType>(invFreq.getType()).isDynamicDim(0);
  Value freqs =
      vector::TransferReadOp::create(b, loc, f32Vec, invFreq, ValueRange{zero},
                                     padF, ArrayRef<bool>{freqInBounds});
  Value zeroVec = arith::ConstantOp::create(b, loc, b.getZeroAttr(f32Vec));
  SmallVector<Axis> pairAxes = alloc.getPairAxes(numPairs);

  // The token dims of q: [B, S] or [T] packed; positions are [3, B, S] / [3,
  // T].
  SmallVector<int64_t> tokenDims;
  if (!l.packed())
    tokenDims.push_back(l.batch);
  tokenDims.push_back(l.seq);
  SmallVector<OpFoldResult> qSizes = sizesOf(b, loc, q);
  SmallVector<OpFoldResult> kSizes = sizesOf(b, loc, k);
  SmallVector<OpFoldResult> tokenSizes;
  for (int64_t d : tokenDims)
    tokenSizes.push_back(qSizes[d]);

  auto forall = scf::ForallOp::create(
      b, loc, tokenSizes, ValueRange{q, k}, /*mapping=*/std::nullopt,
      [&](OpBuilder &nb, Location nloc, ValueRange args) {
        ValueRange token = args.take_front(tokenDims.size());
        Value qOut = args[tokenDims.size()], kOut = args[tokenDims.size() + 1];

        // Position of this token on one axis, broadcast to all pairs.
        auto positionOf = [&](Axis axis) -> Value {
          SmallVector<Value> idx = {arith::ConstantIndexOp::create(
              nb, nloc, static_cast<int64_t>(axis))};
          idx.append(token.begin(), token.end());
          Value p = tensor::ExtractOp::create(nb, nloc, positions, idx);
          if (p.getType() != f32)
            p = arith::SIToFPOp::create(nb, nloc, f32, p);
          return vector::BroadcastOp::create(nb, nloc, f32Vec, p);
        };
        auto cosSinOf = [&](Value pos) -> std::pair<Value, Value> {
          return buildRotaryCosSin(nb, nloc, pos, freqs, rotary.getAngles(),
                                   scaling, sinCos);
        };
        // Per-pair positions: select each axis's position where the
        // allocation puts it; NoPE pairs keep 0.
        auto pairPositions = [&]() -> Value {
          Value pos = zeroVec;
          for (Axis axis : {Axis::W, Axis::H, Axis::T}) {
            SmallVector<bool> mask;
            for (Axis a : pairAxes)
              mask.push_back(a == axis);
            if (llvm::none_of(mask, [](bool m) { return m; }))
              continue;
            Value p = positionOf(axis);
            if (llvm::all_of(mask, [](bool m) { return m; })) {
              pos = p;
              continue;
            }
            Value m = arith::ConstantOp::create(
                nb, nloc, DenseElementsAttr::get(maskVec, ArrayRef(mask)));
            pos = arith::SelectOp::create(nb, nloc, m, p, pos);
          }
          return pos;
        };

        // Head ranges [begin, end) of q (scaled by the GQA group) or k with
        // their cos/sin.
        struct HeadRange {
          int64_t firstKVHead, numKVHeads;
          Value c, s;
        };
        SmallVector<HeadRange> ranges;
        if (blocks.empty()) {
          auto [c, s] = cosSinOf(pairPositions());
          ranges.push_back({0, ShapedType::kDynamic, c, s});
        } else {
          for (const HeadBlock &block : blocks) {
            Value pos =
                block.axis == Axis::NoPE ? zeroVec : positionOf(block.axis);
            auto [c, s] = cosSinOf(pos);
            ranges.push_back({block.firstKVHead, block.numKVHeads, c, s});
          }
        }

        // Rotates the heads of one token of `out` ([.., H, D] rows).
        auto rotateHeads = [&](Value out, ArrayRef<OpFoldResult> sizes,
                               int64_t group) {
          auto type = cast<RankedTensorType>(out.getType());
          Type elementType = type.getElementType();
          const int64_t rank = type.getRank();
          SmallVector<OpFoldResult> offsets(rank, nb.getIndexAttr(0));
          SmallVector<OpFoldResult> sliceSizes(rank, nb.getIndexAttr(1));
          for (auto [d, iv] : llvm::zip(tokenDims, token))
            offsets[d] = iv;
          sliceSizes[l.heads] = sizes[l.heads];
          sliceSizes[rank - 1] = sizes[rank - 1];
          SmallVector<OpFoldResult> unit(rank, nb.getIndexAttr(1));
          auto sliceType = RankedTensorType::get(
              {type.getDimSize(l.heads), type.getDimSize(rank - 1)},
              elementType);
          Value slice = tensor::ExtractSliceOp::create(
              nb, nloc, sliceType, out, offsets, sliceSizes, unit);
          Value pad =
              arith::ConstantOp::create(nb, nloc, nb.getZeroAttr(elementType));
          Value one = arith::ConstantIndexOp::create(nb, nloc, 1);
          // bf16 is rotated in f32 ops (rotatePair): vectors are widened
          // right after the load and narrowed right before the store, so the
          // only bf16 vectors are loaded and stored, never split or shuffled.
          const bool widen = elementType.isBF16();
          for (const HeadRange &range : ranges) {
            // cos/sin in the activation type, once per token and range.
            Value c, sn;
            std::tie(c, sn) =
                roundCosSin(nb, nloc, range.c, range.s,
                            VectorType::get({numPairs}, elementType), inverse);
            if (widen) {
              c = arith::ExtFOp::create(nb, nloc, f32Vec, c);
              sn = arith::ExtFOp::create(nb, nloc, f32Vec, sn);
            }
            Value begin = arith::ConstantIndexOp::create(
                nb, nloc, range.firstKVHead * group);
            Value end =
                ShapedType::isDynamic(range.numKVHeads)
                    ? getValueOrCreateConstantIndexOp(nb, nloc, sizes[l.heads])
                    : arith::ConstantIndexOp::create(
                          nb, nloc,
                          (range.firstKVHead + range.numKVHeads) * group);
            // One loop over the heads per chunk of `chunkPairs` pairs: only
            // the chunk's cos/sin are live in the loop (a few registers),
            // and the token's rows stay in L1 between chunks.
            for (int64_t first = 0; first < numPairs; first += chunkPairs) {
              const int64_t n = std::min(chunkPairs, numPairs - first);
              Value cChunk = c, sChunk = sn;
              if (n != numPairs) {
                cChunk = vector::ExtractStridedSliceOp::create(
                    nb, nloc, c, {first}, {n}, {1});
                sChunk = vector::ExtractStridedSliceOp::create(
                    nb, nloc, sn, {first}, {n}, {1});
              }
              auto loop = scf::ForOp::create(
                  nb, nloc, begin, end, one, ValueRange{slice},
                  [&](OpBuilder &lb, Location lloc, Value head,
                      ValueRange iterArgs) {
                    Value rows = iterArgs[0];
                    SmallVector<bool> inBounds = {true};
                    auto at = [&](int64_t channel) {
                      return arith::ConstantIndexOp::create(lb, lloc, channel);
                    };
                    auto read = [&](int64_t channel, int64_t count) -> Value {
                      Value v = vector::TransferReadOp::create(
                          lb, lloc, VectorType::get({count}, elementType), rows,
                          ValueRange{head, at(channel)}, pad, inBounds);
                      if (widen)
                        v = arith::ExtFOp::create(
                            lb, lloc, VectorType::get({count}, f32), v);
                      return v;
                    };
                    auto write = [&](Value v, int64_t channel, Value into) {
                      if (widen)
                        v = narrowExactBF16(lb, lloc, v);
                      return vector::TransferWriteOp::create(
                                 lb, lloc, v, into,
                                 ValueRange{head, at(channel)}, inBounds)
                          .getResult();
                    };
                    Type roundTo = widen ? elementType : Type();
                    Value written;
                    if (neox) {
                      // Pair j is channels j and j + D/2.
                      Value x1 = read(first, n);
                      Value x2 = read(numPairs + first, n);
                      auto [y1, y2] =
                          rotatePair(lb, lloc, x1, x2, cChunk, sChunk, roundTo,
                                     BF16Rounding::IntegerBits);
                      written = write(y1, first, rows);
                      written = write(y2, numPairs + first, written);
                    } else {
                      // Pair j is channels 2j and 2j + 1.
                      Value row = read(2 * first, 2 * n);
                      auto halves =
                          vector::DeinterleaveOp::create(lb, lloc, row);
                      auto [y1, y2] = rotatePair(
                          lb, lloc, halves.getRes1(), halves.getRes2(), cChunk,
                          sChunk, roundTo, BF16Rounding::IntegerBits);
                      Value joined =
                          vector::InterleaveOp::create(lb, lloc, y1, y2);
                      written = write(joined, 2 * first, rows);
                    }
                    scf::YieldOp::create(lb, lloc, written);
                  });
              slice = loop.getResult(0);
            }
          }
          return std::make_tuple(slice, offsets, sliceSizes, unit);
        };
        auto [qRows, qOffsets, qSliceSizes, qUnit] =
            rotateHeads(qOut, qSizes, groupSize);
        auto [kRows, kOffsets, kSliceSizes, kUnit] =
            rotateHeads(kOut, kSizes, 1);
        auto inParallel = scf::InParallelOp::create(nb, nloc);
        OpBuilder::InsertionGuard guard(nb);
        nb.setInsertionPointToStart(inParallel.getBody());
        tensor::ParallelInsertSliceOp::create(nb, nloc, qRows, qOut, qOffsets,
                                              qSliceSizes, qUnit);
        tensor::ParallelInsertSliceOp::create(nb, nloc, kRows, kOut, kOffsets,
                                              kSliceSizes, kUnit);
      });
  return {forall.getResult(0), forall.getResult(1)};
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
  ApplyOpLowering(MLIRContext *context, bool vectorRows, int64_t vectorBits,
                  bool fastSinCos)
      : OpRewritePattern(context), vectorRows(vectorRows),
        vectorBits(vectorBits), fastSinCos(fastSinCos) {}
  bool vectorRows;
  int64_t vectorBits;
  bool fastSinCos;

  LogicalResult matchAndRewrite(ApplyOp op,
                                PatternRewriter &rewriter) const override {
    if (op->hasAttr(kGPUKernelAttrName))
      return rewriter.notifyMatchFailure(op, "selected for the GPU");
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
    if (vectorRows) {
      auto [q, k] = rotateTokensWithVectors(
          rewriter, loc, op.getQ(), op.getK(), op.getPositions(),
          op.getInvFreq(), rotary, op.getLayout(), blocks, groupSize,
          op.getInverse(),
          /*chunkPairs=*/vectorBits / 32,
          fastSinCos ? SinCosLowering::Polynomial : SinCosLowering::Torch);
      rewriter.replaceOp(op, {q, k});
      return success();
    }
    Value posF = positionsToF32(rewriter, loc, op.getPositions());
    Value pairPositions = buildPairPositions(rewriter, loc, posF, rotary,
                                             *numKV, /*compactHeads=*/true);
    auto [cosTable, sinTable] =
        buildCosSin(rewriter, loc, pairPositions, op.getInvFreq(), rotary);
    Value q = rotate(rewriter, loc, op.getQ(), cosTable, sinTable, rotary,
                     op.getLayout(), blocks, groupSize, op.getInverse());
    Value k = rotate(rewriter, loc, op.getK(), cosTable, sinTable, rotary,
                     op.getLayout(), blocks, /*groupSize=*/1, op.getInverse());
    rewriter.replaceOp(op, {q, k});
    return success();
  }
};

/// `[.., R]` slices of `value` along its last dimension: channels `first`,
/// `first + stride`, ... (`count` of them).
Value sliceChannels(OpBuilder &b, Location loc, Value value, int64_t first,
                    int64_t count, int64_t stride) {
  auto type = cast<RankedTensorType>(value.getType());
  int64_t rank = type.getRank();
  SmallVector<OpFoldResult> offsets(rank, b.getIndexAttr(0));
  SmallVector<OpFoldResult> sizes = sizesOf(b, loc, value);
  SmallVector<OpFoldResult> strides(rank, b.getIndexAttr(1));
  offsets.back() = b.getIndexAttr(first);
  sizes.back() = b.getIndexAttr(count);
  strides.back() = b.getIndexAttr(stride);
  SmallVector<int64_t> shape(type.getShape());
  shape.back() = count;
  return tensor::ExtractSliceOp::create(
      b, loc, RankedTensorType::get(shape, type.getElementType()), value,
      offsets, sizes, strides);
}

/// The `[B, S, R]` table that per-axis tables `[3, B, S, R]` mean under an
/// allocation: each channel from the row of its pair's axis. The pair map is
/// split into strided runs (AxisRuns), so this is a few slice copies with
/// every axis fixed at compile time.
Value selectAxisRows(OpBuilder &b, Location loc, Value tables,
                     AllocationAttr alloc, PairLayout pairs) {
  auto type = cast<RankedTensorType>(tables.getType());
  int64_t rank = type.getRank();
  int64_t numChannels = type.getShape().back();
  int64_t numPairs = numChannels / 2;
  SmallVector<OpFoldResult> rowSizes = sizesOf(b, loc, tables);
  rowSizes.erase(rowSizes.begin());
  Value result = emptyLike(b, loc, rowSizes, type.getElementType());
  // Pair j's two channels: (j, j + R/2) for neox, (2j, 2j + 1) for gptj.
  bool neox = pairs == PairLayout::NeoX;
  for (const AxisRun &run : decomposeIntoRuns(alloc.getPairAxes(numPairs))) {
    for (int64_t member = 0; member < 2; ++member) {
      int64_t first =
          neox ? run.start + member * numPairs : 2 * run.start + member;
      int64_t stride = neox ? run.stride : 2 * run.stride;
      SmallVector<OpFoldResult> offsets(rank, b.getIndexAttr(0));
      SmallVector<OpFoldResult> sizes = sizesOf(b, loc, tables);
      SmallVector<OpFoldResult> strides(rank, b.getIndexAttr(1));
      offsets[0] = b.getIndexAttr(static_cast<int64_t>(run.axis));
      sizes[0] = b.getIndexAttr(1);
      offsets.back() = b.getIndexAttr(first);
      sizes.back() = b.getIndexAttr(run.count);
      strides.back() = b.getIndexAttr(stride);
      SmallVector<int64_t> shape(type.getShape().drop_front());
      shape.back() = run.count;
      auto rowType = RankedTensorType::get(shape, type.getElementType());
      Value row = tensor::ExtractSliceOp::create(b, loc, rowType, tables,
                                                 offsets, sizes, strides);
      SmallVector<OpFoldResult> dOffsets(offsets.begin() + 1, offsets.end());
      SmallVector<OpFoldResult> dSizes(sizes.begin() + 1, sizes.end());
      SmallVector<OpFoldResult> dStrides(strides.begin() + 1, strides.end());
      result = tensor::InsertSliceOp::create(b, loc, row, result, dOffsets,
                                             dSizes, dStrides);
    }
  }
  return result;
}

/// mrope.rotate: y1 = x1 c1 - x2 s1, y2 = x2 c2 + x1 s2 over the pairs, each
/// op in the activation type (Hugging Face's x * cos + rotate_half(x) * sin
/// bit for bit: x1 c1 + (-x2) s1 rounds as x1 c1 - x2 s1). Unlike mrope.apply
/// the two channels of a pair may have different table entries.
struct RotateOpLowering : OpRewritePattern<RotateOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(RotateOp op,
                                PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    bool neox = op.getPairs() == PairLayout::NeoX;
    Value cosTable = op.getCos(), sinTable = op.getSin();
    if (std::optional<AllocationAttr> alloc = op.getAlloc()) {
      cosTable = selectAxisRows(rewriter, loc, cosTable, *alloc, op.getPairs());
      sinTable = selectAxisRows(rewriter, loc, sinTable, *alloc, op.getPairs());
    }
    int64_t numPairs = op.getRotaryDim() / 2;
    int64_t second = neox ? numPairs : 1, stride = neox ? 1 : 2;
    Value x = op.getX();
    Value x1 = sliceChannels(rewriter, loc, x, 0, numPairs, stride);
    Value x2 = sliceChannels(rewriter, loc, x, second, numPairs, stride);
    Value c1 = sliceChannels(rewriter, loc, cosTable, 0, numPairs, stride);
    Value c2 = sliceChannels(rewriter, loc, cosTable, second, numPairs, stride);
    Value s1 = sliceChannels(rewriter, loc, sinTable, 0, numPairs, stride);
    Value s2 = sliceChannels(rewriter, loc, sinTable, second, numPairs, stride);

    ActivationLayout l = ActivationLayout::get(op.getLayout());
    int64_t rank = l.rank;
    AffineMap id = rewriter.getMultiDimIdentityMap(rank);
    AffineMap table = l.tableMap(op.getContext());
    auto rotated = linalg::GenericOp::create(
        rewriter, loc, TypeRange{x1.getType(), x2.getType()},
        ValueRange{x1, x2, c1, c2, s1, s2}, ValueRange{x1, x2},
        ArrayRef<AffineMap>{id, id, table, table, table, table, id, id},
        parallel(rank), [&](OpBuilder &b, Location nloc, ValueRange a) {
          Value y1 = arith::SubFOp::create(
              b, nloc, arith::MulFOp::create(b, nloc, a[0], a[2]),
              arith::MulFOp::create(b, nloc, a[1], a[4]));
          Value y2 = arith::AddFOp::create(
              b, nloc, arith::MulFOp::create(b, nloc, a[1], a[3]),
              arith::MulFOp::create(b, nloc, a[0], a[5]));
          linalg::YieldOp::create(b, nloc, ValueRange{y1, y2});
        });
    auto insert = [&](Value part, Value into, int64_t first) -> Value {
      SmallVector<OpFoldResult> offsets(rank, rewriter.getIndexAttr(0));
      SmallVector<OpFoldResult> sizes = sizesOf(rewriter, loc, part);
      SmallVector<OpFoldResult> strides(rank, rewriter.getIndexAttr(1));
      offsets.back() = rewriter.getIndexAttr(first);
      strides.back() = rewriter.getIndexAttr(stride);
      return tensor::InsertSliceOp::create(rewriter, loc, part, into, offsets,
                                           sizes, strides);
    };
    Value result = insert(rotated.getResult(0), x, 0);
    result = insert(rotated.getResult(1), result, second);
    rewriter.replaceOp(op, result);
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
    Value pairPositions =
        buildPairPositions(rewriter, loc, posF, rotary, *numKV);
    auto [cosTable, sinTable] =
        buildCosSin(rewriter, loc, pairPositions, op.getInvFreq(), rotary);

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
    SmallVector<OpFoldResult> sizes = sizesOf(rewriter, loc, pairPositions);
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
    rewriter.replaceOp(
        op, {castTo(rewriter, loc, generic.getResult(0), resultType),
             castTo(rewriter, loc, generic.getResult(1), resultType)});
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
    rewriter.replaceOp(op, castTo(rewriter, loc, result, type));
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
/// computed in float32 (with `at_init`: the init function's float64, as the
/// folder computes a constant length); LongRoPE selects the short or long
/// factors.
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

    // Dynamic NTK, in float32 as the runtime update computes it, or with
    // `at_init` in float64 as the init function does (then the base is
    // rounded to float32 and each power taken in float64).
    Type f32 = rewriter.getF32Type();
    const bool atInit = op.getAtInit();
    Type baseType = atInit ? Type(rewriter.getF64Type()) : f32;
    auto constant = [&](double v) -> Value {
      TypedAttr attr =
          atInit ? TypedAttr(rewriter.getF64FloatAttr(v))
                 : TypedAttr(rewriter.getF32FloatAttr(static_cast<float>(v)));
      return arith::ConstantOp::create(rewriter, loc, attr);
    };
    const auto l0 = *params.maxPositionEmbeddings;
    Value clamped = arith::MaxSIOp::create(
        rewriter, loc, length,
        arith::ConstantIntOp::create(rewriter, loc, l0, 64));
    Value lengthF = arith::SIToFPOp::create(rewriter, loc, baseType, clamped);
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
    // The reference raises a float32 base (a Python float at init is rounded
    // to float32 by the tensor op) to float32 exponents with torch's powf:
    // SLEEF for the vectorized prefix, the C library's powf (math.powf) for
    // the tail (TorchMath.h).
    if (atInit)
      base = arith::TruncFOp::create(rewriter, loc, f32, base);
    // inv_freq[j] = 1 / base^(float(2j) / D)
    const int64_t count = dim / 2;
    const int64_t sleefPrefix = torchmath::vectorizedPrefix(count);
    SmallVector<float> exponents;
    for (int64_t j = 0; j < count; ++j)
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
              Value p;
              if (sleefPrefix == count) {
                p = buildSleefPowF(nb, nloc, base, args[0]);
              } else if (sleefPrefix == 0) {
                p = math::PowFOp::create(nb, nloc, base, args[0]);
              } else {
                Value inPrefix = arith::CmpIOp::create(
                    nb, nloc, arith::CmpIPredicate::slt,
                    linalg::IndexOp::create(nb, nloc, 0),
                    arith::ConstantIndexOp::create(nb, nloc, sleefPrefix));
                p = arith::SelectOp::create(
                    nb, nloc, inPrefix, buildSleefPowF(nb, nloc, base, args[0]),
                    math::PowFOp::create(nb, nloc, base, args[0]));
              }
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
  if (isa<ApplyOp, CosSinOp, DecodePositionsOp, InvFreqOp, RotateOp,
          SequenceLengthOp, RopeIndexOp>(op))
    return {};
  if (isa<AttentionOp>(op))
    return "has no lowering for dynamic shapes yet";
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
    populateMRopeToLinalgConversionPatterns(patterns, vectorRows, vectorBits,
                                            fastSinCos);
    ConversionTarget target(*ctx);
    target.addLegalDialect<arith::ArithDialect, linalg::LinalgDialect,
                           math::MathDialect, scf::SCFDialect,
                           tensor::TensorDialect, vector::VectorDialect>();
    target.addIllegalOp<CosSinOp, DecodePositionsOp, InvFreqOp, RotateOp,
                        SequenceLengthOp>();
    // Applies selected for the GPU become kernels when bufferized.
    target.addDynamicallyLegalOp<ApplyOp>(
        [](ApplyOp op) { return op->hasAttr(kGPUKernelAttrName); });
    // Attention is lowered for static shapes; others are reported below.
    target.addDynamicallyLegalOp<AttentionOp>([](AttentionOp op) {
      return llvm::any_of(op->getOperandTypes(), [](Type t) {
        auto shaped = dyn_cast<ShapedType>(t);
        return shaped && !shaped.hasStaticShape();
      });
    });
    target.addIllegalOp<RopeIndexOp>();
    target.markUnknownOpDynamicallyLegal([](Operation *) { return true; });
    if (failed(applyPartialConversion(getOperation(), target,
                                      std::move(patterns))))
      return signalPassFailure();

    WalkResult leftover = getOperation()->walk([](Operation *op) {
      if (!isa<MRopeDialect>(op->getDialect()) ||
          op->hasAttr(kGPUKernelAttrName))
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
    RewritePatternSet &patterns, bool vectorRows, int64_t vectorBits,
    bool fastSinCos) {
  patterns.add<ApplyOpLowering>(patterns.getContext(), vectorRows, vectorBits,
                                fastSinCos);
  patterns.add<CosSinOpLowering, DecodePositionsOpLowering, InvFreqOpLowering,
               RotateOpLowering, SequenceLengthOpLowering>(
      patterns.getContext());
  populateRopeIndexLoweringPatterns(patterns);
  populateAttentionLoweringPatterns(patterns);
}
