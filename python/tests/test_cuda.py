"""mrope.cuda: modules compiled for CUDA devices, called from Python.

Without a GPU the host side runs against the project's CUDA driver test
double (test/lib/FakeCudaDriver.cpp, selected with $MROPE_CUDA_DRIVER): it
checks what a driver checks -- the module's target against the device,
launch limits, the shared-memory opt-in, kernel parameters that are device
allocations -- and logs every call, but runs no kernel. Each scenario runs
in its own interpreter: the runtime opens the driver once per process.

On a machine with a GPU and CUDA torch, the last tests compare the device
results with the host path's (skipped elsewhere).
"""

import os
import subprocess
import sys
import textwrap

import pytest

from conftest import PACKAGE_DIR, ROOT

FAKE_DRIVER = os.environ.get(
    "MROPE_FAKE_CUDA_DRIVER", os.path.join(ROOT, "build", "lib", "libmrope_fake_cuda_driver.so"))

needs_fake_driver = pytest.mark.skipif(
    not os.path.exists(FAKE_DRIVER) or
    not os.path.exists(os.path.join(PACKAGE_DIR, "mrope", "libmrope_cuda_runtime.so")),
    reason="no CUDA runtime or driver test double in this build (cuda.h not found)")

# Device arrays for the scenarios: memory from the runtime's own allocator
# (mgpuMemAlloc, so device addresses of the driver in use), exposed through
# __cuda_array_interface__ as CuPy or Numba arrays would be.
PRELUDE = """
import ctypes, sys
import numpy as np
import mrope
from mrope import cuda, ir

lib = cuda._library()
lib.mgpuMemAlloc.restype = ctypes.c_void_p
lib.mgpuMemAlloc.argtypes = [ctypes.c_uint64, ctypes.c_void_p, ctypes.c_bool]
lib.mgpuMemFree.argtypes = [ctypes.c_void_p, ctypes.c_void_p]


class DeviceArray:
    def __init__(self, shape, dtype, strides=None):
        self.nbytes = int(np.prod(shape)) * np.dtype(dtype).itemsize
        self.address = lib.mgpuMemAlloc(self.nbytes, None, False)
        self.__cuda_array_interface__ = {
            "shape": tuple(shape), "typestr": np.dtype(dtype).str, "strides": strides,
            "data": (self.address, False), "version": 3}


def rotary_source(q_shape=(1, 4, 8, 128), k_shape=(1, 2, 8, 128)):
    return ir.rotary_function(mrope.RopeConfig(), "bhsd", q_shape, k_shape,
                              (3, q_shape[0], q_shape[2]), "bf16", False, "reference", 1.0,
                              None)


def rotary_arrays(q_shape=(1, 4, 8, 128), k_shape=(1, 2, 8, 128)):
    return (DeviceArray(q_shape, np.uint16), DeviceArray(k_shape, np.uint16),
            DeviceArray((3, q_shape[0], q_shape[2]), np.int64))
"""


# A GPU host without LLVM/MLIR: the native extension cannot be imported.
WITHOUT_EXTENSION = "import sys\nsys.modules['mrope._mrope'] = None\n"


def run_scenario(tmp_path, body, prelude="", **env):
    """Runs prelude + PRELUDE + body in a fresh interpreter against the fake
    driver; returns (completed process, trace lines)."""
    trace = tmp_path / "trace.txt"
    if trace.exists():
        trace.unlink()
    environment = dict(os.environ, MROPE_CUDA_DRIVER=FAKE_DRIVER, FAKE_CUDA_TRACE=str(trace),
                       PYTHONPATH=PACKAGE_DIR)
    environment.update(env)
    script = prelude + PRELUDE + textwrap.dedent(body)
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         env=environment, timeout=300)
    lines = trace.read_text().splitlines() if trace.exists() else []
    return run, lines


def launches(lines, kernel):
    return [line for line in lines if line.startswith(f"fake-cuda: cuLaunchKernel {kernel} ")]


