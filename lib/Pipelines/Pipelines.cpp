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
#include "llvm/ADT/StringMap.h"
#include "llvm/Support/ErrorHandling.h"
#include "llvm/TargetParser/Host.h"

using namespace mlir;

static void addPipeline(OpPassManager &pm, llvm::StringRef pipeline) {
  if (failed(parsePassPipeline(pipeline, pm)))
    llvm::report_fatal_error("mrope: invalid built-in pipeline");
}

// Folding of positions and frequencies happens inside the conversion.
static constexpr llvm::StringLiteral kToLinalg =
    "convert-mrope-to-linalg{portable-attention=true},canonicalize,cse";

// One-shot bufferization with identity layouts at function boundaries so the
// JIT's memref descriptors are plain. Empty tensor elimination first: a
// result stored into a `restrict` destination (the Python package's output
// arguments) is then computed in that buffer, not in a temporary copied
// there. bf16/f16 arithmetic stays in its type:
// LLVM's x86 backend promotes each op to f32 and rounds the result, which is
// what torch does on CPU.
static constexpr llvm::StringLiteral kBufferize =
    "eliminate-empty-tensors,"
    "one-shot-bufferize{bufferize-function-boundaries "
    "function-boundary-type-conversion=identity-layout-map},"
    "cse,canonicalize,"
    "buffer-deallocation-pipeline,convert-bufferization-to-memref,"
    "scf-forall-to-parallel";

