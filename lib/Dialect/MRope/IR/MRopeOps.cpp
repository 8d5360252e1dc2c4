//===- MRopeOps.cpp - mrope operations ------------------------------------===//

#include "mrope/Dialect/MRope/IR/MRopeOps.h"
#include "mrope/Dialect/MRope/Utils/FrequencyMath.h"
#include "mrope/Dialect/MRope/Utils/PositionRules.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/IR/TypeUtilities.h"
#include "llvm/ADT/STLExtras.h"

#include <cmath>
#include <limits>

using namespace mlir;
using namespace mlir::mrope;

//===----------------------------------------------------------------------===//
// Custom directive: rows of segments
//===----------------------------------------------------------------------===//

static ParseResult parseSegmentRows(OpAsmParser &parser, ArrayAttr &rows) {
  SmallVector<Attribute> rowAttrs;
  auto parseRow = [&]() -> ParseResult {
    SmallVector<Attribute> segments;
    if (parser.parseCommaSeparatedList(
            OpAsmParser::Delimiter::Square, [&]() -> ParseResult {
              SegmentAttr seg = mrope::detail::parseSegmentBody(parser);
              if (!seg)
                return failure();
              segments.push_back(seg);
              return success();
            }))
      return failure();
    rowAttrs.push_back(parser.getBuilder().getArrayAttr(segments));
    return success();
  };
  if (parser.parseCommaSeparatedList(OpAsmParser::Delimiter::Square, parseRow))
    return failure();
  rows = parser.getBuilder().getArrayAttr(rowAttrs);
  return success();
}

static void printSegmentRows(OpAsmPrinter &printer, Operation *,
                             ArrayAttr rows) {
  printer << '[';
  llvm::interleaveComma(rows, printer, [&](Attribute row) {
    printer << '[';
    llvm::interleaveComma(cast<ArrayAttr>(row), printer, [&](Attribute seg) {
      mrope::detail::printSegmentBody(printer, cast<SegmentAttr>(seg));
    });
    printer << ']';
  });
  printer << ']';
}

/// An enum attribute written as its bare keyword (no `#mrope.x<...>`):
/// `what` names it in the error, `expected` lists the keywords.
template <typename AttrT, typename EnumT>
static ParseResult
parseEnumKeyword(OpAsmParser &parser, AttrT &attr,
                 std::optional<EnumT> (*symbolize)(StringRef), StringRef what,
                 StringRef expected) {
  SMLoc loc = parser.getCurrentLocation();
  StringRef keyword;
  if (parser.parseKeyword(&keyword))
    return failure();
  std::optional<EnumT> value = symbolize(keyword);
  if (!value)
    return parser.emitError(loc) << "unknown " << what << " '" << keyword
                                 << "' (expected " << expected << ")";
  attr = AttrT::get(parser.getContext(), *value);
  return success();
}

static ParseResult parseLayoutKeyword(OpAsmParser &parser,
                                      TensorLayoutAttr &layout) {
  return parseEnumKeyword(parser, layout, symbolizeTensorLayout, "layout",
                          "bhsd, bshd or thd");
}

static void printLayoutKeyword(OpAsmPrinter &printer, Operation *,
                               TensorLayoutAttr layout) {
  printer << stringifyTensorLayout(layout.getValue());
}

static ParseResult parsePairsKeyword(OpAsmParser &parser,
                                     PairLayoutAttr &pairs) {
  return parseEnumKeyword(parser, pairs, symbolizePairLayout, "pair layout",
                          "neox or gptj");
}

static void printPairsKeyword(OpAsmPrinter &printer, Operation *,
                              PairLayoutAttr pairs) {
  printer << stringifyPairLayout(pairs.getValue());
}

#include "mrope/Dialect/MRope/IR/MRopeInterfaces.cpp.inc"

#define GET_OP_CLASSES
#include "mrope/Dialect/MRope/IR/MRopeOps.cpp.inc"

//===----------------------------------------------------------------------===//
// Shape helpers
//===----------------------------------------------------------------------===//

namespace {
/// Logical dimensions of a q/k/v activation, whatever its layout.
struct ActivationDims {
  int64_t batch, heads, seq, headDim;
};
} // namespace

static bool mismatch(int64_t a, int64_t b) {
  return !ShapedType::isDynamic(a) && !ShapedType::isDynamic(b) && a != b;
}

static std::string dimStr(int64_t d) {
  return ShapedType::isDynamic(d) ? "?" : std::to_string(d);
}

static FailureOr<ActivationDims> getActivationDims(Operation *op,
                                                   StringRef name, Type type,
                                                   TensorLayout layout) {
  auto tensor = dyn_cast<RankedTensorType>(type);
  int64_t rank = layout == TensorLayout::THD ? 3 : 4;
  if (!tensor || tensor.getRank() != rank)
    return op->emitOpError()
           << name << " must be a rank-" << rank << " tensor for layout "
           << stringifyTensorLayout(layout) << ", got " << type;
  ArrayRef<int64_t> s = tensor.getShape();
  switch (layout) {
  case TensorLayout::BHSD:
    return ActivationDims{s[0], s[1], s[2], s[3]};
  case TensorLayout::BSHD:
    return ActivationDims{s[0], s[2], s[1], s[3]};
  case TensorLayout::THD:
    return ActivationDims{1, s[1], s[0], s[2]};
  }
  llvm_unreachable("unknown layout");
}

