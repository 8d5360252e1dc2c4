//===- PositionRules.h - position-id rules of every design ------*- C++ -*-===//
//
// The reference semantics of position construction for a sequence whose
// segments are known at compile time. Used by the folders of the static ops;
// kept free of MLIR IR headers so runtime tools can share it.
//
//===----------------------------------------------------------------------===//

#ifndef MROPE_DIALECT_MROPE_UTILS_POSITIONRULES_H
#define MROPE_DIALECT_MROPE_UTILS_POSITIONRULES_H

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "llvm/ADT/StringRef.h"
#include "mrope/Dialect/MRope/IR/MRopeEnums.h"

namespace mlir::mrope::rules {


struct Segment {
  SegmentKind kind = SegmentKind::Text;
  /// Token count for text and pad segments.
  int64_t length = 0;
  /// Merged (LLM) grid for visual segments.
  int64_t t = 1, h = 1, w = 1;
  std::optional<double> secondPerGrid;

  int64_t numTokens() const {
    return kind == SegmentKind::Text || kind == SegmentKind::Pad ? length
                                                                 : t * h * w;
  }
};

struct DesignParams {
  PositionDesign kind = PositionDesign::MRoPE;
  CompatMode compat = CompatMode::Reference;
  double temporalStride = 1.0;
  double tokensPerSecond = 2.0;
};

/// Integer positions of a batch: positions[(row * B + b) * N + n].
struct IntPositions {
  int64_t batch = 0, length = 0;
  std::vector<int64_t> positions;
  std::vector<int64_t> ropeDeltas;
  std::vector<int64_t> nextPositions;
};

/// True when `design` is computed by computeIntPositions.
bool hasIntegerRules(PositionDesign design);

/// Computes the positions of `rows` (all of the same token count). Returns an
/// error message on inputs the rules cannot position (e.g. a spatial-reset
/// block not followed by a token, or an overflowing position).
std::optional<std::string>
computeIntPositions(const DesignParams &params,
                    const std::vector<std::vector<Segment>> &rows,
                    IntPositions &out);

} // namespace mlir::mrope::rules

#endif // MROPE_DIALECT_MROPE_UTILS_POSITIONRULES_H
