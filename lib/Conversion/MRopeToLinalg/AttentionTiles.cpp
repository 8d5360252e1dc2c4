//===- AttentionTiles.cpp - attention with query rows in vector lanes -----===//
//
// The prefill form of mrope.attention. A task takes a tile of query rows
// that read the same keys -- `heads` query heads of one GQA group times
// `tokens` consecutive tokens, at most one vector's lanes -- and keeps one row
// per lane. Over blocks of `lanes` keys j:
//
//   s_j   = sum_c qT[c] * k_j[c]       qT[c]: channel c of every row, scaled
//   m'    = max(m, max_j s_j)          (lanewise: no horizontal operation)
//   p_j   = exp(s_j - m')              c = exp(m - m')
//   l'    = l c + sum_j p_j
//   oT[c] = oT[c] c + sum_j p_j v_j[c]  for every channel c
//
// The block's scores are `lanes` vectors of independent FMAs whose second
// operand is one key channel broadcast (a load operand of the FMA), and the
// products with V the same: register-blocked matrix products without a
// transpose of K or V and without the per-key horizontal sums of the
// row-by-row form. Each K/V channel loaded serves every row of the tile.
// With AVX512-BF16 (bf16Dot), bf16 tiles of 4, 8 or 16 rows compute the
// scores as vdpbf16ps instead: qT holds channel pairs (2s, 2s + 1) of every
// row interleaved, each key's pair is one 32-bit broadcast from the bf16
// keys (not widened), and the scale multiplies the scores.
//
// A task takes a block of several tiles (consecutive tokens) and walks the
// keys in chunks small enough to stay in L2 (K and V of a chunk: 256 KiB),
// running every tile of the block over a chunk before the next: a long KV
// sequence is streamed from memory once per block, not once per tile. The
// task widens each chunk's 16-bit keys (unless bf16Dot) and values to f32
// once, into scratches of its own that every tile of the block reads:
// contiguous rows whatever the layout (thd/bshd rows of one KV head are
// Hkv * D apart; with 8 KV heads 4 KB, aliasing in L1), and a paged cache's
// rows gathered through its block_table on the way. Each
// tile's state -- qT (channels x rows, scaled, gathered once), oT (channels
// x rows, the running output), m and l -- lives in small scratch tensors; at
// the end each row is gathered back from oT, divided by its sum and written.
// Causal and varlen bounds are per lane ([begin, end) vectors); a tile's
// loop covers their union within the chunk and masks the rest. Full blocks
// read keys first + j directly; a partial block clamps to the chunk's last
// key. With causal masking, blocks are taken in zigzag order (first, last,
// second, ...) so that any run of consecutive tasks has about average work
// -- the threads' share of the loop stays balanced.
//
//===----------------------------------------------------------------------===//

#include "AttentionTiles.h"
#include "AttentionKeyRange.h"
#include "AttentionRowMath.h"
#include "Common/ActivationLayout.h"
#include "Common/RotaryMath.h"

#include "mrope/Dialect/MRope/IR/MRopeOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/Dialect/X86Vector/X86VectorDialect.h"

#include <limits>
#include <tuple>

using namespace mlir;
using namespace mlir::mrope;

namespace {

/// The query rows of one task: `heads` consecutive query heads of one GQA
/// group times `tokens` consecutive tokens, one per lane. Lanes follow the
/// output's order: heads outer when the layout puts heads before tokens
/// (bhsd), tokens outer otherwise, so the finished tile is one slice.
struct RowTile {
  int64_t heads, tokens;
  bool headsOuter;

  /// The most rows up to `lanes`: the largest divisor of the group up to
  /// `lanes` as heads, filled up with tokens.
  static RowTile choose(int64_t group, int64_t lanes, bool headsOuter) {
    int64_t heads = std::min(group, lanes);
    while (group % heads != 0)
      --heads;
    return {heads, lanes / heads, headsOuter};
  }
  int64_t rows() const { return heads * tokens; }
  int64_t head(int64_t lane) const {
    return headsOuter ? lane / tokens : lane % heads;
  }
  int64_t token(int64_t lane) const {
    return headsOuter ? lane % tokens : lane / heads;
  }
  /// The finished tile's shape: (heads, tokens) in layout order, channels.
  SmallVector<int64_t> shape(int64_t tokenCount, int64_t channels) const {
    if (headsOuter)
      return {heads, tokenCount, channels};
    return {tokenCount, heads, channels};
  }
};

SmallVector<int64_t> rowMajorStrides(ArrayRef<int64_t> shape) {
  SmallVector<int64_t> strides(shape.size(), 1);
  for (int64_t i = int64_t(shape.size()) - 2; i >= 0; --i)
    strides[i] = strides[i + 1] * shape[i + 1];
  return strides;
}

/// `value` as a 1-D tensor (row-major), for gathers by element offset.
Value flatten(OpBuilder &b, Location loc, Value value) {
  auto type = cast<RankedTensorType>(value.getType());
  ReassociationIndices all;
  for (int64_t i = 0; i < type.getRank(); ++i)
    all.push_back(i);
  return tensor::CollapseShapeOp::create(b, loc, value,
                                         ArrayRef<ReassociationIndices>{all});
}

/// A constant vector of element offsets, i32 (one gather instruction per
/// 16 lanes) unless an offset needs more.
Value offsetVector(OpBuilder &b, Location loc, ArrayRef<int64_t> offsets) {
  bool narrow = llvm::all_of(offsets, [](int64_t o) {
    return o >= 0 && o <= std::numeric_limits<int32_t>::max();
  });
  Type element = narrow ? b.getI32Type() : b.getI64Type();
  auto type = VectorType::get({int64_t(offsets.size())}, element);
  if (narrow) {
    SmallVector<int32_t> values(offsets.begin(), offsets.end());
    return arith::ConstantOp::create(
        b, loc, DenseElementsAttr::get(type, ArrayRef<int32_t>(values)));
  }
  return arith::ConstantOp::create(b, loc,
                                   DenseElementsAttr::get(type, offsets));
}

/// Combines `values` pairwise into one (a balanced tree: short dependency
/// chains).
template <typename CombineOp>
Value combineTree(OpBuilder &b, Location loc, SmallVector<Value> values) {
  while (values.size() > 1) {
    SmallVector<Value> next;
    for (size_t i = 0; i + 1 < values.size(); i += 2)
      next.push_back(CombineOp::create(b, loc, values[i], values[i + 1]));
    if (values.size() % 2 != 0)
      next.push_back(values.back());
    values = std::move(next);
  }
  return values.front();
}

/// Channels per iteration of the P V loop: independent FMA chains.
int64_t channelUnroll(int64_t headDim) {
  for (int64_t unroll : {4, 2})
    if (headDim % unroll == 0)
      return unroll;
  return 1;
}

} // namespace

