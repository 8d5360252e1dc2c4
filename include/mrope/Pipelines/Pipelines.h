//===- Pipelines.h - mrope pass pipelines -----------------------*- C++ -*-===//

#ifndef MROPE_PIPELINES_PIPELINES_H
#define MROPE_PIPELINES_PIPELINES_H

#include "mrope/Conversion/MRopeToLinalg/MRopeToLinalg.h"

#include <cstdint>
#include <string>

namespace mlir {
class OpPassManager;
namespace mrope {

/// mrope -> portable linalg-on-tensors (the IREE / Torch-MLIR entry form).
void buildMRopeToLinalgPipeline(OpPassManager &pm);

/// Options of the CPU pipeline (see `mrope-cpu-pipeline`).
struct CPUPipelineOptions {
  /// Run the loop over tokens on the MLIR async runtime's thread pool (the
  /// executable must load libmlir_async_runtime.so), in tasks of at least
  /// `taskSize` tokens.
  bool threads = false;
  int64_t taskSize = 1024;
  /// Rows are rotated `vectorBits` at a time (0: the host's vector width,
  /// hostVectorBits(); -1: a whole row).
  int64_t vectorBits = 0;
  /// cos/sin by a short polynomial (within 2 f32 ulps) instead of
  /// PyTorch's bits.
  bool fastSinCos = false;
  /// Tokens per iteration of the parallel loop (cos/sin are reused within
  /// one while a position axis does not change).
  int64_t tokenTile = RotaryLoweringOptions().tokenTile;
  /// bf16 rotations rounded with AVX512-BF16's two-vector conversion
  /// (RotaryLoweringOptions::avx512BF16): 1 on, 0 off, -1 when the host has
  /// avx512bf16 (hostHasAVX512BF16()). Code built with it on needs that
  /// feature.
  int64_t avx512BF16 = -1;
  /// Prefill-sized mrope.attention as register tiles of query rows
  /// (RotaryLoweringOptions::attentionTiles); false: row by row.
  bool attentionTiles = true;
};

/// mrope -> LLVM dialect for the host CPU, ready for the JIT or mlir-runner.
void buildMRopeCPUPipeline(OpPassManager &pm,
                           const CPUPipelineOptions &options = {});

/// Options of the GPU pipeline (see `mrope-gpu-pipeline`).
struct GPUPipelineOptions {
  std::string chip = "sm_90a";
  std::string features = "+ptx80";
  /// gpu-module-to-binary format: fatbin, bin (cubin), isa (PTX), offload.
  std::string format = "fatbin";
  int64_t headSlices = 0;
  int64_t blockSize = 256;
  /// The compiled functions take host memory: kernels copy in and out, and
  /// other mrope ops run on the CPU (for host programs and testing).
  bool hostBuffers = false;
  /// Pipeline stages of the attention kernel's key/value staging: 2 loads
  /// the next block with cp.async while the current one is computed, 1
  /// stages each block synchronously.
  int64_t attentionStages = 2;
  /// Key ranges of the attention kernel's split-KV (flash-decoding) form; 0
  /// chooses from the size (splits only when the grid would not fill the
  /// GPU), 1 never splits.
  int64_t attentionSplits = 0;
};

/// mrope -> GPU kernels through NVVM: host code in the LLVM dialect calling
/// the mgpu* runtime (libmrope_cuda_runtime.so), kernels serialized by
/// gpu-module-to-binary (PTX assembled by the CUDA toolkit's ptxas for bin
/// and fatbin). The compiled functions take and return device buffers
/// (host buffers with `hostBuffers`).
void buildMRopeGPUPipeline(OpPassManager &pm,
                           const GPUPipelineOptions &options = {});

/// The widest vector register of the host: 512 with AVX-512, 256 with AVX,
/// 128 otherwise.
int64_t hostVectorBits();
bool hostHasAVX512BF16();

/// Registers `mrope-to-linalg-pipeline`, `mrope-cpu-pipeline` and
/// `mrope-gpu-pipeline`.
void registerMRopePipelines();

} // namespace mrope
} // namespace mlir

#endif // MROPE_PIPELINES_PIPELINES_H
