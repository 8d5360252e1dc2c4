//===- RotaryAngles.cpp - cos/sin of rotary angles as IR ------------------===//

#include "RotaryAngles.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/IR/BuiltinTypes.h"

#include <tuple>

using namespace mlir;
using namespace mlir::mrope;

namespace {

/// Emits f32 arithmetic on scalars or vectors of one type; constants are
/// splatted to that type.
struct F32Emitter {
  OpBuilder &b;
  Location loc;
  Type type;

  Value constant(float value) {
    TypedAttr attr = b.getF32FloatAttr(value);
    if (auto vec = dyn_cast<VectorType>(type))
      attr = DenseElementsAttr::get(vec, attr);
    return arith::ConstantOp::create(b, loc, attr);
  }
  Value add(Value x, Value y) { return arith::AddFOp::create(b, loc, x, y); }
  Value sub(Value x, Value y) { return arith::SubFOp::create(b, loc, x, y); }
  Value mul(Value x, Value y) { return arith::MulFOp::create(b, loc, x, y); }
  Value neg(Value x) { return arith::NegFOp::create(b, loc, x); }
  Value fma(Value x, Value y, Value z) {
    return math::FmaOp::create(b, loc, x, y, z);
  }

  /// x * y as hi + lo exactly (hi = f32(x * y), lo its rounding error).
  std::pair<Value, Value> twoProduct(Value x, Value y) {
    Value hi = mul(x, y);
    return {hi, fma(x, y, neg(hi))};
  }
  /// x + y as sum + err exactly (Knuth's TwoSum, no ordering assumption).
  std::pair<Value, Value> twoSum(Value x, Value y) {
    Value sum = add(x, y);
    Value yPart = sub(sum, x);
    Value xPart = sub(sum, yPart);
    return {sum, add(sub(x, xPart), sub(y, yPart))};
  }
};

// 2*pi = kTwoPi1 + kTwoPi2 + kTwoPi3 + O(4e-23), each word the f32 nearest
// the remainder; kInvTwoPi = f32(1 / (2*pi)).
constexpr float kTwoPi1 = 0x1.921fb6p+2f;   // 6.28318548
constexpr float kTwoPi2 = -0x1.777a5cp-23f; // -1.74845553e-07
constexpr float kTwoPi3 = -0x1.ee59dap-48f; // -6.86049804e-15
constexpr float kInvTwoPi = 0x1.45f306p-3f; // 0.159154937

} // namespace

std::pair<Value, Value>
mlir::mrope::buildRotaryCosSin(OpBuilder &b, Location loc, Value pos,
                               Value invFreq, AnglePrecision precision,
                               double attentionScaling, bool combinedSinCos) {
  F32Emitter e{b, loc, pos.getType()};
  auto cosAndSin = [&](Value angle) -> std::pair<Value, Value> {
    if (combinedSinCos) {
      auto sincos = math::SincosOp::create(b, loc, angle);
      return {sincos.getCos(), sincos.getSin()};
    }
    return {math::CosOp::create(b, loc, angle),
            math::SinOp::create(b, loc, angle)};
  };
  Value c, s;
  if (precision == AnglePrecision::Reference) {
    std::tie(c, s) = cosAndSin(e.mul(pos, invFreq));
  } else {
    auto [hi, lo] = e.twoProduct(pos, invFreq);
    // k = the nearest whole number of turns.
    Value k =
        math::RoundEvenOp::create(b, loc, e.mul(hi, e.constant(kInvTwoPi)));
    auto [p1, p1Err] = e.twoProduct(k, e.constant(kTwoPi1));
    auto [p2, p2Err] = e.twoProduct(k, e.constant(kTwoPi2));
    // hi and k * kTwoPi1 are within pi of each other and both multiples of
    // the smaller one's ulp, so their difference is exact.
    Value r = e.sub(hi, p1);
    auto [r1, err1] = e.twoSum(r, e.neg(p1Err));
    auto [r2, err2] = e.twoSum(r1, lo);
    auto [r3, err3] = e.twoSum(r2, e.neg(p2));
    // The tail: rounding errors of the sums, the low words of the products
    // and the third word of 2*pi; all below ~1e-6, summed in f32.
    Value tail = e.sub(e.add(e.add(err1, err2), err3), p2Err);
    tail = e.fma(e.neg(k), e.constant(kTwoPi3), tail);
    auto [cr, sr] = cosAndSin(r3);
    // cos(r + t) = cos r - t sin r, sin(r + t) = sin r + t cos r.
    c = e.fma(e.neg(tail), sr, cr);
    s = e.fma(tail, cr, sr);
  }
  if (attentionScaling != 1.0) {
    Value scale = e.constant(static_cast<float>(attentionScaling));
    c = e.mul(c, scale);
    s = e.mul(s, scale);
  }
  return {c, s};
}
