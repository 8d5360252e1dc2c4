//===- X86PackBF16Conversions.cpp - two bf16 conversions as one -----------===//
//
// See the pass description in Passes.td: LLVM's x86 backend emits two
// vcvtneps2bf16 and an insert where one vcvtne2ps2bf16 does the work.
//
//===----------------------------------------------------------------------===//

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mrope/Dialect/MRope/Transforms/Passes.h"
#include "llvm/ADT/SetVector.h"

namespace mlir::mrope {
#define GEN_PASS_DEF_MROPEX86PACKBF16CONVERSIONS
#include "mrope/Dialect/MRope/Transforms/Passes.h.inc"
} // namespace mlir::mrope

using namespace mlir;

/// The one-vector conversion's input when `value` is its result, and the
/// input's width in bits (256 or 512).
static std::optional<std::pair<Value, unsigned>> convertedFrom(Value value) {
  auto call = value.getDefiningOp<LLVM::CallIntrinsicOp>();
  if (!call || call.getArgs().size() != 1)
    return std::nullopt;
  for (unsigned bits : {256u, 512u})
    if (call.getIntrin() ==
        ("llvm.x86.avx512bf16.cvtneps2bf16." + std::to_string(bits)))
      return std::make_pair(call.getArgs()[0], bits);
  return std::nullopt;
}

namespace {
struct MRopeX86PackBF16ConversionsPass
    : mrope::impl::MRopeX86PackBF16ConversionsBase<
          MRopeX86PackBF16ConversionsPass> {
  void runOnOperation() override {
    OpBuilder b(&getContext());
    // A conversion may feed several shuffles (or both operands of one):
    // each is erased once, when its last use is gone.
    llvm::SetVector<Operation *> maybeDead;
    getOperation()->walk([&](LLVM::ShuffleVectorOp shuffle) {
      auto low = convertedFrom(shuffle.getV1());
      auto high = convertedFrom(shuffle.getV2());
      if (!low || !high || low->second != high->second)
        return;
      const int64_t halfLanes =
          cast<VectorType>(shuffle.getV1().getType()).getNumElements();
      ArrayRef<int32_t> mask = shuffle.getMask();
      if (int64_t(mask.size()) != 2 * halfLanes ||
          llvm::any_of(llvm::enumerate(mask), [](auto lane) {
            return lane.value() != int32_t(lane.index());
          }))
        return;
      b.setInsertionPoint(shuffle);
      auto fused = LLVM::CallIntrinsicOp::create(
          b, shuffle.getLoc(), shuffle.getType(),
          b.getStringAttr("llvm.x86.avx512bf16.cvtne2ps2bf16." +
                          std::to_string(low->second)),
          ValueRange{high->first, low->first});
      maybeDead.insert(shuffle.getV1().getDefiningOp());
      maybeDead.insert(shuffle.getV2().getDefiningOp());
      shuffle.replaceAllUsesWith(fused.getResults());
      shuffle.erase();
    });
    for (Operation *op : maybeDead)
      if (op->use_empty())
        op->erase();
  }
};
} // namespace
