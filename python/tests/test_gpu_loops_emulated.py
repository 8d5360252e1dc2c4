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

_ELEMENTS = {np.dtype(np.int64): "i64", np.dtype(np.int32): "i32", np.dtype(np.float32): "f32",
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


@pytest.mark.parametrize("name, element", [
    ("qwen2vl", "f32"), ("qwen3vl-interleaved", "f32"), ("yarn", "f32"), ("mhrope", "f32"),
    ("qwen3vl-interleaved", "bf16")])
def test_cos_sin_tables(name, element):
    config = CONFIGS[name]
    rng = np.random.default_rng(7)
    batch, length = 2, 37
    positions = rng.integers(0, 30000, (3, batch, length)).astype(np.int64)
    table = [batch, length, config.rotary_dim]
    if "head_partitioned" in config.allocation:
        table = [batch, 8, length, config.rotary_dim]
    source = ir.cos_sin_function(config, positions.shape, table, element,
                                 mrope.attention_scaling(config), None)
    carrier = runtime.carrier_of(element)  # bf16 tables as their bits
    arrays = [positions, np.zeros(table, carrier), np.zeros(table, carrier)]
    (_, cos, sin), launches = emulate(source, "cos_sin", arrays)
    assert launches == 2  # the [.., P] tables, then the [.., D] layout
    # (against the host's CPU form, itself checked bit for bit against the
    # portable form and the golden tables in test_rotary.py)
    _, cos_host, sin_host = on_host(source, "cos_sin", arrays)
    bits = np.uint32 if element == "f32" else np.uint16
    np.testing.assert_array_equal(cos.view(bits), cos_host.view(bits))
    np.testing.assert_array_equal(sin.view(bits), sin_host.view(bits))
    # Not vacuous: the tables hold angles of many positions.
    assert len(np.unique(cos)) > 500


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


# Scalings that read the sequence length at run time (dynamic NTK,
# LongRoPE): the length is a reduction kernel's result or a device tensor,
# which the kernels using it read themselves (mrope-gpu-parallel-loops).
DYNAMIC = mrope.RopeConfig(head_dim=16, rotary_dim=16, theta=10000.0,
                           allocation="<interleaved, section = [3, 3, 2]>",
                           scaling="<kind = dynamic, factor = 2.0, "
                                   "max_position_embeddings = 64>")
LONGROPE = mrope.RopeConfig(
    head_dim=16, rotary_dim=16, theta=10000.0, allocation="<contiguous, section = [2, 3, 3]>",
    scaling="<kind = longrope, factor = 4.0, max_position_embeddings = 256, "
            "original_max_position_embeddings = 64, "
            "short_factor = [1.0, 1.1, 1.2, 1.3, 1.4, 1.5, 1.6, 1.7], "
            "long_factor = [2.0, 3.0, 5.0, 7.0, 11.0, 13.0, 17.0, 19.0]>")


def test_dynamic_ntk_length_computed_on_the_gpu(golden):
    # transformers' @dynamic_rope_update on Qwen3-VL's rotary: the length is
    # max(position_ids) + 1 = 70 > 64, so inv_freq is rescaled -- here by a
    # reduction kernel (an atomic maximum) whose result the table kernels
    # read; compared with the golden tables of the reference code.
    case = golden("inv_freq_scaling.json")["dynamic_via_module"]
    positions = np.array(case["position_ids"], np.int64)
    table = [1, positions.shape[2], 16]
    source = ir.cos_sin_function(DYNAMIC, positions.shape, table, "f32", 1.0, "positions")
    assert "mrope.sequence_length" in source
    arrays = [positions, np.zeros(table, np.float32), np.zeros(table, np.float32)]
    (_, cos, sin), _ = emulate(source, "cos_sin", arrays)
    np.testing.assert_array_equal(cos, np.array(case["cos"], np.float32))
    np.testing.assert_array_equal(sin, np.array(case["sin"], np.float32))
    # Not vacuous: without the rescaling (a length of 64) the tables differ.
    unscaled = ir.cos_sin_function(DYNAMIC, positions.shape, table, "f32", 1.0, "argument")
    (_, _, cos64, _), _ = emulate(unscaled, "cos_sin",
                                  [positions, np.array([64], np.int64), *arrays[1:]])
    assert not np.array_equal(cos64, cos)


@pytest.mark.parametrize("config", [DYNAMIC, LONGROPE], ids=["dynamic", "longrope"])
@pytest.mark.parametrize("largest", [10, 63, 64, 200, 5000])
def test_runtime_length_on_the_gpu_matches_the_host(config, largest):
    # Device-computed length (positions) and a given one (argument), each
    # against the host pipeline given max + 1 from NumPy; LongRoPE switches
    # tables above 64, dynamic NTK rescales above 64.
    rng = np.random.default_rng(largest)
    positions = rng.integers(0, largest + 1, (3, 2, 40)).astype(np.int64)
    positions[rng.integers(0, 3), 1, rng.integers(0, 40)] = largest
    table = [2, 40, 16]
    outputs = [np.zeros(table, np.float32), np.zeros(table, np.float32)]
    length = np.array([largest + 1], np.int64)
    by_argument = ir.cos_sin_function(config, positions.shape, table, "f32", 1.0, "argument")
    _, _, cos_host, sin_host = on_host(by_argument, "cos_sin", [positions, length, *outputs])
    from_positions = ir.cos_sin_function(config, positions.shape, table, "f32", 1.0,
                                         "positions")
    (_, cos, sin), launches = emulate(from_positions, "cos_sin", [positions, *outputs])
    np.testing.assert_array_equal(cos.view(np.uint32), cos_host.view(np.uint32))
    np.testing.assert_array_equal(sin.view(np.uint32), sin_host.view(np.uint32))
    (_, _, cos_arg, _), _ = emulate(by_argument, "cos_sin", [positions, length, *outputs])
    np.testing.assert_array_equal(cos_arg.view(np.uint32), cos_host.view(np.uint32))


SEQUENCE_LENGTH = """
func.func @length(%p_m: memref<3x5x77xi32>, %out_m: memref<1xi64>)
    attributes {llvm.emit_c_interface} {
  %p = bufferization.to_tensor %p_m restrict : memref<3x5x77xi32> to tensor<3x5x77xi32>
  %n = mrope.sequence_length %p : tensor<3x5x77xi32>
  %t = tensor.from_elements %n : tensor<1xi64>
  bufferization.materialize_in_destination %t in writable %out_m
      : (tensor<1xi64>, memref<1xi64>) -> ()
  return
}
"""


@pytest.mark.parametrize("where", ["first", "middle", "last", "negative"])
def test_sequence_length_reduction_kernel(where):
    # 1,155 positions over 73 threads (16 each, strided): the maximum is
    # found wherever it is, and a maximum below zero is not lost to the
    # accumulators' identity.
    rng = np.random.default_rng(11)
    p = rng.integers(-1000, 1000, (3, 5, 77)).astype(np.int32)
    flat = p.reshape(-1)
    spot = {"first": 0, "middle": 600, "last": flat.size - 1, "negative": None}[where]
    if spot is None:
        p = -np.abs(p) - 5
    else:
        flat[spot] = 123456
    (_, out), launches = emulate(SEQUENCE_LENGTH, "length", [p, np.zeros(1, np.int64)])
    assert out[0] == int(p.max()) + 1
    assert launches == 3  # fill, reduction, the result stored
