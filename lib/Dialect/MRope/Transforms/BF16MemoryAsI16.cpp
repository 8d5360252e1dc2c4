//===- BF16MemoryAsI16.cpp - bf16 loads and stores as i16 bits ------------===//
//
// See the pass description in Passes.td: x86 without AVX512-BF16 legalizes
// bf16 vector memory accesses one element at a time; i16 ones are moves.
//
//===----------------------------------------------------------------------===//

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mrope/Dialect/MRope/Transforms/Passes.h"

namespace mlir::mrope {
#define GEN_PASS_DEF_MROPEBF16MEMORYASI16
#include "mrope/Dialect/MRope/Transforms/Passes.h.inc"
} // namespace mlir::mrope

using namespace mlir;

/// The i16 type with the shape of `type` when `type` is bf16 or a vector of
/// bf16; null otherwise.
static Type bitsTypeOf(Type type) {
  auto i16 = IntegerType::get(type.getContext(), 16);
  if (type.isBF16())
    return i16;
  if (auto vector = dyn_cast<VectorType>(type))
    if (vector.getElementType().isBF16())
      return vector.clone(i16);
  return {};
}

namespace {
struct MRopeBF16MemoryAsI16Pass
    : mrope::impl::MRopeBF16MemoryAsI16Base<MRopeBF16MemoryAsI16Pass> {
  void runOnOperation() override {
    OpBuilder b(&getContext());
    getOperation()->walk([&](Operation *op) {
      if (auto store = dyn_cast<LLVM::StoreOp>(op)) {
        Value value = store.getValue();
        if (Type bits = bitsTypeOf(value.getType())) {
          b.setInsertionPoint(store);
          Value cast = LLVM::BitcastOp::create(b, store.getLoc(), bits, value);
          store.getValueMutable().assign(cast);
        }
        return;
      }
      if (auto load = dyn_cast<LLVM::LoadOp>(op)) {
        Type type = load.getType();
        if (Type bits = bitsTypeOf(type)) {
          // The load keeps its address and attributes; only the type of the
          // loaded bits changes, and one bitcast restores the bf16 value.
          load.getResult().setType(bits);
          b.setInsertionPointAfter(load);
          auto cast =
              LLVM::BitcastOp::create(b, load.getLoc(), type, load.getResult());
          load.getResult().replaceAllUsesExcept(cast.getResult(), cast);
        }
      }
    });
  }
};
} // namespace
