//===- MRopeAttrs.cpp - mrope attributes ----------------------------------===//

#include "mrope/Dialect/MRope/IR/MRopeAttrs.h"
#include "mrope/Dialect/MRope/IR/MRopeDialect.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/DialectImplementation.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/TypeSwitch.h"
#include "llvm/Support/raw_ostream.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <numeric>

#include "llvm/Support/MathExtras.h"

using namespace mlir;
using namespace mlir::mrope;

#include "mrope/Dialect/MRope/IR/MRopeEnums.cpp.inc"
#define GET_ATTRDEF_CLASSES
#include "mrope/Dialect/MRope/IR/MRopeAttrs.cpp.inc"

void MRopeDialect::registerAttributes() {
  addAttributes<
#define GET_ATTRDEF_LIST
#include "mrope/Dialect/MRope/IR/MRopeAttrs.cpp.inc"
      >();
}

//===----------------------------------------------------------------------===//
// Parameter parsers and printers
//===----------------------------------------------------------------------===//

FailureOr<F64> mrope::detail::parseF64(AsmParser &parser) {
  double sign = succeeded(parser.parseOptionalMinus()) ? -1.0 : 1.0;
  // Accept integers too: Hugging Face configs write `factor: 4`.
  uint64_t integer;
  OptionalParseResult isInteger = parser.parseOptionalInteger(integer);
  if (isInteger.has_value()) {
    if (failed(*isInteger))
      return failure();
    return F64(sign * static_cast<double>(integer));
  }
  double value;
  if (parser.parseFloat(value))
    return failure();
  return F64(sign * value);
}

FailureOr<std::optional<F64>> mrope::detail::parseOptF64(AsmParser &parser) {
  FailureOr<F64> value = parseF64(parser);
  if (failed(value))
    return failure();
  return std::optional<F64>(*value);
}

FailureOr<bool> mrope::detail::parseBool(AsmParser &parser) {
  if (succeeded(parser.parseOptionalKeyword("true")))
    return true;
  if (succeeded(parser.parseOptionalKeyword("false")))
    return false;
  return parser.emitError(parser.getCurrentLocation(),
                          "expected 'true' or 'false'");
}

FailureOr<SmallVector<F64>> mrope::detail::parseF64Array(AsmParser &parser) {
  SmallVector<F64> values;
  if (parser.parseCommaSeparatedList(AsmParser::Delimiter::Square, [&] {
        FailureOr<F64> v = parseF64(parser);
        if (failed(v))
          return failure();
        values.push_back(*v);
        return success();
      }))
    return failure();
  return values;
}

FailureOr<SmallVector<int64_t>>
mrope::detail::parseI64Array(AsmParser &parser) {
  SmallVector<int64_t> values;
  if (parser.parseCommaSeparatedList(AsmParser::Delimiter::Square, [&] {
        return parser.parseInteger(values.emplace_back());
      }))
    return failure();
  return values;
}

std::string mrope::detail::formatF64(double value) {
  // Shortest decimal that reads back as the same double, always with a '.'
  // or an exponent so that it reads as a float literal.
  char buffer[64];
  if (std::isfinite(value) && value == std::trunc(value) &&
      std::fabs(value) < 1e15) {
    std::snprintf(buffer, sizeof(buffer), "%.1f", value);
    return buffer;
  }
  for (int precision = 1; precision <= 17; ++precision) {
    std::snprintf(buffer, sizeof(buffer), "%.*g", precision, value);
    if (std::strtod(buffer, nullptr) == value)
      break;
  }
  std::string text(buffer);
  // MLIR float literals need a '.' in the mantissa ("1.5e-07", not "1e-07").
  size_t exponent = text.find_first_of("eE");
  if (text.find('.') == std::string::npos && std::isfinite(value))
    text.insert(exponent == std::string::npos ? text.size() : exponent, ".0");
  return text;
}

