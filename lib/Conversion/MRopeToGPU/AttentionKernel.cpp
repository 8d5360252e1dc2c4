//===- AttentionKernel.cpp - mrope.attention as a flash-attention kernel --===//
//
// A marked mrope.attention bufferizes into one flash-attention kernel on
// tensor cores (mma.sync m16n8k16, sm_80 and later), preceded, when the op
// rotates its keys, by the rotary kernel on a copy of k: every key is rotated
// once, not once per query tile. Queries are rotated in registers when the
// kernel loads them.
//
// One CTA (4 warps, 128 threads) computes 64 rows of one KV head of one
// batch entry or packed sequence, a row being a (query head of the KV head's
// GQA group, token) pair, head-major: all rows of a tile read the same keys,
// so decode's few tokens of a whole group share one pass over the cache.
// Each warp owns 16 rows, keeps them as mma A fragments of Q for the whole
// kernel, and walks the keys in blocks of 64 that the CTA stages in shared
// memory:
//
//   S = Q K^T   ldmatrix of K rows (B fragments), mma into 8 tiles of 16x8
//   softmax     online, in the accumulator layout: a thread holds 2 rows
//               (g and g + 8 of its 16) and 2 adjacent keys per tile; row
//               max/sum over the 4 threads of a row by two xor shuffles;
//               exp2 with log2(e) folded into the scale
//   O += P V    P as A fragments straight from the S accumulators (the C
//               layout of m16n8 is the A layout of m16k16), V by
//               ldmatrix.trans
//
// f32 activations keep f32 accuracy on tensor cores by 3xTF32: each operand
// is split into a tf32 `big` part and a tf32 `small` rest, and a product is
// big*small + small*big + big*big (mma.sync m16n8k8 .tf32, three per tile;
// the small*small term, ~2^-22 relative, is dropped). The fragments differ
// from the 16-bit ones: the k index of a tf32 A register is t or t + 4, the
// C layout holds columns 2t and 2t + 1. The contraction dimensions are
// permuted so that no value moves between lanes -- mma k index t stands for
// channel (key) 2t, t + 4 for 2t + 1 -- so Q is loaded as float2 pairs, K
// as float2 from shared memory, P taken from the S accumulators as they are,
// and V read by scalar shared loads of keys 2t and 2t + 1. Key blocks are
// 32 keys (one stage of K and V fits the 48 KB of static shared memory at
// head dim 128); K rows are padded by 8 floats and V rows by 4, so that
// those loads are free of bank conflicts.
//
// Blocks entirely visible to every row of the tile run without bound checks;
// the rest (causal diagonal, partial last block) compare key indices.
// Softmax follows the CPU lowerings (AttentionRowMath): rows that see no key
// are 0. P is rounded to the activation type for the P V product, as
// flash-attention kernels do (the CPU lowerings keep it in f32).
//
//===----------------------------------------------------------------------===//

#include "Common/AttentionMath.h"
#include "Common/RotaryMath.h"
#include "GPUKernels.h"
#include "mrope/Conversion/MRopeToGPU/MRopeToGPU.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/BufferizableOpInterface.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

#include <cmath>
#include <limits>

using namespace mlir;
using namespace mlir::mrope;

namespace {

constexpr int64_t kWarps = 4;
/// Query rows per warp: the M of mma.sync m16n8k16.
constexpr int64_t kWarpRows = 16;
constexpr int64_t kTileRows = kWarps * kWarpRows;
constexpr int64_t kThreads = kWarps * 32;
/// Keys staged in shared memory per step: 16-bit activations, f32.
constexpr int64_t kBlockKeys = 64;
constexpr int64_t kBlockKeysTF32 = 32;
/// Row padding of the staged blocks (elements). 16-bit: rows 16 bytes apart
/// modulo 128 bytes, so the 8 rows one ldmatrix phase reads hit distinct
/// banks. f32 K: rows 8 words apart modulo 32 banks, so a half-warp's float2
/// loads (keys g, channels 2t, 2t + 1) are conflict-free; f32 V: 4 words,
/// so the scalar loads of keys 2t and 2t + 1 at channel g are.
constexpr int64_t kRowPad = 8;
constexpr int64_t kValueRowPadTF32 = 4;
/// 3xTF32: a tf32 value is an f32 with the low 13 mantissa bits zero.
constexpr int32_t kTF32Mask = ~0x1fff;
/// Split-KV: below this many CTAs (two waves of a 132-SM H100) the key
/// ranges are split, each range at least kMinSplitKeys keys.
constexpr int64_t kTargetCTAs = 264;
constexpr int64_t kMinSplitKeys = 512;
/// Threads per CTA of the kernel that combines split-KV partials.
constexpr int64_t kCombineThreads = 256;
/// Largest head dim: Q fragments (D / 4 registers) and the output
/// accumulators (Dv / 2) must stay in registers.
constexpr int64_t kMaxHeadDim = 128;

/// The buffers of one attention kernel.
struct AttentionBuffers {
  Value q, k, v, mask, cuSeqlens, kvCuSeqlens, blockTable, qPositions,
      kPositions, invFreq, out;
  /// Split-KV: each range's unnormalized rows, then their m and l
  /// ([batch, split, KV head, row, Dv + 4], f32: rows padded to 16 bytes for
  /// the combine kernel's vector loads); a temporary.
  Value partials;

  /// Every buffer, the output first (null for absent operands).
  std::array<Value *, 11> fields() {
    return {&out,        &q,          &k,           &v,
            &mask,       &cuSeqlens,  &kvCuSeqlens, &blockTable,
            &qPositions, &kPositions, &invFreq};
  }
};

/// Four f32 accumulators of one 16x8 mma tile, as the thread holds them:
/// (row g, col 2t), (row g, col 2t + 1), (row g + 8, col 2t), (row g + 8,
/// col 2t + 1) for lane = 4 g + t.
using Tile = std::array<Value, 4>;

/// 3xTF32 operands: the big and the small tf32 parts of each register.
struct SplitOperands {
  SmallVector<Value> big, small;
};

class AttentionKernelBuilder {
public:
  AttentionKernelBuilder(AttentionOp op, int64_t stages, int64_t splitsOpt)
      : op(op), loc(op.getLoc()), layout(ActivationLayout::get(op.getLayout())),
        stages(stages), splitsOpt(splitsOpt) {}

  LogicalResult plan();
  void emit(OpBuilder &b, AttentionBuffers buffers, Placement placement);

private:
  Value index(OpBuilder &b, int64_t v) {
    return arith::ConstantIndexOp::create(b, loc, v);
  }
  Value f32(OpBuilder &b, double v) {
    return arith::ConstantOp::create(b, loc, b.getF32FloatAttr(v));
  }
  Value i32(OpBuilder &b, int64_t v) {
    return arith::ConstantOp::create(b, loc, b.getI32IntegerAttr(v));
  }
  Value add(OpBuilder &b, Value x, Value y) {
    return arith::AddIOp::create(b, loc, x, y);
  }
  Value add(OpBuilder &b, Value x, int64_t y) {
    return y == 0 ? x : add(b, x, index(b, y));
  }
  Value mul(OpBuilder &b, Value x, int64_t y) {
    return arith::MulIOp::create(b, loc, x, index(b, y));
  }
  Value minIndex(OpBuilder &b, Value x, Value y) {
    return arith::MinSIOp::create(b, loc, x, y);
  }

  void launch(OpBuilder &b, const AttentionBuffers &buffers);
  void buildKernel(OpBuilder &b, gpu::LaunchOp launch);
  /// The row of k and v holding row `key` of the key space: `key`, or a
  /// paged cache's block_table[key / (M P), key % (M P) / P] * P + key % P,
  /// the page id clamped to the pool.
  Value keyRow(OpBuilder &b, Value key);
  SmallVector<Value> activationIndex(OpBuilder &b, Value token, Value head,
                                     Value channel);
  SmallVector<SmallVector<Value>> loadQueryFragments(OpBuilder &b);
  void rotateQueryFragments(OpBuilder &b,
                            SmallVector<SmallVector<Value>> &frags);
  Value queryPositions(OpBuilder &b, int row, Value pairIndex);
  Value mmaOperand(OpBuilder &b, Value pair);
  Tile mma(OpBuilder &b, ArrayRef<Value> a, ArrayRef<Value> bFrag,
           const Tile &c);
  /// f32 activations: mma.sync on tensor cores with tf32 operands.
  bool tf32() const { return elementType.isF32(); }
  /// 3xTF32: the big and small tf32 parts (i32 registers) of f32 values.
  SplitOperands splitTF32(OpBuilder &b, ArrayRef<Value> values);
  /// c + a b by 3xTF32: three mma.sync m16n8k8, the small terms first.
  Tile mmaTF32(OpBuilder &b, const SplitOperands &a, const SplitOperands &bFrag,
               Tile c);
  SmallVector<Value> stageBlock(OpBuilder &b, Value keyBase, Value src,
                                Value tile, int64_t dim);
  std::pair<Value, Value> stageTiles(OpBuilder &b, Value stage);
  Value issueBlock(OpBuilder &b, Value kb);
  MemRefType tileType(int64_t dim, bool values);
  int64_t tileBytes(int64_t dim, bool values);
  SmallVector<Value> keyBlock(OpBuilder &b, Value kb, ValueRange carried,
                              bool checkBounds);
  void storeOutput(OpBuilder &b, ValueRange carried);
  void storePartials(OpBuilder &b, ValueRange carried);
  void combinePartials(OpBuilder &b);
  MemRefType partialsType();
  /// `buffer` (on the device) set to 0 before the kernels run.
  void fillZero(OpBuilder &b, Value buffer);
  /// The partials' batch entries: packed rows are indexed by token, one.
  int64_t partialBatches() const { return layout.packed() ? 1 : batches; }
  Value quadSum(OpBuilder &b, Value v);

