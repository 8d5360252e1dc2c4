//===- mrope-fuzz-ir.cpp - libFuzzer target over mrope IR -----------------===//
//
// Feeds each input to the MLIR parser with every dialect mrope-opt knows,
// and when it parses and verifies, runs the project's passes on copies:
//   - the mrope passes one at a time (fusion, both forms of
//     convert-mrope-to-linalg, convert-mrope-to-gpu alone and with the
//     bufferization that emits its kernels): each must either fail with a
//     diagnostic or leave IR that verifies -- invalid IR out of a pass is a
//     bug, and the target traps on it;
//   - the registered pipelines (mrope-to-linalg-pipeline, mrope-cpu-pipeline
//     with and without threads, the GPU kernel body on the host, and
//     mrope-gpu-pipeline to PTX);
//   - for linalg-on-tensors input (what Torch-MLIR imports), the raising
//     pass followed by convert-mrope-to-linalg, whose output must verify.
// Mutations are mostly token-level, some change one shape extent everywhere
// (see LLVMFuzzerCustomMutator below).
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
#include "mlir/Target/LLVMIR/Dialect/All.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/Support/raw_ostream.h"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

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
    // gpu-module-to-binary serializes through the LLVM IR translations.
    registerAllToLLVMIRTranslations(registry);
    auto *c = new MLIRContext(registry, MLIRContext::Threading::DISABLED);
    c->loadAllAvailableDialects();
    c->printOpOnDiagnostic(false);
    c->printStackTraceOnDiagnostic(false);
    return c;
  }();
  return *ctx;
}

/// True if every op belongs to the dialects an mrope user writes.
bool onlyDialects(ModuleOp module, const llvm::StringSet<> &dialects) {
  bool ok = true;
  module.walk([&](Operation *op) {
    if (!dialects.contains(op->getName().getDialectNamespace()))
      ok = false;
  });
  return ok;
}

bool inUserDomain(ModuleOp module) {
  static const llvm::StringSet<> kDialects = {"builtin", "func", "arith",
                                              "tensor", "mrope"};
  return onlyDialects(module, kDialects);
}

