//===- MRopeToLinalg.h - mrope to linalg-on-tensors -------------*- C++ -*-===//

#ifndef MROPE_CONVERSION_MROPETOLINALG_MROPETOLINALG_H
#define MROPE_CONVERSION_MROPETOLINALG_MROPETOLINALG_H

#include <cstdint>

namespace mlir {
class RewritePatternSet;
namespace mrope {

/// How mrope.apply is lowered (the convert-mrope-to-linalg options).
struct RotaryLoweringOptions {
  /// A loop over tokens with vector ops (the CPU form) instead of angle and
  /// cos/sin tables in linalg (the portable form).
  bool vectorRows = false;
  /// With vectorRows: pairs rotated at a time, vectorBits / 32 (0: a whole
  /// row at once).
  int64_t vectorBits = 0;
  /// With vectorRows: cos/sin by a short polynomial instead of PyTorch's bits.
  bool fastSinCos = false;
  /// With vectorRows: tokens per iteration of the parallel loop; within one,
  /// an axis's cos/sin are reused while its position does not change.
  int64_t tokenTile = 256;
  /// With vectorRows and bf16 activations: round the rotation's products
  /// and sums with AVX512-BF16's vcvtne2ps2bf16 (two f32 vectors to one of
  /// bf16 per instruction) wherever that gives the reference's bits; the
  /// target must have avx512bf16.
  bool avx512BF16 = false;
  /// Prefill-sized mrope.attention as register tiles of query rows in
  /// vector lanes, decode-sized as tasks of one GQA group's query heads
  /// that read each key once (false: one query row per task for both).
  bool attentionTiles = true;
  /// mrope.attention as whole-tensor linalg (contractions, reductions) --
  /// the portable form IREE compiles -- instead of the CPU loop nests.
  bool portableAttention = false;
  /// mrope.rope_index's rows as scf.forall loops (in parallel: threads,
  /// GPU threads) instead of scf.for (which IREE compiles).
  bool parallelRows = false;
};

/// Patterns lowering the mrope ops to linalg/scf/tensor.
void populateMRopeToLinalgConversionPatterns(
    RewritePatternSet &patterns, const RotaryLoweringOptions &options = {});

} // namespace mrope
} // namespace mlir

#endif // MROPE_CONVERSION_MROPETOLINALG_MROPETOLINALG_H