  AttentionOp op;
  Location loc;
  ActivationLayout layout;
  /// 1: each block staged synchronously into static shared tiles; 2: the
  /// next block copied by cp.async into the other half of dynamic shared
  /// memory while the current one is computed.
  int64_t stages;
  /// The attention-splits option (0: automatic).
  int64_t splitsOpt;

  // The plan.
  Type elementType;
  int64_t headDim = 0, valueDim = 0, qHeads = 0, kvHeads = 0, group = 1;
  int64_t qSeq = 0, kvSeq = 0, batches = 0, qTiles = 0;
  /// Split-KV: key ranges per (tile, KV head, sequence), each a CTA's share
  /// of the key blocks its rows see.
  int64_t splits = 1;
  /// Keys per staged block.
  int64_t blockKeys = kBlockKeys;
  double scaleLog2 = 0;
  bool causal = false;

  // Values of the kernel being built.
  AttentionBuffers buf;
  Value kTile, vTile; // stages == 1
  Value sharedBase;   // stages == 2: dynamic shared memory (bytes)
  Value blockCount;   // the end of this CTA's key blocks
  Value split;        // split-KV: this CTA's key range
  Value tid, lane, g, t, warp, kvHead, batch;
  Value qBase, kBase, qLen, kLen, offset, firstRow;
  Value pageTable; // a paged cache's block_table, else null
  /// The thread's two rows (g and g + 8 of its warp's 16): whether they
  /// exist, and their query head and token (clamped to the last row, so
  /// that loads stay in bounds).
  std::array<Value, 2> rowValid, headOf, loadRow;
  /// Q's A fragments: [k-step of 16 channels][4] mma operands (16-bit
  /// activations), or [k-step of 8 channels] its 3xTF32 parts (f32).
  SmallVector<SmallVector<Value>> qFrags;
  SmallVector<SplitOperands> qSplit;
  DenseMap<std::pair<int, int>, Value> positionCache;
};

LogicalResult AttentionKernelBuilder::plan() {
  auto qType = cast<RankedTensorType>(op.getQ().getType());
  auto kType = cast<RankedTensorType>(op.getK().getType());
  auto vType = cast<RankedTensorType>(op.getV().getType());
  elementType = qType.getElementType();
  if (!elementType.isBF16() && !elementType.isF16() && !elementType.isF32())
    return op.emitOpError("the GPU attention kernel runs on tensor cores and "
                          "needs bf16, f16 or f32 activations, got ")
           << elementType;
  blockKeys = tf32() ? kBlockKeysTF32 : kBlockKeys;
  headDim = qType.getShape().back();
  valueDim = vType.getShape().back();
  for (auto [name, dim] : {std::pair<StringRef, int64_t>{"q/k", headDim},
                           std::pair<StringRef, int64_t>{"v", valueDim}})
    if (dim % 16 != 0 || dim > kMaxHeadDim)
      return op.emitOpError("the GPU attention kernel needs a ")
             << name << " head_dim that is a multiple of 16 and at most "
             << kMaxHeadDim << ", got " << dim;
  qHeads = qType.getDimSize(layout.heads);
  kvHeads = kType.getDimSize(layout.heads);
  group = qHeads / kvHeads;
  qSeq = qType.getDimSize(layout.seq);
  // Rows of the key space (a paged cache's: its sequences' page slots).
  kvSeq = op.getKeyRows();
  batches = op.getNumSequences();
  causal = op.getCausal();
  scaleLog2 = op.getEffectiveScale() * M_LOG2E;
  if (qSeq < 1 || kvSeq < 1 || batches < 1 || qHeads < 1)
    return op.emitOpError("the GPU attention kernel needs at least one query, "
                          "key, sequence and head");
  qTiles = (group * qSeq + kTileRows - 1) / kTileRows;
  // Split-KV when the grid would leave the GPU idle (decode). Packed
  // sequences have runtime lengths: the CTAs that do work are at most one
  // partial tile per sequence more than a whole tiling of the tokens, and a
  // sequence has the average of the keys.
  const int64_t liveCTAs =
      kvHeads * (layout.packed() ? qTiles + batches - 1 : qTiles * batches);
  const int64_t sequenceKeys = layout.packed() ? kvSeq / batches : kvSeq;
  splits = 1;
  if (splitsOpt > 0)
    splits = splitsOpt;
  else if (liveCTAs * 2 <= kTargetCTAs && sequenceKeys >= 2 * kMinSplitKeys)
    splits = std::min((kTargetCTAs + liveCTAs - 1) / liveCTAs,
                      sequenceKeys / kMinSplitKeys);
  // As many ranges as a sequence's blocks fill (the last may be shorter).
  const int64_t keyBlocks =
      std::max<int64_t>(1, (sequenceKeys + blockKeys - 1) / blockKeys);
  const int64_t blocksPerSplit = (keyBlocks + std::min(splits, keyBlocks) - 1) /
                                 std::min(splits, keyBlocks);
  splits = (keyBlocks + blocksPerSplit - 1) / blocksPerSplit;
  if (qTiles >= (int64_t(1) << 31) || kvHeads > 65535 ||
      batches * splits > 65535)
    return op.emitOpError("too large for one GPU launch (grid ")
           << qTiles << " x " << kvHeads << " x " << batches * splits << ")";
  if (op.getQPositions()) {
    RotaryAttr rotary = *op.getRotary();
    int64_t rotaryDim = rotary.getRotaryDim();
    // A thread holds channels 2t, 2t + 1, 2t + 8, 2t + 9 of every 16: both
    // members of a pair must be among them.
    bool neox = rotary.getPairs() == PairLayout::NeoX;
    if (neox ? rotaryDim % 32 != 0 : rotaryDim % 16 != 0)
      return op.emitOpError("the GPU attention kernel rotates queries in "
                            "registers and needs rotary_dim to be a multiple "
                            "of ")
             << (neox ? 32 : 16) << " for " << (neox ? "neox" : "gptj")
             << " pairs, got " << rotaryDim;
  }
  return success();
}

Value AttentionKernelBuilder::keyRow(OpBuilder &b, Value key) {
  if (!pageTable)
    return key;
  const int64_t pageSize = *op.getPageSize();
  const int64_t slots = kvSeq / batches;
  const int64_t pages =
      cast<RankedTensorType>(op.getK().getType()).getDimSize(0) / pageSize;
  Value slot = arith::RemUIOp::create(b, loc, key, index(b, slots));
  Value page = arith::IndexCastOp::create(
      b, loc, b.getIndexType(),
      memref::LoadOp::create(
          b, loc, pageTable,
          ValueRange{
              arith::DivUIOp::create(b, loc, key, index(b, slots)),
              arith::DivUIOp::create(b, loc, slot, index(b, pageSize))}));
  page = minIndex(b, arith::MaxSIOp::create(b, loc, page, index(b, 0)),
                  index(b, pages - 1));
  return add(b, mul(b, page, pageSize),
             arith::RemUIOp::create(b, loc, key, index(b, pageSize)));
}

SmallVector<Value> AttentionKernelBuilder::activationIndex(OpBuilder &b,
                                                           Value token,
                                                           Value headIdx,
                                                           Value channel) {
  SmallVector<Value> idx(layout.rank);
  if (!layout.packed())
    idx[layout.batch] = batch;
  idx[layout.seq] = token;
  idx[layout.heads] = headIdx;
  idx[layout.rank - 1] = channel;
  return idx;
}

/// The mma.sync operand of two adjacent activation values: the pair itself
/// for f16, its 32 bits for bf16 (NVVM's bf16 mma takes i32 registers).
Value AttentionKernelBuilder::mmaOperand(OpBuilder &b, Value pair) {
  if (elementType.isF16())
    return pair;
  Value word = vector::BitCastOp::create(
      b, loc, VectorType::get({1}, b.getI32Type()), pair);
  return vector::ExtractOp::create(b, loc, word, ArrayRef<int64_t>{0});
}

Tile AttentionKernelBuilder::mma(OpBuilder &b, ArrayRef<Value> a,
                                 ArrayRef<Value> bFrag, const Tile &c) {
  Type f32Type = b.getF32Type();
  auto resultType = LLVM::LLVMStructType::getLiteral(
      b.getContext(), {f32Type, f32Type, f32Type, f32Type});
  NVVM::MMATypes ptx =
      elementType.isF16() ? NVVM::MMATypes::f16 : NVVM::MMATypes::bf16;
  auto op = NVVM::MmaOp::create(
      b, loc, resultType, a, bFrag, ArrayRef<Value>(c), {16, 8, 16},
      std::nullopt, std::nullopt, std::array<NVVM::MMATypes, 2>{ptx, ptx},
      std::array<NVVM::MMALayout, 2>{NVVM::MMALayout::row,
                                     NVVM::MMALayout::col});
  Tile d;
  for (int64_t i = 0; i < 4; ++i)
    d[i] = LLVM::ExtractValueOp::create(b, loc, op, ArrayRef<int64_t>{i});
  return d;
}

SplitOperands AttentionKernelBuilder::splitTF32(OpBuilder &b,
                                                ArrayRef<Value> values) {
  Type i32Type = b.getI32Type();
  Value mask = i32(b, kTF32Mask);
  SplitOperands parts;
  for (Value x : values) {
    // big: x rounded to tf32 (to nearest, ties away from zero: adding half
    // an ulp of tf32 to the bits carries into the exponent as it should);
    // small: the exact rest x - big, truncated to tf32. (Only values
    // within half a tf32 ulp of FLT_MAX round to inf.)
    Value bits = arith::BitcastOp::create(b, loc, i32Type, x);
    Value big = arith::AndIOp::create(
        b, loc, arith::AddIOp::create(b, loc, bits, i32(b, 0x1000)), mask);
    Value rest = arith::SubFOp::create(
        b, loc, x, arith::BitcastOp::create(b, loc, b.getF32Type(), big));
    parts.big.push_back(big);
    parts.small.push_back(arith::AndIOp::create(
        b, loc, arith::BitcastOp::create(b, loc, i32Type, rest), mask));
  }
  return parts;
}

Tile AttentionKernelBuilder::mmaTF32(OpBuilder &b, const SplitOperands &a,
                                     const SplitOperands &bFrag, Tile c) {
  Type f32Type = b.getF32Type();
  auto resultType = LLVM::LLVMStructType::getLiteral(
      b.getContext(), {f32Type, f32Type, f32Type, f32Type});
  auto product = [&](ArrayRef<Value> x, ArrayRef<Value> y) {
    auto op =
        NVVM::MmaOp::create(b, loc, resultType, x, y, ArrayRef<Value>(c),
                            {16, 8, 8}, std::nullopt, std::nullopt,
                            std::array<NVVM::MMATypes, 2>{NVVM::MMATypes::tf32,
                                                          NVVM::MMATypes::tf32},
                            std::array<NVVM::MMALayout, 2>{
                                NVVM::MMALayout::row, NVVM::MMALayout::col});
    for (int64_t i = 0; i < 4; ++i)
      c[i] = LLVM::ExtractValueOp::create(b, loc, op, ArrayRef<int64_t>{i});
  };
  product(a.small, bFrag.big);
  product(a.big, bFrag.small);
  product(a.big, bFrag.big);
  return c;
}

/// This thread's Q values as A fragments, one set of 4 pairs per 16
/// channels: (row g, ch 2t), (row g + 8, ch 2t), (row g, ch 2t + 8),
/// (row g + 8, ch 2t + 8), each pair the channel and the next.
SmallVector<SmallVector<Value>>
AttentionKernelBuilder::loadQueryFragments(OpBuilder &b) {
  auto pairType = VectorType::get({2}, elementType);
  Value channelBase = mul(b, t, 2);
  SmallVector<SmallVector<Value>> frags;
  for (int64_t ks = 0; ks < headDim / 16; ++ks) {
    SmallVector<Value> slots;
    for (int slot = 0; slot < 4; ++slot) {
      Value channel = add(b, channelBase, 16 * ks + 8 * (slot / 2));
      slots.push_back(vector::LoadOp::create(
          b, loc, pairType, buf.q,
          activationIndex(b, add(b, qBase, loadRow[slot % 2]), headOf[slot % 2],
                          channel),
          /*nontemporal=*/false,
          llvm::MaybeAlign(elementType.getIntOrFloatBitWidth() / 4)));
    }
    frags.push_back(slots);
  }
  return frags;
}

/// The positions of query row `row` (0: g, 1: g + 8) for the pairs
/// `pairIndex` (vector of i32): the allocation's axis per pair, or the
/// axis of this head's KV head for head-partitioned allocations.
Value AttentionKernelBuilder::queryPositions(OpBuilder &b, int row,
                                             Value pairIndex) {
  auto vecType = VectorType::get(
      cast<VectorType>(pairIndex.getType()).getShape(), b.getF32Type());
  auto positionOf = [&](Axis axis) -> Value {
    if (axis == Axis::NoPE)
      return arith::ConstantOp::create(b, loc, b.getZeroAttr(vecType));
    auto key = std::make_pair(row, static_cast<int>(axis));
    Value p = positionCache.lookup(key);
    if (!p) {
      Value posBuf = readInKernel(b, loc, buf.qPositions, Placement::Device);
      SmallVector<Value> idx = {index(b, static_cast<int64_t>(axis))};
      if (!layout.packed())
        idx.push_back(batch);
      idx.push_back(add(b, qBase, loadRow[row]));
      p = memref::LoadOp::create(b, loc, posBuf, idx);
      // Integer positions convert like the reference's `.float()`.
      if (!p.getType().isF32())
        p = arith::SIToFPOp::create(b, loc, b.getF32Type(), p);
      positionCache[key] = p;
    }
    return vector::BroadcastOp::create(b, loc, vecType, p);
  };
  AllocationAttr alloc = op.getRotary()->getAlloc();
  if (!alloc.isHeadPartitioned())
    return selectPairPositions(b, loc, alloc,
                               op.getRotary()->getRotaryDim() / 2, pairIndex,
                               positionOf);
  SmallVector<HeadBlock> blocks = headBlocks(alloc, kvHeads);
  Value pos = positionOf(blocks.front().axis);
  for (const HeadBlock &block : ArrayRef(blocks).drop_front()) {
    Value in = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::uge, kvHead,
                                     index(b, block.firstKVHead));
    pos = arith::SelectOp::create(b, loc, in, positionOf(block.axis), pos);
  }
  return pos;
}

