//===- AttentionDecode.h - decode attention, heads sharing keys -*- C++ -*-===//

#ifndef MROPE_LIB_CONVERSION_MROPETOLINALG_ATTENTIONDECODE_H
#define MROPE_LIB_CONVERSION_MROPETOLINALG_ATTENTIONDECODE_H

#include "mlir/IR/Builders.h"

namespace mlir::mrope {

class AttentionOp;

/// The result of `op` (decode-sized: few query rows per KV head) from q and
/// k after its rotary prologue and v, as they are (16-bit rows are widened
/// in the loop): a task takes the query heads of one GQA group at one token
/// and reads each block of keys once for all of them (see
/// AttentionDecode.cpp). With `bf16Dot` (decodeCanUseBF16Dot) q . k is
/// vdpbf16ps on the bf16 rows.
Value buildSharedKeyDecodeAttention(OpBuilder &b, Location loc, AttentionOp op,
                                    Value q, Value k, Value v, bool bf16Dot);

/// Whether the decode form can take q . k as vdpbf16ps: bf16 q and k whose
/// head dim is whole AVX-512 vectors of bf16.
bool decodeCanUseBF16Dot(AttentionOp op);

} // namespace mlir::mrope

#endif
