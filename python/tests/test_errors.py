"""Bad input gives a Python exception naming the field and the rule."""

import numpy as np
import pytest

import mrope
from hf_configs import QWEN2_VL_7B

VS, IMG, VID, VE = 151652, 151655, 151656, 151653
CONFIG = mrope.from_hf(QWEN2_VL_7B)


def one_image_row(pads=4):
    return [[1, 2, VS] + [IMG] * pads + [VE, 3]]


@pytest.mark.parametrize("kwargs, message", [
    # Grid and token sequence disagree (mrope.rope_index status codes).
    (dict(input_ids=one_image_row(5), image_grid_thw=[[1, 4, 4]]),
     r"sequence 0, visual block 0: the block's grid token count does not match"),
    (dict(input_ids=one_image_row(4), image_grid_thw=[[1, 4, 4], [1, 4, 4]]),
     r"the batch: more grids than visual blocks \(detail 1\)"),
    (dict(input_ids=[[1, VS, IMG, IMG, IMG, IMG, VE, VS, IMG, VE]], image_grid_thw=[[1, 4, 4]]),
     r"sequence 0, visual block 1: .*no grid left"),
    (dict(input_ids=one_image_row(4), image_grid_thw=[[1, 0, 4]]),
     r"grid size is zero or negative"),
    (dict(input_ids=one_image_row(4), image_grid_thw=[[1, 4, 3]]),
     r"not divisible by spatial_merge_size"),
    (dict(input_ids=[[1, 2, 3], [4, 5, 6]], attention_mask=[[1, 1, 1], [0, 0, 0]],
          image_grid_thw=[[1, 2, 2]]),
     r"sequence 1.*no unpadded token"),
    # Fields of the wrong kind or shape.
    (dict(input_ids=[1, 2, 3]), r"input_ids: must have 2 dimensions"),
    (dict(input_ids=[[1.5, 2.0]]), r"input_ids: must hold integers"),
    (dict(input_ids=[["a", "b"]]), r"input_ids: must hold integers"),
    (dict(input_ids=np.zeros((1, 0), np.int64)), r"input_ids: needs at least one"),
    (dict(input_ids=[[1, 2, 3]], attention_mask=[[1, 1]]), r"attention_mask: shape"),
    (dict(input_ids=one_image_row(), image_grid_thw=[[1, 4]]), r"image_grid_thw: must be \[N, 3\]"),
    (dict(input_ids=one_image_row(), video_grid_thw=[1, 4, 4]),
     r"video_grid_thw: must have 2 dimensions"),
    (dict(input_ids=one_image_row(), video_grid_thw=[[2, 4, 4]], second_per_grid_ts=[1.0, 2.0]),
     r"second_per_grid_ts: has 2 entries for 1 video grids"),
    (dict(input_ids=one_image_row(), video_grid_thw=[[2, 4, 4]], second_per_grid_ts=[-1.0]),
     r"second_per_grid_ts: must be finite and non-negative"),
    (dict(input_ids=one_image_row(), video_grid_thw=[[2, 4, 4]],
          second_per_grid_ts=[float("nan")]), r"second_per_grid_ts: must be finite"),
])
def test_position_id_errors(kwargs, message):
    with pytest.raises(mrope.InputError, match=message):
        mrope.position_ids(CONFIG, **kwargs)


def qk(shape_q=(1, 4, 8, 128), shape_k=(1, 2, 8, 128), dtype=np.float32):
    return np.zeros(shape_q, dtype), np.zeros(shape_k, dtype)


POS = np.zeros((3, 1, 8), np.int64)


@pytest.mark.parametrize("args, kwargs, message", [
    (qk(), dict(layout="hsd"), r"layout: must be one of"),
    (qk(), dict(angles="fast"), r"angles: must be"),
    (qk((4, 8, 128)), {}, r"q: layout bhsd needs 4 dimensions"),
    (qk((1, 4, 8, 64)), {}, r"q: last dimension 64 is not head_dim 128"),
    ((np.zeros((1, 4, 8, 128), np.float32), np.zeros((1, 2, 8, 128), np.float16)), {},
     r"q and k: dtypes differ"),
    (qk(dtype=np.float64), {}, r"activations must be float32, float16 or bfloat16"),
    (qk(dtype=np.int32), {}, r"activations must be"),
    (qk((1, 4, 8, 128), (1, 2, 9, 128)), {}, r"q and k: batch/sequence dimensions differ"),
    (qk((1, 3, 8, 128), (1, 2, 8, 128)), {}, r"q heads \(3\) must be a multiple of k heads"),
])
def test_rotary_argument_errors(args, kwargs, message):
    with pytest.raises(mrope.InputError, match=message):
        mrope.apply_rotary(CONFIG, *args, POS, **kwargs)


