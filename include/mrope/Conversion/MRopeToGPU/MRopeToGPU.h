//===- MRopeToGPU.h - mrope.apply as a GPU kernel ---------------*- C++ -*-===//

#ifndef MROPE_CONVERSION_MROPETOGPU_MROPETOGPU_H
#define MROPE_CONVERSION_MROPETOGPU_MROPETOGPU_H

#include "llvm/ADT/StringRef.h"

namespace mlir {
class DialectRegistry;
namespace mrope {

/// The attribute convert-mrope-to-gpu puts on each mrope.apply it selects
/// for the GPU: `{head_slices, block_size, host_loop}`. Such an op is left
/// alone by the CPU/linalg lowering and becomes its kernel when bufferized.
constexpr llvm::StringLiteral kGPUKernelAttrName = "mrope.gpu_kernel";

/// Attaches the bufferization model that turns a marked mrope.apply into
/// its kernel on the buffers of q and k (in place, or on a copy where
/// one-shot bufferization finds q or k read later).
void registerGPUBufferizationModel(DialectRegistry &registry);

} // namespace mrope
} // namespace mlir

#endif // MROPE_CONVERSION_MROPETOGPU_MROPETOGPU_H
