//===- AttentionDecode.cpp - decode attention, heads sharing keys ---------===//
//
// The decode form of mrope.attention: fewer than 16 query rows per KV head,
// i.e. one or a few new tokens against a KV cache. All query heads of a GQA
// group read the same keys, so a task takes `heads` query heads of one group
// (the most up to kMaxHeads that divide the group) at one token and walks
// its keys in blocks of kKeyBlock. Each key and value row of a block is
// read (and widened, when 16-bit and not consumed by vdpbf16ps) once and
// used by every row of the task:
//
//   - q . k: per key, for each row, the products as the lanes of one
//     vector (FMAs over f32 chunks, or vdpbf16ps over bf16 ones with
//     AVX512-BF16), folded into the row's transpose-reduction of the block
//     as they arrive (LaneSums): no horizontal sum per key;
//   - per row the scores as one vector (scale, mask entries, -inf past the
//     last key), m' = max(m, max_j s_j), l' = l exp(m - m') + sum_j p_j;
//   - P V: per value row, acc_r += p_rj v_j for every row.
//
// The rows are unrolled (m, l, acc of each are loop-carried). A version with
// an scf.for over the rows and the widened block in a scratch tensor (fewer
// instructions, no spills) measured slower -- 9 vs 16 GB/s at 32k keys:
// with every load of the block issued up front, the unrolled form keeps
// more of the cache stream in flight. Bounds (causal bottom-right, varlen)
// are per token, so shared by the task's rows; masks are per row.
//
// In bshd and thd a KV head's key rows are Hkv * D elements apart: a task
// per head group would read 256 bytes of every 2 KB row, and each group
// the whole cache again (4-5x slower than bhsd). There, with several KV
// heads, a task takes every head group of its token, copies each range of
// kStagedKeys keys' whole rows (all heads, in order) head-major into a
// scratch, and runs the groups over it.
//
//===----------------------------------------------------------------------===//

#include "AttentionDecode.h"
#include "AttentionKeyRange.h"
#include "AttentionRowMath.h"
#include "Common/ActivationLayout.h"
#include "Common/RotaryMath.h"

#include "mrope/Dialect/MRope/IR/MRopeOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

#include <limits>
#include <tuple>

using namespace mlir;
using namespace mlir::mrope;

namespace {

/// Keys per step of the online softmax: one AVX-512 vector of scores (the
/// softmax update of a row costs the same for 8 or 16 keys).
constexpr int64_t kKeyBlock = 16;

/// Most query heads per task.
constexpr int64_t kMaxHeads = 8;

/// Split-KV: a cache of at least 2 * kSplitKeys keys is cut into up to
/// kMaxSplits ranges of at least kSplitKeys keys, each a task of its own.
constexpr int64_t kSplitKeys = 1024;
constexpr int64_t kMaxSplits = 16;

/// Strided key rows (bshd, thd: a KV head's rows Hkv * D elements apart)
/// are staged this many keys at a time: whole rows of every KV head, read in
/// order, into a head-major scratch (K and V of 64 keys x 8 heads x 128
/// channels in bf16: 256 KB, in L2).
constexpr int64_t kStagedKeys = 64;

/// The query heads of a task: the most up to kMaxHeads that divide the group
/// (so that they share one KV head).
int64_t headsPerTask(int64_t group) {
  int64_t heads = std::min(group, kMaxHeads);
  while (group % heads != 0)
    --heads;
  return heads;
}

} // namespace

bool mlir::mrope::decodeCanUseBF16Dot(AttentionOp op) {
  auto qType = cast<RankedTensorType>(op.getQ().getType());
  return qType.getElementType().isBF16() &&
         qType.getShape().back() % kBF16DotChannels == 0;
}