@needs_fake_driver
def test_rotary_module_launches_on_the_arrays(tmp_path):
    run, lines = run_scenario(tmp_path, """
        q, k, positions = rotary_arrays()
        module = cuda.compile(rotary_source())
        print(module.chip, sorted(module.functions))
        module.call("rotary", q, k, positions)
        cuda.synchronize()
        print("ok")
    """)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["sm_90a", "['rotary']", "ok"]
    # Kernels go as PTX for the device's architecture (capability 9.0: sm_90a).
    assert "fake-cuda: cuModuleLoadData ptx sm_90a entries=mrope_apply_contiguous" in lines
    (launch,) = launches(lines, "mrope_apply_contiguous")
    # 8 tokens x 8 channel groups (64 pairs, 8 per 16-byte bf16 vector) x 4
    # head slices (decode-sized: one per q head) = 256 threads, one block.
    assert " grid=1x1x1 block=256x1x1 smem=0 " in launch
    # The kernel reads the caller's buffers (allocations 2, 0 and 1:
    # positions, q, k) through their memref descriptors.
    params = launch.split("params=[")[1].rstrip("]").split()
    assert params[:9] == ["dev2+0", "dev2+0", "0", "3", "1", "8", "8", "8", "1"]
    assert params[9:20] == ["dev0+0", "dev0+0", "0", "1", "4", "8", "128", "4096", "1024",
                            "128", "1"]
    assert params[20:22] == ["dev1+0", "dev1+0"]


@needs_fake_driver
@pytest.mark.parametrize("capability, chip", [("9.0", "sm_90a"), ("8.0", "sm_80"),
                                              ("8.9", "sm_89")])
def test_kernels_compile_for_the_device(tmp_path, capability, chip):
    run, lines = run_scenario(tmp_path, """
        module = cuda.compile(rotary_source())
        module.call("rotary", *rotary_arrays())
        cuda.synchronize()
        print(module.chip)
    """, FAKE_CUDA_CAPABILITY=capability)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == chip
    assert f"fake-cuda: cuModuleLoadData ptx {chip} entries=mrope_apply_contiguous" in lines


@needs_fake_driver
def test_unsupported_device_and_wrong_chip(tmp_path):
    run, _ = run_scenario(tmp_path, """
        try:
            cuda.compile(rotary_source())
        except mrope.GPUError as e:
            print("capability:", e)
    """, FAKE_CUDA_CAPABILITY="7.5")
    assert run.returncode == 0, run.stderr
    assert "compute capability 7.5; the kernels need 8.0 or later" in run.stdout
    # sm_90a code does not load on an sm_80 device: the driver's JIT log is
    # in the error.
    run, _ = run_scenario(tmp_path, """
        try:
            cuda.compile(rotary_source(), chip="sm_90a")
        except mrope.GPUError as e:
            print("load:", e)
    """, FAKE_CUDA_CAPABILITY="8.0")
    assert run.returncode == 0, run.stderr
    assert "load: loading the compiled module: cuModuleLoadDataEx (PTX JIT) failed: " \
        "CUDA_ERROR_INVALID_PTX" in run.stdout
    assert "PTX JIT log:\nptxas fatal: PTX for sm_90a does not run on a device of compute " \
        "capability 8.0" in run.stdout


@needs_fake_driver
def test_driver_errors_raise_and_the_process_goes_on(tmp_path):
    run, lines = run_scenario(tmp_path, """
        module = cuda.compile(rotary_source())
        arrays = rotary_arrays()
        try:
            module.call("rotary", *arrays)
        except mrope.GPUError as e:
            print("first:", e)
        module.call("rotary", *arrays)   # the error was taken: this one runs
        cuda.synchronize()
        print("second ok")
    """, FAKE_CUDA_FAIL="cuLaunchKernel")
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == [
        "first: @rotary: cuLaunchKernel failed: CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES (too many "
        "resources requested for launch)", "second ok"]
    assert len(launches(lines, "mrope_apply_contiguous")) == 1


