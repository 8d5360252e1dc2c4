//===- MRopePlugin.cpp - mrope as an mlir-opt plugin ----------------------===//
//
// One shared object that is both a dialect plugin and a pass plugin, so an
// existing mlir-opt (Debian's mlir-opt-22 links the same libMLIR.so) can use
// the mrope dialect, its passes, conversions and pipelines:
//
//   mlir-opt --load-dialect-plugin=libMRopePlugin.so \
//            --load-pass-plugin=libMRopePlugin.so --mrope-cpu-pipeline x.mlir
//
//===----------------------------------------------------------------------===//

#include "mrope/InitAllMRope.h"

#include "mlir/Tools/Plugins/DialectPlugin.h"
#include "mlir/Tools/Plugins/PassPlugin.h"
#include "llvm/Config/llvm-config.h"

using namespace mlir;

extern "C" LLVM_ATTRIBUTE_WEAK DialectPluginLibraryInfo
mlirGetDialectPluginInfo() {
  return {MLIR_PLUGIN_API_VERSION, "MRope", LLVM_VERSION_STRING,
          [](DialectRegistry *registry) {
            mrope::registerAllMRopeDialects(*registry);
          }};
}

extern "C" LLVM_ATTRIBUTE_WEAK PassPluginLibraryInfo mlirGetPassPluginInfo() {
  return {MLIR_PLUGIN_API_VERSION, "MRopePasses", LLVM_VERSION_STRING,
          []() { mrope::registerAllMRopePasses(); }};
}
