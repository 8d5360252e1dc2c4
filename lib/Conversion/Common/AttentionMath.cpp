//===- AttentionMath.cpp - attention arithmetic of every lowering ---------===//

#include "Common/AttentionMath.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

using namespace mlir;

Value mlir::mrope::buildNormalizedRow(OpBuilder &b, Location loc, Value acc,
                                      Value sum, Type elementType) {
  auto rowType = cast<VectorType>(acc.getType());
  Value any = arith::CmpFOp::create(
      b, loc, arith::CmpFPredicate::OGT, sum,
      arith::ConstantOp::create(b, loc, b.getF32FloatAttr(0)));
  Value safeSum = arith::SelectOp::create(
      b, loc, any, sum,
      arith::ConstantOp::create(b, loc, b.getF32FloatAttr(1)));
  Value row = arith::DivFOp::create(
      b, loc, acc, vector::BroadcastOp::create(b, loc, rowType, safeSum));
  row = arith::SelectOp::create(
      b, loc,
      vector::BroadcastOp::create(
          b, loc, VectorType::get(rowType.getShape(), b.getI1Type()), any),
      row, arith::ConstantOp::create(b, loc, b.getZeroAttr(rowType)));
  if (elementType != rowType.getElementType())
    row = arith::TruncFOp::create(
        b, loc, VectorType::get(rowType.getShape(), elementType), row);
  return row;
}