/// The dims of q and k in `layout` (each diagnosed by name if malformed).
static FailureOr<std::pair<ActivationDims, ActivationDims>>
getQueryKeyDims(Operation *op, Value q, Value k, TensorLayout layout) {
  FailureOr<ActivationDims> qDims =
      getActivationDims(op, "q", q.getType(), layout);
  if (failed(qDims))
    return failure();
  FailureOr<ActivationDims> kDims =
      getActivationDims(op, "k", k.getType(), layout);
  if (failed(kDims))
    return failure();
  return std::make_pair(*qDims, *kDims);
}

/// The head count of an activation in `layout`, or kDynamic.
static int64_t getNumHeads(Type type, TensorLayout layout) {
  auto tensor = dyn_cast<RankedTensorType>(type);
  if (!tensor || tensor.getRank() != (layout == TensorLayout::THD ? 3 : 4))
    return ShapedType::kDynamic;
  return tensor.getDimSize(layout == TensorLayout::BSHD ? 2 : 1);
}

/// Checks `positions` against the batch and sequence of an activation:
/// `[3, B, S]`, or `[3, T]` for the packed layout.
static LogicalResult verifyPositions(Operation *op, StringRef name, Type type,
                                     TensorLayout layout,
                                     const ActivationDims &dims) {
  auto tensor = dyn_cast<RankedTensorType>(type);
  int64_t rank = layout == TensorLayout::THD ? 2 : 3;
  if (!tensor || tensor.getRank() != rank)
    return op->emitOpError()
           << name << " must be a rank-" << rank << " tensor ("
           << (rank == 2 ? "[3, T]" : "[3, B, S]") << ") for layout "
           << stringifyTensorLayout(layout) << ", got " << type;
  ArrayRef<int64_t> s = tensor.getShape();
  if (mismatch(s[0], 3))
    return op->emitOpError()
           << name << " must have 3 rows (t, h, w), got " << dimStr(s[0]);
  int64_t seq = s.back();
  if (rank == 3 && mismatch(s[1], dims.batch))
    return op->emitOpError()
           << name << " batch " << dimStr(s[1])
           << " does not match the activation batch " << dimStr(dims.batch);
  if (mismatch(seq, dims.seq))
    return op->emitOpError()
           << name << " has " << dimStr(seq)
           << " tokens, but the activation has " << dimStr(dims.seq);
  return success();
}

/// The checks shared by every op that rotates: GQA grouping, rotary_dim
/// against head_dim and inv_freq, and the allocation against pair and KV head
/// counts.
static LogicalResult verifyRotaryConfig(Operation *op, RotaryAttr rotary,
                                        const ActivationDims &q,
                                        const ActivationDims &k,
                                        Type invFreqType) {
  int64_t rotaryDim = rotary.getRotaryDim();
  if (mismatch(q.headDim, k.headDim))
    return op->emitOpError()
           << "q head_dim " << dimStr(q.headDim)
           << " does not match k head_dim " << dimStr(k.headDim);
  if (!ShapedType::isDynamic(q.headDim) && rotaryDim > q.headDim)
    return op->emitOpError()
           << "rotary_dim " << rotaryDim << " exceeds head_dim " << q.headDim;
  auto invFreq = cast<RankedTensorType>(invFreqType);
  if (mismatch(invFreq.getDimSize(0), rotaryDim / 2))
    return op->emitOpError() << "inv_freq has " << dimStr(invFreq.getDimSize(0))
                             << " entries, but rotary_dim " << rotaryDim
                             << " needs " << rotaryDim / 2 << " (one per pair)";
  if (!ShapedType::isDynamic(q.heads) && !ShapedType::isDynamic(k.heads)) {
    if (k.heads <= 0 || q.heads <= 0 || q.heads % k.heads != 0)
      return op->emitOpError() << "query heads (" << q.heads
                               << ") are not a positive multiple of KV heads ("
                               << k.heads << "): GQA cannot group them";
  }
  if (!ShapedType::isDynamic(k.heads) &&
      failed(rotary.getAlloc().verifyKVHeadCount(
          k.heads, [&] { return op->emitOpError(); })))
    return failure();
  return success();
}

//===----------------------------------------------------------------------===//
// PositionIdsOp
//===----------------------------------------------------------------------===//

/// Checks the three results of a position op: `[3, B, N]`, `[B, 1]`, `[B]`
/// with an element type that suits the design.
static LogicalResult verifyPositionResults(Operation *op, DesignAttr design,
                                           int64_t batch, int64_t length) {
  auto positions = dyn_cast<RankedTensorType>(op->getResult(0).getType());
  auto deltas = dyn_cast<RankedTensorType>(op->getResult(1).getType());
  auto next = dyn_cast<RankedTensorType>(op->getResult(2).getType());
  if (!positions || !deltas || !next)
    return op->emitOpError("results must be ranked tensors");
  if (positions.getRank() != 3 || mismatch(positions.getDimSize(0), 3) ||
      mismatch(positions.getDimSize(1), batch) ||
      mismatch(positions.getDimSize(2), length))
    return op->emitOpError()
           << "positions must be [3, " << dimStr(batch) << ", "
           << dimStr(length) << "], got " << positions;
  if (deltas.getRank() != 2 || mismatch(deltas.getDimSize(0), batch) ||
      mismatch(deltas.getDimSize(1), 1))
    return op->emitOpError() << "rope_deltas must be [" << dimStr(batch)
                             << ", 1], got " << deltas;
  if (next.getRank() != 1 || mismatch(next.getDimSize(0), batch))
    return op->emitOpError()
           << "next_positions must be [" << dimStr(batch) << "], got " << next;
  Type elementType = positions.getElementType();
  if (deltas.getElementType() != elementType ||
      next.getElementType() != elementType)
    return op->emitOpError(
        "positions, rope_deltas and next_positions must share an element type");
  bool isFloat = isa<FloatType>(elementType);
  if (design.hasFloatPositions() && !isFloat)
    return op->emitOpError()
           << "design '" << stringifyPositionDesign(design.getKind())
           << "' produces fractional positions: results must be f32, got "
           << elementType;
  if (!design.hasFloatPositions() && isFloat)
    return op->emitOpError()
           << "design '" << stringifyPositionDesign(design.getKind())
           << "' produces integer positions: results must be i64 or i32, got "
           << elementType;
  return success();
}