/// Rotates the Q fragments in registers, with the rotary kernel's arithmetic
/// (RotaryMath): the thread holds both members of each of its pairs.
void AttentionKernelBuilder::rotateQueryFragments(
    OpBuilder &b, SmallVector<SmallVector<Value>> &frags) {
  RotaryAttr rotary = *op.getRotary();
  const int64_t rotaryDim = rotary.getRotaryDim();
  const bool neox = rotary.getPairs() == PairLayout::NeoX;
  const bool widen = elementType.isBF16();
  Type f32Type = b.getF32Type();
  Type roundTo = widen ? elementType : Type();
  Value freqBuf = readInKernel(b, loc, buf.invFreq, Placement::Device);
  Value tI32 = arith::IndexCastOp::create(b, loc, b.getI32Type(), t);

  // Pair indices first + offsets[i] and their inv_freq: one per k-step,
  // shared by the thread's two rows.
  struct Pairs {
    Value index, freqs;
  };
  auto pairsAt = [&](Value firstPair, ArrayRef<int32_t> offsets) -> Pairs {
    auto i32Vec = VectorType::get({int64_t(offsets.size())}, b.getI32Type());
    Value index = arith::AddIOp::create(
        b, loc, vector::BroadcastOp::create(b, loc, i32Vec, firstPair),
        arith::ConstantOp::create(b, loc,
                                  DenseElementsAttr::get(i32Vec, offsets)));
    SmallVector<Value> freqs;
    for (int32_t off : offsets)
      freqs.push_back(memref::LoadOp::create(
          b, loc, freqBuf,
          ValueRange{arith::IndexCastOp::create(
              b, loc, b.getIndexType(),
              arith::AddIOp::create(b, loc, firstPair, i32(b, off)))}));
    return {index, vector::FromElementsOp::create(b, loc, i32Vec.clone(f32Type),
                                                  freqs)};
  };
  // Rotates (x1[i], x2[i]) of row `row` (0: g, 1: g + 8) for `pairs`.
  auto rotate = [&](int row, const Pairs &pairs, Value x1,
                    Value x2) -> std::pair<Value, Value> {
    auto f32Vec = cast<VectorType>(pairs.freqs.getType());
    auto [c, s] =
        buildRotaryCosSin(b, loc, queryPositions(b, row, pairs.index),
                          pairs.freqs, rotary.getAngles(),
                          rotary.getAttentionScaling(), SinCosLowering::Torch);
    std::tie(c, s) = roundCosSin(b, loc, c, s, f32Vec.clone(elementType),
                                 /*inverse=*/false);
    if (widen) {
      c = arith::ExtFOp::create(b, loc, f32Vec, c);
      s = arith::ExtFOp::create(b, loc, f32Vec, s);
      x1 = arith::ExtFOp::create(b, loc, f32Vec, x1);
      x2 = arith::ExtFOp::create(b, loc, f32Vec, x2);
    }
    auto [y1, y2] = rotatePair(b, loc, x1, x2, c, s, roundTo);
    if (widen) {
      y1 = arith::TruncFOp::create(b, loc, f32Vec.clone(elementType), y1);
      y2 = arith::TruncFOp::create(b, loc, f32Vec.clone(elementType), y2);
    }
    return {y1, y2};
  };
  auto shuffle = [&](Value x, Value y, ArrayRef<int64_t> mask) -> Value {
    return vector::ShuffleOp::create(b, loc, x, y, mask);
  };

  if (neox) {
    // Pair j < rotary_dim / 2 is channels j and j + rotary_dim / 2: the
    // same slots of k-steps ks and ks + rotary_dim / 32.
    const int64_t partner = rotaryDim / 32;
    for (int64_t ks = 0; ks < partner; ++ks) {
      Pairs pairs =
          pairsAt(arith::AddIOp::create(
                      b, loc, arith::MulIOp::create(b, loc, tI32, i32(b, 2)),
                      i32(b, 16 * ks)),
                  {0, 1, 8, 9});
      SmallVector<Value> &lo = frags[ks], &hi = frags[ks + partner];
      for (int row = 0; row < 2; ++row) {
        auto [y1, y2] =
            rotate(row, pairs, shuffle(lo[row], lo[row + 2], {0, 1, 2, 3}),
                   shuffle(hi[row], hi[row + 2], {0, 1, 2, 3}));
        lo[row] = shuffle(y1, y1, {0, 1});
        lo[row + 2] = shuffle(y1, y1, {2, 3});
        hi[row] = shuffle(y2, y2, {0, 1});
        hi[row + 2] = shuffle(y2, y2, {2, 3});
      }
    }
    return;
  }
  // GPT-J: pair j is channels 2j and 2j + 1, so each slot holds one pair.
  for (int64_t ks = 0; ks < rotaryDim / 16; ++ks) {
    Pairs pairs =
        pairsAt(arith::AddIOp::create(b, loc, tI32, i32(b, 8 * ks)), {0, 4});
    SmallVector<Value> &slots = frags[ks];
    for (int row = 0; row < 2; ++row) {
      auto [y1, y2] =
          rotate(row, pairs, shuffle(slots[row], slots[row + 2], {0, 2}),
                 shuffle(slots[row], slots[row + 2], {1, 3}));
      slots[row] = shuffle(y1, y2, {0, 2});
      slots[row + 2] = shuffle(y1, y2, {1, 3});
    }
  }
}

