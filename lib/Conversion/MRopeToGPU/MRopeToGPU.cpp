//===- MRopeToGPU.cpp - mrope.apply as a GPU kernel -----------------------===//
//
// convert-mrope-to-gpu checks each mrope.apply and marks it with its kernel
// configuration; one-shot bufferization then turns the marked op into one
// gpu.launch (or, with host-loop, an scf.for over the thread ids) on the
// buffers of q and k. Emitting the kernel at bufferization time lets the
// analysis decide in-place vs copy for q and k like for any other op.
//
// Thread layout (fastest first): the channel group (the pairs one 16-byte
// vector holds), the head slice, the token. A warp therefore covers whole
// consecutive rows, and each thread computes its pairs' cos/sin once and
// reuses them for every head of its slice -- no cos/sin table in memory.
//
//===----------------------------------------------------------------------===//

#include "mrope/Conversion/MRopeToGPU/MRopeToGPU.h"
#include "Common/ActivationLayout.h"
#include "Common/RotaryMath.h"
#include "GPUKernels.h"
#include "mrope/Conversion/Passes.h"
#include "mrope/Dialect/MRope/IR/MRopeOps.h"
#include "mrope/Dialect/MRope/Utils/AxisRuns.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/BufferizableOpInterface.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/Matchers.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

#include <numeric>

namespace mlir::mrope {
#define GEN_PASS_DEF_CONVERTMROPETOGPU
#include "mrope/Conversion/Passes.h.inc"
} // namespace mlir::mrope

using namespace mlir;
using namespace mlir::mrope;

namespace {

/// With the automatic head split, use at least this many threads when the
/// heads allow it: about two waves of an H100/H200 (132 SMs x 2048).
constexpr int64_t kTargetThreads = int64_t(1) << 19;

/// Fewest head slices (so the most heads per thread, reusing cos/sin) that
/// still give kTargetThreads threads; all heads in parallel when the input
/// is small (decode).
int64_t chooseHeadSlices(int64_t rowsOfThreads, int64_t maxHeads) {
  int64_t slices = maxHeads;
  while (slices > 1 && rowsOfThreads * ((slices + 1) / 2) >= kTargetThreads)
    slices = (slices + 1) / 2;
  return slices;
}

} // namespace

int64_t mlir::mrope::alignmentOf(int64_t bytes) {
  int64_t align = 1;
  while (align < 16 && bytes % (align * 2) == 0)
    align *= 2;
  return align;
}

static llvm::StringRef stringify(Placement placement) {
  switch (placement) {
  case Placement::Device:
    return "device";
  case Placement::HostBuffers:
    return "host_buffers";
  case Placement::HostLoop:
    return "host_loop";
  }
  llvm_unreachable("unknown placement");
}

DictionaryAttr KernelConfig::toAttr(MLIRContext *ctx) const {
  Builder b(ctx);
  return b.getDictionaryAttr(
      {b.getNamedAttr("head_slices", b.getI64IntegerAttr(headSlices)),
       b.getNamedAttr("block_size", b.getI64IntegerAttr(blockSize)),
       b.getNamedAttr("placement", b.getStringAttr(stringify(placement))),
       b.getNamedAttr("attention_stages", b.getI64IntegerAttr(attentionStages)),
       b.getNamedAttr("attention_splits",
                      b.getI64IntegerAttr(attentionSplits))});
}

std::optional<KernelConfig> KernelConfig::fromAttr(Attribute attr) {
  auto dict = dyn_cast_or_null<DictionaryAttr>(attr);
  if (!dict)
    return std::nullopt;
  auto slices = dict.getAs<IntegerAttr>("head_slices");
  auto block = dict.getAs<IntegerAttr>("block_size");
  auto placement = dict.getAs<StringAttr>("placement");
  auto stages = dict.getAs<IntegerAttr>("attention_stages");
  auto splits = dict.getAs<IntegerAttr>("attention_splits");
  if (!slices || !block || !placement || !stages || !splits ||
      slices.getInt() < 0 || block.getInt() < 1 || block.getInt() > 1024 ||
      stages.getInt() < 1 || stages.getInt() > 2 || splits.getInt() < 0)
    return std::nullopt;
  for (Placement p :
       {Placement::Device, Placement::HostBuffers, Placement::HostLoop})
    if (placement.getValue() == stringify(p))
      return KernelConfig{slices.getInt(), block.getInt(), p, stages.getInt(),
                          splits.getInt()};
  return std::nullopt;
}

