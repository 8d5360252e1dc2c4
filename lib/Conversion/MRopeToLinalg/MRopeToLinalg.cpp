//===- MRopeToLinalg.cpp - mrope to linalg-on-tensors ---------------------===//
//
// mrope.apply / mrope.cos_sin  ->  angles per (token, pair) from strided runs
// of the allocation  ->  cos/sin  ->  one linalg.generic per rotated tensor
// (portable form), or with vector-rows one scf.forall over tiles of tokens
// taking each position axis's cos/sin as vectors (for apply reused while the
// axis's position repeats) and rotating every head (apply) or writing the
// table rows (cos_sin, CosSinRows.cpp).
//
//===----------------------------------------------------------------------===//

#include "mrope/Conversion/MRopeToLinalg/MRopeToLinalg.h"
#include "AttentionLowering.h"
#include "BF16WordPairs.h"
#include "Common/ActivationLayout.h"
#include "Common/RotaryMath.h"
#include "Common/TorchMathIR.h"
#include "CosSinRows.h"
#include "CosSinSources.h"
#include "RopeIndexLowering.h"
#include "VectorLanes.h"
#include "mrope/Conversion/MRopeToGPU/MRopeToGPU.h"
#include "mrope/Conversion/Passes.h"
#include "mrope/Dialect/MRope/IR/MRopeOps.h"
#include "mrope/Dialect/MRope/Utils/AxisRuns.h"
#include "mrope/Dialect/MRope/Utils/FrequencyMath.h"
#include "mrope/Dialect/MRope/Utils/TorchMath.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Arith/Utils/Utils.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
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

/// Slots of the per-tile cache of each cos/sin source (direct-mapped by a
/// multiplicative hash of the position bits): an image row's W positions
/// repeat in every row, so within a tile they are computed once per frame.
constexpr int64_t kSlotBits = 6;
constexpr uint32_t kSlotHashMultiplier = 0x9e3779b1u;

/// Vector registers the rotation may keep cos/sin chunks in across a loop
/// over heads (of AVX-512's 32 or AVX2's 16, leaving room for the rows and
/// the arithmetic).
constexpr int64_t kMaxCosSinRegisters = 8;

/// cos/sin vectors of the previous token the loop over a tile's tokens may
/// carry in registers (all sources together). More would stay live across
/// the loops over heads and be spilled inside them (MHRoPE's three
/// all-pair sources are 24 AVX-512 vectors); then repeats come from the
/// slot cache alone.
constexpr int64_t kMaxCarriedCosSinRegisters = 12;

