//===- AttentionLowering.cpp - mrope.attention to online softmax ---------===//
//
// mrope.attention as flash-attention-style online softmax on tensors: one
// scf.forall over (batch, query head, query token) -- (token, head) packed --
// and, per query row, one scf.for over its keys that keeps the running max
// m, the running sum l and the f32 accumulator row acc:
//
//   s = (q . k_j) * scale (+ mask)     m' = max(m, s)
//   c = exp(m - m'), p = exp(s - m')   l' = l c + p,  acc' = acc c + p v_j
//
// over blocks of keys (s and p as vectors, exp a polynomial),
//
// so the S x S score matrix is never materialized. Rows are vectors over the
// head dimension; accumulation is f32 for every activation type. Keys come
// from the row's KV head (GQA: query head h reads KV head h / (Hq / Hkv)),
// limited to [0, i + Skv - Sq] when causal (bottom-right aligned) and to the
// row's own sequence for packed varlen input (cu_seqlens). A row with no key
// (fully masked) is 0, as flash-attention returns.
//
// A rotary prologue becomes mrope.apply on q and k before the loops (lowered
// by the same conversion): each K row is rotated once, not once per query.
//
// This row-by-row form is what attention-tiles=false selects; by default
// prefill takes register tiles of query rows (AttentionTiles.cpp) and decode
// tasks of one GQA group's heads that read each key once
// (AttentionDecode.cpp, the same arithmetic for several rows).
//
//===----------------------------------------------------------------------===//

#include "AttentionLowering.h"
#include "AttentionDecode.h"
#include "AttentionKeyRange.h"
#include "AttentionRowMath.h"
#include "AttentionTiles.h"
#include "Common/ActivationLayout.h"
#include "Common/RotaryMath.h"
#include "mrope/Conversion/MRopeToGPU/MRopeToGPU.h"

#include "mrope/Dialect/MRope/IR/MRopeOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/IR/TypeUtilities.h"

#include <limits>
#include <tuple>

using namespace mlir;
using namespace mlir::mrope;

