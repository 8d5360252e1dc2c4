//===- AttentionLowering.h - mrope.attention to online softmax --*- C++ -*-===//

#ifndef MROPE_LIB_CONVERSION_MROPETOLINALG_ATTENTIONLOWERING_H
#define MROPE_LIB_CONVERSION_MROPETOLINALG_ATTENTIONLOWERING_H

#include "mlir/IR/Value.h"

#include <cstdint>
#include <utility>

namespace mlir {
class PatternRewriter;
class RewritePatternSet;
namespace mrope {
class AttentionOp;

/// Lowers mrope.attention (static shapes) to online-softmax loop nests: with
/// at least 16 query rows per KV head (prefill), tiles of query rows in the
/// lanes of vectors of `lanes` f32 (AttentionTiles.cpp); otherwise (decode)
/// tasks of one GQA group's query heads that read each key once
/// (AttentionDecode.cpp); with `lanes` = 0, row by row for both (vectors
/// over the head dimension). A rotary prologue becomes mrope.apply first.
/// `avx512BF16`: bf16 tiles and decode take q . k as vdpbf16ps (the target
/// must have avx512bf16).
void populateAttentionLoweringPatterns(RewritePatternSet &patterns,
                                       int64_t lanes, bool avx512BF16);

/// Lowers mrope.attention (static heads and head dims, any batch, token
/// and sequence counts) to portable linalg-on-tensors: the scores as one
/// contraction per GQA group, the softmax by reductions and elementwise
/// generics, the values as a second contraction -- no loops, no vectors, no
/// scf.forall: what IREE and other linalg consumers take. Packed sequences
/// limit each query token's keys by index; a paged cache is gathered first.
void populatePortableAttentionPatterns(RewritePatternSet &patterns);

/// Whether the portable form takes `op`: static heads, head dims, mask
/// batch/head sizes and block_table shape.
bool hasPortableForm(AttentionOp op);

/// q and k after `op`'s rotary prologue, as mrope.apply ops (q and k share
/// one when they share positions; otherwise each is rotated alone).
std::pair<Value, Value> rotateAttentionPrologue(AttentionOp op,
                                                PatternRewriter &rewriter);

} // namespace mrope
} // namespace mlir

#endif