namespace {

/// Bytes of f32 keys and values one chunk of keys may take (L2-resident).
constexpr int64_t kChunkBytes = 256 * 1024;

/// Query rows per task (a block of tiles), enough to reuse each chunk.
constexpr int64_t kBlockRows = 128;

/// The lanes of one tile: their tokens, which are rows of q, and the keys
/// [begin, end) each attends; keysBegin/keysEnd bound the rows' union.
struct LaneBounds {
  Value tokens, isRow, begin, end, keysBegin, keysEnd;
};

/// A chunk's widened key and value rows (null: read in place), from key
/// `first` of the key space on.
struct StagedRows {
  Value keys, values, first;
};

/// Emits the tiled attention of one op (see the file comment).
class LaneTiledAttention {
public:
  LaneTiledAttention(AttentionOp op, Value q, Value k, Value v, int64_t lanes,
                     bool bf16Dot)
      : op(op), q(q), k(k), v(v), d(ActivationLayout::get(op.getLayout())),
        bf16Dot(bf16Dot) {
    auto qType = cast<RankedTensorType>(q.getType());
    auto kType = cast<RankedTensorType>(k.getType());
    headDim = qType.getShape().back();
    group = qType.getDimSize(d.heads) / kType.getDimSize(d.heads);
    qSeq = qType.getDimSize(d.seq);
    kvSeq = op.getKeyRows();
    elementType = qType.getElementType();
    keyBlock = lanes;
    tile = RowTile::choose(group, lanes, d.heads < d.seq);
    rows = tile.rows();
    numTiles = llvm::divideCeil(qSeq, tile.tokens);
    tilesPerBlock = std::min(numTiles, std::max<int64_t>(1, kBlockRows / rows));
    numBlocks = llvm::divideCeil(numTiles, tilesPerBlock);
    chunkKeys = std::max<int64_t>(keyBlock, kChunkBytes / (8 * headDim) /
                                                keyBlock * keyBlock);
    qStrides = rowMajorStrides(qType.getShape());
    mask = op.getMask();
    causal = op.getCausal();
    scale = op.getEffectiveScale();
    if (mask) {
      auto maskShape = cast<RankedTensorType>(mask.getType()).getShape();
      maskStrides = rowMajorStrides(maskShape);
      // A broadcast dimension adds nothing to an offset.
      for (int i : {0, 1})
        if (maskShape[i] == 1)
          maskStrides[i] = 0;
    }
  }

  Value build(OpBuilder &b, Location loc);

private:
  // Types of one tile's per-lane vectors.
  VectorType laneF32(OpBuilder &b) const {
    return VectorType::get({rows}, b.getF32Type());
  }
  VectorType laneI32(OpBuilder &b) const {
    return VectorType::get({rows}, b.getI32Type());
  }
  Value i32Lanes(OpBuilder &b, Location l, int64_t value) const {
    return arith::ConstantOp::create(
        b, l, DenseElementsAttr::get(laneI32(b), int32_t(value)));
  }
  Value f32Lanes(OpBuilder &b, Location l, float value) const {
    return arith::ConstantOp::create(b, l,
                                     DenseElementsAttr::get(laneF32(b), value));
  }
  /// Indices of (batch, head, token, channel) in the layout.
  SmallVector<Value> at(Value zero, Value h, Value t, Value c) const {
    SmallVector<Value> idx(d.rank, zero);
    if (!d.packed())
      idx[d.batch] = batch;
    idx[d.heads] = h;
    idx[d.seq] = t;
    idx.back() = c;
    return idx;
  }
  /// The bounds of the tile at `firstToken`; with `ranges`, its [begin,
  /// end) vectors are read from there (slot `tileIdx`) instead of computed.
  LaneBounds laneBounds(OpBuilder &b, Location l, Value firstToken,
                        Value ranges = Value(), Value tileIdx = Value()) const;
  /// The element offset of `indices` in a row-major tensor of `strides`.
  Value linearOffset(OpBuilder &b, Location l, ArrayRef<int64_t> strides,
                     ArrayRef<Value> indices) const;
  Value gatherQT(OpBuilder &b, Location l, Value firstToken, Value isRow,
                 Value qT, Value tileIdx) const;
  /// Whether any row of the tile sees a key of the block at `first`.
  Value blockSeen(OpBuilder &b, Location l, Value first,
                  const LaneBounds &bounds) const;
  /// `staged`: the chunk's 16-bit key (unless q . k is vdpbf16ps) and
  /// value rows widened to f32 (see stageRows); null members read in place.
  SmallVector<Value> keyBlockStep(OpBuilder &b, Location l, Value first,
                                  Value lastKey, const LaneBounds &bounds,
                                  Value firstToken, Value tileIdx, Value qT,
                                  ValueRange state,
                                  const StagedRows &staged) const;
  /// Rows of keys [first, end) of the block's key space -- of `tensor` (k
  /// or v; a paged cache's through its pages) -- widened into `scratch`
  /// [chunkKeys, D] f32: once per chunk for every tile of the block,
  /// contiguous, instead of by every tile as it reads them.
  Value stageRows(OpBuilder &b, Location l, Value tensor, Value first,
                  Value end, Value scratch) const;
  Value writeRows(OpBuilder &b, Location l, Value tileIdx, Value sum, Value oT,
                  Value result) const;

