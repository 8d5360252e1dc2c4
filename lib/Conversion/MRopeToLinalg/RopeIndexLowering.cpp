//===- RopeIndexLowering.cpp - mrope.rope_index to scf loops --------------===//
//
// The runtime form of position construction is a scan: per row, text tokens
// advance one position, a visual block places T x H x W tokens around the
// running start. It lowers to one scf.for over rows and, inside, a counting
// pass and a positioning pass over the tokens, with the state (running start,
// open block, grid cursors, first error) carried in iter_args. The result
// runs on any target that runs scf; no per-design runtime library.
//
//===----------------------------------------------------------------------===//

#include "RopeIndexLowering.h"
#include "Common/TorchMathIR.h"

#include "mrope/Dialect/MRope/IR/MRopeOps.h"
#include "mrope/Dialect/MRope/Utils/PositionRules.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"
#include "mlir/IR/PatternMatch.h"

using namespace mlir;
using namespace mlir::mrope;

namespace {

/// Error codes of the status result (see the op description).
enum StatusCode : int64_t {
  kOk = 0,
  kPadMismatch = 1,
  kUnusedGrids = 2,
  kNoGridLeft = 3,
  kBadGridSize = 4,
  kNotMergeable = 5,
  kOverflow = 6,
  kEmptyRow = 7,
};

/// Scalar helpers over an ImplicitLocOpBuilder, all on i64 unless noted.
struct Scalars {
  ImplicitLocOpBuilder &b;
  Type i64, f32, f64, i1;
  /// Whether arith.fptosi is known to truncate where this code runs (the
  /// CPU and GPU pipelines); false for the portable form, which IREE may
  /// run as host code that rounds (truncToI64).
  bool fptosiTruncates = false;
  explicit Scalars(ImplicitLocOpBuilder &b)
      : b(b), i64(b.getI64Type()), f32(b.getF32Type()), f64(b.getF64Type()),
        i1(b.getI1Type()) {}

  Value c(int64_t v) { return arith::ConstantIntOp::create(b, i64, v); }
  Value idx(int64_t v) { return arith::ConstantIndexOp::create(b, v); }
  Value boolean(bool v) { return arith::ConstantIntOp::create(b, i1, v); }
  Value add(Value x, Value y) { return arith::AddIOp::create(b, x, y); }
  Value sub(Value x, Value y) { return arith::SubIOp::create(b, x, y); }
  Value mul(Value x, Value y) { return arith::MulIOp::create(b, x, y); }
  Value div(Value x, Value y) { return arith::DivSIOp::create(b, x, y); }
  Value rem(Value x, Value y) { return arith::RemSIOp::create(b, x, y); }
  Value max(Value x, Value y) { return arith::MaxSIOp::create(b, x, y); }
  Value eq(Value x, Value y) {
    return arith::CmpIOp::create(b, arith::CmpIPredicate::eq, x, y);
  }
  Value ne(Value x, Value y) {
    return arith::CmpIOp::create(b, arith::CmpIPredicate::ne, x, y);
  }
  Value lt(Value x, Value y) {
    return arith::CmpIOp::create(b, arith::CmpIPredicate::slt, x, y);
  }
  Value le(Value x, Value y) {
    return arith::CmpIOp::create(b, arith::CmpIPredicate::sle, x, y);
  }
  Value gt(Value x, Value y) {
    return arith::CmpIOp::create(b, arith::CmpIPredicate::sgt, x, y);
  }
  Value andi(Value x, Value y) { return arith::AndIOp::create(b, x, y); }
  Value ori(Value x, Value y) { return arith::OrIOp::create(b, x, y); }
  Value notb(Value x) { return arith::XOrIOp::create(b, x, boolean(true)); }
  Value sel(Value cond, Value x, Value y) {
    return arith::SelectOp::create(b, cond, x, y);
  }
  Value toIndex(Value x) {
    return arith::IndexCastOp::create(b, b.getIndexType(), x);
  }
  Value toI64(Value x) {
    if (x.getType() == i64)
      return x;
    if (x.getType().isIndex())
      return arith::IndexCastOp::create(b, i64, x);
    return arith::ExtSIOp::create(b, i64, x);
  }
  /// The integer part of float `x` (torch's `.long()`, arith.fptosi),
  /// unless `fptosiTruncates` corrected toward zero when the conversion
  /// rounded away from it: IREE 3.13's host code (where the portable form's
  /// scans run) rounds fptosi to nearest -- 0.5 gave 1, 2.7 gave 3 -- while
  /// the CPU and GPU truncate and need no correction. Exact for |x| < 2^53.
  Value truncToI64(Value x) {
    Type type = x.getType();
    Value n = arith::FPToSIOp::create(b, i64, x);
    if (fptosiTruncates)
      return n;
    Value back = arith::SIToFPOp::create(b, type, n);
    Value zero = arith::ConstantOp::create(b, b.getFloatAttr(type, 0.0));
    Value nonNegative =
        arith::CmpFOp::create(b, arith::CmpFPredicate::OGE, x, zero);
    Value above = arith::CmpFOp::create(b, arith::CmpFPredicate::OGT, back, x);
    Value below = arith::CmpFOp::create(b, arith::CmpFPredicate::OLT, back, x);
    Value away = sel(nonNegative, above, below);
    return sel(away, sel(nonNegative, sub(n, c(1)), add(n, c(1))), n);
  }
  /// `v` (i64, or f64 for fractional positions) as the positions' element
  /// type `elem` (folded where constant).
  Value toElement(Value v, Type elem) {
    if (v.getType() == elem)
      return v;
    if (!isa<FloatType>(elem))
      return b.createOrFold<arith::TruncIOp>(elem, v);
    if (isa<FloatType>(v.getType()))
      return b.createOrFold<arith::TruncFOp>(elem, v);
    return b.createOrFold<arith::SIToFPOp>(elem, v);
  }
  /// tensor[indices] as i64 (extending narrower integers).
  Value load(Value tensor, ArrayRef<Value> indices) {
    return toI64(tensor::ExtractOp::create(b, tensor, indices));
  }
};

/// The first error wins: (code, sequence, block, detail).
struct ErrorState {
  Value code, seq, block, detail;

  void record(Scalars &s, Value cond, int64_t newCode, Value newSeq,
              Value newBlock, Value newDetail) {
    Value first = s.andi(cond, s.eq(code, s.c(kOk)));
    code = s.sel(first, s.c(newCode), code);
    seq = s.sel(first, newSeq, seq);
    block = s.sel(first, newBlock, block);
    detail = s.sel(first, newDetail, detail);
  }
  SmallVector<Value> values() const { return {code, seq, block, detail}; }
};

/// The part of a loop's output that one iteration over rows owns. In an
/// scf.forall it is a slice of the shared output, read with
/// tensor.extract_slice, updated, written back at the same place -- a pair
/// that bufferizes in place, values stored straight into the output with no
/// temporary (which a GPU thread could not allocate). In an scf.for the
/// whole carried output is updated at the slice's place (an extracted slice
/// inserted back trips IREE's stream allocation).
struct OwnedSlice {
  Value dest, value;
  SmallVector<OpFoldResult> offsets, sizes;
  bool whole;

