"""The GPU pipeline's data-parallel loops -- mrope.decode_positions,
mrope.inv_freq, mrope.cos_sin and mrope.rotate, lowered to linalg and run as
GPU kernels by mrope-gpu-parallel-loops in device-buffer functions -- run in
the warp emulator (tools/mrope-gpu-emulate) and compared with the host
pipeline's results bit for bit (the host path is itself checked against the
golden data), and decode positions with their formula."""

import os
import subprocess
import sys

import numpy as np
import pytest

import mrope
from mrope import ir, runtime
from conftest import ROOT

MROPE_OPT = os.environ.get("MROPE_OPT", os.path.join(ROOT, "build", "bin", "mrope-opt"))
sys.path.insert(0, os.path.join(ROOT, "tools", "mrope-gpu-emulate"))
import warp_emulator as emu  # noqa: E402

# mrope-gpu-pipeline for device buffers, up to the outlined kernels the
# emulator runs (lib/Pipelines/Pipelines.cpp).
STAGE = ["--convert-mrope-to-gpu", "--convert-mrope-to-linalg",
         "--one-shot-bufferize=bufferize-function-boundaries "
         "function-boundary-type-conversion=identity-layout-map",
         "--mrope-gpu-parallel-loops",
         "--mrope-gpu-device-allocations", "--mrope-gpu-check-host-access",
         "--lower-affine",  # (in the pipeline: inside the outlined GPU module)
         "--gpu-kernel-outlining", "--symbol-dce", "--mlir-print-op-generic"]

pytestmark = pytest.mark.skipif(not os.path.exists(MROPE_OPT), reason="no mrope-opt")

_ELEMENTS = {np.dtype(np.int64): "i64", np.dtype(np.float32): "f32",
             np.dtype(np.uint16): "bf16"}


