//===- AttentionTiles.h - attention with query rows in vector lanes -*- C++
//-*-//

#ifndef MROPE_LIB_CONVERSION_MROPETOLINALG_ATTENTIONTILES_H
#define MROPE_LIB_CONVERSION_MROPETOLINALG_ATTENTIONTILES_H

#include "mlir/IR/Builders.h"

namespace mlir::mrope {

class AttentionOp;

/// The result of `op` computed with query rows in the lanes of vectors of
/// `lanes` f32 (see AttentionTiles.cpp), from q and k after the op's rotary
/// prologue, and keys and values as f32 tensors.
Value buildLaneTiledAttention(OpBuilder &b, Location loc, AttentionOp op,
                              Value q, Value kF32, Value vF32, int64_t lanes);

} // namespace mlir::mrope

#endif
