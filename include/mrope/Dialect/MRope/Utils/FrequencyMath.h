//===- FrequencyMath.h - inv_freq and attention scaling ---------*- C++ -*-===//
//
// Reference computation of inverse frequencies, in float32 as Hugging Face
// computes them. Free of MLIR IR headers.
//
//===----------------------------------------------------------------------===//

#ifndef MROPE_DIALECT_MROPE_UTILS_FREQUENCYMATH_H
#define MROPE_DIALECT_MROPE_UTILS_FREQUENCYMATH_H

#include <cstdint>
#include <optional>
#include <vector>

namespace mlir::mrope::freq {

/// `1 / theta^(2j/D)` for j < D/2, evaluated like torch:
/// float32 exponent `float(2j) / D`, float32 power, float32 reciprocal.
std::vector<float> defaultInvFreq(int64_t rotaryDim, double theta);

} // namespace mlir::mrope::freq

#endif // MROPE_DIALECT_MROPE_UTILS_FREQUENCYMATH_H
