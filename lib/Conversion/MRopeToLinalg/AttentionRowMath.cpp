//===- AttentionRowMath.cpp - q . k of rows over the head dim -------------===//

#include "AttentionRowMath.h"
#include "Common/RotaryMath.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/Dialect/X86Vector/X86VectorDialect.h"
#include "llvm/Support/MathExtras.h"

using namespace mlir;
using namespace mlir::mrope;

namespace {

/// Most lanes of the partial dot products: one AVX-512 vector (two AVX2
/// ones).
constexpr int64_t kDotLanes = 16;

int64_t width(Value v) { return cast<VectorType>(v.getType()).getDimSize(0); }

SmallVector<Value> slices(OpBuilder &b, Location loc, Value row,
                          int64_t lanes) {
  SmallVector<Value> chunks;
  for (int64_t first = 0; first < width(row); first += lanes)
    chunks.push_back(vector::ExtractStridedSliceOp::create(b, loc, row, {first},
                                                           {lanes}, {1}));
  return chunks;
}

} // namespace

SmallVector<Value> mlir::mrope::dotChunks(OpBuilder &b, Location loc,
                                          Value row) {
  const int64_t size = width(row);
  int64_t lanes = kDotLanes;
  while (lanes > 1 && size % lanes != 0)
    lanes /= 2;
  if (lanes == 1 || lanes == size)
    return {row};
  return slices(b, loc, row, lanes);
}

Value mlir::mrope::dotLanes(OpBuilder &b, Location loc, ArrayRef<Value> qChunks,
                            Value kRow) {
  if (width(kRow) % 2 != 0) {
    Value dot = vector::ReductionOp::create(
        b, loc, vector::CombiningKind::ADD,
        arith::MulFOp::create(b, loc, qChunks.front(), kRow),
        /*acc=*/Value(), arith::FastMathFlags::reassoc);
    return vector::BroadcastOp::create(
        b, loc, VectorType::get({1}, dot.getType()), dot);
  }
  SmallVector<Value> kChunks = dotChunks(b, loc, kRow);
  Value acc = arith::MulFOp::create(b, loc, qChunks[0], kChunks[0]);
  for (size_t c = 1; c < qChunks.size(); ++c)
    acc = vector::FMAOp::create(b, loc, qChunks[c], kChunks[c], acc);
  return acc;
}

SmallVector<Value> mlir::mrope::bf16DotChunks(OpBuilder &b, Location loc,
                                              Value row) {
  assert(width(row) % kBF16DotChannels == 0 && "whole vectors of bf16");
  return slices(b, loc, row, kBF16DotChannels);
}

Value mlir::mrope::bf16DotLanes(OpBuilder &b, Location loc,
                                ArrayRef<Value> qChunks, Value kRow) {
  Value acc = arith::ConstantOp::create(
      b, loc,
      b.getZeroAttr(VectorType::get({kBF16DotChannels / 2}, b.getF32Type())));
  for (auto [qChunk, kChunk] :
       llvm::zip_equal(qChunks, bf16DotChunks(b, loc, kRow)))
    acc = x86vector::DotBF16Op::create(b, loc, acc, qChunk, kChunk);
  return acc;
}

SmallVector<OpFoldResult>
mlir::mrope::queryRowLoopSizes(OpBuilder &b, ActivationLayout d,
                               RankedTensorType qType,
                               int64_t headsPerIteration) {
  OpFoldResult heads =
      b.getIndexAttr(qType.getDimSize(d.heads) / headsPerIteration);
  OpFoldResult tokens = b.getIndexAttr(qType.getDimSize(d.seq));
  if (d.packed())
    return {tokens, heads};
  return {b.getIndexAttr(qType.getDimSize(d.batch)), heads, tokens};
}

