//===- RotaryAngles.h - cos/sin of rotary angles as IR ----------*- C++ -*-===//
//
// The one place that turns (position, inv_freq) into cos/sin IR, shared by
// the table (portable) and vector-row (CPU) lowerings so both compute the
// same bits.
//
//===----------------------------------------------------------------------===//

#ifndef MROPE_LIB_CONVERSION_MROPETOLINALG_ROTARYANGLES_H
#define MROPE_LIB_CONVERSION_MROPETOLINALG_ROTARYANGLES_H

#include "mrope/Dialect/MRope/IR/MRopeAttrs.h"

#include "mlir/IR/Builders.h"

#include <utility>

namespace mlir::mrope {

/// cos and sin of the angle `pos * invFreq`, each times `attentionScaling`.
/// `pos` and `invFreq` are f32 scalars or vectors of f32 of one type.
///
/// `AnglePrecision::Reference`: angle = f32(pos * invFreq), then cos/sin of
/// it -- the Hugging Face formula, bit for bit.
///
/// `AnglePrecision::Exact`: the product is kept exactly as two f32 words
/// (an FMA recovers the rounding error), reduced modulo 2*pi by Cody-Waite
/// with a three-word 2*pi whose partial products are also kept exactly, and
/// summed error-free into r + e with |r| <= pi, |e| <= ulp(r) / 2. Then
/// cos = cos(r) - sin(r) * e and sin = sin(r) + cos(r) * e (the dropped
/// second-order term is below 2^-46). Valid while pos * invFreq < 2^24 * 2*pi
/// (k, the number of turns, stays an exact f32 integer).
///
/// How cos and sin of an angle become IR.
enum class SinCosLowering {
  /// math.cos and math.sin: every consumer of the portable form (IREE
  /// included) lowers them.
  Separate,
  /// Arithmetic only (the CPU lowering): Cody-Waite reduction by pi/2 with
  /// a three-word pi/2 and FMAs (|r| <= pi/4, r accurate to an ulp for
  /// angles below 2^24), minimax polynomials of sin and cos on r, and the
  /// quadrant's swap and signs as selects -- vector code with no libm call,
  /// within 2 f32 ulps of cos/sin of the angle (python/tests checks it
  /// against float64 over 10^5 angles up to 1.6e5 rad).
  Polynomial,
};

std::pair<Value, Value> buildRotaryCosSin(OpBuilder &b, Location loc, Value pos,
                                          Value invFreq,
                                          AnglePrecision precision,
                                          double attentionScaling,
                                          SinCosLowering lowering);

/// exp(x) for f32 scalars or vectors x <= 0 (softmax weights), in
/// arithmetic only: Cody-Waite reduction by ln 2 (two words), the Cephes
/// single-precision polynomial, and 2^n built in the exponent bits. Within
/// 2 f32 ulps for x >= -87.3; below, where exp(x) < 1.2e-38, it is 0. NaN
/// stays NaN, -inf gives 0.
Value buildExpOfNonPositive(OpBuilder &b, Location loc, Value x);

} // namespace mlir::mrope

#endif // MROPE_LIB_CONVERSION_MROPETOLINALG_ROTARYANGLES_H
