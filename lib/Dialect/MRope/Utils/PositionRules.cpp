//===- PositionRules.cpp - position-id rules of every design --------------===//
//
// Semantics: spec SPEC.md §1-2 (HF legacy = reference, HF 5.x = compat hf5).
//
//===----------------------------------------------------------------------===//

#include "mrope/Dialect/MRope/Utils/PositionRules.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace mlir::mrope::rules {

bool hasIntegerRules(PositionDesign design) {
  switch (design) {
  case PositionDesign::Vanilla:
  case PositionDesign::MRoPE:
  case PositionDesign::AbsoluteTime:
  case PositionDesign::Qwen3VL:
  case PositionDesign::SpatialReset:
    return true;
  default:
    return false;
  }
}

namespace {

/// Temporal offset of temporal patch `tau` inside a visual block.
int64_t temporalIndex(const DesignParams &params, const Segment &seg,
                      int64_t tau) {
  if (params.kind != PositionDesign::AbsoluteTime) {
    // Paper designs multiply by a float stride and store into int64, which
    // truncates; Qwen2-VL/Qwen3-VL use stride 1.
    return static_cast<int64_t>(static_cast<double>(tau) *
                                params.temporalStride);
  }
  bool isVideo = seg.kind == SegmentKind::Video;
  double spg = isVideo ? seg.secondPerGrid.value_or(1.0) : 0.0;
  auto tps = static_cast<int64_t>(params.tokensPerSecond);
  switch (params.compat) {
  case CompatMode::Reference: {
    // transformers 4.49 / vLLM: (tau * s) * tps in float32, then .long().
    float product = static_cast<float>(tau) * static_cast<float>(spg);
    product *= static_cast<float>(params.tokensPerSecond);
    return static_cast<int64_t>(product);
  }
  case CompatMode::HF457:
    // 4.52-4.57 cast second_per_grid to int64 before multiplying.
    return tau * static_cast<int64_t>(spg) * tps;
  case CompatMode::HF5:
    // 5.x: time_interval = tps * int(s) for videos, 1 for images.
    return tau * (isVideo ? tps * static_cast<int64_t>(spg) : 1);
  }
  return 0;
}

} // namespace

std::optional<std::string>
computeIntPositions(const DesignParams &params,
                    const std::vector<std::vector<Segment>> &rows,
                    IntPositions &out) {
  if (!hasIntegerRules(params.kind))
    return std::string("design has no integer position rules");
  const int64_t batch = static_cast<int64_t>(rows.size());
  int64_t length = 0;
  for (const Segment &seg : rows.empty() ? std::vector<Segment>{} : rows[0])
    length += seg.numTokens();

  const bool hf5 = params.compat == CompatMode::HF5;
  const int64_t padFill = hf5 ? 0 : 1;
  out.batch = batch;
  out.length = length;
  out.positions.assign(3 * batch * length, padFill);
  out.ropeDeltas.assign(batch, 0);
  out.nextPositions.assign(batch, 0);

  auto at = [&](int64_t row, int64_t b, int64_t n) -> int64_t & {
    return out.positions[(row * batch + b) * length + n];
  };
  constexpr int64_t kMaxPosition = int64_t(1) << 53;

  for (int64_t b = 0; b < batch; ++b) {
    const std::vector<Segment> &segs = rows[b];
    int64_t slot = 0;     // index in the padded row
    int64_t start = 0;    // start of the next chunk
    int64_t unpadded = 0; // real tokens in the row
    int64_t rowMax = std::numeric_limits<int64_t>::min();
    int64_t visualIndex = 0;
    for (size_t s = 0; s < segs.size(); ++s) {
      const Segment &seg = segs[s];
      switch (seg.kind) {
      case SegmentKind::Pad:
        slot += seg.length;
        continue;
      case SegmentKind::Text:
        for (int64_t i = 0; i < seg.length; ++i) {
          for (int64_t r = 0; r < 3; ++r)
            at(r, b, slot + i) = start + i;
        }
        if (seg.length > 0)
          rowMax = std::max(rowMax, start + seg.length - 1);
        start += seg.length;
        slot += seg.length;
        unpadded += seg.length;
        continue;
      case SegmentKind::Image:
      case SegmentKind::Video:
        break;
      }
      // A visual block.
      const int64_t numTokens = seg.numTokens();
      if (params.kind == PositionDesign::Vanilla) {
        for (int64_t i = 0; i < numTokens; ++i)
          for (int64_t r = 0; r < 3; ++r)
            at(r, b, slot + i) = start + i;
        rowMax = std::max(rowMax, start + numTokens - 1);
        start += numTokens;
        slot += numTokens;
        unpadded += numTokens;
        ++visualIndex;
        continue;
      }
      const bool reset = params.kind == PositionDesign::SpatialReset;
      if (reset && (s + 1 >= segs.size() ||
                    segs[s + 1].kind != SegmentKind::Text)) {
        return "row " + std::to_string(b) + ", visual block " +
               std::to_string(visualIndex) +
               ": spatial_reset positions the token after each visual block "
               "as <vision_end>, but the block is not followed by text";
      }
      const int64_t spatialOffset = reset ? 0 : start;
      int64_t localMax = 0;
      for (int64_t k = 0; k < numTokens; ++k) {
        int64_t tau = k / (seg.h * seg.w);
        int64_t eta = (k / seg.w) % seg.h;
        int64_t omega = k % seg.w;
        int64_t tIdx = temporalIndex(params, seg, tau);
        if (tIdx > kMaxPosition)
          return "row " + std::to_string(b) + ", visual block " +
                 std::to_string(visualIndex) +
                 ": temporal position overflows (exceeds 2^53)";
        at(0, b, slot + k) = start + tIdx;
        at(1, b, slot + k) = spatialOffset + eta;
        at(2, b, slot + k) = spatialOffset + omega;
        localMax = std::max({localMax, tIdx, eta, omega});
        rowMax = std::max({rowMax, start + tIdx, spatialOffset + eta,
                           spatialOffset + omega});
      }
      // hf5 resumes after max(H, W) and ignores the temporal extent.
      int64_t advance = hf5 ? std::max(seg.h, seg.w) : localMax + 1;
      if (reset)
        rowMax = std::max(rowMax, start + localMax);
      start += advance;
      slot += numTokens;
      unpadded += numTokens;
      ++visualIndex;
    }
    if (unpadded == 0)
      return "row " + std::to_string(b) + " has no unpadded tokens";
    out.nextPositions[b] = rowMax + 1;
    out.ropeDeltas[b] = rowMax + 1 - (hf5 ? unpadded : length);
  }
  return std::nullopt;
}

} // namespace mlir::mrope::rules
