//===- mrope-fuzz-ir.cpp - libFuzzer target over mrope IR -----------------===//
//
// Feeds each input to the MLIR parser with every dialect mrope-opt knows,
// and when it parses and verifies, runs the project's passes on copies:
//   - the mrope passes one at a time (fusion, both forms of
//     convert-mrope-to-linalg): each must either fail with a diagnostic or
//     leave IR that verifies -- invalid IR out of a pass is a bug, and the
//     target traps on it;
//   - the registered pipelines (mrope-to-linalg-pipeline, mrope-cpu-pipeline
//     with and without threads) to the LLVM dialect.
// Diagnostics are expected (most mutations are invalid) and swallowed; a
// crash, a sanitizer report, a trap or a hang is a finding.
//
// Inputs stay in the domain of mrope users: modules whose ops come from
// builtin, func, arith, tensor and mrope. Anything else is parsed and
// verified but not compiled, so the search spends its time on our code
// rather than on upstream passes fed arbitrary upstream IR.
//
// Build: scripts/fuzz.sh (the sanitizer build with libFuzzer). Without
// libFuzzer the same file links with FuzzerMain.cpp and runs the files it is
// given once each (the regression tests under test/Fuzz).
//
//===----------------------------------------------------------------------===//

#include "mrope/InitAllMRope.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"
#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/InitAllPasses.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/Support/raw_ostream.h"

#include <cstdint>
#include <cstdlib>

using namespace mlir;

namespace {

MLIRContext &context() {
  static MLIRContext *ctx = [] {
    registerAllPasses();
    mrope::registerAllMRopePasses();
    DialectRegistry registry;
    registerAllDialects(registry);
    registerAllExtensions(registry);
    mrope::registerAllMRopeDialects(registry);
    auto *c = new MLIRContext(registry, MLIRContext::Threading::DISABLED);
    c->loadAllAvailableDialects();
    c->printOpOnDiagnostic(false);
    c->printStackTraceOnDiagnostic(false);
    return c;
  }();
  return *ctx;
}

/// True if every op belongs to the dialects an mrope user writes.
bool inUserDomain(ModuleOp module) {
  static const llvm::StringSet<> kDialects = {"builtin", "func", "arith",
                                              "tensor", "mrope"};
  bool ok = true;
  module.walk([&](Operation *op) {
    if (!kDialects.contains(op->getName().getDialectNamespace()))
      ok = false;
  });
  return ok;
}

/// Runs `pipeline` on a copy of `module`. With `checkOutput`, the verifier
/// is off inside the pass manager and the result is verified here instead:
/// a pass that succeeds must leave valid IR.
void runOnCopy(ModuleOp module, llvm::StringRef pipeline, bool checkOutput) {
  OwningOpRef<ModuleOp> copy = module.clone();
  PassManager pm(&context());
  if (failed(parsePassPipeline(pipeline, pm))) {
    llvm::errs() << "mrope-fuzz-ir: bad built-in pipeline: " << pipeline
                 << "\n";
    std::abort();
  }
  pm.enableVerifier(!checkOutput);
  if (failed(pm.run(*copy)) || !checkOutput)
    return;
  if (failed(verify(*copy))) {
    llvm::errs() << "mrope-fuzz-ir: '" << pipeline
                 << "' succeeded but left IR that does not verify\n";
    __builtin_trap();
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  MLIRContext &ctx = context();
  // Diagnostics are the expected outcome for most inputs.
  ScopedDiagnosticHandler quiet(&ctx, [](Diagnostic &) { return success(); });
  llvm::StringRef text(reinterpret_cast<const char *>(data), size);
  ParserConfig config(&ctx, /*verifyAfterParse=*/true);
  OwningOpRef<ModuleOp> module = parseSourceString<ModuleOp>(text, config);
  static const bool verbose = std::getenv("MROPE_FUZZ_VERBOSE") != nullptr;
  if (!module || !inUserDomain(*module)) {
    if (verbose)
      llvm::errs() << (module ? "outside the user domain\n" : "invalid\n");
    return 0;
  }
  if (verbose)
    llvm::errs() << "compiling\n";
  for (llvm::StringRef pass :
       {"builtin.module(mrope-fuse-rotary-into-attention)",
        "builtin.module(convert-mrope-to-linalg)",
        "builtin.module(convert-mrope-to-linalg{vector-rows=true})"})
    runOnCopy(*module, pass, /*checkOutput=*/true);
  for (llvm::StringRef pipeline :
       {"builtin.module(mrope-to-linalg-pipeline)",
        "builtin.module(mrope-cpu-pipeline)",
        "builtin.module(mrope-cpu-pipeline{threads=true task-size=4})"})
    runOnCopy(*module, pipeline, /*checkOutput=*/false);
  return 0;
}