@needs_fake_driver
def test_a_fault_is_raised_at_the_next_synchronization(tmp_path):
    # q's memory is freed before the call: the kernel reads an address no
    # allocation holds, which the driver reports when the work is waited for.
    run, lines = run_scenario(tmp_path, """
        module = cuda.compile(rotary_source())
        q, k, positions = rotary_arrays()
        lib.mgpuMemFree(q.address, None)
        cuda.synchronize()
        module.call("rotary", q, k, positions)
        print("launched")
        try:
            cuda.synchronize()
        except mrope.GPUError as e:
            print("sync:", e)
    """)
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == [
        "launched", "sync: synchronize: cuCtxSynchronize failed: CUDA_ERROR_ILLEGAL_ADDRESS "
        "(an illegal memory access was encountered)"]
    assert "params=[dev2+0 dev2+0 0 3 1 8 8 8 1 unmapped" in launches(
        lines, "mrope_apply_contiguous")[0]


@needs_fake_driver
@pytest.mark.parametrize("env, message", [
    ({"MROPE_CUDA_DRIVER": "/nonexistent/libcuda.so.1"},
     "cannot load the NVIDIA driver library /nonexistent/libcuda.so.1 (no NVIDIA GPU driver "
     "on this machine?)"),
    ({"FAKE_CUDA_DEVICES": "0"}, "no CUDA device found"),
    ({"FAKE_CUDA_FAIL": "cuInit"}, "cuInit (no usable NVIDIA GPU?) failed: CUDA_ERROR_NO_DEVICE"),
    ({"MROPE_CUDA_DEVICE": "3"}, "device ordinal 3 out of range: 1 device(s)"),
])
def test_no_usable_device(tmp_path, env, message):
    # Reported on every use, never by ending the interpreter.
    run, _ = run_scenario(tmp_path, """
        for attempt in range(2):
            try:
                cuda.compile(rotary_source())
            except mrope.GPUError as e:
                print(e)
        print("alive")
    """, **env)
    assert run.returncode == 0, run.stderr
    out = run.stdout.splitlines()
    assert len(out) == 3 and out[2] == "alive", run.stdout
    for line in out[:2]:
        assert line.startswith("CUDA device: " + message), line


@needs_fake_driver
def test_arguments_are_checked(tmp_path):
    run, lines = run_scenario(tmp_path, """
        module = cuda.compile(rotary_source())
        q, k, positions = rotary_arrays()
        bad = [
            (np.zeros((1, 4, 8, 128), np.uint16), k, positions),   # host memory
            (DeviceArray((1, 4, 8, 64), np.uint16), k, positions),  # shape
            (DeviceArray((1, 4, 8, 128), np.float32), k, positions),  # element type
            (DeviceArray((1, 4, 8, 128), np.uint16, strides=(8192, 2048, 256, 4)), k,
             positions),  # not C-contiguous
            (q, k),  # count
        ]
        for arrays in bad:
            try:
                module.call("rotary", *arrays)
            except mrope.InputError as e:
                print(e)
    """)
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == [
        "@rotary argument 0: expected a C-contiguous CUDA array of shape (1, 4, 8, 128) "
        "(bf16), got ndarray (host memory?)",
        "@rotary argument 0: expected a C-contiguous CUDA array of shape (1, 4, 8, 128) "
        "(bf16) (typestr <u2), got typestr <u2, shape (1, 4, 8, 64)",
        "@rotary argument 0: expected a C-contiguous CUDA array of shape (1, 4, 8, 128) "
        "(bf16) (typestr <u2), got typestr <f4, shape (1, 4, 8, 128)",
        "@rotary argument 0: expected a C-contiguous CUDA array of shape (1, 4, 8, 128) "
        "(bf16) (typestr <u2), got typestr <u2, shape (1, 4, 8, 128), not C-contiguous",
        "@rotary takes 3 arrays, got 2",
    ]
    assert not launches(lines, "mrope_apply_contiguous")


# Two stages of the staged key/value blocks: bf16, 64 keys and 64 values in
# rows of 128 + 8: 69,632 bytes; f32 (3xTF32), 32 keys in rows of 128 + 8
# floats and 32 values in rows of 128 + 4: 2 x (17408 + 16896) = 68,608. Both
# above the 48 KiB a kernel gets without opting in.
@needs_fake_driver
@pytest.mark.parametrize("element, dtype, shared", [("bf16", "np.uint16", 69632),
                                                     ("f32", "np.float32", 68608)])