// With threads, every scf.parallel (the loop over tiles of `tokenTile`
// tokens, or attention's over query rows) is split into tasks of at least
// `taskSize` tokens (taskSize / tokenTile iterations) for the MLIR async
// runtime's thread pool; shorter loops (decode sizes) stay on the calling
// thread.
static std::string threadsPipeline(int64_t taskSize, int64_t tokenTile) {
  return ("async-parallel-for{async-dispatch=true num-workers=-1 "
          "min-task-size=" +
          llvm::Twine(std::max<int64_t>(
              1, llvm::divideCeil(taskSize, std::max<int64_t>(tokenTile, 1)))) +
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
// legalize one element at a time). x86vector's AVX512-BF16 conversions
// (the avx512-bf16 rounding) become intrinsics, pairs of them fused into the
// two-vector one.
//
// Host code that also launches kernels and moves GPU memory gets gpu-to-llvm
// too (gpu.launch_func, gpu.alloc, gpu.memcpy become mgpu* runtime calls).
static std::string toLLVM(bool launchesKernels) {
  return (llvm::Twine("arith-expand{include-bf16=true},"
                      "convert-linalg-to-loops,"
                      "expand-strided-metadata,lower-affine,convert-scf-to-cf,"
                      "convert-vector-to-llvm{enable-x86vector=true},") +
          (launchesKernels ? "gpu-to-llvm," : "") +
          "convert-to-llvm,mrope-bf16-memory-as-i16,"
          "mrope-x86-pack-bf16-conversions,reconcile-unrealized-casts")
      .str();
}

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

bool mrope::hostHasAVX512BF16() {
  return llvm::sys::getHostCPUFeatures().lookup("avx512bf16");
}

// The CPU pipeline rotates a token's rows with vectors of the given width
// (0: the host's; negative: a whole row at once).
static std::string toVectorRows(const mrope::CPUPipelineOptions &options) {
  int64_t vectorBits = options.vectorBits;
  if (vectorBits == 0)
    vectorBits = mrope::hostVectorBits();
  bool avx512BF16 = options.avx512BF16 < 0 ? mrope::hostHasAVX512BF16()
                                           : options.avx512BF16 > 0;
  return ("convert-mrope-to-linalg{vector-rows=true vector-bits=" +
          llvm::Twine(std::max<int64_t>(vectorBits, 0)) +
          " token-tile=" + llvm::Twine(options.tokenTile) +
          (options.fastSinCos ? " fast-sin-cos=true" : "") +
          (avx512BF16 ? " avx512-bf16=true" : "") +
          (options.attentionTiles ? "" : " attention-tiles=false") +
          " parallel-rows=true},canonicalize,cse")
      .str();
}

void mrope::buildMRopeCPUPipeline(OpPassManager &pm,
                                  const CPUPipelineOptions &options) {
  addPipeline(pm, toVectorRows(options));
  addPipeline(pm, kBufferize);
  if (options.threads)
    addPipeline(pm, threadsPipeline(options.taskSize, options.tokenTile));
  addPipeline(pm, toLLVM(/*launchesKernels=*/false));
}

// GPU: the kernels appear during bufferization, are outlined right away
// (before canonicalization could hoist their constants into kernel
// arguments), serialized through NVVM, and the host code is lowered like
// the CPU pipeline's with the gpu runtime calls added.
//
// With device buffers (the default) the function's memrefs are device
// memory and the copies bufferization adds are moved to the device; no
// deallocation pipeline, which would clone the rotated arguments the
// function returns and undo the in-place rotation. With host buffers the
// kernels copy in and out and the rest of the function (other mrope ops
// included) is an ordinary CPU program (single-threaded, temporaries not
// freed: a mode for tests and small host programs).
void mrope::buildMRopeGPUPipeline(OpPassManager &pm,
                                  const GPUPipelineOptions &options) {
  addPipeline(pm, ("convert-mrope-to-gpu{head-slices=" +
                   llvm::Twine(options.headSlices) +
                   " block-size=" + llvm::Twine(options.blockSize) +
                   " attention-stages=" + llvm::Twine(options.attentionStages) +
                   " attention-splits=" + llvm::Twine(options.attentionSplits) +
                   " host-buffers=" + (options.hostBuffers ? "1" : "0") + "}")
                      .str());
  if (options.hostBuffers)
    addPipeline(pm, toVectorRows(mrope::CPUPipelineOptions()));
  else // The data-parallel position and table ops, as loops for the GPU.
    addPipeline(pm, "convert-mrope-to-linalg{parallel-rows=true}");
  // (Empty tensor elimination as on the CPU: results stored into restrict
  // outputs are computed there, no device temporary and copy.)
  addPipeline(pm, "eliminate-empty-tensors,"
                  "one-shot-bufferize{bufferize-function-boundaries "
                  "function-boundary-type-conversion=identity-layout-map}");
  if (!options.hostBuffers)
    addPipeline(pm, ("func.func(scf-forall-to-parallel,"
                     "mrope-gpu-parallel-loops{block-size=" +
                     llvm::Twine(options.blockSize) +
                     "},mrope-gpu-device-allocations,"
                     "mrope-gpu-check-host-access)")
                        .str());
  // symbol-dce: the host copies of globals only kernels use (shared-memory
  // tiles) would not lower on the host.
  addPipeline(pm, "gpu-kernel-outlining,symbol-dce,"
                  "gpu.module(expand-strided-metadata,lower-affine,"
                  "convert-scf-to-cf,convert-nvgpu-to-nvvm,convert-gpu-to-nvvm,"
                  "canonicalize,cse,"
                  "reconcile-unrealized-casts),"
                  "nvvm-attach-target{O=3 chip=" +
                      options.chip + " features=" + options.features +
                      "},gpu-module-to-binary{format=" + options.format + "}");
  addPipeline(pm, "cse,canonicalize");
  // Without the deallocation pipeline, which rejects the gpu ops (unknown
  // memory effects): host temporaries of host-buffer programs are not
  // freed, acceptable for the short programs this mode is for.
  if (options.hostBuffers)
    addPipeline(pm, "convert-bufferization-to-memref,scf-forall-to-parallel");
  addPipeline(pm, toLLVM(/*launchesKernels=*/true));
}

namespace {
struct CPUPipelineCLOptions : PassPipelineOptions<CPUPipelineCLOptions> {
  Option<bool> threads{
      *this, "threads",
      llvm::cl::desc("Run the loop over tokens on all cores through the MLIR "
                     "async runtime (link libmlir_async_runtime.so)"),
      llvm::cl::init(mrope::CPUPipelineOptions().threads)};
  Option<int64_t> taskSize{
      *this, "task-size",
      llvm::cl::desc("With threads: the fewest tokens per task (shorter "
                     "loops run on the calling thread)"),
      llvm::cl::init(mrope::CPUPipelineOptions().taskSize)};
  Option<int64_t> vectorBits{
      *this, "vector-bits",
      llvm::cl::desc("Vector width for rotating rows: 256 (AVX2), 512 "
                     "(AVX-512); 0 (default): the host's widest; -1: a "
                     "whole row at once"),
      llvm::cl::init(mrope::CPUPipelineOptions().vectorBits)};
  Option<bool> fastSinCos{
      *this, "fast-sin-cos",
      llvm::cl::desc("cos/sin by a short polynomial (within 2 f32 ulps, "
                     "faster) instead of PyTorch's bits"),
      llvm::cl::init(mrope::CPUPipelineOptions().fastSinCos)};
  Option<int64_t> tokenTile{
      *this, "token-tile",
      llvm::cl::desc("Tokens per iteration of the parallel loop (cos/sin "
                     "are reused within one while a position axis does not "
                     "change)"),
      llvm::cl::init(mrope::CPUPipelineOptions().tokenTile)};
  Option<int64_t> avx512BF16{
      *this, "avx512-bf16",
      llvm::cl::desc("Round bf16 rotations with AVX512-BF16's vcvtne2ps2bf16 "
                     "(same bits) and take bf16 attention tiles' q . k as "
                     "vdpbf16ps: 1 on, 0 off, -1 (default) when the host "
                     "has avx512bf16"),
      llvm::cl::init(mrope::CPUPipelineOptions().avx512BF16)};
  Option<bool> attentionTiles{
      *this, "attention-tiles",
      llvm::cl::desc("Prefill-sized mrope.attention as register tiles of "
                     "query rows in vector lanes, decode-sized as tasks of "
                     "a GQA group's heads sharing each key; false: row by "
                     "row"),
      llvm::cl::init(mrope::CPUPipelineOptions().attentionTiles)};
};
struct GPUPipelineCLOptions : PassPipelineOptions<GPUPipelineCLOptions> {
  Option<std::string> chip{*this, "chip",
                           llvm::cl::desc("Target GPU (sm_80, sm_90a, ...)"),
                           llvm::cl::init("sm_90a")};
  Option<std::string> features{
      *this, "features",
      llvm::cl::desc("PTX features (sm_90a needs +ptx80 or later)"),
      llvm::cl::init("+ptx80")};
  Option<std::string> format{
      *this, "format",
      llvm::cl::desc("Kernel binary: fatbin (default), bin (cubin), isa "
                     "(PTX text, JIT-compiled by the driver at load)"),
      llvm::cl::init("fatbin")};
  Option<int64_t> headSlices{
      *this, "head-slices",
      llvm::cl::desc("Threads splitting the heads of a token (0: automatic)"),
      llvm::cl::init(0)};
  Option<int64_t> blockSize{*this, "block-size",
                            llvm::cl::desc("Threads per block"),
                            llvm::cl::init(256)};
  Option<bool> hostBuffers{
      *this, "host-buffers",
      llvm::cl::desc("Functions take host memory: kernels copy their "
                     "operands in and out, other mrope ops run on the CPU"),
      llvm::cl::init(false)};
  Option<int64_t> attentionStages{
      *this, "attention-stages",
      llvm::cl::desc("Attention kernel: 2 loads the next key/value block "
                     "with cp.async while computing the current one (dynamic "
                     "shared memory), 1 stages blocks synchronously"),
      llvm::cl::init(mrope::GPUPipelineOptions().attentionStages)};
  Option<int64_t> attentionSplits{
      *this, "attention-splits",
      llvm::cl::desc("Attention kernel: key ranges computed by separate "
                     "CTAs and combined (flash-decoding); 0: automatic, "
                     "when the grid would not fill the GPU"),
      llvm::cl::init(mrope::GPUPipelineOptions().attentionSplits)};
};
} // namespace

void mrope::registerMRopePipelines() {
  PassPipelineRegistration<>(
      "mrope-to-linalg-pipeline",
      "Lower mrope ops to portable linalg-on-tensors (IREE, Torch-MLIR)",
      buildMRopeToLinalgPipeline);
  PassPipelineRegistration<CPUPipelineCLOptions>(
      "mrope-cpu-pipeline",
      "Lower mrope ops to the LLVM dialect for the host CPU (JIT, mlir-runner)",
      [](OpPassManager &pm, const CPUPipelineCLOptions &options) {
        CPUPipelineOptions cpu;
        cpu.threads = options.threads;
        cpu.taskSize = options.taskSize;
        cpu.vectorBits = options.vectorBits;
        cpu.fastSinCos = options.fastSinCos;
        cpu.tokenTile = options.tokenTile;
        cpu.avx512BF16 = options.avx512BF16;
        cpu.attentionTiles = options.attentionTiles;
        buildMRopeCPUPipeline(pm, cpu);
      });
  PassPipelineRegistration<GPUPipelineCLOptions>(
      "mrope-gpu-pipeline",
      "Lower mrope ops to NVIDIA GPU kernels through NVVM, with host code "
      "calling libmrope_cuda_runtime.so (set CUDA_HOME for bin/fatbin)",
      [](OpPassManager &pm, const GPUPipelineCLOptions &options) {
        GPUPipelineOptions gpu;
        gpu.chip = options.chip;
        gpu.features = options.features;
        gpu.format = options.format;
        gpu.headSlices = options.headSlices;
        gpu.blockSize = options.blockSize;
        gpu.hostBuffers = options.hostBuffers;
        gpu.attentionStages = options.attentionStages;
        gpu.attentionSplits = options.attentionSplits;
        buildMRopeGPUPipeline(pm, gpu);
      });
}
