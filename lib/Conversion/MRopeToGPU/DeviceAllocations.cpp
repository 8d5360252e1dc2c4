//===- DeviceAllocations.cpp - host buffers of GPU functions on the device ===//
//
// memref.alloc / copy / dealloc in a function that launches kernels or takes
// (device) buffers become gpu.alloc / memcpy / dealloc, each on its own wait
// so that ordering is the host program's. Temporaries that bufferization
// left without a dealloc (it runs without the deallocation pipeline, which
// rejects gpu ops) are freed at the end of their block unless they escape:
// a function called once per decode step must not leak device memory.
//
//===----------------------------------------------------------------------===//

#include "GPUKernels.h"
#include "mrope/Conversion/Passes.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Interfaces/CallInterfaces.h"
#include "mlir/Interfaces/ViewLikeInterface.h"

namespace mlir::mrope {
#define GEN_PASS_DEF_GPUDEVICEALLOCATIONS
#include "mrope/Conversion/Passes.h.inc"
} // namespace mlir::mrope

using namespace mlir;

namespace {

/// Whether `buffer` (or a view of it) may outlive its block: returned,
/// yielded, or flowing into an op whose results could alias it.
bool mayEscape(Value buffer) {
  SmallVector<Value> worklist{buffer};
  while (!worklist.empty()) {
    Value value = worklist.pop_back_val();
    for (Operation *user : value.getUsers()) {
      if (user->hasTrait<OpTrait::IsTerminator>() || isa<CallOpInterface>(user))
        return true;
      if (isa<ViewLikeOpInterface, memref::CastOp>(user) &&
          user->getOperand(0) == value) {
        worklist.append(user->result_begin(), user->result_end());
        continue;
      }
      if (llvm::any_of(user->getResultTypes(),
                       [](Type type) { return isa<BaseMemRefType>(type); }))
        return true;
    }
  }
  return false;
}

struct GPUDeviceAllocationsPass
    : mrope::impl::GPUDeviceAllocationsBase<GPUDeviceAllocationsPass> {
  void runOnOperation() override {
    func::FuncOp func = getOperation();
    if (!mrope::worksOnDeviceBuffers(func))
      return;
    SmallVector<Operation *> hostOps;
    func.walk([&](Operation *op) {
      if (isa<memref::AllocOp, memref::CopyOp, memref::DeallocOp>(op) &&
          !op->getParentOfType<gpu::LaunchOp>())
        hostOps.push_back(op);
    });

    IRRewriter rewriter(&getContext());
    Type token = gpu::AsyncTokenType::get(&getContext());
    // Temporaries to free: allocations with no dealloc of their own that
    // do not escape their block.
    SmallVector<memref::AllocOp> temporaries;
    for (Operation *op : hostOps)
      if (auto alloc = dyn_cast<memref::AllocOp>(op);
          alloc &&
          llvm::none_of(
              alloc->getUsers(),
              [](Operation *user) { return isa<memref::DeallocOp>(user); }) &&
          !mayEscape(alloc.getResult())) {
        temporaries.push_back(alloc);
      }
    for (memref::AllocOp alloc : temporaries) {
      rewriter.setInsertionPoint(alloc->getBlock()->getTerminator());
      hostOps.push_back(
          memref::DeallocOp::create(rewriter, alloc.getLoc(), alloc));
    }
    for (Operation *op : hostOps) {
      // A buffer copied onto itself (materialize_in_destination of an
      // in-place result) is no copy.
      if (auto copy = dyn_cast<memref::CopyOp>(op);
          copy && copy.getSource() == copy.getTarget()) {
        rewriter.eraseOp(op);
        continue;
      }
      Location loc = op->getLoc();
      rewriter.setInsertionPoint(op);
      Value ready = gpu::WaitOp::create(rewriter, loc, token, ValueRange{})
                        .getAsyncToken();
      Value done;
      if (auto alloc = dyn_cast<memref::AllocOp>(op)) {
        auto device = gpu::AllocOp::create(
            rewriter, loc, alloc.getType(), token, ValueRange{ready},
            alloc.getDynamicSizes(), alloc.getSymbolOperands());
        done = device.getAsyncToken();
        rewriter.replaceAllUsesWith(alloc.getResult(), device.getMemref());
      } else if (auto copy = dyn_cast<memref::CopyOp>(op)) {
        auto isContiguous = [](Type type) {
          auto memref = cast<MemRefType>(type);
          return memref.areTrailingDimsContiguous(memref.getRank());
        };
        if (!isContiguous(copy.getSource().getType()) ||
            !isContiguous(copy.getTarget().getType())) {
          copy.emitOpError("copies a non-contiguous view in a function that "
                           "launches GPU kernels; the device copy needs "
                           "contiguous buffers");
          return signalPassFailure();
        }
        done = gpu::MemcpyOp::create(rewriter, loc, token, ValueRange{ready},
                                     copy.getTarget(), copy.getSource())
                   .getAsyncToken();
      } else {
        auto dealloc = cast<memref::DeallocOp>(op);
        done = gpu::DeallocOp::create(rewriter, loc, token, ValueRange{ready},
                                      dealloc.getMemref())
                   .getAsyncToken();
      }
      gpu::WaitOp::create(rewriter, loc, Type(), ValueRange{done});
      rewriter.eraseOp(op);
    }
  }
};

} // namespace