def test_attention_kernel_opts_in_to_its_shared_memory(tmp_path, element, dtype, shared):
    run, lines = run_scenario(tmp_path, f"""
        source = ir.attention_function((1, 4, 128, 128), (1, 2, 128, 128), "{element}",
                                       "bhsd", True, None)
        module = cuda.compile(source)
        arrays = [DeviceArray(s, {dtype}) for s in
                  ((1, 4, 128, 128), (1, 2, 128, 128), (1, 2, 128, 128), (1, 4, 128, 128))]
        module.call("attention", *arrays)
        cuda.synchronize()
        print("ok")
    """)
    assert run.returncode == 0, run.stderr
    opt_in = f"fake-cuda: cuFuncSetAttribute mrope_attention max dynamic shared = {shared}"
    assert opt_in in lines
    (launch,) = launches(lines, "mrope_attention")
    assert lines.index(opt_in) < lines.index(launch)
    # 64-row tiles of (head of the group, token) rows: 2 x 128 / 64 = 4
    # tiles, x 2 KV heads x 1 batch entry; 4 warps.
    assert f" grid=4x2x1 block=128x1x1 smem={shared} " in launch


@needs_fake_driver
def test_calls_are_enqueued_on_the_given_stream(tmp_path):
    # A stream of the caller's (as torch's current stream would be): the
    # launch goes there and the call returns without waiting; the work runs
    # when the caller synchronizes. Without a stream: the legacy default
    # stream (0), not waited for either.
    run, lines = run_scenario(tmp_path, f"""
        module = cuda.compile(rotary_source())  # (initializes the driver)
        driver = ctypes.CDLL({FAKE_DRIVER!r})
        stream = ctypes.c_void_p()
        assert driver.cuStreamCreate(ctypes.byref(stream), 0) == 0
        arrays = rotary_arrays()
        module.call("rotary", *arrays, stream=stream.value)
        print("returned")
        module.call("rotary", *arrays)
        cuda.synchronize()
    """)
    assert run.returncode == 0, run.stderr
    first, second = launches(lines, "mrope_apply_contiguous")
    assert first.endswith(" stream=1") and second.endswith(" stream=0")
    between = lines[lines.index(first):lines.index("fake-cuda: cuCtxSynchronize")]
    assert not [line for line in between if "Synchronize" in line]


@needs_fake_driver
def test_position_ids_scan_on_the_device(tmp_path):
    # mrope.position_ids' function for CUDA input_ids (the Python package
    # calls it so): two sequences of 40 tokens, a mask, 2 image and 1 video
    # grids.
    run, lines = run_scenario(tmp_path, """
        config = mrope.RopeConfig()  # Qwen2-VL's design
        module = cuda.compile(ir.position_ids_function(config, 2, 40, True, 2, 1, None))
        arrays = [DeviceArray(s, np.int64) for s in
                  ((2, 40), (2, 40), (2, 3), (1, 3), (3, 2, 40), (2, 1), (2,), (4,))]
        module.call("position_ids", *arrays)
        cuda.synchronize()
        print("ok")
    """)
    assert run.returncode == 0, run.stderr
    # The positions' fill, then the three passes over rows (blocks per row,
    # the scans, the status), each reading the caller's buffers: input_ids
    # is allocation 0. Nothing is copied: every output, the status too, is
    # written by a kernel into the caller's buffer.
    kernels = [line.split()[2] for line in lines
               if line.startswith("fake-cuda: cuLaunchKernel")]
    assert kernels == ["position_ids_kernel"] * 4, kernels
    for launch in launches(lines, "position_ids_kernel")[1:3]:
        assert "dev0+0" in launch.split("params=[")[1]
    assert not [line for line in lines if "cuMemcpy" in line]