  OwnedSlice(ImplicitLocOpBuilder &b, Value dest,
             ArrayRef<OpFoldResult> offsets, ArrayRef<OpFoldResult> sizes,
             bool inParallelLoop)
      : dest(dest), value(dest), offsets(offsets), sizes(sizes),
        whole(!inParallelLoop) {
    if (!whole)
      value =
          tensor::ExtractSliceOp::create(b, dest, offsets, sizes, strides(b));
  }
  SmallVector<OpFoldResult> strides(OpBuilder &b) const {
    return SmallVector<OpFoldResult>(sizes.size(), b.getIndexAttr(1));
  }
  /// The indices in `value` of the slice's element `local`.
  SmallVector<Value> at(ImplicitLocOpBuilder &b, ValueRange local) const {
    SmallVector<Value> indices(local);
    if (!whole)
      return indices;
    for (auto [index, offset] : llvm::zip(indices, offsets)) {
      if (isZeroInteger(offset))
        continue;
      Value start = getValueOrCreateConstantIndexOp(b, b.getLoc(), offset);
      index = isZeroInteger(getAsOpFoldResult(index))
                  ? start
                  : arith::AddIOp::create(b, index, start).getResult();
    }
    return indices;
  }
  /// `into` (a version of `value`) with `scalars`, the row-major elements
  /// of a `shape` block, written at `origin` (in slice coordinates). Into a
  /// forall's slice: one tensor.insert per element (stores, no temporary).
  /// Into a whole carried output: one tensor.insert_slice of a
  /// tensor.from_elements block -- IREE 3.13 miscompiles several
  /// tensor.insert into one loop-carried tensor per iteration (all but the
  /// last row of such a column come out wrong).
  Value write(ImplicitLocOpBuilder &b, Value into, ValueRange scalars,
              ArrayRef<int64_t> shape, ValueRange origin) const {
    if (whole) {
      auto block = RankedTensorType::get(
          shape, cast<RankedTensorType>(into.getType()).getElementType());
      Value elements = tensor::FromElementsOp::create(b, block, scalars);
      SmallVector<OpFoldResult> sizes = llvm::map_to_vector(
          shape, [&](int64_t n) -> OpFoldResult { return b.getIndexAttr(n); });
      return tensor::InsertSliceOp::create(
          b, elements, into, getAsOpFoldResult(at(b, origin)), sizes,
          SmallVector<OpFoldResult>(shape.size(), b.getIndexAttr(1)));
    }
    for (auto [n, scalar] : llvm::enumerate(scalars)) {
      SmallVector<Value> index(origin);
      int64_t rest = n;
      for (int64_t d = shape.size() - 1; d >= 0; --d) {
        if (int64_t offset = rest % shape[d])
          index[d] = arith::AddIOp::create(
              b, index[d], arith::ConstantIndexOp::create(b, offset));
        rest /= shape[d];
      }
      into = tensor::InsertOp::create(b, scalar, into, index);
    }
    return into;
  }
  /// Stores `scalars` as the whole (statically sized) slice.
  void set(ImplicitLocOpBuilder &b, ValueRange scalars) {
    SmallVector<int64_t> shape = llvm::map_to_vector(
        sizes, [](OpFoldResult size) { return *getConstantIntValue(size); });
    value = write(
        b, value, scalars, shape,
        SmallVector<Value>(shape.size(), arith::ConstantIndexOp::create(b, 0)));
  }
};

/// The body of a loop over rows: row `row` updates its own slice of each of
/// the loop's outputs (`outputs`, in order) and returns them.
using RowBody = function_ref<SmallVector<OwnedSlice>(
    ImplicitLocOpBuilder &b, Value row, ValueRange outputs)>;

/// A loop over `rows` whose iterations write disjoint slices of `inits`:
/// an scf.forall (rows in parallel: threads on the CPU, a thread per row on
/// the GPU) or an scf.for carrying the outputs -- IREE's host-level
/// compilation takes loops over tensors but not a top-level scf.forall.
SmallVector<Value> buildRowLoop(ImplicitLocOpBuilder &b, bool parallel,
                                OpFoldResult rows, ValueRange inits,
                                RowBody body) {
  if (parallel) {
    auto loop = scf::ForallOp::create(
        b, rows, inits, /*mapping=*/std::nullopt,
        [&](OpBuilder &nb, Location loc, ValueRange args) {
          ImplicitLocOpBuilder rb(loc, nb);
          SmallVector<OwnedSlice> slices =
              body(rb, args.front(), args.drop_front());
          auto inParallel = scf::InParallelOp::create(rb);
          OpBuilder::InsertionGuard guard(rb);
          rb.setInsertionPointToStart(inParallel.getBody());
          for (const OwnedSlice &slice : slices)
            tensor::ParallelInsertSliceOp::create(rb, slice.value, slice.dest,
                                                  slice.offsets, slice.sizes,
                                                  slice.strides(rb));
        });
    return loop.getResults();
  }
  Value c0 = arith::ConstantIndexOp::create(b, 0);
  Value c1 = arith::ConstantIndexOp::create(b, 1);
  auto loop = scf::ForOp::create(
      b, c0, getValueOrCreateConstantIndexOp(b, b.getLoc(), rows), c1, inits,
      [&](OpBuilder &nb, Location loc, Value row, ValueRange outputs) {
        ImplicitLocOpBuilder rb(loc, nb);
        SmallVector<Value> updated = llvm::map_to_vector(
            body(rb, row, outputs),
            [](const OwnedSlice &slice) { return slice.value; });
        scf::YieldOp::create(rb, updated);
      });
  return loop.getResults();
}

using ScanBody = function_ref<SmallVector<Value>(ImplicitLocOpBuilder &b,
                                                 Value iv, ValueRange carried)>;

/// An scf.for over [lb, ub) carrying `inits`; `body` returns the next
/// values. With `wideBooleans` carried i1s cross the loop boundary as i64s
/// (zero-extended; the body sees and returns i1s): IREE 3.13 miscompiles
/// host loops that carry narrower integers next to i64 ones (the
/// block-count loop's `previous token was <vision_start>` came back false,
/// as an i1, i8 or i32 alike; tools/mrope-iree). The portable form, which
/// IREE consumes, sets it. (Carrying f32s by their bits as i64s too made
/// IREE's results worse, not better: f32s stay.)
SmallVector<Value> buildScanLoop(ImplicitLocOpBuilder &b, Value lb, Value ub,
                                 ValueRange inits, bool wideBooleans,
                                 ScanBody body) {
  Type i64 = b.getI64Type();
  auto widen = [&](ImplicitLocOpBuilder &ib, Value v) -> Value {
    if (wideBooleans && v.getType().isInteger(1))
      return arith::ExtUIOp::create(ib, i64, v);
    return v;
  };
  auto narrow = [&](ImplicitLocOpBuilder &ib, Value v, Type type) -> Value {
    return type == v.getType() ? v : arith::TruncIOp::create(ib, type, v);
  };
  SmallVector<Type> types = llvm::to_vector(inits.getTypes());
  SmallVector<Value> wideInits =
      llvm::map_to_vector(inits, [&](Value v) { return widen(b, v); });
  Value c1 = arith::ConstantIndexOp::create(b, 1);
  auto loop = scf::ForOp::create(
      b, lb, ub, c1, wideInits,
      [&](OpBuilder &nb, Location loc, Value iv, ValueRange wide) {
        ImplicitLocOpBuilder ib(loc, nb);
        SmallVector<Value> carried;
        for (auto [v, type] : llvm::zip_equal(wide, types))
          carried.push_back(narrow(ib, v, type));
        SmallVector<Value> next = llvm::map_to_vector(
            body(ib, iv, carried), [&](Value v) { return widen(ib, v); });
        scf::YieldOp::create(ib, next);
      });
  SmallVector<Value> results;
  for (auto [v, type] : llvm::zip_equal(loop.getResults(), types))
    results.push_back(narrow(b, v, type));
  return results;
}

struct RopeIndexLowering : OpRewritePattern<RopeIndexOp> {
  RopeIndexLowering(MLIRContext *context, bool parallelRows)
      : OpRewritePattern(context), parallelRows(parallelRows) {}

  const bool parallelRows;

