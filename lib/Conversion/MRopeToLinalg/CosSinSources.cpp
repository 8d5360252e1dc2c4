//===- CosSinSources.cpp - cos/sin per position axis, reused --------------===//

#include "CosSinSources.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

using namespace mlir;
using namespace mlir::mrope;

SmallVector<Value> mlir::mrope::reuseOrCompute(
    OpBuilder &b, Location loc, Value bits, ArrayRef<ReuseCandidate> candidates,
    ValueRange carried,
    function_ref<SmallVector<Value>(OpBuilder &, Location)> compute) {
  if (candidates.empty())
    return compute(b, loc);
  const ReuseCandidate &first = candidates.front();
  Value same = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, bits,
                                     first.values->positionBits);
  if (first.valid)
    same = arith::AndIOp::create(b, loc, first.valid, same);
  auto ifOp = scf::IfOp::create(
      b, loc, same,
      [&](OpBuilder &tb, Location tloc) {
        SmallVector<Value> yields = first.values->pieces();
        llvm::append_range(yields, carried);
        scf::YieldOp::create(tb, tloc, yields);
      },
      [&](OpBuilder &eb, Location eloc) {
        scf::YieldOp::create(eb, eloc,
                             reuseOrCompute(eb, eloc, bits,
                                            candidates.drop_front(), carried,
                                            compute));
      });
  return SmallVector<Value>(ifOp.getResults());
}