@needs_fake_driver
def test_decode_positions_run_as_a_gpu_loop(tmp_path):
    run, lines = run_scenario(tmp_path, """
        module = cuda.compile(ir.decode_positions_function(4, 2, "i64"))
        nxt, out = DeviceArray((4,), np.int64), DeviceArray((3, 4, 2), np.int64)
        module.call("decode_positions", nxt, out)
        cuda.synchronize()
        print("ok")
    """)
    assert run.returncode == 0, run.stderr
    # One thread per position: 3 rows x 4 sequences x 2 tokens, from the
    # caller's next positions (allocation 0); no host copy anywhere.
    (launch,) = launches(lines, "decode_positions_kernel")
    assert " grid=1x1x1 block=24x1x1 smem=0 " in launch
    params = launch.split("params=[")[1].rstrip("]").split()
    assert params[:2] == ["dev0+0", "dev0+0"]
    # The kernel writes the caller's output (allocation 1) itself: its
    # `restrict` destination lets the pipeline drop the temporary and the
    # device-to-device copy (empty tensor elimination); no device memory
    # of mrope's own.
    assert params[5:7] == ["dev1+0", "dev1+0"]
    assert not [line for line in lines if "cuMemcpy" in line]
    assert [line for line in lines if "alloc dev" in line] == [
        "fake-cuda: alloc dev0 32 bytes", "fake-cuda: alloc dev1 192 bytes"]


@needs_fake_driver
def test_runtime_length_is_computed_on_the_device(tmp_path):
    run, lines = run_scenario(tmp_path, """
        config = mrope.RopeConfig(
            scaling="<kind = dynamic, factor = 4.0, max_position_embeddings = 4096>")
        source = ir.rotary_function(config, "bhsd", (1, 4, 8, 128), (1, 2, 8, 128), (3, 1, 8),
                                    "bf16", False, "reference", 1.0, "positions")
        q, k, positions = rotary_arrays()
        module = cuda.compile(source)
        module.call("rotary", q, k, positions)
        cuda.synchronize()
        print("ok")
    """)
    assert run.returncode == 0, run.stderr
    # Dynamic NTK's length, max(positions) + 1, never reaches the host: a
    # reduction kernel (24 positions, 16 per thread: 2 threads) writes it to
    # a device temporary (allocation 3) after a one-thread kernel sets the
    # identity; the frequencies' kernel (64 pairs) reads it and writes the
    # frequencies (allocation 4) the rotation kernel reads. No copy, no
    # synchronization before the caller's; both temporaries freed.
    kernels = [line.split()[2] + " " + line.split()[4]
               for line in lines if line.startswith("fake-cuda: cuLaunchKernel")]
    assert kernels == ["rotary_kernel block=1x1x1", "rotary_kernel block=2x1x1",
                       "rotary_kernel block=64x1x1", "mrope_apply_contiguous block=256x1x1"]
    fill, reduction, freqs, rotary = [line.split("params=[")[1].split("]")[0].split()
                                      for line in lines if "cuLaunchKernel" in line]
    assert fill[0] == "dev3+0" and reduction[0] == "dev2+0" and reduction[9] == "dev3+0"
    assert freqs[0] == "dev3+0" and freqs[3] == "dev4+0" and rotary[0] == "dev4+0"
    assert not [line for line in lines if "cuMemcpy" in line or "StreamSynchronize" in line]
    assert "fake-cuda: free dev3" in lines and "fake-cuda: free dev4" in lines
    assert lines[-1] == "fake-cuda: exit: 3 live allocations, 0 operations never synchronized"


@needs_fake_driver
def test_repeated_calls_do_not_leak_device_memory(tmp_path):
    run, lines = run_scenario(tmp_path, """
        source = ir.cos_sin_function(mrope.RopeConfig(), (3, 1, 8), [1, 8, 128], "f32", 1.0,
                                     None)
        positions = DeviceArray((3, 1, 8), np.int64)
        cos, sin = DeviceArray((1, 8, 128), np.float32), DeviceArray((1, 8, 128), np.float32)
        module = cuda.compile(source)
        for _ in range(5):
            module.call("cos_sin", positions, cos, sin)
        cuda.synchronize()
        print("ok")
    """)
    assert run.returncode == 0, run.stderr
    # The portable cos/sin lowering's temporaries are freed after each
    # call: only the caller's three arrays are alive at exit.
    allocations = [line for line in lines if line.startswith("fake-cuda: alloc ")]
    frees = [line for line in lines if line.startswith("fake-cuda: free ")]
    assert len(allocations) > 3 and len(frees) == len(allocations) - 3
    assert lines[-1] == "fake-cuda: exit: 3 live allocations, 0 operations never synchronized"