void mrope::detail::printF64(AsmPrinter &printer, double value) {
  printer << formatF64(value);
}

void mrope::detail::printF64Array(AsmPrinter &printer, ArrayRef<F64> values) {
  printer << '[';
  llvm::interleaveComma(values, printer.getStream(),
                        [&](F64 v) { printF64(printer, v); });
  printer << ']';
}

//===----------------------------------------------------------------------===//
// AllocationAttr
//===----------------------------------------------------------------------===//

static bool allocationTakesSection(AllocationKind kind) {
  switch (kind) {
  case AllocationKind::Contiguous:
  case AllocationKind::Interleaved:
  case AllocationKind::HeadPartitioned:
  case AllocationKind::VideoRoPE:
  case AllocationKind::HoPE:
    return true;
  default:
    return false;
  }
}

LogicalResult
AllocationAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                       AllocationKind kind, ArrayRef<int64_t> section,
                       StringRef map) {
  StringRef name = stringifyAllocationKind(kind);
  if (kind == AllocationKind::Explicit) {
    if (map.empty())
      return emitError() << "'explicit' allocation needs a non-empty map of "
                            "T/H/W/- characters, one per rotary pair";
    for (auto [i, c] : llvm::enumerate(map))
      if (!StringRef("THW-").contains(c))
        return emitError() << "allocation map character '" << c << "' at pair "
                           << i << " is not one of T, H, W or - (NoPE)";
    if (!section.empty())
      return emitError() << "'explicit' allocation takes a map, not a section";
    return success();
  }
  if (!map.empty())
    return emitError() << "only an 'explicit' allocation takes a map, not '"
                       << name << "'";
  if (allocationTakesSection(kind) && section.size() != 3)
    return emitError() << "'" << name
                       << "' allocation needs section = [t, h, w] with 3 "
                          "entries, got "
                       << section.size();
  if (!section.empty() && section.size() != 3)
    return emitError() << "section must have 3 entries [t, h, w], got "
                       << section.size();
  for (auto [axis, count] : llvm::enumerate(section))
    if (count < 0)
      return emitError() << "section entry " << axis << " is negative ("
                         << count << ")";
  return success();
}

LogicalResult AllocationAttr::verifyPairCount(
    int64_t numPairs, function_ref<InFlightDiagnostic()> emitError) const {
  AllocationKind kind = getKind();
  if (kind == AllocationKind::Explicit) {
    if (static_cast<int64_t>(getMap().size()) != numPairs)
      return emitError() << "explicit allocation map has " << getMap().size()
                         << " entries, but rotary_dim " << 2 * numPairs
                         << " has " << numPairs << " pairs";
    return success();
  }
  if (kind == AllocationKind::HeadPartitioned || !allocationTakesSection(kind))
    return success();
  ArrayRef<int64_t> section = getSection();
  int64_t sum = std::accumulate(section.begin(), section.end(), int64_t(0));
  // VideoRoPE and HoPE give every pair the H/W runs leave to T, so a section
  // may cover fewer pairs (the paper's tests use [2, 2, 2] on 8 pairs).
  bool tTakesRest =
      kind == AllocationKind::VideoRoPE || kind == AllocationKind::HoPE;
  if (tTakesRest && sum > numPairs)
    return emitError() << "'" << stringifyAllocationKind(kind) << "' sections ["
                       << section[0] << ", " << section[1] << ", " << section[2]
                       << "] sum to " << sum << " pairs, more than the "
                       << numPairs << " pairs of rotary_dim " << 2 * numPairs;
  if (!tTakesRest && sum != numPairs)
    return emitError() << "'" << stringifyAllocationKind(kind) << "' sections ["
                       << section[0] << ", " << section[1] << ", " << section[2]
                       << "] sum to " << sum << " pairs, but rotary_dim "
                       << 2 * numPairs << " has " << numPairs
                       << " pairs (sum(section) must be "
                       << "rotary_dim / 2)";
  return success();
}