  LogicalResult matchAndRewrite(RopeIndexOp op,
                                PatternRewriter &rewriter) const override {
    DesignAttr design = op.getDesign();
    const PositionDesign kind = design.getKind();
    ImplicitLocOpBuilder b(op.getLoc(), rewriter);
    Scalars s(b);

    const bool vanilla = kind == PositionDesign::Vanilla;
    // Fractional designs compute positions in f64 and store float32.
    const bool fractional = design.hasFloatPositions();
    // The paper designs and Qwen3-VL position each video frame as a block.
    const bool perFrame = kind == PositionDesign::Qwen3VL ||
                          kind == PositionDesign::SpatialReset || fractional;
    const bool reset = kind == PositionDesign::SpatialReset;
    const CompatMode compat = design.getCompat();
    const bool hf5 = compat == CompatMode::HF5;
    VisionTokensAttr tokens = op.getVisionTokensOrDefault();
    const int64_t merge = op.getSpatialMergeSize();

    auto posType = cast<RankedTensorType>(op.getPositions().getType());
    Type posElem = posType.getElementType();
    Value ids = op.getInputIds();
    Value mask = op.getAttentionMask();
    Value images = op.getImageGridThw();
    Value videos = op.getVideoGridThw();
    Value spgs = op.getSecondPerGridTs();
    // (Constants for static shapes: the GPU launches need static bounds.)
    Value cB = b.createOrFold<tensor::DimOp>(ids, 0);
    Value cN = b.createOrFold<tensor::DimOp>(ids, 1);
    OpFoldResult batch = getAsOpFoldResult(cB), length = getAsOpFoldResult(cN);
    Value n64 = s.toI64(cN);
    Value numImages =
        images ? s.toI64(b.createOrFold<tensor::DimOp>(images, 0)) : s.c(0);
    Value numVideos =
        videos ? s.toI64(b.createOrFold<tensor::DimOp>(videos, 0)) : s.c(0);
    Value c0 = s.idx(0), c1 = s.idx(1), c2 = s.idx(2);
    Value zero = s.c(0), one = s.c(1), minusOne = s.c(-1);
    Value imagePad = s.c(tokens.getImagePad());
    Value videoPad = s.c(tokens.getVideoPad());
    Value visionStart = s.c(tokens.getVisionStart());
    Value mergeSize = s.c(merge);

    // Position arithmetic: i64 for integer designs, f64 for fractional ones.
    auto P = [&](Scalars &t, double v) -> Value {
      if (fractional)
        return arith::ConstantOp::create(t.b, t.b.getF64FloatAttr(v));
      return t.c(static_cast<int64_t>(v));
    };
    auto pAdd = [&](Scalars &t, Value x, Value y) -> Value {
      return fractional ? Value(arith::AddFOp::create(t.b, x, y)) : t.add(x, y);
    };
    auto pSub = [&](Scalars &t, Value x, Value y) -> Value {
      return fractional ? Value(arith::SubFOp::create(t.b, x, y)) : t.sub(x, y);
    };
    auto pMax = [&](Scalars &t, Value x, Value y) -> Value {
      return fractional ? Value(arith::MaximumFOp::create(t.b, x, y))
                        : t.max(x, y);
    };
    auto pGt = [&](Scalars &t, Value x, Value y) -> Value {
      return fractional ? Value(arith::CmpFOp::create(
                              t.b, arith::CmpFPredicate::OGT, x, y))
                        : t.gt(x, y);
    };
    auto pFromInt = [&](Scalars &t, Value v) -> Value {
      return fractional ? Value(arith::SIToFPOp::create(t.b, t.f64, v)) : v;
    };
    auto toPos = [&](Scalars &t, Value v) -> Value {
      return t.toElement(v, posElem);
    };
    if ((vanilla && !mask) || isConstantIntValue(length, 0)) {
      rewriteTextOnly(op, rewriter, b, posElem, batch, length);
      return success();
    }
    // Outputs, padded slots pre-filled (1 legacy, 0 in hf5).
    Value fill =
        fractional
            ? Value(arith::ConstantOp::create(b, FloatAttr::get(posElem, 1.0)))
            : Value(arith::ConstantOp::create(
                  b, IntegerAttr::get(posElem, hf5 ? 0 : 1)));
    Value positions =
        linalg::FillOp::create(
            b, ValueRange{fill},
            ValueRange{tensor::EmptyOp::create(
                b, ArrayRef<OpFoldResult>{b.getIndexAttr(3), batch, length},
                posElem)})
            .getResult(0);
    Value deltas = tensor::EmptyOp::create(
        b, ArrayRef<OpFoldResult>{batch, b.getIndexAttr(1)}, posElem);
    Value nexts =
        tensor::EmptyOp::create(b, ArrayRef<OpFoldResult>{batch}, posElem);

    // Only tokens with attention_mask == 1 are positioned (exactly 1, as
    // the reference does).
    auto isReal = [&](Scalars &t, Value row, Value i) -> Value {
      if (!mask)
        return t.boolean(true);
      return t.eq(t.load(mask, {row, i}), one);
    };

    // Rows are positioned in parallel. A row's grid cursors follow from
    // the blocks the rows before it open: in a row without an error every
    // counted block opens and takes the next grid of its kind (a frame of
    // one for the per-frame designs), so the first row with an error starts
    // from the same cursors as in a sequential scan and reports the same
    // error; rows after it may be positioned differently, which the status
    // makes moot.
    //
    // Pass 1: blocks of each kind per row, [B, 2] (images, videos):
    // <vision_start> followed (among the unpadded tokens) by that kind's
    // pad token.
    Value countsInit = tensor::EmptyOp::create(
        b, ArrayRef<OpFoldResult>{batch, b.getIndexAttr(2)}, s.i64);
    Value blockCounts = buildRowLoop(
        b, parallelRows, batch, countsInit,
        [&](ImplicitLocOpBuilder &rb, Value row,
            ValueRange args) -> SmallVector<OwnedSlice> {
          Scalars r(rb);
          SmallVector<Value> count = buildScanLoop(
              rb, c0, cN, ValueRange{zero, zero, r.boolean(false)},
              !parallelRows,
              [&](ImplicitLocOpBuilder &ib, Value i,
                  ValueRange a) -> SmallVector<Value> {
                Scalars t(ib);
                Value real = isReal(t, row, i);
                Value tok = t.load(ids, {row, i});
                Value afterStart = t.andi(real, a[2]);
                Value img = t.andi(afterStart, t.eq(tok, imagePad));
                Value vid = t.andi(afterStart, t.eq(tok, videoPad));
                Value nImg = t.sel(img, t.add(a[0], one), a[0]);
                Value nVid = t.sel(vid, t.add(a[1], one), a[1]);
                Value nStart = t.sel(real, t.eq(tok, visionStart), a[2]);
                return {nImg, nVid, nStart};
              });
          OwnedSlice rowCounts(rb, args[0], {row, rb.getIndexAttr(0)},
                               {rb.getIndexAttr(1), rb.getIndexAttr(2)},
                               parallelRows);
          rowCounts.set(rb, {count[0], count[1]});
          return {rowCounts};
        })[0];

    // Grid cursors (image, video, frame of the video) after `imageBlocks`
    // and `videoBlocks` blocks opened without an error.
    auto cursorsAfter = [&](Scalars &t, Value imageBlocks,
                            Value videoBlocks) -> SmallVector<Value> {
      if (!perFrame || !videos)
        return {imageBlocks, videoBlocks, zero};
      SmallVector<Value> walk = buildScanLoop(
          t.b, c0, t.toIndex(numVideos),
          ValueRange{videoBlocks, zero, zero, t.boolean(true)}, !parallelRows,
          [&](ImplicitLocOpBuilder &ib, Value j,
              ValueRange a) -> SmallVector<Value> {
            Scalars w(ib);
            Value frames = w.max(w.load(videos, {j, c0}), one);
            Value take = w.andi(a[3], w.le(frames, a[0]));
            Value stop = w.andi(a[3], w.notb(take));
            return {w.sel(take, w.sub(a[0], frames), a[0]),
                    w.sel(take, w.add(a[1], one), a[1]),
                    w.sel(stop, a[0], a[2]), take};
          });
      return {imageBlocks, walk[1], walk[2]};
    };
    // Blocks the rows before `row` open, per kind (O(B) per row: batches
    // are small next to their tokens).
    auto blocksBefore = [&](Scalars &t, Value row) -> SmallVector<Value> {
      return buildScanLoop(t.b, c0, row, ValueRange{zero, zero}, !parallelRows,
                           [&](ImplicitLocOpBuilder &ib, Value j,
                               ValueRange a) -> SmallVector<Value> {
                             Scalars u(ib);
                             return {u.add(a[0], u.load(blockCounts, {j, c0})),
                                     u.add(a[1], u.load(blockCounts, {j, c1}))};
                           });
    };

    // Pass 2: each row's positions, delta, next position and first error.
    Value rowStatusInit = tensor::EmptyOp::create(
        b, ArrayRef<OpFoldResult>{batch, b.getIndexAttr(4)}, s.i64);
    SmallVector<Value> out = buildRowLoop(
        b, parallelRows, batch,
        ValueRange{positions, deltas, nexts, rowStatusInit},
        [&](ImplicitLocOpBuilder &rb, Value row,
            ValueRange rowOuts) -> SmallVector<OwnedSlice> {
          Scalars r(rb);
          Value row64 = r.toI64(row);
          SmallVector<Value> before = blocksBefore(r, row);
          SmallVector<Value> cursors = cursorsAfter(r, before[0], before[1]);
          // This row's [3, 1, N] slice of the positions.
          OpFoldResult at0 = rb.getIndexAttr(0), size1 = rb.getIndexAttr(1);
          OwnedSlice rowPositions(rb, rowOuts[0], {at0, row, at0},
                                  {rb.getIndexAttr(3), size1, length},
                                  parallelRows);

          // Token scan state.
          enum {
            Positions,
            Next,
            RowMax,
            Unpadded,
            RemImg,
            RemVid,
            ImgIdx,
            VidIdx,
            Frame,
            Remaining,
            BlockStart,
            BlockH,
            BlockW,
            BlockTokens,
            BlockVideo,
            BlockSpg,
            LocalMax,
            BlockCount,
            Code,
            Seq,
            Block,
            Detail,
            TMax,
            LastVisual,
            RunStart,
            RunLength,
            BlockTextLen,
            BlockRunStart,
            CircleMin,
            CircleRange,
            CircleShift,
            // The token's place in its block: temporal patch, row, column
            // (counted, not divided out of k: i64 division is a long
            // instruction sequence on GPUs).
            Tau,
            Eta,
            Omega,
            NumState
          };
          SmallVector<Value> init(NumState);
          init[Positions] = rowPositions.value;
          init[Next] = P(s, 0);
          init[RowMax] = fractional
                             ? P(s, -std::numeric_limits<double>::infinity())
                             : s.c(std::numeric_limits<int64_t>::min());
          init[TMax] = init[RowMax];
          init[LastVisual] = P(s, 0);
          init[RunStart] = P(s, 0);
          init[RunLength] = zero;
          init[BlockTextLen] = P(s, 0);
          init[BlockRunStart] = P(s, 0);
          Value f32zero = arith::ConstantOp::create(rb, rb.getF32FloatAttr(0));
          init[CircleMin] = f32zero;
          init[CircleRange] = f32zero;
          init[CircleShift] = f32zero;
          init[Tau] = init[Eta] = init[Omega] = zero;
          init[Unpadded] = zero;
          init[RemImg] = r.load(blockCounts, {row, c0});
          init[RemVid] = r.load(blockCounts, {row, c1});
          init[ImgIdx] = cursors[0];
          init[VidIdx] = cursors[1];
          init[Frame] = cursors[2];
          init[Remaining] = zero;
          init[BlockStart] = P(s, 0);
          init[BlockH] = one;
          init[BlockW] = one;
          init[BlockTokens] = zero;
          init[BlockVideo] = r.boolean(false);
          init[BlockSpg] = arith::ConstantOp::create(rb, rb.getF32FloatAttr(0));
          init[LocalMax] = P(s, 0);
          init[BlockCount] = zero;
          init[Code] = zero;
          init[Seq] = zero;
          init[Block] = zero;
          init[Detail] = zero;

          SmallVector<Value> res = buildScanLoop(
              rb, c0, cN, init, !parallelRows,
              [&](ImplicitLocOpBuilder &ib, Value i,
                  ValueRange a) -> SmallVector<Value> {
                Scalars t(ib);
                // (The parallel form is the CPU and GPU pipelines'.)
                t.fptosiTruncates = parallelRows;
                SmallVector<Value> st(a.begin(), a.end());
                ErrorState err{st[Code], st[Seq], st[Block], st[Detail]};
                Value real = isReal(t, row, i);
                Value tok = t.load(ids, {row, i});
                Value isImgPad = t.eq(tok, imagePad);
                Value isVidPad = t.eq(tok, videoPad);
                Value inBlock = t.gt(st[Remaining], zero);

                // A new block starts at the first pad token of a kind while
                // blocks of that kind remain.
                Value startImg = t.boolean(false), startVid = t.boolean(false);
                if (!vanilla) {
                  Value free = t.andi(real, t.notb(inBlock));
                  startImg =
                      t.andi(t.andi(free, isImgPad), t.gt(st[RemImg], zero));
                  startVid =
                      t.andi(t.andi(free, isVidPad), t.gt(st[RemVid], zero));
                }
                Value start = t.ori(startImg, startVid);
                Value gridIdx = t.sel(startImg, st[ImgIdx], st[VidIdx]);
                Value gridCount = t.sel(startImg, numImages, numVideos);
                Value haveGrid = t.lt(gridIdx, gridCount);
                Value fetch = t.andi(start, haveGrid);
                // Read the grid only when one exists.
                // (t, h, w) and the video's seconds per grid are read by
                // separate ifs: IREE 3.13 miscompiles an scf.if yielding
                // both i64 and f32 values in host code.
                auto gridIf =
                    scf::IfOp::create(ib, TypeRange{t.i64, t.i64, t.i64}, fetch,
                                      /*withElseRegion=*/true);
                {
                  OpBuilder::InsertionGuard guard(ib);
                  ib.setInsertionPointToStart(&gridIf.getThenRegion().front());
                  // Only the grid list of the block's kind is read at the
                  // index (the other may be shorter: no read past its end).
                  Value gi = t.toIndex(gridIdx);
                  auto kindIf = scf::IfOp::create(
                      ib, TypeRange{t.i64, t.i64, t.i64}, startImg,
                      /*withElseRegion=*/true);
                  auto readGrid = [&](Region &region, Value grids) {
                    ib.setInsertionPointToStart(&region.front());
                    SmallVector<Value> thw = {one, one, one};
                    if (grids)
                      thw = {t.load(grids, {gi, c0}), t.load(grids, {gi, c1}),
                             t.load(grids, {gi, c2})};
                    scf::YieldOp::create(ib, thw);
                  };
                  readGrid(kindIf.getThenRegion(), images);
                  readGrid(kindIf.getElseRegion(), videos);
                  ib.setInsertionPointAfter(kindIf);
                  scf::YieldOp::create(ib, kindIf.getResults());
                  ib.setInsertionPointToStart(&gridIf.getElseRegion().front());
                  scf::YieldOp::create(ib,
                                       ValueRange{one, mergeSize, mergeSize});
                }
                Value gt = gridIf.getResult(0), gh = gridIf.getResult(1),
                      gw = gridIf.getResult(2);
                auto f32Constant = [&](float v) -> Value {
                  return arith::ConstantOp::create(ib, ib.getF32FloatAttr(v));
                };
                // 1 for a block without its own (images, no list), 0 when
                // no block opens.
                Value gspg = t.sel(fetch, f32Constant(1.0f), f32Constant(0.0f));
                if (spgs) {
                  auto spgIf = scf::IfOp::create(ib, TypeRange{t.f32},
                                                 t.andi(fetch, startVid),
                                                 /*withElseRegion=*/true);
                  OpBuilder::InsertionGuard guard(ib);
                  ib.setInsertionPointToStart(&spgIf.getThenRegion().front());
                  Value raw = tensor::ExtractOp::create(
                      ib, spgs, ValueRange{t.toIndex(gridIdx)});
                  if (raw.getType() != t.f32)
                    raw = arith::TruncFOp::create(ib, t.f32, raw);
                  scf::YieldOp::create(ib, raw);
                  ib.setInsertionPointToStart(&spgIf.getElseRegion().front());
                  scf::YieldOp::create(ib, gspg);
                  gspg = spgIf.getResult(0);
                }
                err.record(t, t.andi(start, t.notb(haveGrid)), kNoGridLeft,
                           row64, st[BlockCount], gridIdx);
                Value badSize =
                    t.andi(fetch, t.ori(t.le(gt, zero),
                                        t.ori(t.le(gh, zero), t.le(gw, zero))));
                err.record(
                    t, badSize, kBadGridSize, row64, st[BlockCount],
                    t.sel(t.le(gt, zero), gt, t.sel(t.le(gh, zero), gh, gw)));
                Value notMerged =
                    t.andi(t.andi(fetch, t.notb(badSize)),
                           t.ori(t.ne(t.rem(gh, mergeSize), zero),
                                 t.ne(t.rem(gw, mergeSize), zero)));
                err.record(t, notMerged, kNotMergeable, row64, st[BlockCount],
                           t.sel(t.ne(t.rem(gh, mergeSize), zero), gh, gw));
                Value ok = t.andi(fetch, t.notb(t.ori(badSize, notMerged)));
                Value H = t.div(gh, mergeSize), W = t.div(gw, mergeSize);
                Value T = perFrame ? t.sel(startVid, one, gt) : gt;
                Value tokensNew = t.mul(T, t.mul(H, W));

                // Open the block.
                st[Remaining] = t.sel(ok, tokensNew, st[Remaining]);
                st[BlockTokens] = t.sel(ok, tokensNew, st[BlockTokens]);
                st[BlockStart] = t.sel(ok, st[Next], st[BlockStart]);
                st[BlockH] = t.sel(ok, H, st[BlockH]);
                st[BlockW] = t.sel(ok, W, st[BlockW]);
                st[BlockVideo] = t.sel(ok, startVid, st[BlockVideo]);
                st[BlockSpg] = t.sel(ok, gspg, st[BlockSpg]);
                st[LocalMax] = t.sel(ok, P(t, 0), st[LocalMax]);
                for (int counter : {Tau, Eta, Omega})
                  st[counter] = t.sel(ok, zero, st[counter]);
                // The text run before the block (CircleRoPE adds its length
                // and start separately, in float32).
                Value hadRun = t.gt(st[RunLength], zero);
                st[BlockTextLen] =
                    t.sel(ok, pFromInt(t, st[RunLength]), st[BlockTextLen]);
                st[BlockRunStart] =
                    t.sel(ok, t.sel(hadRun, st[RunStart], st[Next]),
                          st[BlockRunStart]);
                st[RunLength] = t.sel(ok, zero, st[RunLength]);
                if (kind == PositionDesign::CircleRoPE) {
                  auto constants = scf::IfOp::create(
                      ib, TypeRange{t.f32, t.f32, t.f32}, ok, true);
                  OpBuilder::InsertionGuard guard(ib);
                  ib.setInsertionPointToStart(
                      &constants.getThenRegion().front());
                  SmallVector<Value> c = circleBlockConstants(t, design, H, W);
                  scf::YieldOp::create(ib, c);
                  ib.setInsertionPointToStart(
                      &constants.getElseRegion().front());
                  scf::YieldOp::create(ib, ValueRange{st[CircleMin],
                                                      st[CircleRange],
                                                      st[CircleShift]});
                  ib.setInsertionPointAfter(constants);
                  st[CircleMin] = constants.getResult(0);
                  st[CircleRange] = constants.getResult(1);
                  st[CircleShift] = constants.getResult(2);
                }
                // Grid cursors: one image grid per block; video grids are
                // consumed a frame at a time by the per-frame designs.
                Value tookImg = t.andi(startImg, haveGrid);
                Value tookVid = t.andi(startVid, haveGrid);
                st[ImgIdx] = t.sel(tookImg, t.add(st[ImgIdx], one), st[ImgIdx]);
                st[RemImg] =
                    t.sel(startImg, t.sub(st[RemImg], one), st[RemImg]);
                st[RemVid] =
                    t.sel(startVid, t.sub(st[RemVid], one), st[RemVid]);
                if (perFrame) {
                  Value frame = t.add(st[Frame], one);
                  Value lastFrame = t.andi(tookVid, t.le(gt, frame));
                  st[VidIdx] =
                      t.sel(lastFrame, t.add(st[VidIdx], one), st[VidIdx]);
                  st[Frame] =
                      t.sel(lastFrame, zero, t.sel(tookVid, frame, st[Frame]));
                } else {
                  st[VidIdx] =
                      t.sel(tookVid, t.add(st[VidIdx], one), st[VidIdx]);
                }
                st[BlockCount] =
                    t.sel(start, t.add(st[BlockCount], one), st[BlockCount]);

                // Position the token.
                Value visual = t.andi(real, t.gt(st[Remaining], zero));
                Value k = t.sub(st[BlockTokens], st[Remaining]);
                Value expectedPad = t.sel(st[BlockVideo], isVidPad, isImgPad);
                err.record(t, t.andi(visual, t.notb(expectedPad)), kPadMismatch,
                           row64, t.sub(st[BlockCount], one), k);
                // A pad token no block covers: the previous block's grid is
                // smaller than its pad tokens.
                if (!vanilla)
                  err.record(t,
                             t.andi(t.andi(real, t.notb(visual)),
                                    t.ori(isImgPad, isVidPad)),
                             kPadMismatch, row64, t.sub(st[BlockCount], one),
                             minusOne);
                // k = (tau * H + eta) * W + omega.
                Value tau = st[Tau], eta = st[Eta], omega = st[Omega];
                Value tv, hv, wv, local, tLocal;
                if (!fractional) {
                  Value dt = temporalIndex(t, design, tau, st[BlockVideo],
                                           st[BlockSpg]);
                  Value spatial = reset ? zero : st[BlockStart];
                  tv = t.add(st[BlockStart], dt);
                  hv = t.add(spatial, eta);
                  wv = t.add(spatial, omega);
                  local = t.max(dt, t.max(eta, omega));
                  tLocal = dt;
                } else {
                  auto f64 = [&](Value v) { return pFromInt(t, v); };
                  auto mulf = [&](Value x, Value y) -> Value {
                    return arith::MulFOp::create(ib, x, y);
                  };
                  Value start = st[BlockStart];
                  Value dt = mulf(f64(tau), P(t, design.getTemporalStride()));
                  switch (kind) {
                  case PositionDesign::VideoRoPE:
                  case PositionDesign::HoPE: {
                    // Diagonal: h and w straddle t.
                    tv = pAdd(t, start, dt);
                    Value hHalf = f64(t.div(t.sub(st[BlockH], one), s.c(2)));
                    Value wHalf = f64(t.div(t.sub(st[BlockW], one), s.c(2)));
                    hv = pSub(t, pAdd(t, tv, f64(eta)), hHalf);
                    wv = pSub(t, pAdd(t, tv, f64(omega)), wHalf);
                    break;
                  }
                  case PositionDesign::OmniRoPE:
                    tv = pAdd(t, start, dt);
                    hv = f64(eta);
                    wv = f64(omega);
                    break;
                  case PositionDesign::MMRoPE: {
                    ArrayRef<F64> scale = design.getPositionScale();
                    auto scaled = [&](Value v, unsigned axis) -> Value {
                      return scale.empty() ? v : mulf(v, P(t, scale[axis]));
                    };
                    tv = pAdd(t, start, scaled(dt, 0));
                    hv = pAdd(t, start, scaled(f64(eta), 1));
                    wv = pAdd(t, start, scaled(f64(omega), 2));
                    break;
                  }
                  case PositionDesign::CircleRoPE: {
                    // (offset + text_len) + st_idx, in float32.
                    SmallVector<Value> xyz = circleOffsets(
                        t, design, k, st[BlockH], st[BlockW], st[CircleMin],
                        st[CircleRange], st[CircleShift]);
                    Value textLen =
                        arith::TruncFOp::create(ib, t.f32, st[BlockTextLen]);
                    Value runStart =
                        arith::TruncFOp::create(ib, t.f32, st[BlockRunStart]);
                    auto place = [&](Value offset) -> Value {
                      Value a = arith::AddFOp::create(ib, offset, textLen);
                      Value sum = arith::AddFOp::create(ib, a, runStart);
                      return arith::ExtFOp::create(ib, t.f64, sum);
                    };
                    wv = place(xyz[0]);
                    hv = place(xyz[1]);
                    tv = place(xyz[2]);
                    break;
                  }
                  default: { // V2PE: n tokens share visual_stride positions.
                    Value n = st[BlockTokens];
                    Value step = arith::DivFOp::create(
                        ib, P(t, design.getVisualStride()), f64(n));
                    Value last = pSub(t, start, P(t, 1.0));
                    Value first = pAdd(t, last, step);
                    Value end =
                        pAdd(t, last, mulf(step, f64(t.add(n, t.c(1)))));
                    tv = hv = wv = torchArangeElement(t, first, end, step, k);
                    break;
                  }
                  }
                  local = kind == PositionDesign::CircleRoPE
                              ? pMax(t, tv, pMax(t, hv, wv)) // absolute
                              : pMax(t, pSub(t, tv, start),
                                     pMax(t, pSub(t, hv, start),
                                          pSub(t, wv, start)));
                  tLocal = pSub(t, tv, start);
                  st[LastVisual] = t.sel(visual, tv, st[LastVisual]);
                }
                tv = t.sel(visual, tv, st[Next]);
                hv = t.sel(visual, hv, st[Next]);
                wv = t.sel(visual, wv, st[Next]);
                Value currentBlock =
                    t.sel(visual, t.sub(st[BlockCount], one), st[BlockCount]);
                err.record(t,
                           t.andi(real, pGt(t, tv, P(t, 9007199254740992.0))),
                           kOverflow, row64, currentBlock,
                           fractional ? t.truncToI64(tv) : tv);
                SmallVector<Value> stored;
                for (Value v : {tv, hv, wv})
                  stored.push_back(t.sel(real, toPos(t, v), Value(fill)));
                st[Positions] = rowPositions.write(ib, st[Positions], stored,
                                                   {3, 1, 1}, {c0, c0, i});
                Value tokenMax = pMax(t, tv, pMax(t, hv, wv));
                st[RowMax] =
                    t.sel(real, pMax(t, st[RowMax], tokenMax), st[RowMax]);
                st[TMax] = t.sel(real, pMax(t, st[TMax], tv), st[TMax]);
                // VideoRoPE/HoPE resume after the t extent only.
                bool tOnly = kind == PositionDesign::VideoRoPE ||
                             kind == PositionDesign::HoPE;
                Value firstToken = t.eq(k, zero);
                Value previous = kind == PositionDesign::CircleRoPE
                                     ? t.sel(firstToken, local, st[LocalMax])
                                     : st[LocalMax];
                st[LocalMax] =
                    t.sel(visual, pMax(t, previous, tOnly ? tLocal : local),
                          st[LocalMax]);
                st[Remaining] =
                    t.sel(visual, t.sub(st[Remaining], one), st[Remaining]);
                Value nextOmega = t.add(omega, one);
                Value rowDone = t.eq(nextOmega, st[BlockW]);
                Value nextEta = t.sel(rowDone, t.add(eta, one), eta);
                Value frameDone = t.andi(rowDone, t.eq(nextEta, st[BlockH]));
                st[Omega] =
                    t.sel(visual, t.sel(rowDone, zero, nextOmega), omega);
                st[Eta] = t.sel(visual, t.sel(frameDone, zero, nextEta), eta);
                st[Tau] =
                    t.sel(visual, t.sel(frameDone, t.add(tau, one), tau), tau);
                Value ends = t.andi(visual, t.eq(st[Remaining], zero));
                Value advance;
                if (kind == PositionDesign::OmniRoPE) {
                  // shift += max((T - 1) * stride + 1, H, W)
                  Value frames =
                      t.div(st[BlockTokens], t.mul(st[BlockH], st[BlockW]));
                  Value extent = pAdd(
                      t,
                      arith::MulFOp::create(ib, pFromInt(t, t.sub(frames, one)),
                                            P(t, design.getTemporalStride())),
                      P(t, 1.0));
                  advance = pMax(t, extent,
                                 pMax(t, pFromInt(t, st[BlockH]),
                                      pFromInt(t, st[BlockW])));
                } else if (hf5) {
                  advance = t.max(st[BlockH], st[BlockW]);
                } else {
                  advance = pAdd(t, st[LocalMax], P(t, 1.0));
                }
                Value blockNext = pAdd(t, st[BlockStart], advance);
                if (kind == PositionDesign::V2PE)
                  blockNext = pAdd(t, math::CeilOp::create(ib, st[LastVisual]),
                                   P(t, 1.0));
                if (kind == PositionDesign::CircleRoPE) {
                  // max + 1 of the block, a float32 tensor op.
                  Value top = arith::TruncFOp::create(ib, t.f32, st[LocalMax]);
                  Value next = arith::AddFOp::create(
                      ib, top,
                      arith::ConstantOp::create(ib, ib.getF32FloatAttr(1)));
                  blockNext = arith::ExtFOp::create(ib, t.f64, next);
                }
                Value isText = t.andi(real, t.notb(visual));
                Value afterText =
                    t.sel(isText, pAdd(t, st[Next], P(t, 1.0)), st[Next]);
                Value runBegins = t.andi(isText, t.eq(st[RunLength], zero));
                st[RunStart] = t.sel(runBegins, st[Next], st[RunStart]);
                st[RunLength] =
                    t.sel(isText, t.add(st[RunLength], one), st[RunLength]);
                st[Next] = t.sel(ends, blockNext, afterText);
                if (reset)
                  st[RowMax] = t.sel(
                      ends,
                      t.max(st[RowMax], t.add(st[BlockStart], st[LocalMax])),
                      st[RowMax]);
                st[Unpadded] =
                    t.sel(real, t.add(st[Unpadded], one), st[Unpadded]);
                st[Code] = err.code;
                st[Seq] = err.seq;
                st[Block] = err.block;
                st[Detail] = err.detail;
                return st;
              });

          ErrorState err{res[Code], res[Seq], res[Block], res[Detail]};
          // A block cut short by the end of the row.
          err.record(r, r.gt(res[Remaining], zero), kPadMismatch, row64,
                     r.sub(res[BlockCount], one),
                     r.sub(res[BlockTokens], res[Remaining]));
          err.record(r, r.eq(res[Unpadded], zero), kEmptyRow, row64, minusOne,
                     zero);
          Value top = res[RowMax];
          if (kind == PositionDesign::VideoRoPE || kind == PositionDesign::HoPE)
            top = res[TMax]; // deltas from the t row
          else if (kind == PositionDesign::V2PE)
            top = math::CeilOp::create(rb, top);
          Value next = pAdd(r, top, P(r, 1.0));
          Value delta = pSub(r, next, pFromInt(r, hf5 ? res[Unpadded] : n64));
          rowPositions.value = res[Positions];
          OwnedSlice rowDelta(rb, rowOuts[1], {row, at0}, {size1, size1},
                              parallelRows);
          rowDelta.set(rb, toPos(r, delta));
          OwnedSlice rowNext(rb, rowOuts[2], {row}, {size1}, parallelRows);
          rowNext.set(rb, toPos(r, next));
          OwnedSlice rowStatus(rb, rowOuts[3], {row, at0},
                               {size1, rb.getIndexAttr(4)}, parallelRows);
          rowStatus.set(rb, err.values());
          return {rowPositions, rowDelta, rowNext, rowStatus};
        });
    Value rowStatus = out[3];

    // Pass 3: the status is the first row's error or, when no row has one,
    // the grids left over.
    auto statusFields = [&](Scalars &t) -> SmallVector<Value> {
      SmallVector<Value> rows = buildScanLoop(
          t.b, c0, cB, ValueRange{zero, zero, zero, zero, zero, zero},
          !parallelRows,
          [&](ImplicitLocOpBuilder &jb, Value j,
              ValueRange a) -> SmallVector<Value> {
            Scalars u(jb);
            Value first = u.andi(u.eq(a[0], zero),
                                 u.ne(u.load(rowStatus, {j, c0}), zero));
            SmallVector<Value> next;
            for (int64_t f = 0; f < 4; ++f)
              next.push_back(
                  u.sel(first, u.load(rowStatus, {j, u.idx(f)}), a[f]));
            next.push_back(u.add(a[4], u.load(blockCounts, {j, c0})));
            next.push_back(u.add(a[5], u.load(blockCounts, {j, c1})));
            return next;
          });
      ErrorState err{rows[0], rows[1], rows[2], rows[3]};
      if (!vanilla) {
        // Grids left over after every block was positioned.
        SmallVector<Value> end = cursorsAfter(t, rows[4], rows[5]);
        Value unused =
            t.add(t.sub(numImages, end[0]), t.sub(numVideos, end[1]));
        err.record(t, t.ori(t.gt(unused, zero), t.gt(end[2], zero)),
                   kUnusedGrids, minusOne, minusOne, unused);
      }
      return err.values();
    };
    Value status = buildStatus(b, statusFields);
    replace(rewriter, b, op, {out[0], out[1], out[2], status});
    return success();
  }

