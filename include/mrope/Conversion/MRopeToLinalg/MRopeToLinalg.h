//===- MRopeToLinalg.h - mrope to linalg-on-tensors -------------*- C++ -*-===//

#ifndef MROPE_CONVERSION_MROPETOLINALG_MROPETOLINALG_H
#define MROPE_CONVERSION_MROPETOLINALG_MROPETOLINALG_H

namespace mlir {
class RewritePatternSet;
namespace mrope {

/// Patterns lowering the mrope ops to linalg/scf/tensor (and, with
/// `vectorRows`, mrope.apply as a loop over tokens with vector ops).
void populateMRopeToLinalgConversionPatterns(RewritePatternSet &patterns,
                                             bool vectorRows = false);

} // namespace mrope
} // namespace mlir

#endif // MROPE_CONVERSION_MROPETOLINALG_MROPETOLINALG_H