namespace {

/// Keys per step of the online softmax: one AVX2 vector of scores.
constexpr int64_t kKeyBlock = 8;

/// Query rows per key row from which keys and values are widened to f32
/// once, before the loops.
constexpr int64_t kWidenedKeyReuse = 16;

/// Key or value rows as the row-by-row form reads them: a tensor and its
/// layout (the op's, or head-major when widened into a copy of their own).
struct KeyValueRows {
  Value rows;
  ActivationLayout layout;
};

/// Rows per task of copyRowsHeadMajor.
constexpr int64_t kCopyRows = 64;

/// 16-bit keys or values (`value`, in layout `d`) widened to f32 for the
/// row-by-row form, whole rows (the head dim) as vectors in parallel tasks of
/// up to kCopyRows rows, head-major -- [H, T, D] for thd, [B, H, S, D] for
/// bshd -- so that a KV head's rows are contiguous. (In the op's layout the
/// rows of one head are Hkv * D elements apart: with 8 KV heads f32 rows 4 KB
/// apart alias in the L1 sets.)
KeyValueRows copyRowsHeadMajor(OpBuilder &b, Location loc, Value value,
                               ActivationLayout d) {
  auto type = cast<RankedTensorType>(value.getType());
  const int64_t rank = type.getRank(), dim = type.getShape().back();
  const int64_t rows = type.getNumElements() / dim;
  // The copy's layout, and for each of its leading dimensions the source
  // dimension it takes.
  ActivationLayout out = d;
  SmallVector<int64_t> from;
  if (d.seq < d.heads) {
    out = d.packed() ? ActivationLayout{3, -1, 0, 1}
                     : ActivationLayout::get(TensorLayout::BHSD);
  }
  SmallVector<int64_t> outShape(rank);
  for (int64_t i = 0; i + 1 < rank; ++i) {
    int64_t source = i == out.heads ? d.heads : i == out.seq ? d.seq : i;
    from.push_back(source);
    outShape[i] = type.getDimSize(source);
  }
  outShape.back() = dim;
  // The largest divisor of the rows up to kCopyRows: tasks of equal,
  // static size.
  int64_t taskRows = std::min(rows, kCopyRows);
  while (rows % taskRows != 0)
    --taskRows;
  Type element = b.getF32Type();
  auto index = [](OpBuilder &ib, Location il, int64_t v) -> Value {
    return arith::ConstantIndexOp::create(ib, il, v);
  };
  auto rowType = VectorType::get({dim}, type.getElementType());
  SmallVector<OpFoldResult> taskSizes = {b.getIndexAttr(taskRows),
                                         b.getIndexAttr(dim)};
  SmallVector<OpFoldResult> unit(2, b.getIndexAttr(1));
  auto forall = scf::ForallOp::create(
      b, loc, ArrayRef<OpFoldResult>{b.getIndexAttr(rows / taskRows)},
      ValueRange{tensor::EmptyOp::create(b, loc, ArrayRef<int64_t>{rows, dim},
                                         element)},
      /*mapping=*/std::nullopt,
      [&](OpBuilder &fb, Location fl, ValueRange args) {
        Value first =
            arith::MulIOp::create(fb, fl, args[0], index(fb, fl, taskRows));
        auto loop = scf::ForOp::create(
            fb, fl, index(fb, fl, 0), index(fb, fl, taskRows), index(fb, fl, 1),
            ValueRange{tensor::EmptyOp::create(
                fb, fl, ArrayRef<int64_t>{taskRows, dim}, element)},
            [&](OpBuilder &lb, Location ll, Value r, ValueRange iter) {
              // Row `first + r` of the copy: its index in each leading
              // dimension (innermost last), placed where the source has it.
              Value rest = arith::AddIOp::create(lb, ll, first, r);
              SmallVector<Value> source(rank, index(lb, ll, 0));
              for (int64_t i = rank - 2; i >= 0; --i) {
                Value size = index(lb, ll, outShape[i]);
                source[from[i]] = arith::RemUIOp::create(lb, ll, rest, size);
                rest = arith::DivUIOp::create(lb, ll, rest, size);
              }
              Value row = vector::TransferReadOp::create(
                  lb, ll, rowType, value, source,
                  arith::ConstantOp::create(
                      lb, ll, lb.getZeroAttr(type.getElementType())),
                  ArrayRef<bool>{true});
              row = arith::ExtFOp::create(lb, ll,
                                          VectorType::get({dim}, element), row);
              scf::YieldOp::create(lb, ll,
                                   vector::TransferWriteOp::create(
                                       lb, ll, row, iter[0],
                                       ValueRange{r, index(lb, ll, 0)},
                                       ArrayRef<bool>{true})
                                       .getResult());
            });
        auto inParallel = scf::InParallelOp::create(fb, fl);
        fb.setInsertionPointToStart(inParallel.getBody());
        tensor::ParallelInsertSliceOp::create(
            fb, fl, loop.getResult(0), args[1],
            ArrayRef<OpFoldResult>{first, fb.getIndexAttr(0)}, taskSizes, unit);
      });
  SmallVector<ReassociationIndices> expand(2);
  for (int64_t i = 0; i + 1 < rank; ++i)
    expand[0].push_back(i);
  expand[1].push_back(rank - 1);
  Value copy = tensor::ExpandShapeOp::create(
      b, loc, RankedTensorType::get(outShape, element), forall.getResult(0),
      expand);
  return {copy, out};
}

} // namespace