@pytest.mark.parametrize("positions, message", [
    (np.zeros((3, 1, 7), np.int64), r"position_ids: expected shape \(3, 1, 8\)"),
    (np.zeros((1, 8), np.int64), r"position_ids: expected shape"),
    (np.zeros((3, 1, 8), np.float32), r"position_ids: must be integers"),
])
def test_rotary_position_errors(positions, message):
    with pytest.raises(mrope.InputError, match=message):
        mrope.apply_rotary(CONFIG, *qk(), positions)


def test_exact_angles_need_positions_below_2_24():
    big = np.full((3, 1, 8), 2 ** 24, np.int64)
    with pytest.raises(mrope.InputError, match=r"angles='exact' needs positions below 2\^24"):
        mrope.apply_rotary(CONFIG, *qk(), big, angles="exact")
    # Just below the bound is fine; the reference angles follow Hugging Face
    # (float(position) * inv_freq) at any position.
    mrope.apply_rotary(CONFIG, *qk(), big - 1, angles="exact")
    mrope.apply_rotary(CONFIG, *qk(), big)


def test_decode_errors():
    with pytest.raises(mrope.InputError, match="next_positions: must be a 1-D"):
        mrope.decode_positions([[1, 2]])
    with pytest.raises(mrope.InputError, match="count: must be a positive integer"):
        mrope.decode_positions([1, 2], 0)
    np.testing.assert_array_equal(mrope.decode_positions([5, 9], 2),
                                  [[[5, 6], [9, 10]]] * 3)


def test_inv_freq_errors():
    config = mrope.from_hf(dict(QWEN2_VL_7B, rope_scaling={
        "type": "dynamic", "factor": 2.0, "mrope_section": [16, 24, 24]}))
    with pytest.raises(mrope.InputError, match="seq_len: must be a positive integer"):
        mrope.inv_freq(config, seq_len=0)
    with pytest.raises(mrope.InputError, match="seq_len"):
        mrope.apply_rotary(config, *qk(), POS, seq_len=-4)


def test_compile_and_call_errors():
    with pytest.raises(mrope.CompileError, match="does not parse or verify"):
        mrope.compile("func.func @f(")
    with pytest.raises(mrope.CompileError, match="returns values"):
        mrope.compile("func.func @f() -> i32 attributes {llvm.emit_c_interface} {\n"
                      "  %0 = arith.constant 1 : i32\n  return %0 : i32\n}")
    with pytest.raises(mrope.CompileError, match="no function with llvm.emit_c_interface"):
        mrope.compile("func.func @f() {\n  return\n}")
    # A verifier diagnostic from the dialect, with its location.
    with pytest.raises(mrope.CompileError, match=r"mrope-jit-input:2:.*error:"):
        mrope.compile("func.func @f(%o: memref<4xf32>) attributes {llvm.emit_c_interface} {\n"
                      "  %f = mrope.inv_freq theta = -1.0 : tensor<4xf32>\n"
                      "  bufferization.materialize_in_destination %f in writable %o : "
                      "(tensor<4xf32>, memref<4xf32>) -> ()\n  return\n}")
    module = mrope.compile("func.func @f(%o: memref<4xf32>) attributes {llvm.emit_c_interface} {\n"
                           "  %f = mrope.inv_freq theta = 1.0e4 : tensor<4xf32>\n"
                           "  bufferization.materialize_in_destination %f in writable %o : "
                           "(tensor<4xf32>, memref<4xf32>) -> ()\n  return\n}")
    assert module.functions == {"f": [("f32", (4,))]}
    for args, message in [((), "takes 1 arrays, got 0"),
                          ((np.zeros(5, np.float32),), r"argument 0: expected .*shape \(4,\)"),
                          ((np.zeros(4, np.float64),), "argument 0: expected"),
                          ((np.zeros(8, np.float32)[::2],), "non-contiguous"),
                          (([0.0] * 4,), "argument 0: expected")]:
        with pytest.raises(mrope.InputError, match=message):
            module.call("f", *args)
    readonly = np.zeros(4, np.float32)
    readonly.flags.writeable = False
    with pytest.raises(mrope.InputError, match="read-only"):
        module.call("f", readonly)
    with pytest.raises(mrope.InputError, match="no callable function @g"):
        module.call("g")
    out = np.zeros(4, np.float32)
    module.call("f", out)
    # 4 pairs: D = 8, inv_freq[j] = 1e4^(-2j/8).
    np.testing.assert_allclose(out, [1.0, 0.1, 0.01, 0.001], rtol=1e-6)


def test_cos_sin_errors():
    with pytest.raises(mrope.InputError, match=r"position_ids: must be \[3, B, S\]"):
        mrope.cos_sin(CONFIG, np.zeros((3, 8), np.int64))
    with pytest.raises(mrope.InputError, match="position_ids: must be integers"):
        mrope.cos_sin(CONFIG, np.zeros((3, 1, 8), np.float32))
    mhrope = mrope.paper("mhrope", dim=16, mrope_section=[1, 1, 1])
    with pytest.raises(mrope.InputError, match="num_kv_heads"):
        mrope.cos_sin(mhrope, np.zeros((3, 1, 8), np.int64))