LogicalResult AllocationAttr::verifyKVHeadCount(
    int64_t numKVHeads, function_ref<InFlightDiagnostic()> emitError) const {
  if (!isHeadPartitioned())
    return success();
  ArrayRef<int64_t> section = getSection();
  int64_t sum = std::accumulate(section.begin(), section.end(), int64_t(0));
  if (sum > numKVHeads)
    return emitError() << "head-partitioned sections [" << section[0] << ", "
                       << section[1] << ", " << section[2] << "] assign " << sum
                       << " KV heads, but there are only " << numKVHeads
                       << " (the NoPE head count " << numKVHeads << " - " << sum
                       << " would be negative)";
  return success();
}

SmallVector<Axis> AllocationAttr::getPairAxes(int64_t numPairs) const {
  SmallVector<Axis> axes(numPairs, Axis::T);
  ArrayRef<int64_t> s = getSection();
  for (int64_t j = 0; j < numPairs; ++j) {
    switch (getKind()) {
    case AllocationKind::Vanilla:
    case AllocationKind::HeadPartitioned:
      break;
    case AllocationKind::Contiguous:
      axes[j] = j < s[0] ? Axis::T : j < s[0] + s[1] ? Axis::H : Axis::W;
      break;
    case AllocationKind::Interleaved:
      // s[0] is not read: T takes every pair H and W leave (NOTES A.6).
      if (j % 3 == 1 && j < 3 * s[1])
        axes[j] = Axis::H;
      else if (j % 3 == 2 && j < 3 * s[2])
        axes[j] = Axis::W;
      break;
    case AllocationKind::VideoRoPE:
    case AllocationKind::HoPE: {
      Axis temporal = getKind() == AllocationKind::HoPE ? Axis::NoPE : Axis::T;
      if (j % 2 == 1 && j < 2 * s[1])
        axes[j] = Axis::H;
      else if (j % 2 == 0 && j > 0 && j < 2 * s[2])
        axes[j] = Axis::W;
      else
        axes[j] = temporal;
      break;
    }
    case AllocationKind::MMRoPE: {
      static constexpr Axis pattern[8] = {Axis::T, Axis::T, Axis::H, Axis::W,
                                          Axis::H, Axis::W, Axis::H, Axis::W};
      axes[j] = pattern[j % 8];
      break;
    }
    case AllocationKind::GrapeInterleaved:
      axes[j] = static_cast<Axis>(j % 3);
      break;
    case AllocationKind::Explicit: {
      char c = getMap()[j];
      axes[j] = c == 'T'   ? Axis::T
                : c == 'H' ? Axis::H
                : c == 'W' ? Axis::W
                           : Axis::NoPE;
      break;
    }
    }
  }
  return axes;
}

SmallVector<Axis> AllocationAttr::getHeadAxes(int64_t numKVHeads) const {
  SmallVector<Axis> axes(numKVHeads, Axis::T);
  if (!isHeadPartitioned())
    return axes;
  ArrayRef<int64_t> s = getSection();
  for (int64_t g = 0; g < numKVHeads; ++g)
    axes[g] = g < s[0]                 ? Axis::T
              : g < s[0] + s[1]        ? Axis::H
              : g < s[0] + s[1] + s[2] ? Axis::W
                                       : Axis::NoPE;
  return axes;
}

//===----------------------------------------------------------------------===//
// RotaryAttr
//===----------------------------------------------------------------------===//

LogicalResult RotaryAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                                 AllocationAttr alloc, PairLayout pairs,
                                 int64_t rotaryDim, F64 attentionScalingParam,
                                 AnglePrecision) {
  double attentionScaling = attentionScalingParam;
  if (!alloc)
    return emitError() << "rotary needs an allocation (alloc = <...>)";
  if (rotaryDim <= 0 || rotaryDim % 2 != 0)
    return emitError() << "rotary_dim " << rotaryDim
                       << " must be positive and even (channels rotate in "
                          "pairs)";
  if (!std::isfinite(attentionScaling) || attentionScaling <= 0.0)
    return emitError() << "attention_scaling "
                       << detail::formatF64(attentionScaling)
                       << " must be finite and positive";
  return alloc.verifyPairCount(rotaryDim / 2, emitError);
}

