//===- MRopeDialect.h - mrope dialect ---------------------------*- C++ -*-===//

#ifndef MROPE_DIALECT_MROPE_IR_MROPEDIALECT_H
#define MROPE_DIALECT_MROPE_IR_MROPEDIALECT_H

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Dialect.h"

#include "mrope/Dialect/MRope/IR/MRopeOpsDialect.h.inc"

namespace mlir {
class RewritePatternSet;
namespace mrope {

/// Replaces an mrope op all of whose results are tensors without elements
/// (a static zero batch, token, head or channel count; dynamic sizes next
/// to it are reified from the operands) by tensor.empty: there is nothing to
/// compute, and the lowerings, which slice their operands, would otherwise
/// build slices of zero-sized dimensions that tensor.extract_slice's verifier
/// rejects. Part of the dialect's canonicalization; the conversion passes run
/// it first.
void populateEmptyResultPatterns(RewritePatternSet &patterns);

} // namespace mrope
} // namespace mlir

#endif // MROPE_DIALECT_MROPE_IR_MROPEDIALECT_H