void mlir::mrope::insertRowsInParallel(OpBuilder &b, Location loc,
                                       ActivationLayout d, ArrayRef<Value> rows,
                                       ArrayRef<Value> heads, Value batch,
                                       Value token, Value dest) {
  SmallVector<Value> rowTensors;
  for (Value row : rows) {
    auto rowType = cast<VectorType>(row.getType());
    Value empty = tensor::EmptyOp::create(b, loc, rowType.getShape(),
                                          rowType.getElementType());
    rowTensors.push_back(
        vector::TransferWriteOp::create(
            b, loc, row, empty,
            ValueRange{arith::ConstantIndexOp::create(b, loc, 0)},
            ArrayRef<bool>{true})
            .getResult());
  }
  auto inParallel = scf::InParallelOp::create(b, loc);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(inParallel.getBody());
  SmallVector<OpFoldResult> unit(d.rank, b.getIndexAttr(1)),
      sizes(d.rank, b.getIndexAttr(1));
  sizes.back() =
      b.getIndexAttr(cast<VectorType>(rows.front().getType()).getDimSize(0));
  for (auto [rowTensor, head] : llvm::zip_equal(rowTensors, heads)) {
    SmallVector<OpFoldResult> offsets(d.rank, b.getIndexAttr(0));
    if (!d.packed())
      offsets[d.batch] = batch;
    offsets[d.heads] = head;
    offsets[d.seq] = token;
    tensor::ParallelInsertSliceOp::create(b, loc, rowTensor, dest, offsets,
                                          sizes, unit);
  }
}

OnlineSoftmaxStep mlir::mrope::buildOnlineSoftmaxStep(OpBuilder &b,
                                                      Location loc, Value block,
                                                      Value m, Value sum,
                                                      Value acc) {
  auto blockType = cast<VectorType>(block.getType());
  auto rowType = cast<VectorType>(acc.getType());
  Value blockMax = vector::ReductionOp::create(
      b, loc, vector::CombiningKind::MAXIMUMF, block);
  Value mNew = arith::MaximumFOp::create(b, loc, m, blockMax);
  Value corr =
      buildExpOfNonPositive(b, loc, arith::SubFOp::create(b, loc, m, mNew));
  Value weights = buildExpOfNonPositive(
      b, loc,
      arith::SubFOp::create(
          b, loc, block, vector::BroadcastOp::create(b, loc, blockType, mNew)));
  Value sumNew = arith::AddFOp::create(
      b, loc, arith::MulFOp::create(b, loc, sum, corr),
      vector::ReductionOp::create(b, loc, vector::CombiningKind::ADD, weights,
                                  Value(), arith::FastMathFlags::reassoc));
  Value accScaled = arith::MulFOp::create(
      b, loc, acc, vector::BroadcastOp::create(b, loc, rowType, corr));
  return {mNew, sumNew, accScaled, weights};
}

void LaneSums::add(Value partial) {
  Folded next{partial, width(partial)};
  while (!folded.empty() && next.lanesPerInput > 1 &&
         folded.back().lanesPerInput == next.lanesPerInput) {
    next = {evensOdds(folded.back().value, next.value, width(partial)),
            next.lanesPerInput / 2};
    folded.pop_back();
  }
  folded.push_back(next);
  ++count;
}

Value LaneSums::finish() {
  assert(llvm::isPowerOf2_64(count) && "a power of two of partials");
  int64_t lanes = width(folded.front().value);
  if (folded.size() > 1) {
    SmallVector<Value> sums;
    for (const Folded &f : folded)
      for (int64_t lane = 0; lane < lanes; ++lane)
        sums.push_back(vector::ExtractOp::create(b, loc, f.value, lane));
    return vector::FromElementsOp::create(
        b, loc, VectorType::get({int64_t(sums.size())}, b.getF32Type()), sums);
  }
  Value last = folded.front().value;
  while (lanes > count) {
    lanes /= 2;
    last = evensOdds(last, last, lanes);
  }
  return last;
}

Value LaneSums::evensOdds(Value x, Value y, int64_t count) {
  SmallVector<int64_t> evens, odds;
  for (int64_t i = 0; i < count; ++i) {
    evens.push_back(2 * i);
    odds.push_back(2 * i + 1);
  }
  return arith::AddFOp::create(b, loc,
                               vector::ShuffleOp::create(b, loc, x, y, evens),
                               vector::ShuffleOp::create(b, loc, x, y, odds))
      .getResult();
}