DYNAMIC_ROTARY = """
config = mrope.RopeConfig(
    scaling="<kind = dynamic, factor = 4.0, max_position_embeddings = 4096>")
dynamic_source = ir.rotary_function(config, "bhsd", (1, 4, 8, 128), (1, 2, 8, 128),
                                    (3, 1, 8), "bf16", False, "reference", 1.0, "positions")
"""


@needs_fake_driver
def test_exported_modules_run_without_the_extension(tmp_path):
    # Exported here for sm_90a (no GPU needed), then loaded by an
    # interpreter that cannot import the native extension: the same
    # kernels, launched with the same parameters, as the JIT path.
    kernels = tmp_path / "kernels"
    run, _ = run_scenario(tmp_path, DYNAMIC_ROTARY + """
for text in (rotary_source(), dynamic_source):
    print(os.path.basename(cuda.export(text, sys.argv[1], chip="sm_90a")))
""".replace("sys.argv[1]", repr(str(kernels))), prelude="import os\n")
    assert run.returncode == 0, run.stderr
    assert sorted(os.listdir(kernels)) == sorted(
        name[:-3] + ext for name in run.stdout.split() for ext in (".so", ".json"))
    body = DYNAMIC_ROTARY + """
q, k, positions = rotary_arrays()
for text in (rotary_source(), dynamic_source):
    cuda.compile(text).call("rotary", q, k, positions)
cuda.synchronize()
print("extension:", mrope.runtime._mrope is not None)
"""
    jit, jit_lines = run_scenario(tmp_path, body)
    assert jit.returncode == 0, jit.stderr
    aot, aot_lines = run_scenario(tmp_path, body, prelude=WITHOUT_EXTENSION,
                                  MROPE_CUDA_KERNELS=str(kernels))
    assert aot.returncode == 0, aot.stderr
    # The exported library unloads its GPU modules from global destructors,
    # after the driver's exit (the fake one models the real driver being
    # deinitialized by then): tolerated, nothing reported, no crash (the
    # fake driver's state used to be destroyed by then).
    after_exit = aot_lines[[line.split(":")[1] for line in aot_lines].index(" exit") + 1:]
    assert after_exit and set(after_exit) == {
        "fake-cuda: cuModuleUnload after exit: deinitialized"}
    assert not aot.stderr
    assert jit.stdout.split() == ["extension:", "True"]
    assert aot.stdout.split() == ["extension:", "False"]

    def work(lines):
        return [line for line in lines
                if line.split()[1] in ("cuModuleLoadData", "cuLaunchKernel", "alloc", "free")]
    assert len(launches(aot_lines, "mrope_apply_contiguous")) == 2
    assert work(aot_lines) == work(jit_lines)


@needs_fake_driver
def test_without_the_extension_a_module_not_exported_is_a_clear_error(tmp_path):
    run, _ = run_scenario(tmp_path, """
        try:
            cuda.compile(rotary_source())
        except mrope.CompileError as e:
            print(e)
    """, prelude=WITHOUT_EXTENSION, MROPE_CUDA_KERNELS=str(tmp_path))
    assert run.returncode == 0, run.stderr
    assert "the mrope native extension is not available" in run.stdout
    assert f"no module exported for sm_90a in $MROPE_CUDA_KERNELS ({tmp_path})" in run.stdout
    assert "mrope.cuda.export" in run.stdout


# -- On a GPU -----------------------------------------------------------------

def _torch_cuda():
    try:
        import torch
    except ImportError:
        return None
    return torch if torch.cuda.is_available() else None


needs_gpu = pytest.mark.skipif(_torch_cuda() is None, reason="needs CUDA torch and a GPU")


def _randn_bf16(torch, seed, *shapes):
    gen = torch.Generator().manual_seed(seed)
    return [torch.randn(*shape, generator=gen).to(torch.bfloat16) for shape in shapes]


@needs_gpu
@pytest.mark.parametrize("allocation", ["<contiguous, section = [16, 24, 24]>",
                                        "<interleaved, section = [24, 20, 20]>"])
