//===- JitModule.cpp - compile mrope IR for the host and call it ----------===//

#include "mrope/Runtime/JitModule.h"

#include "mrope/InitAllMRope.h"

#include "mrope/Dialect/MRope/IR/MRopeAttrs.h"
#include "mrope/Dialect/MRope/Utils/FrequencyMath.h"

#include "mlir/AsmParser/AsmParser.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/ExecutionEngine/ExecutionEngine.h"
#include "mlir/ExecutionEngine/OptUtils.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/InitAllPasses.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Target/LLVMIR/Dialect/All.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Support/raw_ostream.h"

#include <mutex>
#include <optional>

using namespace mlir;
using namespace mlir::mrope;

int64_t ArgumentSpec::numElements() const {
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  return n;
}

std::string ArgumentSpec::str() const {
  std::string s = "memref<";
  for (int64_t d : shape)
    s += std::to_string(d) + "x";
  return s + elementType + ">";
}

namespace {

/// Registers passes and the native target once per process.
void initializeOnce() {
  static std::once_flag flag;
  std::call_once(flag, [] {
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
    registerAllPasses();
    registerAllMRopePasses();
  });
}

/// Collects every diagnostic as "location: severity: message" lines, so
/// callers without a terminal (Python) get them as one error.
class DiagnosticCollector {
public:
  explicit DiagnosticCollector(MLIRContext &context)
      : handler(&context, [this](Diagnostic &diag) {
          append(diag);
          for (Diagnostic &note : diag.getNotes())
            append(note);
          return success();
        }) {}

  std::string message(llvm::StringRef what) const {
    std::string result = what.str();
    if (!text.empty())
      result += ":\n" + text;
    return result;
  }

private:
  void append(Diagnostic &diag) {
    llvm::raw_string_ostream os(text);
    if (!text.empty())
      os << "\n";
    Location loc = diag.getLocation();
    if (auto fileLoc = dyn_cast<FileLineColLoc>(loc))
      os << fileLoc.getFilename().getValue() << ":" << fileLoc.getLine() << ":"
         << fileLoc.getColumn() << ": ";
    else
      os << loc << ": ";
    switch (diag.getSeverity()) {
    case DiagnosticSeverity::Error:
      os << "error: ";
      break;
    case DiagnosticSeverity::Warning:
      os << "warning: ";
      break;
    case DiagnosticSeverity::Note:
      os << "note: ";
      break;
    case DiagnosticSeverity::Remark:
      os << "remark: ";
      break;
    }
    os << diag.str();
  }

  std::string text;
  ScopedDiagnosticHandler handler;
};

std::string functionError(func::FuncOp fn, const llvm::Twine &rule) {
  return ("function @" + fn.getName() + ": " + rule).str();
}

/// The spec of a callable function, or the rule it breaks.
std::optional<FunctionSpec> specOf(func::FuncOp fn, std::string &error) {
  if (fn.isExternal()) {
    error = functionError(fn, "has no body");
    return std::nullopt;
  }
  if (fn.getNumResults() != 0) {
    error = functionError(fn, "returns values; callable functions write "
                              "their results into memref arguments");
    return std::nullopt;
  }
  FunctionSpec spec;
  spec.name = fn.getName().str();
  for (auto [index, type] : llvm::enumerate(fn.getArgumentTypes())) {
    auto memref = dyn_cast<MemRefType>(type);
    Type element = memref ? memref.getElementType() : Type();
    if (!memref || !memref.hasStaticShape() ||
        !memref.getLayout().isIdentity() || !element.isIntOrFloat() ||
        element.getIntOrFloatBitWidth() % 8 != 0) {
      error = functionError(fn, "argument " + llvm::Twine(index) +
                                    " must be a statically shaped memref "
                                    "with the identity layout and an integer "
                                    "or float element of whole bytes");
      return std::nullopt;
    }
    ArgumentSpec arg;
    llvm::raw_string_ostream(arg.elementType) << element;
    arg.shape.assign(memref.getShape().begin(), memref.getShape().end());
    arg.elementBytes = element.getIntOrFloatBitWidth() / 8;
    spec.arguments.push_back(std::move(arg));
  }
  return spec;
}

} // namespace

