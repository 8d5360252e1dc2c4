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
// row-by-row form. Each K/V channel loaded serves every row of the tile, so
// a long KV sequence is streamed once per tile instead of once per row.
//
// qT (channels x rows, scaled) is gathered once per task and oT (channels x
// rows, the running output) lives in a small scratch tensor; at the end
// each row is gathered back from oT, divided by its sum and written.
// Causal and varlen bounds are per lane ([begin, end) vectors); the loop
// covers their union and masks the rest. Full blocks read keys first + j
// directly; the one partial block at the end clamps to the last key.
//
//===----------------------------------------------------------------------===//

#include "AttentionTiles.h"
#include "Common/ActivationLayout.h"
#include "Common/RotaryMath.h"

#include "mrope/Dialect/MRope/IR/MRopeOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

#include <limits>

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

Value mlir::mrope::buildLaneTiledAttention(OpBuilder &rewriter, Location loc,
                                           AttentionOp op, Value q, Value k,
                                           Value v, int64_t lanes) {
  auto qType = cast<RankedTensorType>(q.getType());
  auto kType = cast<RankedTensorType>(k.getType());
  ActivationLayout d = ActivationLayout::get(op.getLayout());
  const int64_t headDim = qType.getShape().back();
  const int64_t qHeads = qType.getDimSize(d.heads);
  const int64_t kvHeads = kType.getDimSize(d.heads);
  const int64_t group = qHeads / kvHeads;
  const int64_t qSeq = qType.getDimSize(d.seq);
  const int64_t kvSeq = kType.getDimSize(d.seq);
  const int64_t keyBlock = lanes;
  Type elementType = qType.getElementType();
  Type f32 = rewriter.getF32Type(), i32 = rewriter.getI32Type();
  const RowTile tile = RowTile::choose(group, lanes, d.heads < d.seq);
  const int64_t rows = tile.rows();
  auto laneF32 = VectorType::get({rows}, f32);
  auto laneI32 = VectorType::get({rows}, i32);
  auto laneI1 = VectorType::get({rows}, rewriter.getI1Type());
  const double scale = op.getEffectiveScale();
  const bool causal = op.getCausal();
  Value mask = op.getMask(), cuSeqlens = op.getCuSeqlens();

  SmallVector<int64_t> qStrides = rowMajorStrides(qType.getShape());
  Value qFlat = flatten(rewriter, loc, q);
  Value maskFlat;
  SmallVector<int64_t> maskShape, maskStrides;
  if (mask) {
    maskShape =
        llvm::to_vector(cast<RankedTensorType>(mask.getType()).getShape());
    maskStrides = rowMajorStrides(maskShape);
    // A broadcast dimension adds nothing to an offset.
    for (int i : {0, 1})
      if (maskShape[i] == 1)
        maskStrides[i] = 0;
    maskFlat = flatten(rewriter, loc, mask);
  }

  Value init =
      tensor::EmptyOp::create(rewriter, loc, qType.getShape(), elementType);
  SmallVector<OpFoldResult> sizes;
  if (!d.packed())
    sizes.push_back(rewriter.getIndexAttr(qType.getDimSize(d.batch)));
  sizes.push_back(rewriter.getIndexAttr(kvHeads));
  sizes.push_back(rewriter.getIndexAttr(group / tile.heads));
  sizes.push_back(rewriter.getIndexAttr(llvm::divideCeil(qSeq, tile.tokens)));

  auto forall = scf::ForallOp::create(
      rewriter, loc, sizes, ValueRange{init}, /*mapping=*/std::nullopt,
      [&](OpBuilder &b, Location l, ValueRange args) {
        Value batch = d.packed() ? Value() : args[0];
        ValueRange tileIds = args.drop_front(d.packed() ? 0 : 1);
        Value kvHead = tileIds[0], headTile = tileIds[1],
              tokenTile = tileIds[2];
        Value out = args.back();
        auto index = [&](int64_t value) -> Value {
          return arith::ConstantIndexOp::create(b, l, value);
        };
        auto add = [&](Value x, Value y) -> Value {
          return arith::AddIOp::create(b, l, x, y);
        };
        auto mul = [&](Value x, int64_t y) -> Value {
          return arith::MulIOp::create(b, l, x, index(y));
        };
        auto splat = [&](VectorType type, Value scalar) -> Value {
          return vector::BroadcastOp::create(b, l, type, scalar);
        };
        auto toI32 = [&](Value x) -> Value {
          return arith::IndexCastOp::create(b, l, i32, x);
        };
        auto i32Splat = [&](int64_t value) -> Value {
          return arith::ConstantOp::create(
              b, l, DenseElementsAttr::get(laneI32, int32_t(value)));
        };
        auto f32Splat = [&](float value) -> Value {
          return arith::ConstantOp::create(
              b, l, DenseElementsAttr::get(laneF32, value));
        };
        Value zero = index(0);
        Value firstHead = add(mul(kvHead, group), mul(headTile, tile.heads));
        Value firstToken = mul(tokenTile, tile.tokens);
        // Indices of (batch, head, token, channel) in the layout.
        auto at = [&](Value h, Value t, Value c) {
          SmallVector<Value> idx(d.rank, zero);
          if (!d.packed())
            idx[d.batch] = batch;
          idx[d.heads] = h;
          idx[d.seq] = t;
          idx.back() = c;
          return idx;
        };
        auto linear = [&](ArrayRef<int64_t> strides, ArrayRef<Value> idx) {
          Value offset = zero;
          for (auto [stride, i] : llvm::zip_equal(strides, idx))
            if (stride != 0)
              offset = add(offset, mul(i, stride));
          return offset;
        };

        // Per lane: its token, whether it is a row of q (the last tile of
        // tokens may be partly outside), and its keys [begin, end).
        SmallVector<int64_t> laneTokens, qLaneOffsets, maskLaneOffsets;
        for (int64_t r = 0; r < rows; ++r) {
          laneTokens.push_back(tile.token(r));
          qLaneOffsets.push_back(tile.head(r) * qStrides[d.heads] +
                                 tile.token(r) * qStrides[d.seq]);
          if (mask)
            maskLaneOffsets.push_back(tile.head(r) * maskStrides[1] +
                                      tile.token(r) * maskStrides[2]);
        }
        Value tokens =
            arith::AddIOp::create(b, l, splat(laneI32, toI32(firstToken)),
                                  offsetVector(b, l, laneTokens));
        Value isRow = arith::CmpIOp::create(b, l, arith::CmpIPredicate::slt,
                                            tokens, i32Splat(qSeq));
        Value begin = i32Splat(0), end = i32Splat(kvSeq);
        if (cuSeqlens) {
          // The lane's sequence: cu_seqlens[n] <= token < cu_seqlens[n + 1].
          int64_t numSeqs =
              cast<RankedTensorType>(cuSeqlens.getType()).getDimSize(0) - 1;
          auto bounds = scf::ForOp::create(
              b, l, zero, index(numSeqs), index(1), ValueRange{begin, begin},
              [&](OpBuilder &lb, Location ll, Value n, ValueRange iter) {
                auto boundary = [&](Value i) -> Value {
                  Value c = tensor::ExtractOp::create(lb, ll, cuSeqlens, i);
                  if (c.getType() != i32)
                    c = arith::TruncIOp::create(lb, ll, i32, c);
                  return vector::BroadcastOp::create(lb, ll, laneI32, c);
                };
                Value first = boundary(n);
                Value last = boundary(arith::AddIOp::create(
                    lb, ll, n, arith::ConstantIndexOp::create(lb, ll, 1)));
                Value inside = arith::AndIOp::create(
                    lb, ll,
                    arith::CmpIOp::create(lb, ll, arith::CmpIPredicate::sle,
                                          first, tokens),
                    arith::CmpIOp::create(lb, ll, arith::CmpIPredicate::slt,
                                          tokens, last));
                scf::YieldOp::create(
                    lb, ll,
                    ValueRange{
                        arith::SelectOp::create(lb, ll, inside, first, iter[0]),
                        arith::SelectOp::create(lb, ll, inside, last,
                                                iter[1])});
              });
          begin = bounds.getResult(0);
          end = bounds.getResult(1);
        }
        if (causal) {
          // Bottom-right aligned: token i sees keys up to i + Skv - Sq
          // (packed: up to itself); a token before the first key sees none.
          Value limit = arith::AddIOp::create(
              b, l, tokens, i32Splat(cuSeqlens ? 1 : 1 + kvSeq - qSeq));
          end = arith::MinSIOp::create(b, l, end, limit);
          end = arith::MaxSIOp::create(b, l, end, begin);
        }
        // The loop covers the rows' keys; lanes that are not rows of q do
        // not widen it.
        auto reduce = [&](vector::CombiningKind kind, Value x,
                          int64_t neutral) -> Value {
          Value masked =
              arith::SelectOp::create(b, l, isRow, x, i32Splat(neutral));
          return arith::IndexCastOp::create(
              b, l, b.getIndexType(),
              vector::ReductionOp::create(b, l, kind, masked));
        };
        Value keysBegin = reduce(vector::CombiningKind::MINSI, begin,
                                 std::numeric_limits<int32_t>::max());
        Value keysEnd = reduce(vector::CombiningKind::MAXSI, end, 0);
        keysEnd = arith::MaxSIOp::create(b, l, keysEnd, keysBegin);

        // qT: channel c of every row, times the softmax scale.
        Value qBase = linear(qStrides, at(firstHead, firstToken, zero));
        Value qLanes = offsetVector(b, l, qLaneOffsets);
        Value qPad = arith::ConstantOp::create(
            b, l,
            DenseElementsAttr::get(VectorType::get({rows}, elementType),
                                   b.getZeroAttr(elementType)));
        auto gatherQ = scf::ForOp::create(
            b, l, zero, index(headDim), index(1),
            ValueRange{tensor::EmptyOp::create(b, l, {headDim, rows}, f32)},
            [&](OpBuilder &lb, Location ll, Value c, ValueRange iter) {
              Value column = vector::GatherOp::create(
                  lb, ll, VectorType::get({rows}, elementType), qFlat,
                  ValueRange{arith::AddIOp::create(lb, ll, qBase, c)}, qLanes,
                  isRow, qPad);
              if (elementType != f32)
                column = arith::ExtFOp::create(lb, ll, laneF32, column);
              column = arith::MulFOp::create(
                  lb, ll, column,
                  arith::ConstantOp::create(
                      lb, ll, DenseElementsAttr::get(laneF32, float(scale))));
              scf::YieldOp::create(
                  lb, ll,
                  vector::TransferWriteOp::create(
                      lb, ll, column, iter[0],
                      ValueRange{c, arith::ConstantIndexOp::create(lb, ll, 0)},
                      ArrayRef<bool>{true})
                      .getResult());
            });
        Value qT = gatherQ.getResult(0);

        Value maskLanes, maskPad;
        if (mask) {
          maskLanes = offsetVector(b, l, maskLaneOffsets);
          Type maskElement =
              cast<RankedTensorType>(mask.getType()).getElementType();
          maskPad = arith::ConstantOp::create(
              b, l,
              DenseElementsAttr::get(VectorType::get({rows}, maskElement),
                                     b.getZeroAttr(maskElement)));
        }
        Value minusInf = f32Splat(-std::numeric_limits<float>::infinity());
        Value lastKey = arith::SubIOp::create(b, l, keysEnd, index(1));
        const int64_t unroll = channelUnroll(headDim);

        // One block of keys [first, first + keyBlock): returns the new
        // (m, l, oT). `clamp`: the block may run past the last key, whose
        // row is read again for the slots past it (their scores are -inf).
        auto block = [&](OpBuilder &bb, Location bl, Value first, bool clamp,
                         ValueRange state) -> SmallVector<Value> {
          Value m = state[0], sum = state[1], oT = state[2];
          auto bIndex = [&](int64_t value) -> Value {
            return arith::ConstantIndexOp::create(bb, bl, value);
          };
          SmallVector<Value> keys, valid;
          for (int64_t j = 0; j < keyBlock; ++j) {
            Value key = arith::AddIOp::create(bb, bl, first, bIndex(j));
            Value keyLanes = vector::BroadcastOp::create(
                bb, bl, laneI32, arith::IndexCastOp::create(bb, bl, i32, key));
            valid.push_back(arith::AndIOp::create(
                bb, bl,
                arith::CmpIOp::create(bb, bl, arith::CmpIPredicate::sle, begin,
                                      keyLanes),
                arith::CmpIOp::create(bb, bl, arith::CmpIPredicate::slt,
                                      keyLanes, end)));
            keys.push_back(
                clamp ? arith::MinSIOp::create(bb, bl, key, lastKey).getResult()
                      : key);
          }
          auto channel = [&](OpBuilder &cb, Location cl, Value tensor,
                             Value key, Value c) -> Value {
            Value x =
                tensor::ExtractOp::create(cb, cl, tensor, at(kvHead, key, c));
            return vector::BroadcastOp::create(cb, cl, laneF32, x);
          };

          // Scores: per key a vector of the rows' dot products.
          SmallVector<Value> zeros(keyBlock, f32Splat(0));
          auto scoreLoop = scf::ForOp::create(
              bb, bl, bIndex(0), bIndex(headDim), bIndex(1), zeros,
              [&](OpBuilder &cb, Location cl, Value c, ValueRange acc) {
                Value qc = vector::TransferReadOp::create(
                    cb, cl, laneF32, qT,
                    ValueRange{c, arith::ConstantIndexOp::create(cb, cl, 0)},
                    arith::ConstantOp::create(cb, cl, cb.getF32FloatAttr(0)),
                    ArrayRef<bool>{true});
                SmallVector<Value> next;
                for (int64_t j = 0; j < keyBlock; ++j)
                  next.push_back(vector::FMAOp::create(
                      cb, cl, qc, channel(cb, cl, k, keys[j], c), acc[j]));
                scf::YieldOp::create(cb, cl, next);
              });
          SmallVector<Value> scores;
          for (int64_t j = 0; j < keyBlock; ++j) {
            Value s = scoreLoop.getResult(j);
            if (mask) {
              SmallVector<Value> maskIdx = {batch, firstHead, firstToken,
                                            keys[j]};
              Value maskBase = zero;
              for (auto [stride, i] : llvm::zip_equal(maskStrides, maskIdx))
                if (stride != 0)
                  maskBase = arith::AddIOp::create(
                      bb, bl, maskBase,
                      arith::MulIOp::create(bb, bl, i, bIndex(stride)));
              Value added = vector::GatherOp::create(
                  bb, bl, cast<VectorType>(maskPad.getType()), maskFlat,
                  ValueRange{maskBase}, maskLanes, isRow, maskPad);
              if (added.getType() != laneF32)
                added = arith::ExtFOp::create(bb, bl, laneF32, added);
              s = arith::AddFOp::create(bb, bl, s, added);
            }
            scores.push_back(
                arith::SelectOp::create(bb, bl, valid[j], s, minusInf));
          }

          // Online softmax, lanewise. m starts at the lowest finite value,
          // so -inf scores give weight 0, never inf - inf.
          Value mNew = arith::MaximumFOp::create(
              bb, bl, m, combineTree<arith::MaximumFOp>(bb, bl, scores));
          Value corr = buildExpOfNonPositive(
              bb, bl, arith::SubFOp::create(bb, bl, m, mNew));
          SmallVector<Value> weights;
          for (Value s : scores)
            weights.push_back(buildExpOfNonPositive(
                bb, bl, arith::SubFOp::create(bb, bl, s, mNew)));
          Value sumNew = arith::AddFOp::create(
              bb, bl, arith::MulFOp::create(bb, bl, sum, corr),
              combineTree<arith::AddFOp>(bb, bl, weights));

          // oT[c] = oT[c] * corr + sum_j p_j v_j[c], `unroll` channels per
          // iteration, each as two FMA chains (even and odd keys) joined at
          // the end: half the latency of one chain, 2-3% faster at S = 2048.
          auto valueLoop = scf::ForOp::create(
              bb, bl, bIndex(0), bIndex(headDim), bIndex(unroll),
              ValueRange{oT},
              [&](OpBuilder &cb, Location cl, Value c0, ValueRange acc) {
                Value o = acc[0];
                Value zeroIdx = arith::ConstantIndexOp::create(cb, cl, 0);
                for (int64_t i = 0; i < unroll; ++i) {
                  Value c = arith::AddIOp::create(
                      cb, cl, c0, arith::ConstantIndexOp::create(cb, cl, i));
                  Value row = vector::TransferReadOp::create(
                      cb, cl, laneF32, o, ValueRange{c, zeroIdx},
                      arith::ConstantOp::create(cb, cl, cb.getF32FloatAttr(0)),
                      ArrayRef<bool>{true});
                  row = arith::MulFOp::create(cb, cl, row, corr);
                  Value odd = arith::MulFOp::create(
                      cb, cl, weights[1], channel(cb, cl, v, keys[1], c));
                  for (int64_t j = 0; j < keyBlock; ++j) {
                    if (j == 1)
                      continue;
                    Value &acc = j % 2 ? odd : row;
                    acc = vector::FMAOp::create(cb, cl, weights[j],
                                                channel(cb, cl, v, keys[j], c),
                                                acc);
                  }
                  row = arith::AddFOp::create(cb, cl, row, odd);
                  o = vector::TransferWriteOp::create(cb, cl, row, o,
                                                      ValueRange{c, zeroIdx},
                                                      ArrayRef<bool>{true})
                          .getResult();
                }
                scf::YieldOp::create(cb, cl, o);
              });
          return {mNew, sumNew, valueLoop.getResult(0)};
        };

        // Full blocks, then at most one partial block.
        Value span = arith::SubIOp::create(b, l, keysEnd, keysBegin);
        Value fullEnd = add(
            keysBegin,
            mul(arith::DivUIOp::create(b, l, span, index(keyBlock)), keyBlock));
        Value oTInit = arith::ConstantOp::create(
            b, l,
            DenseElementsAttr::get(RankedTensorType::get({headDim, rows}, f32),
                                   0.0f));
        SmallVector<Value> state = {
            f32Splat(std::numeric_limits<float>::lowest()), f32Splat(0),
            oTInit};
        for (bool clamp : {false, true}) {
          auto loop = scf::ForOp::create(
              b, l, clamp ? fullEnd : keysBegin, clamp ? keysEnd : fullEnd,
              index(keyBlock), state,
              [&](OpBuilder &lb, Location ll, Value first, ValueRange iter) {
                scf::YieldOp::create(lb, ll, block(lb, ll, first, clamp, iter));
              });
          state.assign(loop.getResults().begin(), loop.getResults().end());
        }
        Value sum = state[1];

        // Each row from oT, divided by its sum; a row with no key is 0.
        Value oTFlat = flatten(b, l, state[2]);
        SmallVector<int64_t> channelOffsets;
        for (int64_t c = 0; c < headDim; ++c)
          channelOffsets.push_back(c * rows);
        Value channelLanes = offsetVector(b, l, channelOffsets);
        auto rowF32 = VectorType::get({headDim}, f32);
        Value allChannels = arith::ConstantOp::create(
            b, l,
            DenseElementsAttr::get(VectorType::get({headDim}, b.getI1Type()),
                                   true));
        Value zeroRow = arith::ConstantOp::create(
            b, l, DenseElementsAttr::get(rowF32, 0.f));
        Value result = tensor::EmptyOp::create(
            b, l, tile.shape(tile.tokens, headDim), elementType);
        for (int64_t r = 0; r < rows; ++r) {
          Value rowSum = vector::ExtractOp::create(b, l, sum, r);
          Value any = arith::CmpFOp::create(
              b, l, arith::CmpFPredicate::OGT, rowSum,
              arith::ConstantOp::create(b, l, b.getF32FloatAttr(0)));
          Value safeSum = arith::SelectOp::create(
              b, l, any, rowSum,
              arith::ConstantOp::create(b, l, b.getF32FloatAttr(1)));
          Value row = vector::GatherOp::create(
              b, l, rowF32, oTFlat, ValueRange{index(r)}, channelLanes,
              allChannels, zeroRow);
          row = arith::DivFOp::create(b, l, row, splat(rowF32, safeSum));
          row = arith::SelectOp::create(b, l, any, row, zeroRow);
          if (elementType != f32)
            row = arith::TruncFOp::create(
                b, l, VectorType::get({headDim}, elementType), row);
          SmallVector<Value> place =
              tile.headsOuter ? SmallVector<Value>{index(tile.head(r)),
                                                   index(tile.token(r)), zero}
                              : SmallVector<Value>{index(tile.token(r)),
                                                   index(tile.head(r)), zero};
          result = vector::TransferWriteOp::create(b, l, row, result, place,
                                                   ArrayRef<bool>{true})
                       .getResult();
        }

        // The rows of q: the last tile of tokens may hold fewer.
        Value tokenCount = arith::MinSIOp::create(
            b, l, index(tile.tokens),
            arith::SubIOp::create(b, l, index(qSeq), firstToken));
        auto unitAttr = b.getIndexAttr(1);
        SmallVector<OpFoldResult> sliceSizes =
            tile.headsOuter
                ? SmallVector<OpFoldResult>{b.getIndexAttr(tile.heads),
                                            tokenCount, b.getIndexAttr(headDim)}
                : SmallVector<OpFoldResult>{tokenCount,
                                            b.getIndexAttr(tile.heads),
                                            b.getIndexAttr(headDim)};
        Value rowsOfQ = tensor::ExtractSliceOp::create(
            b, l, result, SmallVector<OpFoldResult>(3, b.getIndexAttr(0)),
            sliceSizes, SmallVector<OpFoldResult>(3, unitAttr));
        SmallVector<OpFoldResult> offsets, outSizes(d.rank, unitAttr);
        for (Value idx : at(firstHead, firstToken, zero))
          offsets.push_back(idx);
        outSizes[d.heads] = b.getIndexAttr(tile.heads);
        outSizes[d.seq] = tokenCount;
        outSizes.back() = b.getIndexAttr(headDim);
        auto inParallel = scf::InParallelOp::create(b, l);
        OpBuilder::InsertionGuard guard(b);
        b.setInsertionPointToStart(inParallel.getBody());
        tensor::ParallelInsertSliceOp::create(
            b, l, rowsOfQ, out, offsets, outSizes,
            SmallVector<OpFoldResult>(d.rank, unitAttr));
      });
  return forall.getResult(0);
}
