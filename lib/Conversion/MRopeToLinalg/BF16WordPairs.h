//===- BF16WordPairs.h - bf16 rows rotated in even/odd lanes ----*- C++ -*-===//
//
// The CPU form rotates bf16 rows without widening each element: a vector of
// 2N bf16 words read as N i32 lanes holds its even words in the low halves
// and its odd words in the high halves, so one shift and one mask give two
// f32 vectors (each lane an exact bf16 value), and one shift-and-or joins
// them back. Pairs are assigned to lanes so that a word vector's even and
// odd lanes line up with the cos/sin vectors (the layout below).
//
//===----------------------------------------------------------------------===//

#ifndef MROPE_LIB_CONVERSION_MROPETOLINALG_BF16WORDPAIRS_H
#define MROPE_LIB_CONVERSION_MROPETOLINALG_BF16WORDPAIRS_H

#include "mlir/IR/Builders.h"

#include <array>

namespace mlir::mrope {

/// Which rotation operand a lane holds: component 0 is x1 (and becomes y1),
/// component 1 is x2 (y2); `set` is one of the two sets of pairs rotated
/// together, each with its own cos/sin vector.
struct PairLane {
  unsigned component;
  unsigned set;
};

/// A vector of bf16 words of a row: it starts at `channel`, and its word
/// 2m + p holds lane m of `parity[p]`.
struct WordVectorLayout {
  int64_t channel;
  std::array<PairLane, 2> parity;
};

/// How a group of pairs is rounded to bf16 after each op.
enum class GroupRounding {
  /// Round-to-nearest-even on the bits of each f32 lane (five integer ops).
  IntegerBits,
  /// AVX512-BF16's vcvtne2ps2bf16: two f32 vectors rounded and packed into
  /// one in a single instruction (the same bits except that it reads
  /// subnormal inputs as zero), where every operand is safe (see
  /// rotateWordVectors); the integer rounding otherwise.
  AVX512BF16,
};

/// Whether sets of `laneCount` lanes can use the AVX512-BF16 rounding (one
/// 256- or 512-bit vcvtne2ps2bf16 per pack).
bool avx512BF16PackFits(int64_t laneCount);

/// The dialects the ops built here need beyond the pass's own (x86vector,
/// for the AVX512-BF16 conversion).
void registerBF16WordPairsDialects(DialectRegistry &registry);

/// Whether cos/sin scaled by `attentionScaling` always allow the AVX512-BF16
/// rounding (see rotateWordVectors): for |attentionScaling| >= 2^-30 every
/// pair's larger of |cos| and |sin| is at least 2^-31.
bool cosSinAlwaysAllowAVX512BF16(double attentionScaling);

/// An i1 that is true when cos/sin vectors `cosSin` (f32 lanes holding bf16
/// values) allow the AVX512-BF16 rounding whatever they are paired with:
/// every lane is 0 or has magnitude >= 2^-55.
Value cosSinAllowAVX512BF16(OpBuilder &b, Location loc, ValueRange cosSin);

/// Rotates the pairs held by `words` (loaded bf16 vectors of 2N words laid
/// out as `layout` says; both sets have N lanes): y1 = x1 c - x2 s,
/// y2 = x2 c + x1 s with every op rounded to bf16, exactly
/// rotatePair(IntegerBits)'s bits. Returns the rotated word vectors, in the
/// same layout.
///
/// With GroupRounding::AVX512BF16 the products and sums of both sets are
/// rounded two vectors per instruction and the words put back in place by
/// one shuffle per vector. The instruction reads subnormal inputs as zero,
/// so it is used (an scf.if per call, the integer rounding otherwise) only
/// when every word has magnitude >= 2^-63 (zero is not accepted) and
/// `cosSinSafe` (null: true) holds. Then no value it rounds differs:
///  - cos/sin lanes 0 or >= 2^-55 (cosSinAllowAVX512BF16): every product is
///    0 or >= 2^-118, and a sum or difference of such bf16 values is 0 or a
///    multiple of 2^-125 -- nothing is subnormal;
///  - every pair's larger of |cos|, |sin| >= 2^-37 (the static case,
///    cosSinAlwaysAllowAVX512BF16): the product with it, A, is >= 2^-100, so
///    the other product, if subnormal (|d| < 2^-126), is below half the f32
///    spacing at A and A -/+ d rounds to A either way; A -/+ B for a normal
///    bf16 B is 0 or >= 2^-109.
SmallVector<Value> rotateWordVectors(OpBuilder &b, Location loc,
                                     ArrayRef<Value> words,
                                     ArrayRef<WordVectorLayout> layout,
                                     ArrayRef<Value> c, ArrayRef<Value> s,
                                     GroupRounding rounding, Value cosSinSafe);

} // namespace mlir::mrope

#endif // MROPE_LIB_CONVERSION_MROPETOLINALG_BF16WORDPAIRS_H