/// q and k after the op's rotary prologue, as mrope.apply ops. apply rotates
/// two tensors with one set of positions, so q and k share one op when they
/// share positions (prefill); otherwise q is rotated with a throwaway partner
/// of the right shape (decode: new queries against a longer cache) and k as
/// apply(k, k), which the lowering rotates once.
std::pair<Value, Value>
mlir::mrope::rotateAttentionPrologue(AttentionOp op,
                                     PatternRewriter &rewriter) {
  Location loc = op.getLoc();
  Value q = op.getQ(), k = op.getK();
  Value qPos = op.getQPositions(), kPos = op.getKPositions();
  ActivationLayout d = ActivationLayout::get(op.getLayout());
  auto kType = cast<RankedTensorType>(k.getType());
  auto layout = op.getLayoutAttr();
  RotaryAttr rotary = *op.getRotary();
  Value invFreq = op.getInvFreq();
  auto apply = [&](Value a, Value b, Value positions) {
    return ApplyOp::create(rewriter, loc, a.getType(), b.getType(), a, b,
                           positions, invFreq, layout, rotary,
                           /*inverse=*/nullptr);
  };
  if (qPos && kPos && qPos == kPos) {
    ApplyOp both = apply(q, k, qPos);
    return {both.getQOut(), both.getKOut()};
  }
  Value qOut = q, kOut = k;
  if (qPos) {
    // The partner has k's heads (MHRoPE assigns axes per KV head) and q's
    // batch and tokens (dynamic sizes from q).
    SmallVector<OpFoldResult> sizes = tensor::getMixedSizes(rewriter, loc, k);
    SmallVector<OpFoldResult> qSizes = tensor::getMixedSizes(rewriter, loc, q);
    if (!d.packed())
      sizes[d.batch] = qSizes[d.batch];
    sizes[d.seq] = qSizes[d.seq];
    auto partner =
        tensor::EmptyOp::create(rewriter, loc, sizes, kType.getElementType());
    qOut = apply(q, partner, qPos).getQOut();
  }
  if (kPos)
    kOut = apply(k, k, kPos).getKOut();
  return {qOut, kOut};
}

namespace {

/// Integer arithmetic in the type of query tokens: index or an integer,
/// a scalar or a vector of them (one token per lane of a tile).
struct TokenArith {
  explicit TokenArith(Type type)
      : vectorType(dyn_cast<VectorType>(type)),
        element(getElementTypeOrSelf(type)) {}

  Value constant(OpBuilder &b, Location l, int64_t value) const {
    TypedAttr scalar = b.getIntegerAttr(element, value);
    if (vectorType)
      return arith::ConstantOp::create(
          b, l, DenseElementsAttr::get(vectorType, scalar));
    return arith::ConstantOp::create(b, l, scalar);
  }

  /// `value` (an index or an integer scalar) in the tokens' type.
  Value cast(OpBuilder &b, Location l, Value value) const {
    Type from = value.getType();
    if (from != element) {
      if (element.isIndex() || from.isIndex())
        value = arith::IndexCastOp::create(b, l, element, value);
      else if (from.getIntOrFloatBitWidth() > element.getIntOrFloatBitWidth())
        value = arith::TruncIOp::create(b, l, element, value);
      else
        value = arith::ExtSIOp::create(b, l, element, value);
    }
    if (vectorType)
      value = vector::BroadcastOp::create(b, l, vectorType, value);
    return value;
  }

  /// `value` clamped to [low, high].
  Value clamp(OpBuilder &b, Location l, Value value, Value low,
              Value high) const {
    value = arith::MaxSIOp::create(b, l, value, low);
    return arith::MinSIOp::create(b, l, value, high);
  }

  VectorType vectorType;
  Type element;
};

} // namespace

Value mlir::mrope::buildInHalfOpenRange(OpBuilder &b, Location loc, Value x,
                                        Value low, Value high) {
  return arith::AndIOp::create(
      b, loc, arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sle, low, x),
      arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt, x, high));
}