/// Copies the block of keys from keyBase (clamped to the sequence; the extra
/// rows are masked) of `src` into the shared tile, 16 bytes per access: by
/// vector loads and stores (one stage), or by cp.async (two stages; returns
/// the copies' tokens).
SmallVector<Value> AttentionKernelBuilder::stageBlock(OpBuilder &b,
                                                      Value keyBase, Value src,
                                                      Value tile, int64_t dim) {
  const int64_t chunkElements = 128 / elementType.getIntOrFloatBitWidth();
  const int64_t chunksPerRow = dim / chunkElements;
  auto chunkType = VectorType::get({chunkElements}, elementType);
  Value lastKey = add(b, kLen, -1);
  SmallVector<Value> tokens;
  for (int64_t j = 0; j < blockKeys * chunksPerRow / kThreads; ++j) {
    Value chunk = add(b, tid, kThreads * j);
    Value row = arith::DivUIOp::create(b, loc, chunk, index(b, chunksPerRow));
    Value col =
        mul(b, arith::RemUIOp::create(b, loc, chunk, index(b, chunksPerRow)),
            chunkElements);
    Value key = minIndex(b, add(b, keyBase, row), lastKey);
    SmallVector<Value> from =
        activationIndex(b, keyRow(b, add(b, kBase, key)), kvHead, col);
    if (stages == 2) {
      tokens.push_back(nvgpu::DeviceAsyncCopyOp::create(
          b, loc, nvgpu::DeviceAsyncTokenType::get(b.getContext()), tile,
          ValueRange{row, col}, src, from, b.getIndexAttr(chunkElements),
          /*srcElements=*/Value(), /*bypassL1=*/b.getUnitAttr()));
      continue;
    }
    Value v =
        vector::LoadOp::create(b, loc, chunkType, src, from,
                               /*nontemporal=*/false, llvm::MaybeAlign(16));
    vector::StoreOp::create(b, loc, v, tile, ValueRange{row, col},
                            /*nontemporal=*/false, llvm::MaybeAlign(16));
  }
  return tokens;
}

/// The shared tile of one block of keys (`values`: of v), rows padded.
MemRefType AttentionKernelBuilder::tileType(int64_t dim, bool values) {
  auto workgroup = gpu::AddressSpaceAttr::get(elementType.getContext(),
                                              gpu::AddressSpace::Workgroup);
  const int64_t pad = tf32() && values ? kValueRowPadTF32 : kRowPad;
  return MemRefType::get({blockKeys, dim + pad}, elementType,
                         MemRefLayoutAttrInterface(), workgroup);
}

int64_t AttentionKernelBuilder::tileBytes(int64_t dim, bool values) {
  return tileType(dim, values).getNumElements() *
         elementType.getIntOrFloatBitWidth() / 8;
}

/// The K and V tiles of pipeline stage `stage` (an index).
std::pair<Value, Value> AttentionKernelBuilder::stageTiles(OpBuilder &b,
                                                           Value stage) {
  if (stages == 1)
    return {kTile, vTile};
  const int64_t kBytes = tileBytes(headDim, false);
  Value base = mul(b, stage, kBytes + tileBytes(valueDim, true));
  Value k = memref::ViewOp::create(b, loc, tileType(headDim, false), sharedBase,
                                   base, ValueRange{});
  Value v = memref::ViewOp::create(b, loc, tileType(valueDim, true), sharedBase,
                                   add(b, base, kBytes), ValueRange{});
  return {k, v};
}

/// Two stages: starts copying block kb into stage kb % 2; returns the
/// cp.async group of the copies.
Value AttentionKernelBuilder::issueBlock(OpBuilder &b, Value kb) {
  auto [k, v] =
      stageTiles(b, arith::RemUIOp::create(b, loc, kb, index(b, stages)));
  Value keyBase = mul(b, kb, blockKeys);
  SmallVector<Value> tokens = stageBlock(b, keyBase, buf.k, k, headDim);
  tokens.append(stageBlock(b, keyBase, buf.v, v, valueDim));
  return nvgpu::DeviceAsyncCreateGroupOp::create(
      b, loc, nvgpu::DeviceAsyncTokenType::get(b.getContext()), tokens);
}

/// The rotary kernel that rotates an attention's keys.
RotationSpec keyRotationSpec(AttentionOp op) {
  return {op.getLoc(),
          *op.getRotary(),
          /*inverse=*/false,
          op.getLayout(),
          RankedTensorType(),
          cast<RankedTensorType>(op.getK().getType()),
          ("mrope_rotate_keys_" +
           stringifyAllocationKind(op.getRotary()->getAlloc().getKind()))
              .str()};
}

