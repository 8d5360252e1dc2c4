"""Rotary application through the compiled path: golden vectors of the real
reference models, the NumPy reference, layouts, pair layouts, partial rotary,
GQA, low precision, scaling and threads."""

import os
import subprocess
import sys

import numpy as np
import pytest

import mrope
from mrope import ir, reference, runtime
from conftest import ROOT, load_golden
from hf_configs import QWEN2_VL_7B, QWEN3_5_27B

ROTARY_TOLERANCE = 1e-5  # f32 absolute, as mrope-conform
MROPE_OPT = os.environ.get("MROPE_OPT", os.path.join(ROOT, "build", "bin", "mrope-opt"))

FILES = ["rotary_contiguous_mrope.json", "rotary_interleaved_mrope.json", "rotary_mhrope.json"]
CASES = [(f, n, c) for f in FILES for n, c in enumerate(load_golden(f)["cases"])]


def case_config(case):
    per_head = "mrope_section_heads" in case
    section = case["mrope_section_heads"] if per_head else case["mrope_section"]
    kind = ("head_partitioned" if per_head else
            "interleaved" if "interleaved" in case["allocation"] else "contiguous")
    config = mrope.RopeConfig(head_dim=case["head_dim"], rotary_dim=case["head_dim"],
                              theta=case["rope_theta"],
                              allocation=f"<{kind}, section = {section}>")
    return config, kind, section


@pytest.mark.parametrize("file, n, case", CASES, ids=[f"{f}[{n}]" for f, n, _ in CASES])
def test_golden_rotary(file, n, case):
    config, kind, section = case_config(case)
    q, k = np.array(case["q"], np.float32), np.array(case["k"], np.float32)
    positions = np.array(case["position_ids"])
    q_rot, k_rot = mrope.apply_rotary(config, q, k, positions)
    np.testing.assert_allclose(q_rot, case["q_rot"], rtol=0, atol=ROTARY_TOLERANCE)
    np.testing.assert_allclose(k_rot, case["k_rot"], rtol=0, atol=ROTARY_TOLERANCE)
    # The NumPy reference, fed the golden inv_freq, agrees with both.
    inv_freq = np.array(case["inv_freq"], np.float32)
    ref_q, ref_k = reference.apply_rotary(q, k, positions, inv_freq, kind, section)
    np.testing.assert_allclose(ref_q, case["q_rot"], rtol=0, atol=ROTARY_TOLERANCE)
    np.testing.assert_allclose(ref_k, case["k_rot"], rtol=0, atol=ROTARY_TOLERANCE)
    np.testing.assert_allclose(q_rot, ref_q, rtol=0, atol=1e-6)
    # inv_freq within 1 f32 ulp of the reference's, both for ours and NumPy's.
    for got in (mrope.inv_freq(config), reference.default_inv_freq(case["head_dim"],
                                                                   case["rope_theta"])):
        assert np.abs(got.view(np.int32) - inv_freq.view(np.int32)).max() <= 1
    # The cos/sin tables in the Hugging Face layout: PyTorch's bits (its
    # SLEEF cos/sin, which ours reproduce; these angles are below 125 rad).
    cos, sin = mrope.cos_sin(config, positions, num_kv_heads=k.shape[1])
    np.testing.assert_array_equal(cos, np.array(case["cos"], np.float32))
    np.testing.assert_array_equal(sin, np.array(case["sin"], np.float32))
    # The inverse rotation restores q and k.
    q_back, k_back = mrope.apply_rotary(config, q_rot, k_rot, positions, inverse=True)
    np.testing.assert_allclose(q_back, q, rtol=0, atol=ROTARY_TOLERANCE)
    np.testing.assert_allclose(k_back, k, rtol=0, atol=ROTARY_TOLERANCE)


def test_layouts_agree():
    case = load_golden("rotary_interleaved_mrope.json")["cases"][0]
    config, _, _ = case_config(case)
    q, k = np.array(case["q"], np.float32), np.array(case["k"], np.float32)
    positions = np.array(case["position_ids"])
    q_bhsd, k_bhsd = mrope.apply_rotary(config, q, k, positions, layout="bhsd")
    q_bshd, k_bshd = mrope.apply_rotary(config, q.transpose(0, 2, 1, 3),
                                        k.transpose(0, 2, 1, 3), positions, layout="bshd")
    np.testing.assert_array_equal(q_bshd.transpose(0, 2, 1, 3), q_bhsd)
    np.testing.assert_array_equal(k_bshd.transpose(0, 2, 1, 3), k_bhsd)
    q_thd, k_thd = mrope.apply_rotary(config, q[0].transpose(1, 0, 2), k[0].transpose(1, 0, 2),
                                      positions[:, 0], layout="thd")
    np.testing.assert_array_equal(q_thd.transpose(1, 0, 2), q_bhsd[0])
    np.testing.assert_array_equal(k_thd.transpose(1, 0, 2), k_bhsd[0])