PackedSequenceBounds
mlir::mrope::buildPackedSequenceBounds(OpBuilder &b, Location loc,
                                       AttentionOp op, Value n, Type tokenType,
                                       Value queryTokens, Value keyRows) {
  TokenArith t(tokenType);
  Value cuSeqlens = op.getCuSeqlens(), kvCuSeqlens = op.getKvCuSeqlens();
  Value zero = t.constant(b, loc, 0);
  // Boundary i of `bounds`, clamped to [low, total]: a decreasing pair is an
  // empty sequence, and malformed boundaries never index out of bounds.
  auto boundary = [&](Value bounds, Value i, Value low, Value total) {
    return t.clamp(b, loc,
                   t.cast(b, loc, tensor::ExtractOp::create(b, loc, bounds, i)),
                   low, total);
  };
  Value next = arith::AddIOp::create(b, loc, n,
                                     arith::ConstantIndexOp::create(b, loc, 1));
  PackedSequenceBounds s;
  s.first = boundary(cuSeqlens, n, zero, queryTokens);
  s.last = boundary(cuSeqlens, next, s.first, queryTokens);
  s.keysFirst = s.first;
  s.keysLast = s.last;
  if (Value table = op.getBlockTable()) {
    // The sequence's page slots, as many of them as it has keys.
    const int64_t slots =
        cast<RankedTensorType>(table.getType()).getDimSize(1) *
        *op.getPageSize();
    Value length = arith::SubIOp::create(
        b, loc,
        t.cast(b, loc, tensor::ExtractOp::create(b, loc, kvCuSeqlens, next)),
        t.cast(b, loc, tensor::ExtractOp::create(b, loc, kvCuSeqlens, n)));
    s.keysFirst =
        t.cast(b, loc,
               arith::MulIOp::create(
                   b, loc, n, arith::ConstantIndexOp::create(b, loc, slots)));
    s.keysLast = arith::AddIOp::create(
        b, loc, s.keysFirst,
        t.clamp(b, loc, length, zero, t.constant(b, loc, slots)));
  } else if (kvCuSeqlens) {
    s.keysFirst = boundary(kvCuSeqlens, n, zero, keyRows);
    s.keysLast = boundary(kvCuSeqlens, next, s.keysFirst, keyRows);
  }
  return s;
}

Value mlir::mrope::buildCausalKeyEnd(OpBuilder &b, Location loc, AttentionOp op,
                                     Value tokens, Value begin, Value end,
                                     Value queryEnd, Value queryTokens,
                                     Value keyRows) {
  // Bottom-right aligned: the sequence's last query sees its last key, so
  // token i sees keys below i + 1 + end - qEnd (without packed sequences:
  // i + 1 + keys - queries). Signed: a token before the first key gets a
  // limit <= begin.
  TokenArith t(tokens.getType());
  Value offset = op.getCuSeqlens()
                     ? b.createOrFold<arith::SubIOp>(loc, end, queryEnd)
                     : b.createOrFold<arith::SubIOp>(loc, keyRows, queryTokens);
  offset = b.createOrFold<arith::AddIOp>(loc, offset, t.constant(b, loc, 1));
  Value limit = arith::AddIOp::create(b, loc, tokens, offset);
  end = arith::MinSIOp::create(b, loc, end, limit);
  return arith::MaxSIOp::create(b, loc, end, begin);
}

std::pair<Value, Value> mlir::mrope::buildAttentionKeyRange(OpBuilder &b,
                                                            Location loc,
                                                            AttentionOp op,
                                                            Value tokens) {
  ActivationLayout d = ActivationLayout::get(op.getLayout());
  TokenArith t(tokens.getType());
  Value queryTokens = t.constant(
      b, loc, cast<RankedTensorType>(op.getQ().getType()).getDimSize(d.seq));
  Value keyRows = t.constant(b, loc, op.getKeyRows());
  // The query tokens' sequence ends at queryEnd, its keys are [begin, end).
  Value begin = t.constant(b, loc, 0), end = keyRows, queryEnd;
  if (Value cuSeqlens = op.getCuSeqlens()) {
    // The token's sequence: cu_seqlens[n] <= token < cu_seqlens[n + 1] (the
    // last one that holds it); a token in no sequence keeps [0, 0).
    int64_t numSeqs =
        cast<RankedTensorType>(cuSeqlens.getType()).getDimSize(0) - 1;
    Value zero = t.constant(b, loc, 0);
    auto seqs = scf::ForOp::create(
        b, loc, arith::ConstantIndexOp::create(b, loc, 0),
        arith::ConstantIndexOp::create(b, loc, numSeqs),
        arith::ConstantIndexOp::create(b, loc, 1), ValueRange{zero, zero, zero},
        [&](OpBuilder &lb, Location ll, Value n, ValueRange iter) {
          PackedSequenceBounds s = buildPackedSequenceBounds(
              lb, ll, op, n, tokens.getType(), queryTokens, keyRows);
          Value inside = buildInHalfOpenRange(lb, ll, tokens, s.first, s.last);
          auto pick = [&](Value mine, Value kept) -> Value {
            return arith::SelectOp::create(lb, ll, inside, mine, kept);
          };
          scf::YieldOp::create(lb, ll,
                               ValueRange{pick(s.keysFirst, iter[0]),
                                          pick(s.keysLast, iter[1]),
                                          pick(s.last, iter[2])});
        });
    begin = seqs.getResult(0);
    end = seqs.getResult(1);
    queryEnd = seqs.getResult(2);
  }
  if (op.getCausal())
    end = buildCausalKeyEnd(b, loc, op, tokens, begin, end, queryEnd,
                            queryTokens, keyRows);
  return {begin, end};
}

