//===- TorchMath.cpp - float32 libm as PyTorch's CPU kernels compute it ---===//
//
// The scalar instantiation of TorchMath.h's algorithms, for constant folding.
//
//===----------------------------------------------------------------------===//

#include "mrope/Dialect/MRope/Utils/TorchMath.h"

#include <cmath>
#include <cstring>

// Each operation must round on its own: no fused multiply-add unless asked.
#pragma clang fp contract(off)

namespace mlir::mrope::torchmath {
namespace {

/// Plain float32 / int32 arithmetic for SleefFloat: `std::fma` is the one fused
/// operation, every other operator rounds on its own (contraction is off
/// above).
struct ScalarOps {
  using F = float;
  using I = int32_t;
  using B = bool;

  F constant(float v) { return v; }
  I constantInt(int32_t v) { return v; }
  F add(F a, F b) { return a + b; }
  F sub(F a, F b) { return a - b; }
  F mul(F a, F b) { return a * b; }
  F div(F a, F b) { return a / b; }
  F fma(F a, F b, F c) { return std::fma(a, b, c); }
  F roundEven(F x) { return std::nearbyint(x); }
  I roundToInt(F x) {
    // cvtps2dq: nearest-even; out of range gives INT32_MIN.
    if (!(std::fabs(x) < 2147483648.0f))
      return INT32_MIN;
    return static_cast<I>(std::nearbyint(x));
  }
  F toFloat(I x) { return static_cast<F>(x); }
  I bits(F x) {
    I b;
    std::memcpy(&b, &x, sizeof b);
    return b;
  }
  F fromBits(I b) {
    F x;
    std::memcpy(&x, &b, sizeof x);
    return x;
  }
  I addInt(I a, I b) {
    return static_cast<I>(static_cast<uint32_t>(a) + static_cast<uint32_t>(b));
  }
  I subInt(I a, I b) {
    return static_cast<I>(static_cast<uint32_t>(a) - static_cast<uint32_t>(b));
  }
  I andInt(I a, I b) { return a & b; }
  I xorInt(I a, I b) { return a ^ b; }
  I shiftLeft(I a, unsigned n) {
    return static_cast<I>(static_cast<uint32_t>(a) << n);
  }
  I shiftRightArith(I a, unsigned n) { return a >> n; }
  I shiftRightLogical(I a, unsigned n) {
    return static_cast<I>(static_cast<uint32_t>(a) >> n);
  }
  B less(F a, F b) { return a < b; }
  B lessInt(I a, I b) { return a < b; }
  B greaterInt(I a, I b) { return a > b; }
  B equalInt(I a, I b) { return a == b; }
  B equal(F a, F b) { return a == b; }
  B isNaN(F x) { return std::isnan(x); }
  B orB(B a, B b) { return a || b; }
  F select(B c, F a, F b) { return c ? a : b; }
  I selectInt(B c, I a, I b) { return c ? a : b; }
};

} // namespace

float sleefPowF(float base, float exponent) {
  if (!(base > 0.0f) || std::isinf(base) || !std::isfinite(exponent))
    return std::pow(base, exponent);
  ScalarOps ops;
  return SleefFloat<ScalarOps>(ops).pow(base, exponent);
}

std::pair<float, float> sleefSinCosF(float d) {
  if (!(std::fabs(d) < kTrigLimit))
    return {std::sin(d), std::cos(d)};
  ScalarOps ops;
  return SleefFloat<ScalarOps>(ops).sinCos(d);
}

float sleefAtan2F(float y, float x) {
  if (!std::isfinite(y) || !std::isfinite(x))
    return std::atan2(y, x);
  ScalarOps ops;
  return SleefFloat<ScalarOps>(ops).atan2(y, x);
}

float torchPowF(float base, float exponent, int64_t index, int64_t count) {
  if (index < vectorizedPrefix(count))
    return sleefPowF(base, exponent);
  return std::pow(base, exponent); // powf
}

float torchAtan2F(float y, float x, int64_t index, int64_t count) {
  if (index < vectorizedPrefix(count))
    return sleefAtan2F(y, x);
  return std::atan2(y, x); // atan2f
}

int64_t torchArangeLength(double start, double end, double step) {
  const double length = std::ceil((end - start) / step);
  // torch rejects such ranges; here only the vectorized prefix depends on
  // the length, so any in-range answer is safe (and the cast defined).
  if (!(length >= 0.0))
    return 0;
  if (length >= 9.0e18)
    return INT64_C(9000000000000000000);
  return static_cast<int64_t>(length);
}

float torchArangeElement(double start, double step, int64_t index,
                         int64_t length) {
  if (index >= vectorizedPrefix(length))
    return static_cast<float>(
        std::fma(step, static_cast<double>(index), start));
  const int64_t lane = index % 8;
  const double base = static_cast<float>(
      std::fma(step, static_cast<double>(index - lane), start));
  if (lane == 0)
    return static_cast<float>(base);
  if (lane == 1)
    return static_cast<float>(base + step);
  return static_cast<float>(std::fma(static_cast<double>(lane), step, base));
}

} // namespace mlir::mrope::torchmath