  /// The op's four results, cast to its result types where inference gave
  /// static shapes.
  static void replace(PatternRewriter &rewriter, ImplicitLocOpBuilder &b,
                      RopeIndexOp op, SmallVector<Value> replacements) {
    for (unsigned i = 0; i < replacements.size(); ++i)
      if (replacements[i].getType() != op.getResult(i).getType())
        replacements[i] = tensor::CastOp::create(b, op.getResult(i).getType(),
                                                 replacements[i]);
    rewriter.replaceOp(op, replacements);
  }

  /// The status tensor<4xi64> of `fields` (code, sequence, block, detail).
  Value buildStatus(ImplicitLocOpBuilder &b,
                    function_ref<SmallVector<Value>(Scalars &)> fields) const {
    auto statusType = RankedTensorType::get({4}, b.getI64Type());
    if (!parallelRows) {
      Scalars s(b);
      return tensor::FromElementsOp::create(b, statusType, fields(s));
    }
    // A linalg.generic of the four fields rather than scalar code: on the
    // GPU it runs in a kernel, next to the device buffers it reads, and
    // writes the caller's buffer directly (its tensor.empty init is what
    // empty-tensor elimination replaces by the destination).
    MLIRContext *ctx = b.getContext();
    return linalg::GenericOp::create(
               b, statusType, ValueRange{},
               ValueRange{tensor::EmptyOp::create(b, statusType.getShape(),
                                                  b.getI64Type())},
               ArrayRef<AffineMap>{AffineMap::getMultiDimIdentityMap(1, ctx)},
               ArrayRef<utils::IteratorType>{utils::IteratorType::parallel},
               [&](OpBuilder &gb, Location gloc, ValueRange) {
                 ImplicitLocOpBuilder ib(gloc, gb);
                 Scalars t(ib);
                 SmallVector<Value> values = fields(t);
                 Value f = t.toI64(linalg::IndexOp::create(ib, 0));
                 Value value = values[3];
                 for (int64_t i = 2; i >= 0; --i)
                   value = t.sel(t.eq(f, t.c(i)), values[i], value);
                 linalg::YieldOp::create(ib, value);
               })
        .getResult(0);
  }

