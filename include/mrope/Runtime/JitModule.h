//===- JitModule.h - compile mrope IR for the host and call it --*- C++ -*-===//
//
// The C++ API that runtime front ends (the Python extension, tools) use to
// run mrope IR: parse a module, lower it with the CPU pipeline (or the GPU
// pipeline, for CUDA devices), JIT the host code, and call its functions on
// caller-owned buffers.
//
// Functions are called in destination-passing style: every argument is a
// statically shaped, identity-layout memref, inputs and outputs alike, and
// the function returns nothing. Each function to be called carries
// `llvm.emit_c_interface`. Front ends wrap tensors with
// `bufferization.to_tensor ... restrict` and write results with
// `bufferization.materialize_in_destination`.
//
// The interface uses standard types only: front ends compiled with RTTI and
// exceptions (nanobind) include it without touching LLVM's -fno-rtti types.
//
//===----------------------------------------------------------------------===//

#ifndef MROPE_RUNTIME_JITMODULE_H
#define MROPE_RUNTIME_JITMODULE_H

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace mlir {
class ExecutionEngine;
} // namespace mlir

namespace mlir::mrope {

/// Where the compiled functions run.
enum class JitTarget {
  /// mrope-cpu-pipeline: arguments are host buffers.
  CPU,
  /// mrope-gpu-pipeline with device buffers: arguments are CUDA device
  /// pointers; the kernels travel as PTX that the driver compiles when the
  /// module loads (no CUDA toolkit needed at run time), host code calls
  /// libmrope_cuda_runtime.so.
  CUDA,
};

struct JitOptions {
  JitTarget target = JitTarget::CPU;
  /// The GPU the kernels are compiled for (target CUDA), e.g. sm_90a.
  std::string cudaChip = "sm_90a";
  /// The PTX ISA version (`+ptx80`; newer chips need newer ones).
  std::string cudaFeatures = "+ptx80";
  /// libmrope_cuda_runtime.so (target CUDA).
  std::string cudaRuntimeLib;
  /// Lower with `mrope-cpu-pipeline{threads=true}` (all cores through the
  /// MLIR async runtime; target CPU).
  bool threads = false;
  /// Prefill-sized mrope.attention as register tiles of query rows, decode
  /// as tasks of a GQA group's heads (false: row by row;
  /// CPUPipelineOptions::attentionTiles).
  bool attentionTiles = true;
  /// AVX512-BF16 instructions (CPUPipelineOptions::avx512BF16): 1 on, 0
  /// off, -1 when the host has them.
  int avx512BF16 = -1;
  /// LLVM optimization level of the JIT (0-3).
  unsigned optLevel = 3;
  /// Directory of libmlir_c_runner_utils.so and libmlir_async_runtime.so.
  std::string runtimeLibDir;
};

/// One argument of a callable function: a memref of `shape` and an element
/// type spelled as in MLIR (`f32`, `bf16`, `i64`, ...).
struct ArgumentSpec {
  std::string elementType;
  std::vector<int64_t> shape;
  unsigned elementBytes = 0;

  int64_t numElements() const;
  /// `memref<2x3xf32>`.
  std::string str() const;
};

struct FunctionSpec {
  std::string name;
  std::vector<ArgumentSpec> arguments;
};

class JitModule {
public:
  /// Parses, verifies, lowers and JIT-compiles `source`. On failure returns
  /// null and sets `error` to the MLIR diagnostics (with locations) or the
  /// rule a function broke.
  static std::unique_ptr<JitModule> compile(const std::string &source,
                                            const JitOptions &options,
                                            std::string &error);

  /// The callable functions of `source` (those with llvm.emit_c_interface)
  /// without compiling it: what a module compiled ahead of time exports.
  static std::optional<std::vector<FunctionSpec>>
  signatures(const std::string &source, std::string &error);

  ~JitModule();

  const std::vector<FunctionSpec> &functions() const { return functionSpecs; }
  const FunctionSpec *lookup(const std::string &name) const;

  /// Calls `name` with one contiguous row-major buffer per argument, each
  /// holding `arguments[i].numElements()` elements of its type. The caller
  /// checks the buffers against the function's spec. Returns false and sets
  /// `error` when the call cannot be made.
  bool invoke(const std::string &name, const std::vector<void *> &buffers,
              std::string &error);

private:
  JitModule() = default;

  std::unique_ptr<ExecutionEngine> engine;
  std::vector<FunctionSpec> functionSpecs;
  bool usesAsyncRuntime = false;
};

/// The factor `#mrope.scaling<...>` (or its bare `<...>` body) applies to
/// cos and sin. On a scaling the verifier rejects, returns 0 and sets `error`
/// to its diagnostics.
double attentionScalingOf(const std::string &scaling, std::string &error);

} // namespace mlir::mrope

#endif // MROPE_RUNTIME_JITMODULE_H