LogicalResult PositionIdsOp::verify() {
  ArrayAttr rows = getRows();
  if (rows.empty())
    return emitOpError("needs at least one row");
  DesignAttr design = getDesign();
  PositionDesign kind = design.getKind();
  int64_t length = -1;
  for (auto [b, rowAttr] : llvm::enumerate(rows)) {
    auto row = cast<ArrayAttr>(rowAttr);
    int64_t tokens = 0, unpadded = 0, visual = 0;
    for (auto [s, segAttr] : llvm::enumerate(row)) {
      auto seg = cast<SegmentAttr>(segAttr);
      tokens += seg.getNumTokens();
      if (seg.getKind() != SegmentKind::Pad)
        unpadded += seg.getNumTokens();
      if (!seg.isVisual())
        continue;
      if (seg.getSecondPerGrid() && kind != PositionDesign::AbsoluteTime)
        return emitOpError() << "row " << b << ", visual block " << visual
                             << ": second_per_grid is read only by the "
                                "absolute_time design";
      if (seg.getKind() == SegmentKind::Video && seg.getShape()[0] != 1 &&
          (kind == PositionDesign::Qwen3VL ||
           kind == PositionDesign::SpatialReset ||
           kind == PositionDesign::CircleRoPE))
        return emitOpError()
               << "row " << b << ", visual block " << visual << ": design '"
               << stringifyPositionDesign(kind)
               << "' positions each video frame as its own block; split the "
                  "t = "
               << seg.getShape()[0]
               << " video into per-frame segments separated by timestamp text";
      if (kind == PositionDesign::SpatialReset &&
          (s + 1 >= row.size() ||
           cast<SegmentAttr>(row[s + 1]).getKind() != SegmentKind::Text ||
           cast<SegmentAttr>(row[s + 1]).getNumTokens() == 0))
        return emitOpError() << "row " << b << ", visual block " << visual
                             << ": spatial_reset positions the token after "
                                "each visual block as <vision_end>, so the "
                                "block must be followed by text";
      ++visual;
    }
    if (unpadded == 0)
      return emitOpError() << "row " << b << " has no unpadded tokens";
    if (length >= 0 && tokens != length)
      return emitOpError() << "row " << b << " has " << tokens
                           << " tokens, but row 0 has " << length
                           << " (pad rows to the same length)";
    length = tokens;
  }
  // The prompt is described in the op: so are its results' shapes (a
  // dynamic size would have nothing to come from).
  for (Type type : getResultTypes())
    if (auto tensor = dyn_cast<RankedTensorType>(type);
        tensor && !tensor.hasStaticShape())
      return emitOpError() << "results must be statically shaped (the rows "
                              "give them), got "
                           << type;
  return verifyPositionResults(*this, design, rows.size(), length);
}

/// A dense constant of `type` from `values` (exact integers for integer
/// element types), or null if a value does not fit the element type.
static DenseElementsAttr getConstant(Type type, ArrayRef<double> values) {
  auto tensor = cast<RankedTensorType>(type);
  Type elementType = tensor.getElementType();
  if (isa<FloatType>(elementType)) {
    SmallVector<float> floats(values.begin(), values.end());
    return DenseElementsAttr::get(tensor, ArrayRef<float>(floats));
  }
  unsigned width = elementType.getIntOrFloatBitWidth();
  double limit = std::ldexp(1.0, width - 1);
  SmallVector<APInt> ints;
  ints.reserve(values.size());
  for (double v : values) {
    if (v >= limit || v < -limit)
      return {};
    ints.push_back(APInt(width, static_cast<int64_t>(v), /*isSigned=*/true));
  }
  return DenseElementsAttr::get(tensor, ints);
}

