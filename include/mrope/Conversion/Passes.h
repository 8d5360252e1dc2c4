//===- Passes.h - mrope conversion passes -----------------------*- C++ -*-===//

#ifndef MROPE_CONVERSION_PASSES_H
#define MROPE_CONVERSION_PASSES_H

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/Pass/Pass.h"
#include "mrope/Dialect/MRope/IR/MRopeDialect.h"

namespace mlir::mrope {

#define GEN_PASS_DECL
#include "mrope/Conversion/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "mrope/Conversion/Passes.h.inc"

} // namespace mlir::mrope

#endif // MROPE_CONVERSION_PASSES_H