RotationSpec RotationSpec::forApply(ApplyOp op) {
  return {op.getLoc(),
          op.getRotary(),
          op.getInverse(),
          op.getLayout(),
          cast<RankedTensorType>(op.getQ().getType()),
          cast<RankedTensorType>(op.getK().getType()),
          ("mrope_apply_" +
           stringifyAllocationKind(op.getRotary().getAlloc().getKind()))
              .str()};
}

Value mlir::mrope::readInKernel(OpBuilder &b, Location loc, Value buffer,
                                Placement placement) {
  auto global = buffer.getDefiningOp<memref::GetGlobalOp>();
  if (!global || placement != Placement::Device)
    return buffer;
  return memref::GetGlobalOp::create(b, loc, global.getType(),
                                     global.getName());
}

Value mlir::mrope::selectPairPositions(
    OpBuilder &b, Location loc, AllocationAttr alloc, int64_t numPairs,
    Value pairIndex, llvm::function_ref<Value(Axis)> positionOf) {
  SmallVector<Axis> axes = alloc.getPairAxes(numPairs);
  if (llvm::all_equal(axes))
    return positionOf(axes.front());
  auto i32Vec = cast<VectorType>(pairIndex.getType());
  auto splat = [&](int64_t v) -> Value {
    return arith::ConstantOp::create(
        b, loc, DenseElementsAttr::get(i32Vec, b.getI32IntegerAttr(v)));
  };
  Value pos = positionOf(Axis::NoPE);
  for (const AxisRun &run : decomposeIntoRuns(axes)) {
    if (run.axis == Axis::NoPE)
      continue;
    Value first = splat(run.start);
    Value in = arith::AndIOp::create(
        b, loc,
        arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sge, pairIndex,
                              first),
        arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt, pairIndex,
                              splat(run.start + run.stride * run.count)));
    if (run.stride > 1) {
      Value offset = arith::SubIOp::create(b, loc, pairIndex, first);
      Value rem = arith::RemSIOp::create(b, loc, offset, splat(run.stride));
      in = arith::AndIOp::create(b, loc, in,
                                 arith::CmpIOp::create(b, loc,
                                                       arith::CmpIPredicate::eq,
                                                       rem, splat(0)));
    }
    pos = arith::SelectOp::create(b, loc, in, positionOf(run.axis), pos);
  }
  return pos;
}

void mlir::mrope::withDeviceCopies(
    OpBuilder &b, Location loc, ArrayRef<Value> host, unsigned copiedBack,
    llvm::function_ref<void(ArrayRef<Value>)> emitKernel) {
  Type token = gpu::AsyncTokenType::get(b.getContext());
  auto wait = [&](ValueRange deps) {
    return gpu::WaitOp::create(b, loc, token, deps).getAsyncToken();
  };
  Value ready = wait({});
  SmallVector<Value> device, pending;
  for (Value buffer : host) {
    auto type = cast<MemRefType>(buffer.getType());
    auto alloc = gpu::AllocOp::create(
        b, loc, MemRefType::get(type.getShape(), type.getElementType()), token,
        ValueRange{ready}, ValueRange{}, ValueRange{});
    device.push_back(alloc.getMemref());
    pending.push_back(gpu::MemcpyOp::create(b, loc, token,
                                            ValueRange{alloc.getAsyncToken()},
                                            alloc.getMemref(), buffer)
                          .getAsyncToken());
  }
  gpu::WaitOp::create(b, loc, Type(), pending);
  emitKernel(device);
  Value done = wait({});
  pending.clear();
  for (unsigned i = 0; i < copiedBack; ++i)
    pending.push_back(gpu::MemcpyOp::create(b, loc, token, ValueRange{done},
                                            host[i], device[i])
                          .getAsyncToken());
  Value copied = wait(pending);
  pending.clear();
  for (Value buffer : device)
    pending.push_back(
        gpu::DeallocOp::create(b, loc, token, ValueRange{copied}, buffer)
            .getAsyncToken());
  gpu::WaitOp::create(b, loc, Type(), pending);
}

