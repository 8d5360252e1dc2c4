//===- GPUKernels.h - the GPU kernels of mrope ops --------------*- C++ -*-===//
//
// Shared by the rotary kernel (MRopeToGPU.cpp) and the flash-attention kernel
// (AttentionKernel.cpp): where a kernel runs, the configuration
// convert-mrope-to-gpu stores on an op, and the rotary kernel builder, which
// the attention kernel also uses to rotate its keys once before it runs.
//
//===----------------------------------------------------------------------===//

#ifndef MROPE_LIB_CONVERSION_MROPETOGPU_GPUKERNELS_H
#define MROPE_LIB_CONVERSION_MROPETOGPU_GPUKERNELS_H

#include "Common/ActivationLayout.h"
#include "mrope/Dialect/MRope/IR/MRopeOps.h"

#include "mlir/IR/Builders.h"
#include "llvm/ADT/DenseMap.h"

#include <optional>

namespace mlir::func {
class FuncOp;
} // namespace mlir::func

namespace mlir::mrope {

/// Where the kernel runs and where the function's buffers live.
enum class Placement {
  /// gpu.launch on the function's buffers, which are device memory.
  Device,
  /// gpu.launch on device copies of host buffers (copied in, run, copied
  /// back): for host programs such as the conformance runner.
  HostBuffers,
  /// The kernel body in a host scf.for over the thread ids (no GPU; the
  /// rotary kernel only).
  HostLoop,
};

/// What convert-mrope-to-gpu chose for one op, stored on the op as
/// kGPUKernelAttrName until bufferization emits the kernel.
struct KernelConfig {
  int64_t headSlices = 0;
  int64_t blockSize = 256;
  Placement placement = Placement::Device;
  /// The attention kernel's key/value pipeline stages (1 or 2).
  int64_t attentionStages = 2;
  /// The attention kernel's split-KV ranges (0: automatic).
  int64_t attentionSplits = 0;

  DictionaryAttr toAttr(MLIRContext *ctx) const;
  static std::optional<KernelConfig> fromAttr(Attribute attr);
};

/// Whether `func`'s buffers are device memory (after bufferization, in a
/// device-buffer pipeline): it takes memref arguments -- the pipeline's
/// convention -- or launches kernels. A host `main` that allocates its own
/// buffers and calls such functions is neither.
bool worksOnDeviceBuffers(func::FuncOp func);

/// Largest power of two dividing `bytes`, at most 16 (one vector access).
int64_t alignmentOf(int64_t bytes);

/// A buffer as a kernel reads it. Globals (constant positions and
/// frequencies) are read through their own get_global inside the kernel, so
/// that outlining moves the global into the GPU module instead of passing a
/// host address; other buffers are the function's device buffers.
Value readInKernel(OpBuilder &b, Location loc, Value buffer,
                   Placement placement);

/// pos[axis(j)] for pair indices j (a vector of i32): the allocation's
/// strided runs, each a compile-time (start, stride, count) tested on the
/// pair indices; `positionOf` gives one axis's positions as a vector of f32
/// (zeros for NoPE).
Value selectPairPositions(OpBuilder &b, Location loc, AllocationAttr alloc,
                          int64_t numPairs, Value pairIndex,
                          llvm::function_ref<Value(Axis)> positionOf);

/// The copies around a kernel that runs on host buffers: `host` buffers are
/// copied to new device buffers, `emitKernel` runs on the device buffers,
/// and the first `copiedBack` of them are copied back; each step waited for.
void withDeviceCopies(OpBuilder &b, Location loc, ArrayRef<Value> host,
                      unsigned copiedBack,
                      llvm::function_ref<void(ArrayRef<Value>)> emitKernel);

/// What one rotary kernel rotates: mrope.apply's q and k, or only the keys
/// of an mrope.attention with a rotary prologue (`qType` null).
struct RotationSpec {
  Location loc;
  RotaryAttr rotary;
  bool inverse = false;
  TensorLayout layout;
  RankedTensorType qType; // null: keys only
  RankedTensorType kType;
  /// The kernel's symbol ("mrope_apply_<allocation>", ...).
  std::string name;

  static RotationSpec forApply(ApplyOp op);
};

/// The rotary kernel: one thread per token, channel group and head slice
/// (see MRopeToGPU.cpp).
class RotaryKernelBuilder {
public:
  RotaryKernelBuilder(RotationSpec spec, KernelConfig config)
      : spec(std::move(spec)), headSlicesOpt(config.headSlices),
        blockSize(config.blockSize), placement(config.placement),
        layout(ActivationLayout::get(this->spec.layout)) {}

  /// Checks the shapes and chooses the thread layout; diagnostics at
  /// `emitError`'s location.
  LogicalResult plan(llvm::function_ref<InFlightDiagnostic()> emitError);
  /// Emits the kernel before the insertion point, rotating the buffers of q
  /// (if any) and k in place and reading those of the positions and
  /// inv_freq. With `kFrom`, the keys are read from there and written
  /// rotated to `k` (only the rotated channels: rotary_dim must be the head
  /// dim).
  void emit(OpBuilder &b, Value q, Value k, Value positions, Value freqs,
            Value kFrom = Value());

private:
  struct CosSin {
    int64_t firstKVHead;
    Value c, s;
  };

  Value constIndex(OpBuilder &b, int64_t v);
  Location loc() const { return spec.loc; }
  void buildKernel(OpBuilder &b, Value tid);
  void launchKernel(OpBuilder &b, int64_t threads);
  Value positionOf(OpBuilder &b, Axis axis);
  CosSin cosSinOf(OpBuilder &b, Value pos, int64_t firstKVHead);
  void rotateHeads(OpBuilder &b, Value source, Value buffer, int64_t numHeads,
                   int64_t group, ArrayRef<CosSin> ranges);

  RotationSpec spec;
  int64_t headSlicesOpt, blockSize;
  Placement placement;
  ActivationLayout layout;

  // The plan.
  Type elementType;
  int64_t numPairs = 0, vecPairs = 0, groups = 0, headSlices = 0;
  int64_t tokens = 0, seq = 0, qHeads = 0, kHeads = 0, numKV = 0;
  bool neox = true;

  // Values of the kernel being built.
  Value positionsIn, freqsIn;
  Value qBuf, kBuf, kSource, posBuf, freqBuf;
  Value group, slice;
  SmallVector<Value> token; // (batch, seq) or (token) packed
  Value freqs;
  DenseMap<int, Value> positionCache;
};

/// The flash-attention kernel of one mrope.attention (AttentionKernel.cpp):
/// checks whether the op has a GPU lowering; diagnostics on the op.
LogicalResult checkAttentionKernel(AttentionOp op);

/// Attaches the bufferization model that turns a marked mrope.attention
/// into its kernels.
void registerAttentionGPUBufferizationModel(DialectRegistry &registry);

} // namespace mlir::mrope

#endif // MROPE_LIB_CONVERSION_MROPETOGPU_GPUKERNELS_H
