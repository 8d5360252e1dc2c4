//===- MRopeDialect.h - mrope dialect ---------------------------*- C++ -*-===//

#ifndef MROPE_DIALECT_MROPE_IR_MROPEDIALECT_H
#define MROPE_DIALECT_MROPE_IR_MROPEDIALECT_H

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Dialect.h"

#include "mrope/Dialect/MRope/IR/MRopeOpsDialect.h.inc"

#endif // MROPE_DIALECT_MROPE_IR_MROPEDIALECT_H
