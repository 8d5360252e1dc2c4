//===- BF16WordPairs.cpp - bf16 rows rotated in even/odd lanes ------------===//

#include "BF16WordPairs.h"
#include "Common/RotaryMath.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/Dialect/X86Vector/X86VectorDialect.h"

#include <array>
#include <cmath>

using namespace mlir;
using namespace mlir::mrope;

namespace {

/// Even words (lane m = word 2m) and odd words (lane m = word 2m + 1) of a
/// vector of 2N bf16 words, as f32 vectors of N lanes.
std::pair<Value, Value> splitWords(OpBuilder &b, Location loc, Value words) {
  auto type = cast<VectorType>(words.getType());
  auto i32Type = VectorType::get({type.getDimSize(0) / 2}, b.getI32Type());
  auto f32Type = i32Type.clone(b.getF32Type());
  Value bits = vector::BitCastOp::create(b, loc, i32Type, words);
  Value even =
      arith::ShLIOp::create(b, loc, bits, i32Constant(b, loc, i32Type, 16));
  Value odd = arith::AndIOp::create(b, loc, bits,
                                    i32Constant(b, loc, i32Type, 0xffff0000u));
  return {arith::BitcastOp::create(b, loc, f32Type, even),
          arith::BitcastOp::create(b, loc, f32Type, odd)};
}

/// The inverse of splitWords for f32 lanes holding bf16 values (low halves
/// zero): the odd lanes' bits or-ed with the even lanes' high halves.
Value joinWords(OpBuilder &b, Location loc, Value even, Value odd) {
  auto f32Type = cast<VectorType>(even.getType());
  auto i32Type = f32Type.clone(b.getI32Type());
  Value low = arith::ShRUIOp::create(
      b, loc, arith::BitcastOp::create(b, loc, i32Type, even),
      i32Constant(b, loc, i32Type, 16));
  Value bits = arith::OrIOp::create(
      b, loc, arith::BitcastOp::create(b, loc, i32Type, odd), low);
  return vector::BitCastOp::create(
      b, loc, VectorType::get({2 * f32Type.getDimSize(0)}, b.getBF16Type()),
      bits);
}

/// `lo` and `hi` rounded to bf16 and concatenated (words 0..N-1 from `lo`):
/// two AVX512-BF16 conversions, which mrope-x86-pack-bf16-conversions fuses
/// into one vcvtne2ps2bf16 after the conversion to LLVM.
Value packRounded(OpBuilder &b, Location loc, Value hi, Value lo) {
  const int64_t lanes = cast<VectorType>(hi.getType()).getDimSize(0);
  auto halfType = VectorType::get({lanes}, b.getBF16Type());
  Value low = x86vector::CvtPackedF32ToBF16Op::create(b, loc, halfType, lo);
  Value high = x86vector::CvtPackedF32ToBF16Op::create(b, loc, halfType, hi);
  return vector::ShuffleOp::create(
      b, loc, low, high, llvm::to_vector(llvm::seq<int64_t>(0, 2 * lanes)));
}

/// True when every word of `words` has magnitude >= 2^-63 (exponent field
/// >= 64: bit 13 or 14 set); zero, subnormal and tiny words give false.
Value wordsAreLarge(OpBuilder &b, Location loc, ArrayRef<Value> words) {
  Value all;
  for (Value w : words) {
    auto type = cast<VectorType>(w.getType());
    auto i16Type = type.clone(b.getI16Type());
    Value bits = vector::BitCastOp::create(b, loc, i16Type, w);
    Value mask = arith::ConstantOp::create(
        b, loc, i16Type,
        DenseElementsAttr::get(i16Type, b.getI16IntegerAttr(0x6000)));
    Value zero = arith::ConstantOp::create(b, loc, b.getZeroAttr(i16Type));
    Value large =
        arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ne,
                              arith::AndIOp::create(b, loc, bits, mask), zero);
    all = all ? arith::AndIOp::create(b, loc, all, large).getResult() : large;
  }
  return vector::ReductionOp::create(b, loc, vector::CombiningKind::AND, all);
}