JitModule::~JitModule() {
  // Destroying an engine that loaded the async runtime runs its
  // __mlir_execution_engine_destroy, which tears down the process-wide
  // runtime that other live engines still use: keep such engines.
  if (usesAsyncRuntime)
    (void)engine.release();
}

namespace {
/// The callable functions of a module: those with llvm.emit_c_interface.
std::optional<std::vector<FunctionSpec>> specsOf(ModuleOp module,
                                                 std::string &error) {
  std::vector<FunctionSpec> specs;
  for (auto fn : module.getOps<func::FuncOp>()) {
    if (!fn->hasAttr("llvm.emit_c_interface"))
      continue;
    std::optional<FunctionSpec> spec = specOf(fn, error);
    if (!spec)
      return std::nullopt;
    specs.push_back(std::move(*spec));
  }
  if (specs.empty()) {
    error = "the module has no function with llvm.emit_c_interface to call";
    return std::nullopt;
  }
  return specs;
}

DialectRegistry fullRegistry() {
  DialectRegistry registry;
  registerAllDialects(registry);
  registerAllExtensions(registry);
  registerAllToLLVMIRTranslations(registry);
  registerAllMRopeDialects(registry);
  return registry;
}

/// `source` parsed and verified in a fresh context with every dialect,
/// extension and translation; a null `module` when it does not parse, with
/// the diagnostics in `error`.
struct ParsedModule {
  MLIRContext context{fullRegistry(), MLIRContext::Threading::DISABLED};
  DiagnosticCollector diagnostics{context};
  OwningOpRef<ModuleOp> module;

  ParsedModule(const std::string &source, std::string &error)
      : module(
            parseSourceString<ModuleOp>(source, &context, "mrope-jit-input")) {
    if (!module)
      error = diagnostics.message("the module does not parse or verify");
  }
};
} // namespace

std::optional<std::vector<FunctionSpec>>
JitModule::signatures(const std::string &source, std::string &error) {
  ParsedModule parsed(source, error);
  if (!parsed.module)
    return std::nullopt;
  return specsOf(*parsed.module, error);
}

std::unique_ptr<JitModule> JitModule::compile(const std::string &source,
                                              const JitOptions &options,
                                              std::string &error) {
  initializeOnce();
  ParsedModule parsed(source, error);
  if (!parsed.module)
    return nullptr;
  OwningOpRef<ModuleOp> &module = parsed.module;
  DiagnosticCollector &diagnostics = parsed.diagnostics;

  std::unique_ptr<JitModule> jit(new JitModule());
  std::optional<std::vector<FunctionSpec>> specs = specsOf(*module, error);
  if (!specs)
    return nullptr;
  jit->functionSpecs = std::move(*specs);

  PassManager pm(&parsed.context);
  std::vector<std::string> libPaths = {options.runtimeLibDir +
                                       "/libmlir_c_runner_utils.so"};
  if (options.target == JitTarget::CUDA) {
    GPUPipelineOptions gpu;
    gpu.chip = options.cudaChip;
    gpu.features = options.cudaFeatures;
    gpu.format = "isa";
    buildMRopeGPUPipeline(pm, gpu);
    if (failed(pm.run(*module))) {
      error = diagnostics.message("lowering with mrope-gpu-pipeline failed");
      return nullptr;
    }
    libPaths.push_back(options.cudaRuntimeLib);
  } else {
    CPUPipelineOptions cpu;
    cpu.threads = options.threads;
    cpu.attentionTiles = options.attentionTiles;
    cpu.avx512BF16 = options.avx512BF16;
    buildMRopeCPUPipeline(pm, cpu);
    if (failed(pm.run(*module))) {
      error = diagnostics.message("lowering with mrope-cpu-pipeline failed");
      return nullptr;
    }
    if (options.threads)
      libPaths.push_back(options.runtimeLibDir + "/libmlir_async_runtime.so");
  }
  auto transformer = makeOptimizingTransformer(options.optLevel, 0, nullptr);
  std::vector<llvm::StringRef> libs(libPaths.begin(), libPaths.end());
  ExecutionEngineOptions engineOptions;
  engineOptions.transformer = transformer;
  engineOptions.jitCodeGenOptLevel =
      static_cast<llvm::CodeGenOptLevel>(std::min(options.optLevel, 3u));
  engineOptions.sharedLibPaths = libs;
  auto engine = ExecutionEngine::create(*module, engineOptions);
  if (!engine) {
    error = "JIT compilation failed: " + llvm::toString(engine.takeError());
    return nullptr;
  }
  jit->engine = std::move(*engine);
  // A CUDA module loads its kernels in a global constructor: run it now, so
  // that a module that cannot load fails when it is compiled (the runtime
  // reports why) rather than at its first call.
  if (options.target == JitTarget::CUDA)
    jit->engine->initialize();
  jit->usesAsyncRuntime = options.target == JitTarget::CPU && options.threads;
  return jit;
}