LogicalResult PositionIdsOp::fold(FoldAdaptor,
                                  SmallVectorImpl<OpFoldResult> &results) {
  DesignAttr design = getDesign();
  if (!rules::hasRules(design.getKind()))
    return failure();
  // Very long prompts are left to the lowering rather than materialized as
  // huge constants.
  auto positionsType = cast<RankedTensorType>(getPositions().getType());
  constexpr int64_t kMaxFoldedElements = int64_t(1) << 22;
  if (!positionsType.hasStaticShape() ||
      positionsType.getNumElements() > kMaxFoldedElements)
    return failure();
  rules::DesignParams params;
  params.kind = design.getKind();
  params.compat = design.getCompat();
  params.temporalStride = design.getTemporalStride();
  params.tokensPerSecond = design.getTokensPerSecond();
  params.visualStride = design.getVisualStride();
  params.radius = design.getRadius();
  params.alpha = design.getAlpha();
  params.circle = design.getCircle();
  params.dffRate = design.getDffRate();
  params.moveToOrigin = design.getMoveToOrigin();
  if (design.getMoveToPositive())
    params.moveToPositive = double(*design.getMoveToPositive());
  for (auto [i, scale] : llvm::enumerate(design.getPositionScale()))
    params.positionScale[i] = scale;
  std::vector<std::vector<rules::Segment>> rows;
  for (Attribute rowAttr : getRows()) {
    std::vector<rules::Segment> &row = rows.emplace_back();
    for (Attribute segAttr : cast<ArrayAttr>(rowAttr)) {
      auto seg = cast<SegmentAttr>(segAttr);
      rules::Segment &s = row.emplace_back();
      s.kind = seg.getKind();
      if (seg.isVisual()) {
        s.t = seg.getShape()[0];
        s.h = seg.getShape()[1];
        s.w = seg.getShape()[2];
      } else {
        s.length = seg.getShape()[0];
      }
      if (seg.getSecondPerGrid())
        s.secondPerGrid = double(*seg.getSecondPerGrid());
    }
  }
  rules::Positions out;
  if (rules::computePositions(params, rows, out))
    return failure();
  DenseElementsAttr positions =
      getConstant(getPositions().getType(), out.positions);
  DenseElementsAttr deltas =
      getConstant(getRopeDeltas().getType(), out.ropeDeltas);
  DenseElementsAttr next =
      getConstant(getNextPositions().getType(), out.nextPositions);
  if (!positions || !deltas || !next)
    return failure();
  results.push_back(positions);
  results.push_back(deltas);
  results.push_back(next);
  return success();
}

//===----------------------------------------------------------------------===//
// RopeIndexOp
//===----------------------------------------------------------------------===//

LogicalResult RopeIndexOp::verify() {
  auto ids = cast<RankedTensorType>(getInputIds().getType());
  if (ids.getRank() != 2)
    return emitOpError() << "input_ids must be [B, N], got " << ids;
  if (Value mask = getAttentionMask()) {
    auto maskType = cast<RankedTensorType>(mask.getType());
    if (maskType.getRank() != 2 ||
        mismatch(maskType.getDimSize(0), ids.getDimSize(0)) ||
        mismatch(maskType.getDimSize(1), ids.getDimSize(1)))
      return emitOpError() << "attention_mask must have the shape of "
                              "input_ids "
                           << ids << ", got " << maskType;
  }
  for (auto [name, grid] :
       {std::pair<StringRef, Value>{"image_grid_thw", getImageGridThw()},
        {"video_grid_thw", getVideoGridThw()}}) {
    if (!grid)
      continue;
    auto gridType = cast<RankedTensorType>(grid.getType());
    if (gridType.getRank() != 2 || mismatch(gridType.getDimSize(1), 3))
      return emitOpError() << name << " must be [num_grids, 3] (t, h, w), got "
                           << gridType;
  }
  if (Value spg = getSecondPerGridTs()) {
    if (!getVideoGridThw())
      return emitOpError("second_per_grid_ts needs video_grid_thw");
    auto spgType = cast<RankedTensorType>(spg.getType());
    auto videoType = cast<RankedTensorType>(getVideoGridThw().getType());
    if (spgType.getRank() != 1 ||
        mismatch(spgType.getDimSize(0), videoType.getDimSize(0)))
      return emitOpError() << "second_per_grid_ts must have one entry per "
                              "video grid, got "
                           << spgType;
    if (getDesign().getKind() != PositionDesign::AbsoluteTime)
      return emitOpError("second_per_grid_ts is read only by the "
                         "absolute_time design");
  }
  if (getSpatialMergeSize() <= 0)
    return emitOpError() << "spatial_merge_size " << getSpatialMergeSize()
                         << " must be positive";
  if (mismatch(cast<RankedTensorType>(getStatus().getType()).getDimSize(0), 4))
    return emitOpError() << "status must be tensor<4xi64> ([code, sequence, "
                            "block, detail]), got "
                         << getStatus().getType();
  return verifyPositionResults(*this, getDesign(), ids.getDimSize(0),
                               ids.getDimSize(1));
}

VisionTokensAttr RopeIndexOp::getVisionTokensOrDefault() {
  if (std::optional<VisionTokensAttr> tokens = getVisionTokens())
    return *tokens;
  return VisionTokensAttr::get(getContext(), 151652, 151653, 151655, 151656);
}

//===----------------------------------------------------------------------===//
// DecodePositionsOp
//===----------------------------------------------------------------------===//

LogicalResult DecodePositionsOp::verify() {
  auto next = cast<RankedTensorType>(getNextPositions().getType());
  auto result = cast<RankedTensorType>(getPositions().getType());
  if (next.getRank() != 1)
    return emitOpError() << "next_positions must be [B], got " << next;
  if (result.getRank() != 3 || mismatch(result.getDimSize(0), 3) ||
      mismatch(result.getDimSize(1), next.getDimSize(0)))
    return emitOpError() << "result must be [3, " << dimStr(next.getDimSize(0))
                         << ", K], got " << result;
  if (result.isDynamicDim(2))
    return emitOpError() << "result must have a static number of new tokens "
                            "K (nothing else gives it), got "
                         << result;
  if (result.getElementType() != next.getElementType())
    return emitOpError("result and next_positions must share an element type");
  return success();
}