//===----------------------------------------------------------------------===//
// ScalingAttr
//===----------------------------------------------------------------------===//

LogicalResult ScalingAttr::verify(
    function_ref<InFlightDiagnostic()> emitError, ScalingKind kind,
    ScalingConvention convention, F64 factorParam,
    std::optional<int64_t> maxPositionEmbeddings,
    std::optional<int64_t> originalMaxPositionEmbeddings,
    std::optional<F64> betaFast, std::optional<F64> betaSlow,
    std::optional<F64> mscale, std::optional<F64> mscaleAllDim,
    std::optional<F64> attentionFactor, bool truncate,
    std::optional<F64> lowFreqFactor, std::optional<F64> highFreqFactor,
    ArrayRef<F64> shortFactor, ArrayRef<F64> longFactor) {
  double factor = factorParam;
  StringRef name = stringifyScalingKind(kind);
  // Which optional fields each kind reads; anything else is a mistake.
  struct Field {
    StringRef name;
    bool present;
    bool allowed;
  };
  bool yarn = kind == ScalingKind::YaRN,
       longrope = kind == ScalingKind::LongRoPE,
       llama3 = kind == ScalingKind::Llama3,
       dynamic = kind == ScalingKind::Dynamic;
  Field fields[] = {
      {"factor", factor != 1.0, kind != ScalingKind::Default},
      {"max_position_embeddings", maxPositionEmbeddings.has_value(),
       dynamic || yarn || longrope},
      {"original_max_position_embeddings",
       originalMaxPositionEmbeddings.has_value(), yarn || longrope || llama3},
      {"beta_fast", betaFast.has_value(), yarn},
      {"beta_slow", betaSlow.has_value(), yarn},
      {"mscale", mscale.has_value(), yarn},
      {"mscale_all_dim", mscaleAllDim.has_value(), yarn},
      {"attention_factor", attentionFactor.has_value(), yarn || longrope},
      {"truncate", !truncate, yarn},
      {"low_freq_factor", lowFreqFactor.has_value(), llama3},
      {"high_freq_factor", highFreqFactor.has_value(), llama3},
      {"short_factor", !shortFactor.empty(), longrope},
      {"long_factor", !longFactor.empty(), longrope},
      {"convention", convention != ScalingConvention::HF457, yarn},
  };
  for (const Field &f : fields)
    if (f.present && !f.allowed)
      return emitError() << "'" << f.name << "' is not used by '" << name
                         << "' scaling";
  if (!std::isfinite(factor) || factor <= 0.0)
    return emitError() << "scaling factor " << detail::formatF64(factor)
                       << " must be finite and positive";
  for (auto [fieldName, value] :
       {std::pair<StringRef, std::optional<int64_t>>{"max_position_embeddings",
                                                     maxPositionEmbeddings},
        {"original_max_position_embeddings", originalMaxPositionEmbeddings}})
    if (value && *value <= 0)
      return emitError() << fieldName << " " << *value << " must be positive";
  if (dynamic && !maxPositionEmbeddings)
    return emitError() << "'dynamic' scaling needs max_position_embeddings "
                          "(the original context length L0)";
  if (yarn && !maxPositionEmbeddings && !originalMaxPositionEmbeddings)
    return emitError() << "'yarn' scaling needs original_max_position_"
                          "embeddings or max_position_embeddings";
  if (yarn && convention == ScalingConvention::HF449 && !maxPositionEmbeddings)
    return emitError() << "'yarn' scaling with convention = hf449 needs "
                          "max_position_embeddings (4.49 takes the correction "
                          "range from it)";
  if (yarn && betaFast && betaSlow && double(*betaFast) <= double(*betaSlow))
    return emitError() << "yarn beta_fast "
                       << detail::formatF64(double(*betaFast))
                       << " must be greater than beta_slow "
                       << detail::formatF64(double(*betaSlow));
  if (llama3) {
    if (!lowFreqFactor || !highFreqFactor || !originalMaxPositionEmbeddings)
      return emitError() << "'llama3' scaling needs low_freq_factor, "
                            "high_freq_factor and "
                            "original_max_position_embeddings";
    if (double(*highFreqFactor) <= double(*lowFreqFactor))
      return emitError() << "llama3 high_freq_factor "
                         << detail::formatF64(double(*highFreqFactor))
                         << " must be greater than low_freq_factor "
                         << detail::formatF64(double(*lowFreqFactor));
  }
  if (longrope) {
    if (shortFactor.empty() || longFactor.empty())
      return emitError() << "'longrope' scaling needs short_factor and "
                            "long_factor";
    if (shortFactor.size() != longFactor.size())
      return emitError() << "longrope short_factor has " << shortFactor.size()
                         << " entries but long_factor has "
                         << longFactor.size();
    if (!originalMaxPositionEmbeddings && !maxPositionEmbeddings)
      return emitError() << "'longrope' scaling needs original_max_position_"
                            "embeddings or max_position_embeddings";
  }
  if (attentionFactor && (!std::isfinite(double(*attentionFactor)) ||
                          double(*attentionFactor) <= 0.0))
    return emitError() << "attention_factor "
                       << detail::formatF64(double(*attentionFactor))
                       << " must be finite and positive";
  return success();
}

