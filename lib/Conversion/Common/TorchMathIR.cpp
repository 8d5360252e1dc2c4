//===- TorchMathIR.cpp - PyTorch-compatible libm as IR --------------------===//

#include "TorchMathIR.h"

#include "mrope/Dialect/MRope/Utils/TorchMath.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/BuiltinTypes.h"

using namespace mlir;
using namespace mlir::mrope;

namespace {

/// TorchMath.h's `Ops` over arith/math values: f32 (or vector of f32) and
/// the i32 / i1 types of the same shape; constants splatted.
struct ArithOps {
  using F = Value;
  using I = Value;
  using B = Value;

  OpBuilder &b;
  Location loc;
  Type floatType, intType;

  ArithOps(OpBuilder &b, Location loc, Type floatType)
      : b(b), loc(loc), floatType(floatType),
        intType(floatType.isF32()
                    ? Type(b.getI32Type())
                    : Type(cast<VectorType>(floatType).clone(b.getI32Type()))) {
  }

  Value splat(Type type, TypedAttr scalar) {
    if (auto vec = dyn_cast<VectorType>(type))
      return arith::ConstantOp::create(b, loc,
                                       DenseElementsAttr::get(vec, scalar));
    return arith::ConstantOp::create(b, loc, scalar);
  }
  F constant(float v) { return splat(floatType, b.getF32FloatAttr(v)); }
  I constantInt(int32_t v) { return splat(intType, b.getI32IntegerAttr(v)); }
  F add(F x, F y) { return arith::AddFOp::create(b, loc, x, y); }
  F sub(F x, F y) { return arith::SubFOp::create(b, loc, x, y); }
  F mul(F x, F y) { return arith::MulFOp::create(b, loc, x, y); }
  F div(F x, F y) { return arith::DivFOp::create(b, loc, x, y); }
  F fma(F x, F y, F z) { return math::FmaOp::create(b, loc, x, y, z); }
  F roundEven(F x) { return math::RoundEvenOp::create(b, loc, x); }
  I roundToInt(F x) {
    return arith::FPToSIOp::create(b, loc, intType,
                                   math::RoundEvenOp::create(b, loc, x));
  }
  F toFloat(I x) { return arith::SIToFPOp::create(b, loc, floatType, x); }
  I bits(F x) { return arith::BitcastOp::create(b, loc, intType, x); }
  F fromBits(I x) { return arith::BitcastOp::create(b, loc, floatType, x); }
  I addInt(I x, I y) { return arith::AddIOp::create(b, loc, x, y); }
  I subInt(I x, I y) { return arith::SubIOp::create(b, loc, x, y); }
  I andInt(I x, I y) { return arith::AndIOp::create(b, loc, x, y); }
  I xorInt(I x, I y) { return arith::XOrIOp::create(b, loc, x, y); }
  I shiftLeft(I x, unsigned n) {
    return arith::ShLIOp::create(b, loc, x, constantInt(n));
  }
  I shiftRightArith(I x, unsigned n) {
    return arith::ShRSIOp::create(b, loc, x, constantInt(n));
  }
  I shiftRightLogical(I x, unsigned n) {
    return arith::ShRUIOp::create(b, loc, x, constantInt(n));
  }
  B less(F x, F y) {
    return arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OLT, x, y);
  }
  B lessInt(I x, I y) {
    return arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt, x, y);
  }
  B equalInt(I x, I y) {
    return arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, x, y);
  }
  B greaterInt(I x, I y) {
    return arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sgt, x, y);
  }
  B equal(F x, F y) {
    return arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OEQ, x, y);
  }
  B isNaN(F x) {
    return arith::CmpFOp::create(b, loc, arith::CmpFPredicate::UNO, x, x);
  }
  B orB(B x, B y) { return arith::OrIOp::create(b, loc, x, y); }
  F select(B c, F x, F y) { return arith::SelectOp::create(b, loc, c, x, y); }
  I selectInt(B c, I x, I y) {
    return arith::SelectOp::create(b, loc, c, x, y);
  }
};

} // namespace

Value mlir::mrope::buildSleefPowF(OpBuilder &b, Location loc, Value base,
                                  Value exponent) {
  ArithOps ops(b, loc, base.getType());
  return torchmath::SleefFloat<ArithOps>(ops).pow(base, exponent);
}

std::pair<Value, Value> mlir::mrope::buildSleefSinCos(OpBuilder &b,
                                                      Location loc, Value d,
                                                      bool branch) {
  ArithOps ops(b, loc, d.getType());
  using Sleef = torchmath::SleefFloat<ArithOps>;
  Sleef sleef(ops);
  if (!branch)
    return sleef.sinCos(d);

  // Payne-Hanek only when some lane has |d| >= 125 rad.
  Value small = sleef.usesCodyWaite(d);
  Sleef::SinCosReduction near = sleef.codyWaite(d);
  Value allSmall = small;
  if (isa<VectorType>(small.getType()))
    allSmall =
        vector::ReductionOp::create(b, loc, vector::CombiningKind::AND, small);
  auto flat = [](const Sleef::SinCosReduction &r) -> SmallVector<Value> {
    return {r.rSin.hi, r.rSin.lo, r.qSin, r.rCos.hi, r.rCos.lo, r.qCos};
  };
  SmallVector<Value> nearValues = flat(near);
  auto ifOp = scf::IfOp::create(b, loc, ValueRange(nearValues).getTypes(),
                                allSmall, /*withElseRegion=*/true);
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(ifOp.thenBlock());
    scf::YieldOp::create(b, loc, nearValues);
    b.setInsertionPointToStart(ifOp.elseBlock());
    SmallVector<Value> mixed =
        flat(sleef.select(small, near, sleef.payneHanek(d)));
    scf::YieldOp::create(b, loc, mixed);
  }
  ValueRange r = ifOp.getResults();
  Sleef::SinCosReduction reduced{{r[0], r[1]}, r[2], {r[3], r[4]}, r[5]};
  return sleef.finishSinCos(d, reduced);
}

std::pair<Value, Value> mlir::mrope::buildTorchSinCosF(OpBuilder &b,
                                                       Location loc, Value d) {
  ArithOps ops(b, loc, d.getType());
  Value inRange = ops.less(math::AbsFOp::create(b, loc, d),
                           ops.constant(torchmath::kTrigLimit));
  auto [sin, cos] = torchmath::SleefFloat<ArithOps>(ops).sinCos(d);
  return {arith::SelectOp::create(b, loc, inRange, sin,
                                  math::SinOp::create(b, loc, d)),
          arith::SelectOp::create(b, loc, inRange, cos,
                                  math::CosOp::create(b, loc, d))};
}

Value mlir::mrope::buildTorchAtan2F(OpBuilder &b, Location loc, Value y,
                                    Value x, Value inVectorizedPrefix) {
  ArithOps ops(b, loc, x.getType());
  Value sleef = torchmath::SleefFloat<ArithOps>(ops).atan2(y, x);
  return arith::SelectOp::create(b, loc, inVectorizedPrefix, sleef,
                                 math::Atan2Op::create(b, loc, y, x));
}
