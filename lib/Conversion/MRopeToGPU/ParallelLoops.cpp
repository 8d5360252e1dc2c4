//===- ParallelLoops.cpp - host loops of device functions on the GPU ------===//
//
// In a function compiled for device buffers, every buffer is device memory:
// the loops left around the mrope kernels (position and table ops lowered
// to linalg, the user's elementwise tensor code) must run on the GPU too.
// mrope-gpu-parallel-loops turns the linalg ops and strided copies left on
// the host into scf.parallel loops and each outermost one into a gpu.launch
// of one thread per iteration; reductions of a whole buffer to one element
// become a kernel of per-thread partial results combined with atomics; host
// scalars computed from device memory (a length read from a device buffer)
// move into the kernels that use them. mrope-gpu-check-host-access then
// rejects whatever host code still dereferences device memory, so that such
// a program fails to compile instead of crashing when it runs.
//
//===----------------------------------------------------------------------===//

#include "GPUKernels.h"
#include "mrope/Conversion/Passes.h"

#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/Linalg/Transforms/Transforms.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/Matchers.h"
#include "mlir/Interfaces/ViewLikeInterface.h"
#include "llvm/ADT/TypeSwitch.h"

#include <functional>
#include <limits>

namespace mlir::mrope {
#define GEN_PASS_DEF_GPUPARALLELLOOPS
#define GEN_PASS_DEF_GPUCHECKHOSTACCESS
#include "mrope/Conversion/Passes.h.inc"
} // namespace mlir::mrope

using namespace mlir;

bool mlir::mrope::worksOnDeviceBuffers(func::FuncOp func) {
  if (llvm::any_of(func.getArgumentTypes(),
                   [](Type type) { return isa<MemRefType>(type); }))
    return true;
  return func
      .walk([](Operation *op) {
        return isa<gpu::LaunchOp, gpu::LaunchFuncOp>(op)
                   ? WalkResult::interrupt()
                   : WalkResult::advance();
      })
      .wasInterrupted();
}

