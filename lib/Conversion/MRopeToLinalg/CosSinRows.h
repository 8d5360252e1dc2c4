//===- CosSinRows.h - the CPU form of mrope.cos_sin -------------*- C++ -*-===//

#ifndef MROPE_LIB_CONVERSION_MROPETOLINALG_COSSINROWS_H
#define MROPE_LIB_CONVERSION_MROPETOLINALG_COSSINROWS_H

#include "mrope/Conversion/MRopeToLinalg/MRopeToLinalg.h"
#include "mrope/Dialect/MRope/IR/MRopeAttrs.h"

#include "mlir/IR/Builders.h"

#include <utility>

namespace mlir::mrope {

/// The Hugging Face cos/sin tables of `positions` ([3, .., S]) as the CPU
/// form builds them: one scf.forall over tiles of `options.tokenTile`
/// tokens; per token, cos/sin of each position axis's pairs as vectors of
/// the target's width (`options.vectorBits`), then each row of the
/// `[.., D]` layout (per KV head for head-partitioned allocations)
/// assembled from them with constant shuffles and written a vector at a
/// time. The same bits as the portable form: the same buildRotaryCosSin
/// arithmetic, lane by lane. Results are `[.., S, D]` / `[.., KV, S, D]`
/// of `elementType` (sizes as the positions'; static KV count `numKV`).
std::pair<Value, Value> buildCosSinRows(OpBuilder &b, Location loc,
                                        Value positions, Value invFreq,
                                        RotaryAttr rotary, int64_t numKV,
                                        Type elementType,
                                        const RotaryLoweringOptions &options);

} // namespace mlir::mrope

#endif // MROPE_LIB_CONVERSION_MROPETOLINALG_COSSINROWS_H