Value mlir::mrope::buildKeyRow(OpBuilder &b, Location loc, AttentionOp op,
                               Value key) {
  Value table = op.getBlockTable();
  if (!table)
    return key;
  auto tableType = cast<RankedTensorType>(table.getType());
  const int64_t pageSize = *op.getPageSize();
  const int64_t slots = tableType.getDimSize(1) * pageSize;
  const int64_t pages =
      cast<RankedTensorType>(op.getK().getType()).getDimSize(0) / pageSize;
  auto index = [&](int64_t value) -> Value {
    return arith::ConstantIndexOp::create(b, loc, value);
  };
  Value sequence = arith::DivUIOp::create(b, loc, key, index(slots));
  Value slot = arith::RemUIOp::create(b, loc, key, index(slots));
  Value page = tensor::ExtractOp::create(
      b, loc, table,
      ValueRange{sequence,
                 arith::DivUIOp::create(b, loc, slot, index(pageSize))});
  page = arith::IndexCastOp::create(b, loc, b.getIndexType(), page);
  page = arith::MinSIOp::create(
      b, loc, arith::MaxSIOp::create(b, loc, page, index(0)), index(pages - 1));
  return arith::AddIOp::create(
      b, loc, arith::MulIOp::create(b, loc, page, index(pageSize)),
      arith::RemUIOp::create(b, loc, key, index(pageSize)));
}

namespace {

struct AttentionOpLowering : OpRewritePattern<AttentionOp> {
  AttentionOpLowering(MLIRContext *ctx, int64_t lanes, bool avx512BF16)
      : OpRewritePattern(ctx), lanes(lanes), avx512BF16(avx512BF16) {}

