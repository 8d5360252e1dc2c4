//===- Pipelines.cpp - mrope pass pipelines -------------------------------===//
//
// Pipelines are spelled as pass-pipeline strings: they name upstream passes
// without pulling every conversion header into this file.
//
//===----------------------------------------------------------------------===//

#include "mrope/Pipelines/Pipelines.h"

#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "llvm/Support/ErrorHandling.h"

using namespace mlir;

static void addPipeline(OpPassManager &pm, llvm::StringRef pipeline) {
  if (failed(parsePassPipeline(pipeline, pm)))
    llvm::report_fatal_error("mrope: invalid built-in pipeline");
}

// Folding of positions and frequencies happens inside the conversion.
static constexpr llvm::StringLiteral kToLinalg =
    "convert-mrope-to-linalg,canonicalize,cse";

// One-shot bufferization with identity layouts at function boundaries so the
// JIT's memref descriptors are plain. bf16/f16 arithmetic stays in its type:
// LLVM's x86 backend promotes each op to f32 and rounds the result, which is
// what torch does on CPU.
static constexpr llvm::StringLiteral kCPU =
    "one-shot-bufferize{bufferize-function-boundaries "
    "function-boundary-type-conversion=identity-layout-map},"
    "cse,canonicalize,"
    "buffer-deallocation-pipeline,convert-bufferization-to-memref,"
    "scf-forall-to-parallel,"
    "convert-linalg-to-loops,"
    "expand-strided-metadata,lower-affine,convert-scf-to-cf,"
    "convert-vector-to-llvm,convert-to-llvm,reconcile-unrealized-casts";

void mrope::buildMRopeToLinalgPipeline(OpPassManager &pm) {
  addPipeline(pm, kToLinalg);
}

// The CPU pipeline rotates each row with vectors.
static constexpr llvm::StringLiteral kToVectorRows =
    "convert-mrope-to-linalg{vector-rows=true},canonicalize,cse";

void mrope::buildMRopeCPUPipeline(OpPassManager &pm) {
  addPipeline(pm, kToVectorRows);
  addPipeline(pm, kCPU);
}

void mrope::registerMRopePipelines() {
  PassPipelineRegistration<>(
      "mrope-to-linalg-pipeline",
      "Lower mrope ops to portable linalg-on-tensors (IREE, Torch-MLIR)",
      buildMRopeToLinalgPipeline);
  PassPipelineRegistration<>(
      "mrope-cpu-pipeline",
      "Lower mrope ops to the LLVM dialect for the host CPU (JIT, mlir-runner)",
      buildMRopeCPUPipeline);
}
