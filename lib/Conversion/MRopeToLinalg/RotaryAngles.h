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
/// `combinedSinCos` emits one math.sincos (one argument reduction for both,
/// the CPU lowering's choice) instead of math.cos and math.sin, which every
/// consumer of the portable form (IREE included) lowers.
std::pair<Value, Value> buildRotaryCosSin(OpBuilder &b, Location loc, Value pos,
                                          Value invFreq,
                                          AnglePrecision precision,
                                          double attentionScaling,
                                          bool combinedSinCos);

} // namespace mlir::mrope

#endif // MROPE_LIB_CONVERSION_MROPETOLINALG_ROTARYANGLES_H