Value RotaryKernelBuilder::constIndex(OpBuilder &b, int64_t v) {
  return arith::ConstantIndexOp::create(b, loc(), v);
}

LogicalResult
RotaryKernelBuilder::plan(llvm::function_ref<InFlightDiagnostic()> emitError) {
  RankedTensorType qType = spec.qType, kType = spec.kType;
  RotaryAttr rotary = spec.rotary;
  elementType = kType.getElementType();
  numPairs = rotary.getRotaryDim() / 2;
  neox = rotary.getPairs() == PairLayout::NeoX;
  const int64_t dim = kType.getShape().back();
  const int64_t bytes = elementType.getIntOrFloatBitWidth() / 8;
  // One 16-byte vector per access where the rows allow it: the pairs a
  // thread holds must divide the rotary half and keep every row aligned.
  vecPairs = std::gcd(16 / bytes, numPairs);
  vecPairs = std::gcd(vecPairs, neox ? dim : dim / 2);
  groups = numPairs / vecPairs;
  qHeads = qType ? qType.getDimSize(layout.heads) : 0;
  kHeads = kType.getDimSize(layout.heads);
  numKV = kHeads;
  seq = kType.getDimSize(layout.seq);
  tokens = layout.packed() ? seq : kType.getDimSize(layout.batch) * seq;
  int64_t maxHeads = std::max(qHeads, kHeads);
  headSlices = headSlicesOpt > 0 ? std::min(headSlicesOpt, maxHeads)
                                 : chooseHeadSlices(tokens * groups, maxHeads);
  if (tokens * groups * headSlices >= (int64_t(1) << 31))
    return emitError() << "too large for one GPU launch (" << tokens
                       << " tokens)";
  return success();
}

Value RotaryKernelBuilder::positionOf(OpBuilder &b, Axis axis) {
  auto it = positionCache.find(static_cast<int>(axis));
  if (it != positionCache.end())
    return it->second;
  Type f32 = b.getF32Type();
  auto vecType = VectorType::get({vecPairs}, f32);
  Value p;
  if (axis == Axis::NoPE) {
    p = arith::ConstantOp::create(b, loc(), b.getZeroAttr(vecType));
  } else {
    SmallVector<Value> idx = {constIndex(b, static_cast<int64_t>(axis))};
    idx.append(token.begin(), token.end());
    p = memref::LoadOp::create(b, loc(), posBuf, idx);
    // Integer positions convert like the reference's `.float()`.
    if (p.getType() != f32)
      p = arith::SIToFPOp::create(b, loc(), f32, p);
    p = vector::BroadcastOp::create(b, loc(), vecType, p);
  }
  positionCache[static_cast<int>(axis)] = p;
  return p;
}

/// cos/sin in the activation type (widened to f32 for bf16, as the CPU form
/// rotates bf16 in f32 ops), sin negated for the inverse rotation.
RotaryKernelBuilder::CosSin
RotaryKernelBuilder::cosSinOf(OpBuilder &b, Value pos, int64_t firstKVHead) {
  RotaryAttr rotary = spec.rotary;
  auto [c, s] =
      buildRotaryCosSin(b, loc(), pos, freqs, rotary.getAngles(),
                        rotary.getAttentionScaling(), SinCosLowering::Torch);
  std::tie(c, s) = roundCosSin(
      b, loc(), c, s, VectorType::get({vecPairs}, elementType), spec.inverse);
  if (elementType.isBF16()) {
    auto f32Vec = VectorType::get({vecPairs}, b.getF32Type());
    c = arith::ExtFOp::create(b, loc(), f32Vec, c);
    s = arith::ExtFOp::create(b, loc(), f32Vec, s);
  }
  return {firstKVHead, c, s};
}

