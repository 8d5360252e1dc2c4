//===- FrequencyMath.cpp - inv_freq under every RoPE scaling --------------===//
//
// Semantics: SPEC.md §4 (transformers modeling_rope_utils.py at 4.49, 4.57
// and 5.x). Float32 steps mirror torch float32 tensor arithmetic, where a
// Python scalar operand is rounded to float32; double steps mirror Python.
//
//===----------------------------------------------------------------------===//

#include "mrope/Dialect/MRope/Utils/FrequencyMath.h"
#include "mrope/Dialect/MRope/Utils/TorchMath.h"

#include <algorithm>
#include <cmath>

namespace mlir::mrope::freq {

/// `base ** (arange(0, D, 2).float() / D)` in float32, with torch's powf
/// (TorchMath.h: the last place matters once a scaling amplifies it).
static std::vector<float> powersOf(float base, int64_t rotaryDim) {
  const int64_t count = rotaryDim / 2;
  std::vector<float> powers(count);
  for (int64_t j = 0; j < count; ++j) {
    float exponent = static_cast<float>(2 * j) / static_cast<float>(rotaryDim);
    powers[j] = torchmath::torchPowF(base, exponent, j, count);
  }
  return powers;
}

static std::vector<float> positionFrequencies(int64_t rotaryDim, double theta) {
  return powersOf(static_cast<float>(theta), rotaryDim);
}

std::vector<float> defaultInvFreq(int64_t rotaryDim, double theta) {
  std::vector<float> invFreq = positionFrequencies(rotaryDim, theta);
  for (float &f : invFreq)
    f = 1.0f / f;
  return invFreq;
}

/// Dynamic NTK: theta grows with the sequence length past L0.
static std::vector<float> dynamicInvFreq(int64_t dim, double theta,
                                         const ScalingParams &s,
                                         std::optional<int64_t> seqLen) {
  auto l0 = static_cast<double>(*s.maxPositionEmbeddings);
  double length = std::max(seqLen ? static_cast<double>(*seqLen) : l0, l0);
  double exponent = static_cast<double>(dim) / static_cast<double>(dim - 2);
  double base =
      theta * std::pow(s.factor * length / l0 - (s.factor - 1.0), exponent);
  return defaultInvFreq(dim, base);
}

std::vector<float> dynamicInvFreqUpdate(int64_t dim, double theta,
                                        const ScalingParams &s,
                                        int64_t seqLen) {
  // One float32 operation per statement (no contraction), in the order of
  // the lowering: factor * L / L0 - (factor - 1), ** (D / (D - 2)), * theta.
  const int64_t l0 = *s.maxPositionEmbeddings;
  const float length = static_cast<float>(std::max(seqLen, l0));
  const float scaled = static_cast<float>(s.factor) * length;
  const float ratio = scaled / static_cast<float>(l0);
  const float grown = ratio - static_cast<float>(s.factor - 1.0);
  const float powered =
      std::pow(grown, static_cast<float>(static_cast<double>(dim) /
                                         static_cast<double>(dim - 2)));
  const float base = static_cast<float>(theta) * powered;
  std::vector<float> invFreq = powersOf(base, dim);
  for (float &f : invFreq)
    f = 1.0f / f;
  return invFreq;
}

/// YaRN: blend of interpolated (divided by factor) and extrapolated
/// frequencies with a linear ramp over the correction range.
static std::vector<float> yarnInvFreq(int64_t dim, double theta,
                                      const ScalingParams &s) {
  const bool hf449 = s.convention == ScalingConvention::HF449;
  // 4.49 takes the range from max_position_embeddings; 4.57+ prefers the
  // original length.
  int64_t original = hf449 ? *s.maxPositionEmbeddings
                           : s.originalMaxPositionEmbeddings.value_or(
                                 s.maxPositionEmbeddings.value_or(0));
  // `beta or default`: 0 falls back to the default too.
  double betaFast = s.betaFast && *s.betaFast != 0.0 ? *s.betaFast : 32.0;
  double betaSlow = s.betaSlow && *s.betaSlow != 0.0 ? *s.betaSlow : 1.0;
  auto correctionDim = [&](double rotations) {
    return static_cast<double>(dim) *
           std::log(static_cast<double>(original) / (rotations * 2.0 * M_PI)) /
           (2.0 * std::log(theta));
  };
  double low = correctionDim(betaFast), high = correctionDim(betaSlow);
  if (hf449 || s.truncate) {
    low = std::floor(low);
    high = std::ceil(high);
  }
  low = std::max(low, 0.0);
  high = std::min(high, static_cast<double>(dim - 1));
  if (low == high)
    high += 0.001; // as the reference: avoid a zero-width ramp

  std::vector<float> posFreqs = positionFrequencies(dim, theta);
  const float factor = static_cast<float>(s.factor);
  const float lowF = static_cast<float>(low);
  const float width = static_cast<float>(high - low);
  std::vector<float> invFreq(dim / 2);
  for (int64_t j = 0; j < dim / 2; ++j) {
    float extrapolated = 1.0f / posFreqs[j];
    float interpolated = 1.0f / (factor * posFreqs[j]);
    float ramp = (static_cast<float>(j) - lowF) / width;
    ramp = std::clamp(ramp, 0.0f, 1.0f);
    float extrapolationFactor = 1.0f - ramp;
    invFreq[j] = interpolated * (1.0f - extrapolationFactor) +
                 extrapolated * extrapolationFactor;
  }
  return invFreq;
}

/// LongRoPE: per-pair rescaling with the long factors past L_orig.
static std::vector<float> longropeInvFreq(int64_t dim, double theta,
                                          const ScalingParams &s,
                                          std::optional<int64_t> seqLen) {
  int64_t original = s.originalMaxPositionEmbeddings.value_or(
      s.maxPositionEmbeddings.value_or(0));
  const std::vector<double> &ext =
      seqLen && *seqLen > original ? s.longFactor : s.shortFactor;
  std::vector<float> posFreqs = positionFrequencies(dim, theta);
  std::vector<float> invFreq(dim / 2);
  for (int64_t j = 0; j < dim / 2; ++j)
    invFreq[j] = 1.0f / (static_cast<float>(ext[j]) * posFreqs[j]);
  return invFreq;
}

/// Llama 3: long wavelengths divided by factor, short ones kept, a smooth
/// blend between.
static std::vector<float> llama3InvFreq(int64_t dim, double theta,
                                        const ScalingParams &s) {
  std::vector<float> invFreq = defaultInvFreq(dim, theta);
  auto oldContext = static_cast<double>(*s.originalMaxPositionEmbeddings);
  double lowFactor = *s.lowFreqFactor, highFactor = *s.highFreqFactor;
  const float lowWavelen = static_cast<float>(oldContext / lowFactor);
  const float highWavelen = static_cast<float>(oldContext / highFactor);
  const float factor = static_cast<float>(s.factor);
  const float twoPi = static_cast<float>(2.0 * M_PI);
  for (float &f : invFreq) {
    // torch evaluates `scalar / tensor` as `tensor.reciprocal() * scalar`.
    float wavelen = (1.0f / f) * twoPi;
    float scaled = wavelen > lowWavelen ? f / factor : f;
    bool medium = !(wavelen < highWavelen) && !(wavelen > lowWavelen);
    if (medium) {
      float smooth = ((1.0f / wavelen) * static_cast<float>(oldContext) -
                      static_cast<float>(lowFactor)) /
                     static_cast<float>(highFactor - lowFactor);
      scaled = (1.0f - smooth) * scaled / factor + smooth * scaled;
    }
    f = scaled;
  }
  return invFreq;
}

std::vector<float> scaledInvFreq(int64_t rotaryDim, double theta,
                                 const ScalingParams &scaling,
                                 std::optional<int64_t> seqLen) {
  switch (scaling.kind) {
  case ScalingKind::Default:
    return defaultInvFreq(rotaryDim, theta);
  case ScalingKind::Linear: {
    std::vector<float> invFreq = defaultInvFreq(rotaryDim, theta);
    for (float &f : invFreq)
      f /= static_cast<float>(scaling.factor);
    return invFreq;
  }
  case ScalingKind::Dynamic:
    return dynamicInvFreq(rotaryDim, theta, scaling, seqLen);
  case ScalingKind::YaRN:
    return yarnInvFreq(rotaryDim, theta, scaling);
  case ScalingKind::LongRoPE:
    return longropeInvFreq(rotaryDim, theta, scaling, seqLen);
  case ScalingKind::Llama3:
    return llama3InvFreq(rotaryDim, theta, scaling);
  }
  return defaultInvFreq(rotaryDim, theta);
}

/// YaRN's magnitude correction: 0.1 * m * ln(s) + 1 for s > 1.
static double yarnMscale(double scale, double m = 1.0) {
  return scale <= 1.0 ? 1.0 : 0.1 * m * std::log(scale) + 1.0;
}

double attentionScaling(const ScalingParams &s) {
  switch (s.kind) {
  case ScalingKind::YaRN:
    if (s.attentionFactor)
      return *s.attentionFactor;
    if (s.convention == ScalingConvention::HF449)
      return 0.1 * std::log(s.factor) + 1.0; // even for factor < 1
    // `if mscale and mscale_all_dim`: zero counts as absent.
    if (s.mscale && s.mscaleAllDim && *s.mscale != 0.0 &&
        *s.mscaleAllDim != 0.0)
      return yarnMscale(s.factor, *s.mscale) /
             yarnMscale(s.factor, *s.mscaleAllDim);
    return yarnMscale(s.factor);
  case ScalingKind::LongRoPE: {
    if (s.attentionFactor)
      return *s.attentionFactor;
    // With an original length the factor is the context extension ratio.
    double factor = s.factor;
    int64_t original = s.maxPositionEmbeddings.value_or(0);
    if (s.originalMaxPositionEmbeddings) {
      original = *s.originalMaxPositionEmbeddings;
      if (s.maxPositionEmbeddings)
        factor = static_cast<double>(*s.maxPositionEmbeddings) /
                 static_cast<double>(original);
    }
    if (factor <= 1.0)
      return 1.0;
    return std::sqrt(1.0 + std::log(factor) /
                               std::log(static_cast<double>(original)));
  }
  default:
    return 1.0;
  }
}

} // namespace mlir::mrope::freq
