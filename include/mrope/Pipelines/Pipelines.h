//===- Pipelines.h - mrope pass pipelines -----------------------*- C++ -*-===//

#ifndef MROPE_PIPELINES_PIPELINES_H
#define MROPE_PIPELINES_PIPELINES_H

namespace mlir {
class OpPassManager;
namespace mrope {

/// mrope -> portable linalg-on-tensors (the IREE / Torch-MLIR entry form).
void buildMRopeToLinalgPipeline(OpPassManager &pm);

/// mrope -> LLVM dialect for the host CPU, ready for the JIT or mlir-runner.
void buildMRopeCPUPipeline(OpPassManager &pm);

/// Registers `mrope-to-linalg-pipeline` and `mrope-cpu-pipeline`.
void registerMRopePipelines();

} // namespace mrope
} // namespace mlir

#endif // MROPE_PIPELINES_PIPELINES_H
