//===- MRopeEnums.h - mrope enumerations ------------------------*- C++ -*-===//

#ifndef MROPE_DIALECT_MROPE_IR_MROPEENUMS_H
#define MROPE_DIALECT_MROPE_IR_MROPEENUMS_H

#include "mlir/IR/DialectImplementation.h"
#include "mlir/Support/LLVM.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/raw_ostream.h"
#include <optional>

#include "mrope/Dialect/MRope/IR/MRopeEnums.h.inc"

#endif // MROPE_DIALECT_MROPE_IR_MROPEENUMS_H