  AttentionOp op;
  Value q, k, v, mask;
  ActivationLayout d;
  int64_t headDim, group, qSeq, kvSeq, keyBlock, rows, numTiles, tilesPerBlock,
      numBlocks, chunkKeys;
  Type elementType;
  // q . k as AVX512-BF16 dot products of bf16 channel pairs (k stays bf16).
  bool bf16Dot;
  bool causal;
  double scale;
  RowTile tile;
  SmallVector<int64_t> qStrides, maskStrides;
  // Set per task (inside the forall).
  Value batch, kvHead, firstHead, qFlat, maskFlat;
};

LaneBounds LaneTiledAttention::laneBounds(OpBuilder &b, Location l,
                                          Value firstToken, Value ranges,
                                          Value tileIdx) const {
  SmallVector<int64_t> laneTokens;
  for (int64_t r = 0; r < rows; ++r)
    laneTokens.push_back(tile.token(r));
  LaneBounds bounds;
  bounds.tokens = arith::AddIOp::create(
      b, l,
      vector::BroadcastOp::create(
          b, l, laneI32(b),
          arith::IndexCastOp::create(b, l, b.getI32Type(), firstToken)),
      offsetVector(b, l, laneTokens));
  bounds.isRow = arith::CmpIOp::create(b, l, arith::CmpIPredicate::slt,
                                       bounds.tokens, i32Lanes(b, l, qSeq));
  if (ranges) {
    // Computed once per tile (the varlen search is a loop over sequences).
    auto read = [&](int64_t which) -> Value {
      return vector::TransferReadOp::create(
          b, l, laneI32(b), ranges,
          ValueRange{tileIdx, arith::ConstantIndexOp::create(b, l, which),
                     arith::ConstantIndexOp::create(b, l, 0)},
          arith::ConstantOp::create(b, l, b.getI32IntegerAttr(0)),
          ArrayRef<bool>{true});
    };
    bounds.begin = read(0);
    bounds.end = read(1);
  } else {
    std::tie(bounds.begin, bounds.end) =
        buildAttentionKeyRange(b, l, op, bounds.tokens);
  }
  // The rows' union; lanes that are not rows of q do not widen it.
  auto reduce = [&](vector::CombiningKind kind, Value x,
                    int64_t neutral) -> Value {
    Value masked =
        arith::SelectOp::create(b, l, bounds.isRow, x, i32Lanes(b, l, neutral));
    return arith::IndexCastOp::create(
        b, l, b.getIndexType(),
        vector::ReductionOp::create(b, l, kind, masked));
  };
  bounds.keysBegin = reduce(vector::CombiningKind::MINSI, bounds.begin,
                            std::numeric_limits<int32_t>::max());
  // A tile with no row of q (past the last token) has no keys: [max, 0),
  // which widens no block's union -- [max, max) would stretch the block's
  // chunk loop to 2^31.
  bounds.keysEnd = arith::SelectOp::create(
      b, l,
      vector::ReductionOp::create(b, l, vector::CombiningKind::OR,
                                  bounds.isRow),
      arith::MaxSIOp::create(
          b, l, reduce(vector::CombiningKind::MAXSI, bounds.end, 0),
          bounds.keysBegin),
      arith::ConstantIndexOp::create(b, l, 0));
  return bounds;
}

Value LaneTiledAttention::linearOffset(OpBuilder &b, Location l,
                                       ArrayRef<int64_t> strides,
                                       ArrayRef<Value> indices) const {
  Value offset = arith::ConstantIndexOp::create(b, l, 0);
  for (auto [stride, i] : llvm::zip_equal(strides, indices))
    if (stride != 0)
      offset = arith::AddIOp::create(
          b, l, offset,
          arith::MulIOp::create(b, l, i,
                                arith::ConstantIndexOp::create(b, l, stride)));
  return offset;
}

Value LaneTiledAttention::gatherQT(OpBuilder &b, Location l, Value firstToken,
                                   Value isRow, Value qT, Value tileIdx) const {
  Type f32 = b.getF32Type();
  SmallVector<int64_t> laneOffsets;
  for (int64_t r = 0; r < rows; ++r)
    laneOffsets.push_back(tile.head(r) * qStrides[d.heads] +
                          tile.token(r) * qStrides[d.seq]);
  Value zero = arith::ConstantIndexOp::create(b, l, 0);
  Value base =
      linearOffset(b, l, qStrides, at(zero, firstHead, firstToken, zero));
  Value lanesOffsets = offsetVector(b, l, laneOffsets);
  auto elementLanes = VectorType::get({rows}, elementType);
  Value pad = arith::ConstantOp::create(
      b, l, DenseElementsAttr::get(elementLanes, b.getZeroAttr(elementType)));
  // qT's slot s: channel s of every row, in f32 and scaled; with bf16Dot the
  // channel pair (2s, 2s + 1) of every row interleaved -- the `a` operand
  // of vdpbf16ps -- unscaled (the scale multiplies the scores).
  Value scaleLanes = bf16Dot ? Value() : f32Lanes(b, l, float(scale));
  auto loop = scf::ForOp::create(
      b, l, zero,
      arith::ConstantIndexOp::create(b, l, bf16Dot ? headDim / 2 : headDim),
      arith::ConstantIndexOp::create(b, l, 1), ValueRange{qT},
      [&](OpBuilder &lb, Location ll, Value slot, ValueRange iter) {
        auto column = [&](Value c) -> Value {
          return vector::GatherOp::create(
              lb, ll, elementLanes, qFlat,
              ValueRange{arith::AddIOp::create(lb, ll, base, c)}, lanesOffsets,
              isRow, pad);
        };
        Value lanes;
        if (bf16Dot) {
          Value c0 = arith::MulIOp::create(
              lb, ll, slot, arith::ConstantIndexOp::create(lb, ll, 2));
          Value c1 = arith::AddIOp::create(
              lb, ll, c0, arith::ConstantIndexOp::create(lb, ll, 1));
          lanes = vector::InterleaveOp::create(lb, ll, column(c0), column(c1));
        } else {
          lanes = column(slot);
          if (elementType != f32)
            lanes = arith::ExtFOp::create(lb, ll, laneF32(lb), lanes);
          lanes = arith::MulFOp::create(lb, ll, lanes, scaleLanes);
        }
        scf::YieldOp::create(
            lb, ll,
            vector::TransferWriteOp::create(
                lb, ll, lanes, iter[0],
                ValueRange{tileIdx, slot,
                           arith::ConstantIndexOp::create(lb, ll, 0)},
                ArrayRef<bool>{true})
                .getResult());
      });
  return loop.getResult(0);
}

Value LaneTiledAttention::blockSeen(OpBuilder &b, Location l, Value first,
                                    const LaneBounds &bounds) const {
  // Some row's [begin, end) meets [first, first + keyBlock).
  auto lanesAt = [&](int64_t offset) -> Value {
    Value at = arith::AddIOp::create(
        b, l, first, arith::ConstantIndexOp::create(b, l, offset));
    return vector::BroadcastOp::create(
        b, l, laneI32(b), arith::IndexCastOp::create(b, l, b.getI32Type(), at));
  };
  Value meets = arith::AndIOp::create(
      b, l,
      arith::CmpIOp::create(b, l, arith::CmpIPredicate::slt, bounds.begin,
                            lanesAt(keyBlock)),
      arith::CmpIOp::create(b, l, arith::CmpIPredicate::sgt, bounds.end,
                            lanesAt(0)));
  meets = arith::AndIOp::create(b, l, meets, bounds.isRow);
  return vector::ReductionOp::create(b, l, vector::CombiningKind::OR, meets);
}

Value LaneTiledAttention::stageRows(OpBuilder &b, Location l, Value tensor,
                                    Value first, Value end,
                                    Value scratch) const {
  auto type = cast<RankedTensorType>(tensor.getType());
  auto rowType = VectorType::get({headDim}, type.getElementType());
  auto c = [&](OpBuilder &cb, Location cl, int64_t value) -> Value {
    return arith::ConstantIndexOp::create(cb, cl, value);
  };
  auto copy = scf::ForOp::create(
      b, l, c(b, l, 0), arith::SubIOp::create(b, l, end, first), c(b, l, 1),
      ValueRange{scratch},
      [&](OpBuilder &cb, Location cl, Value i, ValueRange iter) {
        Value key = arith::AddIOp::create(cb, cl, first, i);
        Value row = vector::TransferReadOp::create(
            cb, cl, rowType, tensor,
            at(c(cb, cl, 0), kvHead, buildKeyRow(cb, cl, op, key),
               c(cb, cl, 0)),
            arith::ConstantOp::create(cb, cl,
                                      cb.getZeroAttr(type.getElementType())),
            ArrayRef<bool>{true});
        Value wide = arith::ExtFOp::create(
            cb, cl, VectorType::get({headDim}, cb.getF32Type()), row);
        scf::YieldOp::create(
            cb, cl,
            vector::TransferWriteOp::create(cb, cl, wide, iter[0],
                                            ValueRange{i, c(cb, cl, 0)},
                                            ArrayRef<bool>{true})
                .getResult());
      });
  return copy.getResult(0);
}

SmallVector<Value> LaneTiledAttention::keyBlockStep(
    OpBuilder &b, Location l, Value first, Value lastKey,
    const LaneBounds &bounds, Value firstToken, Value tileIdx, Value qT,
    ValueRange state, const StagedRows &staged) const {
  Value m = state[0], sum = state[1], oT = state[2];
  Type i32 = b.getI32Type();
  VectorType lanesF32 = laneF32(b);
  auto index = [&](int64_t value) -> Value {
    return arith::ConstantIndexOp::create(b, l, value);
  };
  Value zero = index(0);
  // keys: the block's rows of the key space (they index the mask); kvRows:
  // the rows of k and v that hold them (a paged cache's pages), for the
  // reads that are not staged.
  SmallVector<Value> keys, kvRows, valid;
  const bool readsInPlace = !staged.keys || !staged.values;
  for (int64_t j = 0; j < keyBlock; ++j) {
    Value key = arith::AddIOp::create(b, l, first, index(j));
    Value keyLanes = vector::BroadcastOp::create(
        b, l, laneI32(b), arith::IndexCastOp::create(b, l, i32, key));
    Value inRange =
        buildInHalfOpenRange(b, l, keyLanes, bounds.begin, bounds.end);
    if (lastKey) {
      // A partial block: slots past the last key of the chunk (which may
      // be inside the rows' ranges) read that key's row again and get
      // score -inf.
      Value beforeEnd =
          arith::CmpIOp::create(b, l, arith::CmpIPredicate::sle, key, lastKey);
      inRange = arith::AndIOp::create(
          b, l, inRange,
          vector::BroadcastOp::create(
              b, l, VectorType::get({rows}, b.getI1Type()), beforeEnd));
      key = arith::MinSIOp::create(b, l, key, lastKey);
    }
    valid.push_back(inRange);
    keys.push_back(key);
    if (readsInPlace)
      kvRows.push_back(buildKeyRow(b, l, op, key));
  }
  auto channel = [&](OpBuilder &cb, Location cl, Value tensor, Value key,
                     Value c) -> Value {
    Value x = tensor::ExtractOp::create(
        cb, cl, tensor,
        at(arith::ConstantIndexOp::create(cb, cl, 0), kvHead, key, c));
    return vector::BroadcastOp::create(cb, cl, laneF32(cb), x);
  };
  // Channel c of the block's key j, of k (`values` false) or v: staged,
  // or read in place.
  auto rowChannel = [&](OpBuilder &cb, Location cl, bool values, int64_t j,
                        Value c) -> Value {
    Value rows = values ? staged.values : staged.keys;
    if (!rows)
      return channel(cb, cl, values ? v : k, kvRows[j], c);
    Value x = tensor::ExtractOp::create(
        cb, cl, rows,
        ValueRange{arith::SubIOp::create(cb, cl, keys[j], staged.first), c});
    return vector::BroadcastOp::create(cb, cl, laneF32(cb), x);
  };
  auto lanesAt = [&](OpBuilder &cb, Location cl, Value tensor, Value c) {
    return vector::TransferReadOp::create(
        cb, cl, laneF32(cb), tensor,
        ValueRange{tileIdx, c, arith::ConstantIndexOp::create(cb, cl, 0)},
        arith::ConstantOp::create(cb, cl, cb.getF32FloatAttr(0)),
        ArrayRef<bool>{true});
  };

  // Scores: per key a vector of the rows' dot products.
  SmallVector<Value> zeros(keyBlock, f32Lanes(b, l, 0));
  scf::ForOp scoreLoop;
  if (bf16Dot) {
    // Per channel pair p, key j: vdpbf16ps of the rows' pairs with the
    // key's pair (one 32-bit broadcast), accumulating in f32.
    auto bf16 = b.getBF16Type();
    auto pairLanes = VectorType::get({2 * rows}, bf16);
    scoreLoop = scf::ForOp::create(
        b, l, zero, index(headDim / 2), index(1), zeros,
        [&](OpBuilder &cb, Location cl, Value p, ValueRange acc) {
          Value c0 = arith::ConstantIndexOp::create(cb, cl, 0);
          Value bf16Zero =
              arith::ConstantOp::create(cb, cl, cb.getZeroAttr(bf16));
          Value qc = vector::TransferReadOp::create(
              cb, cl, pairLanes, qT, ValueRange{tileIdx, p, c0}, bf16Zero,
              ArrayRef<bool>{true});
          Value channel0 = arith::MulIOp::create(
              cb, cl, p, arith::ConstantIndexOp::create(cb, cl, 2));
          SmallVector<Value> next;
          for (int64_t j = 0; j < keyBlock; ++j) {
            Value pair = vector::TransferReadOp::create(
                cb, cl, VectorType::get({2}, bf16), k,
                at(c0, kvHead, kvRows[j], channel0), bf16Zero,
                ArrayRef<bool>{true});
            Value word = vector::BitCastOp::create(
                cb, cl, VectorType::get({1}, cb.getI32Type()), pair);
            Value words =
                vector::BroadcastOp::create(cb, cl, laneI32(cb), word);
            next.push_back(x86vector::DotBF16Op::create(
                cb, cl, acc[j], qc,
                vector::BitCastOp::create(cb, cl, pairLanes, words)));
          }
          scf::YieldOp::create(cb, cl, next);
        });
  } else {
    scoreLoop = scf::ForOp::create(
        b, l, zero, index(headDim), index(1), zeros,
        [&](OpBuilder &cb, Location cl, Value c, ValueRange acc) {
          Value qc = lanesAt(cb, cl, qT, c);
          SmallVector<Value> next;
          for (int64_t j = 0; j < keyBlock; ++j)
            next.push_back(vector::FMAOp::create(
                cb, cl, qc, rowChannel(cb, cl, false, j, c), acc[j]));
          scf::YieldOp::create(cb, cl, next);
        });
  }
  Value minusInf = f32Lanes(b, l, -std::numeric_limits<float>::infinity());
  Value scaleLanes = bf16Dot ? f32Lanes(b, l, float(scale)) : Value();
  // The mask's lanes: each row's (head, token) offset, the same every key.
  Value maskLaneOffsets, maskPad;
  VectorType maskLanes;
  if (mask) {
    SmallVector<int64_t> laneOffsets;
    for (int64_t r = 0; r < rows; ++r)
      laneOffsets.push_back(tile.head(r) * maskStrides[1] +
                            tile.token(r) * maskStrides[2]);
    maskLaneOffsets = offsetVector(b, l, laneOffsets);
    Type maskElement = cast<RankedTensorType>(mask.getType()).getElementType();
    maskLanes = VectorType::get({rows}, maskElement);
    maskPad = arith::ConstantOp::create(
        b, l, DenseElementsAttr::get(maskLanes, b.getZeroAttr(maskElement)));
  }
  SmallVector<Value> scores;
  for (int64_t j = 0; j < keyBlock; ++j) {
    Value s = scoreLoop.getResult(j);
    if (bf16Dot)
      s = arith::MulFOp::create(b, l, s, scaleLanes);
    if (mask) {
      Value base = linearOffset(b, l, maskStrides,
                                {batch, firstHead, firstToken, keys[j]});
      Value added =
          vector::GatherOp::create(b, l, maskLanes, maskFlat, ValueRange{base},
                                   maskLaneOffsets, bounds.isRow, maskPad);
      if (maskLanes.getElementType() != b.getF32Type())
        added = arith::ExtFOp::create(b, l, lanesF32, added);
      s = arith::AddFOp::create(b, l, s, added);
    }
    scores.push_back(arith::SelectOp::create(b, l, valid[j], s, minusInf));
  }

  // Online softmax, lanewise. m starts at the lowest finite value, so -inf
  // scores give weight 0, never inf - inf.
  Value mNew = arith::MaximumFOp::create(
      b, l, m, combineTree<arith::MaximumFOp>(b, l, scores));
  Value corr =
      buildExpOfNonPositive(b, l, arith::SubFOp::create(b, l, m, mNew));
  SmallVector<Value> weights;
  for (Value s : scores)
    weights.push_back(
        buildExpOfNonPositive(b, l, arith::SubFOp::create(b, l, s, mNew)));
  Value sumNew =
      arith::AddFOp::create(b, l, arith::MulFOp::create(b, l, sum, corr),
                            combineTree<arith::AddFOp>(b, l, weights));

  // oT[c] = oT[c] * corr + sum_j p_j v_j[c], `unroll` channels per
  // iteration, each as two FMA chains (even and odd keys) joined at the
  // end: half the latency of one chain, 2-3% faster at S = 2048.
  const int64_t unroll = channelUnroll(headDim);
  auto valueLoop = scf::ForOp::create(
      b, l, zero, index(headDim), index(unroll), ValueRange{oT},
      [&](OpBuilder &cb, Location cl, Value c0, ValueRange acc) {
        Value o = acc[0];
        for (int64_t i = 0; i < unroll; ++i) {
          Value c = arith::AddIOp::create(
              cb, cl, c0, arith::ConstantIndexOp::create(cb, cl, i));
          Value even =
              arith::MulFOp::create(cb, cl, lanesAt(cb, cl, o, c), corr);
          Value odd = arith::MulFOp::create(cb, cl, weights[1],
                                            rowChannel(cb, cl, true, 1, c));
          for (int64_t j = 0; j < keyBlock; ++j) {
            if (j == 1)
              continue;
            Value &chain = j % 2 ? odd : even;
            chain = vector::FMAOp::create(
                cb, cl, weights[j], rowChannel(cb, cl, true, j, c), chain);
          }
          o = vector::TransferWriteOp::create(
                  cb, cl, arith::AddFOp::create(cb, cl, even, odd), o,
                  ValueRange{tileIdx, c,
                             arith::ConstantIndexOp::create(cb, cl, 0)},
                  ArrayRef<bool>{true})
                  .getResult();
        }
        scf::YieldOp::create(cb, cl, o);
      });
  return {mNew, sumNew, valueLoop.getResult(0)};
}

Value LaneTiledAttention::writeRows(OpBuilder &b, Location l, Value tileIdx,
                                    Value sum, Value oT, Value result) const {
  Type f32 = b.getF32Type();
  auto index = [&](int64_t value) -> Value {
    return arith::ConstantIndexOp::create(b, l, value);
  };
  // oT of this tile as one row-major [channels x rows] run.
  auto attr = [&](int64_t value) -> OpFoldResult {
    return b.getIndexAttr(value);
  };
  Value tileOT = tensor::ExtractSliceOp::create(
      b, l, RankedTensorType::get({headDim, rows}, f32), oT,
      ArrayRef<OpFoldResult>{tileIdx, attr(0), attr(0)},
      ArrayRef<OpFoldResult>{attr(1), attr(headDim), attr(rows)},
      ArrayRef<OpFoldResult>{attr(1), attr(1), attr(1)});
  Value flat = flatten(b, l, tileOT);
  SmallVector<int64_t> channelOffsets;
  for (int64_t c = 0; c < headDim; ++c)
    channelOffsets.push_back(c * rows);
  Value channelLanes = offsetVector(b, l, channelOffsets);
  auto rowF32 = VectorType::get({headDim}, f32);
  Value allChannels = arith::ConstantOp::create(
      b, l,
      DenseElementsAttr::get(VectorType::get({headDim}, b.getI1Type()), true));
  Value zeroRow =
      arith::ConstantOp::create(b, l, DenseElementsAttr::get(rowF32, 0.f));
  Value firstTokenInBlock =
      arith::MulIOp::create(b, l, tileIdx, index(tile.tokens));
  for (int64_t r = 0; r < rows; ++r) {
    Value row = buildNormalizedRow(
        b, l,
        vector::GatherOp::create(b, l, rowF32, flat, ValueRange{index(r)},
                                 channelLanes, allChannels, zeroRow),
        vector::ExtractOp::create(b, l, sum, r), elementType);
    Value token =
        arith::AddIOp::create(b, l, firstTokenInBlock, index(tile.token(r)));
    Value head = index(tile.head(r));
    SmallVector<Value> place = tile.headsOuter
                                   ? SmallVector<Value>{head, token, index(0)}
                                   : SmallVector<Value>{token, head, index(0)};
    result = vector::TransferWriteOp::create(b, l, row, result, place,
                                             ArrayRef<bool>{true})
                 .getResult();
  }
  return result;
}

Value LaneTiledAttention::build(OpBuilder &rewriter, Location loc) {
  Type f32 = rewriter.getF32Type();
  auto qType = cast<RankedTensorType>(q.getType());
  qFlat = flatten(rewriter, loc, q);
  if (mask)
    maskFlat = flatten(rewriter, loc, mask);
  Value init =
      tensor::EmptyOp::create(rewriter, loc, qType.getShape(), elementType);
  SmallVector<OpFoldResult> sizes;
  if (!d.packed())
    sizes.push_back(rewriter.getIndexAttr(qType.getDimSize(d.batch)));
  sizes.push_back(rewriter.getIndexAttr(qType.getDimSize(d.heads) / group));
  sizes.push_back(rewriter.getIndexAttr(group / tile.heads));
  sizes.push_back(rewriter.getIndexAttr(numBlocks));

  auto forall = scf::ForallOp::create(
      rewriter, loc, sizes, ValueRange{init}, /*mapping=*/std::nullopt,
      [&](OpBuilder &b, Location l, ValueRange args) {
        batch = d.packed() ? Value() : args[0];
        ValueRange ids = args.drop_front(d.packed() ? 0 : 1);
        kvHead = ids[0];
        Value headTile = ids[1], blockId = ids[2];
        Value out = args.back();
        auto index = [&](int64_t value) -> Value {
          return arith::ConstantIndexOp::create(b, l, value);
        };
        Value zero = index(0), one = index(1);
        firstHead = arith::AddIOp::create(
            b, l, arith::MulIOp::create(b, l, kvHead, index(group)),
            arith::MulIOp::create(b, l, headTile, index(tile.heads)));
        // Causal: zigzag (block 0, last, 1, last - 1, ...).
        Value block = blockId;
        if (causal && numBlocks > 2) {
          Value half = arith::DivUIOp::create(b, l, blockId, index(2));
          Value odd = arith::CmpIOp::create(
              b, l, arith::CmpIPredicate::ne,
              arith::RemUIOp::create(b, l, blockId, index(2)), zero);
          block = arith::SelectOp::create(
              b, l, odd,
              arith::SubIOp::create(b, l, index(numBlocks - 1), half), half);
        }
        Value firstTile =
            arith::MulIOp::create(b, l, block, index(tilesPerBlock));
        auto tileFirstToken = [&](OpBuilder &tb, Location tl, Value t) {
          return arith::MulIOp::create(
              tb, tl, arith::AddIOp::create(tb, tl, firstTile, t),
              arith::ConstantIndexOp::create(tb, tl, tile.tokens));
        };

        // Per tile, once: qT, the lanes' [begin, end) ([tiles, 2, rows]),
        // and the block's union of keys.
        auto stateType = [&](ArrayRef<int64_t> shape) {
          return RankedTensorType::get(shape, f32);
        };
        auto prepare = scf::ForOp::create(
            b, l, zero, index(tilesPerBlock), one,
            ValueRange{
                bf16Dot
                    ? tensor::EmptyOp::create(b, l,
                                              ArrayRef<int64_t>{tilesPerBlock,
                                                                headDim / 2,
                                                                2 * rows},
                                              b.getBF16Type())
                    : tensor::EmptyOp::create(
                          b, l, ArrayRef<int64_t>{tilesPerBlock, headDim, rows},
                          f32),
                tensor::EmptyOp::create(
                    b, l, ArrayRef<int64_t>{tilesPerBlock, 2, rows},
                    b.getI32Type()),
                index(std::numeric_limits<int32_t>::max()), zero},
            [&](OpBuilder &tb, Location tl, Value t, ValueRange iter) {
              Value firstToken = tileFirstToken(tb, tl, t);
              LaneBounds bounds = laneBounds(tb, tl, firstToken);
              Value qT = gatherQT(tb, tl, firstToken, bounds.isRow, iter[0], t);
              Value ranges = iter[1];
              // A named array: a braced list in the range-for initializer
              // would die before the loop body runs.
              Value laneRanges[] = {bounds.begin, bounds.end};
              for (auto [which, lanes] : llvm::enumerate(laneRanges))
                ranges =
                    vector::TransferWriteOp::create(
                        tb, tl, lanes, ranges,
                        ValueRange{
                            t, arith::ConstantIndexOp::create(tb, tl, which),
                            arith::ConstantIndexOp::create(tb, tl, 0)},
                        ArrayRef<bool>{true})
                        .getResult();
              scf::YieldOp::create(
                  tb, tl,
                  ValueRange{
                      qT, ranges,
                      arith::MinSIOp::create(tb, tl, iter[2], bounds.keysBegin),
                      arith::MaxSIOp::create(tb, tl, iter[3], bounds.keysEnd)});
            });
        Value qT = prepare.getResult(0);
        Value ranges = prepare.getResult(1);
        Value blockKeysBegin = prepare.getResult(2);
        Value blockKeysEnd =
            arith::MaxSIOp::create(b, l, prepare.getResult(3), blockKeysBegin);

        // The running state of every tile: m, l ([tiles, rows]) and oT
        // ([tiles, channels, rows]).
        auto filled = [&](ArrayRef<int64_t> shape, float value) -> Value {
          return arith::ConstantOp::create(
              b, l, DenseElementsAttr::get(stateType(shape), value));
        };
        Value initState[] = {filled({tilesPerBlock, 1, rows},
                                    std::numeric_limits<float>::lowest()),
                             filled({tilesPerBlock, 1, rows}, 0),
                             filled({tilesPerBlock, headDim, rows}, 0)};

        // Chunks of keys, each run by every tile of the block. 16-bit keys
        // (unless q . k is vdpbf16ps) and values are widened once per chunk
        // into scratches of the task's own (carried across chunks) that
        // every tile of the block reads.
        SmallVector<Value> chunkInit(std::begin(initState),
                                     std::end(initState));
        auto isWide = [](Value x) {
          return cast<RankedTensorType>(x.getType()).getElementType().isF32();
        };
        const bool stageKeys = !bf16Dot && !isWide(k), stageV = !isWide(v);
        for (bool stage : {stageKeys, stageV})
          if (stage)
            chunkInit.push_back(bufferization::AllocTensorOp::create(
                b, l, RankedTensorType::get({chunkKeys, headDim}, f32),
                ValueRange{}));
        auto chunks = scf::ForOp::create(
            b, l, blockKeysBegin, blockKeysEnd, index(chunkKeys), chunkInit,
            [&](OpBuilder &cb, Location cl, Value chunk, ValueRange chunkIter) {
              Value chunkEnd = arith::MinSIOp::create(
                  cb, cl,
                  arith::AddIOp::create(
                      cb, cl, chunk,
                      arith::ConstantIndexOp::create(cb, cl, chunkKeys)),
                  blockKeysEnd);
              StagedRows staged{Value(), Value(), chunk};
              unsigned scratch = 3;
              if (stageKeys)
                staged.keys =
                    stageRows(cb, cl, k, chunk, chunkEnd, chunkIter[scratch++]);
              if (stageV)
                staged.values =
                    stageRows(cb, cl, v, chunk, chunkEnd, chunkIter[scratch++]);
              auto tiles = scf::ForOp::create(
                  cb, cl, arith::ConstantIndexOp::create(cb, cl, 0),
                  arith::ConstantIndexOp::create(cb, cl, tilesPerBlock),
                  arith::ConstantIndexOp::create(cb, cl, 1),
                  chunkIter.take_front(3),
                  [&](OpBuilder &tb, Location tl, Value t, ValueRange iter) {
                    Value firstToken = tileFirstToken(tb, tl, t);
                    LaneBounds bounds =
                        laneBounds(tb, tl, firstToken, ranges, t);
                    Value lo =
                        arith::MaxSIOp::create(tb, tl, bounds.keysBegin, chunk);
                    Value hi = arith::MaxSIOp::create(
                        tb, tl,
                        arith::MinSIOp::create(tb, tl, bounds.keysEnd,
                                               chunkEnd),
                        lo);
                    auto tIndex = [&](int64_t value) -> Value {
                      return arith::ConstantIndexOp::create(tb, tl, value);
                    };
                    auto readLanes = [&](Value tensor) -> Value {
                      return vector::TransferReadOp::create(
                          tb, tl, laneF32(tb), tensor,
                          ValueRange{t, tIndex(0), tIndex(0)},
                          arith::ConstantOp::create(tb, tl,
                                                    tb.getF32FloatAttr(0)),
                          ArrayRef<bool>{true});
                    };
                    SmallVector<Value> state = {readLanes(iter[0]),
                                                readLanes(iter[1]), iter[2]};
                    // Full blocks, then at most one partial block.
                    Value span = arith::SubIOp::create(tb, tl, hi, lo);
                    Value fullEnd = arith::AddIOp::create(
                        tb, tl, lo,
                        arith::MulIOp::create(
                            tb, tl,
                            arith::DivUIOp::create(tb, tl, span,
                                                   tIndex(keyBlock)),
                            tIndex(keyBlock)));
                    Value lastKey =
                        arith::SubIOp::create(tb, tl, hi, tIndex(1));
                    for (bool partial : {false, true}) {
                      auto loop = scf::ForOp::create(
                          tb, tl, partial ? fullEnd : lo,
                          partial ? hi : fullEnd, tIndex(keyBlock), state,
                          [&](OpBuilder &lb, Location ll, Value first,
                              ValueRange blockIter) {
                            auto step = [&](OpBuilder &sb, Location sl) {
                              scf::YieldOp::create(
                                  sb, sl,
                                  keyBlockStep(sb, sl, first,
                                               partial ? lastKey : Value(),
                                               bounds, firstToken, t, qT,
                                               blockIter, staged));
                            };
                            if (!op.getBlockTable())
                              return step(lb, ll);
                            // A paged cache's sequences own key slots far
                            // apart: a tile whose rows span two sequences
                            // skips the blocks between their keys.
                            auto skip = scf::IfOp::create(
                                lb, ll, blockSeen(lb, ll, first, bounds), step,
                                [&](OpBuilder &sb, Location sl) {
                                  scf::YieldOp::create(sb, sl, blockIter);
                                });
                            scf::YieldOp::create(lb, ll, skip.getResults());
                          });
                      state.assign(loop.getResults().begin(),
                                   loop.getResults().end());
                    }
                    auto writeLanes = [&](Value lanes, Value tensor) -> Value {
                      return vector::TransferWriteOp::create(
                                 tb, tl, lanes, tensor,
                                 ValueRange{t, tIndex(0), tIndex(0)},
                                 ArrayRef<bool>{true})
                          .getResult();
                    };
                    scf::YieldOp::create(
                        tb, tl,
                        ValueRange{writeLanes(state[0], iter[0]),
                                   writeLanes(state[1], iter[1]), state[2]});
                  });
              SmallVector<Value> next(tiles.getResults());
              for (Value rows : {staged.keys, staged.values})
                if (rows)
                  next.push_back(rows);
              scf::YieldOp::create(cb, cl, next);
            });

        // Every tile's rows into the block's result, then the rows of q
        // (the last block may hold fewer) into the output.
        const int64_t blockTokens = tilesPerBlock * tile.tokens;
        Value sums = chunks.getResult(1), oT = chunks.getResult(2);
        auto rowsLoop = scf::ForOp::create(
            b, l, zero, index(tilesPerBlock), one,
            ValueRange{tensor::EmptyOp::create(
                b, l, tile.shape(blockTokens, headDim), elementType)},
            [&](OpBuilder &tb, Location tl, Value t, ValueRange iter) {
              Value sum = vector::TransferReadOp::create(
                  tb, tl, laneF32(tb), sums,
                  ValueRange{t, arith::ConstantIndexOp::create(tb, tl, 0),
                             arith::ConstantIndexOp::create(tb, tl, 0)},
                  arith::ConstantOp::create(tb, tl, tb.getF32FloatAttr(0)),
                  ArrayRef<bool>{true});
              scf::YieldOp::create(tb, tl,
                                   writeRows(tb, tl, t, sum, oT, iter[0]));
            });
        Value firstToken =
            arith::MulIOp::create(b, l, firstTile, index(tile.tokens));
        Value tokenCount = arith::MinSIOp::create(
            b, l, index(blockTokens),
            arith::SubIOp::create(b, l, index(qSeq), firstToken));
        auto unit = b.getIndexAttr(1);
        SmallVector<OpFoldResult> sliceSizes =
            tile.headsOuter
                ? SmallVector<OpFoldResult>{b.getIndexAttr(tile.heads),
                                            tokenCount, b.getIndexAttr(headDim)}
                : SmallVector<OpFoldResult>{tokenCount,
                                            b.getIndexAttr(tile.heads),
                                            b.getIndexAttr(headDim)};
        Value rowsOfQ = tensor::ExtractSliceOp::create(
            b, l, rowsLoop.getResult(0),
            SmallVector<OpFoldResult>(3, b.getIndexAttr(0)), sliceSizes,
            SmallVector<OpFoldResult>(3, unit));
        SmallVector<OpFoldResult> offsets, outSizes(d.rank, unit);
        for (Value idx : at(zero, firstHead, firstToken, zero))
          offsets.push_back(idx);
        outSizes[d.heads] = b.getIndexAttr(tile.heads);
        outSizes[d.seq] = tokenCount;
        outSizes.back() = b.getIndexAttr(headDim);
        auto inParallel = scf::InParallelOp::create(b, l);
        OpBuilder::InsertionGuard guard(b);
        b.setInsertionPointToStart(inParallel.getBody());
        tensor::ParallelInsertSliceOp::create(
            b, l, rowsOfQ, out, offsets, outSizes,
            SmallVector<OpFoldResult>(d.rank, unit));
      });
  return forall.getResult(0);
}

} // namespace

bool mlir::mrope::laneTilesCanUseBF16Dot(AttentionOp op, int64_t lanes) {
  auto qType = cast<RankedTensorType>(op.getQ().getType());
  auto kType = cast<RankedTensorType>(op.getK().getType());
  ActivationLayout d = ActivationLayout::get(op.getLayout());
  int64_t group = qType.getDimSize(d.heads) / kType.getDimSize(d.heads);
  int64_t rows = RowTile::choose(group, lanes, d.heads < d.seq).rows();
  return qType.getElementType().isBF16() && qType.getShape().back() % 2 == 0 &&
         (rows == 4 || rows == 8 || rows == 16);
}

Value mlir::mrope::buildLaneTiledAttention(OpBuilder &b, Location loc,
                                           AttentionOp op, Value q, Value k,
                                           Value v, int64_t lanes,
                                           bool bf16Dot) {
  return LaneTiledAttention(op, q, k, v, lanes, bf16Dot).build(b, loc);
}
