//===- CosSinRows.cpp - the CPU form of mrope.cos_sin ---------------------===//
//
// The portable lowering of mrope.cos_sin is two linalg.generic ops, scalar
// on the CPU: each (token, pair) element reads its position through a
// per-element axis choice and calls the scalar cos/sin arithmetic. Here the
// arithmetic runs on vectors: per token, each position axis's pairs are
// packed into vectors of the target's width (the pairs' inv_freq, padded
// with 0) and their cos/sin computed once; every row of the [D] layout is
// then a few constant shuffles of those vectors. Same bits: the same
// buildRotaryCosSin arithmetic, which is lane by lane.
//
//===----------------------------------------------------------------------===//

#include "CosSinRows.h"
#include "Common/RotaryMath.h"
#include "CosSinSources.h"
#include "VectorLanes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Arith/Utils/Utils.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

using namespace mlir;
using namespace mlir::mrope;

namespace {

/// One row of the cos and sin tables, a [D] vector of `elementType` each:
/// channel ch holds pair ch mod P (NeoX) or ch / 2 (GPT-J), whose cos/sin
/// are lane `index % width` of piece `index / width` of `values[axis]`,
/// (axis, index) = `pairLane(pair)`. Built `width` channels at a time
/// (constant shuffles, rounded to `elementType`) inserted into the row's
/// vector, so that the row is one write. (A write per chunk made one-shot
/// bufferization's analysis, cubic in the writes into one tensor in a loop
/// body, take minutes for MHRoPE's 8 heads at 128-bit vectors.)
std::array<Value, 2>
buildTableRows(OpBuilder &b, Location loc, ArrayRef<SourceCosSin> values,
               function_ref<std::pair<int64_t, int64_t>(int64_t)> pairLane,
               int64_t numPairs, bool neox, int64_t width, Type elementType) {
  const int64_t numChannels = 2 * numPairs;
  auto rowType = VectorType::get({numChannels}, elementType);
  std::array<Value, 2> row;
  for (Value &r : row)
    r = arith::ConstantOp::create(b, loc, b.getZeroAttr(rowType));
  for (int64_t first = 0; first < numChannels; first += width) {
    SmallVector<std::pair<Value, int64_t>> cosLanes, sinLanes;
    for (int64_t ch = first; ch < std::min(first + width, numChannels); ++ch) {
      auto [axis, index] = pairLane(neox ? ch % numPairs : ch / 2);
      cosLanes.push_back({values[axis].c[index / width], index % width});
      sinLanes.push_back({values[axis].s[index / width], index % width});
    }
    const std::array<ArrayRef<std::pair<Value, int64_t>>, 2> lanes = {cosLanes,
                                                                      sinLanes};
    for (int table = 0; table < 2; ++table) {
      Value chunk = assembleLanes(b, loc, lanes[table]);
      if (!elementType.isF32()) // cos/sin are f32
        chunk = arith::TruncFOp::create(
            b, loc,
            VectorType::get({int64_t(lanes[table].size())}, elementType),
            chunk);
      row[table] = vector::InsertStridedSliceOp::create(b, loc, chunk,
                                                        row[table], first, 1);
    }
  }
  return row;
}

} // namespace

