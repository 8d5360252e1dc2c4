//===- MRopeToLinalg.h - mrope to linalg-on-tensors -------------*- C++ -*-===//

#ifndef MROPE_CONVERSION_MROPETOLINALG_MROPETOLINALG_H
#define MROPE_CONVERSION_MROPETOLINALG_MROPETOLINALG_H

#include <cstdint>

namespace mlir {
class RewritePatternSet;
namespace mrope {

/// Patterns lowering the mrope ops to linalg/scf/tensor (and, with
/// `vectorRows`, mrope.apply as a loop over tokens with vector ops that
/// rotate `vectorBits / 32` pairs at a time; 0: a whole row at once; with
/// `fastSinCos`, cos/sin by a short polynomial instead of PyTorch's bits).
void populateMRopeToLinalgConversionPatterns(RewritePatternSet &patterns,
                                             bool vectorRows = false,
                                             int64_t vectorBits = 0,
                                             bool fastSinCos = false);

} // namespace mrope
} // namespace mlir

#endif // MROPE_CONVERSION_MROPETOLINALG_MROPETOLINALG_H