  /// Where every token is real text -- vanilla RoPE without an attention
  /// mask, or rows without tokens (a static length of 0) -- token i of every
  /// row is at i on all three axes, rope_deltas are 0 and the next position
  /// is N: a closed form (parallel, no scan). An empty row gives what the
  /// scan gives at run time (the status names it, the next position is the
  /// scan's initial maximum + 1). The scan's IR is not even valid for a
  /// static length of 0 (its zero-sized row slices fail tensor.extract_slice's
  /// bounds check), and IREE cannot compile a scan whose result is a
  /// constant (it evaluates it at compile time, and that pipeline never
  /// reaches its fixed point; docs/Integration.md).
  void rewriteTextOnly(RopeIndexOp op, PatternRewriter &rewriter,
                       ImplicitLocOpBuilder &b, Type posElem,
                       OpFoldResult batch, OpFoldResult length) const {
    Scalars s(b);
    auto toI64 = [&](OpFoldResult size) -> Value {
      if (std::optional<int64_t> known = getConstantIntValue(size))
        return s.c(*known);
      return s.toI64(cast<Value>(size));
    };
    Value n = toI64(length), rows = toI64(batch);
    MLIRContext *ctx = b.getContext();
    Value positionsInit = tensor::EmptyOp::create(
        b, ArrayRef<OpFoldResult>{b.getIndexAttr(3), batch, length}, posElem);
    Value positions =
        linalg::GenericOp::create(
            b, TypeRange{positionsInit.getType()}, ValueRange{},
            ValueRange{positionsInit},
            ArrayRef<AffineMap>{AffineMap::getMultiDimIdentityMap(3, ctx)},
            SmallVector<utils::IteratorType>(3, utils::IteratorType::parallel),
            [&](OpBuilder &gb, Location gloc, ValueRange) {
              ImplicitLocOpBuilder ib(gloc, gb);
              Scalars t(ib);
              // (Float positions only for a static length of 0: no
              // element.)
              linalg::YieldOp::create(
                  ib, t.toElement(t.toI64(linalg::IndexOp::create(ib, 2)),
                                  posElem));
            })
            .getResult(0);
    // The scan's row maximum starts at INT64_MIN: an empty row's next
    // position is INT64_MIN + 1 (and its status says the row is empty).
    Value next, delta;
    if (isa<FloatType>(posElem)) {
      next = delta = arith::ConstantOp::create(
          b, FloatAttr::get(posElem, -std::numeric_limits<double>::infinity()));
    } else {
      // Folded as built: host code of static shapes stays constants.
      Value nonEmpty =
          b.createOrFold<arith::CmpIOp>(arith::CmpIPredicate::sgt, n, s.c(0));
      Value n64 = b.createOrFold<arith::SelectOp>(
          nonEmpty, n, s.c(std::numeric_limits<int64_t>::min() + 1));
      next = s.toElement(n64, posElem);
      delta = s.toElement(b.createOrFold<arith::SubIOp>(n64, n), posElem);
    }
    auto filled = [&](ArrayRef<OpFoldResult> shape, Value v) -> Value {
      return linalg::FillOp::create(
                 b, ValueRange{v},
                 ValueRange{tensor::EmptyOp::create(b, shape, posElem)})
          .getResult(0);
    };
    Value deltas = filled({batch, b.getIndexAttr(1)}, delta);
    Value nexts = filled({batch}, next);
    Value status = buildStatus(b, [&](Scalars &t) -> SmallVector<Value> {
      Value empty = t.andi(t.gt(rows, t.c(0)), t.eq(n, t.c(0)));
      return {t.sel(empty, t.c(kEmptyRow), t.c(kOk)), t.c(0),
              t.sel(empty, t.c(-1), t.c(0)), t.c(0)};
    });
    replace(rewriter, b, op, {positions, deltas, nexts, status});
  }

