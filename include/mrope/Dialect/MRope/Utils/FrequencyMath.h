//===- FrequencyMath.h - inv_freq under every RoPE scaling ------*- C++ -*-===//
//
// Reference computation of the inverse frequencies, in float32 exactly as the
// Hugging Face `ROPE_INIT_FUNCTIONS` compute them (torch float32 tensor ops,
// Python doubles for the scalar parts). Depends only on the dialect's enums,
// so folders, lowerings and runtime tools share one implementation.
//
//===----------------------------------------------------------------------===//

#ifndef MROPE_DIALECT_MROPE_UTILS_FREQUENCYMATH_H
#define MROPE_DIALECT_MROPE_UTILS_FREQUENCYMATH_H

#include "mrope/Dialect/MRope/IR/MRopeEnums.h"

#include <cstdint>
#include <optional>
#include <vector>

namespace mlir::mrope::freq {

/// The fields of `#mrope.scaling`, as plain values.
struct ScalingParams {
  ScalingKind kind = ScalingKind::Default;
  ScalingConvention convention = ScalingConvention::HF457;
  double factor = 1.0;
  std::optional<int64_t> maxPositionEmbeddings;
  std::optional<int64_t> originalMaxPositionEmbeddings;
  std::optional<double> betaFast, betaSlow, mscale, mscaleAllDim;
  std::optional<double> attentionFactor;
  bool truncate = true;
  std::optional<double> lowFreqFactor, highFreqFactor;
  std::vector<double> shortFactor, longFactor;
};

/// `1 / theta^(2j/D)` for j < D/2, evaluated like torch:
/// float32 exponent `float(2j) / D`, float32 power, float32 reciprocal.
std::vector<float> defaultInvFreq(int64_t rotaryDim, double theta);

/// inv_freq of `rotaryDim` under `scaling`, as the Hugging Face init function
/// computes it when called with the Python integer `seqLen` (or None).
/// The `ScalingAttr` verifier guarantees the fields each kind needs.
std::vector<float> scaledInvFreq(int64_t rotaryDim, double theta,
                                 const ScalingParams &scaling,
                                 std::optional<int64_t> seqLen);

/// Dynamic NTK as transformers' runtime update computes it for a `seqLen`
/// tensor: the rescaled base and every power in float32 (powf), exactly the
/// arithmetic of mrope.inv_freq's lowering, so a constant seq_len folds to
/// the bits the compiled code produces. (scaledInvFreq is the init
/// function's arithmetic: the base in float64.)
std::vector<float> dynamicInvFreqUpdate(int64_t rotaryDim, double theta,
                                        const ScalingParams &scaling,
                                        int64_t seqLen);

/// The factor applied to cos and sin (`attention_scaling` of the Hugging
/// Face init function), in double precision as Python computes it.
double attentionScaling(const ScalingParams &scaling);

} // namespace mlir::mrope::freq

#endif // MROPE_DIALECT_MROPE_UTILS_FREQUENCYMATH_H
