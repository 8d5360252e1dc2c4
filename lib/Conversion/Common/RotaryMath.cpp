//===- RotaryMath.cpp - rotary arithmetic as IR ---------------------------===//

#include "RotaryMath.h"
#include "TorchMathIR.h"

#include "mrope/Dialect/MRope/Utils/TorchMath.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/TypeUtilities.h"

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
  /// c0 + z * (c1 + z * (c2 + ...)) by Horner's rule with FMAs.
  Value horner(Value z, ArrayRef<float> coefficients) {
    Value acc = constant(coefficients.back());
    for (float c : llvm::reverse(coefficients.drop_back()))
      acc = fma(acc, z, constant(c));
    return acc;
  }
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

// pi/2 in three words: the words of 2*pi divided by 4 (exact); kTwoOverPi =
// f32(2 / pi) = 4 * kInvTwoPi.
constexpr float kPiOver2_1 = kTwoPi1 / 4;
constexpr float kPiOver2_2 = kTwoPi2 / 4;
constexpr float kPiOver2_3 = kTwoPi3 / 4;
constexpr float kTwoOverPi = kInvTwoPi * 4;

// Minimax polynomials on [-pi/4, pi/4] (the single-precision ones of the
// Cephes library): sin r = r + r^3 S(r^2), cos r = 1 - r^2/2 + r^4 C(r^2).
constexpr float kSinCoefficients[] = {-1.6666654611e-1f, 8.3321608736e-3f,
                                      -1.9515295891e-4f};
constexpr float kCosCoefficients[] = {
    4.166664568298827e-2f, -1.388731625493765e-3f, 2.443315711809948e-5f};

/// cos and sin of `x` in arithmetic only, within 2 f32 ulps: Cody-Waite
/// reduction by pi/2 with a three-word pi/2 and FMAs, minimax polynomials,
/// the quadrant as selects (SinCosLowering::Torch past SLEEF's range).
std::pair<Value, Value> polynomialCosSin(F32Emitter &e, Value x) {
  OpBuilder &b = e.b;
  Location loc = e.loc;
  // x = k * pi/2 + r: the first FMA is exact (x and k * kPiOver2_1 are close
  // multiples of the same ulp), the others round once each.
  Value k = math::RoundEvenOp::create(b, loc, e.mul(x, e.constant(kTwoOverPi)));
  Value negK = e.neg(k);
  Value r = e.fma(negK, e.constant(kPiOver2_1), x);
  r = e.fma(negK, e.constant(kPiOver2_2), r);
  r = e.fma(negK, e.constant(kPiOver2_3), r);
  Value z = e.mul(r, r);
  Value sinR = e.fma(e.mul(r, z), e.horner(z, kSinCoefficients), r);
  Value cosR = e.fma(e.mul(z, z), e.horner(z, kCosCoefficients),
                     e.fma(e.constant(-0.5f), z, e.constant(1.0f)));
  // Quadrant q = k mod 4: sin x = (s, c, -s, -c)[q], cos x = (c, -s, -c, s)[q].
  Type intType = IntegerType::get(b.getContext(), 32);
  if (auto vec = dyn_cast<VectorType>(e.type))
    intType = vec.clone(intType);
  auto intConstant = [&](int32_t v) {
    return i32Constant(b, loc, intType, static_cast<uint32_t>(v));
  };
  Value q = arith::FPToSIOp::create(b, loc, intType, k);
  auto bitSet = [&](Value v, int32_t bit) -> Value {
    Value masked = arith::AndIOp::create(b, loc, v, intConstant(bit));
    return arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ne, masked,
                                 intConstant(0));
  };
  Value swap = bitSet(q, 1);
  Value s = arith::SelectOp::create(b, loc, swap, cosR, sinR);
  Value c = arith::SelectOp::create(b, loc, swap, sinR, cosR);
  Value negateSin = bitSet(q, 2);
  Value negateCos = bitSet(arith::AddIOp::create(b, loc, q, intConstant(1)), 2);
  s = arith::SelectOp::create(b, loc, negateSin, e.neg(s), s);
  c = arith::SelectOp::create(b, loc, negateCos, e.neg(c), c);
  return {c, s};
}

} // namespace