  /// CircleRoPE's centred grid coordinates (x, y) of token k of an H x W
  /// frame, in float32.
  static std::pair<Value, Value> circleGrid(Scalars &t, DesignAttr design,
                                            Value k, Value H, Value W) {
    ImplicitLocOpBuilder &b = t.b;
    Value x = arith::SIToFPOp::create(b, t.f32, t.rem(k, W));
    Value y = arith::SIToFPOp::create(b, t.f32, t.div(k, W));
    if (design.getMoveToOrigin()) {
      // centre = (max + min) / 2 = (extent - 1) / 2
      Value two = arith::ConstantOp::create(b, b.getF32FloatAttr(2.0f));
      auto centre = [&](Value extent) -> Value {
        Value last = arith::SIToFPOp::create(b, t.f32, t.sub(extent, t.c(1)));
        return arith::DivFOp::create(b, last, two);
      };
      x = arith::SubFOp::create(b, x, centre(W));
      y = arith::SubFOp::create(b, y, centre(H));
    }
    return {x, y};
  }

  /// torch.atan2(y, x) at element k of the H x W frame: SLEEF in the
  /// vectorized prefix of the H * W elements, the C library in the tail
  /// (TorchMath.h).
  static Value torchAtan2(Scalars &t, Value y, Value x, Value k, Value H,
                          Value W) {
    Value count = t.mul(H, W);
    Value prefix = t.mul(t.div(count, t.c(16)), t.c(16));
    Value inPrefix =
        arith::CmpIOp::create(t.b, arith::CmpIPredicate::slt, k, prefix);
    return buildTorchAtan2F(t.b, t.b.getLoc(), y, x, inPrefix);
  }