def test_apply_rotary_on_the_gpu_matches_the_host(allocation):
    import mrope
    torch = _torch_cuda()
    config = mrope.RopeConfig(allocation=allocation)
    gen = torch.Generator().manual_seed(0)
    q = torch.randn(2, 32, 40, 128, generator=gen).to(torch.bfloat16)
    k = torch.randn(2, 8, 40, 128, generator=gen).to(torch.bfloat16)
    positions = torch.randint(0, 5000, (3, 2, 40), generator=gen)
    q_host, k_host = mrope.apply_rotary(config, q, k, positions)
    q_dev, k_dev = mrope.apply_rotary(config, q.cuda(), k.cuda(), positions.cuda())
    torch.cuda.synchronize()
    # The kernel computes the host's bits (PyTorch-on-CPU's cos/sin).
    assert torch.equal(q_dev.cpu(), q_host) and torch.equal(k_dev.cpu(), k_host)


@needs_gpu
def test_positions_and_tables_on_the_gpu_match_the_host():
    import mrope
    torch = _torch_cuda()
    ids = torch.tensor([[1, 151652, 151655, 151655, 151655, 151655, 151653, 7]])
    grids = torch.tensor([[1, 4, 4]])
    host = mrope.position_ids(mrope.RopeConfig(), ids, image_grid_thw=grids)
    dev = mrope.position_ids(mrope.RopeConfig(), ids.cuda(), image_grid_thw=grids)
    assert dev.position_ids.is_cuda
    assert torch.equal(dev.position_ids.cpu(), torch.from_numpy(host.position_ids))
    assert torch.equal(dev.rope_deltas.cpu(), torch.from_numpy(host.rope_deltas))
    # Bad input raises the host's error from the device's status.
    with pytest.raises(mrope.InputError, match="sequence 0") as on_device:
        mrope.position_ids(mrope.RopeConfig(), ids.cuda(), image_grid_thw=grids[:, :2] * 0 + 3)
    with pytest.raises(mrope.InputError, match="sequence 0") as on_host:
        mrope.position_ids(mrope.RopeConfig(), ids, image_grid_thw=grids[:, :2] * 0 + 3)
    assert str(on_device.value) == str(on_host.value)
    nxt = torch.tensor([7, 0, 4096])
    assert torch.equal(mrope.decode_positions(nxt.cuda(), 3).cpu(),
                       torch.from_numpy(mrope.decode_positions(nxt, 3)))
    config = mrope.RopeConfig(allocation="<interleaved, section = [24, 20, 20]>")
    positions = torch.randint(0, 30000, (3, 2, 50), generator=torch.Generator().manual_seed(2))
    cos, sin = mrope.cos_sin(config, positions)
    cos_dev, sin_dev = mrope.cos_sin(config, positions.cuda())
    assert torch.equal(cos_dev.cpu(), torch.from_numpy(cos))
    assert torch.equal(sin_dev.cpu(), torch.from_numpy(sin))


@needs_gpu
def test_attention_on_the_gpu_matches_the_host():
    import mrope
    torch = _torch_cuda()
    q, k, v = _randn_bf16(torch, 1, (1, 8, 200, 128), (1, 2, 200, 128), (1, 2, 200, 128))
    host = mrope.attention(q, k, v, causal=True).float()
    dev = mrope.attention(q.cuda(), k.cuda(), v.cuda(), causal=True).cpu().float()
    # The GPU rounds P to bf16 before P V (as flash-attention kernels do),
    # the host keeps it in f32: a few bf16 ulps of |out| <= max |v|.
    assert torch.max(torch.abs(dev - host)).item() <= 4 * 2.0 ** -8 * torch.max(torch.abs(v)).item()


@needs_gpu
def test_f32_attention_on_the_gpu_matches_the_host():
    import mrope
    torch = _torch_cuda()
    gen = torch.Generator().manual_seed(3)
    q, k, v = (torch.randn(shape, generator=gen) for shape in
               ((1, 8, 200, 128), (1, 2, 200, 128), (1, 2, 200, 128)))
    host = mrope.attention(q, k, v, causal=True)
    dev = mrope.attention(q.cuda(), k.cuda(), v.cuda(), causal=True).cpu()
    # 3xTF32 keeps f32 accuracy: the f32 tolerance, 1e-4.
    assert torch.max(torch.abs(dev - host)).item() <= 1e-4


