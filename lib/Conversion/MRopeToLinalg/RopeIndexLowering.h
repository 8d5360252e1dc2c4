//===- RopeIndexLowering.h - mrope.rope_index to scf -------------*- C++
//-*-===//

#ifndef MROPE_LIB_CONVERSION_MROPETOLINALG_ROPEINDEXLOWERING_H
#define MROPE_LIB_CONVERSION_MROPETOLINALG_ROPEINDEXLOWERING_H

namespace mlir {
class RewritePatternSet;
namespace mrope {

/// Lowers mrope.rope_index (integer designs) to scf loops over tensors.
void populateRopeIndexLoweringPatterns(RewritePatternSet &patterns);

} // namespace mrope
} // namespace mlir

#endif
