//===- Pipelines.cpp - mrope pass pipelines -------------------------------===//
//
// Pipelines are spelled as pass-pipeline strings: they name upstream passes
// without pulling every conversion header into this file.
//
//===----------------------------------------------------------------------===//

#include "mrope/Pipelines/Pipelines.h"

#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassOptions.h"
#include "mlir/Pass/PassRegistry.h"
#include "llvm/Support/ErrorHandling.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/TargetParser/Host.h"

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
static constexpr llvm::StringLiteral kBufferize =
    "one-shot-bufferize{bufferize-function-boundaries "
    "function-boundary-type-conversion=identity-layout-map},"
    "cse,canonicalize,"
    "buffer-deallocation-pipeline,convert-bufferization-to-memref,"
    "scf-forall-to-parallel";

// With threads, every scf.parallel (the loop over tokens) is split into
// tasks of at least `taskSize` iterations for the MLIR async runtime's thread
// pool; shorter loops (decode sizes) stay on the calling thread.
static std::string threadsPipeline(int64_t taskSize) {
  return ("async-parallel-for{async-dispatch=true num-workers=-1 "
          "min-task-size=" +
          llvm::Twine(taskSize) +
          "},"
          "async-to-async-runtime,async-runtime-ref-counting,"
          "async-runtime-ref-counting-opt,convert-async-to-llvm")
      .str();
}

// The bf16 <-> f32 conversions as integer vector ops (shift; round-to-
// nearest-even add and mask): on CPUs without AVX512-BF16, LLVM otherwise
// calls __truncsfbf2 per element (40x slower on an AVX2 Zen 3). The CPU
// form of apply writes bf16 arithmetic as f32 ops between conversions, and
// bf16 loads and stores become i16 ones (which LLVM would otherwise
// legalize one element at a time).
static constexpr llvm::StringLiteral kToLLVM =
    "arith-expand{include-bf16=true},"
    "convert-linalg-to-loops,"
    "expand-strided-metadata,lower-affine,convert-scf-to-cf,"
    "convert-vector-to-llvm,convert-to-llvm,mrope-bf16-memory-as-i16,"
    "reconcile-unrealized-casts";

void mrope::buildMRopeToLinalgPipeline(OpPassManager &pm) {
  addPipeline(pm, kToLinalg);
}

int64_t mrope::hostVectorBits() {
  llvm::StringMap<bool> features = llvm::sys::getHostCPUFeatures();
  if (features.lookup("avx512f"))
    return 512;
  if (features.lookup("avx"))
    return 256;
  return 128;
}

// The CPU pipeline rotates a token's rows with vectors of the given width
// (0: the host's; negative: a whole row at once).
static std::string toVectorRows(int64_t vectorBits) {
  if (vectorBits == 0)
    vectorBits = mrope::hostVectorBits();
  return ("convert-mrope-to-linalg{vector-rows=true vector-bits=" +
          llvm::Twine(std::max<int64_t>(vectorBits, 0)) + "},canonicalize,cse")
      .str();
}

void mrope::buildMRopeCPUPipeline(OpPassManager &pm, bool threads,
                                  int64_t taskSize, int64_t vectorBits) {
  addPipeline(pm, toVectorRows(vectorBits));
  addPipeline(pm, kBufferize);
  if (threads)
    addPipeline(pm, threadsPipeline(taskSize));
  addPipeline(pm, kToLLVM);
}

namespace {
struct CPUPipelineOptions : PassPipelineOptions<CPUPipelineOptions> {
  Option<bool> threads{
      *this, "threads",
      llvm::cl::desc("Run the loop over tokens on all cores through the MLIR "
                     "async runtime (link libmlir_async_runtime.so)"),
      llvm::cl::init(false)};
  Option<int64_t> taskSize{
      *this, "task-size",
      llvm::cl::desc("With threads: the fewest tokens per task (shorter "
                     "loops run on the calling thread)"),
      llvm::cl::init(1024)};
  Option<int64_t> vectorBits{
      *this, "vector-bits",
      llvm::cl::desc("Vector width for rotating rows: 256 (AVX2), 512 "
                     "(AVX-512); 0 (default): the host's widest; -1: a "
                     "whole row at once"),
      llvm::cl::init(0)};
};
} // namespace

void mrope::registerMRopePipelines() {
  PassPipelineRegistration<>(
      "mrope-to-linalg-pipeline",
      "Lower mrope ops to portable linalg-on-tensors (IREE, Torch-MLIR)",
      buildMRopeToLinalgPipeline);
  PassPipelineRegistration<CPUPipelineOptions>(
      "mrope-cpu-pipeline",
      "Lower mrope ops to the LLVM dialect for the host CPU (JIT, mlir-runner)",
      [](OpPassManager &pm, const CPUPipelineOptions &options) {
        buildMRopeCPUPipeline(pm, options.threads, options.taskSize,
                              options.vectorBits);
      });
}