/// Rotates heads slice, slice + headSlices, ... of one token's rows.
void RotaryKernelBuilder::rotateHeads(OpBuilder &b, Value source, Value buffer,
                                      int64_t numHeads, int64_t groupSize,
                                      ArrayRef<CosSin> ranges) {
  Type f32 = b.getF32Type();
  const bool widen = elementType.isBF16();
  const int64_t bytes = elementType.getIntOrFloatBitWidth() / 8;
  Value vecChannel =
      arith::MulIOp::create(b, loc(), group, constIndex(b, vecPairs));
  auto loop = scf::ForOp::create(b, loc(), slice, constIndex(b, numHeads),
                                 constIndex(b, headSlices));
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(loop.getBody());
  Value head = loop.getInductionVar();

  // Head-partitioned: the cos/sin of the block the head's KV head is in.
  Value c = ranges.front().c, s = ranges.front().s;
  if (ranges.size() > 1) {
    Value kvHead =
        arith::DivUIOp::create(b, loc(), head, constIndex(b, groupSize));
    for (const CosSin &range : ranges.drop_front()) {
      Value in =
          arith::CmpIOp::create(b, loc(), arith::CmpIPredicate::uge, kvHead,
                                constIndex(b, range.firstKVHead));
      c = arith::SelectOp::create(b, loc(), in, range.c, c);
      s = arith::SelectOp::create(b, loc(), in, range.s, s);
    }
  }

  auto indices = [&](Value channel) {
    SmallVector<Value> idx(layout.rank);
    if (!layout.packed())
      idx[layout.batch] = token[0];
    idx[layout.seq] = token.back();
    idx[layout.heads] = head;
    idx[layout.rank - 1] = channel;
    return idx;
  };
  auto load = [&](Value channel, int64_t count) -> Value {
    Value v =
        vector::LoadOp::create(b, loc(), VectorType::get({count}, elementType),
                               source, indices(channel), /*nontemporal=*/false,
                               llvm::MaybeAlign(alignmentOf(count * bytes)));
    if (widen)
      v = arith::ExtFOp::create(b, loc(), VectorType::get({count}, f32), v);
    return v;
  };
  auto store = [&](Value v, Value channel) {
    auto type = cast<VectorType>(v.getType());
    if (widen)
      v = arith::TruncFOp::create(b, loc(), type.clone(elementType), v);
    vector::StoreOp::create(
        b, loc(), v, buffer, indices(channel),
        /*nontemporal=*/false,
        llvm::MaybeAlign(alignmentOf(type.getNumElements() * bytes)));
  };
  Type roundTo = widen ? elementType : Type();
  if (neox) {
    // Pair j is channels j and j + rotary_dim / 2.
    Value second =
        arith::AddIOp::create(b, loc(), vecChannel, constIndex(b, numPairs));
    Value x1 = load(vecChannel, vecPairs);
    Value x2 = load(second, vecPairs);
    auto [y1, y2] = rotatePair(b, loc(), x1, x2, c, s, roundTo);
    store(y1, vecChannel);
    store(y2, second);
  } else {
    // Pair j is channels 2j and 2j + 1.
    Value channel =
        arith::MulIOp::create(b, loc(), vecChannel, constIndex(b, 2));
    auto halves =
        vector::DeinterleaveOp::create(b, loc(), load(channel, 2 * vecPairs));
    auto [y1, y2] =
        rotatePair(b, loc(), halves.getRes1(), halves.getRes2(), c, s, roundTo);
    store(vector::InterleaveOp::create(b, loc(), y1, y2), channel);
  }
}

