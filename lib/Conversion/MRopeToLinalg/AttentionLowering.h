//===- AttentionLowering.h - mrope.attention to online softmax --*- C++ -*-===//

#ifndef MROPE_LIB_CONVERSION_MROPETOLINALG_ATTENTIONLOWERING_H
#define MROPE_LIB_CONVERSION_MROPETOLINALG_ATTENTIONLOWERING_H

#include <cstdint>

namespace mlir {
class RewritePatternSet;
namespace mrope {

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

} // namespace mrope
} // namespace mlir

#endif