/// One block of keys: carried = (m0, m1, l0, l1, acc...) -> updated.
SmallVector<Value> AttentionKernelBuilder::keyBlock(OpBuilder &b, Value kb,
                                                    ValueRange carried,
                                                    bool checkBounds) {
  Type f32Type = b.getF32Type();
  const double negInf = -std::numeric_limits<double>::infinity();
  Value keyBase = mul(b, kb, blockKeys);
  // This block's K and V tiles: the static ones, or its stage's.
  Value keys = kTile, values = vTile;
  if (stages == 1) {
    gpu::BarrierOp::create(b, loc); // the previous block's reads are done
    stageBlock(b, keyBase, buf.k, kTile, headDim);
    stageBlock(b, keyBase, buf.v, vTile, valueDim);
    gpu::BarrierOp::create(b, loc);
  } else {
    // Block kb + 1 starts arriving in the other stage (which the previous
    // block read; every thread finished that before the barrier ending it).
    // Then block kb's group -- all but the newest -- is waited for, and the
    // barrier makes every thread's copies visible. The last block commits
    // an empty group, so "all but the newest" still means block kb.
    Type tokenType = nvgpu::DeviceAsyncTokenType::get(b.getContext());
    Value next = add(b, kb, 1);
    auto more = scf::IfOp::create(
        b, loc, TypeRange{tokenType},
        arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt, next,
                              blockCount),
        /*withElseRegion=*/true);
    {
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToStart(more.thenBlock());
      scf::YieldOp::create(b, loc, issueBlock(b, next));
      b.setInsertionPointToStart(more.elseBlock());
      scf::YieldOp::create(b, loc,
                           Value(nvgpu::DeviceAsyncCreateGroupOp::create(
                               b, loc, tokenType, ValueRange{})));
    }
    nvgpu::DeviceAsyncWaitOp::create(b, loc, more.getResult(0),
                                     b.getI32IntegerAttr(1));
    gpu::BarrierOp::create(b, loc);
    std::tie(keys, values) =
        stageTiles(b, arith::RemUIOp::create(b, loc, kb, index(b, stages)));
  }

  auto fragment = [&](Value tile, Value row, Value col, bool transpose) {
    Value frag =
        nvgpu::LdMatrixOp::create(b, loc, VectorType::get({4, 2}, elementType),
                                  tile, ValueRange{row, col}, transpose, 4);
    SmallVector<Value> regs;
    for (int64_t i = 0; i < 4; ++i)
      regs.push_back(mmaOperand(
          b, vector::ExtractOp::create(b, loc, frag, ArrayRef<int64_t>{i})));
    return regs;
  };

  // S = Q K^T: tiles of 8 keys.
  Value zero = f32(b, 0);
  SmallVector<Tile> s(blockKeys / 8, Tile{zero, zero, zero, zero});
  if (tf32()) {
    // B registers (k t, key g), (k t + 4, key g) are channels 2t, 2t + 1 of
    // the k-step's 8: one float2 of key g's row.
    Value channel = mul(b, t, 2);
    auto pairType = VectorType::get({2}, elementType);
    for (int64_t nt = 0; nt < blockKeys / 8; ++nt) {
      for (int64_t kk = 0; kk < headDim / 8; ++kk) {
        Value pair = vector::LoadOp::create(
            b, loc, pairType, keys,
            ValueRange{add(b, g, 8 * nt), add(b, channel, 8 * kk)},
            /*nontemporal=*/false, llvm::MaybeAlign(8));
        SplitOperands f = splitTF32(
            b, {vector::ExtractOp::create(b, loc, pair, ArrayRef<int64_t>{0}),
                vector::ExtractOp::create(b, loc, pair, ArrayRef<int64_t>{1})});
        s[nt] = mmaTF32(b, qSplit[kk], f, s[nt]);
      }
    }
  } else {
    // ldmatrix.x4 lanes 0-7 address keys n..n+7 at channel k, 8-15 the same
    // keys at k + 8, 16-31 keys n+8..n+15: the B fragments of two key tiles
    // for one k-step.
    Value kRow =
        add(b, arith::RemUIOp::create(b, loc, lane, index(b, 8)),
            mul(b, arith::DivUIOp::create(b, loc, lane, index(b, 16)), 8));
    Value kCol =
        mul(b,
            arith::RemUIOp::create(
                b, loc, arith::DivUIOp::create(b, loc, lane, index(b, 8)),
                index(b, 2)),
            8);
    for (int64_t n2 = 0; n2 < blockKeys / 16; ++n2) {
      for (int64_t ks = 0; ks < headDim / 16; ++ks) {
        SmallVector<Value> f =
            fragment(keys, add(b, kRow, 16 * n2), add(b, kCol, 16 * ks), false);
        s[2 * n2] = mma(b, qFrags[ks], {f[0], f[1]}, s[2 * n2]);
        s[2 * n2 + 1] = mma(b, qFrags[ks], {f[2], f[3]}, s[2 * n2 + 1]);
      }
    }
  }

  // Scores in log2 units, masked.
  Value scale = f32(b, scaleLog2);
  Value minusInf = f32(b, negInf);
  Value col0 = add(b, keyBase, mul(b, t, 2));
  auto maskType =
      buf.mask ? cast<MemRefType>(buf.mask.getType()) : MemRefType();
  for (int64_t nt = 0; nt < blockKeys / 8; ++nt) {
    for (int e = 0; e < 4; ++e) {
      const int row = e / 2;
      Value key = add(b, col0, 8 * nt + e % 2);
      Value x = arith::MulFOp::create(b, loc, s[nt][e], scale);
      if (buf.mask) {
        SmallVector<Value> idx = {
            maskType.getDimSize(0) == 1 ? index(b, 0) : batch,
            maskType.getDimSize(1) == 1 ? index(b, 0) : headOf[row],
            loadRow[row], minIndex(b, key, add(b, kLen, -1))};
        Value m = memref::LoadOp::create(b, loc, buf.mask, idx);
        if (m.getType() != f32Type)
          m = arith::ExtFOp::create(b, loc, f32Type, m);
        x = arith::AddFOp::create(
            b, loc, x, arith::MulFOp::create(b, loc, m, f32(b, M_LOG2E)));
      }
      if (checkBounds) {
        Value valid =
            arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt, key, kLen);
        if (causal)
          valid = arith::AndIOp::create(
              b, loc, valid,
              arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sle, key,
                                    add(b, loadRow[row], offset)));
        x = arith::SelectOp::create(b, loc, valid, x, minusInf);
      }
      s[nt][e] = x;
    }
  }

  // Online softmax per row: max over the thread's keys, then over the 4
  // threads of the row (lanes 4g .. 4g + 3).
  auto quadReduce = [&](Value v, bool isMax) {
    for (int64_t xorMask : {1, 2}) {
      Value other = gpu::ShuffleOp::create(b, loc, v, i32(b, xorMask),
                                           i32(b, 32), gpu::ShuffleMode::XOR)
                        .getShuffleResult();
      v = isMax ? Value(arith::MaximumFOp::create(b, loc, v, other))
                : Value(arith::AddFOp::create(b, loc, v, other));
    }
    return v;
  };
  SmallVector<Value> next;
  std::array<Value, 2> alpha;
  SmallVector<Value> newL(2);
  for (int row = 0; row < 2; ++row) {
    Value mOld = carried[row];
    Value rowMax = mOld;
    for (int64_t nt = 0; nt < blockKeys / 8; ++nt)
      for (int e = 2 * row; e < 2 * row + 2; ++e)
        rowMax = arith::MaximumFOp::create(b, loc, rowMax, s[nt][e]);
    Value mNew = quadReduce(rowMax, /*isMax=*/true);
    // Subtract 0 while a row has seen no key (m = -inf), so -inf scores give
    // 0 instead of NaN.
    Value base = arith::SelectOp::create(
        b, loc,
        arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OEQ, mNew,
                              minusInf),
        zero, mNew);
    alpha[row] =
        math::Exp2Op::create(b, loc, arith::SubFOp::create(b, loc, mOld, base));
    Value sum = zero;
    for (int64_t nt = 0; nt < blockKeys / 8; ++nt)
      for (int e = 2 * row; e < 2 * row + 2; ++e) {
        s[nt][e] = math::Exp2Op::create(
            b, loc, arith::SubFOp::create(b, loc, s[nt][e], base));
        sum = arith::AddFOp::create(b, loc, sum, s[nt][e]);
      }
    next.push_back(mNew);
    // The thread's partial row sum; the 4 threads' sums are added at the
    // end (alpha is the same for all of them).
    newL[row] = arith::AddFOp::create(
        b, loc, arith::MulFOp::create(b, loc, carried[2 + row], alpha[row]),
        sum);
  }
  next.append(newL);

  // O = O * alpha + P V. 16-bit: P's A fragment for keys 16j..16j+15 is
  // the S accumulators of key tiles 2j and 2j + 1. ldmatrix.x4.trans lanes
  // 0-15 address keys 16j..16j+15 at channel 16dn, 16-31 at 16dn + 8: the
  // B fragments of two output tiles.
  auto pack = [&](Value x, Value y) {
    Value pair = vector::FromElementsOp::create(
        b, loc, VectorType::get({2}, f32Type), ValueRange{x, y});
    return mmaOperand(b, arith::TruncFOp::create(
                             b, loc, VectorType::get({2}, elementType), pair));
  };
  SmallVector<Tile> acc;
  for (int64_t nt = 0; nt < valueDim / 8; ++nt) {
    Tile tile;
    for (int e = 0; e < 4; ++e)
      tile[e] =
          arith::MulFOp::create(b, loc, carried[4 + 4 * nt + e], alpha[e / 2]);
    acc.push_back(tile);
  }
  if (tf32()) {
    // Per 8 keys: A registers (row g, k t), (g + 8, t), (g, t + 4),
    // (g + 8, t + 4) are keys 2t and 2t + 1 -- the S tile's accumulators
    // 0, 2, 1, 3 -- and B registers keys 2t and 2t + 1 of value channel g.
    Value key = mul(b, t, 2);
    for (int64_t nt = 0; nt < blockKeys / 8; ++nt) {
      SplitOperands p = splitTF32(b, {s[nt][0], s[nt][2], s[nt][1], s[nt][3]});
      for (int64_t dn = 0; dn < valueDim / 8; ++dn) {
        Value channel = add(b, g, 8 * dn);
        SmallVector<Value> v;
        for (int64_t e = 0; e < 2; ++e)
          v.push_back(memref::LoadOp::create(
              b, loc, values, ValueRange{add(b, key, 8 * nt + e), channel}));
        acc[dn] = mmaTF32(b, p, splitTF32(b, v), acc[dn]);
      }
    }
  } else {
    Value vRow = arith::RemUIOp::create(b, loc, lane, index(b, 16));
    Value vCol = mul(b, arith::DivUIOp::create(b, loc, lane, index(b, 16)), 8);
    for (int64_t j = 0; j < blockKeys / 16; ++j) {
      SmallVector<Value> p = {pack(s[2 * j][0], s[2 * j][1]),
                              pack(s[2 * j][2], s[2 * j][3]),
                              pack(s[2 * j + 1][0], s[2 * j + 1][1]),
                              pack(s[2 * j + 1][2], s[2 * j + 1][3])};
      for (int64_t dn = 0; dn < valueDim / 16; ++dn) {
        SmallVector<Value> f =
            fragment(values, add(b, vRow, 16 * j), add(b, vCol, 16 * dn), true);
        acc[2 * dn] = mma(b, p, {f[0], f[1]}, acc[2 * dn]);
        acc[2 * dn + 1] = mma(b, p, {f[2], f[3]}, acc[2 * dn + 1]);
      }
    }
  }
  for (const Tile &tile : acc)
    next.append(tile.begin(), tile.end());
  if (stages == 2) // every thread is done with this stage before it refills
    gpu::BarrierOp::create(b, loc);
  return next;
}

/// Normalizes and stores the thread's two rows (rows past the sequence are
/// skipped; a row that saw no key is 0: buildNormalizedRow, as on the CPU).
void AttentionKernelBuilder::storeOutput(OpBuilder &b, ValueRange carried) {
  auto pairType = VectorType::get({2}, b.getF32Type());
  for (int row = 0; row < 2; ++row) {
    Value sum = quadSum(b, carried[2 + row]);
    auto inRange =
        scf::IfOp::create(b, loc, rowValid[row], /*withElseRegion=*/false);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(inRange.thenBlock());
    Value token = add(b, qBase, loadRow[row]);
    for (int64_t nt = 0; nt < valueDim / 8; ++nt) {
      Value pair = vector::FromElementsOp::create(
          b, loc, pairType,
          ValueRange{carried[4 + 4 * nt + 2 * row],
                     carried[4 + 4 * nt + 2 * row + 1]});
      pair = buildNormalizedRow(b, loc, pair, sum, elementType);
      Value channel = add(b, mul(b, t, 2), 8 * nt);
      vector::StoreOp::create(
          b, loc, pair, buf.out,
          activationIndex(b, token, headOf[row], channel),
          /*nontemporal=*/false,
          llvm::MaybeAlign(elementType.getIntOrFloatBitWidth() / 4));
    }
  }
}

/// The sum of `v` over the 4 lanes that hold one row.
Value AttentionKernelBuilder::quadSum(OpBuilder &b, Value v) {
  for (int64_t xorMask : {1, 2})
    v = arith::AddFOp::create(b, loc, v,
                              gpu::ShuffleOp::create(b, loc, v, i32(b, xorMask),
                                                     i32(b, 32),
                                                     gpu::ShuffleMode::XOR)
                                  .getShuffleResult());
  return v;
}

MemRefType AttentionKernelBuilder::partialsType() {
  // Packed rows are indexed by their token in q: one batch entry.
  return MemRefType::get(
      {partialBatches(), splits, kvHeads, group * qSeq, valueDim + 4},
      Float32Type::get(elementType.getContext()));
}

