//===- AttentionLowering.h - mrope.attention to online softmax --*- C++ -*-===//

#ifndef MROPE_LIB_CONVERSION_MROPETOLINALG_ATTENTIONLOWERING_H
#define MROPE_LIB_CONVERSION_MROPETOLINALG_ATTENTIONLOWERING_H

namespace mlir {
class RewritePatternSet;
namespace mrope {

/// Lowers mrope.attention (static shapes) to an online-softmax loop nest
/// over vector rows; a rotary prologue becomes mrope.apply first.
void populateAttentionLoweringPatterns(RewritePatternSet &patterns);

} // namespace mrope
} // namespace mlir

#endif