  LogicalResult matchAndRewrite(AttentionOp op,
                                PatternRewriter &rewriter) const override {
    if (op->hasAttr(kGPUKernelAttrName))
      return rewriter.notifyMatchFailure(op, "selected for the GPU");
    auto qType = cast<RankedTensorType>(op.getQ().getType());
    auto kType = cast<RankedTensorType>(op.getK().getType());
    auto vType = cast<RankedTensorType>(op.getV().getType());
    if (!qType.hasStaticShape() || !kType.hasStaticShape() ||
        !vType.hasStaticShape())
      return rewriter.notifyMatchFailure(op, "needs static shapes");
    Location loc = op.getLoc();
    Value q = op.getQ(), k = op.getK();
    if (op.hasRotaryPrologue())
      std::tie(q, k) = rotateAttentionPrologue(op, rewriter);
    Value v = op.getV(), mask = op.getMask();

    ActivationLayout d = ActivationLayout::get(op.getLayout());
    const int64_t headDim = qType.getShape().back();
    const int64_t qHeads = qType.getDimSize(d.heads);
    const int64_t kvHeads = kType.getDimSize(d.heads);
    const int64_t group = qHeads / kvHeads;
    const int64_t qSeq = qType.getDimSize(d.seq);
    Type elementType = qType.getElementType();
    Type f32 = rewriter.getF32Type();
    auto rowF32 = VectorType::get({headDim}, f32);
    // 16-bit keys and values read by many query rows are widened to f32
    // once (exact), not once per query row: widening was a third of the
    // inner loop's instructions. Decode-sized queries read each key once or
    // a few times and keep the 16-bit reads.
    KeyValueRows kRead{k, d}, vRead{v, d};
    // Packed sequences: rows of one sequence share keys, so count the
    // rows per sequence (batched decode against per-sequence caches is
    // decode even with many packed tokens).
    const int64_t sequences = std::max<int64_t>(1, op.getNumSequences());
    const bool prefill = group * (qSeq / sequences) >= kWidenedKeyReuse;
    const bool tiles = prefill && lanes > 0;
    // With vdpbf16ps the tiles read bf16 keys as they are.
    const bool bf16Dot =
        tiles && avx512BF16 && laneTilesCanUseBF16Dot(op, lanes);
    // The tiles widen keys and values chunk by chunk (AttentionTiles.cpp).
    // The row-by-row form reads each key row once per query row: prefill
    // widens them once, into head-major copies -- except a paged cache,
    // read in place through its pages (a copy would widen every page of
    // the pool, or every slot of tables sized for the longest context).
    if (elementType != f32 && prefill && !tiles && !op.getBlockTable()) {
      kRead = copyRowsHeadMajor(rewriter, loc, k, d);
      vRead = copyRowsHeadMajor(rewriter, loc, v, d);
    }
    if (tiles) {
      rewriter.replaceOp(op, buildLaneTiledAttention(rewriter, loc, op, q, k, v,
                                                     lanes, bf16Dot));
      return success();
    }
    if (lanes > 0 && !prefill) {
      rewriter.replaceOp(op, buildSharedKeyDecodeAttention(
                                 rewriter, loc, op, q, k, v,
                                 avx512BF16 && decodeCanUseBF16Dot(op)));
      return success();
    }

    Value init =
        tensor::EmptyOp::create(rewriter, loc, qType.getShape(), elementType);
    SmallVector<OpFoldResult> sizes = queryRowLoopSizes(rewriter, d, qType);

    const double scale = op.getEffectiveScale();
    auto forall = scf::ForallOp::create(
        rewriter, loc, sizes, ValueRange{init}, /*mapping=*/std::nullopt,
        [&](OpBuilder &b, Location l, ValueRange args) {
          QueryRowIndices indices = queryRowIndices(d.packed(), args);
          Value batch = indices.batch, head = indices.head,
                token = indices.token;
          Value out = args.back();
          auto index = [&](int64_t value) -> Value {
            return arith::ConstantIndexOp::create(b, l, value);
          };
          auto f32Const = [&](double value) -> Value {
            return arith::ConstantOp::create(b, l, b.getF32FloatAttr(value));
          };
          Value zero = index(0), one = index(1);
          // Row (batch, h, t) of q, k or v.
          auto readRow = [&](KeyValueRows from, Value h, Value t) -> Value {
            Value tensor = from.rows;
            Type type =
                cast<RankedTensorType>(tensor.getType()).getElementType();
            Value row = vector::TransferReadOp::create(
                b, l, VectorType::get({headDim}, type), tensor,
                rowStartIndices(from.layout, batch, h, t, zero),
                arith::ConstantOp::create(b, l, b.getZeroAttr(type)),
                ArrayRef<bool>{true});
            return type == f32
                       ? row
                       : arith::ExtFOp::create(b, l, rowF32, row).getResult();
          };
          Value qRow = readRow({q, d}, head, token);
          SmallVector<Value> qChunks = dotChunks(b, l, qRow);
          Value kvHead =
              arith::DivUIOp::create(b, l, head, index(group)).getResult();

          // The keys this row attends: [begin, end).
          Value begin, end;
          std::tie(begin, end) = buildAttentionKeyRange(b, l, op, token);

          // Online softmax over the keys, kKeyBlock at a time: the block's
          // scores as one vector, one max and one correction per block, the
          // weights by a vector exp (no libm call). Slots past the last key
          // read the last key again and get score -inf, so weight 0. m
          // starts at the lowest finite value so that -inf scores (masks,
          // padding) give weight 0, never inf - inf.
          Value scaleV = f32Const(scale);
          Value lowest = f32Const(std::numeric_limits<float>::lowest());
          Value minusInf = f32Const(-std::numeric_limits<float>::infinity());
          Value zeroRow =
              arith::ConstantOp::create(b, l, b.getZeroAttr(rowF32));
          auto blockType = VectorType::get({kKeyBlock}, f32);
          Value lastKey = arith::SubIOp::create(b, l, end, one);
          auto loop = scf::ForOp::create(
              b, l, begin, end, index(kKeyBlock),
              ValueRange{lowest, f32Const(0), zeroRow},
              [&](OpBuilder &lb, Location ll, Value first, ValueRange iter) {
                Value m = iter[0], sum = iter[1], acc = iter[2];
                // The block's dot products: per key the q . k lanes of one
                // vector (FMAs over the row's chunks), then one
                // transpose-reduction of the block -- no horizontal sum per
                // key. (Reassociated: the order of an f32 dot product is not
                // part of the contract; tests compare with float64.)
                SmallVector<Value> valids, ats, vRows;
                LaneSums dots(lb, ll);
                for (int64_t t = 0; t < kKeyBlock; ++t) {
                  Value key = arith::AddIOp::create(
                      lb, ll, first, arith::ConstantIndexOp::create(lb, ll, t));
                  valids.push_back(arith::CmpIOp::create(
                      lb, ll, arith::CmpIPredicate::slt, key, end));
                  Value at = arith::MinSIOp::create(lb, ll, key, lastKey);
                  ats.push_back(at);
                  Value row = buildKeyRow(lb, ll, op, at);
                  dots.add(
                      dotLanes(lb, ll, qChunks, readRow(kRead, kvHead, row)));
                  vRows.push_back(readRow(vRead, kvHead, row));
                }
                Value rowDots = dots.finish();
                SmallVector<Value> scores;
                for (int64_t t = 0; t < kKeyBlock; ++t) {
                  Value valid = valids[t], at = ats[t];
                  Value dot = vector::ExtractOp::create(lb, ll, rowDots,
                                                        ArrayRef<int64_t>{t});
                  Value s = arith::MulFOp::create(lb, ll, dot, scaleV);
                  if (mask) {
                    auto maskType = cast<RankedTensorType>(mask.getType());
                    Value maskBatch =
                        maskType.getDimSize(0) == 1 ? zero : batch;
                    Value maskHead = maskType.getDimSize(1) == 1 ? zero : head;
                    Value mb = tensor::ExtractOp::create(
                        lb, ll, mask,
                        ValueRange{maskBatch, maskHead, token, at});
                    if (mb.getType() != f32)
                      mb = arith::ExtFOp::create(lb, ll, f32, mb);
                    s = arith::AddFOp::create(lb, ll, s, mb);
                  }
                  scores.push_back(
                      arith::SelectOp::create(lb, ll, valid, s, minusInf));
                }
                Value block =
                    vector::FromElementsOp::create(lb, ll, blockType, scores);
                OnlineSoftmaxStep step =
                    buildOnlineSoftmaxStep(lb, ll, block, m, sum, acc);
                Value mNew = step.m, sumNew = step.sum, accNew = step.acc,
                      weights = step.weights;
                for (int64_t t = 0; t < kKeyBlock; ++t) {
                  Value p = vector::ExtractOp::create(lb, ll, weights,
                                                      ArrayRef<int64_t>{t});
                  accNew = vector::FMAOp::create(
                      lb, ll, vector::BroadcastOp::create(lb, ll, rowF32, p),
                      vRows[t], accNew);
                }
                scf::YieldOp::create(lb, ll, ValueRange{mNew, sumNew, accNew});
              });
          Value row = buildNormalizedRow(b, l, loop.getResult(2),
                                         loop.getResult(1), elementType);

          insertRowsInParallel(b, l, d, row, head, batch, token, out);
        });
    rewriter.replaceOp(op, forall.getResult(0));
    return success();
  }

private:
  int64_t lanes;
  bool avx512BF16;
};

} // namespace

void mlir::mrope::populateAttentionLoweringPatterns(RewritePatternSet &patterns,
                                                    int64_t lanes,
                                                    bool avx512BF16) {
  patterns.add<AttentionOpLowering>(patterns.getContext(), lanes, avx512BF16);
}
