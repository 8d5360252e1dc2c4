//===- MRopeAttrs.h - mrope attributes --------------------------*- C++ -*-===//

#ifndef MROPE_DIALECT_MROPE_IR_MROPEATTRS_H
#define MROPE_DIALECT_MROPE_IR_MROPEATTRS_H

#include "mlir/IR/Attributes.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/DialectImplementation.h"
#include "llvm/ADT/Hashing.h"
#include "llvm/ADT/bit.h"
#include <optional>

#include "mrope/Dialect/MRope/IR/MRopeEnums.h"
#include "mrope/Dialect/MRope/Utils/FrequencyMath.h"

namespace mlir::mrope {
/// A double attribute parameter. llvm::hash_combine cannot hash `double`, so
/// parameters store this wrapper, which hashes and compares the bit pattern
/// and converts implicitly to double.
struct F64 {
  double value = 0.0;
  F64() = default;
  F64(double value) : value(value) {}
  operator double() const { return value; }
  bool operator==(const F64 &other) const {
    return llvm::bit_cast<uint64_t>(value) ==
           llvm::bit_cast<uint64_t>(other.value);
  }
  bool operator==(double other) const { return *this == F64(other); }
  bool operator!=(double other) const { return !(*this == other); }
};
inline llvm::hash_code hash_value(F64 v) {
  return llvm::hash_value(llvm::bit_cast<uint64_t>(v.value));
}
} // namespace mlir::mrope

namespace mlir::mrope::detail {
// Parameter parsers/printers shared by the attribute definitions: doubles
// print in the shortest form that parses back to the same value.
FailureOr<F64> parseF64(AsmParser &parser);
FailureOr<std::optional<F64>> parseOptF64(AsmParser &parser);
FailureOr<bool> parseBool(AsmParser &parser);
FailureOr<SmallVector<int64_t>> parseI64Array(AsmParser &parser);
FailureOr<SmallVector<F64>> parseF64Array(AsmParser &parser);
void printF64(AsmPrinter &printer, double value);
/// The shortest decimal form of `value` that parses back to it ("0.5", "4.0").
std::string formatF64(double value);
void printF64Array(AsmPrinter &printer, ArrayRef<F64> values);
} // namespace mlir::mrope::detail

#define GET_ATTRDEF_CLASSES
#include "mrope/Dialect/MRope/IR/MRopeAttrs.h.inc"

namespace mlir::mrope {
/// Upper bound on the tokens of one segment (2^40): keeps every token count
/// and position sum far from int64 overflow.
inline constexpr int64_t kMaxSegmentTokens = int64_t(1) << 40;
} // namespace mlir::mrope

namespace mlir::mrope::detail {
/// The body of a segment (`image 1x4x6`), shared by `#mrope.segment<...>` and
/// the row lists of `mrope.position_ids`.
SegmentAttr parseSegmentBody(AsmParser &parser);
void printSegmentBody(AsmPrinter &printer, SegmentAttr segment);
} // namespace mlir::mrope::detail

#endif // MROPE_DIALECT_MROPE_IR_MROPEATTRS_H
