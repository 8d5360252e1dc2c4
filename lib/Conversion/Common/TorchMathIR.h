//===- TorchMathIR.h - PyTorch-compatible libm as IR ------------*- C++ -*-===//
//
// TorchMath.h's algorithms emitted as arith/math ops, so runtime inv_freq
// (dynamic NTK with a runtime length) and CircleRoPE positions have the bits
// the constant folder and the reference compute.
//
//===----------------------------------------------------------------------===//

#ifndef MROPE_LIB_CONVERSION_COMMON_TORCHMATHIR_H
#define MROPE_LIB_CONVERSION_COMMON_TORCHMATHIR_H

#include "mlir/IR/Builders.h"

#include <utility>

namespace mlir::mrope {

/// `base ** exponent` for f32 scalars or vectors of one type, base > 0, as
/// SLEEF's vectorized powf (torchmath::sleefPowF) computes it.
Value buildSleefPowF(OpBuilder &b, Location loc, Value base, Value exponent);

/// {sin d, cos d} for f32 scalars or vectors as SLEEF's u10 functions
/// compute them lane by lane (torchmath::SleefFloat::sinCos), valid for
/// |d| < 2^26 (torchmath::kTrigLimit); meaningless beyond. With `branch`,
/// the Payne-Hanek reduction sits in an scf.if taken only when some lane
/// is at or past 125 rad (loop code); without, everything is straight-line
/// selects (for linalg bodies).
std::pair<Value, Value> buildSleefSinCos(OpBuilder &b, Location loc, Value d,
                                         bool branch = false);

/// {torch.sin d, torch.cos d} for f32 scalars or vectors: SLEEF's u10
/// functions where |d| < 2^26, math.sin / math.cos beyond
/// (torchmath::sleefSinCosF).
std::pair<Value, Value> buildTorchSinCosF(OpBuilder &b, Location loc, Value d);

/// torch.atan2 of finite f32 scalars or vectors: SLEEF's u10 atan2 where
/// `inVectorizedPrefix` (i1 of the same shape) holds, math.atan2 (the C
/// library) elsewhere (torchmath::torchAtan2F).
Value buildTorchAtan2F(OpBuilder &b, Location loc, Value y, Value x,
                       Value inVectorizedPrefix);

} // namespace mlir::mrope

#endif // MROPE_LIB_CONVERSION_COMMON_TORCHMATHIR_H