namespace {

/// The buffer a memref value views (through subviews, casts, reshapes).
Value viewedBuffer(Value memref) {
  while (Operation *def = memref.getDefiningOp()) {
    if (auto view = dyn_cast<ViewLikeOpInterface>(def)) {
      memref = view.getViewSource();
      continue;
    }
    if (auto cast = dyn_cast<memref::CastOp>(def)) {
      memref = cast.getSource();
      continue;
    }
    break;
  }
  return memref;
}

/// Whether `buffer` is device memory in a device-buffer function: an
/// argument of the function or a gpu.alloc -- or, before
/// mrope-gpu-device-allocations turns them into gpu.alloc, a memref.alloc
/// (`allocsAreDevice`).
bool isDeviceBuffer(Value buffer, bool allocsAreDevice) {
  if (auto arg = dyn_cast<BlockArgument>(buffer))
    return isa<FunctionOpInterface>(arg.getOwner()->getParentOp());
  Operation *def = buffer.getDefiningOp();
  return isa_and_nonnull<gpu::AllocOp>(def) ||
         (allocsAreDevice && isa_and_nonnull<memref::AllocOp>(def));
}

/// The buffer a host load reads, when it is device memory (a device-buffer
/// function, before its allocations are moved).
Value loadedDeviceBuffer(Operation *op) {
  Value memref;
  if (auto load = dyn_cast<memref::LoadOp>(op))
    memref = load.getMemref();
  else if (auto load = dyn_cast<vector::LoadOp>(op))
    memref = load.getBase();
  if (!memref)
    return {};
  Value buffer = viewedBuffer(memref);
  return isDeviceBuffer(buffer, /*allocsAreDevice=*/true) ? buffer : Value();
}

/// Host values computed from device memory: a load from a device buffer
/// (a length the program reads from a tensor argument, the result of a
/// reduction kernel) and the side-effect-free ops computed from one. The
/// host cannot compute them; the kernels that use them can, if the loads
/// and the arithmetic move into the kernels.
class DeviceDerivedValues {
public:
  bool contains(Value value) {
    auto [it, inserted] = known.try_emplace(value, false);
    if (!inserted)
      return it->second;
    Operation *def = value.getDefiningOp();
    bool derived = false;
    if (def && !def->getParentOfType<gpu::LaunchOp>()) {
      if (loadedDeviceBuffer(def))
        derived = true;
      else if (def->getNumRegions() == 0 && isMemoryEffectFree(def))
        derived = llvm::any_of(def->getOperands(), [&](Value operand) {
          return contains(operand);
        });
    }
    return known[value] = derived;
  }

private:
  DenseMap<Value, bool> known;
};

/// Whether `op` (or an op nested in it) may write `buffer` or memory it
/// cannot name.
bool mayWrite(Operation *op, Value buffer) {
  WalkResult result = op->walk([&](Operation *nested) {
    if (nested->hasTrait<OpTrait::HasRecursiveMemoryEffects>())
      return WalkResult::advance();
    auto effects = dyn_cast<MemoryEffectOpInterface>(nested);
    if (!effects)
      return nested->getNumRegions() == 0 &&
                     nested->hasTrait<OpTrait::IsTerminator>()
                 ? WalkResult::advance()
                 : WalkResult::interrupt();
    SmallVector<MemoryEffects::EffectInstance> instances;
    effects.getEffects(instances);
    for (const MemoryEffects::EffectInstance &effect : instances) {
      if (!isa<MemoryEffects::Write>(effect.getEffect()))
        continue;
      Value written = effect.getValue();
      if (!written || !isa<MemRefType>(written.getType()) ||
          viewedBuffer(written) == buffer)
        return WalkResult::interrupt();
    }
    return WalkResult::advance();
  });
  return result.wasInterrupted();
}

/// Whether a host load may instead run in `launch`, later in the same
/// block: nothing between them may write what it reads.
bool canDelayLoad(Operation *load, gpu::LaunchOp launch) {
  if (load->getBlock() != launch->getBlock() || !load->isBeforeInBlock(launch))
    return false;
  Value buffer = loadedDeviceBuffer(load);
  for (Operation *op = load->getNextNode(); op != launch.getOperation();
       op = op->getNextNode())
    if (mayWrite(op, buffer))
      return false;
  return true;
}

/// Clones into the kernel the ops defined outside it that belong there:
/// constants (so outlining does not pass them as parameters),
/// memref.get_global (so outlining moves the global to the device instead
/// of passing a host address), and host computations from device memory
/// (the kernel reads the buffer and repeats the arithmetic; the host could
/// not read it).
void sinkIntoKernel(gpu::LaunchOp launch, DeviceDerivedValues &derived) {
  Region &region = launch.getBody();
  auto definedOutside = [&](Value value) -> Operation * {
    Operation *def = value.getDefiningOp();
    return def && !region.isAncestor(def->getParentRegion()) ? def : nullptr;
  };
  DenseMap<Value, bool> sinkable;
  std::function<bool(Value)> canSink = [&](Value value) -> bool {
    Operation *def = definedOutside(value);
    if (!def)
      return false;
    if (isa<memref::GetGlobalOp>(def) || def->hasTrait<OpTrait::ConstantLike>())
      return true;
    if (!derived.contains(value))
      return false;
    if (auto it = sinkable.find(value); it != sinkable.end())
      return it->second;
    bool result = loadedDeviceBuffer(def)
                      ? canDelayLoad(def, launch)
                      : llvm::all_of(def->getOperands(), [&](Value operand) {
                          return !derived.contains(operand) || canSink(operand);
                        });
    return sinkable[value] = result;
  };
  // The ops to clone, operands before users.
  SmallVector<Operation *> toSink;
  DenseSet<Operation *> seen;
  std::function<void(Operation *)> collect = [&](Operation *def) {
    if (!seen.insert(def).second)
      return;
    for (Value operand : def->getOperands())
      if (canSink(operand))
        collect(operand.getDefiningOp());
    toSink.push_back(def);
  };
  region.walk([&](Operation *op) {
    for (Value operand : op->getOperands())
      if (canSink(operand))
        collect(operand.getDefiningOp());
  });
  OpBuilder b = OpBuilder::atBlockBegin(&region.front());
  IRMapping mapping;
  for (Operation *def : toSink) {
    Operation *copy = b.clone(*def, mapping);
    for (auto [from, to] : llvm::zip(def->getResults(), copy->getResults()))
      from.replaceUsesWithIf(to, [&](OpOperand &use) {
        return region.isAncestor(use.getOwner()->getParentRegion());
      });
  }
}

/// Erases the host computations from device memory that every kernel now
/// repeats itself (users before their operands).
void eraseUnusedDeviceReads(func::FuncOp func, DeviceDerivedValues &derived) {
  SmallVector<Operation *> hostOps;
  func.walk([&](Operation *op) {
    if (!op->getParentOfType<gpu::LaunchOp>() && op->getNumResults() == 1 &&
        derived.contains(op->getResult(0)))
      hostOps.push_back(op);
  });
  for (Operation *op : llvm::reverse(hostOps))
    if (op->use_empty())
      op->erase();
}

/// The atomic read-modify-write that folds a value into an accumulator as
/// `combiner` does, for the integer combiners whose result does not depend
/// on the order of the elements.
std::optional<arith::AtomicRMWKind> atomicKindOf(Operation *combiner) {
  return TypeSwitch<Operation *, std::optional<arith::AtomicRMWKind>>(combiner)
      .Case([](arith::AddIOp) { return arith::AtomicRMWKind::addi; })
      .Case([](arith::MaxSIOp) { return arith::AtomicRMWKind::maxs; })
      .Case([](arith::MinSIOp) { return arith::AtomicRMWKind::mins; })
      .Case([](arith::MaxUIOp) { return arith::AtomicRMWKind::maxu; })
      .Case([](arith::MinUIOp) { return arith::AtomicRMWKind::minu; })
      .Case([](arith::AndIOp) { return arith::AtomicRMWKind::andi; })
      .Case([](arith::OrIOp) { return arith::AtomicRMWKind::ori; })
      .Default([](Operation *) { return std::nullopt; });
}

/// Position `id` of a row-major iteration space with `trips` iterations per
/// dimension (the last fastest), as the induction values lower + i * step.
SmallVector<Value> delinearize(OpBuilder &b, Location loc, Value id,
                               ArrayRef<int64_t> trips, ArrayRef<int64_t> lower,
                               ArrayRef<int64_t> steps) {
  auto index = [&](int64_t v) -> Value {
    return arith::ConstantIndexOp::create(b, loc, v);
  };
  SmallVector<Value> ivs(trips.size());
  int64_t stride = 1;
  for (int64_t d = trips.size() - 1; d >= 0; --d) {
    Value i = arith::RemUIOp::create(
        b, loc, arith::DivUIOp::create(b, loc, id, index(stride)),
        index(trips[d]));
    ivs[d] = arith::AddIOp::create(
        b, loc, arith::MulIOp::create(b, loc, i, index(steps[d])),
        index(lower[d]));
    stride *= trips[d];
  }
  return ivs;
}

/// The `OpTy` ops of `func` outside kernels (and outside other `OpTy`
/// ops when `outermost`), in program order.
template <typename OpTy>
SmallVector<OpTy> hostOpsOf(func::FuncOp func, bool outermost = false) {
  SmallVector<OpTy> ops;
  func.walk([&](OpTy op) {
    if (!op->template getParentOfType<gpu::LaunchOp>() &&
        !(outermost && op->template getParentOfType<OpTy>()))
      ops.push_back(op);
  });
  return ops;
}

struct GPUParallelLoopsPass
    : mrope::impl::GPUParallelLoopsBase<GPUParallelLoopsPass> {
  using Base::Base;

  /// Trip counts of a static iteration space and their product, or an
  /// error when they do not fit one launch.
  static FailureOr<int64_t> iterationCount(Operation *loop,
                                           ArrayRef<int64_t> lower,
                                           ArrayRef<int64_t> upper,
                                           ArrayRef<int64_t> steps,
                                           SmallVectorImpl<int64_t> &trips) {
    int64_t total = 1;
    for (auto [l, u, s] : llvm::zip(lower, upper, steps)) {
      // (u - l) as unsigned: exact for any u > l.
      uint64_t trip = u > l ? (uint64_t(u) - uint64_t(l) - 1) / s + 1 : 0;
      if (trip > uint64_t(std::numeric_limits<int64_t>::max()) ||
          (trip && total > std::numeric_limits<int64_t>::max() / int64_t(trip)))
        return loop->emitOpError("has too many iterations for one GPU launch");
      trips.push_back(int64_t(trip));
      total *= trips.back();
    }
    return total;
  }

  LogicalResult mapToLaunch(scf::ParallelOp loop) {
    if (loop.getNumResults() != 0)
      return loop.emitOpError(
          "has a reduction, which has no GPU lowering in a function compiled "
          "for device buffers");
    SmallVector<int64_t> lower, upper, steps;
    for (auto [lb, ub, step] : llvm::zip(
             loop.getLowerBound(), loop.getUpperBound(), loop.getStep())) {
      std::optional<int64_t> l = getConstantIntValue(lb),
                             u = getConstantIntValue(ub),
                             s = getConstantIntValue(step);
      if (!l || !u || !s || *s <= 0)
        return loop.emitOpError("needs constant bounds and positive steps to "
                                "run as a GPU kernel (static shapes)");
      lower.push_back(*l);
      upper.push_back(*u);
      steps.push_back(*s);
    }
    SmallVector<int64_t> trips;
    FailureOr<int64_t> total = iterationCount(loop, lower, upper, steps, trips);
    if (failed(total))
      return failure();
    if (*total == 0) {
      loop.erase();
      return success();
    }
    const int64_t block = std::min<int64_t>(blockSize, *total);
    const int64_t grid = (*total - 1) / block + 1;
    if (grid > 0x7fffffff)
      return loop.emitOpError("has too many iterations for one GPU launch (")
             << *total << ")";

    OpBuilder b(loop);
    Location loc = loop.getLoc();
    auto [launch, id] = createLaunch(b, loc, grid, block);
    // Guarded by id < total.
    Value inRange =
        arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult, id,
                              arith::ConstantIndexOp::create(b, loc, *total));
    auto guard = scf::IfOp::create(b, loc, inRange, /*withElse=*/false);
    b.setInsertionPointToStart(&guard.getThenRegion().front());
    // Delinearized with the last dimension fastest (consecutive threads
    // touch consecutive elements of row-major buffers).
    IRMapping mapping;
    mapping.map(loop.getInductionVars(),
                delinearize(b, loc, id, trips, lower, steps));
    for (Operation &op : loop.getBody()->without_terminator())
      b.clone(op, mapping);
    loop.erase();
    return success();
  }

