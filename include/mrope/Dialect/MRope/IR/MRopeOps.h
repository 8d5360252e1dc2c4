//===- MRopeOps.h - mrope operations ----------------------------*- C++ -*-===//

#ifndef MROPE_DIALECT_MROPE_IR_MROPEOPS_H
#define MROPE_DIALECT_MROPE_IR_MROPEOPS_H

#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/Interfaces/InferTypeOpInterface.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "mrope/Dialect/MRope/IR/MRopeAttrs.h"
#include "mrope/Dialect/MRope/IR/MRopeDialect.h"

#include "mrope/Dialect/MRope/IR/MRopeInterfaces.h.inc"

#define GET_OP_CLASSES
#include "mrope/Dialect/MRope/IR/MRopeOps.h.inc"

#endif // MROPE_DIALECT_MROPE_IR_MROPEOPS_H