  /// Element k (i64) of torch.arange(first, end, step, dtype=float32) (f64
  /// operands), widened back to f64: torchmath::torchArangeElement.
  static Value torchArangeElement(Scalars &t, Value first, Value end,
                                  Value step, Value k) {
    ImplicitLocOpBuilder &b = t.b;
    auto fma = [&](Value x, Value y, Value z) -> Value {
      return math::FmaOp::create(b, x, y, z);
    };
    auto toF64 = [&](Value i) -> Value {
      return arith::SIToFPOp::create(b, t.f64, i);
    };
    auto roundF32 = [&](Value v) -> Value {
      Value narrow = arith::TruncFOp::create(b, t.f32, v);
      return arith::ExtFOp::create(b, t.f64, narrow);
    };
    Value length = t.truncToI64(math::CeilOp::create(
        b,
        arith::DivFOp::create(b, arith::SubFOp::create(b, end, first), step)));
    Value prefix = t.mul(t.div(length, t.c(16)), t.c(16));
    Value scalar = fma(step, toF64(k), first);
    Value lane = t.rem(k, t.c(8));
    Value base = roundF32(fma(step, toF64(t.sub(k, lane)), first));
    Value vector =
        t.sel(t.eq(lane, t.c(0)), base,
              t.sel(t.eq(lane, t.c(1)), arith::AddFOp::create(b, base, step),
                    fma(toF64(lane), step, base)));
    return roundF32(t.sel(t.lt(k, prefix), vector, scalar));
  }

