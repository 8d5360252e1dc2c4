//===- Pipelines.h - mrope pass pipelines -----------------------*- C++ -*-===//

#ifndef MROPE_PIPELINES_PIPELINES_H
#define MROPE_PIPELINES_PIPELINES_H

#include <cstdint>

namespace mlir {
class OpPassManager;
namespace mrope {

/// mrope -> portable linalg-on-tensors (the IREE / Torch-MLIR entry form).
void buildMRopeToLinalgPipeline(OpPassManager &pm);

/// mrope -> LLVM dialect for the host CPU, ready for the JIT or mlir-runner.
/// With `threads`, the loop over tokens runs on the MLIR async runtime's
/// thread pool (the executable must load libmlir_async_runtime.so), in tasks
/// of at least `taskSize` tokens. Rows are rotated `vectorBits` at a time
/// (0: the host's vector width, hostVectorBits()).
void buildMRopeCPUPipeline(OpPassManager &pm, bool threads = false,
                           int64_t taskSize = 1024, int64_t vectorBits = 0);

/// The widest vector register of the host: 512 with AVX-512, 256 with AVX,
/// 128 otherwise.
int64_t hostVectorBits();

/// Registers `mrope-to-linalg-pipeline` and `mrope-cpu-pipeline`.
void registerMRopePipelines();

} // namespace mrope
} // namespace mlir

#endif // MROPE_PIPELINES_PIPELINES_H