/// Values per (component, set), indexed [component][set].
using PerPairLane = std::array<std::array<Value, 2>, 2>;

/// The rotation's operands from the words' even/odd lanes; the layout must
/// place each (component, set) exactly once.
PerPairLane operandsOf(ArrayRef<std::pair<Value, Value>> split,
                       ArrayRef<WordVectorLayout> layout) {
  PerPairLane x;
  for (auto [lanes, vector] : llvm::zip_equal(split, layout)) {
    const PairLane &even = vector.parity[0], &odd = vector.parity[1];
    assert(!x[even.component][even.set] && !x[odd.component][odd.set] &&
           "a (component, set) placed twice");
    x[even.component][even.set] = lanes.first;
    x[odd.component][odd.set] = lanes.second;
  }
  return x;
}

/// The integer rounding: rotatePair per set, the words joined in place.
SmallVector<Value> rotateWithIntegerBits(
    OpBuilder &b, Location loc, ArrayRef<std::pair<Value, Value>> split,
    ArrayRef<WordVectorLayout> layout, ArrayRef<Value> c, ArrayRef<Value> s) {
  PerPairLane x = operandsOf(split, layout);
  PerPairLane y;
  Type bf16 = b.getBF16Type();
  for (unsigned set = 0; set < 2; ++set)
    std::tie(y[0][set], y[1][set]) =
        rotatePair(b, loc, x[0][set], x[1][set], c[set], s[set], bf16,
                   BF16Rounding::IntegerBits);
  SmallVector<Value> words;
  for (const WordVectorLayout &vector : layout) {
    const PairLane &even = vector.parity[0], &odd = vector.parity[1];
    words.push_back(joinWords(b, loc, y[even.component][even.set],
                              y[odd.component][odd.set]));
  }
  return words;
}

/// The AVX512-BF16 rounding: the four products of both sets packed (set 0
/// in the high words, set 1 in the low), split into even/odd lanes -- lane
/// k of the even part is the pack's word 2k, of the odd part word 2k + 1 --
/// subtracted/added, packed again (odd part low) and shuffled into place.
SmallVector<Value> rotateWithPackedRounding(
    OpBuilder &b, Location loc, ArrayRef<std::pair<Value, Value>> split,
    ArrayRef<WordVectorLayout> layout, ArrayRef<Value> c, ArrayRef<Value> s) {
  PerPairLane x = operandsOf(split, layout);
  const int64_t n = cast<VectorType>(x[0][0].getType()).getDimSize(0);
  auto mul = [&](Value u, Value v) -> Value {
    return arith::MulFOp::create(b, loc, u, v);
  };
  auto product = [&](unsigned component, ArrayRef<Value> by) {
    return splitWords(b, loc,
                      packRounded(b, loc, mul(x[component][0], by[0]),
                                  mul(x[component][1], by[1])));
  };
  // Each rounded product as the pack's even and odd parts.
  auto [x1cEven, x1cOdd] = product(0, c);
  auto [x2sEven, x2sOdd] = product(1, s);
  auto [x2cEven, x2cOdd] = product(1, c);
  auto [x1sEven, x1sOdd] = product(0, s);
  Value y1 =
      packRounded(b, loc, arith::SubFOp::create(b, loc, x1cEven, x2sEven),
                  arith::SubFOp::create(b, loc, x1cOdd, x2sOdd));
  Value y2 =
      packRounded(b, loc, arith::AddFOp::create(b, loc, x2cEven, x1sEven),
                  arith::AddFOp::create(b, loc, x2cOdd, x1sOdd));

  // Word w of a product pack holds (set, lane) productOrigin(w); word v of
  // y1/y2 holds what lane v (v < n: odd part) or v - n (even part) held.
  auto productOrigin = [&](int64_t w) {
    return w < n ? std::make_pair(1u, w) : std::make_pair(0u, w - n);
  };
  auto resultOrigin = [&](int64_t v) {
    return v < n ? productOrigin(2 * v + 1) : productOrigin(2 * (v - n));
  };
  SmallVector<int64_t> wordOf(2 * n);
  for (int64_t v = 0; v < 2 * n; ++v) {
    auto [set, lane] = resultOrigin(v);
    wordOf[set * n + lane] = v;
  }
  auto i16Type = VectorType::get({2 * n}, b.getI16Type());
  Value y1Bits = vector::BitCastOp::create(b, loc, i16Type, y1);
  Value y2Bits = vector::BitCastOp::create(b, loc, i16Type, y2);
  SmallVector<Value> words;
  for (const WordVectorLayout &vector : layout) {
    SmallVector<int64_t> mask;
    for (int64_t j = 0; j < 2 * n; ++j) {
      const PairLane &from = vector.parity[j % 2];
      mask.push_back(from.component * 2 * n + wordOf[from.set * n + j / 2]);
    }
    Value shuffled = vector::ShuffleOp::create(b, loc, y1Bits, y2Bits, mask);
    words.push_back(vector::BitCastOp::create(
        b, loc, VectorType::get({2 * n}, b.getBF16Type()), shuffled));
  }
  return words;
}

} // namespace

