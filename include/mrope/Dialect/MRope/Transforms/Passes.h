//===- Passes.h - mrope dialect passes --------------------------*- C++ -*-===//

#ifndef MROPE_DIALECT_MROPE_TRANSFORMS_PASSES_H
#define MROPE_DIALECT_MROPE_TRANSFORMS_PASSES_H

#include "mlir/Pass/Pass.h"
#include "mrope/Dialect/MRope/IR/MRopeDialect.h"

namespace mlir {
class RewritePatternSet;
namespace mrope {

#define GEN_PASS_DECL
#include "mrope/Dialect/MRope/Transforms/Passes.h.inc"

/// Patterns that fold a forward mrope.apply on q and k into the
/// mrope.attention reading both results.
void populateFuseRotaryIntoAttentionPatterns(RewritePatternSet &patterns,
                                             bool allowRecompute = false);

#define GEN_PASS_REGISTRATION
#include "mrope/Dialect/MRope/Transforms/Passes.h.inc"

} // namespace mrope
} // namespace mlir

#endif // MROPE_DIALECT_MROPE_TRANSFORMS_PASSES_H
