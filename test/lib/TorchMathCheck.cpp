//===- TorchMathCheck.cpp - TorchMath.h against the SLEEF library ---------===//
//
// Compares the project's re-implementation of SLEEF's float32 u10 functions
// (include/mrope/Dialect/MRope/Utils/TorchMath.h, what PyTorch's CPU kernels
// call) with the SLEEF library itself, loaded at run time (Debian's
// libsleef3, which PyTorch links): millions of inputs over the domains the
// compiler uses and random bit patterns. Prints one line per function,
// "NAME: M mismatches of N", and exits non-zero on a mismatch.
//
//===----------------------------------------------------------------------===//

#include "mrope/Dialect/MRope/Utils/TorchMath.h"

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <dlfcn.h>
#include <random>

using namespace mlir::mrope::torchmath;

namespace {

using Unary = float (*)(float);
using Binary = float (*)(float, float);

/// Counts bit differences (NaNs of any payload agree).
struct Tally {
  const char *name;
  long checked = 0, mismatched = 0;

  void check(float ours, float sleef, float a, float b) {
    ++checked;
    if (std::memcmp(&ours, &sleef, sizeof(float)) == 0 ||
        (std::isnan(ours) && std::isnan(sleef)))
      return;
    if (mismatched++ < 5)
      std::printf("  %s(%a, %a): ours %a, SLEEF %a\n", name, a, b, ours, sleef);
  }
  bool report() const {
    std::printf("%s: %ld mismatches of %ld\n", name, mismatched, checked);
    return mismatched == 0;
  }
};

float fromBits(uint32_t bits) {
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

} // namespace

int main(int argc, char **argv) {
  const char *library = argc > 1 ? argv[1] : "libsleef.so.3";
  void *handle = dlopen(library, RTLD_NOW);
  if (!handle) {
    std::fprintf(stderr, "mrope-torchmath-check: cannot load %s: %s\n", library,
                 dlerror());
    return 2;
  }
  // The scalar FMA build of SLEEF's vector code: the same operations as the
  // AVX2 functions PyTorch calls.
  auto pow = reinterpret_cast<Binary>(dlsym(handle, "Sleef_powf1_u10purecfma"));
  auto atan2 =
      reinterpret_cast<Binary>(dlsym(handle, "Sleef_atan2f1_u10purecfma"));
  auto sin = reinterpret_cast<Unary>(dlsym(handle, "Sleef_sinf1_u10purecfma"));
  auto cos = reinterpret_cast<Unary>(dlsym(handle, "Sleef_cosf1_u10purecfma"));
  if (!pow || !atan2 || !sin || !cos) {
    std::fprintf(stderr,
                 "mrope-torchmath-check: %s lacks the purecfma "
                 "functions\n",
                 library);
    return 2;
  }

  std::mt19937 rng(20261206);
  std::uniform_real_distribution<float> unit(0.0f, 1.0f), log2Base(-40, 40),
      exponent(-60, 60), angle(-125, 125), coordinate(-64, 64),
      log2Angle(0, 26);
  Tally powTally{"pow"}, atan2Tally{"atan2"}, sinTally{"sin"}, cosTally{"cos"};
  auto checkSinCos = [&](float a) {
    auto [ourSin, ourCos] = sleefSinCosF(a);
    sinTally.check(ourSin, sin(a), a, 0);
    cosTally.check(ourCos, cos(a), a, 0);
  };

  // inv_freq: every theta an HF config uses, every rotary dimension.
  for (float theta : {1e4f, 1e5f, 5e5f, 1e6f, 5e6f, 1.5e7f, 2.5e4f})
    for (int dim = 2; dim <= 512; dim += 2)
      for (int j = 0; j < dim / 2; ++j) {
        float e = static_cast<float>(2 * j) / static_cast<float>(dim);
        powTally.check(sleefPowF(theta, e), pow(theta, e), theta, e);
      }
  for (int i = 0; i < 2000000; ++i) {
    float base = std::exp2(log2Base(rng));
    float e = i % 2 ? unit(rng) : exponent(rng);
    powTally.check(sleefPowF(base, e), pow(base, e), base, e);
  }
  // CircleRoPE: atan2 of half-integer grid coordinates, cos/sin of angles.
  for (int i = 0; i < 2000000; ++i) {
    float y = coordinate(rng), x = coordinate(rng);
    if (i % 3 == 0) {
      y = std::round(2 * y) / 2;
      x = std::round(2 * x) / 2;
    }
    atan2Tally.check(sleefAtan2F(y, x), atan2(y, x), y, x);
    float a = angle(rng);
    checkSinCos(a);
  }
  // Rotary angles: position * inv_freq up to 2^26 rad (Payne-Hanek above
  // 125), and exact products of integer positions.
  for (int i = 0; i < 2000000; ++i) {
    float a = std::exp2(log2Angle(rng)) * (i % 2 ? 1.0f : -1.0f);
    checkSinCos(a);
  }
  for (int position = 0; position < 300000; ++position)
    for (float invFreq : {1.0f, 0.80584f, 0.0316228f}) {
      float a = static_cast<float>(position) * invFreq;
      checkSinCos(a);
    }
  // Random bit patterns (special values included); sin/cos only where the
  // re-implementation claims SLEEF's bits (|d| < 2^26).
  for (int i = 0; i < 2000000; ++i) {
    float a = fromBits(rng()), b = fromBits(rng());
    powTally.check(sleefPowF(a, b), pow(a, b), a, b);
    atan2Tally.check(sleefAtan2F(a, b), atan2(a, b), a, b);
    if (std::fabs(a) < kTrigLimit) {
      checkSinCos(a);
    }
  }
  for (float z : {0.0f, -0.0f, 1.0f, -1.0f, 1.5707964f, 3.1415927f, 124.99f,
                  -124.99f, 1e-30f, -1e-40f}) {
    checkSinCos(z);
    for (float w : {0.0f, -0.0f, 1.0f, -1.0f, 2.5f, -1e-40f})
      atan2Tally.check(sleefAtan2F(z, w), atan2(z, w), z, w);
  }

  bool ok = powTally.report();
  ok &= atan2Tally.report();
  ok &= sinTally.report();
  ok &= cosTally.report();
  return ok ? 0 : 1;
}
