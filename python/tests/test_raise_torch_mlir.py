"""The Torch-MLIR raising pass on the real imports of the Hugging Face rotary
functions (test/Integration/TorchMLIR/Inputs, made by generate.py with the
pip torch-mlir): the imported IR and the raised IR (mrope.apply /
mrope.rotate) both compiled with the project's CPU pipeline, run on the same
inputs, and compared with each other and with the NumPy reference."""

import os
import subprocess

import numpy as np
import pytest

import mrope
from mrope import reference
from mrope.ir import tensor_entry_point

from conftest import ROOT

INPUTS = os.path.join(ROOT, "test", "Integration", "TorchMLIR", "Inputs")
MROPE_OPT = os.environ.get("MROPE_OPT", os.path.join(ROOT, "build", "bin", "mrope-opt"))
SECTION = [2, 3, 3]  # generate.py's mrope_section (head_dim 16)

CASES = [
    # (file stem, function, raised op, allocation of the reference)
    ("apply_rotary", "apply_rotary", "mrope.rotate", None),
    ("apply_multimodal_rotary", "apply_multimodal_rotary", "mrope.rotate", "contiguous"),
    ("qwen2vl_rotary", "qwen2vl_rotary", "mrope.apply", "contiguous"),
    ("qwen3vl_rotary", "qwen3vl_rotary", "mrope.apply", "interleaved"),
    ("qwen2vl_scaled_rotary", "qwen2vl_scaled_rotary", "mrope.apply", "contiguous"),
]
# generate.py's attention scaling (YaRN, factor 4), as the f32 the import uses.
ATTENTION_SCALING = float(np.float32(1.1386294361119891))


def raise_rotary(text, fuse=False):
    """The raising pass (after upstream elementwise fusion with ``fuse``)."""
    if not os.path.exists(MROPE_OPT):
        pytest.skip(f"{MROPE_OPT} not built")
    passes = ["--linalg-fuse-elementwise-ops"] if fuse else []
    done = subprocess.run([MROPE_OPT, *passes, "--mrope-raise-linalg-rotary", "-"], input=text,
                          capture_output=True, text=True, check=True)
    return done.stdout


def dtype_of(name):
    if name == "bf16":
        ml_dtypes = pytest.importorskip("ml_dtypes", reason="bfloat16 arrays need ml_dtypes")
        return np.dtype(ml_dtypes.bfloat16)
    return np.dtype(np.float32)


def run(text, function, arrays, result_shapes, dtype):
    module = mrope.compile(tensor_entry_point(text, function))
    carriers = [mrope.runtime.carrier_array(a) for a in arrays]
    outs = [mrope.runtime.carrier_array(np.zeros(s, dtype)) for s in result_shapes]
    module.call("run", *carriers, *outs)
    return [mrope.runtime.as_dtype(o, dtype) for o in outs]


