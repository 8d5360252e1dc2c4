//===- TorchMath.h - float32 libm as PyTorch CPU kernels --------*- C++ -*-===//
//
// The reference models compute their float32 math with torch tensors on CPU:
// `theta ** (arange(0, D, 2).float() / D)` for inv_freq, `emb.cos()` and
// `emb.sin()` for the rotary tables, atan2/cos/sin for CircleRoPE's
// positions. PyTorch's CPU kernels (AVX2 build, the golden data's) compute
// pow and atan2 with SLEEF's vectorized u10 functions (FMA variant) on the
// first `n / 16 * 16` elements and the C library on the tail, and sin/cos
// with SLEEF on every element. None of them is correctly rounded, and
// scalings such as Llama-3's amplify a last-place difference into 2-4 ulp of
// inv_freq, so agreeing with the reference bit for bit means computing the
// same algorithms: double-float logarithm and exponential (pow), Cody-Waite
// or Payne-Hanek reduction and double-float polynomials (sin/cos), a
// double-float quotient and polynomial (atan2). This header states them once,
// over an abstract arithmetic (`Ops`), so the constant folder (plain floats)
// and the lowerings (arith ops on scalars or vectors) produce the same bits.
//
// `Ops` provides the types F (float32), I (int32) and B (predicate) and:
//   F constant(float); I constantInt(int32_t);
//   F add(F, F), sub(F, F), mul(F, F), div(F, F), fma(F, F, F) (a * b + c);
//   F roundEven(F) (to an integral float, ties to even);
//   I roundToInt(F) (nearest, ties to even), F toFloat(I);
//   I bits(F), F fromBits(I);
//   I addInt(I, I), subInt(I, I), andInt(I, I), xorInt(I, I),
//     shiftLeft(I, unsigned), shiftRightArith(I, unsigned),
//     shiftRightLogical(I, unsigned);
//   B less(F, F), B equal(F, F) (both ordered), B isNaN(F), B orB(B, B),
//     B lessInt(I, I), B greaterInt(I, I), B equalInt(I, I);
//   F select(B, F, F), I selectInt(B, I, I).
//
// Every float operation is one IEEE float32 operation (no contraction): the
// double-float steps rely on exact rounding errors.
//
//===----------------------------------------------------------------------===//

#ifndef MROPE_DIALECT_MROPE_UTILS_TORCHMATH_H
#define MROPE_DIALECT_MROPE_UTILS_TORCHMATH_H

#include <cstdint>
#include <limits>
#include <utility>