def test_gptj_pairs_are_interleaved_neox():
    case = load_golden("rotary_contiguous_mrope.json")["cases"][0]
    config, _, _ = case_config(case)
    q, k = np.array(case["q"], np.float32), np.array(case["k"], np.float32)
    positions = np.array(case["position_ids"])
    half = q.shape[-1] // 2
    order = np.empty(2 * half, np.int64)  # GPT-J channel 2j <- j, 2j+1 <- j + D/2
    order[0::2], order[1::2] = np.arange(half), np.arange(half) + half
    q_neox, k_neox = mrope.apply_rotary(config, q, k, positions)
    q_gptj, k_gptj = mrope.apply_rotary(config.replace(pairs="gptj"), q[..., order],
                                        k[..., order], positions)
    np.testing.assert_array_equal(q_gptj, q_neox[..., order])
    np.testing.assert_array_equal(k_gptj, k_neox[..., order])


def random_qk(rng, q_shape, k_shape, dtype=np.float32):
    return (rng.standard_normal(q_shape).astype(np.float32).astype(dtype),
            rng.standard_normal(k_shape).astype(np.float32).astype(dtype))


def test_qwen35_partial_rotary():
    config = mrope.from_hf(QWEN3_5_27B)
    rng = np.random.default_rng(7)
    tokens = 40
    q, k = random_qk(rng, (1, 6, tokens, 256), (1, 2, tokens, 256))
    positions = rng.integers(0, 5000, (3, 1, tokens))
    q_rot, k_rot = mrope.apply_rotary(config, q, k, positions)
    np.testing.assert_array_equal(q_rot[..., 64:], q[..., 64:])
    np.testing.assert_array_equal(k_rot[..., 64:], k[..., 64:])
    inv_freq = mrope.inv_freq(config)
    ref_inv_freq = reference.default_inv_freq(64, 1e7)
    assert np.abs(inv_freq.view(np.int32) - ref_inv_freq.view(np.int32)).max() <= 1
    ref_q, ref_k = reference.apply_rotary(q, k, positions, inv_freq, "interleaved", [11, 11, 10])
    np.testing.assert_allclose(q_rot, ref_q, rtol=0, atol=1e-5)
    np.testing.assert_allclose(k_rot, ref_k, rtol=0, atol=1e-5)
    assert not np.allclose(q_rot[..., :64], q[..., :64])  # the rotation did happen


def test_mhrope_gqa_matches_reference():
    config = mrope.paper("mhrope", dim=128, mrope_section=[2, 3, 3], num_key_value_heads=8)
    rng = np.random.default_rng(3)
    q, k = random_qk(rng, (2, 16, 9, 128), (2, 8, 9, 128))
    positions = rng.integers(0, 300, (3, 2, 9))
    q_rot, k_rot = mrope.apply_rotary(config, q, k, positions)
    ref_q, ref_k = reference.apply_rotary(q, k, positions, mrope.inv_freq(config),
                                          "head_partitioned", [2, 3, 3])
    np.testing.assert_allclose(q_rot, ref_q, rtol=0, atol=1e-5)
    np.testing.assert_allclose(k_rot, ref_k, rtol=0, atol=1e-5)


@pytest.mark.parametrize("dtype_name", ["float16", "bfloat16"])
def test_low_precision_rounds_like_torch(dtype_name):
    if dtype_name == "bfloat16":
        ml_dtypes = pytest.importorskip("ml_dtypes", reason="bfloat16 arrays need ml_dtypes")
        dtype = np.dtype(ml_dtypes.bfloat16)
    else:
        dtype = np.dtype(np.float16)
    config = mrope.from_hf(QWEN2_VL_7B)
    rng = np.random.default_rng(11)
    q, k = random_qk(rng, (1, 4, 64, 128), (1, 2, 64, 128), dtype)
    positions = rng.integers(0, 2000, (3, 1, 64))
    q_rot, k_rot = mrope.apply_rotary(config, q, k, positions)
    assert q_rot.dtype == dtype and k_rot.dtype == dtype
    inv_freq = mrope.inv_freq(config)
    ref_q, ref_k = reference.apply_rotary(q, k, positions, inv_freq, "contiguous", [16, 24, 24],
                                          dtype=dtype)
    def spacing(x):
        return np.spacing(np.abs(x.astype(np.float32)).astype(dtype)).astype(np.float32)

    for x, got, want in ((q, q_rot, ref_q), (k, k_rot, ref_k)):
        got32, want32 = got.astype(np.float32), want.astype(np.float32)
        # Every op rounded to the activation type, as torch does: the same
        # bits except where cos or sin, within 2 f32 ulps of the true value
        # in both (ours: polynomial; NumPy: correctly rounded), round to a
        # different neighbour in the activation type. Such a flip moves the
        # result by at most an ulp of each input term, plus the rounding of
        # the result.
        partner = np.roll(x, 64, axis=-1)
        bound = 2 * spacing(want32) + spacing(x) + spacing(partner)
        assert np.all(np.abs(got32 - want32) <= bound)
        assert np.mean(got32 == want32) >= 0.999


