"""The GPU pipeline's loops -- mrope.decode_positions, mrope.inv_freq,
mrope.cos_sin, mrope.rotate and mrope.rope_index, lowered to linalg / scf and
run as GPU kernels by mrope-gpu-parallel-loops in device-buffer functions --
run in the warp emulator (tools/mrope-gpu-emulate) and compared with the host
pipeline's results bit for bit (the host path is itself checked against the
golden data), decode positions with their formula, and rope_index's
positions with the golden data and the NumPy reference."""

import os
import subprocess
import sys

import numpy as np
import pytest

import mrope
from mrope import ir, reference, runtime
from conftest import ROOT
from test_positions import HF, PAPER, RUNTIME_VARIANTS, config_for, generated_batch, \
    paper_config

MROPE_OPT = os.environ.get("MROPE_OPT", os.path.join(ROOT, "build", "bin", "mrope-opt"))
sys.path.insert(0, os.path.join(ROOT, "tools", "mrope-gpu-emulate"))
import warp_emulator as emu  # noqa: E402

# mrope-gpu-pipeline for device buffers, up to the outlined kernels the
# emulator runs (lib/Pipelines/Pipelines.cpp).
STAGE = ["--convert-mrope-to-gpu", "--convert-mrope-to-linalg=parallel-rows=true",
         "--one-shot-bufferize=bufferize-function-boundaries "
         "function-boundary-type-conversion=identity-layout-map",
         "--scf-forall-to-parallel", "--mrope-gpu-parallel-loops",
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


# ----------------------------------------------------------- mrope.rope_index
# Three kernels after the positions' fill: blocks per kind of each row, each
# row's scan (a thread per row, grid cursors from the blocks of the rows
# before it), the status (first row with an error, else grids left over).

def rope_index_on_gpu(config, ids, mask=None, images=None, videos=None, spg=None):
    """mrope.rope_index for device buffers in the emulator, and the same
    function on the host: both as (positions, deltas, nexts, status)."""
    ids = np.asarray(ids, np.int64)
    batch, length = ids.shape
    grids = [None if g is None else np.asarray(g, np.int64).reshape(-1, 3)
             for g in (images, videos)]
    spg = None if spg is None else np.asarray(spg, np.float32)
    source = ir.position_ids_function(
        config, batch, length, mask is not None,
        0 if grids[0] is None else len(grids[0]), 0 if grids[1] is None else len(grids[1]),
        None if spg is None else len(spg))
    element = np.float32 if config.float_positions else np.int64
    inputs = [a for a in (ids, None if mask is None else np.asarray(mask, np.int64), *grids,
                          spg) if a is not None]
    outputs = [np.zeros((3, batch, length), element), np.zeros((batch, 1), element),
               np.zeros(batch, element), np.zeros(4, np.int64)]
    device, launches = emulate(source, "position_ids", inputs + outputs)
    assert launches == 4
    host = on_host(source, "position_ids", inputs + outputs)
    return device[len(inputs):], host[len(inputs):]


def assert_same_bits(device, host):
    for d, h in zip(device, host):
        np.testing.assert_array_equal(d.view(np.uint8), h.view(np.uint8))


@pytest.mark.parametrize("case", HF["cases"],
                         ids=[f"{c['model_rules']}/{c['name']}" for c in HF["cases"]])
def test_rope_index_golden_on_the_gpu(case):
    # Each golden case of the reference models (transformers 4.57 rules;
    # the other versions' arithmetic is the host's, checked elsewhere).
    version = "v457" if "v457" in case["outputs"] else next(iter(case["outputs"]))
    want = case["outputs"][version]
    config = config_for(case["model_rules"], version, case["tokens_per_second"])
    spg = case["second_per_grid_ts"] if case["model_rules"] == "qwen25vl" else None
    (positions, deltas, nexts, status), host = rope_index_on_gpu(
        config, case["input_ids"], case["attention_mask"], case["image_grid_thw"],
        case["video_grid_thw"], spg)
    assert status.tolist() == [0, 0, 0, 0]
    assert positions.tolist() == want["position_ids"]
    assert deltas.tolist() == want["rope_deltas"]
    assert_same_bits((positions, deltas, nexts, status), host)


@pytest.mark.parametrize("variant", RUNTIME_VARIANTS,
                         ids=[f"{v['variant']}/{v['label']}" for v in RUNTIME_VARIANTS])
def test_rope_index_paper_variants_on_the_gpu(variant):
    # The paper designs' reference positions (float ones as float32 bits:
    # CircleRoPE's atan2/cos/sin, V2PE's arange run in the kernel).
    mixed = PAPER["mixed_case"]
    (positions, deltas, nexts, status), host = rope_index_on_gpu(
        paper_config(variant), [mixed["input_ids"]], None, mixed["image_grid_thw"],
        mixed["video_grid_thw"])
    assert status[0] == 0
    want = np.array(variant["position_ids"])
    if variant["position_ids_dtype"] == "torch.int64":
        np.testing.assert_array_equal(positions, want)
    else:
        np.testing.assert_array_equal(positions, want.astype(np.float32))
    assert_same_bits((positions, deltas, nexts, status), host)


@pytest.mark.parametrize("rules", ["qwen2vl", "qwen25vl", "qwen3vl"])
def test_rope_index_generated_batches_on_the_gpu(rules):
    # Five rows, threads in parallel: each row's grid cursors come from the
    # blocks of the rows before it.
    rng = np.random.default_rng(7 + len(rules))
    ids, mask, images, videos, seconds = generated_batch(rng, rules, batch=5)
    config = config_for(rules, "v457", 2)
    spg = seconds if rules == "qwen25vl" and videos else None
    (positions, deltas, _, status), host = rope_index_on_gpu(
        config, ids, mask, images, videos, spg)
    want_positions, want_deltas = reference.get_rope_index(
        ids, mask, images, videos, seconds, model=rules, version="v457", tokens_per_second=2)
    assert status.tolist() == [0, 0, 0, 0]
    np.testing.assert_array_equal(positions, want_positions)
    np.testing.assert_array_equal(deltas, want_deltas)
    assert_same_bits((positions, deltas), host[:2])


VS, IMG, VID, VE = 151652, 151655, 151656, 151653


def frames(count, pads):
    """Qwen3-VL's frame blocks: timestamp text, then a block of pad tokens."""
    row = []
    for _ in range(count):
        row += [1001, 1002, VS] + [VID] * pads + [VE]
    return row


def test_rope_index_video_frames_split_across_rows_on_the_gpu():
    # Qwen3-VL takes video grids a frame at a time, globally across the
    # batch: row 1 starts in the middle of the first video (frame 2 of 3),
    # row 2 in the second. The frame cursor a row starts from is derived
    # from the frames the rows before it took.
    rows = [[5, 6] + frames(2, 4), frames(1, 4) + frames(1, 1) + [7],
            frames(2, 1) + [8, 9, 10, 11, 12, 13]]
    length = max(len(r) for r in rows)
    ids = np.full((3, length), 151643, np.int64)
    mask = np.zeros((3, length), np.int64)
    for b, row in enumerate(rows):
        ids[b, length - len(row):] = row
        mask[b, length - len(row):] = 1
    videos = [[3, 4, 4], [3, 2, 2]]
    config = config_for("qwen3vl", "v457")
    (positions, deltas, _, status), host = rope_index_on_gpu(config, ids, mask, None, videos)
    want_positions, want_deltas = reference.get_rope_index(
        ids, mask, None, videos, None, model="qwen3vl", version="v457")
    assert status.tolist() == [0, 0, 0, 0]
    np.testing.assert_array_equal(positions, want_positions)
    np.testing.assert_array_equal(deltas, want_deltas)
    assert_same_bits((positions, deltas), host[:2])


ONE_IMAGE = [[1, 2, VS] + [IMG] * 4 + [VE, 3]]


@pytest.mark.parametrize("kwargs, code", [
    (dict(ids=[[1, 2, VS] + [IMG] * 5 + [VE, 3]], images=[[1, 4, 4]]), 1),
    (dict(ids=ONE_IMAGE, images=[[1, 4, 4], [1, 4, 4]]), 2),
    (dict(ids=[[1, VS, IMG, IMG, IMG, IMG, VE, VS, IMG, VE]], images=[[1, 4, 4]]), 3),
    (dict(ids=ONE_IMAGE, images=[[1, 0, 4]]), 4),
    (dict(ids=ONE_IMAGE, images=[[1, 4, 3]]), 5),
    (dict(ids=[[1, 2, 3], [4, 5, 6]], mask=[[1, 1, 1], [0, 0, 0]], images=[[1, 2, 2]]), 7),
    # The first row with an error is reported (row 0 is fine, rows 1 and 2
    # are not), and the video's grid is never read at an image's index.
    (dict(ids=ONE_IMAGE * 3, images=[[1, 4, 4], [1, 4, 3], [1, 0, 4]],
          videos=[[2, 2, 2]]), 5),
])
def test_rope_index_errors_on_the_gpu(kwargs, code):
    config = config_for("qwen2vl", "v457")
    (_, _, _, status), (_, _, _, host_status) = rope_index_on_gpu(config, **kwargs)
    assert status[0] == code
    np.testing.assert_array_equal(status, host_status)