bool mrope::avx512BF16PackFits(int64_t laneCount) {
  return laneCount == 8 || laneCount == 16;
}

void mrope::registerBF16WordPairsDialects(DialectRegistry &registry) {
  registry.insert<x86vector::X86VectorDialect>();
}

bool mrope::cosSinAlwaysAllowAVX512BF16(double attentionScaling) {
  return std::abs(attentionScaling) >= 0x1p-30;
}

Value mrope::cosSinAllowAVX512BF16(OpBuilder &b, Location loc,
                                   ValueRange cosSin) {
  Value all;
  for (Value v : cosSin) {
    auto type = cast<VectorType>(v.getType());
    auto constant = [&](float value) -> Value {
      return arith::ConstantOp::create(
          b, loc, type, DenseElementsAttr::get(type, b.getF32FloatAttr(value)));
    };
    Value large = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OGE,
                                        math::AbsFOp::create(b, loc, v),
                                        constant(0x1p-55f));
    Value zero = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OEQ, v,
                                       constant(0.0f));
    Value safe = arith::OrIOp::create(b, loc, large, zero);
    Value lanes =
        vector::ReductionOp::create(b, loc, vector::CombiningKind::AND, safe);
    all = all ? arith::AndIOp::create(b, loc, all, lanes).getResult() : lanes;
  }
  return all;
}

SmallVector<Value>
mrope::rotateWordVectors(OpBuilder &b, Location loc, ArrayRef<Value> words,
                         ArrayRef<WordVectorLayout> layout, ArrayRef<Value> c,
                         ArrayRef<Value> s, GroupRounding rounding,
                         Value cosSinSafe) {
  SmallVector<std::pair<Value, Value>> split;
  for (Value w : words)
    split.push_back(splitWords(b, loc, w));
  auto rotate = [&](OpBuilder &rb, Location rloc, bool packed) {
    return packed ? rotateWithPackedRounding(rb, rloc, split, layout, c, s)
                  : rotateWithIntegerBits(rb, rloc, split, layout, c, s);
  };
  const int64_t lanes = cast<VectorType>(c.front().getType()).getDimSize(0);
  if (rounding == GroupRounding::IntegerBits || !avx512BF16PackFits(lanes))
    return rotate(b, loc, /*packed=*/false);
  Value safe = wordsAreLarge(b, loc, words);
  if (cosSinSafe)
    safe = arith::AndIOp::create(b, loc, cosSinSafe, safe);
  auto ifOp = scf::IfOp::create(
      b, loc, safe,
      [&](OpBuilder &tb, Location tloc) {
        scf::YieldOp::create(tb, tloc, rotate(tb, tloc, /*packed=*/true));
      },
      [&](OpBuilder &eb, Location eloc) {
        scf::YieldOp::create(eb, eloc, rotate(eb, eloc, /*packed=*/false));
      });
  return SmallVector<Value>(ifOp.getResults());
}
