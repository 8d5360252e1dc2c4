//===- FrequencyMath.cpp - inv_freq and attention scaling -----------------===//

#include "mrope/Dialect/MRope/Utils/FrequencyMath.h"

#include <cmath>

namespace mlir::mrope::freq {

std::vector<float> defaultInvFreq(int64_t rotaryDim, double theta) {
  std::vector<float> invFreq(rotaryDim / 2);
  const float base = static_cast<float>(theta);
  for (int64_t j = 0; j < rotaryDim / 2; ++j) {
    // torch: arange(0, D, 2).float() / D, then base ** exponent in float32.
    float exponent = static_cast<float>(2 * j) / static_cast<float>(rotaryDim);
    float power = static_cast<float>(
        std::pow(static_cast<double>(base), static_cast<double>(exponent)));
    invFreq[j] = 1.0f / power;
  }
  return invFreq;
}

} // namespace mlir::mrope::freq