Value mlir::mrope::buildSharedKeyDecodeAttention(OpBuilder &builder,
                                                 Location loc, AttentionOp op,
                                                 Value q, Value k, Value v,
                                                 bool bf16Dot) {
  auto qType = cast<RankedTensorType>(q.getType());
  auto kType = cast<RankedTensorType>(k.getType());
  Value mask = op.getMask();
  ActivationLayout d = ActivationLayout::get(op.getLayout());
  const int64_t headDim = qType.getShape().back();
  const int64_t qHeads = qType.getDimSize(d.heads);
  const int64_t group = qHeads / kType.getDimSize(d.heads);
  const int64_t heads = headsPerTask(group);
  // Rows of the key space (a paged cache's are its sequences' page slots).
  const int64_t kvSeq = op.getKeyRows();
  Type elementType = qType.getElementType();
  Type f32 = builder.getF32Type();
  auto rowF32 = VectorType::get({headDim}, f32);
  const double scale = op.getEffectiveScale();

  Value init =
      tensor::EmptyOp::create(builder, loc, qType.getShape(), elementType);
  SmallVector<OpFoldResult> sizes = queryRowLoopSizes(builder, d, qType, heads);
  // Split-KV (flash-decoding): with a long cache, each task takes one range
  // of keys and writes its rows' partial m, l and acc ([..., split, heads,
  // D + 2]: acc, then m and l); a second loop combines the ranges. Decode
  // has few (batch, group, token) tasks -- one per KV head for a single
  // sequence -- and the threads need more.
  // A packed batch's sequences each attend their own keys: split by the
  // keys per sequence.
  const int64_t keysPerSequence =
      kvSeq / std::max<int64_t>(1, op.getNumSequences());
  const int64_t splits =
      std::clamp<int64_t>(keysPerSequence / kSplitKeys, 1, kMaxSplits);
  // A KV head's key rows are Hkv * D elements apart in bshd and thd: a task
  // per head group would read a slice of every row (and each group the
  // whole cache again); such tasks take all head groups and stage whole
  // rows instead.
  const bool stridedKeys = d.seq < d.heads && kType.getDimSize(d.heads) > 1;
  Value partials;
  if (splits > 1) {
    sizes.push_back(builder.getIndexAttr(splits));
    SmallVector<int64_t> shape;
    for (OpFoldResult size : sizes)
      shape.push_back(*getConstantIntValue(size));
    shape.append({heads, headDim + 2});
    partials = tensor::EmptyOp::create(builder, loc, shape, f32);
  }

  auto index = [](OpBuilder &ib, Location il, int64_t value) -> Value {
    return arith::ConstantIndexOp::create(ib, il, value);
  };
  auto toF32 = [&](OpBuilder &rb, Location rl, Value row) -> Value {
    if (cast<VectorType>(row.getType()).getElementType().isF32())
      return row;
    return arith::ExtFOp::create(rb, rl, rowF32, row);
  };
  // Row (batch, head, token) of `tensor` (q, k or v) as a vector.
  auto readRow = [&](OpBuilder &rb, Location rl, Value tensor, Value batch,
                     Value h, Value t) -> Value {
    Type type = cast<RankedTensorType>(tensor.getType()).getElementType();
    return vector::TransferReadOp::create(
        rb, rl, VectorType::get({headDim}, type), tensor,
        rowStartIndices(d, batch, h, t, index(rb, rl, 0)),
        arith::ConstantOp::create(rb, rl, rb.getZeroAttr(type)),
        ArrayRef<bool>{true});
  };
  // The keys a task's rows attend (they share a token): [begin, end),
  // within the task's split when there are several.
  auto taskKeyRange = [&](OpBuilder &b, Location l, Value token,
                          Value split) -> std::pair<Value, Value> {
    Value begin, end;
    std::tie(begin, end) = buildAttentionKeyRange(b, l, op, token);
    if (splits > 1) {
      // The split's share of the rows' range, whole blocks of keys.
      Value blocks = arith::CeilDivSIOp::create(
          b, l, arith::SubIOp::create(b, l, end, begin),
          index(b, l, kKeyBlock));
      Value splitKeys = arith::MulIOp::create(
          b, l, arith::CeilDivSIOp::create(b, l, blocks, index(b, l, splits)),
          index(b, l, kKeyBlock));
      begin = arith::MinSIOp::create(
          b, l,
          arith::AddIOp::create(b, l, begin,
                                arith::MulIOp::create(b, l, split, splitKeys)),
          end);
      end = arith::MinSIOp::create(
          b, l, end, arith::AddIOp::create(b, l, begin, splitKeys));
    }
    return {begin, end};
  };
  using RowReader =
      function_ref<Value(OpBuilder &, Location, Value kvHead, Value key)>;
  // One head group's rows (heads of one KV head at `token`) over the keys
  // [begin, end), from the running state `iter` (m, l, acc per row), the
  // key and value rows read by `keyRow` / `valueRow`. Returns the new state
  // and the rows' heads.
  using BlockHook = function_ref<void(OpBuilder &, Location, Value first)>;
  auto groupBlocks = [&](OpBuilder &b, Location l, Value batch, Value token,
                         Value headGroup, Value begin, Value end,
                         ValueRange inits, RowReader keyRow, RowReader valueRow,
                         BlockHook perBlock = nullptr) {
    Value zero = index(b, l, 0);
    Value firstHead =
        arith::MulIOp::create(b, l, headGroup, index(b, l, heads));
    // The task's heads share one KV head: `heads` divides the group.
    Value kvHead = arith::DivUIOp::create(b, l, firstHead, index(b, l, group));
    SmallVector<Value> headOf;
    SmallVector<SmallVector<Value>> qChunks;
    for (int64_t r = 0; r < heads; ++r) {
      headOf.push_back(
          r == 0 ? firstHead
                 : arith::AddIOp::create(b, l, firstHead, index(b, l, r))
                       .getResult());
      Value qRow = readRow(b, l, q, batch, headOf[r], token);
      qChunks.push_back(bf16Dot ? bf16DotChunks(b, l, qRow)
                                : dotChunks(b, l, toF32(b, l, qRow)));
    }
    Value lastKey = arith::SubIOp::create(b, l, end, index(b, l, 1));
    // Online softmax over blocks of keys; per row a loop-carried m, l and
    // acc. Slots past the last key read the last key again and get score
    // -inf, so weight 0.
    auto blocks = scf::ForOp::create(
        b, l, begin, end, index(b, l, kKeyBlock), inits,
        [&](OpBuilder &lb, Location ll, Value first, ValueRange iter) {
          if (perBlock)
            perBlock(lb, ll, first);
          SmallVector<Value> ats;
          for (int64_t t = 0; t < kKeyBlock; ++t)
            ats.push_back(arith::MinSIOp::create(
                lb, ll, arith::AddIOp::create(lb, ll, first, index(lb, ll, t)),
                lastKey));
          // Which slots hold a key: first + t < end, as one mask.
          auto blockType = VectorType::get({kKeyBlock}, f32);
          Value valid = vector::CreateMaskOp::create(
              lb, ll, VectorType::get({kKeyBlock}, lb.getI1Type()),
              ValueRange{arith::SubIOp::create(lb, ll, end, first)});
          Value minusInf = arith::ConstantOp::create(
              lb, ll,
              DenseElementsAttr::get(blockType,
                                     -std::numeric_limits<float>::infinity()));
          Value scaleV = arith::ConstantOp::create(
              lb, ll, DenseElementsAttr::get(blockType, float(scale)));

          // q . k: each key row is read (and widened) once and serves
          // every row -- per key the q . k lanes of one vector (FMAs or
          // vdpbf16ps over the row's chunks), folded into the block's
          // transpose-reduction as they arrive. (Reassociated: the
          // order of an f32 dot product is not part of the contract;
          // tests compare with float64.)
          SmallVector<LaneSums> dots;
          for (int64_t r = 0; r < heads; ++r)
            dots.emplace_back(lb, ll);
          for (Value keyAt : ats) {
            Value kRow = keyRow(lb, ll, kvHead, keyAt);
            if (!bf16Dot)
              kRow = toF32(lb, ll, kRow);
            for (int64_t r = 0; r < heads; ++r)
              dots[r].add(bf16Dot ? bf16DotLanes(lb, ll, qChunks[r], kRow)
                                  : dotLanes(lb, ll, qChunks[r], kRow));
          }

          // Per row: the block's scores as one vector (scaled, plus the
          // mask's entries, -inf past the last key), the online-softmax
          // update, the accumulator rescaled.
          SmallVector<Value> results, weightsOf;
          for (int64_t r = 0; r < heads; ++r) {
            Value m = iter[3 * r], sum = iter[3 * r + 1], acc = iter[3 * r + 2];
            Value block =
                arith::MulFOp::create(lb, ll, dots[r].finish(), scaleV);
            if (mask) {
              auto maskType = cast<RankedTensorType>(mask.getType());
              Value maskBatch = maskType.getDimSize(0) == 1 ? zero : batch;
              Value maskHead = maskType.getDimSize(1) == 1 ? zero : headOf[r];
              SmallVector<Value> entries;
              for (Value keyAt : ats) {
                Value entry = tensor::ExtractOp::create(
                    lb, ll, mask,
                    ValueRange{maskBatch, maskHead, token, keyAt});
                if (entry.getType() != f32)
                  entry = arith::ExtFOp::create(lb, ll, f32, entry);
                entries.push_back(entry);
              }
              block = arith::AddFOp::create(
                  lb, ll, block,
                  vector::FromElementsOp::create(lb, ll, blockType, entries));
            }
            block = arith::SelectOp::create(lb, ll, valid, block, minusInf);
            OnlineSoftmaxStep step =
                buildOnlineSoftmaxStep(lb, ll, block, m, sum, acc);
            results.append({step.m, step.sum, step.acc});
            weightsOf.push_back(step.weights);
          }

          // P V: each value row is read (and widened) once and added to
          // every row's accumulator.
          for (auto [t, keyAt] : llvm::enumerate(ats)) {
            Value vRow = toF32(lb, ll, valueRow(lb, ll, kvHead, keyAt));
            for (int64_t r = 0; r < heads; ++r) {
              Value p = vector::ExtractOp::create(
                  lb, ll, weightsOf[r], ArrayRef<int64_t>{int64_t(t)});
              results[3 * r + 2] = vector::FMAOp::create(
                  lb, ll, vector::BroadcastOp::create(lb, ll, rowF32, p), vRow,
                  results[3 * r + 2]);
            }
          }
          scf::YieldOp::create(lb, ll, results);
        });
    return std::make_pair(SmallVector<Value>(blocks.getResults()), headOf);
  };
  // m starts at the lowest finite value so that -inf scores (masks,
  // padding) give weight 0, never inf - inf.
  const float lowest = std::numeric_limits<float>::lowest();

  // The task's rows as one partial state ([heads, D + 2]: acc, m, l) into
  // the split's slot of `out`.
  auto insertPartialState = [&](OpBuilder &b, Location l, Value state,
                                ArrayRef<Value> taskIndices,
                                ArrayRef<OpFoldResult> stateSizes, Value out) {
    auto inParallel = scf::InParallelOp::create(b, l);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(inParallel.getBody());
    SmallVector<OpFoldResult> offsets(taskIndices.begin(), taskIndices.end());
    offsets.append({b.getIndexAttr(0), b.getIndexAttr(0)});
    SmallVector<OpFoldResult> unit(offsets.size(), b.getIndexAttr(1));
    tensor::ParallelInsertSliceOp::create(b, l, state, out, offsets, stateSizes,
                                          unit);
  };

  scf::ForallOp forall;
  if (!stridedKeys) {
    forall = scf::ForallOp::create(
        builder, loc, sizes, ValueRange{splits > 1 ? partials : init},
        /*mapping=*/std::nullopt,
        [&](OpBuilder &b, Location l, ValueRange args) {
          QueryRowIndices indices = queryRowIndices(d.packed(), args);
          Value batch = indices.batch, token = indices.token;
          Value out = args.back();
          Value begin, end;
          std::tie(begin, end) = taskKeyRange(
              b, l, token, splits > 1 ? args[args.size() - 2] : Value());
          Value lowestF32 =
              arith::ConstantOp::create(b, l, b.getF32FloatAttr(lowest));
          Value zeroF32 = arith::ConstantOp::create(b, l, b.getF32FloatAttr(0));
          Value zeroRow =
              arith::ConstantOp::create(b, l, b.getZeroAttr(rowF32));
          SmallVector<Value> inits;
          for (int64_t r = 0; r < heads; ++r)
            inits.append({lowestF32, zeroF32, zeroRow});
          auto [state, headOf] = groupBlocks(
              b, l, batch, token, indices.head, begin, end, inits,
              [&](OpBuilder &rb, Location rl, Value h, Value key) {
                return readRow(rb, rl, k, batch, h,
                               buildKeyRow(rb, rl, op, key));
              },
              [&](OpBuilder &rb, Location rl, Value h, Value key) {
                return readRow(rb, rl, v, batch, h,
                               buildKeyRow(rb, rl, op, key));
              });
          if (splits > 1) {
            // The split's partial state: per row acc, m, l.
            Value packedState = tensor::EmptyOp::create(
                b, l, ArrayRef<int64_t>{heads, headDim + 2}, f32);
            for (int64_t r = 0; r < heads; ++r) {
              Value row = index(b, l, r);
              packedState =
                  vector::TransferWriteOp::create(
                      b, l, state[3 * r + 2], packedState,
                      ValueRange{row, index(b, l, 0)}, ArrayRef<bool>{true})
                      .getResult();
              for (int64_t i : {0, 1})
                packedState = tensor::InsertOp::create(
                    b, l, state[3 * r + i], packedState,
                    ValueRange{row, index(b, l, headDim + i)});
            }
            SmallVector<OpFoldResult> stateSizes(args.size() - 1,
                                                 b.getIndexAttr(1));
            stateSizes.append(
                {b.getIndexAttr(heads), b.getIndexAttr(headDim + 2)});
            insertPartialState(b, l, packedState,
                               SmallVector<Value>(args.drop_back()), stateSizes,
                               out);
            return;
          }
          // Each row: acc / l (0 for a row without keys), in the output type.
          SmallVector<Value> rows;
          for (int64_t r = 0; r < heads; ++r)
            rows.push_back(buildNormalizedRow(b, l, state[3 * r + 2],
                                              state[3 * r + 1], elementType));
          insertRowsInParallel(b, l, d, rows, headOf, batch, token, out);
        });
  } else {
    // Strided key rows: a task takes every head group of its token (and
    // split), walks its keys in ranges of kStagedKeys, stages each range's
    // K and V rows -- whole rows of all KV heads, read in order -- head-major
    // into an L2-sized scratch, and runs every head group over the scratch.
    // The groups' state lives in [groups, heads, D] and [groups, heads, 2]
    // tensors across ranges.
    const int64_t groups = qHeads / heads;
    const int64_t staged = std::min(kStagedKeys, kvSeq);
    SmallVector<OpFoldResult> taskSizes(sizes);
    taskSizes.erase(taskSizes.begin() + 1); // queryRowLoopSizes' head dim
    forall = scf::ForallOp::create(
        builder, loc, taskSizes, ValueRange{splits > 1 ? partials : init},
        /*mapping=*/std::nullopt,
        [&](OpBuilder &b, Location l, ValueRange args) {
          Value batch = d.packed() ? Value() : args[0];
          Value token = args[d.packed() ? 0 : 1];
          Value split = splits > 1 ? args[args.size() - 2] : Value();
          Value out = args.back();
          Value begin, end;
          std::tie(begin, end) = taskKeyRange(b, l, token, split);
          auto accType = RankedTensorType::get({groups, heads, headDim}, f32);
          auto mlType = RankedTensorType::get({groups, heads, 2}, f32);
          SmallVector<float> mlInit;
          for (int64_t i = 0; i < groups * heads; ++i)
            mlInit.append({lowest, 0.0f});
          Value accInit = arith::ConstantOp::create(
              b, l, DenseElementsAttr::get(accType, 0.0f));
          Value mlInitV = arith::ConstantOp::create(
              b, l, DenseElementsAttr::get(mlType, ArrayRef<float>(mlInit)));
          // K or V rows [first, first + staged) of the task's batch entry,
          // as [KV heads, staged, D].
          // The scratch of `tensor`'s staged rows, [KV heads, staged, D];
          // one per task, carried across ranges (bufferized in place). An
          // allocation of its own for K and for V: two tensor.empty of one
          // type would be CSE'd into one value, which bufferization may give
          // both loop-carried scratches.
          auto scratchOf = [&](Value tensor) -> Value {
            auto type = cast<RankedTensorType>(tensor.getType());
            return bufferization::AllocTensorOp::create(
                b, l,
                RankedTensorType::get(
                    {type.getDimSize(d.heads), staged, headDim},
                    type.getElementType()),
                ValueRange{});
          };
          auto stage = [&](OpBuilder &sb, Location sl, Value tensor,
                           Value first, Value scratch) -> Value {
            auto type = cast<RankedTensorType>(tensor.getType());
            const int64_t kvHeads = type.getDimSize(d.heads);
            auto rowType = VectorType::get({headDim}, type.getElementType());
            // Key by key, all heads of a key (one contiguous row of the
            // cache) at a time.
            auto copy = scf::ForOp::create(
                sb, sl, index(sb, sl, 0), index(sb, sl, staged),
                index(sb, sl, 1), ValueRange{scratch},
                [&](OpBuilder &cb, Location cl, Value i, ValueRange iter) {
                  Value key = buildKeyRow(
                      cb, cl, op, arith::AddIOp::create(cb, cl, first, i));
                  Value into = iter[0];
                  for (int64_t h = 0; h < kvHeads; ++h) {
                    Value row = vector::TransferReadOp::create(
                        cb, cl, rowType, tensor,
                        rowStartIndices(d, batch, index(cb, cl, h), key,
                                        index(cb, cl, 0)),
                        arith::ConstantOp::create(
                            cb, cl, cb.getZeroAttr(type.getElementType())),
                        ArrayRef<bool>{true});
                    into =
                        vector::TransferWriteOp::create(
                            cb, cl, row, into,
                            ValueRange{index(cb, cl, h), i, index(cb, cl, 0)},
                            ArrayRef<bool>{true})
                            .getResult();
                  }
                  scf::YieldOp::create(cb, cl, into);
                });
            return copy.getResult(0);
          };
          // `count` rows of the key space from `start` (clamped to it),
          // every KV head, one prefetch (into L2) per 64 bytes.
          auto prefetchRows = [&](OpBuilder &pb, Location pl, Value kBuffer,
                                  Value vBuffer, Value start, int64_t count) {
            auto type = cast<MemRefType>(kBuffer.getType());
            const int64_t kvHeads = type.getDimSize(d.heads);
            const int64_t perLine =
                64 / (type.getElementType().getIntOrFloatBitWidth() / 8);
            for (int64_t i = 0; i < count; ++i) {
              Value key = arith::MinSIOp::create(
                  pb, pl,
                  arith::AddIOp::create(pb, pl, start, index(pb, pl, i)),
                  index(pb, pl, kvSeq - 1));
              Value row = buildKeyRow(pb, pl, op, key);
              for (Value buffer : {kBuffer, vBuffer})
                for (int64_t h = 0; h < kvHeads; ++h)
                  for (int64_t c = 0; c < headDim; c += perLine)
                    memref::PrefetchOp::create(
                        pb, pl, buffer,
                        rowStartIndices(d, batch, index(pb, pl, h), row,
                                        index(pb, pl, c)),
                        /*isWrite=*/false, /*localityHint=*/2,
                        /*isDataCache=*/true);
            }
          };
          // The next range is fetched while this one is computed: each
          // block of each group prefetches its share of the next range's
          // rows (groups x blocks x share >= staged), spread over the
          // arithmetic, so that the staging copy reads L2. It pays for
          // scattered (paged) rows, which the hardware prefetcher cannot
          // follow: docs/Performance.md.
          const int64_t blocksPerRange =
              std::max<int64_t>(1, (staged + kKeyBlock - 1) / kKeyBlock);
          const int64_t prefetchShare = (staged + groups * blocksPerRange - 1) /
                                        (groups * blocksPerRange);
          // Views of k and v as buffers for the prefetches (bufferization
          // folds them).
          auto bufferOf = [&](Value tensor) -> Value {
            auto type = cast<RankedTensorType>(tensor.getType());
            return bufferization::ToBufferOp::create(
                b, l, MemRefType::get(type.getShape(), type.getElementType()),
                tensor, /*readOnly=*/true);
          };
          Value kBuffer = bufferOf(k), vBuffer = bufferOf(v);
          auto ranges = scf::ForOp::create(
              b, l, begin, end, index(b, l, staged),
              ValueRange{accInit, mlInitV, scratchOf(k), scratchOf(v)},
              [&](OpBuilder &rb, Location rl, Value first, ValueRange state) {
                // The staged rows: [stagedFirst, stagedFirst + staged), the
                // last range shifted back to stay inside the keys.
                Value stagedFirst = arith::MinSIOp::create(
                    rb, rl, first, index(rb, rl, kvSeq - staged));
                Value kStaged = stage(rb, rl, k, stagedFirst, state[2]);
                Value vStaged = stage(rb, rl, v, stagedFirst, state[3]);
                // This range ends where the next one starts (or at end).
                Value nextFirst =
                    arith::AddIOp::create(rb, rl, first, index(rb, rl, staged));
                Value last = arith::MinSIOp::create(rb, rl, end, nextFirst);
                auto stagedRow = [&](Value scratch) {
                  return [&, scratch](OpBuilder &sb, Location sl, Value h,
                                      Value key) -> Value {
                    Type type = cast<RankedTensorType>(scratch.getType())
                                    .getElementType();
                    return vector::TransferReadOp::create(
                        sb, sl, VectorType::get({headDim}, type), scratch,
                        ValueRange{
                            h, arith::SubIOp::create(sb, sl, key, stagedFirst),
                            index(sb, sl, 0)},
                        arith::ConstantOp::create(sb, sl, sb.getZeroAttr(type)),
                        ArrayRef<bool>{true});
                  };
                };
                auto keyReader = stagedRow(kStaged);
                auto valueReader = stagedRow(vStaged);
                auto perGroup = scf::ForOp::create(
                    rb, rl, index(rb, rl, 0), index(rb, rl, groups),
                    index(rb, rl, 1), state.take_front(2),
                    [&](OpBuilder &gb, Location gl, Value g,
                        ValueRange groupState) {
                      Value acc = groupState[0], ml = groupState[1];

                      SmallVector<Value> inits;
                      for (int64_t r = 0; r < heads; ++r) {
                        Value row = index(gb, gl, r);
                        for (int64_t i : {0, 1})
                          inits.push_back(tensor::ExtractOp::create(
                              gb, gl, ml,
                              ValueRange{g, row, index(gb, gl, i)}));
                        inits.push_back(vector::TransferReadOp::create(
                            gb, gl, rowF32, acc,
                            ValueRange{g, row, index(gb, gl, 0)},
                            arith::ConstantOp::create(gb, gl,
                                                      gb.getF32FloatAttr(0)),
                            ArrayRef<bool>{true}));
                      }
                      // (The rows' heads are only needed for the output,
                      // written from the state after the last range.)
                      SmallVector<Value> next =
                          groupBlocks(
                              gb, gl, batch, token, g, first, last, inits,
                              keyReader, valueReader,
                              [&](OpBuilder &pb, Location pl,
                                  Value blockFirst) {
                                // Slice g * blocksPerRange + j of the next
                                // range, j this block's index in the range.
                                Value j = arith::DivUIOp::create(
                                    pb, pl,
                                    arith::SubIOp::create(pb, pl, blockFirst,
                                                          first),
                                    index(pb, pl, kKeyBlock));
                                Value slice = arith::AddIOp::create(
                                    pb, pl,
                                    arith::MulIOp::create(
                                        pb, pl, g,
                                        index(pb, pl, blocksPerRange)),
                                    j);
                                prefetchRows(
                                    pb, pl, kBuffer, vBuffer,
                                    arith::AddIOp::create(
                                        pb, pl, nextFirst,
                                        arith::MulIOp::create(
                                            pb, pl, slice,
                                            index(pb, pl, prefetchShare))),
                                    prefetchShare);
                              })
                              .first;
                      for (int64_t r = 0; r < heads; ++r) {
                        Value row = index(gb, gl, r);
                        for (int64_t i : {0, 1})
                          ml = tensor::InsertOp::create(
                              gb, gl, next[3 * r + i], ml,
                              ValueRange{g, row, index(gb, gl, i)});
                        acc = vector::TransferWriteOp::create(
                                  gb, gl, next[3 * r + 2], acc,
                                  ValueRange{g, row, index(gb, gl, 0)},
                                  ArrayRef<bool>{true})
                                  .getResult();
                      }
                      scf::YieldOp::create(gb, gl, ValueRange{acc, ml});
                    });
                scf::YieldOp::create(rb, rl,
                                     ValueRange{perGroup.getResult(0),
                                                perGroup.getResult(1), kStaged,
                                                vStaged});
              });
          Value acc = ranges.getResult(0), ml = ranges.getResult(1);
          if (splits > 1) {
            // Every group's partial state, [groups, heads, D + 2], into the
            // task's slots of the partials.
            Value packedState = tensor::EmptyOp::create(
                b, l, ArrayRef<int64_t>{groups, heads, headDim + 2}, f32);
            SmallVector<OpFoldResult> zeros(3, b.getIndexAttr(0)),
                units(3, b.getIndexAttr(1));
            packedState = tensor::InsertSliceOp::create(
                b, l, acc, packedState, zeros,
                SmallVector<OpFoldResult>{b.getIndexAttr(groups),
                                          b.getIndexAttr(heads),
                                          b.getIndexAttr(headDim)},
                units);
            SmallVector<OpFoldResult> mlOffsets = {
                b.getIndexAttr(0), b.getIndexAttr(0), b.getIndexAttr(headDim)};
            packedState = tensor::InsertSliceOp::create(
                b, l, ml, packedState, mlOffsets,
                SmallVector<OpFoldResult>{b.getIndexAttr(groups),
                                          b.getIndexAttr(heads),
                                          b.getIndexAttr(2)},
                units);
            // The partials are [batch, group, token, split, ...] (packed:
            // [token, group, split, ...]): all groups at once.
            SmallVector<Value> taskIndices;
            SmallVector<OpFoldResult> stateSizes;
            if (!d.packed())
              taskIndices = {batch, index(b, l, 0), token, split};
            else
              taskIndices = {token, index(b, l, 0), split};
            for (size_t i = 0; i < taskIndices.size(); ++i)
              stateSizes.push_back(b.getIndexAttr(i == 1 ? groups : 1));
            stateSizes.append(
                {b.getIndexAttr(heads), b.getIndexAttr(headDim + 2)});
            insertPartialState(b, l, packedState, taskIndices, stateSizes, out);
            return;
          }
          SmallVector<Value> rows, headOf;
          for (int64_t g = 0; g < groups; ++g)
            for (int64_t r = 0; r < heads; ++r) {
              SmallVector<Value> at = {index(b, l, g), index(b, l, r)};
              Value sum = tensor::ExtractOp::create(
                  b, l, ml, ValueRange{at[0], at[1], index(b, l, 1)});
              Value accRow = vector::TransferReadOp::create(
                  b, l, rowF32, acc, ValueRange{at[0], at[1], index(b, l, 0)},
                  arith::ConstantOp::create(b, l, b.getF32FloatAttr(0)),
                  ArrayRef<bool>{true});
              rows.push_back(
                  buildNormalizedRow(b, l, accRow, sum, elementType));
              headOf.push_back(index(b, l, g * heads + r));
            }
          insertRowsInParallel(b, l, d, rows, headOf, batch, token, out);
        });
  }
  if (splits == 1)
    return forall.getResult(0);

  // Combine the splits of each query row: m = max_s m_s, w_s = exp(m_s - m),
  // l = sum_s l_s w_s, acc = sum_s acc_s w_s, then acc / l.
  SmallVector<OpFoldResult> rowSizes = queryRowLoopSizes(builder, d, qType);
  Value partialState = forall.getResult(0);
  auto combine = scf::ForallOp::create(
      builder, loc, rowSizes, ValueRange{init}, /*mapping=*/std::nullopt,
      [&](OpBuilder &b, Location l, ValueRange args) {
        auto index = [&](int64_t value) -> Value {
          return arith::ConstantIndexOp::create(b, l, value);
        };
        QueryRowIndices indices = queryRowIndices(d.packed(), args);
        Value batch = indices.batch, head = indices.head, token = indices.token;
        Value headGroup = arith::DivUIOp::create(b, l, head, index(heads));
        Value row = arith::RemUIOp::create(b, l, head, index(heads));
        // Indices of the task's state for `split`, channel `channel`.
        auto stateAt = [&](int64_t split, int64_t channel) {
          SmallVector<Value> idx;
          if (d.packed())
            idx = {token, headGroup};
          else
            idx = {batch, headGroup, token};
          idx.append({index(split), row, index(channel)});
          return idx;
        };
        SmallVector<Value> ms, ls;
        Value m;
        for (int64_t split = 0; split < splits; ++split) {
          ms.push_back(tensor::ExtractOp::create(b, l, partialState,
                                                 stateAt(split, headDim)));
          ls.push_back(tensor::ExtractOp::create(b, l, partialState,
                                                 stateAt(split, headDim + 1)));
          m = split == 0 ? ms[0]
                         : arith::MaximumFOp::create(b, l, m, ms[split]);
        }
        Value sum = arith::ConstantOp::create(b, l, b.getF32FloatAttr(0));
        Value acc = arith::ConstantOp::create(b, l, b.getZeroAttr(rowF32));
        for (int64_t split = 0; split < splits; ++split) {
          Value weight = buildExpOfNonPositive(
              b, l, arith::SubFOp::create(b, l, ms[split], m));
          sum = math::FmaOp::create(b, l, ls[split], weight, sum);
          Value splitAcc = vector::TransferReadOp::create(
              b, l, rowF32, partialState, stateAt(split, 0),
              arith::ConstantOp::create(b, l, b.getF32FloatAttr(0)),
              ArrayRef<bool>{true});
          acc = vector::FMAOp::create(
              b, l, splitAcc, vector::BroadcastOp::create(b, l, rowF32, weight),
              acc);
        }
        insertRowsInParallel(b, l, d,
                             buildNormalizedRow(b, l, acc, sum, elementType),
                             head, batch, token, args.back());
      });
  return combine.getResult(0);
}