@pytest.mark.parametrize("fuse", [False, True], ids=["imported", "fused"])
@pytest.mark.parametrize("element", ["f32", "bf16"])
@pytest.mark.parametrize("stem,function,op,allocation", CASES)
def test_raised_runs_and_matches(stem, function, op, allocation, element, fuse):
    dtype = dtype_of(element)
    with open(os.path.join(INPUTS, f"{stem}_{element}.mlir")) as f:
        imported = f.read()
    raised = raise_rotary(imported, fuse)
    # Every rotary computation became the mrope op; nothing of it is left.
    assert raised.count(op) == (1 if op == "mrope.apply" else 2)
    for leftover in ("linalg.generic", "math.cos", "tensor.concat"):
        assert leftover not in raised

    rng = np.random.default_rng(5)
    q = rng.standard_normal((1, 4, 8, 16)).astype(np.float32).astype(dtype)
    k = rng.standard_normal((1, 2, 8, 16)).astype(np.float32).astype(dtype)
    positions = rng.integers(0, 500, (3, 1, 8)).astype(np.int64)
    inv_freq = reference.default_inv_freq(16, 10000.0)
    if op == "mrope.apply":
        arrays = [q, k, positions, inv_freq]
        scaling = ATTENTION_SCALING if "scaled" in stem else 1.0
        assert ("attention_scaling" in raised) == (scaling != 1.0)
        ref_q, ref_k = reference.apply_rotary(q, k, positions, inv_freq, allocation, SECTION,
                                              attention_scaling=scaling, dtype=dtype)
        ref_cos = None
    else:
        axes = np.zeros(8, np.int64)
        cos, sin = reference.cos_sin(positions, inv_freq, axes)  # [B, S, D]
        if allocation:
            # Distinct per-axis tables so that a wrong row selection shows.
            tables = [reference.cos_sin(positions, inv_freq, np.full(8, a)) for a in range(3)]
            cos3 = np.stack([c for c, _ in tables]).astype(dtype)
            sin3 = np.stack([s for _, s in tables]).astype(dtype)
            arrays = [q, k, cos3, sin3]
            cos, sin = reference.select_axis_tables(cos3, sin3, allocation, SECTION)
        else:
            cos, sin = cos.astype(dtype), sin.astype(dtype)
            arrays = [q, k, cos, sin]
        ref_q = reference.rotate(q, cos, sin, dtype=dtype)
        ref_k = reference.rotate(k, cos, sin, dtype=dtype)
        ref_cos = cos
    shapes = [q.shape, k.shape]
    got_imported = run(imported, function, arrays, shapes, dtype)
    got_raised = run(raised, function, arrays, shapes, dtype)

    for x, imp, rai, ref in zip((q, k), got_imported, got_raised, (ref_q, ref_k)):
        imp32, rai32 = imp.astype(np.float32), rai.astype(np.float32)
        ref32 = ref.astype(np.float32)
        if ref_cos is not None:
            # Tables given: the same operations in the same order, so the
            # same bits as the import and as the reference.
            assert np.array_equal(rai32, imp32)
            assert np.array_equal(rai32, ref32)
        elif element == "f32":
            np.testing.assert_allclose(rai32, ref32, rtol=0, atol=1e-5)
            np.testing.assert_allclose(imp32, ref32, rtol=0, atol=1e-5)
        else:
            # Angles computed: cos/sin agree to 2 f32 ulps (our polynomial,
            # the import's libm, NumPy's correctly rounded), so a bf16 cos/sin
            # may round to the other neighbour; that moves the result by at
            # most an ulp of each term plus the final rounding.
            def spacing(a):
                return np.spacing(np.abs(a.astype(np.float32)).astype(dtype)).astype(np.float32)

            partner = np.roll(x, 8, axis=-1)
            for got in (rai32, imp32):
                bound = 2 * spacing(ref32) + spacing(x) + spacing(partner)
                assert np.all(np.abs(got - ref32) <= bound)
                # Measured: every element identical; a flip is 1/512 here.
                assert np.mean(got == ref32) >= 0.99


def test_unrecognized_ir_is_left_unchanged():
    # q * cos + q * sin (no rotate_half) is not a rotation.
    text = """
#map = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
func.func @not_rotary(%q: tensor<1x2x4x8xf32>, %c: tensor<1x2x4x8xf32>, %s: tensor<1x2x4x8xf32>) -> tensor<1x2x4x8xf32> {
  %e = tensor.empty() : tensor<1x2x4x8xf32>
  %0 = linalg.generic {indexing_maps = [#map, #map, #map, #map], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%q, %c, %s : tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>) outs(%e : tensor<1x2x4x8xf32>) {
  ^bb0(%x: f32, %cv: f32, %sv: f32, %o: f32):
    %a = arith.mulf %x, %cv : f32
    %b = arith.mulf %x, %sv : f32
    %r = arith.addf %a, %b : f32
    linalg.yield %r : f32
  } -> tensor<1x2x4x8xf32>
  return %0 : tensor<1x2x4x8xf32>
}
"""
    raised = raise_rotary(text)
    assert "mrope." not in raised and "linalg.generic" in raised


def lit_functions():
    """The raisable functions of the hand-written FileCheck test."""
    path = os.path.join(ROOT, "test", "Conversion", "LinalgToMRope", "raise-rotary.mlir")
    with open(path) as f:
        chunks = f.read().split("// -----")
    return [pytest.param(c, id=n) for c in chunks for n in ("gptj_bshd", "partial_thd")
            if f"func.func @{n}(" in c]


@pytest.mark.parametrize("chunk", lit_functions())
def test_hand_written_spellings_run_bit_exact(chunk):
    import re

    name = re.search(r"func\.func @(\w+)\(", chunk).group(1)
    raised = raise_rotary(chunk)
    assert "mrope.rotate" in raised and "linalg.generic" not in raised
    arguments = re.findall(r"%\w+: tensor<([0-9x]+)x(f32|bf16)>", chunk.split("{")[0])
    dtype = dtype_of(arguments[0][1])
    rng = np.random.default_rng(3)
    arrays = [rng.standard_normal([int(d) for d in shape.split("x")]).astype(np.float32)
              .astype(dtype) for shape, _ in arguments]
    shapes = [arrays[0].shape]
    (want,) = run(chunk, name, arrays, shapes, dtype)
    (got,) = run(raised, name, arrays, shapes, dtype)
    # The same operations in the same order: the same bits.
    assert np.array_equal(got.astype(np.float32), want.astype(np.float32))
