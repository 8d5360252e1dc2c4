//===- AttentionKeyRange.h - the keys a query token attends ----*- C++ -*-===//

#ifndef MROPE_LIB_CONVERSION_MROPETOLINALG_ATTENTIONKEYRANGE_H
#define MROPE_LIB_CONVERSION_MROPETOLINALG_ATTENTIONKEYRANGE_H

#include "mrope/Dialect/MRope/IR/MRopeOps.h"

#include "mlir/IR/Builders.h"

#include <utility>

namespace mlir::mrope {

/// [begin, end) of the keys that query `tokens` attend in `op`, as rows of
/// the op's key space (AttentionOp::getKeyRows; buildKeyRow maps them to rows
/// of k and v): with
/// cu_seqlens, the keys of their packed sequence n (cu_seqlens[n] <= token <
/// cu_seqlens[n + 1]): [kv_cu_seqlens[n], kv_cu_seqlens[n + 1]) when the op
/// has kv_cu_seqlens, else the sequence's own tokens; without, all keys.
/// Boundaries are clamped to [0, T]; a token in no sequence sees none. Causal
/// masking cuts at the bottom-right aligned limit (the sequence's last query
/// sees its last key); a token before the first key sees none (end = begin).
/// `tokens` is an index (the row-by-row form) or a vector of i32 (one token per
/// lane of a tile); the bounds have its type. Shared by all CPU forms of the
/// lowering.
/// A paged cache's sequence n has the rows [n M P, n M P + length) (M pages
/// of P keys per sequence), its length kv_cu_seqlens[n + 1] -
/// kv_cu_seqlens[n] clamped to [0, M P].
std::pair<Value, Value> buildAttentionKeyRange(OpBuilder &b, Location loc,
                                               AttentionOp op, Value tokens);

/// The row of k and v that holds row `key` (an index) of the op's key space:
/// `key` itself, or for a paged cache row block_table[key / (M P), key % (M P)
/// / P] * P + key % P of the pool, the page id clamped to the pool's pages so
/// that a malformed table never reads out of bounds.
Value buildKeyRow(OpBuilder &b, Location loc, AttentionOp op, Value key);

} // namespace mlir::mrope

#endif