LogicalResult ScalingAttr::verifyRotaryDim(
    int64_t rotaryDim, function_ref<InFlightDiagnostic()> emitError) const {
  if (getKind() == ScalingKind::LongRoPE &&
      static_cast<int64_t>(getShortFactor().size()) != rotaryDim / 2)
    return emitError() << "longrope factors have " << getShortFactor().size()
                       << " entries, but rotary_dim " << rotaryDim << " has "
                       << rotaryDim / 2 << " pairs";
  return success();
}

freq::ScalingParams ScalingAttr::toParams() const {
  ScalingAttr attr = *this;
  freq::ScalingParams params;
  auto toDouble = [](std::optional<F64> v) -> std::optional<double> {
    if (v)
      return double(*v);
    return std::nullopt;
  };
  params.kind = attr.getKind();
  params.convention = attr.getConvention();
  params.factor = attr.getFactor();
  params.maxPositionEmbeddings = attr.getMaxPositionEmbeddings();
  params.originalMaxPositionEmbeddings =
      attr.getOriginalMaxPositionEmbeddings();
  params.betaFast = toDouble(attr.getBetaFast());
  params.betaSlow = toDouble(attr.getBetaSlow());
  params.mscale = toDouble(attr.getMscale());
  params.mscaleAllDim = toDouble(attr.getMscaleAllDim());
  params.attentionFactor = toDouble(attr.getAttentionFactor());
  params.truncate = attr.getTruncate();
  params.lowFreqFactor = toDouble(attr.getLowFreqFactor());
  params.highFreqFactor = toDouble(attr.getHighFreqFactor());
  params.shortFactor.assign(attr.getShortFactor().begin(),
                            attr.getShortFactor().end());
  params.longFactor.assign(attr.getLongFactor().begin(),
                           attr.getLongFactor().end());
  return params;
}

//===----------------------------------------------------------------------===//
// DesignAttr
//===----------------------------------------------------------------------===//

