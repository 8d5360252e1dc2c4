//===- AttentionTiles.h - attention with query rows in vector lanes -*- C++
//-*-//

#ifndef MROPE_LIB_CONVERSION_MROPETOLINALG_ATTENTIONTILES_H
#define MROPE_LIB_CONVERSION_MROPETOLINALG_ATTENTIONTILES_H

#include "Common/ActivationLayout.h"

#include "mlir/IR/Builders.h"

namespace mlir::mrope {

class AttentionOp;

/// Key or value rows as the tiles read them: a tensor and its layout (the
/// op's, or head-major when they were widened into a copy of their own).
struct KeyValueRows {
  Value rows;
  ActivationLayout layout;
};

/// The result of `op` computed with query rows in the lanes of vectors of
/// `lanes` f32 (see AttentionTiles.cpp), from q after the op's rotary
/// prologue and keys and values as f32 rows -- or for a paged cache the
/// op's pools, 16-bit rows widened as they are read. With `bf16Dot` (see
/// laneTilesCanUseBF16Dot) keys are bf16: q . k as AVX512-BF16 dot products
/// of channel pairs.
Value buildLaneTiledAttention(OpBuilder &b, Location loc, AttentionOp op,
                              Value q, KeyValueRows k, KeyValueRows v,
                              int64_t lanes, bool bf16Dot);

/// Whether `op`'s tiles can take q . k as vdpbf16ps: bf16 activations, an
/// even head dim, and tiles of 4, 8 or 16 rows.
bool laneTilesCanUseBF16Dot(AttentionOp op, int64_t lanes);

} // namespace mlir::mrope

#endif