OpFoldResult DecodePositionsOp::fold(FoldAdaptor adaptor) {
  auto next = dyn_cast_or_null<DenseElementsAttr>(adaptor.getNextPositions());
  auto resultType = cast<RankedTensorType>(getPositions().getType());
  if (!next || !resultType.hasStaticShape())
    return {};
  int64_t batch = resultType.getDimSize(1), count = resultType.getDimSize(2);
  if (isa<FloatType>(resultType.getElementType())) {
    SmallVector<float> starts(next.getValues<float>());
    SmallVector<float> values;
    for (int64_t r = 0; r < 3; ++r)
      for (int64_t b = 0; b < batch; ++b)
        for (int64_t k = 0; k < count; ++k)
          values.push_back(starts[b] + static_cast<float>(k));
    return DenseElementsAttr::get(resultType, ArrayRef<float>(values));
  }
  SmallVector<double> values;
  for (int64_t r = 0; r < 3; ++r)
    for (int64_t b = 0; b < batch; ++b)
      for (int64_t k = 0; k < count; ++k)
        values.push_back(
            static_cast<double>(next.getValues<APInt>()[b].getSExtValue() + k));
  return getConstant(resultType, values);
}

//===----------------------------------------------------------------------===//
// SequenceLengthOp
//===----------------------------------------------------------------------===//

OpFoldResult SequenceLengthOp::fold(FoldAdaptor adaptor) {
  // No positions (a zero dimension): the empty maximum is the element
  // type's minimum, + 1 -- what the lowering's reduction gives.
  auto type = cast<RankedTensorType>(getPositions().getType());
  if (llvm::is_contained(type.getShape(), 0))
    return IntegerAttr::get(
        getLength().getType(),
        APInt::getSignedMinValue(type.getElementTypeBitWidth()).getSExtValue() +
            1);
  auto positions = dyn_cast_or_null<DenseElementsAttr>(adaptor.getPositions());
  if (!positions || positions.getNumElements() == 0)
    return {};
  int64_t largest = std::numeric_limits<int64_t>::min();
  for (const APInt &v : positions.getValues<APInt>())
    largest = std::max(largest, v.getSExtValue());
  return IntegerAttr::get(getLength().getType(), largest + 1);
}

//===----------------------------------------------------------------------===//
// InvFreqOp
//===----------------------------------------------------------------------===//

int64_t InvFreqOp::getRotaryDim() {
  return 2 * cast<RankedTensorType>(getInvFreq().getType()).getDimSize(0);
}

LogicalResult InvFreqOp::verify() {
  auto type = cast<RankedTensorType>(getInvFreq().getType());
  if (type.isDynamicDim(0) || type.getDimSize(0) <= 0)
    return emitOpError() << "result must have a static, positive number of "
                            "pairs (rotary_dim / 2), got "
                         << type;
  double theta = getTheta().convertToDouble();
  if (!std::isfinite(theta) || theta <= 1.0)
    return emitOpError() << "theta " << mrope::detail::formatF64(theta)
                         << " must be finite and greater than 1";
  std::optional<ScalingAttr> scaling = getScaling();
  if (scaling && failed(scaling->verifyRotaryDim(
                     getRotaryDim(), [&] { return emitOpError(); })))
    return failure();
  if (getSeqLen() && !(scaling && scaling->dependsOnSequenceLength()))
    return emitOpError("seq_len is read only by 'dynamic' and 'longrope' "
                       "scaling");
  if (getAtInit() &&
      (!getSeqLen() || scaling->getKind() != ScalingKind::Dynamic))
    return emitOpError("at_init selects how dynamic NTK rescales its base "
                       "for a seq_len; it needs 'dynamic' scaling and a "
                       "seq_len");
  return success();
}

OpFoldResult InvFreqOp::fold(FoldAdaptor adaptor) {
  // Fold with no runtime length, or with a constant one.
  std::optional<int64_t> seqLen;
  if (getSeqLen()) {
    auto length = dyn_cast_or_null<IntegerAttr>(adaptor.getSeqLen());
    if (!length)
      return {};
    seqLen = length.getValue().getSExtValue();
  }
  freq::ScalingParams params =
      getScaling() ? getScaling()->toParams() : freq::ScalingParams();
  const double theta = getTheta().convertToDouble();
  std::vector<float> invFreq =
      seqLen && params.kind == ScalingKind::Dynamic && !getAtInit()
          ? freq::dynamicInvFreqUpdate(getRotaryDim(), theta, params, *seqLen)
          : freq::scaledInvFreq(getRotaryDim(), theta, params, seqLen);
  return DenseElementsAttr::get(cast<ShapedType>(getInvFreq().getType()),
                                ArrayRef<float>(invFreq));
}

//===----------------------------------------------------------------------===//
// AttentionScalingOp
//===----------------------------------------------------------------------===//

OpFoldResult AttentionScalingOp::fold(FoldAdaptor) {
  double value = freq::attentionScaling(getScaling().toParams());
  return FloatAttr::get(getResult().getType(), value);
}

//===----------------------------------------------------------------------===//
// CosSinOp
//===----------------------------------------------------------------------===//