const FunctionSpec *JitModule::lookup(const std::string &name) const {
  for (const FunctionSpec &spec : functionSpecs)
    if (spec.name == name)
      return &spec;
  return nullptr;
}

bool JitModule::invoke(const std::string &name,
                       const std::vector<void *> &buffers, std::string &error) {
  const FunctionSpec *spec = lookup(name);
  if (!spec) {
    error = "no callable function @" + name;
    return false;
  }
  if (buffers.size() != spec->arguments.size()) {
    error = "@" + name + " takes " + std::to_string(spec->arguments.size()) +
            " arguments, got " + std::to_string(buffers.size());
    return false;
  }
  // A ranked memref descriptor is {allocated, aligned, offset, sizes[rank],
  // strides[rank]}, all 8-byte words on 64-bit hosts.
  static_assert(sizeof(void *) == sizeof(int64_t), "64-bit hosts only");
  std::vector<std::vector<int64_t>> descriptors;
  descriptors.reserve(buffers.size());
  for (auto [buffer, arg] : llvm::zip(buffers, spec->arguments)) {
    size_t rank = arg.shape.size();
    std::vector<int64_t> words(3 + 2 * rank);
    words[0] = words[1] = reinterpret_cast<int64_t>(buffer);
    int64_t stride = 1;
    for (size_t d = rank; d-- > 0;) {
      words[3 + d] = arg.shape[d];
      words[3 + rank + d] = stride;
      stride *= arg.shape[d];
    }
    descriptors.push_back(std::move(words));
  }
  // The C interface takes a pointer to each descriptor; the packed wrapper
  // takes a pointer to each of those arguments.
  std::vector<void *> descriptorPointers, packed;
  for (std::vector<int64_t> &words : descriptors)
    descriptorPointers.push_back(words.data());
  for (void *&pointer : descriptorPointers)
    packed.push_back(&pointer);
  if (llvm::Error failure =
          engine->invokePacked("_mlir_ciface_" + name, packed)) {
    error = llvm::toString(std::move(failure));
    return false;
  }
  return true;
}

double mlir::mrope::attentionScalingOf(const std::string &scaling,
                                       std::string &error) {
  MLIRContext context(MLIRContext::Threading::DISABLED);
  context.loadDialect<MRopeDialect>();
  DiagnosticCollector diagnostics(context);
  std::string spelled = llvm::StringRef(scaling).starts_with("#mrope.scaling")
                            ? scaling
                            : "#mrope.scaling" + scaling;
  auto attr = dyn_cast_or_null<ScalingAttr>(parseAttribute(spelled, &context));
  if (!attr) {
    error = diagnostics.message("invalid scaling " + scaling);
    return 0.0;
  }
  return freq::attentionScaling(attr.toParams());
}