/// What frontends hand to the raising pass: linalg-on-tensors (Torch-MLIR
/// imports) with arith and math in the bodies.
bool inRaisingDomain(ModuleOp module) {
  static const llvm::StringSet<> kDialects = {
      "builtin", "func", "arith", "tensor", "linalg", "math", "mrope"};
  return onlyDialects(module, kDialects);
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

//===----------------------------------------------------------------------===//
// Token-level mutation. Byte-level mutations of MLIR text almost never parse,
// so most of the time one word or number is swapped for another of its kind
// (an allocation for another allocation, a shape for an edge-case shape, an
// element type for another), which keeps the module parseable and moves it
// into the corners the verifiers and lowerings must handle.
//===----------------------------------------------------------------------===//

// Weak: the plain driver (FuzzerMain.cpp) never mutates.
extern "C" __attribute__((weak)) size_t
LLVMFuzzerMutate(uint8_t *data, size_t size, size_t maxSize);

namespace {

const std::vector<std::vector<std::string>> &wordClasses() {
  static const std::vector<std::vector<std::string>> classes = {
      {"contiguous", "interleaved", "head_partitioned", "videorope", "hope",
       "mmrope", "grape_interleaved", "vanilla", "explicit"},
      {"bhsd", "bshd", "thd"},
      {"neox", "gptj"},
      {"reference", "exact"},
      {"f32", "f16", "bf16", "f64", "i64", "i32", "index"},
      {"mrope.apply", "mrope.cos_sin", "mrope.attention"},
      {"yarn", "dynamic", "linear", "longrope", "llama3", "default"},
      {"mrope", "qwen3vl", "absolute_time", "spatial_reset", "circlerope",
       "v2pe", "omnirope"},
      {"true", "false"},
  };
  return classes;
}

const std::vector<std::string> kEdgeNumbers = {"0",
                                               "1",
                                               "2",
                                               "3",
                                               "-1",
                                               "7",
                                               "8",
                                               "16",
                                               "63",
                                               "64",
                                               "65",
                                               "128",
                                               "4294967296",
                                               "9223372036854775807",
                                               "-9223372036854775808",
                                               "0.0",
                                               "-0.0",
                                               "1.0e+38",
                                               "1.0e-45",
                                               "0x7FC00000",
                                               "?"};

/// Replaces one word of a class, or one number, with another; 0 if none.
size_t mutateToken(uint8_t *data, size_t size, size_t maxSize, unsigned seed) {
  std::string text(reinterpret_cast<char *>(data), size);
  std::mt19937 rng(seed);
  // Candidate spans: [begin, end) with the replacement list.
  struct Span {
    size_t begin, end;
    const std::vector<std::string> *options;
  };
  std::vector<Span> spans;
  for (const auto &words : wordClasses())
    for (const std::string &w : words)
      for (size_t at = text.find(w); at != std::string::npos;
           at = text.find(w, at + 1))
        spans.push_back({at, at + w.size(), &words});
  for (size_t i = 0; i < text.size();) {
    if (std::isdigit(static_cast<unsigned char>(text[i]))) {
      size_t j = i;
      while (
          j < text.size() &&
          (std::isalnum(static_cast<unsigned char>(text[j])) || text[j] == '.'))
        ++j;
      // Dims inside shapes ("2x5x16") are numbers too: split at 'x'.
      size_t k = i;
      while (k < j && std::isdigit(static_cast<unsigned char>(text[k])))
        ++k;
      spans.push_back({i, k, &kEdgeNumbers});
      i = k + 1;
    } else {
      ++i;
    }
  }
  if (spans.empty())
    return 0;
  const Span &span = spans[rng() % spans.size()];
  const std::string &replacement =
      (*span.options)[rng() % span.options->size()];
  std::string out =
      text.substr(0, span.begin) + replacement + text.substr(span.end);
  if (out.size() > maxSize)
    return 0;
  std::copy(out.begin(), out.end(), data);
  return out.size();
}

/// Replaces one shape extent everywhere it occurs in a shape (`x8x`, `<8x`)
/// by an edge number: operands sharing a dimension keep agreeing, so the
/// module still verifies where a single-token change would not (a zero
/// batch needs q, k and the positions changed together). 0 if no shape.
size_t mutateShapeExtent(uint8_t *data, size_t size, size_t maxSize,
                         unsigned seed) {
  std::string text(reinterpret_cast<char *>(data), size);
  std::mt19937 rng(seed);
  // Extents: digits after '<' or 'x' and before 'x'.
  auto isExtentAt = [&](size_t begin, size_t end) {
    return begin > 0 && (text[begin - 1] == '<' || text[begin - 1] == 'x') &&
           end < text.size() && text[end] == 'x';
  };
  std::vector<std::pair<size_t, size_t>> extents;
  for (size_t i = 0; i < text.size(); ++i) {
    if (!std::isdigit(static_cast<unsigned char>(text[i])))
      continue;
    size_t j = i;
    while (j < text.size() && std::isdigit(static_cast<unsigned char>(text[j])))
      ++j;
    if (isExtentAt(i, j))
      extents.push_back({i, j});
    i = j;
  }
  if (extents.empty())
    return 0;
  auto [begin, end] = extents[rng() % extents.size()];
  std::string from = text.substr(begin, end - begin);
  static const char *const kExtents[] = {"0", "1", "2", "3", "7", "16", "?"};
  std::string to = kExtents[rng() % std::size(kExtents)];
  std::string out;
  size_t last = 0;
  for (auto [b, e] : extents) {
    if (text.compare(b, e - b, from) != 0)
      continue;
    out += text.substr(last, b - last) + to;
    last = e;
  }
  out += text.substr(last);
  if (out.size() > maxSize)
    return 0;
  std::copy(out.begin(), out.end(), data);
  return out.size();
}

} // namespace

extern "C" size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size,
                                          size_t maxSize, unsigned int seed) {
  if (seed % 8 == 1)
    if (size_t n = mutateShapeExtent(data, size, maxSize, seed))
      return n;
  if (seed % 4 != 0)
    if (size_t n = mutateToken(data, size, maxSize, seed))
      return n;
  return LLVMFuzzerMutate(data, size, maxSize);
}

/// True when `list` (after its `[`) starts with a well-formed integer list
/// and its `]`: `]`, or integers separated by commas.
static bool isIntegerList(llvm::StringRef list) {
  list = list.ltrim();
  if (list.consume_front("]"))
    return true;
  while (true) {
    list.consume_front("-");
    size_t digits = list.find_if_not([](char c) { return llvm::isDigit(c); });
    if (digits == 0 || digits == llvm::StringRef::npos)
      return false;
    list = list.drop_front(digits).ltrim();
    if (list.consume_front("]"))
      return true;
    if (!list.consume_front(","))
      return false;
    list = list.ltrim();
  }
}

