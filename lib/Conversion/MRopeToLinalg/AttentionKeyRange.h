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

/// Whether low <= x < high (signed; scalars or vectors of one type).
Value buildInHalfOpenRange(OpBuilder &b, Location loc, Value x, Value low,
                           Value high);

/// Packed sequence n (an index) of `op` (which has cu_seqlens): its query
/// tokens [first, last) and the rows of the key space it attends
/// [keysFirst, keysLast) -- kv_cu_seqlens' pair when the op has one, a
/// paged cache's page slots, else its own tokens -- in `tokenType` (an
/// index or integer type, or a vector of one). Boundaries are clamped to
/// [0, queryTokens] and [0, keyRows] (both in `tokenType`), a decreasing
/// pair is an empty sequence, so malformed boundaries never index out of
/// bounds. Reads cu_seqlens[n + 1]: n must be below the sequence count.
struct PackedSequenceBounds {
  Value first, last, keysFirst, keysLast;
};
PackedSequenceBounds
buildPackedSequenceBounds(OpBuilder &b, Location loc, AttentionOp op, Value n,
                          Type tokenType, Value queryTokens, Value keyRows);

/// `end` cut by causal masking for query `tokens` whose keys are
/// [begin, end): bottom-right aligned (the last query of the tokens'
/// sequence, which ends at `queryEnd`, sees its last key; without
/// cu_seqlens, queryEnd is unused and the sequence is all `queryTokens`
/// against all `keyRows`), never below `begin`.
Value buildCausalKeyEnd(OpBuilder &b, Location loc, AttentionOp op,
                        Value tokens, Value begin, Value end, Value queryEnd,
                        Value queryTokens, Value keyRows);

/// The row of k and v that holds row `key` (an index) of the op's key space:
/// `key` itself, or for a paged cache row block_table[key / (M P), key % (M P)
/// / P] * P + key % P of the pool, the page id clamped to the pool's pages so
/// that a malformed table never reads out of bounds.
Value buildKeyRow(OpBuilder &b, Location loc, AttentionOp op, Value key);

} // namespace mlir::mrope

#endif