LogicalResult CosSinOp::verify() {
  RotaryAttr rotary = getRotary();
  auto positions = cast<RankedTensorType>(getPositions().getType());
  auto cosType = cast<RankedTensorType>(getCos().getType());
  if (getSin().getType() != cosType)
    return emitOpError("cos and sin must have the same type");
  bool perHead = rotary.getAlloc().isHeadPartitioned();
  int64_t rank = perHead ? 4 : 3;
  if (cosType.getRank() != rank)
    return emitOpError() << "tables must be "
                         << (perHead ? "[B, KV, N, D] for a head-partitioned "
                                       "allocation"
                                     : "[B, N, D]")
                         << ", got " << cosType;
  ArrayRef<int64_t> s = cosType.getShape();
  ActivationDims dims{s[0], perHead ? s[1] : 1, s[rank - 2], s[rank - 1]};
  if (failed(verifyPositions(*this, "positions", positions, TensorLayout::BHSD,
                             dims)))
    return failure();
  if (mismatch(dims.headDim, rotary.getRotaryDim()))
    return emitOpError() << "tables have " << dimStr(dims.headDim)
                         << " channels, but rotary_dim is "
                         << rotary.getRotaryDim();
  return verifyRotaryConfig(*this, rotary, dims, dims, getInvFreq().getType());
}

RotaryAttr CosSinOp::getRotaryConfig() { return getRotary(); }

int64_t CosSinOp::getNumKVHeads() {
  auto type = cast<RankedTensorType>(getCos().getType());
  return type.getRank() == 4 ? type.getDimSize(1) : ShapedType::kDynamic;
}

//===----------------------------------------------------------------------===//
// ApplyOp
//===----------------------------------------------------------------------===//

RotaryAttr ApplyOp::getRotaryConfig() { return getRotary(); }

int64_t ApplyOp::getNumKVHeads() {
  return getNumHeads(getK().getType(), getLayout());
}

LogicalResult ApplyOp::verify() {
  TensorLayout layout = getLayout();
  auto qk = getQueryKeyDims(*this, getQ(), getK(), layout);
  if (failed(qk))
    return failure();
  const ActivationDims *q = &qk->first, *k = &qk->second;
  if (mismatch(q->batch, k->batch) || mismatch(q->seq, k->seq))
    return emitOpError() << "q and k must have the same batch and sequence "
                            "length, got "
                         << getQ().getType() << " and " << getK().getType();
  if (getElementTypeOrSelf(getQ().getType()) !=
      getElementTypeOrSelf(getK().getType()))
    return emitOpError("q and k must have the same element type");
  if (failed(verifyPositions(*this, "positions", getPositions().getType(),
                             layout, *q)))
    return failure();
  return verifyRotaryConfig(*this, getRotary(), *q, *k, getInvFreq().getType());
}

//===----------------------------------------------------------------------===//
// RotateOp
//===----------------------------------------------------------------------===//

int64_t RotateOp::getRotaryDim() {
  return cast<RankedTensorType>(getCos().getType()).getShape().back();
}

LogicalResult RotateOp::verify() {
  TensorLayout layout = getLayout();
  FailureOr<ActivationDims> x =
      getActivationDims(*this, "x", getX().getType(), layout);
  if (failed(x))
    return failure();
  auto table = cast<RankedTensorType>(getCos().getType());
  if (table.getElementType() != getElementTypeOrSelf(getX().getType()))
    return emitOpError() << "cos/sin element type " << table.getElementType()
                         << " must match the activation's "
                         << getElementTypeOrSelf(getX().getType());
  // Expected table dims, outermost first; the optional axis row comes first.
  SmallVector<int64_t> expected;
  std::string expectedText;
  if (std::optional<AllocationAttr> alloc = getAlloc()) {
    expected.push_back(3);
    expectedText = "[3, ";
  } else {
    expectedText = "[";
  }
  if (layout == TensorLayout::THD) {
    expected.append({x->seq, ShapedType::kDynamic});
    expectedText += "T, R]";
  } else {
    expected.append({x->batch, x->seq, ShapedType::kDynamic});
    expectedText += "B, S, R]";
  }
  if (table.getRank() != static_cast<int64_t>(expected.size()))
    return emitOpError() << "cos/sin must be " << expectedText
                         << " tables for layout "
                         << stringifyTensorLayout(layout)
                         << (getAlloc() ? " with an allocation" : "")
                         << ", got " << table;
  for (auto [i, want] : llvm::enumerate(expected))
    if (mismatch(table.getDimSize(i), want))
      return emitOpError() << "cos/sin dim " << i << " is "
                           << dimStr(table.getDimSize(i)) << ", expected "
                           << dimStr(want) << " (" << expectedText << ")";
  int64_t rotaryDim = getRotaryDim();
  if (ShapedType::isDynamic(rotaryDim) || rotaryDim <= 0 || rotaryDim % 2)
    return emitOpError() << "the tables' channel count R must be static, "
                            "positive and even, got "
                         << dimStr(rotaryDim);
  if (!ShapedType::isDynamic(x->headDim) && rotaryDim > x->headDim)
    return emitOpError() << "the tables have " << rotaryDim
                         << " channels, more than head_dim " << x->headDim;
  if (std::optional<AllocationAttr> alloc = getAlloc()) {
    if (alloc->isHeadPartitioned())
      return emitOpError("head_partitioned allocations assign heads, not "
                         "table rows; use per-head tables or mrope.apply");
    auto emitError = [&] { return emitOpError(); };
    if (failed(alloc->verifyPairCount(rotaryDim / 2, emitError)))
      return failure();
    if (llvm::is_contained(alloc->getPairAxes(rotaryDim / 2), Axis::NoPE))
      return emitOpError("the allocation has NoPE pairs, which read no table "
                         "row; give them cos = 1, sin = 0 in a table instead");
  }
  return success();
}