  /// A gpu.launch of `grid` x `block` threads; `b` is left in its body, at
  /// the thread's linear id (returned).
  static std::pair<gpu::LaunchOp, Value>
  createLaunch(OpBuilder &b, Location loc, int64_t grid, int64_t block) {
    auto index = [&](int64_t v) -> Value {
      return arith::ConstantIndexOp::create(b, loc, v);
    };
    Value one = index(1);
    auto launch = gpu::LaunchOp::create(b, loc, index(grid), one, one,
                                        index(block), one, one);
    b.setInsertionPointToStart(&launch.getBody().front());
    gpu::TerminatorOp::create(b, loc);
    b.setInsertionPointToStart(&launch.getBody().front());
    Value id = arith::AddIOp::create(
        b, loc,
        arith::MulIOp::create(b, loc, launch.getBlockIds().x, index(block)),
        launch.getThreadIds().x);
    return {launch, id};
  }

  /// A linalg op whose loops all reduce into one output element (a maximum,
  /// a sum, a count): each thread folds a strided share of the elements
  /// into a private accumulator, then into the output with one atomic.
  /// Integer combiners only: their result does not depend on the order.
  LogicalResult reduceOnDevice(linalg::LinalgOp op) {
    auto fail = [&](const Twine &why) {
      return op->emitOpError("reduces all its loops ")
             << why << ", which has no GPU lowering in a function compiled "
             << "for device buffers";
    };
    if (op.getNumDpsInits() != 1)
      return fail("into several outputs");
    OpOperand *output = op.getDpsInitOperand(0);
    SmallVector<int64_t> outputElement;
    for (AffineExpr expr : op.getMatchingIndexingMap(output).getResults()) {
      auto constant = dyn_cast<AffineConstantExpr>(expr);
      if (!constant)
        return fail("into an element that depends on the loops");
      outputElement.push_back(constant.getValue());
    }
    Block *body = op.getBlock();
    auto yield = cast<linalg::YieldOp>(body->getTerminator());
    BlockArgument accumulator = op.getRegionOutputArgs()[0];
    Operation *combiner = yield.getValues()[0].getDefiningOp();
    std::optional<arith::AtomicRMWKind> kind =
        combiner && combiner->getNumOperands() == 2 && accumulator.hasOneUse()
            ? atomicKindOf(combiner)
            : std::nullopt;
    if (!kind || !llvm::is_contained(combiner->getOperands(), accumulator))
      return fail("with a combiner that is not an order-independent integer "
                  "operation (addi, maxsi, minsi, maxui, minui, andi, ori)");
    SmallVector<int64_t> ranges = op.getStaticLoopRanges();
    if (ShapedType::isDynamicShape(ranges))
      return fail("over dynamic sizes");
    SmallVector<int64_t> zeros(ranges.size(), 0), ones(ranges.size(), 1), trips;
    FailureOr<int64_t> total = iterationCount(op, zeros, ranges, ones, trips);
    if (failed(total))
      return failure();
    if (*total == 0) {
      op->erase(); // The output keeps its initial value.
      return success();
    }
    // Each thread folds about 16 elements (one atomic per 16), in a
    // grid-stride loop so that a warp reads consecutive elements.
    constexpr int64_t kElementsPerThread = 16;
    constexpr int64_t kMaxBlocks = 1024;
    const int64_t threads = (*total - 1) / kElementsPerThread + 1;
    const int64_t block = std::min<int64_t>(blockSize, threads);
    const int64_t grid = std::min((threads - 1) / block + 1, kMaxBlocks);

    OpBuilder b(op);
    Location loc = op.getLoc();
    auto index = [&](int64_t v) -> Value {
      return arith::ConstantIndexOp::create(b, loc, v);
    };
    Value id = createLaunch(b, loc, grid, block).second;
    Type type = accumulator.getType();
    Value identity = arith::getIdentityValue(*kind, type, b, loc);
    auto loop = scf::ForOp::create(b, loc, id, index(*total),
                                   index(grid * block), ValueRange{identity});
    {
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToStart(loop.getBody());
      SmallVector<Value> ivs =
          delinearize(b, loc, loop.getInductionVar(), trips, zeros, ones);
      auto indicesOf = [&](AffineMap map) {
        SmallVector<Value> indices;
        for (AffineExpr expr : map.getResults())
          indices.push_back(affine::AffineApplyOp::create(
              b, loc, AffineMap::get(map.getNumDims(), 0, expr), ivs));
        return indices;
      };
      IRMapping mapping;
      for (OpOperand *input : op.getDpsInputOperands()) {
        Value value = input->get();
        if (isa<MemRefType>(value.getType()))
          value = memref::LoadOp::create(
              b, loc, value, indicesOf(op.getMatchingIndexingMap(input)));
        mapping.map(op.getMatchingBlockArgument(input), value);
      }
      mapping.map(accumulator, loop.getRegionIterArgs()[0]);
      for (Operation &nested : body->without_terminator()) {
        if (auto indexOp = dyn_cast<linalg::IndexOp>(nested)) {
          mapping.map(indexOp.getResult(), ivs[indexOp.getDim()]);
          continue;
        }
        b.clone(nested, mapping);
      }
      scf::YieldOp::create(b, loc, mapping.lookup(yield.getValues()[0]));
    }
    Value inRange = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult, id,
                                          index(*total));
    auto guard = scf::IfOp::create(b, loc, inRange, /*withElse=*/false);
    b.setInsertionPointToStart(&guard.getThenRegion().front());
    memref::AtomicRMWOp::create(b, loc, *kind, loop.getResult(0), output->get(),
                                llvm::map_to_vector(outputElement, index));
    op->erase();
    return success();
  }

  /// A linalg op with loops becomes loops (sequential inner loops over
  /// reduction dimensions that are not outermost); one that reduces all its
  /// loops becomes a reduction kernel; one without loops (a 0-d fill) a
  /// loop of one iteration.
  LogicalResult toLoops(RewriterBase &rewriter, linalg::LinalgOp op) {
    if (!op.hasPureBufferSemantics())
      return op->emitOpError("could not be turned into loops for the GPU");
    if (op.getNumLoops() > 0 && op.getNumLoops() == op.getNumReductionLoops())
      return reduceOnDevice(op);
    rewriter.setInsertionPoint(op);
    if (op.getNumLoops() == 0)
      rewriter.setInsertionPointToStart(
          singleIteration(rewriter, op.getLoc()).getBody());
    if (failed(linalg::linalgOpToParallelLoops(rewriter, op)))
      return op->emitOpError("could not be turned into loops for the GPU");
    rewriter.eraseOp(op);
    return success();
  }

  /// An empty scf.parallel loop of one iteration (a kernel of one thread).
  static scf::ParallelOp singleIteration(OpBuilder &b, Location loc) {
    Value zero = arith::ConstantIndexOp::create(b, loc, 0);
    Value one = arith::ConstantIndexOp::create(b, loc, 1);
    return scf::ParallelOp::create(b, loc, zero, one, one);
  }

  /// The view `memref` is, seen through loops that carry a buffer
  /// unchanged (a slice one iteration updates in place).
  static Value carriedView(Value memref) {
    while (auto result = dyn_cast<OpResult>(memref)) {
      auto loop = dyn_cast<scf::ForOp>(result.getOwner());
      if (!loop)
        break;
      unsigned i = result.getResultNumber();
      if (loop.getYieldedValues()[i] != loop.getRegionIterArgs()[i])
        break;
      memref = loop.getInitArgs()[i];
    }
    return memref;
  }

  /// Whether `copy` writes a view onto itself: bufferization's write-back of
  /// a slice that was updated in place (an extract_slice / insert_slice
  /// pair over the same slice), which does nothing.
  static bool copiesOntoItself(memref::CopyOp copy) {
    Value from = carriedView(copy.getSource()), to = copy.getTarget();
    if (from == to)
      return true;
    Operation *fromOp = from.getDefiningOp(), *toOp = to.getDefiningOp();
    return fromOp && toOp && isa<memref::SubViewOp>(fromOp) &&
           OperationEquivalence::isEquivalentTo(
               fromOp, toOp, OperationEquivalence::IgnoreLocations);
  }

  /// An element-wise scf.parallel copy of a statically shaped view.
  static LogicalResult copyAsLoop(memref::CopyOp copy) {
    auto type = cast<MemRefType>(copy.getSource().getType());
    if (!type.hasStaticShape())
      return copy.emitOpError("copies a dynamically shaped view in a function "
                              "compiled for device buffers");
    OpBuilder b(copy);
    Location loc = copy.getLoc();
    SmallVector<Value> lower, upper, steps;
    for (int64_t size : type.getShape()) {
      lower.push_back(arith::ConstantIndexOp::create(b, loc, 0));
      upper.push_back(arith::ConstantIndexOp::create(b, loc, size));
      steps.push_back(arith::ConstantIndexOp::create(b, loc, 1));
    }
    scf::ParallelOp::create(
        b, loc, lower, upper, steps,
        [&](OpBuilder &lb, Location ll, ValueRange indices) {
          Value element =
              memref::LoadOp::create(lb, ll, copy.getSource(), indices);
          memref::StoreOp::create(lb, ll, element, copy.getTarget(), indices);
        });
    copy.erase();
    return success();
  }

  void runOnOperation() override {
    if (blockSize < 1 || blockSize > 1024) {
      getOperation().emitError("mrope-gpu-parallel-loops: block-size must be "
                               "in [1, 1024], got ")
          << blockSize.getValue();
      return signalPassFailure();
    }
    // A host program's own loops over its own (host) buffers stay.
    if (!mrope::worksOnDeviceBuffers(getOperation()))
      return;
    // linalg ops on the host become parallel loops. Not through
    // convert-linalg-to-parallel-loops: its greedy driver would hoist the
    // kernels' constants out of the launches (outlining then passes them as
    // parameters).
    func::FuncOp func = getOperation();
    IRRewriter rewriter(&getContext());
    for (linalg::LinalgOp op : hostOpsOf<linalg::LinalgOp>(func))
      if (failed(toLoops(rewriter, op)))
        return signalPassFailure();

    // A scalar the host stores into device memory (tensor.from_elements of
    // a length) is a kernel of one thread.
    for (memref::StoreOp store : hostOpsOf<memref::StoreOp>(func)) {
      if (store->getParentOfType<scf::ParallelOp>() ||
          !isDeviceBuffer(viewedBuffer(store.getMemref()),
                          /*allocsAreDevice=*/true))
        continue;
      rewriter.setInsertionPoint(store);
      scf::ParallelOp single = singleIteration(rewriter, store.getLoc());
      rewriter.moveOpBefore(store, single.getBody()->getTerminator());
    }

    // Copies between strided views (a table written in sections), and
    // copies of a buffer chosen from device memory (LongRoPE's short or
    // long factors, by a length the device computed), are loops too;
    // other contiguous copies stay copies (gpu.memcpy).
    DeviceDerivedValues derived;
    auto contiguous = [](Value value) {
      auto type = cast<MemRefType>(value.getType());
      return type.areTrailingDimsContiguous(type.getRank());
    };
    for (memref::CopyOp copy : hostOpsOf<memref::CopyOp>(func)) {
      if (copiesOntoItself(copy)) {
        copy.erase();
        continue;
      }
      if ((!contiguous(copy.getSource()) || !contiguous(copy.getTarget()) ||
           derived.contains(copy.getSource()) ||
           derived.contains(copy.getTarget())) &&
          failed(copyAsLoop(copy)))
        return signalPassFailure();
    }

    for (scf::ParallelOp loop :
         hostOpsOf<scf::ParallelOp>(func, /*outermost=*/true))
      if (failed(mapToLaunch(loop)))
        return signalPassFailure();

    // (A fresh analysis: the loops' ops it may have seen are gone.)
    DeviceDerivedValues derivedNow;
    for (gpu::LaunchOp launch : hostOpsOf<gpu::LaunchOp>(func))
      sinkIntoKernel(launch, derivedNow);
    eraseUnusedDeviceReads(func, derivedNow);
  }
};