LogicalResult DesignAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                                 PositionDesign kind, CompatMode compat,
                                 F64 temporalStrideParam,
                                 F64 tokensPerSecondParam,
                                 ArrayRef<F64> positionScale,
                                 F64 visualStrideParam, F64 radius, F64 alpha,
                                 bool circle, F64 dffRate, bool moveToOrigin,
                                 std::optional<F64> moveToPositive) {
  double temporalStride = temporalStrideParam;
  double tokensPerSecond = tokensPerSecondParam;
  double visualStride = visualStrideParam;
  StringRef name = stringifyPositionDesign(kind);
  bool qwen =
      kind == PositionDesign::MRoPE || kind == PositionDesign::AbsoluteTime ||
      kind == PositionDesign::Qwen3VL || kind == PositionDesign::Vanilla;
  if (compat != CompatMode::Reference && !qwen)
    return emitError() << "compat = " << stringifyCompatMode(compat)
                       << " reproduces a transformers release and applies "
                          "only to vanilla, mrope, absolute_time and qwen3vl, "
                          "not '"
                       << name << "'";
  if (!std::isfinite(temporalStride) || temporalStride < 0.0)
    return emitError() << "temporal_stride "
                       << detail::formatF64(temporalStride)
                       << " must be finite and non-negative";
  if (tokensPerSecond != 2.0 && kind != PositionDesign::AbsoluteTime)
    return emitError() << "tokens_per_second is used only by absolute_time, "
                          "not '"
                       << name << "'";
  if (!std::isfinite(tokensPerSecond) || tokensPerSecond < 0.0)
    return emitError() << "tokens_per_second "
                       << detail::formatF64(tokensPerSecond)
                       << " must be finite and non-negative";
  if (kind == PositionDesign::AbsoluteTime && compat != CompatMode::Reference &&
      tokensPerSecond != std::floor(tokensPerSecond))
    return emitError() << "tokens_per_second "
                       << detail::formatF64(tokensPerSecond)
                       << " must be an integer for compat = "
                       << stringifyCompatMode(compat)
                       << " (transformers stores it as int)";
  if (!positionScale.empty() && kind != PositionDesign::MMRoPE)
    return emitError() << "position_scale is used only by mmrope, not '" << name
                       << "'";
  if (!positionScale.empty() && positionScale.size() != 3)
    return emitError() << "position_scale needs 3 entries [s_t, s_h, s_w], got "
                       << positionScale.size();
  if (visualStride != 1.0 && kind != PositionDesign::V2PE)
    return emitError() << "visual_stride is used only by v2pe, not '" << name
                       << "'";
  bool circleDesign = kind == PositionDesign::CircleRoPE;
  bool circleFieldsSet = radius != -1.0 || alpha != -1.0 || !circle ||
                         dffRate != 0.0 || moveToOrigin || moveToPositive;
  if (circleFieldsSet && !circleDesign)
    return emitError() << "radius, alpha, circle, dff_rate, move_to_origin and "
                          "move_to_positive are used only by circlerope, not '"
                       << name << "'";
  for (auto [field, value] : {std::pair<StringRef, double>{"radius", radius},
                              {"alpha", alpha},
                              {"dff_rate", dffRate}})
    if (!std::isfinite(value))
      return emitError() << field << " must be finite";
  if (!std::isfinite(visualStride) || visualStride <= 0.0)
    return emitError() << "visual_stride " << detail::formatF64(visualStride)
                       << " must be finite and positive";
  return success();
}

bool DesignAttr::hasFloatPositions() const {
  switch (getKind()) {
  case PositionDesign::VideoRoPE:
  case PositionDesign::HoPE:
  case PositionDesign::CircleRoPE:
  case PositionDesign::V2PE:
  case PositionDesign::OmniRoPE:
  case PositionDesign::MMRoPE:
    return true;
  default:
    return false;
  }
}

//===----------------------------------------------------------------------===//
// SegmentAttr
//===----------------------------------------------------------------------===//