//===----------------------------------------------------------------------===//
// AttentionOp
//===----------------------------------------------------------------------===//

RotaryAttr AttentionOp::getRotaryConfig() {
  return getRotary().value_or(RotaryAttr());
}

int64_t AttentionOp::getNumKVHeads() {
  return getNumHeads(getK().getType(), getLayout());
}

int64_t AttentionOp::getNumSequences() {
  if (Value cu = getCuSeqlens()) {
    int64_t length = cast<RankedTensorType>(cu.getType()).getDimSize(0);
    return ShapedType::isDynamic(length) ? length : length - 1;
  }
  // bhsd and bshd: batch first.
  return cast<RankedTensorType>(getQ().getType()).getDimSize(0);
}

int64_t AttentionOp::getKeyRows() {
  if (Value table = getBlockTable()) {
    auto type = cast<RankedTensorType>(table.getType());
    if (!type.hasStaticShape() || !getPageSize())
      return ShapedType::kDynamic;
    return type.getDimSize(0) * type.getDimSize(1) * *getPageSize();
  }
  int64_t seqDim = getLayout() == TensorLayout::THD    ? 0
                   : getLayout() == TensorLayout::BSHD ? 1
                                                       : 2;
  return cast<RankedTensorType>(getK().getType()).getDimSize(seqDim);
}

double AttentionOp::getEffectiveScale() {
  if (std::optional<APFloat> scale = getScale())
    return scale->convertToDouble();
  int64_t headDim = cast<RankedTensorType>(getQ().getType()).getShape().back();
  return 1.0 / std::sqrt(static_cast<double>(headDim));
}

/// A paged KV cache: block_table [B, M] with page_size P over a pool of
/// `poolRows` = pages * P rows, the sequences' lengths from kv_cu_seqlens,
/// keys rotated when written.
LogicalResult AttentionOp::verifyPagedCache(RankedTensorType cuType,
                                            int64_t poolRows) {
  Value table = getBlockTable();
  if (!table)
    return success();
  if (!getKvCuSeqlens())
    return emitOpError("block_table needs kv_cu_seqlens (each sequence's "
                       "number of cached keys as the difference of two "
                       "entries)");
  std::optional<uint64_t> pageSize = getPageSize();
  if (!pageSize)
    return emitOpError("block_table needs page_size (keys per page)");
  if (static_cast<int64_t>(*pageSize) < 1)
    return emitOpError() << "page_size must be at least 1, got "
                         << static_cast<int64_t>(*pageSize);
  auto tableType = cast<RankedTensorType>(table.getType());
  if (tableType.getRank() != 2 ||
      mismatch(tableType.getDimSize(0),
               cuType.getDimSize(0) == ShapedType::kDynamic
                   ? ShapedType::kDynamic
                   : cuType.getDimSize(0) - 1))
    return emitOpError() << "block_table must be [B, pages per sequence] "
                            "with B = "
                         << (ShapedType::isDynamic(cuType.getDimSize(0))
                                 ? std::string("?")
                                 : std::to_string(cuType.getDimSize(0) - 1))
                         << " sequences, got " << tableType;
  if (!ShapedType::isDynamic(poolRows) &&
      poolRows % static_cast<int64_t>(*pageSize) != 0)
    return emitOpError() << "k and v must hold whole pages: " << poolRows
                         << " rows is not a multiple of page_size "
                         << *pageSize;
  if (getKPositions())
    return emitOpError("k_positions cannot rotate a paged cache: its keys "
                       "are rotated when written (mrope.apply before the "
                       "cache write)");
  return success();
}

