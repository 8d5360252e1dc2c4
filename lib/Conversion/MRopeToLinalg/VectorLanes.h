//===- VectorLanes.h - vectors assembled from lanes of others ---*- C++ -*-===//
//
// The CPU forms compute cos/sin per position axis, for that axis's pairs
// only, and then need vectors whose lanes follow another order (a chunk of
// pairs, a row of the Hugging Face layout): constant shuffles of the
// computed vectors.
//
//===----------------------------------------------------------------------===//

#ifndef MROPE_LIB_CONVERSION_MROPETOLINALG_VECTORLANES_H
#define MROPE_LIB_CONVERSION_MROPETOLINALG_VECTORLANES_H

#include "mlir/IR/Builders.h"

#include <utility>

namespace mlir::mrope {

/// A 1-D vector whose lane l is lane `from[l].second` of `from[l].first`
/// (1-D vectors of one element type), with as few ops as it takes: the
/// source itself, a slice of it, or one shuffle per further source.
Value assembleLanes(OpBuilder &b, Location loc,
                    ArrayRef<std::pair<Value, int64_t>> from);

/// Lanes `lanes` of the 1-D vector `source`, in this order, packed into
/// vectors of `width` lanes; the last one padded with zeros (an inv_freq of
/// 0: angle 0, harmless lanes).
SmallVector<Value> packLanes(OpBuilder &b, Location loc, Value source,
                             ArrayRef<int64_t> lanes, int64_t width);

} // namespace mlir::mrope

#endif // MROPE_LIB_CONVERSION_MROPETOLINALG_VECTORLANES_H