std::pair<Value, Value>
mlir::mrope::buildRotaryCosSin(OpBuilder &b, Location loc, Value pos,
                               Value invFreq, AnglePrecision precision,
                               double attentionScaling,
                               SinCosLowering lowering) {
  F32Emitter e{b, loc, pos.getType()};
  auto cosAndSin = [&](Value angle) -> std::pair<Value, Value> {
    if (lowering == SinCosLowering::Polynomial)
      return polynomialCosSin(e, angle);
    // SLEEF's sin/cos (PyTorch's), the short polynomial past their range.
    // Vectors are loop code: the rarely needed parts go behind branches.
    const bool branch = isa<VectorType>(angle.getType());
    // (Named values, not structured bindings: the lambda below captures
    // them, which C++17 does not allow for bindings.)
    std::pair<Value, Value> sleef = buildSleefSinCos(b, loc, angle, branch);
    Value sleefSin = sleef.first, sleefCos = sleef.second;
    Value inRange = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OLT,
                                          math::AbsFOp::create(b, loc, angle),
                                          e.constant(torchmath::kTrigLimit));
    auto fallBack = [&]() -> std::pair<Value, Value> {
      auto [c, s] = polynomialCosSin(e, angle);
      return {arith::SelectOp::create(b, loc, inRange, sleefCos, c),
              arith::SelectOp::create(b, loc, inRange, sleefSin, s)};
    };
    if (!branch)
      return fallBack();
    Value allInRange = vector::ReductionOp::create(
        b, loc, vector::CombiningKind::AND, inRange);
    auto ifOp =
        scf::IfOp::create(b, loc, TypeRange{angle.getType(), angle.getType()},
                          allInRange, /*withElseRegion=*/true);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(ifOp.thenBlock());
    scf::YieldOp::create(b, loc, ValueRange{sleefCos, sleefSin});
    b.setInsertionPointToStart(ifOp.elseBlock());
    auto [c, s] = fallBack();
    scf::YieldOp::create(b, loc, ValueRange{c, s});
    return {ifOp.getResult(0), ifOp.getResult(1)};
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

Value mlir::mrope::buildExpOfNonPositive(OpBuilder &b, Location loc, Value x) {
  Type type = x.getType();
  F32Emitter e{b, loc, type};
  Type intType = b.getI32Type();
  if (auto vec = dyn_cast<VectorType>(type))
    intType = vec.clone(intType);
  // exp(x) = 2^n exp(r), n = round(x / ln 2), r = x - n ln 2 in two words.
  constexpr float kLowest = -87.3f; // 2^n stays a normal f32 (n >= -126)
  Value clamped = arith::MaximumFOp::create(b, loc, x, e.constant(kLowest));
  Value n = math::FloorOp::create(
      b, loc,
      e.fma(clamped, e.constant(1.44269504088896341f), e.constant(0.5f)));
  Value r = e.fma(n, e.constant(-0.693359375f), clamped);
  r = e.fma(n, e.constant(2.12194440e-4f), r);
  // exp(r) = 1 + r + r^2 P(r) on |r| <= ln(2)/2.
  Value p = e.horner(r, {5.0000001201e-1f, 1.6666665459e-1f, 4.1665795894e-2f,
                         8.3334519073e-3f, 1.3981999507e-3f, 1.9875691500e-4f});
  Value expR = e.fma(e.mul(r, r), p, e.add(r, e.constant(1.0f)));
  // 2^n from its exponent bits: (n + 127) << 23.
  auto intConstant = [&](int32_t v) {
    return i32Constant(b, loc, intType, static_cast<uint32_t>(v));
  };
  Value bits = arith::ShLIOp::create(
      b, loc,
      arith::AddIOp::create(b, loc, arith::FPToSIOp::create(b, loc, intType, n),
                            intConstant(127)),
      intConstant(23));
  Value result =
      e.mul(expR, arith::BitcastOp::create(b, loc, type, bits).getResult());
  Value tiny = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OLT, x,
                                     e.constant(kLowest));
  result = arith::SelectOp::create(b, loc, tiny, e.constant(0.0f), result);
  Value nan = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::UNO, x, x);
  return arith::SelectOp::create(b, loc, nan, x, result);
}