/// Split-KV: the thread's rows as they are -- acc unnormalized, m (log2
/// units) and l summed over the row's lanes -- for the combine kernel.
void AttentionKernelBuilder::storePartials(OpBuilder &b, ValueRange carried) {
  auto pairType = VectorType::get({2}, b.getF32Type());
  for (int row = 0; row < 2; ++row) {
    Value sum = quadSum(b, carried[2 + row]);
    auto inRange = scf::IfOp::create(b, loc, rowValid[row],
                                     /*withElseRegion=*/false);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(inRange.thenBlock());
    Value token = layout.packed() ? add(b, qBase, loadRow[row]) : loadRow[row];
    Value r = add(
        b,
        mul(b,
            arith::SubIOp::create(b, loc, headOf[row], mul(b, kvHead, group)),
            qSeq),
        token);
    Value entry = layout.packed() ? index(b, 0) : batch;
    auto at = [&](Value channel) {
      return SmallVector<Value>{entry, split, kvHead, r, channel};
    };
    for (int64_t nt = 0; nt < valueDim / 8; ++nt) {
      Value pair = vector::FromElementsOp::create(
          b, loc, pairType,
          ValueRange{carried[4 + 4 * nt + 2 * row],
                     carried[4 + 4 * nt + 2 * row + 1]});
      vector::StoreOp::create(b, loc, pair, buf.partials,
                              at(add(b, mul(b, t, 2), 8 * nt)),
                              /*nontemporal=*/false, llvm::MaybeAlign(8));
    }
    // m and l are the same in the row's 4 lanes: one writes them.
    auto first = scf::IfOp::create(
        b, loc,
        arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, t, index(b, 0)),
        /*withElseRegion=*/false);
    b.setInsertionPointToStart(first.thenBlock());
    memref::StoreOp::create(b, loc, carried[row], buf.partials,
                            at(index(b, valueDim)));
    memref::StoreOp::create(b, loc, sum, buf.partials,
                            at(index(b, valueDim + 1)));
  }
}

/// Split-KV: one thread per 8 output channels of a row combines the
/// ranges: M = max m_s, w_s = 2^(m_s - M), O = sum w_s acc_s / sum w_s l_s
/// over the ranges that saw a key (l_s > 0); 0 for a row that saw none, as
/// on the CPU.
void AttentionKernelBuilder::combinePartials(OpBuilder &b) {
  const int64_t rowsPerKV = group * qSeq, chunks = valueDim / 8;
  const int64_t threads = partialBatches() * kvHeads * rowsPerKV * chunks;
  const int64_t grid = (threads + kCombineThreads - 1) / kCombineThreads;
  Value one = index(b, 1);
  auto launch = gpu::LaunchOp::create(
      b, loc, index(b, grid), one, one, index(b, kCombineThreads), one, one,
      /*dynamicSharedMemorySize=*/nullptr, /*asyncTokenType=*/nullptr,
      /*asyncDependencies=*/{}, /*workgroupAttributions=*/{},
      /*privateAttributions=*/{}, nullptr, nullptr, nullptr,
      FlatSymbolRefAttr::get(b.getContext(), "mrope_attention_combine_module"),
      FlatSymbolRefAttr::get(b.getContext(), "mrope_attention_combine"));
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(&launch.getBody().front());
  Value id = add(b, mul(b, launch.getBlockIds().x, kCombineThreads),
                 launch.getThreadIds().x);
  auto inRange =
      scf::IfOp::create(b, loc,
                        arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult,
                                              id, index(b, threads)),
                        /*withElseRegion=*/false);
  b.setInsertionPointToStart(inRange.thenBlock());
  auto digit = [&](Value &rest, int64_t size) {
    Value d = arith::RemUIOp::create(b, loc, rest, index(b, size));
    rest = arith::DivUIOp::create(b, loc, rest, index(b, size));
    return d;
  };
  Value rest = id;
  Value chunk = digit(rest, chunks), r = digit(rest, rowsPerKV),
        kv = digit(rest, kvHeads);
  Value batchIdx = rest;
  Value channel = mul(b, chunk, 8);
  auto at = [&](int64_t s, Value c) {
    return SmallVector<Value>{batchIdx, index(b, s), kv, r, c};
  };
  Value minusInf = f32(b, -std::numeric_limits<double>::infinity());
  SmallVector<Value> m, l;
  Value maxM = minusInf;
  for (int64_t s = 0; s < splits; ++s) {
    l.push_back(memref::LoadOp::create(b, loc, buf.partials,
                                       at(s, index(b, valueDim + 1))));
    // A range without keys (a packed row's range that no CTA wrote is 0)
    // does not count.
    Value saw = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OGT,
                                      l.back(), f32(b, 0));
    m.push_back(arith::SelectOp::create(
        b, loc, saw,
        memref::LoadOp::create(b, loc, buf.partials, at(s, index(b, valueDim))),
        minusInf));
    maxM = arith::MaximumFOp::create(b, loc, maxM, m.back());
  }
  Value base = arith::SelectOp::create(
      b, loc,
      arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OEQ, maxM, minusInf),
      f32(b, 0), maxM);
  auto vecType = VectorType::get({8}, b.getF32Type());
  Value sum = f32(b, 0);
  Value acc = arith::ConstantOp::create(b, loc, b.getZeroAttr(vecType));
  for (int64_t s = 0; s < splits; ++s) {
    Value w =
        math::Exp2Op::create(b, loc, arith::SubFOp::create(b, loc, m[s], base));
    sum = arith::AddFOp::create(b, loc, sum,
                                arith::MulFOp::create(b, loc, w, l[s]));
    Value part =
        vector::LoadOp::create(b, loc, vecType, buf.partials, at(s, channel),
                               /*nontemporal=*/false, llvm::MaybeAlign(16));
    acc = arith::AddFOp::create(
        b, loc, acc,
        arith::MulFOp::create(b, loc, part,
                              vector::BroadcastOp::create(b, loc, vecType, w)));
  }
  Value row = buildNormalizedRow(b, loc, acc, sum, elementType);
  Value head =
      add(b, mul(b, kv, group),
          arith::DivUIOp::create(b, loc, r, index(b, qSeq)).getResult());
  Value token = arith::RemUIOp::create(b, loc, r, index(b, qSeq));
  batch = batchIdx;
  vector::StoreOp::create(b, loc, row, buf.out,
                          activationIndex(b, token, head, channel),
                          /*nontemporal=*/false, llvm::MaybeAlign(16));
  b.setInsertionPointToEnd(&launch.getBody().front());
  gpu::TerminatorOp::create(b, loc);
}

