//===- PrintAllocation.cpp - report resolved frequency allocations --------===//

#include "mrope/Dialect/MRope/IR/MRopeOps.h"
#include "mrope/Dialect/MRope/Transforms/Passes.h"

namespace mlir::mrope {
#define GEN_PASS_DEF_MROPEPRINTALLOCATION
#include "mrope/Dialect/MRope/Transforms/Passes.h.inc"
} // namespace mlir::mrope

using namespace mlir;
using namespace mlir::mrope;

static char axisChar(Axis axis) {
  switch (axis) {
  case Axis::T:
    return 'T';
  case Axis::H:
    return 'H';
  case Axis::W:
    return 'W';
  case Axis::NoPE:
    return '-';
  }
  llvm_unreachable("unknown axis");
}

static std::string axisString(ArrayRef<Axis> axes) {
  std::string text;
  for (Axis axis : axes)
    text += axisChar(axis);
  return text;
}

namespace {
struct MRopePrintAllocationPass
    : mrope::impl::MRopePrintAllocationBase<MRopePrintAllocationPass> {
  void runOnOperation() override {
    getOperation()->walk([](RotaryOpInterface op) {
      RotaryAttr rotary = op.getRotaryConfig();
      if (!rotary)
        return;
      AllocationAttr alloc = rotary.getAlloc();
      if (!alloc.isHeadPartitioned()) {
        op->emitRemark() << "pair axes: "
                         << axisString(
                                alloc.getPairAxes(rotary.getRotaryDim() / 2));
        return;
      }
      int64_t numKVHeads = op.getNumKVHeads();
      if (ShapedType::isDynamic(numKVHeads)) {
        op->emitRemark("KV head axes: unknown (dynamic KV head count)");
        return;
      }
      op->emitRemark() << "KV head axes: "
                       << axisString(alloc.getHeadAxes(numKVHeads));
    });
  }
};
} // namespace
