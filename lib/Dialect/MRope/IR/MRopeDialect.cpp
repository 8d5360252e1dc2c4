//===- MRopeDialect.cpp - mrope dialect -----------------------------------===//

#include "mrope/Dialect/MRope/IR/MRopeDialect.h"
#include "mrope/Dialect/MRope/IR/MRopeOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"

using namespace mlir;
using namespace mlir::mrope;

#include "mrope/Dialect/MRope/IR/MRopeOpsDialect.cpp.inc"

void MRopeDialect::initialize() {
  addOperations<
#define GET_OP_LIST
#include "mrope/Dialect/MRope/IR/MRopeOps.cpp.inc"
      >();
  registerAttributes();
}

Operation *MRopeDialect::materializeConstant(OpBuilder &builder,
                                             Attribute value, Type type,
                                             Location loc) {
  return arith::ConstantOp::materialize(builder, value, type, loc);
}