struct GPUCheckHostAccessPass
    : mrope::impl::GPUCheckHostAccessBase<GPUCheckHostAccessPass> {
  void runOnOperation() override {
    // (A host program reads its own buffers; gpu.alloc results are device
    // memory in any function.)
    WalkResult result =
        getOperation()->walk<WalkOrder::PreOrder>([&](Operation *op) {
          // Kernels and the gpu ops that hand buffers to the device.
          if (isa<gpu::LaunchOp>(op))
            return WalkResult::skip();
          auto effects = dyn_cast<MemoryEffectOpInterface>(op);
          if (!effects || isa<gpu::GPUDialect>(op->getDialect()))
            return WalkResult::advance();
          SmallVector<MemoryEffects::EffectInstance> instances;
          effects.getEffects(instances);
          for (const MemoryEffects::EffectInstance &effect : instances) {
            Value value = effect.getValue();
            if (!value || !isa<MemRefType>(value.getType()) ||
                !isa<MemoryEffects::Read, MemoryEffects::Write>(
                    effect.getEffect()) ||
                !isDeviceBuffer(viewedBuffer(value), /*allocsAreDevice=*/false))
              continue;
            op->emitOpError(
                "reads or writes device memory on the host in a "
                "function compiled for device buffers (GPU "
                "pipeline); only mrope.apply, mrope.attention and "
                "data-parallel loops run on the GPU -- compute this "
                "on the host (mrope-cpu-pipeline, or "
                "host-buffers=true)");
            return WalkResult::interrupt();
          }
          return WalkResult::advance();
        });
    if (result.wasInterrupted())
      signalPassFailure();
  }
};

} // namespace
