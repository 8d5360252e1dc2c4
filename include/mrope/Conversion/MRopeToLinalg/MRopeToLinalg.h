//===- MRopeToLinalg.h - mrope to linalg-on-tensors -------------*- C++ -*-===//

#ifndef MROPE_CONVERSION_MROPETOLINALG_MROPETOLINALG_H
#define MROPE_CONVERSION_MROPETOLINALG_MROPETOLINALG_H

namespace mlir {
class RewritePatternSet;
namespace mrope {

/// Patterns lowering mrope.apply and mrope.cos_sin to linalg-on-tensors.
void populateMRopeToLinalgConversionPatterns(RewritePatternSet &patterns);

} // namespace mrope
} // namespace mlir

#endif // MROPE_CONVERSION_MROPETOLINALG_MROPETOLINALG_H