/// True when `text` has an integer array of a linalg named op
/// (`permutation = [...]`, `dimensions = [...]`) that does not parse as one
/// -- a non-integer element, a missing comma or bracket: MLIR 22's parser
/// crashes on those after its diagnostic (mlir-opt-22 too;
/// test/Fuzz/upstream-parser-crashes.test). Not mrope's code, so such
/// inputs are skipped.
bool hitsUpstreamDenseArrayCrash(llvm::StringRef text) {
  for (llvm::StringRef key : {"permutation", "dimensions"}) {
    for (size_t at = text.find(key); at != llvm::StringRef::npos;
         at = text.find(key, at + 1)) {
      llvm::StringRef rest = text.drop_front(at + key.size()).ltrim();
      if (!rest.consume_front("="))
        continue; // another use of the word
      rest = rest.ltrim();
      if (!rest.consume_front("[") || !isIntegerList(rest))
        return true;
    }
  }
  return false;
}

/// True when `text` has a tensor.concat with a negative dimension
/// (`dim(-1)`): MLIR 22's ConcatOp::verify indexes the operand shapes with
/// it and segfaults (mlir-opt-22 too; test/Fuzz/upstream-parser-crashes.test).
/// Skipped.
bool hitsUpstreamConcatCrash(llvm::StringRef text) {
  for (size_t at = text.find("dim("); at != llvm::StringRef::npos;
       at = text.find("dim(", at + 1))
    if (text.drop_front(at + 4).ltrim().starts_with("-"))
      return true;
  return false;
}

/// True when brackets nest deeper than MLIR's recursive-descent parser can
/// take on the stack (Debian's mlir-opt-22 overflows on ~10^4 nested `[`
/// in an attribute; test/Fuzz/upstream-parser-crashes.test). Skipped.
bool nestsTooDeep(llvm::StringRef text) {
  int depth = 0;
  for (char c : text) {
    if (c == '[' || c == '(' || c == '{' || c == '<')
      ++depth;
    else if (c == ']' || c == ')' || c == '}' || c == '>')
      --depth;
    if (depth > 512)
      return true;
  }
  return false;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  MLIRContext &ctx = context();
  // Diagnostics are the expected outcome for most inputs.
  ScopedDiagnosticHandler quiet(&ctx, [](Diagnostic &) { return success(); });
  // The MLIR lexer reads one past the end (a NUL ends the buffer, as in
  // files read through MemoryBuffer), so parse from a NUL-terminated copy.
  std::string text(reinterpret_cast<const char *>(data), size);
  if (hitsUpstreamDenseArrayCrash(text) || hitsUpstreamConcatCrash(text) ||
      nestsTooDeep(text))
    return 0;
  ParserConfig config(&ctx, /*verifyAfterParse=*/true);
  OwningOpRef<ModuleOp> module = parseSourceString<ModuleOp>(text, config);
  static const bool verbose = std::getenv("MROPE_FUZZ_VERBOSE") != nullptr;
  if (module && !inUserDomain(*module) && inRaisingDomain(*module)) {
    // The raising pass must leave valid IR, and what it raised must lower.
    if (verbose)
      llvm::errs() << "raising\n";
    runOnCopy(*module,
              "builtin.module(func.func(mrope-raise-linalg-rotary),"
              "convert-mrope-to-linalg)",
              /*checkOutput=*/true);
    return 0;
  }
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
        "builtin.module(convert-mrope-to-linalg{vector-rows=true})",
        "builtin.module(convert-mrope-to-linalg{vector-rows=true "
        "vector-bits=512 avx512-bf16=true})",
        "builtin.module(convert-mrope-to-gpu)",
        "builtin.module(convert-mrope-to-gpu{host-buffers=true},"
        "one-shot-bufferize{bufferize-function-boundaries})"})
    runOnCopy(*module, pass, /*checkOutput=*/true);
  for (llvm::StringRef pipeline :
       {"builtin.module(mrope-to-linalg-pipeline)",
        "builtin.module(mrope-cpu-pipeline)",
        "builtin.module(mrope-cpu-pipeline{threads=true task-size=4})",
        // Both bf16 roundings whatever the host has.
        "builtin.module(mrope-cpu-pipeline{avx512-bf16=0 vector-bits=256})",
        "builtin.module(mrope-cpu-pipeline{avx512-bf16=1 vector-bits=512})",
        // The GPU kernel's body on the host, and the device pipeline to PTX
        // (NVPTX in process; no ptxas).
        "builtin.module(convert-mrope-to-gpu{host-loop=true},"
        "mrope-cpu-pipeline)",
        "builtin.module(mrope-gpu-pipeline{format=isa})"})
    runOnCopy(*module, pipeline, /*checkOutput=*/false);
  return 0;
}
