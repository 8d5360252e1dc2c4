//===- RotaryMath.h - rotary arithmetic as IR -------------------*- C++ -*-===//
//
// The one place that turns (position, inv_freq) into cos/sin IR and rotates
// a pair, shared by the table (portable), vector-row (CPU) and GPU lowerings
// so all compute the same bits.
//
//===----------------------------------------------------------------------===//

#ifndef MROPE_LIB_CONVERSION_COMMON_ROTARYMATH_H
#define MROPE_LIB_CONVERSION_COMMON_ROTARYMATH_H

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
  /// Arithmetic only, the bits PyTorch's CPU kernels produce: SLEEF's u10
  /// sin and cos (TorchMath.h; Cody-Waite below 125 rad, Payne-Hanek to
  /// 2^26), lane by lane, and past 2^26 a short Cody-Waite + minimax
  /// polynomial (within 2 f32 ulps). No libm call, so the CPU and GPU
  /// lowerings and the portable form compute the same bits. (PyTorch's
  /// vector build picks the Payne-Hanek path for a whole 8-lane group when
  /// one lane needs it; such lanes may differ in the last place.)
  Torch,
  /// Arithmetic only, faster: one Cody-Waite reduction by pi/2 and minimax
  /// polynomials, within 2 f32 ulps (the `fast-sin-cos` option).
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

/// The KV heads of a head-partitioned allocation that share one axis, and so
/// one slice of the angle table.
struct HeadBlock {
  Axis axis;
  int64_t firstKVHead, numKVHeads, tableSlot;
};

/// Splits the KV heads into maximal blocks of consecutive heads on the same
/// axis (head-partitioned allocations give each axis one block).
SmallVector<HeadBlock> headBlocks(AllocationAttr alloc, int64_t numKVHeads);

/// cos/sin (f32 scalars or vectors) as the rotation uses them: sin negated
/// for the inverse rotation, both rounded to the activation type `target`, as
/// Hugging Face does. Negating before rounding is exact (rounding is
/// symmetric), so this can be hoisted out of the loop over heads.
std::pair<Value, Value> roundCosSin(OpBuilder &b, Location loc, Value c,
                                    Value s, Type target, bool inverse);

/// The i32 constant `value` (its bits) of `type`: i32, or a splat of a
/// vector of i32.
Value i32Constant(OpBuilder &b, Location loc, Type type, uint32_t value);

/// A vector of f32 values that are bf16 values, as bf16: the high halves of
/// the bits (a shift), with no rounding and no NaN check.
Value narrowExactBF16(OpBuilder &b, Location loc, Value v);

/// How rotatePair rounds an f32 result to bf16 (and back to f32).
enum class BF16Rounding {
  /// arith.truncf + arith.extf: targets with bf16 arithmetic (NVPTX fuses
  /// them with the f32 op into one `.rn.bf16x2` instruction).
  Conversions,
  /// Round-to-nearest-even on the bits, staying in f32 lanes:
  /// (bits + 0x7fff + ((bits >> 16) & 1)) & 0xffff0000 -- five integer vector
  /// ops, no narrowing and re-widening, no NaN select. Exact for every finite
  /// value (overflow gives inf, as RNE); NaNs stay NaNs when their low 16
  /// bits are zero, which holds for any NaN an IEEE op on bf16-valued
  /// operands produces (a propagated bf16 payload, or the default NaN).
  IntegerBits,
};

/// y1 = x1 c - x2 s, y2 = x2 c + x1 s (scalars or vectors, all of the
/// activation type): Hugging Face's x * cos + rotate_half(x) * sin, each op
/// rounded to the activation type. x1 c - x2 s equals x1 c + (-x2) s bit for
/// bit (round(-a) = -round(a)), and saves the negation.
///
/// With `roundTo` (bf16) the operands are f32 vectors holding bf16 values and
/// every op is its f32 op rounded to bf16 as `rounding` says -- the same bits
/// as bf16 arithmetic (a product of two bf16 values is exact in f32; LLVM
/// legalizes bf16 add/sub the same way). Left as bf16 arithmetic, LLVM calls
/// __truncsfbf2 per element on CPUs without AVX512-BF16.
std::pair<Value, Value>
rotatePair(OpBuilder &b, Location loc, Value x1, Value x2, Value c, Value s,
           Type roundTo = {},
           BF16Rounding rounding = BF16Rounding::Conversions);

} // namespace mlir::mrope

#endif // MROPE_LIB_CONVERSION_COMMON_ROTARYMATH_H
