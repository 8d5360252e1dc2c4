//===- AttentionRowMath.h - q . k of rows over the head dim -----*- C++ -*-===//
//
// The score arithmetic of the attention forms that keep a query row as a
// vector over the head dimension (row by row, and decode): per key the
// products of q and k as the lanes of one vector, and the lane sums of a
// block of keys as one transpose-reduction.
//
//===----------------------------------------------------------------------===//

#ifndef MROPE_LIB_CONVERSION_MROPETOLINALG_ATTENTIONROWMATH_H
#define MROPE_LIB_CONVERSION_MROPETOLINALG_ATTENTIONROWMATH_H

#include "mlir/IR/Builders.h"

namespace mlir::mrope {

/// `row` (vector<D x f32>) as chunks of the most lanes (a power of two up to
/// one AVX-512 vector) that divide D; the whole row when D is odd.
SmallVector<Value> dotChunks(OpBuilder &b, Location loc, Value row);

/// q . k as lanes to be summed: sum over chunks c of q_c * k_c (FMAs; q as
/// dotChunks, k a whole f32 row); for an odd head dimension, the sum itself
/// as one lane.
Value dotLanes(OpBuilder &b, Location loc, ArrayRef<Value> qChunks, Value kRow);

/// bf16 channels per vdpbf16ps (one AVX-512 vector).
constexpr int64_t kBF16DotChannels = 32;

/// `row` (vector<D x bf16>, D a multiple of kBF16DotChannels) as chunks of
/// kBF16DotChannels.
SmallVector<Value> bf16DotChunks(OpBuilder &b, Location loc, Value row);

/// q . k of bf16 rows as lanes to be summed: vdpbf16ps over q's chunks
/// (bf16DotChunks) and k's (each lane adds two adjacent channels' products,
/// exactly; the lanes' sums are f32).
Value bf16DotLanes(OpBuilder &b, Location loc, ArrayRef<Value> qChunks,
                   Value kRow);

/// The lane sums of partial vectors (one width, a power of two; a power of
/// two of them), one per vector, as a vector -- built as the vectors arrive,
/// so that few stay live. Two vectors whose inputs span the same number of
/// lanes are folded by adding their even and odd lanes (a halving that keeps
/// each input's lanes together, in order) until each input has one lane; at
/// the end the last vector's lane pairs are added until one lane per input
/// is left, or the vectors (each a run of whole sums, in order) are joined.
class LaneSums {
public:
  LaneSums(OpBuilder &b, Location loc) : b(b), loc(loc) {}
  void add(Value partial);
  Value finish();

private:
  struct Folded {
    Value value;
    int64_t lanesPerInput;
  };
  Value evensOdds(Value x, Value y, int64_t count);

  OpBuilder &b;
  Location loc;
  SmallVector<Folded> folded;
  int64_t count = 0;
};

} // namespace mlir::mrope

#endif
