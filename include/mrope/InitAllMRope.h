//===- InitAllMRope.h - register mrope dialects and passes ------*- C++ -*-===//

#ifndef MROPE_INITALLMROPE_H
#define MROPE_INITALLMROPE_H

#include "mlir/IR/DialectRegistry.h"
#include "mrope/Dialect/MRope/IR/MRopeDialect.h"
#include "mrope/Dialect/MRope/Transforms/Passes.h"

namespace mlir::mrope {

inline void registerAllMRopeDialects(DialectRegistry &registry) {
  registry.insert<MRopeDialect>();
}

inline void registerAllMRopePasses() { registerMRopePasses(); }

} // namespace mlir::mrope

#endif // MROPE_INITALLMROPE_H