@needs_gpu
def test_runtime_length_scalings_on_the_gpu():
    import mrope
    torch = _torch_cuda()
    q, k = _randn_bf16(torch, 4, (1, 8, 64, 128), (1, 2, 64, 128))
    dynamic = mrope.RopeConfig(
        scaling="<kind = dynamic, factor = 4.0, max_position_embeddings = 4096>")
    # Below max_position_embeddings the base is not rescaled: the host's bits.
    positions = torch.randint(0, 4000, (3, 1, 64), generator=torch.Generator().manual_seed(5))
    host = mrope.apply_rotary(dynamic, q, k, positions)
    dev = mrope.apply_rotary(dynamic, q.cuda(), k.cuda(), positions.cuda())
    assert all(torch.equal(d.cpu(), h) for d, h in zip(dev, host))
    # Rescaled (length 20001, computed on the device): the base's powf is
    # libdevice's (within 4 ulps, CUDA's math-function table) instead of the
    # C library's (within 1): relative 5 * 2^-23 apart at most, which every
    # inv_freq <= 1 carries at most as is, so angles (positions <= 20000)
    # move by <= 20000 * 5 * 2^-23, plus a few ulps of rounding of cos/sin.
    positions[0, 0, 5] = 20000
    cos, sin = mrope.cos_sin(dynamic, positions)
    cos_dev, sin_dev = mrope.cos_sin(dynamic, positions.cuda())
    bound = 20000 * 5 * 2.0 ** -23 + 4 * 2.0 ** -24
    assert torch.max(torch.abs(cos_dev.cpu() - torch.from_numpy(cos))).item() <= bound
    assert torch.max(torch.abs(sin_dev.cpu() - torch.from_numpy(sin))).item() <= bound
    given = mrope.cos_sin(dynamic, positions.cuda(), seq_len=20001)
    assert torch.equal(given[0], cos_dev) and torch.equal(given[1], sin_dev)


def test_export_keys_name_the_compiler_build(monkeypatch):
    # The package's build id is the hash of the build's mrope-opt (written
    # when it is linked), and exported kernels are keyed by it: a package
    # from another build looks for other files instead of loading kernels
    # an older compiler made.
    import hashlib
    import mrope
    from mrope import cuda
    with open(mrope._build_config.MROPE_OPT, "rb") as f:
        assert cuda._build_id() == hashlib.sha256(f.read()).hexdigest()[:16]
    key = cuda._kernel_key("func.func @f() { return }", "sm_90a", "+ptx80")
    monkeypatch.setattr(cuda, "_build_id", lambda: "0" * 16)
    assert cuda._kernel_key("func.func @f() { return }", "sm_90a", "+ptx80") != key


@needs_fake_driver
def test_error_mode_is_per_thread(tmp_path):
    # The package records errors on every thread it calls the runtime from
    # (a second Python thread gets its GPUError too); a thread that never
    # called through the package keeps the runtime's default, errors end the
    # process -- C code sharing the runtime in this process is not switched
    # to recorded errors it would never take.
    run, _ = run_scenario(tmp_path, """
        import threading
        module = cuda.compile(rotary_source())
        arrays = rotary_arrays()

        def python_thread():
            try:
                module.call("rotary", *arrays)
            except mrope.GPUError as e:
                print("thread:", e, flush=True)

        def c_thread():
            lib.mgpuMemFree(12345, None)   # not an allocation
            print("not reached", flush=True)

        for target in (python_thread, c_thread):
            thread = threading.Thread(target=target)
            thread.start()
            thread.join()
        print("not reached either")
    """, FAKE_CUDA_FAIL="cuLaunchKernel")
    assert run.returncode == 1
    assert run.stdout.splitlines() == [
        "thread: @rotary: cuLaunchKernel failed: CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES (too many "
        "resources requested for launch)"]
    assert run.stderr.startswith("mrope CUDA runtime: cuMemFree")