namespace mlir::mrope::torchmath {

/// How many leading elements of an `n`-element float32 tensor PyTorch's CPU
/// kernels compute with the vectorized (SLEEF) path: whole pairs of 8-lane
/// AVX2 vectors. The rest use the C library.
constexpr int64_t vectorizedPrefix(int64_t n) { return n / 16 * 16; }

/// SLEEF's sin/cos use Cody-Waite reduction below kTrigRange and Payne-Hanek
/// from there; this re-implementation has the first row of the 1/(2 pi)
/// table, the only one for |d| < kTrigLimit; callers route larger arguments
/// elsewhere.
constexpr float kTrigRange = 125.0f;
constexpr float kTrigLimit = 67108864.0f; // 2^26

/// SLEEF's float32 u10 functions (FMA variant) over an abstract arithmetic.
/// Each entry point states the inputs it reproduces bit for bit; the
/// callers route other inputs elsewhere (see sleefPowF etc. below).
template <typename Ops> class SleefFloat {
public:
  using F = typename Ops::F;
  using I = typename Ops::I;
  using B = typename Ops::B;

  explicit SleefFloat(Ops &ops) : o(ops) {}

  /// An unevaluated sum hi + lo with |lo| <= ulp(hi) / 2.
  struct Pair {
    F hi, lo;
  };

  /// `base ** exponent` for finite base > 0 and finite exponent.
  F pow(F base, F exponent) {
    F result = exp(mulPairFloat(log(base), exponent));
    // An overflowing exponential yields NaN (inf - inf); SLEEF returns +inf.
    result = o.select(o.isNaN(result),
                      c(std::numeric_limits<float>::infinity()), result);
    B trivial = o.orB(o.equal(exponent, c(0.0f)), o.equal(base, c(1.0f)));
    return o.select(trivial, c(1.0f), result);
  }

  /// The reduced arguments of sin and cos: r (|r| <= pi/2, double-float)
  /// and the count q whose parity (sin) or second bit (cos) gives the sign.
  struct SinCosReduction {
    Pair rSin;
    I qSin;
    Pair rCos;
    I qCos;
  };

  /// sin(d) and cos(d) as SLEEF's u10 functions compute them one lane at a
  /// time. The large-argument reduction is shared (it is exact, so sharing
  /// changes no bit). A caller that can branch computes
  /// finishSinCos(d, small ? codyWaite(d) : payneHanek(d)) with payneHanek
  /// only when some lane needs it.
  std::pair<F, F> sinCos(F d) {
    return finishSinCos(d,
                        select(usesCodyWaite(d), codyWaite(d), payneHanek(d)));
  }

  B usesCodyWaite(F d) { return o.less(abs(d), c(kTrigRange)); }

  /// Reduction by the multiple of pi (sin) or odd multiple of pi/2 (cos)
  /// nearest d, with pi in three words (|d| < kTrigRange).
  SinCosReduction codyWaite(F d) {
    SinCosReduction r;
    F turns = o.roundEven(o.mul(d, c(kInvPi)));
    r.qSin = o.roundToInt(turns);
    r.rSin = twoSum(o.fma(turns, c(-kPiA), d), o.mul(turns, c(-kPiB)));
    r.rSin = addPairFloatFast(r.rSin, o.mul(turns, c(-kPiC)));
    // dq = 2 * round(d / pi - 1/2) + 1.
    F dq = o.fma(o.roundEven(o.fma(d, c(kInvPi), c(-0.5f))), c(2.0f), c(1.0f));
    r.qCos = o.roundToInt(dq);
    r.rCos = twoSum(d, o.mul(dq, c(-kPiA * 0.5f)));
    r.rCos = addPairFloat(r.rCos, o.mul(dq, c(-kPiB * 0.5f)));
    r.rCos = addPairFloat(r.rCos, o.mul(dq, c(-kPiC * 0.5f)));
    return r;
  }

  /// Reduction by Payne-Hanek (rempi) for |d| < kTrigLimit, converted from
  /// quarter turns to the half-turn counts of codyWaite.
  SinCosReduction payneHanek(F d) {
    SinCosReduction r;
    Quadrant large = rempi(d);
    B positive = o.less(c(0.0f), large.x.hi);
    I k = o.andInt(large.q, ci(3));
    // sin: q = (2k + (x > 0 ? 2 : 1)) >> 2; an odd k moves x by -+pi/2.
    r.qSin = o.shiftRightArith(
        o.addInt(o.addInt(k, k), o.selectInt(positive, ci(2), ci(1))), 2);
    Pair sinShifted = addPairPairExact(
        large.x, Pair{mulSign(c(kMinusHalfPiHi), large.x.hi),
                      mulSign(c(kMinusHalfPiLoNeg), large.x.hi)});
    r.rSin = normalize(selectPair(isOdd(large.q), sinShifted, large.x));
    // cos: q = (2k + (x > 0 ? 8 : 7)) >> 1; an even k moves x by -+pi/2.
    r.qCos = o.shiftRightArith(
        o.addInt(o.addInt(k, k), o.selectInt(positive, ci(8), ci(7))), 1);
    F side = o.select(positive, c(0.0f), c(-1.0f));
    Pair cosShifted =
        addPairPairExact(large.x, Pair{mulSign(c(kMinusHalfPiHi), side),
                                       mulSign(c(kMinusHalfPiLoNeg), side)});
    r.rCos = normalize(selectPair(isOdd(large.q), large.x, cosShifted));
    return r;
  }

  SinCosReduction select(B cond, const SinCosReduction &a,
                         const SinCosReduction &b) {
    return {selectPair(cond, a.rSin, b.rSin), o.selectInt(cond, a.qSin, b.qSin),
            selectPair(cond, a.rCos, b.rCos),
            o.selectInt(cond, a.qCos, b.qCos)};
  }

  /// {sin d, cos d} from the reduced arguments.
  std::pair<F, F> finishSinCos(F d, const SinCosReduction &r) {
    F sinValue = sinCosKernel(r.rSin);
    sinValue = o.select(isOdd(r.qSin), negate(sinValue), sinValue);
    // sin(+-0) = +-0 (the reduction loses the sign of zero).
    sinValue = o.select(o.equal(d, c(0.0f)), d, sinValue);
    F cosValue = sinCosKernel(r.rCos);
    B bit1Clear = o.equalInt(o.andInt(r.qCos, ci(2)), ci(0));
    cosValue = o.select(bit1Clear, negate(cosValue), cosValue);
    return {sinValue, cosValue};
  }

  /// atan2(y, x) for finite x and y.
  F atan2(F y, F x) {
    B tiny = o.less(abs(x), c(2.9387372783541830947e-39f));
    x = o.select(tiny, o.mul(x, c(16777216.0f)), x);
    y = o.select(tiny, o.mul(y, c(16777216.0f)), y);
    Pair d = atan2Kernel(Pair{abs(y), c(0.0f)}, Pair{x, c(0.0f)});
    F r = o.add(d.hi, d.lo);
    r = mulSign(r, x);
    r = o.select(o.equal(x, c(0.0f)), c(kHalfPi), r);
    // y can overflow in the rescaling above.
    B yInfinite = o.equal(abs(y), c(std::numeric_limits<float>::infinity()));
    r = o.select(yInfinite, c(kHalfPi), r);
    F piIfNegative = o.select(signBit(x), c(kPi), c(0.0f));
    r = o.select(o.equal(y, c(0.0f)), piIfNegative, r);
    return mulSign(r, y);
  }

private:
  /// A reduced argument x (radians, |x| <= pi/4) and the number of quarter
  /// turns q taken off.
  struct Quadrant {
    Pair x;
    I q;
  };

  // pi in three words (the first two with trailing zero bits, so products
  // with a small integer are exact), 1/pi, pi/2 and pi in float32.
  static constexpr float kPiA = 3.1414794921875f;
  static constexpr float kPiB = 0.00011315941810607910156f;
  static constexpr float kPiC = 1.9841872589410058936e-09f;
  static constexpr float kInvPi = 0.318309886183790671537767526745028724f;
  static constexpr float kHalfPi = 1.570796326794896619231321691639751442f;
  static constexpr float kPi = 3.141592653589793238462643383279502884f;
  // -pi/2 as two floats (hi rounded, then the negated remainder).
  static constexpr float kMinusHalfPiHi = 3.1415927410125732422f * -0.5f;
  static constexpr float kMinusHalfPiLoNeg =
      -8.7422776573475857731e-08f * -0.5f;
  // 1/(2 pi) = kInvTwoPi0 + kInvTwoPi1 + kInvTwoPi2 + kInvTwoPi3 (to
  // ~2^-100): successive float chunks of its binary expansion, the first
  // with 17 significant bits so that a * kInvTwoPi0 is exact for the 26-bit
  // arguments it serves (SLEEF's table row for |a| < 2^26).
  static constexpr float kInvTwoPi0 = 0x1.45f3p-3f;
  static constexpr float kInvTwoPi1 = 0x1.b72720p-25f;
  static constexpr float kInvTwoPi2 = 0x1.054a80p-48f;
  static constexpr float kInvTwoPi3 = -0x1.ec5418p-73f;

  Ops &o;

  F c(float v) { return o.constant(v); }
  I ci(int32_t v) { return o.constantInt(v); }

  // --- sign manipulation ----------------------------------------------------

  /// -x, exactly (signed zeros included).
  F negate(F x) { return o.mul(x, c(-1.0f)); }
  F abs(F x) { return o.fromBits(o.andInt(o.bits(x), ci(0x7fffffff))); }
  B signBit(F x) { return o.lessInt(o.bits(x), ci(0)); }
  /// x with its sign flipped where s's sign bit is set.
  F mulSign(F x, F s) {
    return o.fromBits(o.xorInt(
        o.bits(x), o.andInt(o.bits(s), ci(static_cast<int32_t>(0x80000000)))));
  }
  B isOdd(I q) { return o.equalInt(o.andInt(q, ci(1)), ci(1)); }

  // --- double-float arithmetic -------------------------------------------

  /// a + b exactly (Knuth's two-sum).
  Pair twoSum(F a, F b) {
    F s = o.add(a, b);
    F bVirtual = o.sub(s, a);
    F err = o.add(o.sub(a, o.sub(s, bVirtual)), o.sub(b, bVirtual));
    return {s, err};
  }
  /// a + b assuming |a| >= |b| (fast two-sum).
  Pair fastTwoSum(F a, F b) {
    F s = o.add(a, b);
    return {s, o.add(o.sub(a, s), b)};
  }
  /// x + b with the two-sum error of the leading parts.
  Pair addPairFloat(Pair x, F b) {
    Pair s = twoSum(x.hi, b);
    return {s.hi, o.add(s.lo, x.lo)};
  }
  /// x + b assuming |x.hi| >= |b|.
  Pair addPairFloatFast(Pair x, F b) {
    F s = o.add(x.hi, b);
    return {s, o.add(o.add(o.sub(x.hi, s), b), x.lo)};
  }
  /// x + y with the two-sum error of the leading parts.
  Pair addPairPairExact(Pair x, Pair y) {
    Pair s = twoSum(x.hi, y.hi);
    return {s.hi, o.add(s.lo, o.add(x.lo, y.lo))};
  }
  /// x + y assuming |x.hi| >= |y.hi|.
  Pair addPairPair(Pair x, Pair y) {
    F s = o.add(x.hi, y.hi);
    F lo = o.add(o.add(o.add(o.sub(x.hi, s), y.hi), x.lo), y.lo);
    return {s, lo};
  }
  /// a + y assuming |a| >= |y.hi|.
  Pair addFloatPair(F a, Pair y) {
    F s = o.add(a, y.hi);
    return {s, o.add(o.add(o.sub(a, s), y.hi), y.lo)};
  }
  Pair normalize(Pair x) { return fastTwoSum(x.hi, x.lo); }
  Pair scale(Pair x, F s) { return {o.mul(x.hi, s), o.mul(x.lo, s)}; }
  Pair negatePair(Pair x) { return {negate(x.hi), negate(x.lo)}; }
  Pair selectPair(B cond, Pair x, Pair y) {
    return {o.select(cond, x.hi, y.hi), o.select(cond, x.lo, y.lo)};
  }
  /// fma(a, b, -p): the rounding error of p = a * b.
  F productError(F a, F b, F p) { return o.fma(a, b, negate(p)); }
  Pair mulPairFloat(Pair x, F y) {
    F p = o.mul(x.hi, y);
    return {p, o.fma(x.lo, y, productError(x.hi, y, p))};
  }
  Pair mulPairPair(Pair x, Pair y) {
    F p = o.mul(x.hi, y.hi);
    F lo = o.fma(x.hi, y.lo, o.fma(x.lo, y.hi, productError(x.hi, y.hi, p)));
    return {p, lo};
  }
  /// x * y rounded to one float.
  F mulPairPairToFloat(Pair x, Pair y) {
    return o.fma(x.hi, y.hi, o.fma(x.lo, y.hi, o.mul(x.hi, y.lo)));
  }
  Pair square(Pair x) {
    F p = o.mul(x.hi, x.hi);
    return {p, o.fma(o.add(x.hi, x.hi), x.lo, productError(x.hi, x.hi, p))};
  }
  Pair divide(Pair n, Pair d) {
    F r = o.div(c(1.0f), d.hi);
    F q = o.mul(n.hi, r);
    F qErr = productError(r, n.hi, q);
    F residual = o.fma(negate(d.lo), r, o.fma(negate(d.hi), r, c(1.0f)));
    return {q, o.fma(q, residual, o.fma(n.lo, r, qErr))};
  }

  // --- large-argument reduction --------------------------------------------

  /// x - round(4x)/4 and round(4x) - 4 round(x): the fraction of a turn
  /// left after whole quarter turns, and those quarter turns mod 4.
  std::pair<F, I> quarterTurns(F x) {
    F quarters = o.roundEven(o.mul(x, c(4.0f)));
    I k = o.roundToInt(o.sub(quarters, o.mul(o.roundEven(x), c(4.0f))));
    return {o.sub(x, o.mul(quarters, c(0.25f))), k};
  }

  /// Payne-Hanek: a / (2 pi) in double-float, whole quarter turns removed
  /// in two steps, the rest times 2 pi (for |a| < 2^26).
  Quadrant rempi(F a) {
    Pair x = {o.mul(a, c(kInvTwoPi0)), F{}};
    x.lo = productError(a, c(kInvTwoPi0), x.hi);
    auto [first, q1] = quarterTurns(x.hi);
    x = normalize(Pair{first, x.lo});
    F p1 = o.mul(a, c(kInvTwoPi1));
    x = addPairPairExact(x, Pair{p1, productError(a, c(kInvTwoPi1), p1)});
    auto [second, q2] = quarterTurns(x.hi);
    x = normalize(Pair{second, x.lo});
    x = addPairPairExact(x,
                         mulPairFloat(Pair{c(kInvTwoPi2), c(kInvTwoPi3)}, a));
    x = normalize(x);
    x = mulPairPair(x, Pair{c(3.1415927410125732422f * 2),
                            c(-8.7422776573475857731e-08f * 2)});
    B tiny = o.less(abs(a), c(0.7f));
    x = selectPair(tiny, Pair{a, c(0.0f)}, x);
    return {x, o.addInt(q1, q2)};
  }

  // --- exponent manipulation ---------------------------------------------

  /// The biased-exponent field minus 127 (no subnormal handling).
  I exponentOf(F x) {
    return o.subInt(o.andInt(o.shiftRightLogical(o.bits(x), 23), ci(0xff)),
                    ci(0x7f));
  }
  /// x * 2^-e by adding to the exponent field (x normal, result normal).
  F scaleDownByExponent(F x, I e) {
    return o.fromBits(o.subInt(o.bits(x), o.shiftLeft(e, 23)));
  }
  /// x * 2^q for any q: four equal power-of-two factors of up to 2^(+-127)
  /// (saturating), then the remainder, so huge and tiny results round once.
  F ldexp(F x, I q) {
    I sign = o.shiftRightArith(q, 31);
    I quarter =
        o.shiftLeft(o.subInt(o.shiftRightArith(o.addInt(sign, q), 6), sign), 4);
    I rest = o.subInt(q, o.shiftLeft(quarter, 2));
    I biased = o.addInt(quarter, ci(0x7f));
    biased = o.selectInt(o.greaterInt(biased, ci(0)), biased, ci(0));
    biased = o.selectInt(o.greaterInt(biased, ci(0xff)), ci(0xff), biased);
    F factor = o.fromBits(o.shiftLeft(biased, 23));
    x = o.mul(o.mul(o.mul(o.mul(x, factor), factor), factor), factor);
    return o.mul(x, o.fromBits(o.shiftLeft(o.addInt(rest, ci(0x7f)), 23)));
  }

  // --- kernels -------------------------------------------------------------

  /// log(d) for d > 0 as a double-float: d = m * 2^e with m in [0.75, 1.5),
  /// log(m) = 2 atanh((m - 1) / (m + 1)) by an odd polynomial.
  Pair log(F d) {
    B tiny = o.less(d, c(1.1754943508222875e-38f));              // FLT_MIN
    d = o.select(tiny, o.mul(d, c(18446744073709551616.0f)), d); // 2^64
    I e = exponentOf(o.mul(d, c(1.0f / 0.75f)));
    F m = scaleDownByExponent(d, e);
    e = o.selectInt(tiny, o.subInt(e, ci(64)), e);

    Pair x = divide(twoSum(c(-1.0f), m), twoSum(c(1.0f), m));
    Pair x2 = square(x);
    F t = c(0.240320354700088500976562f);
    t = o.fma(t, x2.hi, c(0.285112679004669189453125f));
    t = o.fma(t, x2.hi, c(0.400007992982864379882812f));
    Pair twoThirds{c(0.66666662693023681640625f),
                   c(3.69183861259614332084311e-09f)};
    Pair ln2{c(0.69314718246459960938f), c(-1.904654323148236017e-09f)};

    Pair s = mulPairFloat(ln2, o.toFloat(e));
    s = addPairPair(s, scale(x, c(2.0f)));
    Pair series = mulPairPair(mulPairPair(x2, x),
                              addPairPairExact(mulPairFloat(x2, t), twoThirds));
    return addPairPair(s, series);
  }

  /// exp(d) rounded to float32: d = q ln2 + s, exp(s) by a polynomial.
  F exp(Pair d) {
    const float invLn2 = 1.442695040888963407359924681001892137426645954f;
    const float ln2Hi = 0.693145751953125f, ln2Lo = 1.428606765330187045e-06f;
    I q = o.roundToInt(o.mul(o.add(d.hi, d.lo), c(invLn2)));
    F qf = o.toFloat(q);
    Pair s = addPairFloat(d, o.mul(qf, c(-ln2Hi)));
    s = addPairFloat(s, o.mul(qf, c(-ln2Lo)));
    s = normalize(s);

    F u = c(0.00136324646882712841033936f);
    u = o.fma(u, s.hi, c(0.00836596917361021041870117f));
    u = o.fma(u, s.hi, c(0.0416710823774337768554688f));
    u = o.fma(u, s.hi, c(0.166665524244308471679688f));
    u = o.fma(u, s.hi, c(0.499999850988388061523438f));

    Pair t = addPairPair(s, mulPairFloat(square(s), u));
    t = addFloatPair(c(1.0f), t);
    F result = ldexp(o.add(t.hi, t.lo), q);
    return o.select(o.less(d.hi, c(-104.0f)), c(0.0f), result);
  }

  /// sin(r) for the reduced argument r (|r| <= pi/2) as one float:
  /// r (1 + r^2 P(r^2)) with the leading terms in double-float.
  F sinCosKernel(Pair r) {
    Pair r2 = square(r);
    F u = c(2.6083159809786593541503e-06f);
    u = o.fma(u, r2.hi, c(-0.0001981069071916863322258f));
    u = o.fma(u, r2.hi, c(0.00833307858556509017944336f));
    Pair inner = fastTwoSum(c(-0.166666597127914428710938f), o.mul(u, r2.hi));
    Pair series = addFloatPair(c(1.0f), mulPairPair(inner, r2));
    return mulPairPairToFloat(r, series);
  }

  /// atan2(y, x) for y >= 0 as a double-float: the octant by comparisons,
  /// atan of the ratio (<= 1) by a polynomial, plus q * pi/2.
  Pair atan2Kernel(Pair y, Pair x) {
    B xNegative = o.less(x.hi, c(0.0f));
    I q = o.selectInt(xNegative, ci(-2), ci(0));
    x = selectPair(xNegative, negatePair(x), x);
    B steep = o.less(x.hi, y.hi);
    q = o.selectInt(steep, o.addInt(q, ci(1)), q);
    Pair num = selectPair(steep, negatePair(x), y);
    Pair den = selectPair(steep, y, x);

    Pair s = divide(num, den);
    Pair t = normalize(square(s));
    F u = c(-0.00176397908944636583328247f);
    u = o.fma(u, t.hi, c(0.0107900900766253471374512f));
    u = o.fma(u, t.hi, c(-0.0309564601629972457885742f));
    u = o.fma(u, t.hi, c(0.0577365085482597351074219f));
    u = o.fma(u, t.hi, c(-0.0838950723409652709960938f));
    u = o.fma(u, t.hi, c(0.109463557600975036621094f));
    u = o.fma(u, t.hi, c(-0.142626821994781494140625f));
    u = o.fma(u, t.hi, c(0.199983194470405578613281f));

    t = mulPairPair(
        t, fastTwoSum(c(-0.333332866430282592773438f), o.mul(u, t.hi)));
    t = mulPairPair(s, addFloatPair(c(1.0f), t));
    Pair halfPi{c(1.5707963705062866211f), c(-4.3711388286737928865e-08f)};
    return addPairPair(mulPairFloat(halfPi, o.toFloat(q)), t);
  }
};

/// `base ** exponent` as SLEEF's vectorized powf computes it (finite
/// base > 0; other inputs go to the C library, whose special cases agree).
float sleefPowF(float base, float exponent);

/// {sin d, cos d} as SLEEF's vectorized u10 functions compute them for
/// |d| < 2^26; beyond, the C library (the last place may differ there).
std::pair<float, float> sleefSinCosF(float d);

/// atan2 as SLEEF's vectorized u10 function computes it for finite inputs
/// (the C library otherwise; their special cases agree).
float sleefAtan2F(float y, float x);

/// Element `index` of `base ** exponents` for an `count`-element float32
/// tensor, as PyTorch's CPU kernel computes it: SLEEF in the vectorized
/// prefix, the C library's `powf` in the tail.
float torchPowF(float base, float exponent, int64_t index, int64_t count);

/// Element `index` of `atan2(y, x)` over `count` elements (binary kernels
/// split like pow). torch.sin/cos use SLEEF for every element, tail
/// included: sleefSinCosF.
float torchAtan2F(float y, float x, int64_t index, int64_t count);

/// `torch.arange(start, end, step, dtype=torch.float)` on CPU: its length
/// (ceil((end - start) / step) in double) and element `index`. The kernel
/// computes in double and rounds each element to float32: a scalar element
/// is fma(step, index, start); in the vectorized prefix, lane l of an 8-lane
/// vector starting at index i0 is base + l * step (contracted to an FMA,
/// l >= 2) with base = float(fma(step, i0, start)) -- GCC contracts the
/// AVX2 kernel's `start + step * idx`, which the last place shows.
int64_t torchArangeLength(double start, double end, double step);
float torchArangeElement(double start, double step, int64_t index,
                         int64_t length);

} // namespace mlir::mrope::torchmath

#endif // MROPE_DIALECT_MROPE_UTILS_TORCHMATH_H