LogicalResult AttentionOp::verify() {
  TensorLayout layout = getLayout();
  auto qk = getQueryKeyDims(*this, getQ(), getK(), layout);
  if (failed(qk))
    return failure();
  const ActivationDims *q = &qk->first, *k = &qk->second;
  FailureOr<ActivationDims> v =
      getActivationDims(*this, "v", getV().getType(), layout);
  if (failed(v))
    return failure();
  Type elementType = getElementTypeOrSelf(getQ().getType());
  if (getElementTypeOrSelf(getK().getType()) != elementType ||
      getElementTypeOrSelf(getV().getType()) != elementType ||
      getElementTypeOrSelf(getResult().getType()) != elementType)
    return emitOpError("q, k, v and the result must share an element type");
  if (mismatch(q->batch, k->batch) || mismatch(k->batch, v->batch))
    return emitOpError("q, k and v must have the same batch size");
  if (mismatch(k->heads, v->heads) || mismatch(k->seq, v->seq))
    return emitOpError() << "k and v must have the same heads and sequence "
                            "length, got "
                         << getK().getType() << " and " << getV().getType();
  if (mismatch(q->headDim, k->headDim))
    return emitOpError() << "q head_dim " << dimStr(q->headDim)
                         << " does not match k head_dim " << dimStr(k->headDim);
  if (!ShapedType::isDynamic(q->heads) && !ShapedType::isDynamic(k->heads) &&
      (k->heads <= 0 || q->heads <= 0 || q->heads % k->heads != 0))
    return emitOpError() << "query heads (" << q->heads
                         << ") are not a positive multiple of KV heads ("
                         << k->heads << "): GQA cannot group them";
  if (layout == TensorLayout::THD && !getKvCuSeqlens() && !getBlockTable() &&
      mismatch(q->seq, k->seq))
    return emitOpError("packed (thd) attention without kv_cu_seqlens needs q "
                       "and k over the same tokens");

  // Result: q's shape with v's head dim.
  auto resultType = cast<RankedTensorType>(getResult().getType());
  SmallVector<int64_t> expected(
      cast<RankedTensorType>(getQ().getType()).getShape());
  expected.back() = v->headDim;
  if (resultType.getRank() != static_cast<int64_t>(expected.size()) ||
      llvm::any_of(llvm::zip(resultType.getShape(), expected), [](auto p) {
        return mismatch(std::get<0>(p), std::get<1>(p));
      }))
    return emitOpError() << "result must have q's shape with v's head_dim, got "
                         << resultType;

  // Packed sequences.
  if (layout == TensorLayout::THD) {
    if (!getCuSeqlens())
      return emitOpError("packed (thd) attention needs cu_seqlens");
    auto cuType = cast<RankedTensorType>(getCuSeqlens().getType());
    if (cuType.getRank() != 1 || cuType.getDimSize(0) == 0)
      return emitOpError("cu_seqlens must be a 1-D tensor [B + 1]");
    if (Value kvCu = getKvCuSeqlens()) {
      auto kvCuType = cast<RankedTensorType>(kvCu.getType());
      if (kvCuType.getRank() != 1 ||
          mismatch(kvCuType.getDimSize(0), cuType.getDimSize(0)))
        return emitOpError() << "kv_cu_seqlens must be a 1-D tensor [B + 1] "
                                "like cu_seqlens "
                             << cuType << ", got " << kvCuType;
    }
    if (failed(verifyPagedCache(cuType, k->seq)))
      return failure();
  } else if (getCuSeqlens() || getKvCuSeqlens() || getBlockTable()) {
    return emitOpError(getCuSeqlens()    ? "cu_seqlens"
                       : getBlockTable() ? "block_table"
                                         : "kv_cu_seqlens")
           << " applies only to the packed (thd) layout";
  }
  if (getPageSize() && !getBlockTable())
    return emitOpError("page_size needs a block_table");

  // Mask.
  if (Value mask = getMask()) {
    if (layout == TensorLayout::THD)
      return emitOpError("an explicit mask is not supported with thd; use "
                         "cu_seqlens and causal");
    auto maskType = cast<RankedTensorType>(mask.getType());
    ArrayRef<int64_t> m = maskType.getShape();
    if (maskType.getRank() != 4 || (mismatch(m[0], q->batch) && m[0] != 1) ||
        (mismatch(m[1], q->heads) && m[1] != 1) || mismatch(m[2], q->seq) ||
        mismatch(m[3], k->seq))
      return emitOpError() << "mask must be [B or 1, Hq or 1, Sq, Skv] = ["
                           << dimStr(q->batch) << ", " << dimStr(q->heads)
                           << ", " << dimStr(q->seq) << ", " << dimStr(k->seq)
                           << "], got " << maskType;
  }

  if (std::optional<APFloat> scale = getScale()) {
    double s = scale->convertToDouble();
    if (!std::isfinite(s) || s <= 0.0)
      return emitOpError() << "scale " << mrope::detail::formatF64(s)
                           << " must be finite and positive";
  }

  // Rotary prologue: all of rotary, freqs and at least one positions operand.
  bool hasPositions = getQPositions() || getKPositions();
  if (!getRotary()) {
    if (hasPositions || getInvFreq())
      return emitOpError("q_positions, k_positions and freqs need a rotary "
                         "configuration (rotary <...>)");
    return success();
  }
  if (!getInvFreq() || !hasPositions)
    return emitOpError("a rotary prologue needs freqs and q_positions and/or "
                       "k_positions");
  if (Value qPos = getQPositions())
    if (failed(
            verifyPositions(*this, "q_positions", qPos.getType(), layout, *q)))
      return failure();
  if (Value kPos = getKPositions())
    if (failed(
            verifyPositions(*this, "k_positions", kPos.getType(), layout, *k)))
      return failure();
  return verifyRotaryConfig(*this, *getRotary(), *q, *k,
                            getInvFreq().getType());
}

//===----------------------------------------------------------------------===//
// Result shapes (the shapes of the rotated operands)
//===----------------------------------------------------------------------===//

LogicalResult
ApplyOp::reifyResultShapes(OpBuilder &builder,
                           ReifiedRankedShapedTypeDims &reifiedReturnShapes) {
  reifiedReturnShapes.push_back(
      tensor::getMixedSizes(builder, getLoc(), getQ()));
  reifiedReturnShapes.push_back(
      tensor::getMixedSizes(builder, getLoc(), getK()));
  return success();
}

LogicalResult
RotateOp::reifyResultShapes(OpBuilder &builder,
                            ReifiedRankedShapedTypeDims &reifiedReturnShapes) {
  reifiedReturnShapes.push_back(
      tensor::getMixedSizes(builder, getLoc(), getX()));
  return success();
}