LogicalResult SegmentAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                                  SegmentKind kind, ArrayRef<int64_t> shape,
                                  std::optional<F64> secondPerGridParam) {
  std::optional<double> secondPerGrid;
  if (secondPerGridParam)
    secondPerGrid = double(*secondPerGridParam);
  bool visual = kind == SegmentKind::Image || kind == SegmentKind::Video;
  if (visual) {
    if (shape.size() != 3)
      return emitError() << "a visual segment needs a t x h x w grid";
    static constexpr StringLiteral kGridNames[] = {"t", "h", "w"};
    for (auto [name, v] : llvm::zip(kGridNames, shape))
      if (v <= 0)
        return emitError() << "grid size " << name << " = " << v
                           << " must be positive";
    int64_t tokens = 0;
    if (llvm::MulOverflow(shape[0], shape[1], tokens) ||
        llvm::MulOverflow(tokens, shape[2], tokens) ||
        tokens > kMaxSegmentTokens)
      return emitError() << "grid " << shape[0] << "x" << shape[1] << "x"
                         << shape[2] << " has more than " << kMaxSegmentTokens
                         << " tokens";
  } else {
    if (shape.size() != 1)
      return emitError() << "a text or pad segment takes one length";
    if (shape[0] < 0 || shape[0] > kMaxSegmentTokens)
      return emitError() << "segment length " << shape[0] << " must be in [0, "
                         << kMaxSegmentTokens << "]";
  }
  if (secondPerGrid && kind != SegmentKind::Video)
    return emitError() << "second_per_grid applies only to video segments";
  if (secondPerGrid && (!std::isfinite(*secondPerGrid) || *secondPerGrid < 0))
    return emitError() << "second_per_grid "
                       << detail::formatF64(*secondPerGrid)
                       << " must be finite and non-negative";
  return success();
}

int64_t SegmentAttr::getNumTokens() const {
  ArrayRef<int64_t> shape = getShape();
  return isVisual() ? shape[0] * shape[1] * shape[2] : shape[0];
}

SegmentAttr mrope::detail::parseSegmentBody(AsmParser &parser) {
  SMLoc loc = parser.getCurrentLocation();
  StringRef keyword;
  if (parser.parseKeyword(&keyword))
    return {};
  std::optional<SegmentKind> kind = symbolizeSegmentKind(keyword);
  if (!kind) {
    parser.emitError(loc) << "unknown segment kind '" << keyword
                          << "' (expected text, image, video or pad)";
    return {};
  }
  SmallVector<int64_t> shape;
  if (*kind == SegmentKind::Image || *kind == SegmentKind::Video) {
    if (parser.parseDimensionList(shape, /*allowDynamic=*/false,
                                  /*withTrailingX=*/false))
      return {};
  } else {
    int64_t length;
    if (parser.parseInteger(length))
      return {};
    shape.push_back(length);
  }
  std::optional<F64> spg;
  if (succeeded(parser.parseOptionalLParen())) {
    if (parser.parseKeyword("second_per_grid") || parser.parseEqual())
      return {};
    FailureOr<F64> v = parseF64(parser);
    if (failed(v) || parser.parseRParen())
      return {};
    spg = *v;
  }
  return SegmentAttr::getChecked([&] { return parser.emitError(loc); },
                                 parser.getContext(), *kind, shape, spg);
}

void mrope::detail::printSegmentBody(AsmPrinter &printer, SegmentAttr seg) {
  printer << stringifySegmentKind(seg.getKind()) << ' ';
  llvm::interleave(seg.getShape(), printer.getStream(), "x");
  if (seg.getSecondPerGrid()) {
    printer << " (second_per_grid = ";
    printF64(printer, *seg.getSecondPerGrid());
    printer << ')';
  }
}

Attribute SegmentAttr::parse(AsmParser &parser, Type) {
  if (parser.parseLess())
    return {};
  SegmentAttr seg = detail::parseSegmentBody(parser);
  if (!seg || parser.parseGreater())
    return {};
  return seg;
}

void SegmentAttr::print(AsmPrinter &printer) const {
  printer << '<';
  detail::printSegmentBody(printer, *this);
  printer << '>';
}
