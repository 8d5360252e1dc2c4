# -*- Python -*-
# lit configuration for the mrope regression and integration tests.

import ctypes.util
import glob
import os
import shutil
import subprocess

import lit.formats
from lit.llvm import llvm_config
from lit.llvm.subst import ToolSubst

config.name = "MROPE"
config.test_format = lit.formats.ShTest(not llvm_config.use_lit_shell)
config.suffixes = [".mlir", ".test"]
config.excludes = ["Inputs", "golden", "lit.cfg.py", "lit.site.cfg.py", "CMakeLists.txt"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.mrope_obj_root, "test")

config.substitutions.append(("%PATH%", config.environment["PATH"]))
config.substitutions.append(("%shlibext", config.llvm_shlib_ext))
config.substitutions.append(("%mrope_src_root", config.mrope_src_root))
config.substitutions.append(("%mrope_obj_root", config.mrope_obj_root))
config.substitutions.append(("%python", config.python_executable))
config.substitutions.append(("%mlir_lib_dir", config.llvm_lib_dir))
config.substitutions.append(("%mrope_plugin", os.path.join(config.mrope_obj_root, "lib", "MRopePlugin" + config.llvm_shlib_ext)))
config.substitutions.append(("%golden", os.path.join(config.mrope_src_root, "test", "golden")))
config.substitutions.append((
    "%mrope_conform",
    f"{config.python_executable} {config.mrope_tools_dir}/mrope-conform"
    f" --mrope-opt {config.mrope_tools_dir}/mrope-opt"
    f" --mlir-opt {config.llvm_tools_dir}/mlir-opt"
    f" --mlir-runner {config.llvm_tools_dir}/mlir-runner"
    f" --lib-dir {config.llvm_lib_dir}"))

# lit scrubs the environment; the NVVM path needs to find the CUDA toolkit.
llvm_config.with_system_environment(["HOME", "CUDA_HOME", "CUDA_PATH", "ASAN_OPTIONS",
                                     "UBSAN_OPTIONS", "LSAN_OPTIONS"])
cuda_home = os.environ.get("CUDA_HOME", "/usr/local/cuda")
config.environment["CUDA_HOME"] = cuda_home

llvm_config.use_default_substitutions()

# The AddressSanitizer + UBSan build (scripts/sanitize.sh): our plugins cannot
# load into Debian's uninstrumented mlir-opt-22 (the sanitizer runtime must
# come first), so those tests declare `UNSUPPORTED: sanitizers`.
if config.mrope_sanitizers:
    config.available_features.add("sanitizers")
llvm_config.with_environment("PATH", config.llvm_tools_dir, append_path=True)

tool_dirs = [config.mrope_tools_dir, config.llvm_tools_dir]
tools = [
    ToolSubst("mrope-opt", unresolved="fatal"),
    ToolSubst("mrope-bench", unresolved="fatal"),
    ToolSubst("mrope-fuzz-ir", unresolved="fatal"),
    ToolSubst("mrope-torchmath-check", unresolved="fatal"),
    ToolSubst("mlir-opt", unresolved="ignore"),
    ToolSubst("mlir-runner", unresolved="ignore"),
    ToolSubst("mlir-translate", unresolved="ignore"),
    ToolSubst("llc", unresolved="ignore"),
]
llvm_config.add_tool_substitutions(tools, tool_dirs)

# Python packages installed by scripts/setup.sh into build/pyenv (pip).
pyenv_python = os.path.join(config.mrope_obj_root, "pyenv", "bin", "python")
# numpy (always installed there): the GPU warp emulator's tests.
if os.path.exists(pyenv_python) and subprocess.run(
        [pyenv_python, "-c", "import numpy"], capture_output=True).returncode == 0:
    config.available_features.add("numpy-python")
    config.substitutions.append(("%numpy_python", pyenv_python))
    config.substitutions.append(("%mrope_opt", os.path.join(config.mrope_tools_dir, "mrope-opt")))
iree_compile = os.path.join(config.mrope_obj_root, "pyenv", "bin", "iree-compile")
if os.path.exists(iree_compile) and subprocess.run(
        [pyenv_python, "-c", "import iree.runtime, numpy"],
        capture_output=True).returncode == 0:
    config.available_features.add("iree")
    config.substitutions.append(("%iree_python", pyenv_python))
    config.substitutions.append(("%iree_compile", iree_compile))
else:
    lit_config.note("IREE tests unsupported: no iree-base-compiler/runtime in "
                    + os.path.dirname(os.path.dirname(pyenv_python)))

# A Python with torch ($MROPE_TORCH_PYTHON, or python3 / Debian's
# /usr/bin/python3 with python3-torch) for mrope-bench's PyTorch peers;
# optional (the peers are skipped without it).
for candidate in ([os.environ["MROPE_TORCH_PYTHON"]] if "MROPE_TORCH_PYTHON" in os.environ
                  else ["python3", "/usr/bin/python3"]):
    path = shutil.which(candidate)
    if path and subprocess.run([path, "-c", "import torch, numpy"],
                               capture_output=True).returncode == 0:
        config.available_features.add("torch-python")
        config.substitutions.append(("%torch_python", path))
        break

# SLEEF, the vector math library PyTorch's CPU kernels call (Debian's
# libsleef3, installed by scripts/setup.sh): TorchMath.h is checked against it.
if ctypes.util.find_library("sleef"):
    config.available_features.add("libsleef")

# Another CPU, emulated: qemu-user and the target's C library and cross
# toolchain (gcc-aarch64-linux-gnu, installed by scripts/setup.sh), so that
# mrope-conform --target aarch64 can link and run what the CPU pipeline
# compiles for it.
if shutil.which("qemu-aarch64") and os.path.exists("/usr/aarch64-linux-gnu/lib/libc.so.6") \
        and glob.glob("/usr/lib/gcc-cross/aarch64-linux-gnu/*/crtbegin.o"):
    config.available_features.add("aarch64-emulation")

# Hardware and toolkit features that execution tests opt into.
ptxas = os.path.join(cuda_home, "bin", "ptxas")
if os.path.exists(ptxas):
    config.available_features.add("ptxas")
    config.substitutions.append(("%ptxas", ptxas))


# The project's mgpu* runtime (built where cuda.h is found).
cuda_runtime = os.path.join(config.mrope_obj_root, "lib",
                            "libmrope_cuda_runtime" + config.llvm_shlib_ext)
if os.path.exists(cuda_runtime):
    config.available_features.add("cuda-runtime")
    config.substitutions.append(("%mrope_cuda_runtime", cuda_runtime))

# The CUDA driver test double the runtime opens through $MROPE_CUDA_DRIVER
# (test/lib/FakeCudaDriver.cpp): host-side GPU tests without a GPU.
fake_cuda_driver = os.path.join(config.mrope_obj_root, "lib",
                                "libmrope_fake_cuda_driver" + config.llvm_shlib_ext)
if os.path.exists(fake_cuda_driver):
    config.available_features.add("fake-cuda-driver")
    config.substitutions.append(("%fake_cuda_driver", fake_cuda_driver))


def _has_cuda_device():
    smi = shutil.which("nvidia-smi")
    if not smi:
        return False
    try:
        out = subprocess.run([smi, "-L"], capture_output=True, text=True,
                             timeout=20)
    except (OSError, subprocess.SubprocessError):
        return False
    return out.returncode == 0 and "GPU" in out.stdout


if _has_cuda_device():
    config.available_features.add("cuda-device")
