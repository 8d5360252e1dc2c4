//===- PositionRules.cpp - position-id rules of every design --------------===//
//
// Semantics: SPEC.md §1-2. HF legacy (4.49/vLLM) is the reference; compat
// modes reproduce transformers 4.52-4.57 and 5.x. Every chunk (text run or
// visual block) starts at `next`, the design's "one past the previous chunk".
//
//===----------------------------------------------------------------------===//

#include "mrope/Dialect/MRope/Utils/PositionRules.h"
#include "mrope/Dialect/MRope/Utils/TorchMath.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace mlir::mrope::rules {

bool hasRules(PositionDesign) { return true; }

void circlePlaneBasis(float u[3], float v[3]) {
  const float unit = 1.0f / std::sqrt(3.0f);
  u[0] = -unit;
  u[1] = unit;
  u[2] = 0.0f;
  float uNorm = std::sqrt(u[0] * u[0] + u[1] * u[1] + u[2] * u[2]);
  for (int i = 0; i < 3; ++i)
    u[i] /= uNorm;
  v[0] = unit * u[2] - unit * u[1];
  v[1] = unit * u[0] - unit * u[2];
  v[2] = unit * u[1] - unit * u[0];
  float vNorm = std::sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2]);
  for (int i = 0; i < 3; ++i)
    v[i] /= vNorm;
}

namespace {

constexpr double kMaxPosition = 9007199254740992.0; // 2^53

/// Temporal offset of temporal patch `tau` inside a visual block.
double temporalIndex(const DesignParams &params, const Segment &seg,
                     int64_t tau) {
  if (params.kind != PositionDesign::AbsoluteTime) {
    // Paper designs multiply by a float stride; the integer ones store the
    // result into int64, which truncates.
    double offset = static_cast<double>(tau) * params.temporalStride;
    bool integer = params.kind == PositionDesign::MRoPE ||
                   params.kind == PositionDesign::Qwen3VL ||
                   params.kind == PositionDesign::SpatialReset;
    return integer ? std::trunc(offset) : offset;
  }
  bool isVideo = seg.kind == SegmentKind::Video;
  double spg = isVideo ? seg.secondPerGrid.value_or(1.0) : 0.0;
  auto tps = static_cast<int64_t>(params.tokensPerSecond);
  switch (params.compat) {
  case CompatMode::Reference: {
    // transformers 4.49 / vLLM: (tau * s) * tps in float32, then .long().
    float product = static_cast<float>(tau) * static_cast<float>(spg);
    product *= static_cast<float>(params.tokensPerSecond);
    return std::trunc(static_cast<double>(product));
  }
  case CompatMode::HF457:
    // 4.52-4.57 cast second_per_grid to int64 before multiplying.
    return static_cast<double>(tau * static_cast<int64_t>(spg) * tps);
  case CompatMode::HF5:
    // 5.x: time_interval = tps * int(s) for videos, 1 for images.
    return static_cast<double>(tau *
                               (isVideo ? tps * static_cast<int64_t>(spg) : 1));
  }
  return 0.0;
}

/// Per-row state while positioning chunks.
struct RowState {
  double next = 0.0; // start of next chunk
  double rowMax = -std::numeric_limits<double>::infinity(); // 3-row max
  double tMax = -std::numeric_limits<double>::infinity();   // t-row max
  // The text run before the current block: where it started and its length
  // (CircleRoPE adds them to the block separately, in float32).
  double runStart = 0.0;
  int64_t runLength = 0;
};

/// CircleRoPE's local (x, y, z) -> (w, h, t) offsets of one frame (T = 1),
/// in float32 as the paper repo computes them (atan2/cos/sin as torch's CPU
/// kernels do, TorchMath.h): optional centring, a mapping
/// of the grid onto a circle, a rotation into the plane orthogonal to
/// (1, 1, 1), an optional blend with the rotated grid and a shift.
void circleOffsets(const DesignParams &p, int64_t H, int64_t W,
                   std::vector<float> &tOut, std::vector<float> &hOut,
                   std::vector<float> &wOut) {
  const int64_t n = H * W;
  std::vector<float> x(n), y(n), z(n, 0.0f);
  for (int64_t k = 0; k < n; ++k) {
    x[k] = static_cast<float>(k % W);
    y[k] = static_cast<float>(k / W);
  }
  if (p.moveToOrigin) {
    for (std::vector<float> *axis : {&x, &y, &z}) {
      auto [lo, hi] = std::minmax_element(axis->begin(), axis->end());
      float center = (*hi + *lo) / 2.0f;
      for (float &v : *axis)
        v -= center;
    }
  }
  float u[3], v[3];
  circlePlaneBasis(u, v);
  auto rotate = [&](const std::vector<float> &a, const std::vector<float> &b,
                    int axis, std::vector<float> &out) {
    for (int64_t k = 0; k < n; ++k)
      out[k] = a[k] * u[axis] + b[k] * v[axis];
  };

  std::vector<float> cx = x, cy = y;
  if (p.circle) {
    const float twoPi = static_cast<float>(2.0 * M_PI);
    std::vector<float> theta(n);
    for (int64_t k = 0; k < n; ++k)
      theta[k] = torchmath::torchAtan2F(y[k], x[k], k, n);
    auto [lo, hi] = std::minmax_element(theta.begin(), theta.end());
    const float thetaMin = *lo, range = *hi - *lo;
    const auto radius = static_cast<float>(p.radius);
    const auto alpha = static_cast<float>(p.alpha);
    const auto beta = static_cast<float>(1.0 - p.alpha);
    for (int64_t k = 0; k < n; ++k) {
      float normalized =
          range > 0.0f ? (theta[k] - thetaMin) / range * twoPi : theta[k];
      float byIndex = static_cast<float>(k) / static_cast<float>(n) * twoPi;
      float angle = alpha * normalized + beta * byIndex;
      // torch.cos/sin: SLEEF for every element (TorchMath.h).
      auto [sine, cosine] = torchmath::sleefSinCosF(angle);
      cx[k] = radius * cosine;
      cy[k] = radius * sine;
    }
  }
  std::vector<float> X(n), Y(n), Z(n);
  rotate(cx, cy, 0, X);
  rotate(cx, cy, 1, Y);
  rotate(cx, cy, 2, Z);
  if (p.dffRate != 0.0) {
    std::vector<float> gx(n), gy(n), gz(n);
    rotate(x, y, 0, gx);
    rotate(x, y, 1, gy);
    rotate(x, y, 2, gz);
    const auto keep = static_cast<float>(1.0 - p.dffRate);
    const auto mix = static_cast<float>(p.dffRate);
    for (int64_t k = 0; k < n; ++k) {
      X[k] = keep * X[k] + mix * gx[k];
      Y[k] = keep * Y[k] + mix * gy[k];
      Z[k] = keep * Z[k] + mix * gz[k];
    }
  }
  if (p.moveToPositive) {
    float lowest = std::min({*std::min_element(X.begin(), X.end()),
                             *std::min_element(Y.begin(), Y.end()),
                             *std::min_element(Z.begin(), Z.end())});
    const float shift = std::fabs(lowest);
    const auto offset = static_cast<float>(*p.moveToPositive);
    for (std::vector<float> *axis : {&X, &Y, &Z})
      for (float &c : *axis)
        c = c + shift + offset;
  }
  tOut = Z;
  hOut = Y;
  wOut = X;
}

} // namespace

