//===- ParallelLoops.cpp - host loops of device functions on the GPU ------===//
//
// In a function compiled for device buffers, every buffer is device memory:
// the loops left around the mrope kernels (position and table ops lowered
// to linalg, the user's elementwise tensor code) must run on the GPU too.
// mrope-gpu-parallel-loops turns the linalg ops and strided copies left on
// the host into scf.parallel loops and each outermost one into a gpu.launch
// of one thread per iteration; mrope-gpu-check-host-access then
// rejects whatever host code still dereferences device memory, so that such
// a program fails to compile instead of crashing when it runs.
//
//===----------------------------------------------------------------------===//

#include "GPUKernels.h"
#include "mrope/Conversion/Passes.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/Linalg/Transforms/Transforms.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/Matchers.h"
#include "mlir/Interfaces/ViewLikeInterface.h"

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

/// Clones into the kernel `region` the ops defined outside it that belong
/// there: constants (so outlining does not pass them as parameters) and
/// memref.get_global (so outlining moves the global to the device instead
/// of passing a host address).
void sinkIntoKernel(Region &region) {
  SmallVector<Operation *> toSink;
  region.walk([&](Operation *op) {
    for (Value operand : op->getOperands()) {
      Operation *def = operand.getDefiningOp();
      if (def && !region.isAncestor(def->getParentRegion()) &&
          (isa<memref::GetGlobalOp>(def) ||
           def->hasTrait<OpTrait::ConstantLike>()))
        toSink.push_back(def);
    }
  });
  OpBuilder b = OpBuilder::atBlockBegin(&region.front());
  DenseMap<Operation *, Operation *> cloned;
  for (Operation *def : toSink) {
    if (cloned.count(def))
      continue;
    Operation *copy = b.clone(*def);
    cloned[def] = copy;
    for (auto [from, to] : llvm::zip(def->getResults(), copy->getResults()))
      from.replaceUsesWithIf(to, [&](OpOperand &use) {
        return region.isAncestor(use.getOwner()->getParentRegion());
      });
  }
}

struct GPUParallelLoopsPass
    : mrope::impl::GPUParallelLoopsBase<GPUParallelLoopsPass> {
  using Base::Base;

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
    // Trip counts, and the iteration space's size.
    SmallVector<int64_t> trips;
    int64_t total = 1;
    for (auto [l, u, s] : llvm::zip(lower, upper, steps)) {
      // (u - l) as unsigned: exact for any u > l.
      uint64_t trip = u > l ? (uint64_t(u) - uint64_t(l) - 1) / s + 1 : 0;
      if (trip > uint64_t(std::numeric_limits<int64_t>::max()))
        return loop.emitOpError("has too many iterations for one GPU launch");
      trips.push_back(int64_t(trip));
      if (trips.back() &&
          total > std::numeric_limits<int64_t>::max() / trips.back())
        return loop.emitOpError("has too many iterations for one GPU launch");
      total *= trips.back();
    }
    if (total == 0) {
      loop.erase();
      return success();
    }
    const int64_t block = std::min<int64_t>(blockSize, total);
    const int64_t grid = (total - 1) / block + 1;
    if (grid > 0x7fffffff)
      return loop.emitOpError("has too many iterations for one GPU launch (")
             << total << ")";

    OpBuilder b(loop);
    Location loc = loop.getLoc();
    auto index = [&](int64_t v) -> Value {
      return arith::ConstantIndexOp::create(b, loc, v);
    };
    Value one = index(1);
    auto launch = gpu::LaunchOp::create(b, loc, index(grid), one, one,
                                        index(block), one, one);
    b.setInsertionPointToStart(&launch.getBody().front());
    // id = block * blockDim + thread, guarded by id < total.
    Value id = arith::AddIOp::create(
        b, loc,
        arith::MulIOp::create(b, loc, launch.getBlockIds().x, index(block)),
        launch.getThreadIds().x);
    Value inRange = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult, id,
                                          index(total));
    auto guard = scf::IfOp::create(b, loc, inRange, /*withElse=*/false);
    gpu::TerminatorOp::create(b, loc);
    b.setInsertionPointToStart(&guard.getThenRegion().front());
    // Delinearize, the last dimension fastest (consecutive threads touch
    // consecutive elements of row-major buffers).
    IRMapping mapping;
    int64_t stride = 1;
    for (int64_t d = trips.size() - 1; d >= 0; --d) {
      Value i = arith::RemUIOp::create(
          b, loc, arith::DivUIOp::create(b, loc, id, index(stride)),
          index(trips[d]));
      Value iv = arith::AddIOp::create(
          b, loc, arith::MulIOp::create(b, loc, i, index(steps[d])),
          index(lower[d]));
      mapping.map(loop.getInductionVars()[d], iv);
      stride *= trips[d];
    }
    for (Operation &op : loop.getBody()->without_terminator())
      b.clone(op, mapping);
    sinkIntoKernel(launch.getBody());
    loop.erase();
    return success();
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
    SmallVector<linalg::LinalgOp> linalgOps;
    getOperation().walk([&](linalg::LinalgOp op) {
      if (!op->getParentOfType<gpu::LaunchOp>())
        linalgOps.push_back(op);
    });
    IRRewriter rewriter(&getContext());
    for (linalg::LinalgOp op : linalgOps) {
      rewriter.setInsertionPoint(op);
      if (!op.hasPureBufferSemantics() ||
          failed(linalg::linalgOpToParallelLoops(rewriter, op))) {
        op->emitOpError("could not be turned into loops for the GPU");
        return signalPassFailure();
      }
      rewriter.eraseOp(op);
    }

    // Copies between strided views (a table written in sections) are loops
    // too; contiguous copies stay copies (gpu.memcpy).
    SmallVector<memref::CopyOp> stridedCopies;
    getOperation().walk([&](memref::CopyOp copy) {
      auto contiguous = [](Value value) {
        auto type = cast<MemRefType>(value.getType());
        return type.areTrailingDimsContiguous(type.getRank());
      };
      if (!copy->getParentOfType<gpu::LaunchOp>() &&
          (!contiguous(copy.getSource()) || !contiguous(copy.getTarget())))
        stridedCopies.push_back(copy);
    });
    for (memref::CopyOp copy : stridedCopies)
      if (failed(copyAsLoop(copy)))
        return signalPassFailure();

    SmallVector<scf::ParallelOp> loops;
    getOperation().walk([&](scf::ParallelOp loop) {
      if (!loop->getParentOfType<scf::ParallelOp>() &&
          !loop->getParentOfType<gpu::LaunchOp>())
        loops.push_back(loop);
    });
    for (scf::ParallelOp loop : loops)
      if (failed(mapToLaunch(loop)))
        return signalPassFailure();
  }
};

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
/// argument of the function or a gpu.alloc.
bool isDeviceBuffer(Value buffer) {
  if (auto arg = dyn_cast<BlockArgument>(buffer))
    return isa<FunctionOpInterface>(arg.getOwner()->getParentOp());
  return isa_and_nonnull<gpu::AllocOp>(buffer.getDefiningOp());
}

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
                !isDeviceBuffer(viewedBuffer(value)))
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
