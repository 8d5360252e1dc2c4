//===- InitAllMRope.h - register mrope dialects and passes ------*- C++ -*-===//

#ifndef MROPE_INITALLMROPE_H
#define MROPE_INITALLMROPE_H

#include "mlir/IR/DialectRegistry.h"
#include "mrope/Conversion/MRopeToGPU/MRopeToGPU.h"
#include "mrope/Conversion/Passes.h"
#include "mrope/Dialect/MRope/IR/MRopeDialect.h"
#include "mrope/Dialect/MRope/Transforms/Passes.h"
#include "mrope/Pipelines/Pipelines.h"

namespace mlir::mrope {

inline void registerAllMRopeDialects(DialectRegistry &registry) {
  registry.insert<MRopeDialect>();
  registerGPUBufferizationModel(registry);
}

inline void registerAllMRopePasses() {
  registerMRopePasses();
  registerMRopeConversionPasses();
  registerMRopePipelines();
}

} // namespace mlir::mrope

#endif // MROPE_INITALLMROPE_H