def scaling_cases():
    data = load_golden("inv_freq_scaling.json")
    return [c for c in data["cases"] if "v457" in c["results"]]


@pytest.mark.parametrize("case", scaling_cases(),
                         ids=lambda c: f"{c['name']}-{c['rope_parameters'].get('rope_theta')}-"
                                       f"{c['seq_len_arg']}")
def test_golden_scaling_through_hf_config(case):
    params = dict(case["rope_parameters"])
    top = case["config_top_level"]
    dim = top.get("head_dim", 128)
    section = [dim // 8, 3 * dim // 16, dim // 2 - dim // 8 - 3 * dim // 16]
    raw = {"model_type": "qwen2_vl", "num_attention_heads": 8, "head_dim": dim,
           "rope_scaling": dict(params, mrope_section=section),
           **{k: v for k, v in top.items() if k != "head_dim"}}
    config = mrope.from_hf(raw)
    want = case["results"]["v457"]
    got = mrope.inv_freq(config, case["seq_len_arg"])
    expected = np.array(want["inv_freq"], np.float32)
    # Bit for bit: torch's float32 pow is SLEEF's, and so is ours.
    np.testing.assert_array_equal(got.view(np.int32), expected.view(np.int32))
    scale = mrope.attention_scaling(config)
    assert abs(scale - want["attention_scaling"]) <= 1e-12 * abs(want["attention_scaling"])


def test_dynamic_ntk_reads_the_largest_position():
    raw = dict(QWEN2_VL_7B, rope_scaling={"type": "dynamic", "factor": 4.0,
                                          "mrope_section": [16, 24, 24]},
               max_position_embeddings=1024)
    config = mrope.from_hf(raw)
    rng = np.random.default_rng(5)
    q, k = random_qk(rng, (1, 2, 8, 128), (1, 2, 8, 128))
    # Only the w row reaches past max_position_embeddings. The model's runtime
    # update forms the base in float32 (a few ulps from the double-precision
    # init value used as the reference here): t and h stay small so that
    # difference stays far below the tolerance; the w pairs have tiny
    # frequencies. A seq_len from the t row alone would leave inv_freq
    # unscaled and move the w angles by radians.
    positions = np.array([[[1, 2, 3, 4, 5, 6, 7, 8]],
                          [[5, 5, 5, 5, 5, 5, 5, 5]],
                          [[1, 2, 3, 4, 5, 6, 7, 5000]]])
    q_rot, k_rot = mrope.apply_rotary(config, q, k, positions)
    inv_freq = mrope.inv_freq(config, seq_len=5001)  # max over all axes + 1
    assert not np.array_equal(inv_freq, mrope.inv_freq(config))
    ref_q, ref_k = reference.apply_rotary(q, k, positions, inv_freq, "contiguous", [16, 24, 24])
    np.testing.assert_allclose(q_rot, ref_q, rtol=0, atol=1e-5)
    np.testing.assert_allclose(k_rot, ref_k, rtol=0, atol=1e-5)


def test_threads_give_the_same_bits():
    config = mrope.from_hf(QWEN2_VL_7B)
    rng = np.random.default_rng(9)
    tokens = 4096
    q, k = random_qk(rng, (tokens, 4, 128), (tokens, 2, 128))
    positions = rng.integers(0, 100000, (3, tokens))
    single = mrope.apply_rotary(config, q, k, positions, layout="thd", threads=False)
    threaded = mrope.apply_rotary(config, q, k, positions, layout="thd", threads=True)
    by_default = mrope.apply_rotary(config, q, k, positions, layout="thd")  # 4096 tokens
    np.testing.assert_array_equal(by_default[0], threaded[0])
    np.testing.assert_array_equal(single[0], threaded[0])
    np.testing.assert_array_equal(single[1], threaded[1])


def test_exact_angles_at_long_context():
    config = mrope.from_hf(QWEN2_VL_7B)
    q = np.ones((1, 1, 2, 128), np.float32)
    positions = np.full((3, 1, 2), 1_000_000, np.int64)
    q_rot, _ = mrope.apply_rotary(config, q, q.copy(), positions, angles="exact")
    # cos/sin of the exact angle (float64) against the rotated ones.
    inv_freq = mrope.inv_freq(config).astype(np.float64)
    angle = inv_freq * 1_000_000
    want = np.cos(angle) - np.sin(angle)  # x*cos - x*sin for the first half, x = 1
    np.testing.assert_allclose(q_rot[0, 0, 0, :64], want, rtol=0, atol=2e-6)


@pytest.mark.parametrize("pairs", ["neox", "gptj"])
def test_pair_count_not_a_multiple_of_the_vector_width(pairs):
    # 10 pairs: rotated as a chunk of 8 (AVX2) or 16 (AVX-512) lanes and a
    # shorter remainder; 4 channels past rotary_dim pass through.
    config = mrope.RopeConfig(head_dim=24, rotary_dim=20, theta=10000.0,
                              allocation="<contiguous, section = [2, 4, 4]>", pairs=pairs)
    rng = np.random.default_rng(13)
    q, k = random_qk(rng, (2, 3, 5, 24), (2, 3, 5, 24))
    positions = rng.integers(0, 50, (3, 2, 5))
    q_rot, k_rot = mrope.apply_rotary(config, q, k, positions)
    half = 10
    order = np.arange(24)
    if pairs == "gptj":  # GPT-J channel 2j <- j, 2j+1 <- j + D/2 of the NeoX layout
        order[0:20:2], order[1:20:2] = np.arange(half), np.arange(half) + half
    inverse = np.argsort(order)
    ref_q, ref_k = reference.apply_rotary(q[..., inverse], k[..., inverse], positions,
                                          mrope.inv_freq(config), "contiguous", [2, 4, 4])
    np.testing.assert_allclose(q_rot, ref_q[..., order], rtol=0, atol=1e-5)
    np.testing.assert_allclose(k_rot, ref_k[..., order], rtol=0, atol=1e-5)
    np.testing.assert_array_equal(q_rot[..., 20:], q[..., 20:])


def test_cos_sin_accuracy():
    # With q = (1, .., 1, 0, .., 0) the NeoX rotation returns cos in the
    # first half and sin in the second: the CPU path's cos/sin (arithmetic
    # only, no libm) against float64 cos/sin of the same f32 angles, for
    # 2048 tokens x 64 pairs, angles up to 1.6e5 rad.
    config = mrope.from_hf(QWEN2_VL_7B)
    rng = np.random.default_rng(17)
    tokens = 2048
    q = np.zeros((1, 1, tokens, 128), np.float32)
    q[..., :64] = 1.0
    positions = rng.integers(0, 160_000, (3, 1, tokens))
    q_rot, _ = mrope.apply_rotary(config, q, q.copy(), positions)
    inv_freq = mrope.inv_freq(config)
    axes = reference.axis_of_pairs("contiguous", [16, 24, 24], 64)
    angles = (inv_freq[:, None] * positions[axes, 0, :].astype(np.float32)).astype(np.float32).T
    for got, want in ((q_rot[0, 0, :, :64], np.cos(angles.astype(np.float64))),
                      (q_rot[0, 0, :, 64:], np.sin(angles.astype(np.float64)))):
        ulps = np.abs(got - want) / np.spacing(np.abs(want).astype(np.float32))
        assert ulps.max() <= 2.0, ulps.max()


@pytest.mark.parametrize("pairs", [64, 8, 20])
@pytest.mark.parametrize("at_init", [False, True], ids=["update", "init"])
def test_dynamic_ntk_constant_and_runtime_seq_len_agree(at_init, pairs):
    """mrope.inv_freq's result does not depend on whether seq_len is a
    constant (folded at compile time) or read at run time; `at_init` picks
    the init function's float64 arithmetic, its absence the runtime
    update's float32. The two semantics differ by a few ulps somewhere.
    64 pairs take SLEEF's powf in the lowering and the folder, 8 the C
    library's, 20 both (torch's vectorized prefix and scalar tail)."""
    scaling = "<kind = dynamic, factor = 4.0, max_position_embeddings = 4096>"
    flag = " at_init" if at_init else ""
    lengths = [4096, 4097, 5000, 8192, 12345, 20000, 1 << 20]
    runtime_text = (
        f"func.func @f(%n_m: memref<1xi64>, %o_m: memref<{pairs}xf32>) attributes "
        "{llvm.emit_c_interface} {\n"
        "  %n_t = bufferization.to_tensor %n_m restrict : memref<1xi64> to tensor<1xi64>\n"
        "  %c0 = arith.constant 0 : index\n"
        "  %n = tensor.extract %n_t[%c0] : tensor<1xi64>\n"
        f"  %f = mrope.inv_freq theta = 1.000000e+04 scaling {scaling} seq_len(%n : i64){flag} "
        f": tensor<{pairs}xf32>\n"
        "  bufferization.materialize_in_destination %f in writable %o_m : "
        f"(tensor<{pairs}xf32>, memref<{pairs}xf32>) -> ()\n  return\n}}\n")
    module = mrope.compile(runtime_text)
    differs = False
    for n in lengths:
        at_runtime = np.zeros(pairs, np.float32)
        module.call("f", np.array([n], np.int64), at_runtime)
        constant_text = runtime_text.replace(
            "%n = tensor.extract %n_t[%c0] : tensor<1xi64>", f"%n = arith.constant {n} : i64")
        folded = np.zeros(pairs, np.float32)
        mrope.compile(constant_text).call("f", np.array([n], np.int64), folded)
        assert np.array_equal(at_runtime, folded), n
        other = np.zeros(pairs, np.float32)
        mrope.compile(runtime_text.replace(flag, "") if at_init else
                      runtime_text.replace(f": tensor<{pairs}xf32>\n  bufferization",
                                           f" at_init : tensor<{pairs}xf32>\n  bufferization", 1)
                      ).call("f", np.array([n], np.int64), other)
        differs |= not np.array_equal(other, at_runtime)
    assert differs


def compiled_bf16_cos_sin(config, positions, heads):
    """The bf16 cos/sin the compiled NeoX rotation uses at `positions`,
    read back by rotating unit vectors: round(1 * c - 0 * s) in the first
    half, round(0 * c + 1 * s) in the second."""
    ml_dtypes = pytest.importorskip("ml_dtypes", reason="bfloat16 arrays need ml_dtypes")
    bf16 = np.dtype(ml_dtypes.bfloat16)
    tokens, half = positions.shape[-1], config.rotary_dim // 2
    unit = np.zeros((1, heads, tokens, config.head_dim), np.float32)
    unit[..., :half] = 1.0
    k = np.zeros((1, 1, tokens, config.head_dim), np.float32).astype(bf16)
    rotated_unit, _ = mrope.apply_rotary(config, unit.astype(bf16), k, positions)
    return (rotated_unit[..., :half].astype(np.float32),
            rotated_unit[..., half:2 * half].astype(np.float32))


def assert_bf16_rotation_exact(config, q, positions):
    """The compiled bf16 rotation of q against x1*cos - x2*sin and
    x2*cos + x1*sin with every op rounded to bf16 by ml_dtypes -- the
    reference's arithmetic -- bit for bit (NaN matches NaN)."""
    ml_dtypes = pytest.importorskip("ml_dtypes", reason="bfloat16 arrays need ml_dtypes")
    bf16 = np.dtype(ml_dtypes.bfloat16)
    cos, sin = compiled_bf16_cos_sin(config, positions, q.shape[1])
    k = np.zeros((1, 1, q.shape[2], config.head_dim), np.float32).astype(bf16)
    q_rot, _ = mrope.apply_rotary(config, q, k, positions)

    def r(x):
        return x.astype(bf16).astype(np.float32)

    half = config.rotary_dim // 2
    x1, x2 = q[..., :half].astype(np.float32), q[..., half:2 * half].astype(np.float32)
    with np.errstate(invalid="ignore", over="ignore"):
        want1 = r(r(x1 * cos) - r(x2 * sin))
        want2 = r(r(x2 * cos) + r(x1 * sin))
    got = q_rot.astype(np.float32)
    np.testing.assert_array_equal(got[..., :half], want1)
    np.testing.assert_array_equal(got[..., half:2 * half], want2)
    return got


def test_bf16_rotation_of_every_bf16_value():
    """Every bf16 bit pattern (NaNs, infinities, subnormals, the largest
    finite values, ties) through the compiled bf16 rotation, using the bf16
    cos/sin the compiled code itself produced."""
    ml_dtypes = pytest.importorskip("ml_dtypes", reason="bfloat16 arrays need ml_dtypes")
    bf16 = np.dtype(ml_dtypes.bfloat16)
    config = mrope.from_hf(QWEN2_VL_7B)
    rng = np.random.default_rng(21)
    heads, tokens = 8, 64  # 8 * 64 * 128 = 65536 channels of q: one per pattern
    positions = rng.integers(0, 3000, (3, 1, tokens))
    patterns = rng.permutation(np.arange(1 << 16, dtype=np.uint32)).astype(np.uint16)
    q = patterns.view(bf16).reshape(1, heads, tokens, 128)
    got = assert_bf16_rotation_exact(config, q, positions)
    assert np.isnan(got).sum() >= 256 and np.isinf(got).any()


def test_bf16_rotation_near_the_subnormal_range():
    """Products and sums near and below 2^-126, where a rounding instruction
    that reads subnormals as zero (AVX512-BF16's vcvtne2ps2bf16, which the
    CPU form uses where it gives the same bits) would differ: rows of words
    at or just above 2^-63 (the smallest it accepts), rows with one word
    below that, rows whose halves cancel (x2 = x1), NaNs, infinities and the
    largest finite values; cos/sin as usual, with theta = 1e30 (sines so
    small that products with them are subnormal, next to cos ~1), and scaled
    by an attention factor of 1e-20 (cos/sin near 2^-66, below the 2^-55 it
    accepts), which makes products and results subnormal."""
    ml_dtypes = pytest.importorskip("ml_dtypes", reason="bfloat16 arrays need ml_dtypes")
    bf16 = np.dtype(ml_dtypes.bfloat16)
    rng = np.random.default_rng(5)
    heads, tokens = 16, 48
    # Exponent fields 64..70 (2^-63 .. 2^-57), random signs and mantissas.
    fields = rng.integers(64, 71, (1, heads, tokens, 128)).astype(np.uint16)
    mantissas = rng.integers(0, 128, fields.shape).astype(np.uint16)
    signs = rng.integers(0, 2, fields.shape).astype(np.uint16)
    words = (signs << 15) | (fields << 7) | mantissas
    # Rows 0-3 of every token: one word just below 2^-63 (field 63).
    words[:, 0:4, :, 5] = (63 << 7) | 0x11
    # Row 4: huge and special values among the small ones.
    words[:, 4, :, 0:4] = [0x7F7F, 0xFF80, 0x7FC0, 0x7F80]
    # Row 5: x2 = x1, so x1 c - x2 s cancels where c and s are close.
    words[:, 5, :, 64:] = words[:, 5, :, :64]
    q = words.view(bf16)
    positions = rng.integers(0, 3000, (3, 1, tokens))
    positions[:, 0, :4] = [0, 1, 2, 3]
    allocation = "<contiguous, section = [16, 24, 24]>"
    plain = mrope.RopeConfig(head_dim=128, rotary_dim=128, allocation=allocation)
    tiny = plain.replace(scaling="<kind = yarn, factor = 4.0, max_position_embeddings = 4096, "
                                 "attention_factor = 1.0e-20>")
    assert_bf16_rotation_exact(plain, q, positions)
    # theta = 1e30: the last pairs' sines are tiny (x * sin subnormal) while
    # cos is ~1, the case decided at compile time (attention scaling 1).
    huge_theta = plain.replace(theta=1e30)
    assert_bf16_rotation_exact(huge_theta, q, positions)
    _, sin = compiled_bf16_cos_sin(huge_theta, positions, heads)
    with np.errstate(invalid="ignore"):  # inf * 0 in row 4
        products = np.abs(q[..., :64].astype(np.float32) * sin)
    assert ((products > 0) & (products < 2.0**-126)).any()
    got = assert_bf16_rotation_exact(tiny, q, positions)
    magnitudes = np.abs(got[np.isfinite(got)])
    assert ((magnitudes > 0) & (magnitudes < 2.0**-126)).any()


@pytest.mark.parametrize("head_dim, rotary_dim, allocation", [
    (256, 64, "<interleaved, section = [11, 11, 10]>"),  # 32 pairs: one group of 2 x 16
    (128, 40, "<contiguous, section = [4, 8, 8]>"),       # 20 pairs: sets of 10 lanes
    (64, 4, "<contiguous, section = [0, 1, 1]>"),         # 2 pairs: sets of 1 lane
])
def test_bf16_partial_rotary_word_pairs(head_dim, rotary_dim, allocation):
    """bf16 rows with partial rotary: the word-pair groups cover only the
    rotary channels (whole 16-lane sets, odd-sized sets, single lanes), every
    op rounded as the reference, and the other channels pass through."""
    ml_dtypes = pytest.importorskip("ml_dtypes", reason="bfloat16 arrays need ml_dtypes")
    bf16 = np.dtype(ml_dtypes.bfloat16)
    rng = np.random.default_rng(3)
    config = mrope.RopeConfig(head_dim=head_dim, rotary_dim=rotary_dim, allocation=allocation)
    q = rng.standard_normal((1, 8, 33, head_dim)).astype(np.float32).astype(bf16)
    positions = rng.integers(0, 500, (3, 1, 33))
    got = assert_bf16_rotation_exact(config, q, positions)
    np.testing.assert_array_equal(got[..., rotary_dim:], q[..., rotary_dim:].astype(np.float32))


# The CPU form of mrope.cos_sin (vectors per token, CosSinRows.cpp) against
# the portable form (two linalg.generic, scalar: what IREE and the GPU
# take), both compiled for the CPU here: bit for bit. The portable form is
# checked against the golden tables (test_golden_rotary runs the CPU form,
# test_gpu_loops_emulated the portable one on the emulator).
CPU_FORM_CONFIGS = {
    "contiguous": mrope.RopeConfig(theta=1000000.0),
    "interleaved-gptj": mrope.RopeConfig(
        theta=5000000.0, allocation="<interleaved, section = [24, 20, 20]>", pairs="gptj"),
    "mhrope": mrope.paper("mhrope", dim=128, mrope_section=[2, 3, 3], num_key_value_heads=8),
    "hope-nope-pairs": mrope.RopeConfig(allocation="<hope, section = [8, 12, 12]>"),
    "partial-yarn": mrope.RopeConfig(
        head_dim=128, rotary_dim=40, allocation="<interleaved, section = [8, 6, 6]>",
        scaling="<kind = yarn, factor = 4.0, original_max_position_embeddings = 32768>"),
    "fractional": mrope.paper("v2pe", dim=64, visual_stride=0.5).replace(
        allocation="<contiguous, section = [8, 12, 12]>"),
}


def _lowered(source, options):
    run = subprocess.run([MROPE_OPT, f"--convert-mrope-to-linalg={options}"], input=source,
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    return run.stdout


@pytest.mark.skipif(not os.path.exists(MROPE_OPT), reason="no mrope-opt")
@pytest.mark.parametrize("name, element", [
    *((name, "f32") for name in CPU_FORM_CONFIGS),
    ("contiguous", "bf16"), ("interleaved-gptj", "bf16"), ("mhrope", "f16")])
def test_cos_sin_cpu_form_matches_portable_form(name, element):
    config = CPU_FORM_CONFIGS[name]
    rng = np.random.default_rng(11)
    # Two sequences of 300 tokens (a full and a partial tile of 256); long-
    # context positions (Payne-Hanek above 125 rad), runs of repeats.
    shape = (3, 2, 300)
    if config.float_positions:
        positions = (rng.integers(0, 1 << 16, shape) * 0.25).astype(np.float32)
    else:
        positions = rng.integers(0, 1 << 20, shape)
        # Repeats (the previous token's cos/sin are reused), and position 0
        # -- the bits the reuse check starts from -- at each tile's first
        # token (which must be computed).
        positions[:, :, 100:140] = positions[:, :, 100:101]
        positions[:, :, [0, 256]] = 0
    table = [2, 300, config.rotary_dim]
    if "head_partitioned" in config.allocation:
        table = [2, 8, 300, config.rotary_dim]
    source = ir.cos_sin_function(config, shape, table, element,
                                 mrope.attention_scaling(config), None)
    results = {}
    forms = {"portable": "vector-rows=false", "cpu": "vector-rows=true"}
    if element == "f32":  # other vector widths (the rounding is per lane)
        forms.update({"cpu-avx2": "vector-rows=true vector-bits=256",
                      "cpu-whole-row": "vector-rows=true vector-bits=-1"})
    for form, options in forms.items():
        # (bf16 tables come back as their bits, in uint16 arrays)
        outputs = [np.zeros(table, runtime.carrier_of(element)) for _ in range(2)]
        runtime.compile(_lowered(source, options)).call("cos_sin", positions, *outputs)
        results[form] = [o.view(np.uint16 if element != "f32" else np.uint32) for o in outputs]
    for form in set(forms) - {"portable"}:
        for got, want in zip(results[form], results["portable"]):
            np.testing.assert_array_equal(got, want, err_msg=form)
    # Not vacuous: many distinct values, and the sin table is not the cos one.
    cos, sin = results["cpu"]
    assert len(np.unique(cos)) > 1000 and not np.array_equal(cos, sin)


def test_cos_sin_bench_runs_and_checks():
    # The benchmark program (tools/mrope-bench/cos_sin_bench.py) end to end
    # on a small length: its same-run checks (bit for bit against the
    # portable form, within 2 ulps of float64) pass for all six rows.
    script = os.path.join(ROOT, "tools", "mrope-bench", "cos_sin_bench.py")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    run = subprocess.run([sys.executable, script, "--tokens", "600", "--reps", "1"],
                         capture_output=True, text=True, env=env, timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr
    rows = [line for line in run.stdout.splitlines() if "(=portable: yes" in line]
    assert len(rows) == 6 and "MISMATCH" not in run.stdout


def test_cos_sin_dtypes_and_threads():
    # bf16 and f16 tables are the f32 tables rounded to nearest even (HF's
    # .to(dtype)); dtypes by name, NumPy type or ml_dtypes; the threaded
    # loop gives the same bits; anything else is refused by name.
    config = mrope.from_hf(QWEN2_VL_7B)
    rng = np.random.default_rng(5)
    positions = rng.integers(0, 40000, (3, 2, 1100))
    cos, sin = mrope.cos_sin(config, positions, threads=False)
    assert cos.dtype == np.float32 and cos.shape == (2, 1100, 128)
    half_c, half_s = mrope.cos_sin(config, positions, dtype=np.float16)
    assert half_c.dtype == np.float16
    np.testing.assert_array_equal(half_c, cos.astype(np.float16))
    np.testing.assert_array_equal(half_s, sin.astype(np.float16))
    ml_dtypes = pytest.importorskip("ml_dtypes", reason="bfloat16 tables need ml_dtypes")
    for dtype in ("bfloat16", ml_dtypes.bfloat16):
        bf_c, bf_s = mrope.cos_sin(config, positions, dtype=dtype)
        assert bf_c.dtype == np.dtype(ml_dtypes.bfloat16)
        np.testing.assert_array_equal(bf_c.view(np.uint16), runtime.float32_to_bfloat16_bits(cos))
        np.testing.assert_array_equal(bf_s.view(np.uint16), runtime.float32_to_bfloat16_bits(sin))
    threaded = mrope.cos_sin(config, positions, threads=True)
    for got, want in zip(threaded, (cos, sin)):
        np.testing.assert_array_equal(got.view(np.uint32), want.view(np.uint32))
    for bad in ("float64", np.int32, "half-ish"):
        with pytest.raises(mrope.InputError, match="dtype: must be float32, float16 or bfloat16"):
            mrope.cos_sin(config, positions, dtype=bad)


@pytest.mark.parametrize("pairs", ["neox", "gptj"])
@pytest.mark.parametrize("batch", [1, 2])
def test_rotate_per_axis_tables(batch, pairs):
    """mrope.rotate with per-axis [3, B, S, D] tables and an allocation (what
    the raising pass makes of a section split): each pair reads its axis's
    table. Interleaved [2, 1, 1] over 4 pairs (axes t, h, w, t) has runs of
    one channel; with a batch of 1 every slice of such a run is a unit
    dimension, whose rank-reducing form crashed MLIR 22's
    expand-strided-metadata (the CPU pipeline); now compared with NumPy."""
    rng = np.random.default_rng(11 + batch)
    heads, length, dim = 4, 6, 8
    x = rng.standard_normal((batch, heads, length, dim)).astype(np.float32)
    cos = rng.uniform(-1, 1, (3, batch, length, dim)).astype(np.float32)
    sin = rng.uniform(-1, 1, (3, batch, length, dim)).astype(np.float32)
    axes = reference.axis_of_pairs("interleaved", [2, 1, 1], dim // 2)
    pair = np.arange(dim) % (dim // 2) if pairs == "neox" else np.arange(dim) // 2
    c = cos[axes[pair], :, :, np.arange(dim)].transpose(1, 2, 0)[:, None]  # [B, 1, S, D]
    s = sin[axes[pair], :, :, np.arange(dim)].transpose(1, 2, 0)[:, None]
    if pairs == "neox":
        partner = np.concatenate([-x[..., dim // 2:], x[..., :dim // 2]], axis=-1)
    else:
        partner = np.stack([-x[..., 1::2], x[..., 0::2]], axis=-1).reshape(x.shape)
    want = (x * c + partner * s).astype(np.float32)

    fn = ir._Function("rotate")
    xv, xt = fn.input("x", list(x.shape), "f32")
    cv, ct = fn.input("cos", list(cos.shape), "f32")
    sv, _ = fn.input("sin", list(sin.shape), "f32")
    fn.output("out", list(x.shape), "f32")
    fn.lines.append(f"%r = mrope.rotate {xv}, {cv}, {sv} layout bhsd pairs {pairs} "
                    f"alloc <interleaved, section = [2, 1, 1]> : {xt}, {ct}")
    fn.store("%r", "out_out", list(x.shape), "f32")
    out = np.zeros_like(x)
    runtime.compile(fn.text()).call("rotate", x, cos, sin, out)
    np.testing.assert_array_equal(out, want)  # the same f32 operations
