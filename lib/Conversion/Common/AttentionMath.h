//===- AttentionMath.h - attention arithmetic of every lowering -*- C++ -*-===//
//
// The softmax arithmetic the CPU forms of mrope.attention and the GPU kernel
// share, so that they treat edge cases (rows without keys) alike.
//
//===----------------------------------------------------------------------===//

#ifndef MROPE_LIB_CONVERSION_COMMON_ATTENTIONMATH_H
#define MROPE_LIB_CONVERSION_COMMON_ATTENTIONMATH_H

#include "mlir/IR/Builders.h"

namespace mlir::mrope {

/// acc / sum for a row (a vector of f32; 0 for a row without keys: sum = 0),
/// converted to `elementType`.
Value buildNormalizedRow(OpBuilder &b, Location loc, Value acc, Value sum,
                         Type elementType);

} // namespace mlir::mrope

#endif // MROPE_LIB_CONVERSION_COMMON_ATTENTIONMATH_H