std::pair<Value, Value>
mlir::mrope::buildCosSinRows(OpBuilder &b, Location loc, Value positions,
                             Value invFreq, RotaryAttr rotary, int64_t numKV,
                             Type elementType,
                             const RotaryLoweringOptions &options) {
  AllocationAttr alloc = rotary.getAlloc();
  const int64_t numPairs = rotary.getRotaryDim() / 2;
  const int64_t numChannels = 2 * numPairs;
  const bool neox = rotary.getPairs() == PairLayout::NeoX;
  const bool perHead = alloc.isHeadPartitioned();
  int64_t width = options.vectorBits / 32;
  if (width <= 0 || width > numPairs)
    width = numPairs;
  Type f32 = b.getF32Type();
  auto pieceType = VectorType::get({width}, f32);
  const SinCosLowering sinCos =
      options.fastSinCos ? SinCosLowering::Polynomial : SinCosLowering::Torch;

  // The axes and their pairs. Shared tables: each pair on its axis, and
  // where it is there. Head-partitioned: every pair on the axis of its KV
  // head (headAxis), in pair order.
  SmallVector<CosSinSource> axes;
  auto axisIndex = [&](Axis axis) -> int64_t {
    for (auto [i, entry] : llvm::enumerate(axes))
      if (entry.axis == axis)
        return i;
    axes.push_back({axis, {}, {}});
    if (perHead)
      axes.back().pairs = llvm::to_vector(llvm::seq<int64_t>(0, numPairs));
    return axes.size() - 1;
  };
  SmallVector<std::pair<int64_t, int64_t>> pairAt(numPairs);
  SmallVector<int64_t> headAxis;
  if (!perHead) {
    for (auto [pair, axis] : llvm::enumerate(alloc.getPairAxes(numPairs))) {
      int64_t i = axisIndex(axis);
      pairAt[pair] = {i, int64_t(axes[i].pairs.size())};
      axes[i].pairs.push_back(pair);
    }
  } else {
    for (Axis axis : alloc.getHeadAxes(numKV))
      headAxis.push_back(axisIndex(axis));
  }

  // Loop invariants: inv_freq packed per axis, NoPE's cos/sin.
  Value zero = arith::ConstantIndexOp::create(b, loc, 0);
  Value zeroF = arith::ConstantOp::create(b, loc, b.getZeroAttr(f32));
  auto freqType = VectorType::get({numPairs}, f32);
  Value freqs = vector::TransferReadOp::create(
      b, loc, freqType, invFreq, ValueRange{zero}, zeroF,
      ArrayRef<bool>{
          !cast<RankedTensorType>(invFreq.getType()).isDynamicDim(0)});
  for (CosSinSource &entry : axes)
    entry.freqPieces = packLanes(b, loc, freqs, entry.pairs, width);
  auto cosSinOf = [&](OpBuilder &cb, Location cloc, const CosSinSource &entry,
                      Value position) {
    SourceCosSin result;
    Value broadcast =
        vector::BroadcastOp::create(cb, cloc, pieceType, position);
    for (Value freqPiece : entry.freqPieces) {
      auto [c, s] =
          buildRotaryCosSin(cb, cloc, broadcast, freqPiece, rotary.getAngles(),
                            rotary.getAttentionScaling(), sinCos);
      result.c.push_back(c);
      result.s.push_back(s);
    }
    return result;
  };
  SmallVector<std::optional<SourceCosSin>> invariant(axes.size());
  for (auto [i, entry] : llvm::enumerate(axes))
    if (entry.axis == Axis::NoPE)
      invariant[i] = cosSinOf(b, loc, entry, zeroF);

  // Tables [prefix.., (KV,) S, D]; the forall runs over [prefix.., tiles of
  // S].
  auto posType = cast<RankedTensorType>(positions.getType());
  const int64_t prefixRank = posType.getRank() - 2;
  SmallVector<OpFoldResult> tokenSizes;
  for (int64_t d = 1; d < posType.getRank(); ++d)
    tokenSizes.push_back(tensor::getMixedSize(b, loc, positions, d));
  SmallVector<OpFoldResult> tableSizes(tokenSizes);
  if (perHead)
    tableSizes.insert(tableSizes.begin() + prefixRank, b.getIndexAttr(numKV));
  tableSizes.push_back(b.getIndexAttr(numChannels));
  const int64_t tableRank = tableSizes.size();
  Value cosInit = tensor::EmptyOp::create(b, loc, tableSizes, elementType);
  Value sinInit = tensor::EmptyOp::create(b, loc, tableSizes, elementType);

  const int64_t tokenTile = std::max<int64_t>(options.tokenTile, 1);
  Value seqSize = getValueOrCreateConstantIndexOp(b, loc, tokenSizes.back());
  Value tileSize = arith::ConstantIndexOp::create(b, loc, tokenTile);
  SmallVector<OpFoldResult> forallSizes(tokenSizes.begin(),
                                        tokenSizes.begin() + prefixRank);
  forallSizes.push_back(getAsOpFoldResult(
      arith::CeilDivUIOp::create(b, loc, seqSize, tileSize).getResult()));

  auto forall = scf::ForallOp::create(
      b, loc, forallSizes, ValueRange{cosInit, sinInit},
      /*mapping=*/std::nullopt,
      [&](OpBuilder &nb, Location nloc, ValueRange args) {
        ValueRange prefix = args.take_front(prefixRank);
        Value tile = args[prefixRank];
        ValueRange outs = args.drop_front(prefixRank + 1);
        Value seqStart = arith::MulIOp::create(nb, nloc, tile, tileSize);
        Value count = arith::MinSIOp::create(
            nb, nloc, tileSize,
            arith::SubIOp::create(nb, nloc, seqSize, seqStart));
        // The tile's rows: [1.., (KV,) count, D].
        SmallVector<OpFoldResult> offsets(tableRank, nb.getIndexAttr(0));
        SmallVector<OpFoldResult> sizes(tableRank, nb.getIndexAttr(1));
        for (int64_t d = 0; d < prefixRank; ++d)
          offsets[d] = prefix[d];
        if (perHead)
          sizes[prefixRank] = nb.getIndexAttr(numKV);
        offsets[tableRank - 2] = seqStart;
        sizes[tableRank - 2] = count;
        sizes[tableRank - 1] = nb.getIndexAttr(numChannels);
        SmallVector<OpFoldResult> unit(tableRank, nb.getIndexAttr(1));
        SmallVector<Value> tiles;
        for (Value out : outs)
          tiles.push_back(tensor::ExtractSliceOp::create(nb, nloc, out, offsets,
                                                         sizes, unit));

        // Carried from token to token: the tables, then per axis with a
        // position the bits of the previous token's position and its
        // cos/sin vectors (reused while the position repeats: T along an
        // image or video frame, H along a row of one).
        SmallVector<Value> loopInit(tiles);
        for (auto [i, entry] : llvm::enumerate(axes)) {
          if (invariant[i])
            continue;
          loopInit.push_back(arith::ConstantIntOp::create(nb, nloc, 0, 32));
          Value zeros =
              arith::ConstantOp::create(nb, nloc, nb.getZeroAttr(pieceType));
          loopInit.append(2 * entry.freqPieces.size(), zeros);
        }
        Value one = arith::ConstantIndexOp::create(nb, nloc, 1);
        auto tokenLoop = scf::ForOp::create(
            nb, nloc, zero, count, one, loopInit,
            [&](OpBuilder &tb, Location tloc, Value t, ValueRange loopArgs) {
              ValueRange rows = loopArgs.take_front(2);
              ValueRange carried = loopArgs.drop_front(2);
              SmallVector<Value> carriedNext;
              Value notFirst = arith::CmpIOp::create(
                  tb, tloc, arith::CmpIPredicate::ugt, t, zero);
              // Each axis's cos/sin at this token.
              Value seq = arith::AddIOp::create(tb, tloc, seqStart, t);
              SmallVector<SourceCosSin> values;
              for (size_t i = 0; i < axes.size(); ++i) {
                const CosSinSource &entry = axes[i];
                if (invariant[i]) {
                  values.push_back(*invariant[i]);
                  continue;
                }
                SmallVector<Value> at = {arith::ConstantIndexOp::create(
                    tb, tloc, static_cast<int64_t>(entry.axis))};
                llvm::append_range(at, prefix);
                at.push_back(seq);
                Value position =
                    tensor::ExtractOp::create(tb, tloc, positions, at);
                if (position.getType() != f32)
                  position = arith::SIToFPOp::create(tb, tloc, f32, position);
                // Reused for the same bits only (the same input gives the
                // same cos/sin, so reuse changes no result).
                Value bits = arith::BitcastOp::create(tb, tloc, tb.getI32Type(),
                                                      position);
                const int64_t numPieces = 2 * entry.freqPieces.size();
                SourceCosSin previous;
                previous.positionBits = carried.front();
                previous.assignPieces(carried.slice(1, numPieces));
                carried = carried.drop_front(1 + numPieces);
                SourceCosSin now;
                now.positionBits = bits;
                now.assignPieces(reuseOrCompute(
                    tb, tloc, bits, ReuseCandidate{&previous, notFirst},
                    /*carried=*/{}, [&](OpBuilder &cb, Location cloc) {
                      return cosSinOf(cb, cloc, entry, position).pieces();
                    }));
                carriedNext.push_back(bits);
                llvm::append_range(carriedNext, now.pieces());
                values.push_back(std::move(now));
              }
              // Shared tables: each pair from its axis; head-partitioned:
              // every pair from the row's axis.
              auto tableRows = [&](std::optional<int64_t> rowAxis) {
                return buildTableRows(
                    tb, tloc, values,
                    [&](int64_t pair) {
                      return rowAxis ? std::make_pair(*rowAxis, pair)
                                     : pairAt[pair];
                    },
                    numPairs, neox, width, elementType);
              };
              SmallVector<Value> written(rows);
              auto writeRows = [&](const std::array<Value, 2> &row,
                                   std::optional<int64_t> head) {
                SmallVector<Value> indices(tableRank, zero);
                if (head)
                  indices[prefixRank] =
                      arith::ConstantIndexOp::create(tb, tloc, *head);
                indices[tableRank - 2] = t;
                for (int table = 0; table < 2; ++table)
                  written[table] = vector::TransferWriteOp::create(
                                       tb, tloc, row[table], written[table],
                                       indices, ArrayRef<bool>{true})
                                       .getResult();
              };
              if (!perHead)
                writeRows(tableRows(std::nullopt), std::nullopt);
              // Heads on the same axis have the same rows.
              DenseMap<int64_t, std::array<Value, 2>> rowsOfAxis;
              for (int64_t head = 0; perHead && head < numKV; ++head) {
                auto [it, inserted] = rowsOfAxis.try_emplace(headAxis[head]);
                if (inserted)
                  it->second = tableRows(headAxis[head]);
                writeRows(it->second, head);
              }
              llvm::append_range(written, carriedNext);
              scf::YieldOp::create(tb, tloc, written);
            });

        auto inParallel = scf::InParallelOp::create(nb, nloc);
        OpBuilder::InsertionGuard guard(nb);
        nb.setInsertionPointToStart(inParallel.getBody());
        for (auto [result, out] :
             llvm::zip(tokenLoop.getResults().take_front(2), outs))
          tensor::ParallelInsertSliceOp::create(nb, nloc, result, out, offsets,
                                                sizes, unit);
      });
  return {forall.getResult(0), forall.getResult(1)};
}