void RotaryKernelBuilder::buildKernel(OpBuilder &b, Value tid) {
  posBuf = readInKernel(b, loc(), positionsIn, placement);
  freqBuf = readInKernel(b, loc(), freqsIn, placement);

  // Thread -> (token, head slice, channel group).
  group = arith::RemUIOp::create(b, loc(), tid, constIndex(b, groups));
  Value rest = arith::DivUIOp::create(b, loc(), tid, constIndex(b, groups));
  slice = arith::RemUIOp::create(b, loc(), rest, constIndex(b, headSlices));
  Value n = arith::DivUIOp::create(b, loc(), rest, constIndex(b, headSlices));
  if (layout.packed()) {
    token = {n};
  } else {
    token = {arith::DivUIOp::create(b, loc(), n, constIndex(b, seq)),
             arith::RemUIOp::create(b, loc(), n, constIndex(b, seq))};
  }

  // This thread's inv_freq and pair indices.
  Value firstPair =
      arith::MulIOp::create(b, loc(), group, constIndex(b, vecPairs));
  freqs = vector::LoadOp::create(
      b, loc(), VectorType::get({vecPairs}, b.getF32Type()), freqBuf,
      ValueRange{firstPair}, /*nontemporal=*/false,
      llvm::MaybeAlign(alignmentOf(4 * vecPairs)));
  auto i32Vec = VectorType::get({vecPairs}, b.getI32Type());
  Value first = arith::IndexCastOp::create(b, loc(), b.getI32Type(), firstPair);
  SmallVector<int32_t> iota(vecPairs);
  std::iota(iota.begin(), iota.end(), 0);
  Value pairIndex = arith::AddIOp::create(
      b, loc(), vector::BroadcastOp::create(b, loc(), i32Vec, first),
      arith::ConstantOp::create(
          b, loc(), DenseElementsAttr::get(i32Vec, ArrayRef(iota))));

  // cos/sin once per thread (once per axis for head-partitioned), shared by
  // every head it rotates.
  AllocationAttr alloc = spec.rotary.getAlloc();
  SmallVector<CosSin> ranges;
  int64_t groupSize = 1;
  if (alloc.isHeadPartitioned()) {
    groupSize = qHeads / numKV;
    for (const HeadBlock &block : headBlocks(alloc, numKV))
      ranges.push_back(
          cosSinOf(b, positionOf(b, block.axis), block.firstKVHead));
  } else {
    ranges.push_back(cosSinOf(
        b,
        selectPairPositions(b, loc(), alloc, numPairs, pairIndex,
                            [&](Axis axis) { return positionOf(b, axis); }),
        0));
  }
  if (qHeads > 0)
    rotateHeads(b, qBuf, qBuf, qHeads, groupSize, ranges);
  rotateHeads(b, kSource ? kSource : kBuf, kBuf, kHeads, 1, ranges);
}

void RotaryKernelBuilder::emit(OpBuilder &b, Value q, Value k, Value positions,
                               Value freqs, Value kFrom) {
  qBuf = q;
  kBuf = k;
  kSource = kFrom;
  positionsIn = positions;
  freqsIn = freqs;
  const int64_t threads = tokens * groups * headSlices;
  switch (placement) {
  case Placement::Device:
    return launchKernel(b, threads);
  case Placement::HostBuffers: {
    // Copy in all four buffers, rotate the copies, copy q and k back.
    SmallVector<Value> host = {qBuf, kBuf, positionsIn, freqsIn};
    return withDeviceCopies(b, loc(), host, 2, [&](ArrayRef<Value> device) {
      qBuf = device[0];
      kBuf = device[1];
      positionsIn = device[2];
      freqsIn = device[3];
      launchKernel(b, threads);
    });
  }
  case Placement::HostLoop: {
    auto loop = scf::ForOp::create(b, loc(), constIndex(b, 0),
                                   constIndex(b, threads), constIndex(b, 1));
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(loop.getBody());
    buildKernel(b, loop.getInductionVar());
    return;
  }
  }
}

