//===- MRopeExtension.cpp - the mrope._mrope Python extension -------------===//
//
// A thin nanobind layer over mrope::JitModule (compile IR for the host or a
// CUDA device, call its functions on NumPy buffers or device addresses) and
// the dialect's frequency math. The
// Python package (mrope/*.py) builds the IR and checks arguments with
// user-facing messages; the checks here keep bad calls from reaching the JIT.
//
//===----------------------------------------------------------------------===//

// Only the standard-typed runtime header: this file is compiled with RTTI
// and exceptions (nanobind needs both), LLVM and MLIR without.
#include "mrope/Runtime/JitModule.h"

#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/unique_ptr.h>
#include <nanobind/stl/vector.h>

#include <cstdint>

namespace nb = nanobind;
using namespace mlir::mrope;

namespace {

using Array = nb::ndarray<nb::c_contig, nb::device::cpu>;

[[noreturn]] void throwValueError(const std::string &message) {
  throw nb::value_error(message.c_str());
}

/// Whether a DLPack dtype can carry elements of the MLIR type `element`
/// (16-bit floats also travel as raw uint16/int16 bits).
bool dtypeMatches(nb::dlpack::dtype dtype, const ArgumentSpec &arg) {
  using Code = nb::dlpack::dtype_code;
  if (dtype.lanes != 1 || dtype.bits != arg.elementBytes * 8)
    return false;
  auto code = static_cast<Code>(dtype.code);
  const std::string &e = arg.elementType;
  if (e == "bf16")
    return code == Code::Bfloat || code == Code::UInt || code == Code::Int;
  if (e == "f16")
    return code == Code::Float || code == Code::UInt || code == Code::Int;
  if (e[0] == 'f')
    return code == Code::Float;
  if (e[0] == 'i' || e[0] == 'u' || e[0] == 's')
    return code == Code::Int || code == Code::UInt;
  return false;
}

std::string shapeString(const Array &array) {
  std::string s = "(";
  for (size_t d = 0; d < array.ndim(); ++d)
    s += (d ? ", " : "") + std::to_string(array.shape(d));
  return s + (array.ndim() == 1 ? ",)" : ")");
}

/// Calls `name` on `buffers` with the GIL released (the compiled code may
/// run on several threads); errors become ValueError.
void invokeWithoutGIL(JitModule &module, const std::string &name,
                      const std::vector<void *> &buffers) {
  std::string error;
  bool ok;
  {
    nb::gil_scoped_release release;
    ok = module.invoke(name, buffers, error);
  }
  if (!ok)
    throwValueError(error);
}

void invoke(JitModule &module, const std::string &name,
            std::vector<Array> arrays) {
  const FunctionSpec *spec = module.lookup(name);
  if (!spec)
    throwValueError("no callable function @" + name);
  if (arrays.size() != spec->arguments.size())
    throwValueError("@" + name + " takes " +
                    std::to_string(spec->arguments.size()) +
                    " arguments, got " + std::to_string(arrays.size()));
  std::vector<void *> buffers;
  for (size_t i = 0; i < arrays.size(); ++i) {
    const Array &array = arrays[i];
    const ArgumentSpec &arg = spec->arguments[i];
    bool shapeOk = array.ndim() == arg.shape.size();
    for (size_t d = 0; shapeOk && d < array.ndim(); ++d)
      shapeOk = static_cast<int64_t>(array.shape(d)) == arg.shape[d];
    if (!shapeOk || !dtypeMatches(array.dtype(), arg))
      throwValueError("@" + name + " argument " + std::to_string(i) +
                      ": expected " + arg.str() + ", got an array of shape " +
                      shapeString(array) + " and " +
                      std::to_string(array.dtype().bits) + "-bit elements");
    buffers.push_back(array.data());
  }
  invokeWithoutGIL(module, name, buffers);
}

/// Calls `name` on device buffers given by address (CUDA modules): the
/// Python layer has checked each against the argument's shape and type.
void invokeAddresses(JitModule &module, const std::string &name,
                     const std::vector<uintptr_t> &addresses) {
  std::vector<void *> buffers;
  for (uintptr_t address : addresses)
    buffers.push_back(reinterpret_cast<void *>(address));
  invokeWithoutGIL(module, name, buffers);
}

/// {name: [(element type, shape), ...]}.
nb::dict specsToDict(const std::vector<FunctionSpec> &specs) {
  nb::dict result;
  for (const FunctionSpec &fn : specs) {
    nb::list args;
    for (const ArgumentSpec &arg : fn.arguments)
      args.append(
          nb::make_tuple(arg.elementType, nb::tuple(nb::cast(arg.shape))));
    result[fn.name.c_str()] = args;
  }
  return result;
}

} // namespace

NB_MODULE(_mrope, m) {
  m.doc() = "mrope native extension: JIT-compile mrope IR and call it";

  nb::class_<JitModule>(m, "JitModule",
                        "A module lowered with mrope-cpu-pipeline (or "
                        "mrope-gpu-pipeline) whose host code is compiled "
                        "for this machine")
      .def_static(
          "compile",
          [](const std::string &source, bool threads, unsigned optLevel,
             const std::string &runtimeLibDir, const std::string &target,
             const std::string &cudaChip, const std::string &cudaFeatures,
             const std::string &cudaRuntimeLib) {
            JitOptions options;
            if (target == "cuda")
              options.target = JitTarget::CUDA;
            else if (target != "cpu")
              throwValueError("target must be 'cpu' or 'cuda', got '" + target +
                              "'");
            options.cudaChip = cudaChip;
            options.cudaFeatures = cudaFeatures;
            options.cudaRuntimeLib = cudaRuntimeLib;
            options.threads = threads;
            options.optLevel = optLevel;
            options.runtimeLibDir = runtimeLibDir;
            std::string error;
            std::unique_ptr<JitModule> module;
            {
              nb::gil_scoped_release release;
              module = JitModule::compile(source, options, error);
            }
            if (!module)
              throwValueError(error);
            return module;
          },
          nb::arg("source"), nb::arg("threads") = false,
          nb::arg("opt_level") = 3, nb::arg("runtime_lib_dir"),
          nb::arg("target") = "cpu", nb::arg("cuda_chip") = "sm_90a",
          nb::arg("cuda_features") = "+ptx80", nb::arg("cuda_runtime_lib") = "")
      .def_prop_ro(
          "functions",
          [](const JitModule &module) {
            return specsToDict(module.functions());
          },
          "{name: [(element type, shape), ...]} of the callable functions")
      .def("invoke", &invoke, nb::arg("name"), nb::arg("arrays"),
           "Calls a function with one C-contiguous array per argument "
           "(outputs are written in place)")
      .def("invoke_addresses", &invokeAddresses, nb::arg("name"),
           nb::arg("addresses"),
           "Calls a function of a CUDA module with one device buffer "
           "address per argument (checked by the caller)");

  m.def(
      "function_signatures",
      [](const std::string &source) {
        std::string error;
        std::optional<std::vector<FunctionSpec>> specs =
            JitModule::signatures(source, error);
        if (!specs)
          throwValueError(error);
        return specsToDict(*specs);
      },
      nb::arg("source"),
      "{name: [(element type, shape), ...]} of the callable functions of "
      "`source`, without compiling it");

  m.def(
      "attention_scaling",
      [](const std::string &scaling) {
        std::string error;
        double value = attentionScalingOf(scaling, error);
        if (!error.empty())
          throwValueError(error);
        return value;
      },
      nb::arg("scaling"), "The factor a #mrope.scaling applies to cos and sin");
}
