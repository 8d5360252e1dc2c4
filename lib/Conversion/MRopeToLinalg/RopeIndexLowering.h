//===- RopeIndexLowering.h - mrope.rope_index to scf -------------*- C++
//-*-===//

#ifndef MROPE_LIB_CONVERSION_MROPETOLINALG_ROPEINDEXLOWERING_H
#define MROPE_LIB_CONVERSION_MROPETOLINALG_ROPEINDEXLOWERING_H

namespace mlir {
class RewritePatternSet;
namespace mrope {

/// Lowers mrope.rope_index (every design) to loops over rows on tensors:
/// scf.forall with `parallelRows` (rows run in parallel), else scf.for.
void populateRopeIndexLoweringPatterns(RewritePatternSet &patterns,
                                       bool parallelRows);

} // namespace mrope
} // namespace mlir

#endif