void AttentionKernelBuilder::buildKernel(OpBuilder &b, gpu::LaunchOp launch) {
  Value tile = launch.getBlockIds().x;
  kvHead = launch.getBlockIds().y;
  Value z = launch.getBlockIds().z;
  tid = launch.getThreadIds().x;
  lane = arith::RemUIOp::create(b, loc, tid, index(b, 32));
  warp = arith::DivUIOp::create(b, loc, tid, index(b, 32));
  g = arith::DivUIOp::create(b, loc, lane, index(b, 4));
  t = arith::RemUIOp::create(b, loc, lane, index(b, 4));

  // The sequence this CTA works on.
  if (layout.packed()) {
    // Boundaries clamped to the tokens, and a decreasing pair taken as an
    // empty sequence: malformed cu_seqlens never index out of bounds.
    auto range = [&](Value bounds, int64_t tokens) -> std::pair<Value, Value> {
      Value cu = readInKernel(b, loc, bounds, Placement::Device);
      auto bound = [&](Value i, Value low) {
        Value c = arith::IndexCastOp::create(
            b, loc, b.getIndexType(),
            memref::LoadOp::create(b, loc, cu, ValueRange{i}));
        return minIndex(b, arith::MaxSIOp::create(b, loc, c, low),
                        index(b, tokens));
      };
      Value first = bound(z, index(b, 0));
      return {first,
              arith::SubIOp::create(b, loc, bound(add(b, z, 1), first), first)};
    };
    batch = Value();
    split = arith::RemUIOp::create(b, loc, z, index(b, splits));
    z = arith::DivUIOp::create(b, loc, z, index(b, splits));
    std::tie(qBase, qLen) = range(buf.cuSeqlens, qSeq);
    if (!buf.kvCuSeqlens) {
      kBase = qBase;
      kLen = qLen;
    } else if (!buf.blockTable) {
      std::tie(kBase, kLen) = range(buf.kvCuSeqlens, kvSeq);
    } else {
      // A paged cache: the sequence's page slots [z M P, (z + 1) M P), as
      // many as it has keys (the difference of its boundaries, clamped).
      const int64_t slots = kvSeq / batches;
      Value cu = readInKernel(b, loc, buf.kvCuSeqlens, Placement::Device);
      auto boundary = [&](Value i) -> Value {
        return arith::IndexCastOp::create(
            b, loc, b.getIndexType(),
            memref::LoadOp::create(b, loc, cu, ValueRange{i}));
      };
      Value length =
          arith::SubIOp::create(b, loc, boundary(add(b, z, 1)), boundary(z));
      kBase = mul(b, z, slots);
      kLen = minIndex(b, arith::MaxSIOp::create(b, loc, length, index(b, 0)),
                      index(b, slots));
      pageTable = readInKernel(b, loc, buf.blockTable, Placement::Device);
    }
  } else {
    batch = arith::DivUIOp::create(b, loc, z, index(b, splits));
    split = arith::RemUIOp::create(b, loc, z, index(b, splits));
    qBase = kBase = index(b, 0);
    qLen = index(b, qSeq);
    kLen = index(b, kvSeq);
  }
  // Causal masking is bottom-right aligned: token i sees keys <= i + offset.
  offset = arith::SubIOp::create(b, loc, kLen, qLen);
  // The CTA's rows are (query head of the KV head's group, token) pairs,
  // head-major: every row of a tile reads the same keys, so the GQA group
  // shares each staged block -- decode's few tokens of all the group's heads
  // fill one tile and read the cache once.
  Value rows = mul(b, qLen, group);
  firstRow = mul(b, tile, kTileRows);
  // Packed sequences are shorter than the grid's tiles, and one may be
  // empty: such CTAs (whole CTAs, so the barriers stay uniform) exit.
  auto live = scf::IfOp::create(
      b, loc,
      arith::AndIOp::create(
          b, loc,
          arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt, firstRow,
                                rows),
          arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sgt, kLen,
                                index(b, 0))),
      /*withElseRegion=*/false);
  b.setInsertionPointToStart(live.thenBlock());

  Value warpRow = add(b, add(b, firstRow, mul(b, warp, kWarpRows)), g);
  Value lastRow = add(b, rows, -1);
  Value firstHead = mul(b, kvHead, group);
  for (int row = 0; row < 2; ++row) {
    Value r = add(b, warpRow, 8 * row);
    rowValid[row] =
        arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt, r, rows);
    r = minIndex(b, r, lastRow);
    headOf[row] =
        add(b, firstHead, arith::DivUIOp::create(b, loc, r, qLen).getResult());
    loadRow[row] = arith::RemUIOp::create(b, loc, r, qLen);
  }
  SmallVector<SmallVector<Value>> frags = loadQueryFragments(b);
  if (op.getQPositions())
    rotateQueryFragments(b, frags);
  for (SmallVector<Value> &slots : frags) {
    if (tf32()) {
      // Two k-steps of 8 channels: A registers (row g, k t), (g + 8, t),
      // (g, t + 4), (g + 8, t + 4) are channels 2t and 2t + 1 of rows g
      // and g + 8 -- the pairs' elements.
      auto element = [&](int slot, int64_t i) -> Value {
        return vector::ExtractOp::create(b, loc, slots[slot],
                                         ArrayRef<int64_t>{i});
      };
      for (int half = 0; half < 2; ++half)
        qSplit.push_back(
            splitTF32(b, {element(2 * half, 0), element(2 * half + 1, 0),
                          element(2 * half, 1), element(2 * half + 1, 1)}));
      continue;
    }
    SmallVector<Value> operands;
    for (Value pair : slots)
      operands.push_back(mmaOperand(b, pair));
    qFrags.push_back(operands);
  }

  // Key blocks: [0, visible) are seen whole by every row of the tile,
  // [visible, blocks) need bound checks.
  Value keyEnd = kLen;
  Value visibleKeys = mul(
      b, arith::DivSIOp::create(b, loc, kLen, index(b, blockKeys)), blockKeys);
  if (causal) {
    // The tile's first and last tokens, or all of them when it spans two
    // heads.
    Value tileLast = minIndex(b, add(b, firstRow, kTileRows - 1), lastRow);
    Value spans =
        arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ne,
                              arith::DivUIOp::create(b, loc, firstRow, qLen),
                              arith::DivUIOp::create(b, loc, tileLast, qLen));
    Value firstToken =
        arith::SelectOp::create(b, loc, spans, index(b, 0),
                                arith::RemUIOp::create(b, loc, firstRow, qLen));
    Value lastToken =
        arith::SelectOp::create(b, loc, spans, add(b, qLen, -1),
                                arith::RemUIOp::create(b, loc, tileLast, qLen));
    keyEnd = minIndex(b, add(b, add(b, lastToken, offset), 1), kLen);
    visibleKeys =
        minIndex(b, add(b, add(b, firstToken, offset), 1), visibleKeys);
  }
  Value zeroIdx = index(b, 0);
  keyEnd = arith::MaxSIOp::create(b, loc, keyEnd, zeroIdx);
  visibleKeys = arith::MaxSIOp::create(b, loc, visibleKeys, zeroIdx);
  Value blocks = arith::DivSIOp::create(b, loc, add(b, keyEnd, blockKeys - 1),
                                        index(b, blockKeys));
  Value visible = minIndex(
      b, arith::DivSIOp::create(b, loc, visibleKeys, index(b, blockKeys)),
      blocks);
  // This CTA's blocks: [lo, hi), the first `mid - lo` seen whole; with
  // split-KV its share of the blocks the tile's rows see.
  Value lo = zeroIdx, hi = blocks;
  if (splits > 1) {
    Value share = arith::CeilDivSIOp::create(b, loc, blocks, index(b, splits));
    lo = arith::MulIOp::create(b, loc, split, share);
    hi = arith::MaxSIOp::create(b, loc, lo,
                                minIndex(b, blocks, add(b, lo, share)));
  }
  Value mid = minIndex(b, arith::MaxSIOp::create(b, loc, visible, lo), hi);
  blockCount = hi;
  if (stages == 2) { // the first block starts arriving
    auto first = scf::IfOp::create(
        b, loc,
        arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt, lo, hi),
        /*withElseRegion=*/false);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(first.thenBlock());
    issueBlock(b, lo);
  }

  SmallVector<Value> init = {f32(b, -std::numeric_limits<double>::infinity()),
                             f32(b, -std::numeric_limits<double>::infinity()),
                             f32(b, 0), f32(b, 0)};
  init.append(4 * (valueDim / 8), f32(b, 0));
  Value one = index(b, 1);
  ValueRange carried = init;
  SmallVector<Value> results;
  for (bool checkBounds : {false, true}) {
    auto loop = scf::ForOp::create(
        b, loc, checkBounds ? mid : lo, checkBounds ? hi : mid, one, carried,
        [&](OpBuilder &nb, Location, Value kb, ValueRange iterArgs) {
          scf::YieldOp::create(nb, loc,
                               keyBlock(nb, kb, iterArgs, checkBounds));
        });
    results.assign(loop.getResults().begin(), loop.getResults().end());
    carried = results;
  }
  if (splits > 1)
    storePartials(b, results);
  else
    storeOutput(b, results);
}

/// A static shared-memory tile of `type` (one stage): a
/// module-level workgroup global, 16-byte aligned for the vector stores and
/// ldmatrix (gpu.launch's workgroup attributions carry no alignment).
static Value sharedTile(OpBuilder &b, Location loc, Operation *anchor,
                        MemRefType type, StringRef name) {
  auto module = anchor->getParentOfType<ModuleOp>();
  SymbolTable symbols(module);
  OpBuilder atModule = OpBuilder::atBlockBegin(module.getBody());
  auto global = memref::GlobalOp::create(
      atModule, loc, name, atModule.getStringAttr("private"), type,
      atModule.getUnitAttr(), /*constant=*/false,
      atModule.getI64IntegerAttr(16));
  symbols.insert(global); // renames on a clash
  return memref::GetGlobalOp::create(b, loc, type, global.getSymName());
}

void AttentionKernelBuilder::fillZero(OpBuilder &b, Value buffer) {
  Type token = gpu::AsyncTokenType::get(b.getContext());
  Value ready =
      gpu::WaitOp::create(b, loc, token, ValueRange{}).getAsyncToken();
  Value zero = arith::ConstantOp::create(
      b, loc,
      b.getZeroAttr(cast<MemRefType>(buffer.getType()).getElementType()));
  Value done =
      gpu::MemsetOp::create(b, loc, token, ValueRange{ready}, buffer, zero)
          .getAsyncToken();
  gpu::WaitOp::create(b, loc, Type(), ValueRange{done});
}

void AttentionKernelBuilder::launch(OpBuilder &b,
                                    const AttentionBuffers &buffers) {
  buf = buffers;
  // Tokens outside every sequence of cu_seqlens attend nothing: 0, as on
  // the CPU. The kernel only writes the tokens of its sequences.
  if (layout.packed())
    fillZero(b, buf.out);
  Value one = index(b, 1);
  // Two stages need more than the 48 KB of static shared memory at head dim
  // 128: dynamic shared memory (the runtime opts the kernel in).
  Value dynamicShared;
  if (stages == 2)
    dynamicShared = arith::ConstantOp::create(
        b, loc,
        b.getI32IntegerAttr(
            stages * (tileBytes(headDim, false) + tileBytes(valueDim, true))));
  auto launch = gpu::LaunchOp::create(
      b, loc, index(b, qTiles), index(b, kvHeads), index(b, batches * splits),
      index(b, kThreads), one, one, dynamicShared, /*asyncTokenType=*/nullptr,
      /*asyncDependencies=*/{}, /*workgroupAttributions=*/{},
      /*privateAttributions=*/{}, nullptr, nullptr, nullptr,
      FlatSymbolRefAttr::get(b.getContext(), "mrope_attention_module"),
      FlatSymbolRefAttr::get(b.getContext(), "mrope_attention"));
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(&launch.getBody().front());
  if (stages == 1) {
    kTile = sharedTile(b, loc, launch, tileType(headDim, false),
                       "__mrope_attention_keys");
    vTile = sharedTile(b, loc, launch, tileType(valueDim, true),
                       "__mrope_attention_values");
  } else {
    auto workgroup = gpu::AddressSpaceAttr::get(b.getContext(),
                                                gpu::AddressSpace::Workgroup);
    sharedBase = gpu::DynamicSharedMemoryOp::create(
        b, loc,
        MemRefType::get({ShapedType::kDynamic}, b.getI8Type(),
                        MemRefLayoutAttrInterface(), workgroup));
  }
  buildKernel(b, launch);
  b.setInsertionPointToEnd(&launch.getBody().front());
  gpu::TerminatorOp::create(b, loc);
}