std::optional<std::string>
computePositions(const DesignParams &params,
                 const std::vector<std::vector<Segment>> &rows,
                 Positions &out) {
  if (!hasRules(params.kind))
    return std::string("no position rules for this design yet");
  const PositionDesign kind = params.kind;
  const bool isFloatDesign =
      kind == PositionDesign::VideoRoPE || kind == PositionDesign::HoPE ||
      kind == PositionDesign::V2PE || kind == PositionDesign::OmniRoPE ||
      kind == PositionDesign::MMRoPE || kind == PositionDesign::CircleRoPE;
  const auto batch = static_cast<int64_t>(rows.size());
  int64_t length = 0;
  if (!rows.empty())
    for (const Segment &seg : rows[0])
      length += seg.numTokens();

  const bool hf5 = params.compat == CompatMode::HF5;
  out.batch = batch;
  out.length = length;
  out.positions.assign(3 * batch * length, hf5 ? 0.0 : 1.0);
  out.ropeDeltas.assign(batch, 0.0);
  out.nextPositions.assign(batch, 0.0);

  // Float designs produce float32 values.
  auto store = [&](double v) {
    return isFloatDesign ? static_cast<double>(static_cast<float>(v)) : v;
  };

  for (int64_t b = 0; b < batch; ++b) {
    const std::vector<Segment> &segs = rows[b];
    RowState row;
    int64_t slot = 0, unpadded = 0, visualIndex = 0;
    auto set = [&](int64_t n, double t, double h, double w) {
      t = store(t);
      h = store(h);
      w = store(w);
      out.positions[(0 * batch + b) * length + n] = t;
      out.positions[(1 * batch + b) * length + n] = h;
      out.positions[(2 * batch + b) * length + n] = w;
      row.rowMax = std::max({row.rowMax, t, h, w});
      row.tMax = std::max(row.tMax, t);
    };
    auto error = [&](const std::string &rule) {
      return "row " + std::to_string(b) + ", visual block " +
             std::to_string(visualIndex) + ": " + rule;
    };

    for (size_t s = 0; s < segs.size(); ++s) {
      const Segment &seg = segs[s];
      if (seg.kind == SegmentKind::Pad) {
        slot += seg.length;
        continue;
      }
      if (seg.kind == SegmentKind::Text) {
        if (row.runLength == 0)
          row.runStart = row.next;
        row.runLength += seg.length;
        for (int64_t i = 0; i < seg.length; ++i)
          set(slot + i, row.next + i, row.next + i, row.next + i);
        row.next += static_cast<double>(seg.length);
        slot += seg.length;
        unpadded += seg.length;
        continue;
      }

      // A visual block starting at `start`.
      const double start = row.next;
      const int64_t n = seg.numTokens();
      const double H = static_cast<double>(seg.h);
      const double W = static_cast<double>(seg.w);
      if (kind == PositionDesign::SpatialReset &&
          (s + 1 >= segs.size() || segs[s + 1].kind != SegmentKind::Text))
        return error("spatial_reset positions the token after each visual "
                     "block as <vision_end>, but the block is not followed "
                     "by text");
      if (kind == PositionDesign::CircleRoPE) {
        std::vector<float> dt, dh, dw;
        circleOffsets(params, seg.h, seg.w, dt, dh, dw);
        // (offset + text_len) + st_idx, as two float32 additions.
        const auto textLength = static_cast<float>(row.runLength);
        const auto runStart =
            static_cast<float>(row.runLength ? row.runStart : row.next);
        float blockMax = -std::numeric_limits<float>::infinity();
        for (int64_t k = 0; k < n; ++k) {
          float t = (dt[k] + textLength) + runStart;
          float h = (dh[k] + textLength) + runStart;
          float w = (dw[k] + textLength) + runStart;
          set(slot + k, t, h, w);
          blockMax = std::max({blockMax, t, h, w});
        }
        row.next = static_cast<float>(blockMax + 1.0f);
      } else if (kind == PositionDesign::Vanilla) {
        for (int64_t k = 0; k < n; ++k)
          set(slot + k, start + k, start + k, start + k);
        row.next = start + static_cast<double>(n);
      } else if (kind == PositionDesign::V2PE) {
        // n tokens share `visual_stride` positions after the previous one:
        // arange(last + step, last + step * (n + 1), step) in float32, cut
        // to n elements (TorchMath.h has torch's arithmetic).
        const double last = start - 1.0;
        const double step = params.visualStride / static_cast<double>(n);
        const double first = last + step;
        const int64_t length = torchmath::torchArangeLength(
            first, last + step * static_cast<double>(n + 1), step);
        double lastVisual = last;
        for (int64_t k = 0; k < n; ++k) {
          lastVisual = torchmath::torchArangeElement(first, step, k, length);
          set(slot + k, lastVisual, lastVisual, lastVisual);
        }
        row.next = std::ceil(lastVisual) + 1.0;
      } else {
        double localMax = 0.0;
        double tLast = start;
        for (int64_t k = 0; k < n; ++k) {
          const int64_t tau = k / (seg.h * seg.w);
          const double eta = static_cast<double>((k / seg.w) % seg.h);
          const double omega = static_cast<double>(k % seg.w);
          const double dt = temporalIndex(params, seg, tau);
          if (start + dt > kMaxPosition)
            return error("temporal position overflows (exceeds 2^53)");
          double t = start + dt, h, w;
          switch (kind) {
          case PositionDesign::VideoRoPE:
          case PositionDesign::HoPE:
            // Diagonal: h and w straddle t.
            h = t + eta - std::floor((H - 1.0) / 2.0);
            w = t + omega - std::floor((W - 1.0) / 2.0);
            break;
          case PositionDesign::SpatialReset:
          case PositionDesign::OmniRoPE:
            h = eta;
            w = omega;
            break;
          case PositionDesign::MMRoPE:
            t = start + dt * params.positionScale[0];
            h = start + eta * params.positionScale[1];
            w = start + omega * params.positionScale[2];
            break;
          default:
            h = start + eta;
            w = start + omega;
            break;
          }
          set(slot + k, t, h, w);
          localMax = std::max({localMax, t - start, h - start, w - start});
          tLast = std::max(tLast, t);
        }
        switch (kind) {
        case PositionDesign::VideoRoPE:
        case PositionDesign::HoPE:
          row.next = tLast + 1.0;
          break;
        case PositionDesign::OmniRoPE: {
          double temporalExtent = temporalIndex(params, seg, seg.t - 1) + 1.0;
          row.next = start + std::max({temporalExtent, H, W});
          break;
        }
        case PositionDesign::SpatialReset: {
          // The token after the block is positioned at start + max over the
          // block's local (t, h, w) + 1; text continues from there.
          double local = std::max(
              {temporalIndex(params, seg, seg.t - 1), H - 1.0, W - 1.0});
          row.next = start + local + 1.0;
          row.rowMax = std::max(row.rowMax, start + local);
          break;
        }
        default:
          // hf5 resumes after max(H, W), ignoring the temporal extent.
          row.next = hf5 ? start + std::max(H, W) : start + localMax + 1.0;
          break;
        }
      }
      slot += n;
      unpadded += n;
      row.runLength = 0;
      ++visualIndex;
    }
    if (unpadded == 0)
      return "row " + std::to_string(b) + " has no unpadded tokens";

    double next;
    switch (kind) {
    case PositionDesign::VideoRoPE:
    case PositionDesign::HoPE:
      next = row.tMax + 1.0; // deltas from the t row
      break;
    case PositionDesign::V2PE:
      next = std::ceil(row.rowMax) + 1.0;
      break;
    default:
      next = row.rowMax + 1.0;
      break;
    }
    out.nextPositions[b] = next;
    out.ropeDeltas[b] = next - static_cast<double>(hf5 ? unpadded : length);
  }
  return std::nullopt;
}

} // namespace mlir::mrope::rules
