//===- AttentionTiles.h - attention with query rows in vector lanes -*- C++
//-*-//

#ifndef MROPE_LIB_CONVERSION_MROPETOLINALG_ATTENTIONTILES_H
#define MROPE_LIB_CONVERSION_MROPETOLINALG_ATTENTIONTILES_H

#include "mlir/IR/Builders.h"

namespace mlir::mrope {

class AttentionOp;

/// The result of `op` computed with query rows in the lanes of vectors of
/// `lanes` f32 (see AttentionTiles.cpp), from q after the op's rotary
/// prologue and the op's keys and values (16-bit rows are widened chunk by
/// chunk; a paged cache's read through its pages). With `bf16Dot` (see
/// laneTilesCanUseBF16Dot) bf16 keys are not widened: q . k as AVX512-BF16
/// dot products of channel pairs.
Value buildLaneTiledAttention(OpBuilder &b, Location loc, AttentionOp op,
                              Value q, Value k, Value v, int64_t lanes,
                              bool bf16Dot);

/// Whether `op`'s tiles can take q . k as vdpbf16ps: bf16 activations, an
/// even head dim, and tiles of 4, 8 or 16 rows.
bool laneTilesCanUseBF16Dot(AttentionOp op, int64_t lanes);

} // namespace mlir::mrope

#endif