void AttentionKernelBuilder::emit(OpBuilder &b, AttentionBuffers buffers,
                                  Placement placement) {
  // Keys rotated by the rotary kernel, once: into `keys` from `from`, or
  // in place on a buffer of our own.
  auto rotateKeys = [&](Value keys, Value positions, Value freqs,
                        Value from = Value()) {
    RotaryKernelBuilder keysKernel(keyRotationSpec(op),
                                   KernelConfig{0, 256, Placement::Device});
    if (failed(keysKernel.plan([&] { return op.emitOpError(); })))
      llvm_unreachable("checked by convert-mrope-to-gpu");
    keysKernel.emit(b, Value(), keys, positions, freqs, from);
  };

  // Temporaries of this call: memref.alloc/dealloc on device buffers (moved
  // to the device, stream-ordered, by mrope-gpu-device-allocations), or
  // gpu.alloc/dealloc in the host-buffer form's device section.
  Type token = gpu::AsyncTokenType::get(b.getContext());
  auto allocate = [&](MemRefType type) -> Value {
    if (placement == Placement::Device)
      return memref::AllocOp::create(b, loc, type);
    Value ready =
        gpu::WaitOp::create(b, loc, token, ValueRange{}).getAsyncToken();
    auto alloc = gpu::AllocOp::create(b, loc, type, token, ValueRange{ready},
                                      ValueRange{}, ValueRange{});
    gpu::WaitOp::create(b, loc, Type(), ValueRange{alloc.getAsyncToken()});
    return alloc.getMemref();
  };
  auto release = [&](Value buffer) {
    if (placement == Placement::Device) {
      memref::DeallocOp::create(b, loc, buffer);
      return;
    }
    Value ready =
        gpu::WaitOp::create(b, loc, token, ValueRange{}).getAsyncToken();
    Value done =
        gpu::DeallocOp::create(b, loc, token, ValueRange{ready}, buffer)
            .getAsyncToken();
    gpu::WaitOp::create(b, loc, Type(), ValueRange{done});
  };
  // `ownKeys`: k is a device copy of our own, rotated in place.
  auto run = [&](AttentionBuffers bufs, bool ownKeys) {
    SmallVector<Value> temporaries;
    if (bufs.kPositions && ownKeys) {
      rotateKeys(bufs.k, bufs.kPositions, bufs.invFreq);
    } else if (bufs.kPositions) {
      auto type = cast<MemRefType>(bufs.k.getType());
      Value rotated =
          allocate(MemRefType::get(type.getShape(), type.getElementType()));
      // Every channel rotates: the kernel reads k and writes the temporary.
      // With partial rotary the pass-through channels are copied first.
      if (op.getRotary()->getRotaryDim() == type.getShape().back()) {
        rotateKeys(rotated, bufs.kPositions, bufs.invFreq, bufs.k);
      } else {
        memref::CopyOp::create(b, loc, bufs.k, rotated);
        rotateKeys(rotated, bufs.kPositions, bufs.invFreq);
      }
      bufs.k = rotated;
      temporaries.push_back(rotated);
    }
    if (splits > 1) {
      bufs.partials = allocate(partialsType());
      temporaries.push_back(bufs.partials);
      // Packed rows that no CTA sees (tokens in no sequence, sequences
      // without keys) keep l = 0: the combine writes them as 0.
      if (layout.packed())
        fillZero(b, bufs.partials);
    }
    launch(b, bufs);
    if (splits > 1)
      combinePartials(b);
    for (Value temporary : temporaries)
      release(temporary);
  };

  if (placement == Placement::Device)
    return run(buffers, /*ownKeys=*/false);
  // Host buffers: every operand copied to the device, the output copied
  // back.
  SmallVector<Value> host;
  for (Value *field : buffers.fields())
    if (*field)
      host.push_back(*field);
  withDeviceCopies(b, loc, host, 1, [&](ArrayRef<Value> device) {
    AttentionBuffers onDevice = buffers;
    unsigned next = 0;
    for (Value *field : onDevice.fields())
      if (*field)
        *field = device[next++];
    run(onDevice, /*ownKeys=*/true);
  });
}

/// The memref the result is only materialized into, when the kernel can
/// write it there directly: the op's one use is a materialize_in_destination
/// into a contiguous `restrict` memref of the same shape that nothing
/// between the two ops touches. Its copy then becomes a copy onto itself,
/// which mrope-gpu-device-allocations drops -- no temporary, no copy.
Value destinationOf(AttentionOp op) {
  if (!op->hasOneUse())
    return Value();
  auto materialize =
      dyn_cast<bufferization::MaterializeInDestinationOp>(*op->user_begin());
  if (!materialize || !materialize.getRestrict() ||
      !isa<MemRefType>(materialize.getDest().getType()) ||
      materialize->getBlock() != op->getBlock())
    return Value();
  auto type = cast<MemRefType>(materialize.getDest().getType());
  auto resultType = cast<RankedTensorType>(op.getType());
  if (type.getShape() != resultType.getShape() ||
      type.getElementType() != resultType.getElementType() ||
      !type.getLayout().isIdentity())
    return Value();
  Value dest = materialize.getDest();
  for (Operation *between = op->getNextNode(); between != materialize;
       between = between->getNextNode())
    if (llvm::is_contained(between->getOperands(), dest))
      return Value();
  return dest;
}

/// Bufferizes a marked mrope.attention into its kernels: every operand is
/// only read, the result is a new buffer (or the buffer it is materialized
/// into).
struct AttentionOpGPUBufferization
    : bufferization::BufferizableOpInterface::ExternalModel<
          AttentionOpGPUBufferization, AttentionOp> {
  bool bufferizesToMemoryRead(Operation *, OpOperand &,
                              const bufferization::AnalysisState &) const {
    return true;
  }
  bool bufferizesToMemoryWrite(Operation *, OpOperand &,
                               const bufferization::AnalysisState &) const {
    return false;
  }
  bufferization::AliasingValueList
  getAliasingValues(Operation *, OpOperand &,
                    const bufferization::AnalysisState &) const {
    return {};
  }
  LogicalResult bufferize(Operation *op, RewriterBase &rewriter,
                          const bufferization::BufferizationOptions &options,
                          bufferization::BufferizationState &state) const {
    auto attention = cast<AttentionOp>(op);
    std::optional<KernelConfig> config =
        KernelConfig::fromAttr(op->getAttr(kGPUKernelAttrName));
    if (!config || config->placement == Placement::HostLoop)
      return op->emitOpError(
          "must be lowered before bufferization (convert-mrope-to-linalg) or "
          "selected for the GPU (convert-mrope-to-gpu)");
    AttentionKernelBuilder builder(attention, config->attentionStages,
                                   config->attentionSplits);
    if (failed(builder.plan()))
      return failure();
    auto bufferOf = [&](Value tensor, Value &out) -> LogicalResult {
      if (!tensor)
        return success();
      FailureOr<Value> buffer =
          bufferization::getBuffer(rewriter, tensor, options, state);
      if (failed(buffer))
        return failure();
      auto type = cast<MemRefType>(buffer->getType());
      if (!type.areTrailingDimsContiguous(type.getRank()))
        return op->emitOpError("needs contiguous buffers for the GPU kernel, "
                               "got ")
               << type;
      out = *buffer;
      return success();
    };
    AttentionBuffers buffers;
    if (failed(bufferOf(attention.getQ(), buffers.q)) ||
        failed(bufferOf(attention.getK(), buffers.k)) ||
        failed(bufferOf(attention.getV(), buffers.v)) ||
        failed(bufferOf(attention.getMask(), buffers.mask)) ||
        failed(bufferOf(attention.getCuSeqlens(), buffers.cuSeqlens)) ||
        failed(bufferOf(attention.getKvCuSeqlens(), buffers.kvCuSeqlens)) ||
        failed(bufferOf(attention.getBlockTable(), buffers.blockTable)) ||
        failed(bufferOf(attention.getQPositions(), buffers.qPositions)) ||
        failed(bufferOf(attention.getKPositions(), buffers.kPositions)) ||
        failed(bufferOf(attention.getInvFreq(), buffers.invFreq)))
      return failure();
    if (config->placement == Placement::Device)
      buffers.out = destinationOf(attention);
    if (!buffers.out) {
      auto resultType = cast<RankedTensorType>(attention.getType());
      buffers.out = memref::AllocOp::create(
          rewriter, op->getLoc(),
          MemRefType::get(resultType.getShape(), resultType.getElementType()));
    }
    builder.emit(rewriter, buffers, config->placement);
    bufferization::replaceOpWithBufferizedValues(rewriter, op, buffers.out);
    return success();
  }
};

} // namespace

LogicalResult mlir::mrope::checkAttentionKernel(AttentionOp op) {
  if (failed(AttentionKernelBuilder(op, /*stages=*/1, /*splitsOpt=*/0).plan()))
    return failure();
  if (op.getKPositions())
    return RotaryKernelBuilder(keyRotationSpec(op), KernelConfig{}).plan([&] {
      return op.emitOpError();
    });
  return success();
}

void mlir::mrope::registerAttentionGPUBufferizationModel(
    DialectRegistry &registry) {
  // The kernel's ops, created while bufferizing.
  registry.insert<LLVM::LLVMDialect, math::MathDialect, NVVM::NVVMDialect,
                  nvgpu::NVGPUDialect>();
  registry.addExtension(+[](MLIRContext *ctx, MRopeDialect *) {
    AttentionOp::attachInterface<AttentionOpGPUBufferization>(*ctx);
  });
}