def emulate(source, name, arrays):
    """Compiles ``source`` for device buffers and runs ``name`` on copies of
    ``arrays`` (inputs and outputs) in the emulator; returns the copies and
    the number of kernel launches."""
    run = subprocess.run([MROPE_OPT, *STAGE], input=source, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    launches = run.stdout.count('"gpu.launch_func"')
    buffers = [emu.Buffer(np.array(a, copy=True), _ELEMENTS[np.dtype(a.dtype)]) for a in arrays]
    emu.run_host(run.stdout, name, buffers)
    return [b.data for b in buffers], launches


def on_host(source, name, arrays):
    copies = [np.array(a, copy=True) for a in arrays]
    runtime.compile(source).call(name, *copies)
    return copies


@pytest.mark.parametrize("element", ["i64", "f32"])
def test_decode_positions(element):
    dtype = np.int64 if element == "i64" else np.float32
    nxt = np.array([5, 0, 100], dtype)
    source = ir.decode_positions_function(3, 5, element)
    (_, positions), launches = emulate(source, "decode_positions",
                                       [nxt, np.zeros((3, 3, 5), dtype)])
    assert launches == 1
    expected = np.broadcast_to(nxt[None, :, None] + np.arange(5, dtype=dtype), (3, 3, 5))
    np.testing.assert_array_equal(positions, expected)


CONFIGS = {
    "qwen2vl": mrope.RopeConfig(theta=1000000.0),
    "qwen3vl-interleaved": mrope.RopeConfig(
        theta=5000000.0, allocation="<interleaved, section = [24, 20, 20]>"),
    "yarn": mrope.RopeConfig(scaling="<kind = yarn, factor = 4.0, "
                                     "original_max_position_embeddings = 32768>"),
    "llama3": mrope.RopeConfig(scaling="<kind = llama3, factor = 8.0, low_freq_factor = 1.0, "
                                       "high_freq_factor = 4.0, "
                                       "original_max_position_embeddings = 8192>"),
    "mhrope": mrope.paper("mhrope", dim=128, mrope_section=[2, 3, 3], num_key_value_heads=8),
}


@pytest.mark.parametrize("name", ["qwen2vl", "yarn", "llama3"])
def test_inv_freq(name):
    config = CONFIGS[name]
    source = ir.inv_freq_function(config, None)
    out = np.zeros(config.rotary_dim // 2, np.float32)
    (emulated,), _ = emulate(source, "inv_freq", [out])
    (host,) = on_host(source, "inv_freq", [out])
    np.testing.assert_array_equal(emulated.view(np.uint32), host.view(np.uint32))


@pytest.mark.parametrize("name", ["qwen2vl", "qwen3vl-interleaved", "yarn", "mhrope"])
def test_cos_sin_tables(name):
    config = CONFIGS[name]
    rng = np.random.default_rng(7)
    batch, length = 2, 37
    positions = rng.integers(0, 30000, (3, batch, length)).astype(np.int64)
    table = [batch, length, config.rotary_dim]
    if "head_partitioned" in config.allocation:
        table = [batch, 8, length, config.rotary_dim]
    source = ir.cos_sin_function(config, positions.shape, table, "f32",
                                 mrope.attention_scaling(config), False)
    arrays = [positions, np.zeros(table, np.float32), np.zeros(table, np.float32)]
    (_, cos, sin), launches = emulate(source, "cos_sin", arrays)
    assert launches >= 1
    _, cos_host, sin_host = on_host(source, "cos_sin", arrays)
    np.testing.assert_array_equal(cos.view(np.uint32), cos_host.view(np.uint32))
    np.testing.assert_array_equal(sin.view(np.uint32), sin_host.view(np.uint32))
    # Not vacuous: the tables hold angles of many positions.
    assert len(np.unique(cos)) > 1000


ROTATE = """
func.func @rotate(%x_m: memref<1x4x6x8xbf16>, %c_m: memref<1x6x8xbf16>,
                  %s_m: memref<1x6x8xbf16>, %out_m: memref<1x4x6x8xbf16>)
    attributes {llvm.emit_c_interface} {
  %x = bufferization.to_tensor %x_m restrict : memref<1x4x6x8xbf16> to tensor<1x4x6x8xbf16>
  %c = bufferization.to_tensor %c_m restrict : memref<1x6x8xbf16> to tensor<1x6x8xbf16>
  %s = bufferization.to_tensor %s_m restrict : memref<1x6x8xbf16> to tensor<1x6x8xbf16>
  %r = mrope.rotate %x, %c, %s layout bhsd pairs PAIRS
      : tensor<1x4x6x8xbf16>, tensor<1x6x8xbf16>
  bufferization.materialize_in_destination %r in writable %out_m
      : (tensor<1x4x6x8xbf16>, memref<1x4x6x8xbf16>) -> ()
  return
}
"""


@pytest.mark.parametrize("pairs", ["neox", "gptj"])
def test_rotate(pairs):
    rng = np.random.default_rng(3)
    x = runtime.float32_to_bfloat16_bits(rng.standard_normal((1, 4, 6, 8)).astype(np.float32))
    angles = rng.uniform(-50, 50, (1, 6, 8)).astype(np.float32)
    bf16 = runtime.float32_to_bfloat16_bits
    arrays = [x, bf16(np.cos(angles)), bf16(np.sin(angles)), np.zeros_like(x)]
    source = ROTATE.replace("PAIRS", pairs)
    (*_, out), _ = emulate(source, "rotate", arrays)
    *_, host = on_host(source, "rotate", arrays)
    np.testing.assert_array_equal(out, host)
    assert not np.array_equal(out, x)


INCREMENT = """
#map = affine_map<(d0, d1) -> (d0, d1)>
func.func @increment(%x_m: memref<5x300xf32>) attributes {llvm.emit_c_interface} {
  %x = bufferization.to_tensor %x_m restrict writable : memref<5x300xf32> to tensor<5x300xf32>
  %one = arith.constant 1.0 : f32
  %r = linalg.generic {indexing_maps = [#map], iterator_types = ["parallel", "parallel"]}
      outs(%x : tensor<5x300xf32>) {
  ^bb0(%o: f32):
    %y = arith.addf %o, %one : f32
    linalg.yield %y : f32
  } -> tensor<5x300xf32>
  bufferization.materialize_in_destination %r in writable %x_m
      : (tensor<5x300xf32>, memref<5x300xf32>) -> ()
  return
}
"""


def test_elementwise_code_runs_in_place_on_the_gpu():
    # The user's own tensor code around mrope ops: an in-place update of a
    # device buffer, 1,500 elements over 6 blocks of 256 threads -- every
    # element exactly once (threads past the end do nothing).
    x = np.arange(1500, dtype=np.float32).reshape(5, 300)
    (out,), launches = emulate(INCREMENT, "increment", [x])
    assert launches == 1
    np.testing.assert_array_equal(out, x + 1)