/// One gpu.launch of `threads` threads in blocks of blockSize, each running
/// buildKernel for its global id.
void RotaryKernelBuilder::launchKernel(OpBuilder &b, int64_t threads) {
  if (threads <= 0)
    return; // Nothing to rotate (ops without elements are folded earlier).
  const int64_t block = std::min(blockSize, threads);
  const int64_t grid = (threads + block - 1) / block;
  Value one = constIndex(b, 1);
  const std::string &name = spec.name;
  auto launch = gpu::LaunchOp::create(
      b, loc(), constIndex(b, grid), one, one, constIndex(b, block), one, one,
      /*dynamicSharedMemorySize=*/nullptr, /*asyncTokenType=*/nullptr,
      /*asyncDependencies=*/{}, /*workgroupAttributions=*/{},
      /*privateAttributions=*/{}, nullptr, nullptr, nullptr,
      FlatSymbolRefAttr::get(b.getContext(), name + "_module"),
      FlatSymbolRefAttr::get(b.getContext(), name));
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(&launch.getBody().front());
    Value tid = arith::AddIOp::create(
        b, loc(),
        arith::MulIOp::create(b, loc(), launch.getBlockIds().x,
                              constIndex(b, block)),
        launch.getThreadIds().x);
    Value inRange = arith::CmpIOp::create(b, loc(), arith::CmpIPredicate::ult,
                                          tid, constIndex(b, threads));
    auto ifOp = scf::IfOp::create(b, loc(), inRange, /*withElse=*/false);
    b.setInsertionPointToStart(ifOp.thenBlock());
    buildKernel(b, tid);
    b.setInsertionPointToEnd(&launch.getBody().front());
    gpu::TerminatorOp::create(b, loc());
  }
}