/// The CPU form of mrope.apply: one scf.forall over tiles of `tokenTile`
/// tokens, q and k as its shared outputs; in a tile, an scf.for over its
/// tokens. Per token it
///   - takes cos and sin of every source (CosSinSource) as vectors of the
///     target's width -- reused from the previous token of the tile when the
///     source's position is the same (T and H along a row of an image or
///     video frame; carried in registers while they fit,
///     kMaxCarriedCosSinRegisters), or from another source with the same
///     pairs and position (MHRoPE's text tokens), or from the tile's slot
///     cache (W positions repeat in every row), otherwise computed and stored
///     there; no gathers and no table of the whole sequence in memory. A
///     head block's source is taken right before the block's heads are
///     rotated;
///   - assembles each chunk of pairs' cos/sin from the sources' pieces with
///     constant shuffles of the allocation (for head-partitioned ones, each
///     head block's source directly);
///   - rotates every head of q and k in an scf.for: one vector read of the
///     row's rotary channels, split into the pair channels (NeoX halves or
///     GPT-J even/odd; bf16 as word pairs, whose lanes are sets of even and
///     odd pairs), rotated, joined and written back. With avx512BF16 a bf16
///     row whose words and cos/sin allow it is rounded two vectors per
///     instruction (rotateWordVectors).
/// Each tile writes only its own rows of q and k, so bufferization rotates
/// in place and the tiles can run in parallel. The arithmetic is exactly the
/// table form's: cos/sin of the angle pos * inv_freq (buildRotaryCosSin, per
/// the rotary's `angles`) times the attention scaling in f32, rounded to the
/// activation type, then the rotation; reuse only happens for bit-identical
/// positions, so it changes no result.
std::pair<Value, Value>
rotateTokensWithVectors(OpBuilder &b, Location loc, Value q, Value k,
                        Value positions, Value invFreq, RotaryAttr rotary,
                        TensorLayout layout, ArrayRef<HeadBlock> blocks,
                        int64_t groupSize, bool inverse,
                        const RotaryLoweringOptions &options) {
  ActivationLayout l = ActivationLayout::get(layout);
  AllocationAttr alloc = rotary.getAlloc();
  const int64_t numPairs = rotary.getRotaryDim() / 2;
  const bool neox = rotary.getPairs() == PairLayout::NeoX;
  Type elementType = cast<RankedTensorType>(q.getType()).getElementType();
  // bf16 is rotated in f32 lanes. With an even pair count as word pairs
  // (BF16WordPairs.h): a loaded vector of 2n words is the even and odd lanes
  // of two sets of n pairs (a shift and a mask, no conversion); otherwise
  // vectors are widened right after the load and narrowed right before the
  // store.
  const bool widen = elementType.isBF16();
  const bool wordPairs = widen && numPairs % 2 == 0;
  const int64_t maxChunkPairs = wordPairs ? numPairs / 2 : numPairs;
  int64_t chunkPairs = options.vectorBits / 32;
  if (chunkPairs <= 0 || chunkPairs > maxChunkPairs)
    chunkPairs = maxChunkPairs;
  // The pairs of each chunk in lane order (cos/sin are one vector per
  // chunk). Word pairs: chunks 2g and 2g + 1 are the sets of group g, up to
  // 2 * chunkPairs pairs from p0: for NeoX the even and odd pairs (the even
  // and odd words of the x1 and x2 halves), for GPT-J the first and second
  // half (even words x1, odd words x2, of one vector each).
  SmallVector<SmallVector<int64_t>> chunkPairLists;
  if (!wordPairs) {
    for (int64_t first = 0; first < numPairs; first += chunkPairs)
      chunkPairLists.push_back(llvm::to_vector(
          llvm::seq<int64_t>(first, std::min(first + chunkPairs, numPairs))));
  } else {
    for (int64_t p0 = 0; p0 < numPairs; p0 += 2 * chunkPairs) {
      const int64_t half = std::min(2 * chunkPairs, numPairs - p0) / 2;
      for (int64_t set = 0; set < 2; ++set)
        chunkPairLists.push_back(
            llvm::map_to_vector(llvm::seq<int64_t>(0, half), [&](int64_t i) {
              return neox ? p0 + 2 * i + set : p0 + set * half + i;
            }));
    }
  }
  const int64_t numChunks = chunkPairLists.size();
  const GroupRounding groupRounding = options.avx512BF16
                                          ? GroupRounding::AVX512BF16
                                          : GroupRounding::IntegerBits;
  const int64_t tokenTile = std::max<int64_t>(options.tokenTile, 1);
  const SinCosLowering sinCos =
      options.fastSinCos ? SinCosLowering::Polynomial : SinCosLowering::Torch;
  const double scaling = rotary.getAttentionScaling();
  Type f32 = b.getF32Type();
  Type i32 = b.getI32Type();
  auto pieceType = VectorType::get({chunkPairs}, f32);
  // cos/sin pieces as the rotation uses them.
  auto rotationPieceType =
      VectorType::get({chunkPairs}, widen ? f32 : elementType);

  // The sources and, per pair, its source and index there.
  SmallVector<CosSinSource> sources;
  auto sourceIndex = [&](Axis axis) -> size_t {
    for (auto [i, source] : llvm::enumerate(sources))
      if (source.axis == axis)
        return i;
    sources.push_back({axis, {}, {}});
    return sources.size() - 1;
  };
  SmallVector<std::pair<size_t, int64_t>> pairSource;
  if (blocks.empty()) {
    for (Axis axis : alloc.getPairAxes(numPairs)) {
      CosSinSource &source = sources[sourceIndex(axis)];
      pairSource.push_back({&source - sources.data(), source.pairs.size()});
      source.pairs.push_back(pairSource.size() - 1);
    }
  } else {
    // Each block's source has every pair, in the chunks' lane order, so a
    // chunk's cos/sin are a piece as computed (no shuffle per token).
    SmallVector<int64_t> lanePairs;
    for (ArrayRef<int64_t> pairs : chunkPairLists)
      llvm::append_range(lanePairs, pairs);
    // (pairSource then gives the index; the source is the block's.)
    pairSource.resize(numPairs);
    for (auto [index, pair] : llvm::enumerate(lanePairs))
      pairSource[pair] = {0, int64_t(index)};
    for (const HeadBlock &block : blocks) {
      CosSinSource &source = sources[sourceIndex(block.axis)];
      if (source.pairs.empty())
        source.pairs = lanePairs;
    }
  }

  // Loop invariants: each source's inv_freq pieces, the NoPE cos/sin.
  Value zero = arith::ConstantIndexOp::create(b, loc, 0);
  Value padF = arith::ConstantOp::create(b, loc, b.getZeroAttr(f32));
  bool freqInBounds =
      !cast<RankedTensorType>(invFreq.getType()).isDynamicDim(0);
  auto freqType = VectorType::get({numPairs}, f32);
  Value freqs = vector::TransferReadOp::create(b, loc, freqType, invFreq,
                                               ValueRange{zero}, padF,
                                               ArrayRef<bool>{freqInBounds});
  for (CosSinSource &source : sources)
    source.freqPieces = packLanes(b, loc, freqs, source.pairs, chunkPairs);
  auto computeSource = [&](OpBuilder &cb, Location cloc,
                           const CosSinSource &source, Value position) {
    SourceCosSin result;
    Value broadcast =
        vector::BroadcastOp::create(cb, cloc, pieceType, position);
    for (Value freqPiece : source.freqPieces) {
      auto [c, s] = buildRotaryCosSin(cb, cloc, broadcast, freqPiece,
                                      rotary.getAngles(), scaling, sinCos);
      // Rounded to the activation type once, when computed (sin negated
      // for the inverse); bf16 is rotated in f32 ops, so widened again.
      std::tie(c, s) = roundCosSin(
          cb, cloc, c, s, VectorType::get({chunkPairs}, elementType), inverse);
      if (widen) {
        c = arith::ExtFOp::create(cb, cloc, pieceType, c);
        s = arith::ExtFOp::create(cb, cloc, pieceType, s);
      }
      result.c.push_back(c);
      result.s.push_back(s);
    }
    return result;
  };
  int64_t carriedPieces = 0;
  for (const CosSinSource &source : sources)
    if (source.axis != Axis::NoPE)
      carriedPieces += 2 * source.freqPieces.size();
  const bool carryPrevious = carriedPieces <= kMaxCarriedCosSinRegisters;
  std::optional<SourceCosSin> noPE;
  for (const CosSinSource &source : sources)
    if (source.axis == Axis::NoPE)
      noPE =
          computeSource(b, loc, source,
                        arith::ConstantOp::create(b, loc, b.getZeroAttr(f32)));

  SmallVector<OpFoldResult> qSizes = sizesOf(b, loc, q);
  // The tensors rotated, with their sizes and GQA groups: q, and k unless k
  // is q itself (apply(k, k), a rotation of k alone: rotated once).
  struct Rotated {
    Value tensor;
    SmallVector<OpFoldResult> sizes;
    int64_t group;
  };
  SmallVector<Rotated> rotated = {{q, qSizes, groupSize}};
  if (k != q)
    rotated.push_back({k, sizesOf(b, loc, k), 1});
  const size_t numRotated = rotated.size();
  // The forall runs over [B, tiles of S] (or [tiles of T] packed); positions
  // are [3, B, S] / [3, T].
  Value seqSize = getValueOrCreateConstantIndexOp(b, loc, qSizes[l.seq]);
  Value tileSize = arith::ConstantIndexOp::create(b, loc, tokenTile);
  SmallVector<OpFoldResult> forallSizes;
  if (!l.packed())
    forallSizes.push_back(qSizes[l.batch]);
  forallSizes.push_back(getAsOpFoldResult(
      arith::CeilDivUIOp::create(b, loc, seqSize, tileSize).getResult()));

  auto forall = scf::ForallOp::create(
      b, loc, forallSizes,
      llvm::map_to_vector(rotated, [](const Rotated &r) { return r.tensor; }),
      /*mapping=*/std::nullopt,
      [&](OpBuilder &nb, Location nloc, ValueRange args) {
        Value batch = l.packed() ? Value() : args[0];
        Value tile = args[forallSizes.size() - 1];
        ValueRange outs = args.drop_front(forallSizes.size());
        Value seqStart = arith::MulIOp::create(nb, nloc, tile, tileSize);
        Value count = arith::MinSIOp::create(
            nb, nloc, tileSize,
            arith::SubIOp::create(nb, nloc, seqSize, seqStart));

        // The tile's rows of q or k (full rank: [1, n, ..] or [1, .., n,
        // ..]).
        auto tileSlice = [&](Value out, ArrayRef<OpFoldResult> sizes,
                             SmallVector<OpFoldResult> &offsets,
                             SmallVector<OpFoldResult> &tileSizes) {
          const int64_t rank = sizes.size();
          offsets.assign(rank, nb.getIndexAttr(0));
          tileSizes.assign(sizes.begin(), sizes.end());
          if (batch) {
            offsets[l.batch] = batch;
            tileSizes[l.batch] = nb.getIndexAttr(1);
          }
          offsets[l.seq] = seqStart;
          tileSizes[l.seq] = count;
          SmallVector<OpFoldResult> unit(rank, nb.getIndexAttr(1));
          return tensor::ExtractSliceOp::create(nb, nloc, out, offsets,
                                                tileSizes, unit)
              .getResult();
        };
        SmallVector<SmallVector<OpFoldResult>> tileOffsets(numRotated),
            tileSizes(numRotated);
        SmallVector<Value> tiles;
        for (auto [i, r] : llvm::enumerate(rotated))
          tiles.push_back(
              tileSlice(outs[i], r.sizes, tileOffsets[i], tileSizes[i]));

        // The slot cache of the tile: tags [sources, slots] (position bits)
        // and pieces [sources, slots, pieces, lanes]. One tensor each, not
        // one per source: CSE merges equal tensor.empty ops, and one-shot
        // bufferization then gave two loop-carried caches the same buffer.
        // A source's pieces for position `p` (bits `bits`) from its slots,
        // or computed and stored there; then the cache's tensors.
        auto fromSlotCache = [&](OpBuilder &ab, Location aloc, size_t sourceIdx,
                                 Value p, Value bits, Value tags,
                                 Value cached) {
          const CosSinSource &source = sources[sourceIdx];
          Value sourceAt =
              arith::ConstantIndexOp::create(ab, aloc, int64_t(sourceIdx));
          auto slotIndices = [&](OpBuilder &ib, Location iloc, Value slot,
                                 int64_t piece) -> SmallVector<Value> {
            return {sourceAt, slot,
                    arith::ConstantIndexOp::create(ib, iloc, piece), zero};
          };
          Value hash = arith::MulIOp::create(
              ab, aloc, bits,
              arith::ConstantOp::create(
                  ab, aloc,
                  ab.getI32IntegerAttr(
                      static_cast<int32_t>(kSlotHashMultiplier))));
          hash = arith::ShRUIOp::create(
              ab, aloc, hash,
              arith::ConstantOp::create(ab, aloc,
                                        ab.getI32IntegerAttr(32 - kSlotBits)));
          Value slot =
              arith::IndexCastUIOp::create(ab, aloc, ab.getIndexType(), hash);
          Value tag = tensor::ExtractOp::create(ab, aloc, tags,
                                                ValueRange{sourceAt, slot});
          Value hit = arith::CmpIOp::create(ab, aloc, arith::CmpIPredicate::eq,
                                            tag, bits);
          const int64_t numPieces = 2 * source.freqPieces.size();
          auto ifOp = scf::IfOp::create(
              ab, aloc, hit,
              [&](OpBuilder &hb, Location hloc) {
                SmallVector<Value> yields;
                Value pad = arith::ConstantOp::create(
                    hb, hloc,
                    hb.getZeroAttr(rotationPieceType.getElementType()));
                for (int64_t piece = 0; piece < numPieces; ++piece)
                  yields.push_back(vector::TransferReadOp::create(
                      hb, hloc, rotationPieceType, cached,
                      slotIndices(hb, hloc, slot, piece), pad,
                      ArrayRef<bool>{true}));
                yields.append({tags, cached});
                scf::YieldOp::create(hb, hloc, yields);
              },
              [&](OpBuilder &mb, Location mloc) {
                SmallVector<Value> yields =
                    computeSource(mb, mloc, source, p).pieces();
                Value newTags = tensor::InsertOp::create(
                    mb, mloc, bits, tags, ValueRange{sourceAt, slot});
                Value newCached = cached;
                for (int64_t piece = 0; piece < numPieces; ++piece)
                  newCached = vector::TransferWriteOp::create(
                                  mb, mloc, yields[piece], newCached,
                                  slotIndices(mb, mloc, slot, piece),
                                  ArrayRef<bool>{true})
                                  .getResult();
                yields.append({newTags, newCached});
                scf::YieldOp::create(mb, mloc, yields);
              });
          return SmallVector<Value>(ifOp.getResults());
        };

        // cos/sin of source i for the token at `seq`: the previous token's
        // (`previous`, if carried; valid unless this is the tile's first)
        // where the position is the same, else those of a source already
        // computed for this token (`now`) with the same pairs and position,
        // else from the slot cache or computed.
        auto sourceCosSin = [&](OpBuilder &ab, Location aloc, size_t i,
                                Value seq, ArrayRef<SourceCosSin> previous,
                                Value previousValid,
                                ArrayRef<std::optional<SourceCosSin>> now,
                                Value &tags, Value &cached) -> SourceCosSin {
          const CosSinSource &source = sources[i];
          if (source.axis == Axis::NoPE)
            return *noPE;
          SmallVector<Value> idx = {arith::ConstantIndexOp::create(
              ab, aloc, static_cast<int64_t>(source.axis))};
          if (batch)
            idx.push_back(batch);
          idx.push_back(seq);
          Value p = tensor::ExtractOp::create(ab, aloc, positions, idx);
          if (p.getType() != f32)
            p = arith::SIToFPOp::create(ab, aloc, f32, p);
          // Bits, not values: -0 and +0 give sines of different signs.
          Value bits = arith::BitcastOp::create(ab, aloc, i32, p);
          SmallVector<ReuseCandidate> candidates;
          if (carryPrevious)
            candidates.push_back({&previous[i], previousValid});
          for (auto [j, other] : llvm::enumerate(now))
            if (other && sources[j].axis != Axis::NoPE &&
                sources[j].pairs == source.pairs)
              candidates.push_back({&*other, Value()});
          SmallVector<Value> results = reuseOrCompute(
              ab, aloc, bits, candidates, ValueRange{tags, cached},
              [&](OpBuilder &cb, Location cloc) {
                return fromSlotCache(cb, cloc, i, p, bits, tags, cached);
              });
          SourceCosSin current;
          current.positionBits = bits;
          current.assignPieces(ValueRange(results).drop_back(2));
          tags = results[results.size() - 2];
          cached = results.back();
          return current;
        };
        // The loop carries each source's position bits and pieces (if
        // carryPrevious).
        auto flatten = [&](ArrayRef<SourceCosSin> all) {
          SmallVector<Value> flat;
          if (!carryPrevious)
            return flat;
          for (auto [source, values] : llvm::zip(sources, all))
            if (source.axis != Axis::NoPE) {
              flat.push_back(values.positionBits);
              llvm::append_range(flat, values.pieces());
            }
          return flat;
        };
        auto unflatten = [&](ValueRange flat) {
          SmallVector<SourceCosSin> all;
          if (!carryPrevious)
            return all;
          for (const CosSinSource &source : sources) {
            if (source.axis == Axis::NoPE) {
              all.push_back(*noPE);
              continue;
            }
            const size_t pieces = 2 * source.freqPieces.size();
            SourceCosSin values;
            values.positionBits = flat.front();
            values.assignPieces(flat.slice(1, pieces));
            flat = flat.drop_front(1 + pieces);
            all.push_back(std::move(values));
          }
          return all;
        };
        // Before the tile's first token the carried pieces are zeros, never
        // reused; the slot cache is empty: slot e's tag is bits that do not
        // hash to e, so no lookup matches it.
        SmallVector<Value> inits(tiles);
        int64_t maxPieces = 0;
        for (const CosSinSource &source : sources) {
          if (source.axis == Axis::NoPE)
            continue;
          const int64_t numPieces = 2 * source.freqPieces.size();
          maxPieces = std::max(maxPieces, numPieces);
          if (!carryPrevious)
            continue;
          inits.push_back(
              arith::ConstantOp::create(nb, nloc, nb.getZeroAttr(i32)));
          Value zeros = arith::ConstantOp::create(
              nb, nloc, nb.getZeroAttr(rotationPieceType));
          inits.append(numPieces, zeros);
        }
        const int64_t numSources = sources.size();
        const int64_t numSlots = int64_t(1) << kSlotBits;
        SmallVector<int32_t> emptyTags(numSources * numSlots, 0);
        int32_t emptySlot0 = 1;
        while (((uint32_t(emptySlot0) * kSlotHashMultiplier) >>
                (32 - kSlotBits)) == 0)
          ++emptySlot0;
        for (int64_t i = 0; i < numSources; ++i)
          emptyTags[i * numSlots] = emptySlot0;
        inits.push_back(arith::ConstantOp::create(
            nb, nloc,
            DenseElementsAttr::get(
                RankedTensorType::get({numSources, numSlots}, i32),
                ArrayRef<int32_t>(emptyTags))));
        inits.push_back(tensor::EmptyOp::create(
            nb, nloc,
            ArrayRef<int64_t>{numSources, numSlots, maxPieces, chunkPairs},
            rotationPieceType.getElementType()));

        Value one = arith::ConstantIndexOp::create(nb, nloc, 1);
        auto tokenLoop = scf::ForOp::create(
            nb, nloc, zero, count, one, inits,
            [&](OpBuilder &tb, Location tloc, Value t, ValueRange iterArgs) {
              Value seq = arith::AddIOp::create(tb, tloc, seqStart, t);
              Value notFirst = arith::CmpIOp::create(
                  tb, tloc, arith::CmpIPredicate::ne, t, zero);
              Value tags = iterArgs[iterArgs.size() - 2];
              Value cached = iterArgs.back();
              SmallVector<SourceCosSin> previous =
                  unflatten(iterArgs.drop_front(numRotated).drop_back(2));
              // Sources are computed when a head range first needs them,
              // with every source before them (candidates for reuse): a
              // head-partitioned allocation's later sources are not live in
              // the loops over the earlier ranges' heads.
              SmallVector<std::optional<SourceCosSin>> now(sources.size());
              auto computeSourcesUpTo = [&](size_t last) {
                for (size_t i = 0; i <= last; ++i)
                  if (!now[i])
                    now[i] = sourceCosSin(tb, tloc, i, seq, previous, notFirst,
                                          now, tags, cached);
              };

              // Head ranges [begin, end) of q (scaled by the GQA group) or k
              // with the cos/sin of each chunk of pairs.
              struct HeadRange {
                int64_t firstKVHead, numKVHeads;
                SmallVector<Value> c, s;
                // AVX512-BF16 rounding: whether cos/sin allow it (null:
                // they always do).
                Value cosSinSafe;
              };
              auto chunksOf = [&](std::optional<size_t> blockSource) {
                computeSourcesUpTo(blockSource.value_or(sources.size() - 1));
                HeadRange range;
                for (ArrayRef<int64_t> pairsOfChunk : chunkPairLists) {
                  SmallVector<std::pair<Value, int64_t>> cFrom, sFrom;
                  for (int64_t j : pairsOfChunk) {
                    auto [source, index] = pairSource[j];
                    if (blockSource)
                      source = *blockSource;
                    cFrom.push_back({now[source]->c[index / chunkPairs],
                                     index % chunkPairs});
                    sFrom.push_back({now[source]->s[index / chunkPairs],
                                     index % chunkPairs});
                  }
                  range.c.push_back(assembleLanes(tb, tloc, cFrom));
                  range.s.push_back(assembleLanes(tb, tloc, sFrom));
                }
                if (wordPairs && groupRounding == GroupRounding::AVX512BF16 &&
                    !cosSinAlwaysAllowAVX512BF16(scaling)) {
                  SmallVector<Value> cosSin(range.c);
                  llvm::append_range(cosSin, range.s);
                  range.cosSinSafe = cosSinAllowAVX512BF16(tb, tloc, cosSin);
                }
                return range;
              };
              // The ranges: every head (shared tables), or each head block
              // with its source; their cos/sin are assembled when rotated.
              auto rangeOf = [&](const HeadBlock *block) {
                HeadRange range = chunksOf(
                    block ? std::optional<size_t>(sourceIndex(block->axis))
                          : std::nullopt);
                range.firstKVHead = block ? block->firstKVHead : 0;
                range.numKVHeads =
                    block ? block->numKVHeads : ShapedType::kDynamic;
                return range;
              };

              // Token t's rows of a tile ([.., H, D]) of q or k, rotated
              // range by range in `slice`.
              struct TokenRows {
                Value tileRows, slice;
                SmallVector<OpFoldResult> offsets, sliceSizes, unit;
                ArrayRef<OpFoldResult> sizes;
                int64_t group;
              };
              auto extractRows = [&](Value tileRows,
                                     ArrayRef<OpFoldResult> sizes,
                                     int64_t group) {
                TokenRows rows;
                auto type = cast<RankedTensorType>(tileRows.getType());
                const int64_t rank = type.getRank();
                rows.tileRows = tileRows;
                rows.sizes = sizes;
                rows.group = group;
                rows.offsets.assign(rank, tb.getIndexAttr(0));
                rows.sliceSizes.assign(rank, tb.getIndexAttr(1));
                rows.offsets[l.seq] = t;
                rows.sliceSizes[l.heads] = sizes[l.heads];
                rows.sliceSizes[rank - 1] = sizes[rank - 1];
                rows.unit.assign(rank, tb.getIndexAttr(1));
                auto sliceType = RankedTensorType::get(
                    {type.getDimSize(l.heads), type.getDimSize(rank - 1)},
                    elementType);
                rows.slice = tensor::ExtractSliceOp::create(
                    tb, tloc, sliceType, tileRows, rows.offsets,
                    rows.sliceSizes, rows.unit);
                return rows;
              };
              Value pad = arith::ConstantOp::create(
                  tb, tloc, tb.getZeroAttr(elementType));
              // Rotates the heads of `range` in `rows`.
              auto rotateRange = [&](TokenRows &rows, const HeadRange &range) {
                Value &slice = rows.slice;
                ArrayRef<OpFoldResult> sizes = rows.sizes;
                const int64_t group = rows.group;
                Value begin = arith::ConstantIndexOp::create(
                    tb, tloc, range.firstKVHead * group);
                Value end =
                    ShapedType::isDynamic(range.numKVHeads)
                        ? getValueOrCreateConstantIndexOp(tb, tloc,
                                                          sizes[l.heads])
                        : arith::ConstantIndexOp::create(
                              tb, tloc,
                              (range.firstKVHead + range.numKVHeads) * group);
                // Rotates unit `unit` of one head's row: a chunk, or with
                // word pairs a group (chunks 2 unit and 2 unit + 1). bf16
                // vectors are widened right after the load and narrowed
                // right before the store, never split or shuffled.
                auto rotateUnit = [&](OpBuilder &lb, Location lloc, Value head,
                                      Value rows, int64_t unit) -> Value {
                  SmallVector<bool> inBounds = {true};
                  auto at = [&](int64_t channel) {
                    return arith::ConstantIndexOp::create(lb, lloc, channel);
                  };
                  if (wordPairs) {
                    const int64_t p0 = chunkPairLists[2 * unit].front();
                    const int64_t half = chunkPairLists[2 * unit].size();
                    // NeoX: the x1 and x2 words of the group's pairs;
                    // GPT-J: the words of its first and second half.
                    SmallVector<WordVectorLayout> layout;
                    if (neox)
                      layout = {{p0, {{{0, 0}, {0, 1}}}},
                                {numPairs + p0, {{{1, 0}, {1, 1}}}}};
                    else
                      layout = {{2 * p0, {{{0, 0}, {1, 0}}}},
                                {2 * p0 + 2 * half, {{{0, 1}, {1, 1}}}}};
                    auto wordsType = VectorType::get({2 * half}, elementType);
                    SmallVector<Value> words;
                    for (const WordVectorLayout &vector : layout)
                      words.push_back(vector::TransferReadOp::create(
                          lb, lloc, wordsType, rows,
                          ValueRange{head, at(vector.channel)}, pad, inBounds));
                    SmallVector<Value> rotatedWords = rotateWordVectors(
                        lb, lloc, words, layout,
                        {range.c[2 * unit], range.c[2 * unit + 1]},
                        {range.s[2 * unit], range.s[2 * unit + 1]},
                        groupRounding, range.cosSinSafe);
                    for (auto [vector, value] : llvm::zip(layout, rotatedWords))
                      rows = vector::TransferWriteOp::create(
                                 lb, lloc, value, rows,
                                 ValueRange{head, at(vector.channel)}, inBounds)
                                 .getResult();
                    return rows;
                  }
                  const int64_t chunk = unit;
                  const int64_t first = chunk * chunkPairs;
                  const int64_t n = std::min(chunkPairs, numPairs - first);
                  auto read = [&](int64_t channel, int64_t size) -> Value {
                    Value v = vector::TransferReadOp::create(
                        lb, lloc, VectorType::get({size}, elementType), rows,
                        ValueRange{head, at(channel)}, pad, inBounds);
                    if (widen)
                      v = arith::ExtFOp::create(
                          lb, lloc, VectorType::get({size}, f32), v);
                    return v;
                  };
                  auto write = [&](Value v, int64_t channel, Value into) {
                    if (widen)
                      v = narrowExactBF16(lb, lloc, v);
                    return vector::TransferWriteOp::create(
                               lb, lloc, v, into, ValueRange{head, at(channel)},
                               inBounds)
                        .getResult();
                  };
                  Type roundTo = widen ? elementType : Type();
                  Value c = range.c[chunk], s = range.s[chunk];
                  if (neox) {
                    // Pair j is channels j and j + D/2.
                    Value x1 = read(first, n);
                    Value x2 = read(numPairs + first, n);
                    auto [y1, y2] = rotatePair(lb, lloc, x1, x2, c, s, roundTo,
                                               BF16Rounding::IntegerBits);
                    Value written = write(y1, first, rows);
                    return write(y2, numPairs + first, written);
                  }
                  // Pair j is channels 2j and 2j + 1.
                  Value row = read(2 * first, 2 * n);
                  auto halves = vector::DeinterleaveOp::create(lb, lloc, row);
                  auto [y1, y2] =
                      rotatePair(lb, lloc, halves.getRes1(), halves.getRes2(),
                                 c, s, roundTo, BF16Rounding::IntegerBits);
                  Value joined = vector::InterleaveOp::create(lb, lloc, y1, y2);
                  return write(joined, 2 * first, rows);
                };
                // Rotates units [firstUnit, endUnit) of every head in
                // the range, one loop over the heads.
                auto loopOverHeads = [&](int64_t firstUnit, int64_t endUnit) {
                  auto loop = scf::ForOp::create(
                      tb, tloc, begin, end, one, ValueRange{slice},
                      [&](OpBuilder &lb, Location lloc, Value head,
                          ValueRange headArgs) {
                        Value rows = headArgs[0];
                        for (int64_t unit = firstUnit; unit < endUnit; ++unit)
                          rows = rotateUnit(lb, lloc, head, rows, unit);
                        scf::YieldOp::create(lb, lloc, rows);
                      });
                  slice = loop.getResult(0);
                };
                const int64_t numUnits = wordPairs ? numChunks / 2 : numChunks;
                if (2 * numChunks <= kMaxCosSinRegisters) {
                  // All chunks' cos/sin fit in registers: one pass over
                  // the heads.
                  loopOverHeads(0, numUnits);
                } else {
                  // One loop over the heads per unit: only its cos/sin
                  // are live in the loop, and the token's rows stay in L1
                  // between units.
                  for (int64_t unit = 0; unit < numUnits; ++unit)
                    loopOverHeads(unit, unit + 1);
                }
              };
              SmallVector<TokenRows> tokenRows;
              for (auto [i, r] : llvm::enumerate(rotated))
                tokenRows.push_back(extractRows(iterArgs[i], r.sizes, r.group));
              // Range by range, q's heads then k's: a range's cos/sin are
              // dead after its last loop, so fewer vectors are live in the
              // loops of the next ranges (MHRoPE: 8 per range).
              auto rotateAll = [&](const HeadBlock *block) {
                HeadRange range = rangeOf(block);
                for (TokenRows &rows : tokenRows)
                  rotateRange(rows, range);
              };
              if (blocks.empty())
                rotateAll(nullptr);
              for (const HeadBlock &block : blocks)
                rotateAll(&block);
              SmallVector<Value> yields;
              for (TokenRows &rows : tokenRows)
                yields.push_back(tensor::InsertSliceOp::create(
                    tb, tloc, rows.slice, rows.tileRows, rows.offsets,
                    rows.sliceSizes, rows.unit));
              llvm::append_range(
                  yields,
                  flatten(llvm::map_to_vector(
                      now, [](const std::optional<SourceCosSin> &values) {
                        return *values;
                      })));
              yields.append({tags, cached});
              scf::YieldOp::create(tb, tloc, yields);
            });

        auto inParallel = scf::InParallelOp::create(nb, nloc);
        OpBuilder::InsertionGuard guard(nb);
        nb.setInsertionPointToStart(inParallel.getBody());
        for (size_t i = 0; i < numRotated; ++i)
          tensor::ParallelInsertSliceOp::create(
              nb, nloc, tokenLoop.getResult(i), outs[i], tileOffsets[i],
              tileSizes[i],
              SmallVector<OpFoldResult>(tileSizes[i].size(),
                                        nb.getIndexAttr(1)));
      });
  return {forall.getResult(0), forall.getResult(numRotated - 1)};
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
  ApplyOpLowering(MLIRContext *context, const RotaryLoweringOptions &options)
      : OpRewritePattern(context), options(options) {}
  RotaryLoweringOptions options;

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
    if (options.vectorRows) {
      auto [q, k] = rotateTokensWithVectors(
          rewriter, loc, op.getQ(), op.getK(), op.getPositions(),
          op.getInvFreq(), rotary, op.getLayout(), blocks, groupSize,
          op.getInverse(), options);
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
    // apply(k, k) rotates k alone: once.
    Value k =
        op.getK() == op.getQ()
            ? q
            : rotate(rewriter, loc, op.getK(), cosTable, sinTable, rotary,
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
      // The axis row as a [1, ...] slice, then its unit dimension collapsed
      // away: a rank-reducing slice of a table whose other dimensions are 1
      // too (batch 1, one channel) would be ambiguous about which unit
      // dimension it drops, and memref.subview's inference of it crashes in
      // MLIR 22 (expand-strided-metadata).
      SmallVector<int64_t> shape(type.getShape());
      shape.front() = 1;
      shape.back() = run.count;
      auto rowType = RankedTensorType::get(shape, type.getElementType());
      Value row = tensor::ExtractSliceOp::create(b, loc, rowType, tables,
                                                 offsets, sizes, strides);
      SmallVector<ReassociationIndices> merge = {{0, 1}};
      for (int64_t d = 2; d < rank; ++d)
        merge.push_back({d});
      row = tensor::CollapseShapeOp::create(b, loc, row, merge);
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

/// The Hugging Face tables in two passes: one linalg.generic over the pairs
/// [.., P] reads each pair's position (`positions[axis(j), ..tokens..]`,
/// the axis of each pair -- or of each KV head for head-partitioned
/// allocations -- a compile-time constant table) and inv_freq[j] and
/// computes cos and sin as the rotary lowering does; a second expands [.., P]
/// to the [.., D] layout. Two kernels on the GPU (building a position table
/// per run of pairs took ten); computing the tables over [.., D] directly
/// would take every pair's cos/sin twice. With vector-rows (the CPU) the
/// same arithmetic runs on vectors per token instead (buildCosSinRows).
struct CosSinOpLowering : OpRewritePattern<CosSinOp> {
  CosSinOpLowering(MLIRContext *context, const RotaryLoweringOptions &options)
      : OpRewritePattern(context), options(options) {}
  RotaryLoweringOptions options;

  LogicalResult matchAndRewrite(CosSinOp op,
                                PatternRewriter &rewriter) const override {
    RotaryAttr rotary = op.getRotary();
    FailureOr<int64_t> numKV =
        staticKVHeads(op, rotary, op.getNumKVHeads(), rewriter);
    if (failed(numKV))
      return failure();
    Location loc = op.getLoc();
    auto resultType = cast<RankedTensorType>(op.getCos().getType());
    if (options.vectorRows) {
      auto [cos, sin] =
          buildCosSinRows(rewriter, loc, op.getPositions(), op.getInvFreq(),
                          rotary, *numKV, resultType.getElementType(), options);
      rewriter.replaceOp(op, {castTo(rewriter, loc, cos, resultType),
                              castTo(rewriter, loc, sin, resultType)});
      return success();
    }
    AllocationAttr alloc = rotary.getAlloc();
    const int64_t numPairs = rotary.getRotaryDim() / 2;
    const bool perHead = alloc.isHeadPartitioned();
    Value positions = op.getPositions();
    auto posType = cast<RankedTensorType>(positions.getType());
    const int64_t tokenRank = posType.getRank() - 1;
    // Table dims: the tokens' (B, S or T), the KV head before the sequence
    // dim for head-partitioned tables, then the channels.
    const int64_t headDim = perHead ? tokenRank - 1 : -1;
    SmallVector<OpFoldResult> sizes = sizesOf(rewriter, loc, positions);
    sizes.erase(sizes.begin());
    if (perHead)
      sizes.insert(sizes.begin() + headDim, rewriter.getIndexAttr(*numKV));
    sizes.push_back(rewriter.getIndexAttr(rotary.getRotaryDim()));
    const int64_t rank = sizes.size();

    // The axis of each pair (or KV head), a constant the loop reads.
    SmallVector<int32_t> keyAxes;
    for (Axis axis :
         perHead ? alloc.getHeadAxes(*numKV) : alloc.getPairAxes(numPairs))
      keyAxes.push_back(static_cast<int32_t>(axis));
    Value axes = arith::ConstantOp::create(
        rewriter, loc,
        DenseElementsAttr::get(RankedTensorType::get({int64_t(keyAxes.size())},
                                                     rewriter.getI32Type()),
                               ArrayRef<int32_t>(keyAxes)));

    // cos/sin per pair, in f32.
    SmallVector<OpFoldResult> pairSizes(sizes);
    pairSizes.back() = rewriter.getIndexAttr(numPairs);
    Type f32 = rewriter.getF32Type();
    Value cosPairs = emptyLike(rewriter, loc, pairSizes, f32);
    Value sinPairs = emptyLike(rewriter, loc, pairSizes, f32);
    AffineMap id = rewriter.getMultiDimIdentityMap(rank);
    AffineMap pairMap =
        AffineMap::get(rank, 0, rewriter.getAffineDimExpr(rank - 1));
    AffineMap keyMap = AffineMap::get(
        rank, 0, rewriter.getAffineDimExpr(perHead ? headDim : rank - 1));
    auto pairTables = linalg::GenericOp::create(
        rewriter, loc, TypeRange{cosPairs.getType(), sinPairs.getType()},
        ValueRange{op.getInvFreq(), axes}, ValueRange{cosPairs, sinPairs},
        ArrayRef<AffineMap>{pairMap, keyMap, id, id}, parallel(rank),
        [&](OpBuilder &nb, Location nloc, ValueRange args) {
          // The pair's position: its axis's (one load per token, the same
          // for all pairs of the token), 0 for NoPE.
          Value pos =
              arith::ConstantOp::create(nb, nloc, nb.getF32FloatAttr(0.0f));
          for (Axis axis : {Axis::T, Axis::H, Axis::W}) {
            if (!llvm::is_contained(keyAxes, static_cast<int32_t>(axis)))
              continue;
            SmallVector<Value> at = {arith::ConstantIndexOp::create(
                nb, nloc, static_cast<int64_t>(axis))};
            for (int64_t d = 0; d < rank - 1; ++d)
              if (d != headDim)
                at.push_back(linalg::IndexOp::create(nb, nloc, d));
            Value axisPos = tensor::ExtractOp::create(nb, nloc, positions, at);
            if (axisPos.getType() != f32)
              axisPos = arith::SIToFPOp::create(nb, nloc, f32, axisPos);
            Value onAxis = arith::CmpIOp::create(
                nb, nloc, arith::CmpIPredicate::eq, args[1],
                arith::ConstantIntOp::create(nb, nloc,
                                             static_cast<int64_t>(axis), 32));
            pos = arith::SelectOp::create(nb, nloc, onAxis, axisPos, pos);
          }
          auto [c, s] = buildRotaryCosSin(
              nb, nloc, pos, args[0], rotary.getAngles(),
              rotary.getAttentionScaling(), SinCosLowering::Torch);
          linalg::YieldOp::create(nb, nloc, ValueRange{c, s});
        });

    // Expand [.., P] to the Hugging Face [.., D] layout.
    SmallVector<AffineExpr> exprs;
    for (int64_t i = 0; i < rank - 1; ++i)
      exprs.push_back(rewriter.getAffineDimExpr(i));
    exprs.push_back(pairOf(rewriter.getAffineDimExpr(rank - 1),
                           rotary.getPairs(), numPairs));
    AffineMap tableMap = AffineMap::get(rank, 0, exprs, rewriter.getContext());
    Type elementType = resultType.getElementType();
    Value cosInit = emptyLike(rewriter, loc, sizes, elementType);
    Value sinInit = emptyLike(rewriter, loc, sizes, elementType);
    auto generic = linalg::GenericOp::create(
        rewriter, loc, TypeRange{cosInit.getType(), sinInit.getType()},
        pairTables.getResults(), ValueRange{cosInit, sinInit},
        ArrayRef<AffineMap>{tableMap, tableMap, id, id}, parallel(rank),
        [&](OpBuilder &nb, Location nloc, ValueRange args) {
          Value c = args[0], s = args[1];
          if (elementType != f32) {
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
std::string unsupportedReason(Operation *op, bool portableAttention) {
  if (isa<ApplyOp, CosSinOp, DecodePositionsOp, InvFreqOp, RotateOp,
          SequenceLengthOp, RopeIndexOp>(op))
    return {};
  if (auto attention = dyn_cast<AttentionOp>(op)) {
    if (portableAttention)
      return "needs static head counts, head dims, mask batch/head sizes and "
             "block_table shape in the portable form";
    return "has no lowering for dynamic shapes yet";
  }
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
  void getDependentDialects(DialectRegistry &registry) const override {
    Base::getDependentDialects(registry);
    registerBF16WordPairsDialects(registry);
  }
  void runOnOperation() override {
    MLIRContext *ctx = &getContext();
    // Fold what is known at compile time (positions, frequencies) first --
    // the greedy driver runs every op's folder -- and ops without result
    // elements away.
    RewritePatternSet folds(ctx);
    populateEmptyResultPatterns(folds);
    if (failed(applyPatternsGreedily(getOperation(), std::move(folds))))
      return signalPassFailure();

    if (tokenTile < 1) {
      getOperation()->emitError()
          << "convert-mrope-to-linalg: token-tile must be at least 1, got "
          << static_cast<int64_t>(tokenTile);
      return signalPassFailure();
    }
    RewritePatternSet patterns(ctx);
    RotaryLoweringOptions options;
    options.vectorRows = vectorRows;
    options.vectorBits = vectorBits;
    options.fastSinCos = fastSinCos;
    options.tokenTile = tokenTile;
    options.avx512BF16 = avx512BF16;
    options.attentionTiles = attentionTiles;
    options.parallelRows = parallelRows;
    options.portableAttention = portableAttention;
    populateMRopeToLinalgConversionPatterns(patterns, options);
    ConversionTarget target(*ctx);
    target.addLegalDialect<arith::ArithDialect, linalg::LinalgDialect,
                           math::MathDialect, scf::SCFDialect,
                           tensor::TensorDialect, vector::VectorDialect>();
    target.addIllegalOp<CosSinOp, DecodePositionsOp, InvFreqOp, RotateOp,
                        SequenceLengthOp>();
    // Applies selected for the GPU become kernels when bufferized.
    target.addDynamicallyLegalOp<ApplyOp>(
        [](ApplyOp op) { return op->hasAttr(kGPUKernelAttrName); });
    // Attention is lowered for static shapes (in the portable form: static
    // heads, head dims and mask broadcast sizes); others are reported below.
    const bool portable = portableAttention;
    target.addDynamicallyLegalOp<AttentionOp>([portable](AttentionOp op) {
      if (portable)
        return op->hasAttr(kGPUKernelAttrName) || !hasPortableForm(op);
      return op->hasAttr(kGPUKernelAttrName) ||
             llvm::any_of(op->getOperandTypes(), [](Type t) {
               auto shaped = dyn_cast<ShapedType>(t);
               return shaped && !shaped.hasStaticShape();
             });
    });
    target.addIllegalOp<RopeIndexOp>();
    target.markUnknownOpDynamicallyLegal([](Operation *) { return true; });
    if (failed(applyPartialConversion(getOperation(), target,
                                      std::move(patterns))))
      return signalPassFailure();

    WalkResult leftover = getOperation()->walk([portable](Operation *op) {
      if (!isa<MRopeDialect>(op->getDialect()) ||
          op->hasAttr(kGPUKernelAttrName))
        return WalkResult::advance();
      op->emitError() << "'" << op->getName() << "' "
                      << unsupportedReason(op, portable);
      return WalkResult::interrupt();
    });
    if (leftover.wasInterrupted())
      signalPassFailure();
  }
};

} // namespace

void mlir::mrope::populateMRopeToLinalgConversionPatterns(
    RewritePatternSet &patterns, const RotaryLoweringOptions &options) {
  patterns.add<ApplyOpLowering, CosSinOpLowering>(patterns.getContext(),
                                                  options);
  patterns.add<DecodePositionsOpLowering, InvFreqOpLowering, RotateOpLowering,
               SequenceLengthOpLowering>(patterns.getContext());
  populateRopeIndexLoweringPatterns(patterns, options.parallelRows);
  if (options.portableAttention) {
    populatePortableAttentionPatterns(patterns);
    return;
  }
  // Query rows per attention tile: one f32 vector of the target's width
  // (16 lanes unless a narrower one was asked for); 0: row by row.
  populateAttentionLoweringPatterns(
      patterns,
      options.attentionTiles
          ? (options.vectorBits >= 64
                 ? std::min<int64_t>(options.vectorBits / 32, 16)
                 : 16)
          : 0,
      options.avx512BF16);
}
