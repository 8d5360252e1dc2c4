//===- mrope-opt.cpp - the mrope optimizer driver -------------------------===//
//
// mlir-opt with every upstream dialect, pass and extension, the LLVM IR
// translations (so gpu-module-to-binary can serialize NVVM), plus the mrope
// dialect and its passes.
//
//===----------------------------------------------------------------------===//

#include "mlir/IR/DialectRegistry.h"
#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/InitAllPasses.h"
#include "mlir/Target/LLVMIR/Dialect/All.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"
#include "mrope/InitAllMRope.h"

int main(int argc, char **argv) {
  mlir::registerAllPasses();
  mlir::mrope::registerAllMRopePasses();

  mlir::DialectRegistry registry;
  mlir::registerAllDialects(registry);
  mlir::registerAllExtensions(registry);
  mlir::registerAllToLLVMIRTranslations(registry);
  mlir::mrope::registerAllMRopeDialects(registry);

  return mlir::asMainReturnCode(
      mlir::MlirOptMain(argc, argv, "mrope optimizer driver\n", registry));
}
