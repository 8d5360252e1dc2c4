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

#include "Common/ActivationLayout.h"
#include "Common/AttentionMath.h"

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

/// The indices of an attention loop over query rows: (batch, head, token),
/// or (token, head) for the packed layout, possibly followed by others.
struct QueryRowIndices {
  Value batch, head, token; // batch is null when packed
};
inline QueryRowIndices queryRowIndices(bool packed, ValueRange args) {
  if (packed)
    return {Value(), args[1], args[0]};
  return {args[0], args[1], args[2]};
}

/// The sizes of an scf.forall over the query rows of `qType` (layout `d`)
/// that takes its heads `headsPerIteration` at a time: (batch, heads,
/// tokens), or (tokens, heads) packed -- the order queryRowIndices reads.
SmallVector<OpFoldResult> queryRowLoopSizes(OpBuilder &b, ActivationLayout d,
                                            RankedTensorType qType,
                                            int64_t headsPerIteration = 1);

/// Ends an scf.forall body that computed whole rows (vectors over the head
/// dim, one per head of `heads`, all at `batch` and `token`): each row
/// becomes a tensor and is inserted into the shared output `dest` by the
/// body's in_parallel terminator, created here.
void insertRowsInParallel(OpBuilder &b, Location loc, ActivationLayout d,
                          ArrayRef<Value> rows, ArrayRef<Value> heads,
                          Value batch, Value token, Value dest);

/// The indices of (batch, head, token, channel 0) in a tensor of layout `d`
/// (`zero`: the index 0; batch unused when packed).
inline SmallVector<Value> rowStartIndices(ActivationLayout d, Value batch,
                                          Value head, Value token, Value zero) {
  SmallVector<Value> idx(d.rank, zero);
  if (!d.packed())
    idx[d.batch] = batch;
  idx[d.heads] = head;
  idx[d.seq] = token;
  return idx;
}

/// One online-softmax step of a query row over a block of keys: `block`
/// holds the block's scores (-inf where no key), m, l and acc (a vector over
/// the head dim) the row's running max, sum and accumulator. Returns m' =
/// max(m, max_j s_j), l' = l c + sum_j p_j and acc c, with c = exp(m - m')
/// and the weights p_j = exp(s_j - m') (vector exp of non-positive values),
/// for the caller to add sum_j p_j v_j to acc c.
struct OnlineSoftmaxStep {
  Value m, sum, acc, weights;
};
OnlineSoftmaxStep buildOnlineSoftmaxStep(OpBuilder &b, Location loc,
                                         Value block, Value m, Value sum,
                                         Value acc);

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