std::pair<Value, Value> mrope::roundCosSin(OpBuilder &b, Location loc, Value c,
                                           Value s, Type target, bool inverse) {
  if (inverse)
    s = arith::NegFOp::create(b, loc, s);
  if (getElementTypeOrSelf(target) != getElementTypeOrSelf(c.getType())) {
    c = arith::TruncFOp::create(b, loc, target, c);
    s = arith::TruncFOp::create(b, loc, target, s);
  }
  return {c, s};
}

Value mrope::i32Constant(OpBuilder &b, Location loc, Type type,
                         uint32_t value) {
  TypedAttr attr = b.getI32IntegerAttr(static_cast<int32_t>(value));
  if (auto vec = dyn_cast<VectorType>(type))
    attr = DenseElementsAttr::get(vec, attr);
  return arith::ConstantOp::create(b, loc, attr);
}

Value mrope::narrowExactBF16(OpBuilder &b, Location loc, Value v) {
  auto type = cast<VectorType>(v.getType());
  auto i32Type = type.clone(b.getI32Type());
  Value bits = arith::BitcastOp::create(b, loc, i32Type, v);
  Value high =
      arith::ShRUIOp::create(b, loc, bits, i32Constant(b, loc, i32Type, 16));
  Value half =
      arith::TruncIOp::create(b, loc, type.clone(b.getI16Type()), high);
  return arith::BitcastOp::create(b, loc, type.clone(b.getBF16Type()), half);
}

/// f32 values (scalars or vectors) rounded to bf16 precision in place, by
/// round-to-nearest-even on the bits (BF16Rounding::IntegerBits).
static Value roundToBF16Bits(OpBuilder &b, Location loc, Value v) {
  Type type = v.getType();
  Type intType = b.getI32Type();
  if (auto vec = dyn_cast<VectorType>(type))
    intType = vec.clone(intType);
  auto constant = [&](uint32_t value) {
    return i32Constant(b, loc, intType, value);
  };
  Value bits = arith::BitcastOp::create(b, loc, intType, v);
  Value lsb = arith::AndIOp::create(
      b, loc, arith::ShRUIOp::create(b, loc, bits, constant(16)), constant(1));
  Value biased = arith::AddIOp::create(
      b, loc, arith::AddIOp::create(b, loc, bits, constant(0x7fff)), lsb);
  Value kept = arith::AndIOp::create(b, loc, biased, constant(0xffff0000u));
  return arith::BitcastOp::create(b, loc, type, kept);
}

std::pair<Value, Value> mrope::rotatePair(OpBuilder &b, Location loc, Value x1,
                                          Value x2, Value c, Value s,
                                          Type roundTo, BF16Rounding rounding) {
  Type type = x1.getType();
  bool round = roundTo && roundTo != getElementTypeOrSelf(type);
  auto rounded = [&](Value v) -> Value {
    if (!round)
      return v;
    if (rounding == BF16Rounding::IntegerBits && roundTo.isBF16())
      return roundToBF16Bits(b, loc, v);
    Value narrow = arith::TruncFOp::create(
        b, loc, cast<VectorType>(type).clone(roundTo), v);
    return arith::ExtFOp::create(b, loc, type, narrow);
  };
  auto mul = [&](Value x, Value y) {
    return rounded(arith::MulFOp::create(b, loc, x, y));
  };
  Value y1 = rounded(arith::SubFOp::create(b, loc, mul(x1, c), mul(x2, s)));
  Value y2 = rounded(arith::AddFOp::create(b, loc, mul(x2, c), mul(x1, s)));
  return {y1, y2};
}

SmallVector<HeadBlock> mrope::headBlocks(AllocationAttr alloc,
                                         int64_t numKVHeads) {
  SmallVector<Axis> axes = alloc.getHeadAxes(numKVHeads);
  SmallVector<HeadBlock> blocks;
  for (int64_t h = 0; h < numKVHeads; ++h) {
    if (h == 0 || axes[h] != axes[h - 1])
      blocks.push_back({axes[h], h, 0, int64_t(blocks.size())});
    ++blocks.back().numKVHeads;
  }
  return blocks;
}
