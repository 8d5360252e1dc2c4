//===- AttentionKeyRange.h - the keys a query token attends ----*- C++ -*-===//

#ifndef MROPE_LIB_CONVERSION_MROPETOLINALG_ATTENTIONKEYRANGE_H
#define MROPE_LIB_CONVERSION_MROPETOLINALG_ATTENTIONKEYRANGE_H

#include "mlir/IR/Builders.h"

#include <utility>

namespace mlir::mrope {

/// [begin, end) of the keys that query `tokens` attend in mrope.attention:
/// their packed sequence [cu_seqlens[n], cu_seqlens[n + 1]) when `cuSeqlens`
/// is given (else all `kvSeq` keys), cut at the causal limit -- bottom-right
/// aligned, token i sees keys up to i + kvSeq - qSeq (packed: up to itself);
/// a token before the first key sees none (end = begin). `tokens` is an
/// index (the row-by-row form) or a vector of i32 (one token per lane of a
/// tile); the bounds have its type. Shared by both forms of the lowering.
std::pair<Value, Value> buildAttentionKeyRange(OpBuilder &b, Location loc,
                                               Value tokens, Value cuSeqlens,
                                               bool causal, int64_t qSeq,
                                               int64_t kvSeq);

} // namespace mlir::mrope

#endif