  /// The rotated (and blended, shifted) offsets (w, h, t) of token k, given
  /// the block's atan2 minimum and range and its positive shift.
  static SmallVector<Value> circleOffsets(Scalars &t, DesignAttr design,
                                          Value k, Value H, Value W,
                                          Value thetaMin, Value range,
                                          Value shift) {
    ImplicitLocOpBuilder &b = t.b;
    auto cst = [&](float v) -> Value {
      return arith::ConstantOp::create(b, b.getF32FloatAttr(v));
    };
    auto mul = [&](Value x, Value y) -> Value {
      return arith::MulFOp::create(b, x, y);
    };
    auto add = [&](Value x, Value y) -> Value {
      return arith::AddFOp::create(b, x, y);
    };
    auto [x, y] = circleGrid(t, design, k, H, W);
    Value cx = x, cy = y;
    if (design.getCircle()) {
      const float twoPi = static_cast<float>(2.0 * M_PI);
      Value theta = torchAtan2(t, y, x, k, H, W);
      Value normalized =
          mul(arith::DivFOp::create(
                  b, arith::SubFOp::create(b, theta, thetaMin), range),
              cst(twoPi));
      Value positive =
          arith::CmpFOp::create(b, arith::CmpFPredicate::OGT, range, cst(0.0f));
      normalized = t.sel(positive, normalized, theta);
      Value n = arith::SIToFPOp::create(b, t.f32, t.mul(H, W));
      Value kf = arith::SIToFPOp::create(b, t.f32, k);
      Value byIndex = mul(arith::DivFOp::create(b, kf, n), cst(twoPi));
      auto alpha = static_cast<float>(double(design.getAlpha()));
      auto beta = static_cast<float>(1.0 - double(design.getAlpha()));
      Value angle = add(mul(cst(alpha), normalized), mul(cst(beta), byIndex));
      auto radius = static_cast<float>(double(design.getRadius()));
      auto [sine, cosine] = buildTorchSinCosF(b, b.getLoc(), angle);
      cx = mul(cst(radius), cosine);
      cy = mul(cst(radius), sine);
    }
    float u[3], v[3];
    rules::circlePlaneBasis(u, v);
    SmallVector<Value> out;
    double dff = design.getDffRate();
    for (int axis = 0; axis < 3; ++axis) {
      Value c = add(mul(cx, cst(u[axis])), mul(cy, cst(v[axis])));
      if (dff != 0.0) {
        Value grid = add(mul(x, cst(u[axis])), mul(y, cst(v[axis])));
        c = add(mul(cst(static_cast<float>(1.0 - dff)), c),
                mul(cst(static_cast<float>(dff)), grid));
      }
      if (std::optional<F64> offset = design.getMoveToPositive())
        c = add(add(c, shift), cst(static_cast<float>(double(*offset))));
      out.push_back(c);
    }
    return out;
  }

  /// Per-block constants: the atan2 minimum and range over the frame, and
  /// the move_to_positive shift |min over the transformed coordinates|.
  static SmallVector<Value> circleBlockConstants(Scalars &t, DesignAttr design,
                                                 Value H, Value W) {
    ImplicitLocOpBuilder &b = t.b;
    Value count = t.toIndex(t.mul(H, W));
    Value c0 = t.idx(0), c1 = t.idx(1);
    Value inf = arith::ConstantOp::create(
        b, b.getF32FloatAttr(std::numeric_limits<float>::infinity()));
    Value ninf = arith::ConstantOp::create(
        b, b.getF32FloatAttr(-std::numeric_limits<float>::infinity()));
    Value zero = arith::ConstantOp::create(b, b.getF32FloatAttr(0.0f));
    Value thetaMin = zero, range = zero;
    if (design.getCircle()) {
      auto loop = scf::ForOp::create(
          b, c0, count, c1, ValueRange{inf, ninf},
          [&](OpBuilder &lb, Location loc, Value i, ValueRange acc) {
            ImplicitLocOpBuilder ib(loc, lb);
            Scalars s(ib);
            auto [x, y] = circleGrid(s, design, s.toI64(i), H, W);
            Value theta = torchAtan2(s, y, x, s.toI64(i), H, W);
            Value lo = arith::MinimumFOp::create(ib, acc[0], theta);
            Value hi = arith::MaximumFOp::create(ib, acc[1], theta);
            scf::YieldOp::create(ib, ValueRange{lo, hi});
          });
      thetaMin = loop.getResult(0);
      range = arith::SubFOp::create(b, loop.getResult(1), thetaMin);
    }
    Value shift = zero;
    if (design.getMoveToPositive()) {
      // The offsets before the shift: a zero offset and shift, then the min.
      DesignAttr unshifted = DesignAttr::get(
          design.getContext(), design.getKind(), design.getCompat(),
          design.getTemporalStride(), design.getTokensPerSecond(),
          design.getPositionScale(), design.getVisualStride(),
          design.getRadius(), design.getAlpha(), design.getCircle(),
          design.getDffRate(), design.getMoveToOrigin(), std::nullopt);
      auto loop = scf::ForOp::create(
          b, c0, count, c1, ValueRange{inf},
          [&](OpBuilder &lb, Location loc, Value i, ValueRange acc) {
            ImplicitLocOpBuilder ib(loc, lb);
            Scalars s(ib);
            SmallVector<Value> xyz = circleOffsets(s, unshifted, s.toI64(i), H,
                                                   W, thetaMin, range, zero);
            Value lo = arith::MinimumFOp::create(
                ib, acc[0],
                arith::MinimumFOp::create(
                    ib, xyz[0], arith::MinimumFOp::create(ib, xyz[1], xyz[2])));
            scf::YieldOp::create(ib, ValueRange{lo});
          });
      shift = math::AbsFOp::create(b, loop.getResult(0));
    }
    return {thetaMin, range, shift};
  }

  /// The temporal offset of temporal patch `tau` (i64) of a block.
  static Value temporalIndex(Scalars &t, DesignAttr design, Value tau,
                             Value isVideo, Value spg) {
    ImplicitLocOpBuilder &b = t.b;
    if (design.getKind() != PositionDesign::AbsoluteTime) {
      double stride = design.getTemporalStride();
      if (stride == 1.0)
        return tau;
      Value f = arith::SIToFPOp::create(b, t.f64, tau);
      Value scaled = arith::MulFOp::create(
          b, f, arith::ConstantOp::create(b, b.getF64FloatAttr(stride)));
      return t.truncToI64(scaled);
    }
    double tps = design.getTokensPerSecond();
    Value zero32 = arith::ConstantOp::create(b, b.getF32FloatAttr(0.0f));
    Value s = t.sel(isVideo, spg, zero32); // images: s = 0 (legacy)
    switch (design.getCompat()) {
    case CompatMode::Reference: {
      // (tau * s) * tps in float32, then .long().
      Value f = arith::SIToFPOp::create(b, t.f32, tau);
      Value product = arith::MulFOp::create(b, f, s);
      product = arith::MulFOp::create(
          b, product,
          arith::ConstantOp::create(
              b, b.getF32FloatAttr(static_cast<float>(tps))));
      return t.truncToI64(product);
    }
    case CompatMode::HF457: {
      Value sInt = t.truncToI64(s);
      return t.mul(t.mul(tau, sInt), t.c(static_cast<int64_t>(tps)));
    }
    case CompatMode::HF5: {
      Value sInt = t.truncToI64(s);
      Value interval =
          t.sel(isVideo, t.mul(t.c(static_cast<int64_t>(tps)), sInt), t.c(1));
      return t.mul(tau, interval);
    }
    }
    return tau;
  }
};

} // namespace

void mlir::mrope::populateRopeIndexLoweringPatterns(RewritePatternSet &patterns,
                                                    bool parallelRows) {
  patterns.add<RopeIndexLowering>(patterns.getContext(), parallelRows);
}
