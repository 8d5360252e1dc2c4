//===- PositionRules.h - position-id rules of every design ------*- C++ -*-===//
//
// The reference semantics of position construction for a batch whose
// segments are known at compile time (SPEC.md §1-2). Used by the folder of
// mrope.position_ids; depends only on the dialect's enums so that runtime
// tools can share it.
//
//===----------------------------------------------------------------------===//

#ifndef MROPE_DIALECT_MROPE_UTILS_POSITIONRULES_H
#define MROPE_DIALECT_MROPE_UTILS_POSITIONRULES_H

#include "mrope/Dialect/MRope/IR/MRopeEnums.h"

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

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
  std::array<double, 3> positionScale = {1.0, 1.0, 1.0};
  double visualStride = 1.0;
  // CircleRoPE (paper repo CircleRopeConfig).
  double radius = -1.0, alpha = -1.0, dffRate = 0.0;
  bool circle = true, moveToOrigin = false;
  std::optional<double> moveToPositive;
};

/// Positions of a batch, positions[(row * batch + b) * length + n], with
/// integer designs holding exact integers and float designs float32 values.
struct Positions {
  int64_t batch = 0, length = 0;
  std::vector<double> positions;
  std::vector<double> ropeDeltas;
  std::vector<double> nextPositions;
};

/// CircleRoPE's orthonormal basis (u, v) of the plane orthogonal to (1, 1, 1),
/// computed in float32 as the paper repo does.
void circlePlaneBasis(float u[3], float v[3]);

/// True when computePositions implements `design`.
bool hasRules(PositionDesign design);

/// Computes the positions of `rows` (all of the same token count). Returns an
/// error message on inputs the rules cannot position (e.g. a spatial-reset
/// block not followed by a token, or a position past 2^53).
std::optional<std::string>
computePositions(const DesignParams &params,
                 const std::vector<std::vector<Segment>> &rows, Positions &out);

} // namespace mlir::mrope::rules

#endif // MROPE_DIALECT_MROPE_UTILS_POSITIONRULES_H
