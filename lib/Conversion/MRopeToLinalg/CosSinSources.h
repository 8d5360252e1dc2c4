//===- CosSinSources.h - cos/sin per position axis, reused ------*- C++ -*-===//
//
// The CPU forms of mrope.apply and mrope.cos_sin take cos/sin per position
// axis -- for that axis's pairs only, as vectors -- and reuse a previous
// token's when the position is the same bits.
//
//===----------------------------------------------------------------------===//

#ifndef MROPE_LIB_CONVERSION_MROPETOLINALG_COSSINSOURCES_H
#define MROPE_LIB_CONVERSION_MROPETOLINALG_COSSINSOURCES_H

#include "mrope/Dialect/MRope/IR/MRopeAttrs.h"

#include "mlir/IR/Builders.h"

namespace mlir::mrope {

/// Where a CPU form takes cos/sin from: a position axis (or NoPE, angle 0)
/// and the pairs that use it, in this order packed into pieces of one
/// vector width (padded with inv_freq 0). A source computes cos/sin for its
/// own pairs only, so e.g. a token whose W position alone changed costs
/// sin/cos of the W pairs.
struct CosSinSource {
  Axis axis;
  SmallVector<int64_t> pairs;
  SmallVector<Value> freqPieces;
};

/// One source's cos/sin pieces for one token and the bits of the position
/// (i32) they were computed for.
struct SourceCosSin {
  Value positionBits;
  SmallVector<Value> c, s;

  SmallVector<Value> pieces() const {
    SmallVector<Value> all(c);
    all.append(s);
    return all;
  }
  void assignPieces(ValueRange all) {
    c.assign(all.begin(), all.begin() + all.size() / 2);
    s.assign(all.begin() + all.size() / 2, all.end());
  }
};

/// A source's cos/sin that may be reused, if `valid` (null: always) and the
/// position bits match.
struct ReuseCandidate {
  const SourceCosSin *values;
  Value valid;
};

/// The pieces of the first of `candidates` whose position bits are `bits`
/// followed by `carried` (an scf.if chain), else `compute`'s pieces and
/// updated carried values.
SmallVector<Value>
reuseOrCompute(OpBuilder &b, Location loc, Value bits,
               ArrayRef<ReuseCandidate> candidates, ValueRange carried,
               function_ref<SmallVector<Value>(OpBuilder &, Location)> compute);

} // namespace mlir::mrope

#endif // MROPE_LIB_CONVERSION_MROPETOLINALG_COSSINSOURCES_H