namespace {

/// Bufferizes a marked mrope.apply into its kernel: q and k are read and
/// written (their results are the same buffers), positions and inv_freq
/// only read.
struct ApplyOpGPUBufferization
    : bufferization::BufferizableOpInterface::ExternalModel<
          ApplyOpGPUBufferization, ApplyOp> {
  bool bufferizesToMemoryRead(Operation *, OpOperand &,
                              const bufferization::AnalysisState &) const {
    return true;
  }
  bool bufferizesToMemoryWrite(Operation *, OpOperand &operand,
                               const bufferization::AnalysisState &) const {
    return operand.getOperandNumber() < 2;
  }
  bufferization::AliasingValueList
  getAliasingValues(Operation *op, OpOperand &operand,
                    const bufferization::AnalysisState &) const {
    if (operand.getOperandNumber() >= 2)
      return {};
    return {{op->getResult(operand.getOperandNumber()),
             bufferization::BufferRelation::Equivalent}};
  }
  LogicalResult bufferize(Operation *op, RewriterBase &rewriter,
                          const bufferization::BufferizationOptions &options,
                          bufferization::BufferizationState &state) const {
    auto apply = cast<ApplyOp>(op);
    std::optional<KernelConfig> config =
        KernelConfig::fromAttr(op->getAttr(kGPUKernelAttrName));
    if (!config)
      return op->emitOpError(
          "must be lowered before bufferization (convert-mrope-to-linalg) or "
          "selected for the GPU (convert-mrope-to-gpu)");
    RotaryKernelBuilder builder(RotationSpec::forApply(apply), *config);
    if (failed(builder.plan([&] { return op->emitOpError(); })))
      return failure();
    SmallVector<Value> buffers;
    for (Value operand : op->getOperands()) {
      FailureOr<Value> buffer =
          bufferization::getBuffer(rewriter, operand, options, state);
      if (failed(buffer))
        return failure();
      // The kernel indexes rows as dense arrays and copies whole buffers.
      auto type = cast<MemRefType>(buffer->getType());
      if (config->placement != Placement::HostLoop &&
          !type.areTrailingDimsContiguous(type.getRank()))
        return op->emitOpError("needs contiguous buffers for the GPU kernel, "
                               "got ")
               << type;
      buffers.push_back(*buffer);
    }
    builder.emit(rewriter, buffers[0], buffers[1], buffers[2], buffers[3]);
    bufferization::replaceOpWithBufferizedValues(rewriter, op,
                                                 {buffers[0], buffers[1]});
    return success();
  }
};

/// The kernels index rows with compile-time sizes.
LogicalResult checkStaticShapes(Operation *op) {
  for (Value v : op->getOperands())
    if (!cast<ShapedType>(v.getType()).hasStaticShape())
      return op->emitOpError("the GPU lowering needs static shapes (operand ")
             << v.getType() << ")";
  return success();
}

struct ConvertMRopeToGPUPass
    : mrope::impl::ConvertMRopeToGPUBase<ConvertMRopeToGPUPass> {
  using Base::Base;

  void getDependentDialects(DialectRegistry &registry) const override {
    Base::getDependentDialects(registry);
    registerGPUBufferizationModel(registry);
  }

  void runOnOperation() override {
    ModuleOp module = getOperation();
    if (blockSize < 1 || blockSize > 1024) {
      module.emitError("convert-mrope-to-gpu: block-size must be in [1, 1024], "
                       "got ")
          << blockSize.getValue();
      return signalPassFailure();
    }
    if (attentionStages < 1 || attentionStages > 2) {
      module.emitError("convert-mrope-to-gpu: attention-stages must be 1 or 2, "
                       "got ")
          << attentionStages.getValue();
      return signalPassFailure();
    }
    if (attentionSplits < 0) {
      module.emitError("convert-mrope-to-gpu: attention-splits must be >= 0, "
                       "got ")
          << attentionSplits.getValue();
      return signalPassFailure();
    }
    if (headSlices < 0) {
      module.emitError("convert-mrope-to-gpu: head-slices must be >= 0, got ")
          << headSlices.getValue();
      return signalPassFailure();
    }
    // Fold what is known at compile time (frequencies, static positions)
    // first -- the greedy driver runs every op's folder -- and ops without
    // result elements away.
    RewritePatternSet folds(&getContext());
    populateEmptyResultPatterns(folds);
    if (failed(applyPatternsGreedily(module, std::move(folds))))
      return signalPassFailure();
    if (hostLoop && hostBuffers) {
      module.emitError("convert-mrope-to-gpu: host-loop and host-buffers "
                       "exclude each other");
      return signalPassFailure();
    }
    KernelConfig config{headSlices, blockSize,
                        hostLoop      ? Placement::HostLoop
                        : hostBuffers ? Placement::HostBuffers
                                      : Placement::Device,
                        attentionStages, attentionSplits};
    WalkResult result = module.walk([&](Operation *op) {
      if (!isa<ApplyOp, AttentionOp>(op))
        return WalkResult::advance();
      if (failed(checkStaticShapes(op)))
        return WalkResult::interrupt();
      if (auto apply = dyn_cast<ApplyOp>(op)) {
        if (failed(RotaryKernelBuilder(RotationSpec::forApply(apply), config)
                       .plan([&] { return op->emitOpError(); })))
          return WalkResult::interrupt();
      } else if (config.placement == Placement::HostLoop) {
        // Warp-level matrix instructions have no host form: the CPU
        // lowering takes the attention.
        return WalkResult::advance();
      } else if (failed(checkAttentionKernel(cast<AttentionOp>(op)))) {
        return WalkResult::interrupt();
      }
      op->setAttr(kGPUKernelAttrName, config.toAttr(op->getContext()));
      return WalkResult::advance();
    });
    // Every other mrope op runs on device buffers as GPU loops after its
    // linalg lowering (position and table ops; rope_index as passes over
    // rows, a thread per row) or is folded there (position_ids,
    // attention_scaling); convert-mrope-to-linalg names what is left.
    if (result.wasInterrupted())
      signalPassFailure();
  }
};

} // namespace

void mlir::mrope::registerGPUBufferizationModel(DialectRegistry &registry) {
  registerAttentionGPUBufferizationModel(registry);
  registry.addExtension(+[](MLIRContext *ctx, MRopeDialect *) {
    ApplyOp::attachInterface<ApplyOpGPUBufferization>(*ctx);
  });
}
