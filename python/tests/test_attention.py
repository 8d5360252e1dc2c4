"""mrope.attention compiled with the CPU pipeline (online softmax) against a
plain NumPy reference, softmax(Q K^T * scale + mask) V in float64: layouts,
GQA, causal (bottom-right aligned) and not, decode against a longer cache,
additive masks, packed varlen sequences, f32 and bf16; and with a rotary
prologue, fused (-mrope-fuse-rotary-into-attention) vs unfused (mrope.apply,
then attention) vs the reference with the NumPy rotary, for each
allocation."""

import os
import subprocess

import numpy as np
import pytest

import mrope
from mrope import reference
from mrope.ir import tensor_entry_point, tensor_type

from conftest import ROOT

MROPE_OPT = os.environ.get("MROPE_OPT", os.path.join(ROOT, "build", "bin", "mrope-opt"))


def dtype_of(name):
    if name == "f16":
        return np.dtype(np.float16)
    if name == "bf16":
        ml_dtypes = pytest.importorskip("ml_dtypes", reason="bfloat16 arrays need ml_dtypes")
        return np.dtype(ml_dtypes.bfloat16)
    return np.dtype(np.float32)


def lowered_module(text, conversion_options):
    """@attn of `text` lowered by mrope-opt's convert-mrope-to-linalg with
    `conversion_options` (a form the default pipeline does not pick), the
    rest compiled by the package's CPU pipeline."""
    if not os.path.exists(MROPE_OPT):
        pytest.skip(f"{MROPE_OPT} not built")
    lowered = subprocess.run(
        [MROPE_OPT, f"--convert-mrope-to-linalg={conversion_options}", "-"],
        input=tensor_entry_point(text, "attn"), capture_output=True, text=True, check=True)
    return mrope.runtime.Module(lowered.stdout, False)


def run(text, arrays, out_shape, dtype, portable=False):
    """@attn of `text` on `arrays`; `portable`: through the portable form
    (what --mrope-to-linalg-pipeline gives IREE: whole-tensor linalg)."""
    module = (lowered_module(text, "portable-attention=true") if portable
              else mrope.compile(tensor_entry_point(text, "attn")))
    out = mrope.runtime.carrier_array(np.zeros(out_shape, dtype))
    module.call("run", *[mrope.runtime.carrier_array(a) for a in arrays], out)
    return mrope.runtime.as_dtype(out, dtype)


def attention_ir(q, k, v, element, layout, causal=False, scale=None, mask=None,
                 cu_seqlens=None, rotary=None, q_positions=None, k_positions=None, freqs=None,
                 kv_cu_seqlens=None, block_table=None, page_size=None):
    """@attn(q, k, v, [mask], [cu_seqlens], [kv_cu_seqlens], [block_table],
    [positions...], [freqs]) -> out."""
    args, operands = [], ""

    def arg(name, shape, elem):
        args.append(f"%{name}: {tensor_type(shape, elem)}")
        return f"%{name} : {tensor_type(shape, elem)}"

    qt, kt, vt = (tensor_type(x.shape, element) for x in (q, k, v))
    args += [f"%q: {qt}", f"%k: {kt}", f"%v: {vt}"]
    if mask is not None:
        operands += f" mask({arg('mask', mask.shape, element)})"
    if cu_seqlens is not None:
        operands += f" cu_seqlens({arg('cu', cu_seqlens.shape, 'i32')})"
    if kv_cu_seqlens is not None:
        operands += f" kv_cu_seqlens({arg('kvcu', kv_cu_seqlens.shape, 'i32')})"
    if block_table is not None:
        operands += (f" block_table({arg('table', block_table.shape, 'i32')})"
                     f" page_size {page_size}")
    if q_positions is not None:
        operands += f" q_positions({arg('qp', q_positions.shape, 'i64')})"
    if k_positions is not None:
        operands += f" k_positions({arg('kp', k_positions.shape, 'i64')})"
    if freqs is not None:
        operands += f" freqs({arg('f', freqs.shape, 'f32')})"
    attrs = f" rotary {rotary}" if rotary else ""
    attrs += f" scale {scale!r}" if scale is not None else ""
    attrs += " causal" if causal else ""
    return (f"func.func @attn({', '.join(args)}) -> {qt} {{\n"
            f"  %0 = mrope.attention %q, %k, %v{operands} layout {layout}{attrs} : "
            f"{qt}, {kt}, {vt} -> {qt}\n  return %0 : {qt}\n}}\n")


reference_attention = reference.attention


def to_bhsd(x, layout):
    return x.transpose(0, 2, 1, 3) if layout == "bshd" else x


def check(got, want, dtype):
    got32 = got.astype(np.float64)
    np.testing.assert_array_less(np.abs(got32 - want), reference.attention_error_bound(want, dtype))


def random(rng, shape, dtype):
    return rng.standard_normal(shape).astype(np.float32).astype(dtype)


@pytest.mark.parametrize("element", ["f32", "bf16"])
@pytest.mark.parametrize("layout", ["bhsd", "bshd"])
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("sq,skv", [(12, 12), (3, 12), (1, 9)], ids=["prefill", "decode3", "decode1"])
def test_attention_matches_reference(element, layout, causal, sq, skv):
    run_against_reference(2, 4, 2, sq, skv, 16, layout, causal, element,
                          seed=sq * 100 + skv + causal)


def run_against_reference(b, hq, hkv, sq, skv, d, layout, causal, element, seed):
    """Random q, k, v of the shape through the compiled attention, checked
    against the float64 reference; returns the output as bhsd."""
    dtype = dtype_of(element)
    rng = np.random.default_rng(seed)

    def shaped(h, s):
        return (b, s, h, d) if layout == "bshd" else (b, h, s, d)

    q, k, v = random(rng, shaped(hq, sq), dtype), random(rng, shaped(hkv, skv), dtype), \
        random(rng, shaped(hkv, skv), dtype)
    got = to_bhsd(run(attention_ir(q, k, v, element, layout, causal), [q, k, v], q.shape, dtype),
                  layout)
    want = reference_attention(*(to_bhsd(x.astype(np.float32), layout) for x in (q, k, v)),
                               causal=causal)
    check(got, want, dtype)
    return got


@pytest.mark.parametrize("per_head", [False, True])
def test_additive_mask_and_scale(per_head):
    rng = np.random.default_rng(7)
    b, hq, hkv, s, d = 1, 4, 1, 6, 8  # MQA
    q, k, v = random(rng, (b, hq, s, d), np.float32), random(rng, (b, hkv, s, d), np.float32), \
        random(rng, (b, hkv, s, d), np.float32)
    mask = rng.standard_normal((b, hq if per_head else 1, s, s)).astype(np.float32)
    mask[..., 0, 2:] = -np.inf  # part of a row masked out
    mask[..., 1, :] = -np.inf  # a whole row masked out: 0
    got = run(attention_ir(q, k, v, "f32", "bhsd", scale=0.3, mask=mask), [q, k, v, mask],
              q.shape, np.float32)
    want = reference_attention(q, k, v, scale=0.3, mask=mask)
    check(got, want, np.float32)
    assert np.all(got[:, :, 1] == 0)


# portable: the same cases through the portable form (whole-tensor linalg,
# what --mrope-to-linalg-pipeline gives IREE), which limits each query
# token's keys by index instead of looping over its sequence's keys.
@pytest.mark.parametrize("element", ["f32", "bf16"])
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("portable", [False, True], ids=["cpu", "portable"])
def test_packed_varlen(element, causal, portable):
    run_varlen_against_reference([0, 5, 6, 13], 4, 2, 16, causal, element, seed=11,
                                 portable=portable)


def run_varlen_against_reference(cu, hq, hkv, d, causal, element, seed, kv_cu=None,
                                 portable=False):
    """Packed (thd) random q, k, v with sequences `cu` (cu_seqlens; keys
    `kv_cu` when given) through the compiled attention (`portable`: its
    portable form), checked against the per-sequence reference; returns the
    output."""
    dtype = dtype_of(element)
    rng = np.random.default_rng(seed)
    cu = np.array(cu, np.int32)
    kv_cu = None if kv_cu is None else np.array(kv_cu, np.int32)
    t, tk = int(cu[-1]), int((cu if kv_cu is None else kv_cu)[-1])
    q, k, v = random(rng, (t, hq, d), dtype), random(rng, (tk, hkv, d), dtype), \
        random(rng, (tk, hkv, d), dtype)
    arrays = [q, k, v, cu] + ([] if kv_cu is None else [kv_cu])
    got = run(attention_ir(q, k, v, element, "thd", causal, cu_seqlens=cu, kv_cu_seqlens=kv_cu),
              arrays, q.shape, dtype, portable)
    want = reference_attention(*(x.astype(np.float32) for x in (q, k, v)), causal=causal,
                               cu_seqlens=cu, kv_cu_seqlens=kv_cu)
    check(got, want, dtype)
    return got


# Prefill shapes (at least 16 query rows per KV head) take the tiled form:
# rows of one GQA group and consecutive tokens in the lanes of a vector.
# Tiles with fewer rows than lanes (a group of 3: 15 rows), a last tile of
# tokens partly outside q, MQA groups wider than a vector (32 heads: two
# tiles of 16), key blocks with a partial last block, head dims that are not
# a multiple of the channel unroll, queries before the first key (causal
# with Sq > Skv: rows of 0), f16.
TILE_CASES = [
    # b, hq, hkv, sq, skv, d, layout, causal, element
    (1, 3, 1, 37, 37, 16, "bhsd", True, "f32"),
    (2, 2, 2, 40, 53, 13, "bshd", True, "bf16"),
    (1, 32, 1, 3, 70, 8, "bhsd", False, "f32"),
    (1, 8, 2, 5, 33, 80, "bshd", True, "f16"),
    (2, 4, 4, 20, 20, 64, "bhsd", False, "bf16"),
    (1, 2, 1, 24, 10, 16, "bhsd", True, "f32"),
    (1, 6, 2, 17, 17, 32, "bshd", False, "f32"),
]


def case_ids(cases):
    return [f"{c[1]}q{c[2]}kv-{c[3]}x{c[4]}-d{c[5]}-{c[6]}-{'causal' if c[7] else 'full'}-{c[8]}"
            for c in cases]


@pytest.mark.parametrize("b,hq,hkv,sq,skv,d,layout,causal,element", TILE_CASES,
                         ids=case_ids(TILE_CASES))
def test_row_tiles_match_reference(b, hq, hkv, sq, skv, d, layout, causal, element):
    got = run_against_reference(b, hq, hkv, sq, skv, d, layout, causal, element,
                                seed=hq * 1000 + sq * 10 + d)
    if causal and sq > skv:
        assert np.all(got[:, :, :sq - skv] == 0)


# Long enough for several key chunks (256 keys of K and V at head_dim 128
# stay in L2) and several blocks of tiles per KV head (8 tiles of 16 rows):
# tiles resume their state at each chunk, causal blocks run in zigzag order,
# varlen sequences cross chunk and block boundaries.
@pytest.mark.parametrize("sq,skv,causal,element,cu", [
    (700, 700, True, "bf16", None),
    (700, 700, False, "f32", None),
    (300, 650, True, "f32", None),
    (650, 650, True, "f32", [0, 250, 251, 530, 650]),
    (650, 650, False, "bf16", [0, 100, 400, 650]),
], ids=["causal-bf16", "full-f32", "decode-cache-causal", "varlen-causal", "varlen-full-bf16"])
def test_key_chunks_and_tile_blocks(sq, skv, causal, element, cu):
    if cu is None:
        run_against_reference(1, 4, 2, sq, skv, 128, "bhsd", causal, element, seed=sq + skv)
    else:
        run_varlen_against_reference(cu, 4, 2, 128, causal, element, seed=sq + skv)


# Decode (fewer than 16 query rows per KV head) takes its own form: a task
# takes the query heads of one GQA group at one token -- up to 8, a divisor
# of the group -- and each key block it loads serves all of them: a group of
# 7 (Qwen2-VL 7B: 28 q / 4 kv heads, one task per group), 16 (two tasks of
# 8), 12 (two of 6), 5 with several query tokens, MHA (one head per task).
DECODE_CASES = [
    # b, hq, hkv, sq, skv, d, layout, causal, element
    (1, 28, 4, 1, 300, 128, "bhsd", True, "bf16"),
    (2, 16, 1, 1, 45, 16, "bshd", True, "f32"),
    (1, 12, 1, 1, 33, 24, "bhsd", False, "f16"),
    (2, 10, 2, 3, 40, 8, "bshd", True, "bf16"),
    (1, 4, 4, 2, 19, 20, "bhsd", True, "f32"),
]


@pytest.mark.parametrize("b,hq,hkv,sq,skv,d,layout,causal,element", DECODE_CASES,
                         ids=case_ids(DECODE_CASES))
def test_decode_heads_share_keys(b, hq, hkv, sq, skv, d, layout, causal, element):
    run_against_reference(b, hq, hkv, sq, skv, d, layout, causal, element,
                          seed=hq * 100 + skv + d)


def test_decode_per_head_mask():
    """A per-head mask in the decode form, whose task holds several heads:
    each row adds its own head's mask row (one head fully masked: 0)."""
    rng = np.random.default_rng(5)
    b, hq, hkv, sq, skv, d = 2, 8, 2, 1, 21, 16
    q, k, v = random(rng, (b, hq, sq, d), np.float32), random(rng, (b, hkv, skv, d), np.float32), \
        random(rng, (b, hkv, skv, d), np.float32)
    mask = rng.standard_normal((b, hq, sq, skv)).astype(np.float32)
    mask[:, 1, :, 3:] = -np.inf
    mask[1, 6] = -np.inf
    got = run(attention_ir(q, k, v, "f32", "bhsd", mask=mask), [q, k, v, mask], q.shape,
              np.float32)
    want = reference_attention(q, k, v, mask=mask)
    check(got, want, np.float32)
    assert np.all(got[1, 6] == 0) and np.any(got[0, 6] != 0)


# Split-KV: a cache of 2048+ keys is cut into ranges of 1024+ (a multiple
# of 16), each its own task writing partial m, l, acc; a second loop
# combines them. 2100 keys: 2 ranges (the second partial); 5000: 4; causal
# with 3 tokens (the first token's range ends 2 keys earlier); bf16 with
# vdpbf16ps where the host has it.
@pytest.mark.parametrize("b,hq,hkv,sq,skv,d,causal,element", [
    (1, 8, 2, 1, 2100, 64, True, "bf16"),
    (2, 4, 1, 3, 2100, 16, True, "f32"),
    (1, 2, 2, 2, 5000, 32, False, "f16"),
], ids=["2-splits-bf16", "2-splits-3-tokens", "4-splits-mha-f16"])
def test_decode_split_kv(b, hq, hkv, sq, skv, d, causal, element):
    run_against_reference(b, hq, hkv, sq, skv, d, "bhsd", causal, element, seed=skv + sq)


def test_decode_split_kv_mask():
    """Masks across the splits: a head whose only unmasked key is in the
    last range, a head fully masked (0), a broadcast head's mask."""
    rng = np.random.default_rng(9)
    b, hq, hkv, sq, skv, d = 1, 4, 1, 1, 2500, 16
    q, k, v = random(rng, (b, hq, sq, d), np.float32), random(rng, (b, hkv, skv, d), np.float32), \
        random(rng, (b, hkv, skv, d), np.float32)
    mask = rng.standard_normal((b, hq, sq, skv)).astype(np.float32)
    mask[0, 1, 0, :2400] = -np.inf
    mask[0, 2] = -np.inf
    got = run(attention_ir(q, k, v, "f32", "bhsd", mask=mask), [q, k, v, mask], q.shape,
              np.float32)
    want = reference_attention(q, k, v, mask=mask)
    check(got, want, np.float32)
    assert np.all(got[0, 2] == 0) and np.all(got[0, 1] != 0)


@pytest.mark.parametrize("sq,skv,element", [(1, 2500, "f32"), (2, 70, "bf16"), (1, 40, "f16")],
                         ids=["split-kv-f32", "two-tokens-bf16", "short-cache-f16"])
def test_decode_strided_keys_staged(sq, skv, element):
    """bshd decode with several KV heads: key rows of one head are Hkv * D
    apart, so a task takes all head groups of its token and stages whole
    rows of every head (64 keys at a time, the last range shifted back to
    stay inside the cache): per-head mask with -inf entries (a head fully
    masked is 0), split-KV ranges, several tokens, a cache shorter than a
    staged range."""
    dtype = dtype_of(element)
    rng = np.random.default_rng(skv + sq)
    b, hq, hkv, d = 2, 8, 4, 32
    q = random(rng, (b, sq, hq, d), dtype)
    k, v = random(rng, (b, skv, hkv, d), dtype), random(rng, (b, skv, hkv, d), dtype)
    mask = rng.standard_normal((b, hq, sq, skv)).astype(np.float32)
    mask[:, 1, :, 5:] = -np.inf
    mask[1, 6] = -np.inf
    mask = mask.astype(dtype)
    got = run(attention_ir(q, k, v, element, "bshd", mask=mask), [q, k, v, mask], q.shape,
              dtype)
    want = reference_attention(*(to_bhsd(x.astype(np.float32), "bshd") for x in (q, k, v)),
                               mask=mask.astype(np.float32))
    check(to_bhsd(got, "bshd"), want, dtype)
    assert np.all(got[1, :, 6] == 0)


def random_case(seed):
    """A random small attention: group sizes 1-12 (tiles of 1-16 rows),
    head dims 1-72 (odd ones included), Sq below, equal to or above Skv."""
    rng = np.random.default_rng(seed)
    hkv = int(rng.integers(1, 3))
    group = int(rng.choice([1, 2, 3, 4, 5, 6, 8, 12]))
    sq = int(rng.integers(1, 60))
    skv = sq if rng.random() < 0.5 else int(rng.integers(1, 80))
    return (int(rng.integers(1, 3)), group * hkv, hkv, sq, skv, int(rng.integers(1, 73)),
            str(rng.choice(["bhsd", "bshd"])), bool(rng.random() < 0.5),
            str(rng.choice(["f32", "bf16", "f16"])))


@pytest.mark.parametrize("seed", range(24))
def test_random_shapes_match_reference(seed):
    """Both forms (row tiles for 16+ query rows per KV head, row by row
    below) on random shapes, against the float64 reference."""
    b, hq, hkv, sq, skv, d, layout, causal, element = random_case(seed)
    got = run_against_reference(b, hq, hkv, sq, skv, d, layout, causal, element, seed=seed)
    if causal and sq > skv:
        assert np.all(got[:, :, :sq - skv] == 0)


@pytest.mark.parametrize("sq", [1, 12], ids=["decode", "prefill"])
def test_mask_broadcast_over_batch(sq):
    """A [1, 1, Sq, Skv] mask applies to every batch row and head (both
    forms: one query token reads the row-by-row form)."""
    rng = np.random.default_rng(41 + sq)
    b, hq, hkv, skv, d = 2, 4, 2, 12, 16
    q, k, v = random(rng, (b, hq, sq, d), np.float32), random(rng, (b, hkv, skv, d), np.float32), \
        random(rng, (b, hkv, skv, d), np.float32)
    mask = rng.standard_normal((1, 1, sq, skv)).astype(np.float32)
    mask[..., 0, 3:] = -np.inf
    got = run(attention_ir(q, k, v, "f32", "bhsd", mask=mask), [q, k, v, mask], q.shape,
              np.float32)
    check(got, reference_attention(q, k, v, mask=mask), np.float32)


@pytest.mark.parametrize("element", ["f32", "bf16"])
@pytest.mark.parametrize("causal", [False, True])
def test_packed_varlen_across_tiles(element, causal):
    """Sequences that start and end inside tiles of 8 tokens (2 heads per
    KV head), an empty one, and a long one spanning several key blocks."""
    run_varlen_against_reference([0, 7, 7, 25, 61], 4, 2, 24, causal, element, seed=43)


# Packed sequences with their own keys (kv_cu_seqlens): batched decode
# (one query token per sequence against caches of different lengths; the
# decode form, one task per token and GQA group), an empty cache (row of
# 0), chunked prefill (a chunk of queries against its sequence's longer
# context, causal bottom-right per sequence: the tiled form), more queries
# than keys (the first causal rows see none), and a cache long enough to be
# split (split-KV ranges taken from each sequence's own keys).
KV_VARLEN_CASES = [
    # cu, kv_cu, hq, hkv, d, causal, element
    ([0, 1, 2, 3, 4], [0, 37, 37, 337, 340], 8, 2, 64, True, "bf16"),
    ([0, 1, 2, 3], [0, 20, 45, 46], 4, 4, 16, False, "f32"),
    ([0, 2, 5, 6], [0, 30, 31, 50], 10, 2, 32, True, "f16"),
    ([0, 20, 45, 46], [0, 40, 90, 131], 2, 1, 32, True, "f32"),
    ([0, 24, 40], [0, 30, 40], 4, 2, 16, False, "bf16"),
    ([0, 12, 20], [0, 5, 30], 2, 1, 16, True, "f32"),
    ([0, 1, 2, 3], [0, 3100, 3110, 6300], 8, 2, 32, True, "bf16"),
]


@pytest.mark.parametrize("cu,kv_cu,hq,hkv,d,causal,element", KV_VARLEN_CASES,
                         ids=["batched-decode", "decode-mha-full", "decode-3-tokens",
                              "chunked-prefill", "prefill-full", "more-queries-than-keys",
                              "decode-split-kv"])
@pytest.mark.parametrize("portable", [False, True], ids=["cpu", "portable"])
def test_packed_sequences_with_own_keys(cu, kv_cu, hq, hkv, d, causal, element, portable):
    got = run_varlen_against_reference(cu, hq, hkv, d, causal, element, seed=sum(kv_cu),
                                       kv_cu=kv_cu, portable=portable)
    for lo, hi, klo, khi in zip(cu[:-1], cu[1:], kv_cu[:-1], kv_cu[1:]):
        if causal and hi - lo > khi - klo:  # rows before the first key
            assert np.all(got[lo:lo + (hi - lo) - (khi - klo)] == 0)
        if khi == klo:
            assert np.all(got[lo:hi] == 0)


def test_packed_sequences_with_own_keys_rowwise():
    """The row-by-row form (attention-tiles=false) on the same rules."""
    rng = np.random.default_rng(53)
    cu, kv_cu = np.array([0, 3, 3, 9], np.int32), np.array([0, 10, 12, 14], np.int32)
    q = random(rng, (9, 2, 8), np.float32)
    k, v = random(rng, (14, 1, 8), np.float32), random(rng, (14, 1, 8), np.float32)
    text = attention_ir(q, k, v, "f32", "thd", True, cu_seqlens=cu, kv_cu_seqlens=kv_cu)
    module = lowered_module(text, "attention-tiles=false")
    out = mrope.runtime.carrier_array(np.zeros(q.shape, np.float32))
    module.call("run", *[mrope.runtime.carrier_array(a) for a in (q, k, v, cu, kv_cu)], out)
    got = mrope.runtime.as_dtype(out, np.float32)
    check(got, reference_attention(q, k, v, causal=True, cu_seqlens=cu, kv_cu_seqlens=kv_cu),
          np.float32)
    assert np.all(got[3:5] == 0)  # 6 queries against 2 keys: 4 rows see none


@pytest.mark.parametrize("portable", [False, True], ids=["cpu", "portable"])
def test_packed_sequences_malformed_boundaries(portable):
    """kv_cu_seqlens past the keys, decreasing, or negative: clamped, no
    out-of-bounds read (the Python API refuses such input; the op makes it
    safe). Equal to the reference on the clamped boundaries."""
    rng = np.random.default_rng(59)
    cu = np.array([0, 2, 4, 6], np.int32)
    kv_cu = np.array([-5, 7, 3, 99], np.int32)
    q = random(rng, (6, 2, 8), np.float32)
    k, v = random(rng, (10, 2, 8), np.float32), random(rng, (10, 2, 8), np.float32)
    got = run(attention_ir(q, k, v, "f32", "thd", True, cu_seqlens=cu, kv_cu_seqlens=kv_cu),
              [q, k, v, cu, kv_cu], q.shape, np.float32, portable)
    # Each sequence's pair clamped to [0, 10]: [0, 7), [7, 7) (decreasing:
    # empty, rows of 0), [3, 10).
    want = np.zeros(q.shape, np.float64)
    for (lo, hi), (klo, khi) in zip([(0, 2), (4, 6)], [(0, 7), (3, 10)]):
        want[lo:hi] = reference_attention(q[lo:hi], k[klo:khi], v[klo:khi], causal=True,
                                          cu_seqlens=[0, hi - lo],
                                          kv_cu_seqlens=[0, khi - klo])
    check(got, want, np.float32)
    assert np.all(got[2:4] == 0)


@pytest.mark.parametrize("portable", [False, True], ids=["cpu", "portable"])
def test_packed_sequences_overlapping(portable):
    """Query boundaries that overlap, decrease or pass the tokens: clamped to
    [0, T], a decreasing pair is empty, and a token in two sequences belongs
    to the later one (its rows are overwritten last, as in the
    reference's loop over sequences)."""
    rng = np.random.default_rng(61)
    cu = np.array([0, 5, 3, 8, 20], np.int32)
    q, k, v = (random(rng, (8, 2, 8), np.float32) for _ in range(3))
    got = run(attention_ir(q, k, v, "f32", "thd", True, cu_seqlens=cu), [q, k, v, cu],
              q.shape, np.float32, portable)
    # Sequences [0, 5), [5, 5) (empty), [3, 8) -- which takes tokens 3 and
    # 4 -- and [8, 8).
    want = np.zeros(q.shape, np.float64)
    for lo, hi in [(0, 5), (3, 8)]:
        want[lo:hi] = reference_attention(q[lo:hi], k[lo:hi], v[lo:hi], causal=True,
                                          cu_seqlens=[0, hi - lo])
    check(got, want, np.float32)


def run_paged_against_reference(cu, lengths, hq, hkv, d, page_size, pages_per_seq, causal,
                                element, seed, shared_prefix_pages=0, portable=False):
    """Packed queries `cu` against a paged pool: sequence n has lengths[n]
    keys in pages_per_seq pages of page_size, pages drawn at random from a
    pool with spare pages (the first shared_prefix_pages shared by all
    sequences, as prefix caching shares them), checked against the reference
    on the gathered keys."""
    dtype = dtype_of(element)
    rng = np.random.default_rng(seed)
    cu = np.array(cu, np.int32)
    kv_cu = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32)
    n = len(lengths)
    pages = n * pages_per_seq + 3
    table = np.stack([rng.permutation(pages)[:pages_per_seq] for _ in range(n)])
    table[:, :shared_prefix_pages] = table[0, :shared_prefix_pages]
    table = table.astype(np.int32)
    q = random(rng, (int(cu[-1]), hq, d), dtype)
    k, v = (random(rng, (pages * page_size, hkv, d), dtype) for _ in range(2))
    got = run(attention_ir(q, k, v, element, "thd", causal, cu_seqlens=cu, kv_cu_seqlens=kv_cu,
                           block_table=table, page_size=page_size),
              [q, k, v, cu, kv_cu, table], q.shape, dtype, portable)
    kg, vg = (reference.gather_pages(x.astype(np.float32), kv_cu, table, page_size) for x in (k, v))
    want = reference_attention(q.astype(np.float32), kg, vg, causal=causal, cu_seqlens=cu,
                               kv_cu_seqlens=kv_cu)
    check(got, want, dtype)
    return got


# Paged KV caches (block_table): batched decode with staged rows (2 KV
# heads), an empty cache and lengths that end inside a page; one KV head
# (rows read directly) with an odd page size; a few tokens per sequence;
# chunked prefill in tiles that span sequences (whose key slots are far
# apart); prefill without causal; a cache long enough for split-KV;
# sequences sharing their first pages; pages of one key; prefill with wide
# tables (1120 key slots per sequence: tiles spanning two sequences skip the
# blocks between their keys).
PAGED_CASES = [
    # cu, lengths, hq, hkv, d, page_size, pages_per_seq, causal, element, shared
    ([0, 1, 2, 3, 4], [37, 0, 300, 3], 8, 2, 64, 16, 20, True, "bf16", 0),
    ([0, 1, 2, 3], [20, 45, 1], 4, 1, 16, 7, 8, True, "f32", 0),
    ([0, 2, 5, 6], [30, 31, 19], 10, 2, 32, 8, 5, True, "f16", 0),
    ([0, 20, 45, 46], [40, 50, 41], 2, 1, 32, 16, 4, True, "f32", 0),
    ([0, 24, 40], [30, 16], 4, 2, 16, 8, 4, False, "bf16", 0),
    ([0, 1, 2, 3], [3100, 10, 3190], 8, 2, 32, 16, 200, True, "bf16", 0),
    ([0, 1, 2, 3], [70, 64, 100], 4, 2, 32, 16, 8, True, "f32", 4),
    ([0, 2, 4], [9, 13], 2, 1, 8, 1, 16, True, "f32", 0),
    ([0, 30, 33, 60], [40, 1000, 45], 2, 1, 16, 16, 70, True, "bf16", 0),
]


@pytest.mark.parametrize("cu,lengths,hq,hkv,d,page_size,pages_per_seq,causal,element,shared",
                         PAGED_CASES,
                         ids=["batched-decode-staged", "decode-direct-odd-page",
                              "decode-3-tokens", "chunked-prefill-tiles", "prefill-full",
                              "decode-split-kv", "shared-prefix-pages", "page-of-one",
                              "prefill-wide-tables"])
@pytest.mark.parametrize("portable", [False, True], ids=["cpu", "portable"])
def test_paged_kv_cache(cu, lengths, hq, hkv, d, page_size, pages_per_seq, causal, element,
                        shared, portable):
    got = run_paged_against_reference(cu, lengths, hq, hkv, d, page_size, pages_per_seq,
                                      causal, element, seed=sum(lengths),
                                      shared_prefix_pages=shared, portable=portable)
    for n, length in enumerate(lengths):
        if length == 0:
            assert np.all(got[cu[n]:cu[n + 1]] == 0)


@pytest.mark.parametrize("cu,kv_cu", [([0, 3, 3, 9], [0, 10, 12, 25]),
                                       ([0, 10, 10, 40], [0, 10, 12, 27])],
                         ids=["decode-pages-looked-up", "prefill-pages-gathered"])
def test_paged_kv_cache_rowwise(cu, kv_cu):
    """The row-by-row form (attention-tiles=false) reads pages too: looked up
    key by key (decode), or gathered first (prefill)."""
    rng = np.random.default_rng(83)
    cu, kv_cu = np.array(cu, np.int32), np.array(kv_cu, np.int32)
    table = np.array([[5, 0, 2, 9], [1, 7, 7, 7], [3, 6, 4, 8]], np.int32)
    q = random(rng, (int(cu[-1]), 2, 8), np.float32)
    k, v = random(rng, (40, 1, 8), np.float32), random(rng, (40, 1, 8), np.float32)
    text = attention_ir(q, k, v, "f32", "thd", True, cu_seqlens=cu, kv_cu_seqlens=kv_cu,
                        block_table=table, page_size=4)
    module = lowered_module(text, "attention-tiles=false")
    out = mrope.runtime.carrier_array(np.zeros(q.shape, np.float32))
    module.call("run", *[mrope.runtime.carrier_array(a)
                         for a in (q, k, v, cu, kv_cu, table)], out)
    got = mrope.runtime.as_dtype(out, np.float32)
    want = reference_attention(q, reference.gather_pages(k, kv_cu, table, 4),
                               reference.gather_pages(v, kv_cu, table, 4), causal=True, cu_seqlens=cu,
                               kv_cu_seqlens=kv_cu)
    check(got, want, np.float32)


@pytest.mark.parametrize("hkv", [1, 2], ids=["direct", "staged"])
@pytest.mark.parametrize("portable", [False, True], ids=["cpu", "portable"])
def test_paged_kv_cache_malformed(hkv, portable):
    """Page ids outside the pool and lengths outside [0, M * P]: clamped (the
    Python API refuses such input; the op makes it safe) -- equal to the
    reference on the clamped table and lengths."""
    rng = np.random.default_rng(89)
    cu = np.array([0, 1, 2, 3, 4], np.int32)
    # Lengths 9, -4 (none), 40 (more than the row's 3 pages of 4: 12), 5.
    kv_cu = np.array([100, 109, 105, 145, 150], np.int32)
    table = np.array([[2, -7, 1], [0, 0, 0], [1000, 3, 0], [4, 4, 2]], np.int32)
    q = random(rng, (4, 2, 8), np.float32)
    k, v = random(rng, (20, hkv, 8), np.float32), random(rng, (20, hkv, 8), np.float32)
    got = run(attention_ir(q, k, v, "f32", "thd", True, cu_seqlens=cu, kv_cu_seqlens=kv_cu,
                           block_table=table, page_size=4),
              [q, k, v, cu, kv_cu, table], q.shape, np.float32, portable)
    clamped = np.clip(table, 0, 4)
    lengths = [9, 0, 12, 5]
    kv = np.concatenate([[0], np.cumsum(lengths)])
    want = reference_attention(q, reference.gather_pages(k, kv, clamped, 4), reference.gather_pages(v, kv, clamped, 4),
                               causal=True, cu_seqlens=cu, kv_cu_seqlens=kv)
    check(got, want, np.float32)
    assert np.all(got[1] == 0)


@pytest.mark.parametrize("element", ["f32", "bf16"])
def test_python_api_paged_decode_with_rotary(element):
    """Batched decode through the Python API on a vLLM-style cache [pages,
    P, Hkv, D]: the new queries rotated by their positions, the cached keys
    already rotated; equal to the same call on the gathered (contiguous)
    cache."""
    from hf_configs import QWEN2_VL_7B

    config = mrope.from_hf(QWEN2_VL_7B)
    dtype = dtype_of(element)
    rng = np.random.default_rng(97)
    hq, hkv, d, page = 4, 2, config.head_dim, 16
    lengths = [33, 64, 5]
    kv_cu = np.concatenate([[0], np.cumsum(lengths)])
    table = np.array([[7, 2, 9, 0], [4, 1, 3, 8], [6, 5, 5, 5]])
    q = random(rng, (3, hq, d), dtype)
    k, v = (random(rng, (10, page, hkv, d), dtype) for _ in range(2))
    positions = rng.integers(0, 500, (3, 3))
    out = mrope.attention(q, k, v, config, positions, keys_rotated=True, causal=True,
                          layout="thd", cu_seqlens=[0, 1, 2, 3], kv_cu_seqlens=kv_cu,
                          block_table=table)
    kg, vg = (reference.gather_pages(x.reshape(-1, hkv, d), kv_cu, table, page) for x in (k, v))
    contiguous = mrope.attention(q, kg, vg, config, positions, keys_rotated=True, causal=True,
                                 layout="thd", cu_seqlens=[0, 1, 2, 3], kv_cu_seqlens=kv_cu)
    np.testing.assert_array_equal(out.astype(np.float32), contiguous.astype(np.float32))
    low = None if element == "f32" else dtype
    rotated_q = reference.apply_rotary(
        q.transpose(1, 0, 2)[None], q.transpose(1, 0, 2)[None], positions[:, None, :],
        mrope.inv_freq(config), "contiguous", [16, 24, 24],
        dtype=low)[0][0].transpose(1, 0, 2).astype(np.float32)
    want = reference_attention(rotated_q, kg.astype(np.float32), vg.astype(np.float32),
                               causal=True, cu_seqlens=np.array([0, 1, 2, 3]),
                               kv_cu_seqlens=kv_cu)
    check(out, want, dtype)


def test_python_api_paged_errors():
    rng = np.random.default_rng(101)
    q = random(rng, (2, 2, 8), np.float32)
    k = v = random(rng, (5, 4, 1, 8), np.float32)
    cu, kv_cu, table = [0, 1, 2], [0, 6, 9], [[0, 1, 0], [2, 4, 4]]
    call = lambda **kw: mrope.attention(  # noqa: E731
        q, kw.pop("k", k), kw.pop("v", v), layout=kw.pop("layout", "thd"),
        cu_seqlens=kw.pop("cu", cu), kv_cu_seqlens=kw.pop("kv_cu", kv_cu),
        block_table=kw.pop("table", table), **kw)
    with pytest.raises(mrope.InputError, match="block_table: only with layout thd"):
        call(layout="bhsd")
    with pytest.raises(mrope.InputError, match=r"k: a paged cache is \[pages, page_size, heads, "
                                               r"head_dim\], got shape \(20, 1, 8\)"):
        call(k=k.reshape(20, 1, 8))
    with pytest.raises(mrope.InputError, match="kv_cu_seqlens: required with block_table"):
        call(kv_cu=None)
    with pytest.raises(mrope.InputError, match=r"block_table: needs a row per sequence \(2\)"):
        call(table=[[0, 1, 2]])
    with pytest.raises(mrope.InputError, match="kv_cu_seqlens: sequence 1 has 13 cached keys; "
                                               "its block_table row holds 0 to 3 pages of 4"):
        call(kv_cu=[0, 6, 19])
    with pytest.raises(mrope.InputError, match="kv_cu_seqlens: sequence 1 has -1 cached keys"):
        call(kv_cu=[0, 6, 5])
    with pytest.raises(mrope.InputError, match=r"block_table: page 5 at \[0, 1\] is outside "
                                               r"the pool's 5 pages"):
        call(table=[[0, 5, 0], [2, 4, 4]])
    with pytest.raises(mrope.InputError, match="keys_rotated: must be True with block_table"):
        from hf_configs import QWEN2_VL_7B
        call(config=mrope.from_hf(QWEN2_VL_7B), position_ids=np.zeros((3, 2), np.int64))
    # Pages past a sequence's length may hold anything (-1 padding).
    out = call(table=[[0, 1, -1], [2, 4, 99]])
    assert out.shape == q.shape


ALLOCATIONS = [
    ("contiguous", [2, 3, 3], "<contiguous, section = [2, 3, 3]>"),
    ("interleaved", [2, 3, 3], "<interleaved, section = [2, 3, 3]>"),
    ("head_partitioned", [1, 1, 0], "<head_partitioned, section = [1, 1, 0]>"),
]


def unfused_ir(q, k, v, positions, inv_freq, element, layout, rotary, causal, cu=None):
    """@attn(q, k, v, [cu], positions, inv_freq): mrope.apply, then
    mrope.attention (what -mrope-fuse-rotary-into-attention fuses)."""
    qt, kt, vt = (tensor_type(x.shape, element) for x in (q, k, v))
    pt, ft = tensor_type(positions.shape, "i64"), tensor_type(inv_freq.shape, "f32")
    cu_arg = cu_operand = ""
    if cu is not None:
        ct = tensor_type(cu.shape, "i64")
        cu_arg, cu_operand = f", %cu: {ct}", f" cu_seqlens(%cu : {ct})"
    return (
        f"func.func @attn(%q: {qt}, %k: {kt}, %v: {vt}{cu_arg}, %p: {pt}, %f: {ft}) -> {qt} {{\n"
        f"  %qr, %kr = mrope.apply %q, %k positions(%p : {pt}) freqs(%f : {ft}) layout {layout} "
        f"rotary {rotary} : {qt}, {kt}\n"
        f"  %0 = mrope.attention %qr, %kr, %v{cu_operand} layout {layout}"
        f"{' causal' if causal else ''} : {qt}, {kt}, {vt} -> {qt}\n  return %0 : {qt}\n}}\n")


def fuse(text):
    if not os.path.exists(MROPE_OPT):
        pytest.skip(f"{MROPE_OPT} not built")
    done = subprocess.run([MROPE_OPT, "--mrope-fuse-rotary-into-attention", "-"], input=text,
                          capture_output=True, text=True, check=True)
    return done.stdout


def gqa_case(seed, dtype):
    """q [1, 4, 10, 16], k and v [1, 2, 10, 16] of `dtype`, positions below
    300 and the default inv_freq."""
    rng = np.random.default_rng(seed)
    b, hq, hkv, s, d = 1, 4, 2, 10, 16
    q, k, v = random(rng, (b, hq, s, d), dtype), random(rng, (b, hkv, s, d), dtype), \
        random(rng, (b, hkv, s, d), dtype)
    positions = rng.integers(0, 300, (3, b, s)).astype(np.int64)
    return q, k, v, positions, reference.default_inv_freq(d, 10000.0)


@pytest.mark.parametrize("element", ["f32", "bf16"])
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("allocation,section,alloc", ALLOCATIONS, ids=[a[0] for a in ALLOCATIONS])
def test_fused_rotary_vs_unfused_vs_reference(allocation, section, alloc, causal, element):
    dtype = dtype_of(element)
    q, k, v, positions, inv_freq = gqa_case(3, dtype)
    rotary = f"<alloc = {alloc}, rotary_dim = {q.shape[-1]}>"
    unfused = unfused_ir(q, k, v, positions, inv_freq, element, "bhsd", rotary, causal)
    fused = fuse(unfused)
    assert "mrope.apply" not in fused and "q_positions" in fused
    arrays = [q, k, v, positions, inv_freq]
    got_unfused = run(unfused, arrays, q.shape, dtype)
    got_fused = run(fused, arrays, q.shape, dtype)
    # The fused form rotates with the same code before the same loops.
    assert np.array_equal(got_fused.astype(np.float32), got_unfused.astype(np.float32))
    ref_q, ref_k = reference.apply_rotary(q, k, positions, inv_freq, allocation, section,
                                          dtype=None if element == "f32" else dtype)
    want = reference_attention(ref_q.astype(np.float32), ref_k.astype(np.float32),
                               v.astype(np.float32), causal=causal)
    check(got_fused, want, dtype)


def test_decode_rotates_queries_only():
    """Decode: the cache's keys were rotated when written (k_positions
    omitted); the new queries are rotated by their own positions."""
    rng = np.random.default_rng(5)
    b, hq, hkv, sq, skv, d = 1, 4, 2, 2, 9, 16
    q, k, v = random(rng, (b, hq, sq, d), np.float32), random(rng, (b, hkv, skv, d), np.float32), \
        random(rng, (b, hkv, skv, d), np.float32)
    cache_positions = np.broadcast_to(np.arange(skv), (3, b, skv)).astype(np.int64).copy()
    new_positions = cache_positions[:, :, -sq:].copy()
    inv_freq = reference.default_inv_freq(d, 10000.0)
    _, k_rot = reference.apply_rotary(k, k, cache_positions, inv_freq, "contiguous", [2, 3, 3])
    q_rot, _ = reference.apply_rotary(q, q, new_positions, inv_freq, "contiguous", [2, 3, 3])
    text = attention_ir(q, k_rot, v, "f32", "bhsd", causal=True,
                        rotary="<alloc = <contiguous, section = [2, 3, 3]>, rotary_dim = 16>",
                        q_positions=new_positions, freqs=inv_freq)
    got = run(text, [q, k_rot.astype(np.float32), v, new_positions, inv_freq], q.shape,
              np.float32)
    want = reference_attention(q_rot, k_rot, v, causal=True)
    check(got, want, np.float32)


@pytest.mark.parametrize("allocation,section,alloc", ALLOCATIONS, ids=[a[0] for a in ALLOCATIONS])
@pytest.mark.parametrize("element", ["f32", "bf16"])
def test_keys_only_rotation(allocation, section, alloc, element):
    """Queries rotated by the caller (q_positions omitted), keys by the op's
    prologue: the prologue's mrope.apply then rotates k alone (once)."""
    dtype = dtype_of(element)
    q, k, v, positions, inv_freq = gqa_case(11, dtype)
    d = q.shape[-1]
    low = None if element == "f32" else dtype
    q_rot, k_rot = reference.apply_rotary(q, k, positions, inv_freq, allocation, section,
                                          dtype=low)
    q_rot = q_rot.astype(dtype)
    text = attention_ir(q_rot, k, v, element, "bhsd", causal=True,
                        rotary=f"<alloc = {alloc}, rotary_dim = {d}>",
                        k_positions=positions, freqs=inv_freq)
    got = run(text, [q_rot, k, v, positions, inv_freq], q.shape, dtype)
    want = reference_attention(q_rot.astype(np.float32), k_rot.astype(np.float32),
                               v.astype(np.float32), causal=True)
    check(got, want, dtype)


@pytest.mark.parametrize("scale", [40.0, 1e-3])
def test_extreme_scores(scale):
    """Scores hundreds apart (weights far below exp(-87), which the
    polynomial exp flushes to 0, as their float64 values are negligible)
    and nearly uniform weights."""
    rng = np.random.default_rng(17)
    b, h, s, d = 1, 2, 21, 16  # 21 keys: two full blocks of 8 and a tail
    q, k, v = (random(rng, (b, h, s, d), np.float32) for _ in range(3))
    got = run(attention_ir(q, k, v, "f32", "bhsd", scale=scale), [q, k, v], q.shape,
              np.float32)
    check(got, reference_attention(q, k, v, scale=scale), np.float32)


def test_python_api_prefill_and_decode():
    """mrope.attention from a Hugging Face config: rotary prologue, GQA,
    causal; then decode against the rotated cache (keys_rotated)."""
    from hf_configs import QWEN2_VL_7B

    config = mrope.from_hf(QWEN2_VL_7B)
    rng = np.random.default_rng(23)
    b, hq, hkv, s, d = 1, 4, 2, 9, config.head_dim
    q, k, v = random(rng, (b, hq, s, d), np.float32), random(rng, (b, hkv, s, d), np.float32), \
        random(rng, (b, hkv, s, d), np.float32)
    positions = rng.integers(0, 400, (3, b, s))
    out = mrope.attention(q, k, v, config, positions, causal=True)
    inv_freq = mrope.inv_freq(config)
    ref_q, ref_k = reference.apply_rotary(q, k, positions, inv_freq, "contiguous", [16, 24, 24])
    check(out, reference_attention(ref_q, ref_k, v, causal=True), np.float32)
    # Decode the last 2 tokens against the cache rotated above.
    _, k_rot = mrope.apply_rotary(config, q, k, positions)
    out2 = mrope.attention(q[:, :, -2:].copy(), k_rot, v, config, positions[:, :, -2:],
                           keys_rotated=True, causal=True)
    np.testing.assert_allclose(out2, out[:, :, -2:], rtol=0, atol=1e-5)


def test_python_api_varlen_and_errors():
    rng = np.random.default_rng(29)
    q, k, v = (random(rng, (7, 2, 8), np.float32) for _ in range(3))
    cu = [0, 3, 7]
    out = mrope.attention(q, k, v, layout="thd", cu_seqlens=cu, causal=True)
    check(out, reference_attention(q, k, v, causal=True, cu_seqlens=np.array(cu)), np.float32)
    with pytest.raises(mrope.InputError, match="cu_seqlens: must start at 0"):
        mrope.attention(q, k, v, layout="thd", cu_seqlens=[0, 5, 4])
    with pytest.raises(mrope.InputError, match="cu_seqlens: required"):
        mrope.attention(q, k, v, layout="thd")
    with pytest.raises(mrope.InputError, match="multiple of k heads"):
        mrope.attention(q, random(rng, (7, 3, 8), np.float32), random(rng, (7, 3, 8), np.float32),
                        layout="thd", cu_seqlens=cu)
    qb = random(rng, (1, 2, 4, 8), np.float32)
    with pytest.raises(mrope.InputError, match=r"mask: expected shape \[1, 2 or 1, 4, 4\]"):
        mrope.attention(qb, qb, qb, mask=np.zeros((1, 3, 4, 4), np.float32))
    with pytest.raises(mrope.InputError, match="position_ids: given without a config"):
        mrope.attention(qb, qb, qb, position_ids=np.zeros((3, 1, 4), np.int64))


@pytest.mark.parametrize("causal", [False, True])
def test_fused_rotary_packed_varlen(causal):
    """thd with cu_seqlens and a rotary prologue (positions [3, T]), fused vs
    unfused vs the reference per sequence."""
    rng = np.random.default_rng(31)
    cu = np.array([0, 4, 11], np.int64)
    t, hq, hkv, d = 11, 4, 2, 16
    q, k, v = random(rng, (t, hq, d), np.float32), random(rng, (t, hkv, d), np.float32), \
        random(rng, (t, hkv, d), np.float32)
    positions = rng.integers(0, 300, (3, t)).astype(np.int64)
    inv_freq = reference.default_inv_freq(d, 10000.0)
    rotary = "<alloc = <interleaved, section = [2, 3, 3]>, rotary_dim = 16>"
    unfused = unfused_ir(q, k, v, positions, inv_freq, "f32", "thd", rotary, causal, cu)
    fused = fuse(unfused)
    assert "mrope.apply" not in fused and "q_positions" in fused
    arrays = [q, k, v, cu, positions, inv_freq]
    got_fused = run(fused, arrays, q.shape, np.float32)
    assert np.array_equal(got_fused, run(unfused, arrays, q.shape, np.float32))
    # The reference rotates the packed tokens as one batch row.
    ref_q, ref_k = reference.apply_rotary(q.transpose(1, 0, 2)[None], k.transpose(1, 0, 2)[None],
                                          positions[:, None, :], inv_freq, "interleaved",
                                          [2, 3, 3])
    want = reference_attention(ref_q[0].transpose(1, 0, 2), ref_k[0].transpose(1, 0, 2), v,
                               causal=causal, cu_seqlens=cu)
    check(got_fused, want, np.float32)


@pytest.mark.parametrize("element", ["f32", "bf16"])
def test_rotary_prologue_with_own_keys(element):
    """Chunked prefill through the Python API: each sequence's new chunk of
    queries (rotated by its positions) against its whole context of keys
    (rotated by theirs) -- q and k packed over different tokens."""
    from hf_configs import QWEN2_VL_7B

    config = mrope.from_hf(QWEN2_VL_7B)
    dtype = dtype_of(element)
    rng = np.random.default_rng(61)
    cu, kv_cu = np.array([0, 5, 21]), np.array([0, 12, 40])
    hq, hkv, d = 4, 2, config.head_dim
    q = random(rng, (21, hq, d), dtype)
    k, v = random(rng, (40, hkv, d), dtype), random(rng, (40, hkv, d), dtype)
    k_positions = rng.integers(0, 500, (3, 40))
    # A chunk's queries are its sequence's last tokens.
    q_positions = np.concatenate([k_positions[:, 7:12], k_positions[:, 24:40]], axis=1)
    out = mrope.attention(q, k, v, config, q_positions, k_position_ids=k_positions,
                          causal=True, layout="thd", cu_seqlens=cu, kv_cu_seqlens=kv_cu)
    inv_freq = mrope.inv_freq(config)
    low = None if element == "f32" else dtype
    rotate = lambda x, p: reference.apply_rotary(  # noqa: E731
        x.transpose(1, 0, 2)[None], x.transpose(1, 0, 2)[None], p[:, None, :], inv_freq,
        "contiguous", [16, 24, 24], dtype=low)[0][0].transpose(1, 0, 2).astype(np.float32)
    want = reference_attention(rotate(q, q_positions), rotate(k, k_positions),
                               v.astype(np.float32), causal=True, cu_seqlens=cu,
                               kv_cu_seqlens=kv_cu)
    check(out, want, dtype)


def test_python_api_own_keys_errors():
    rng = np.random.default_rng(67)
    q = random(rng, (3, 2, 8), np.float32)
    k = v = random(rng, (10, 1, 8), np.float32)
    cu = [0, 1, 2, 3]
    with pytest.raises(mrope.InputError, match="kv_cu_seqlens: required when k and v"):
        mrope.attention(q, k, v, layout="thd", cu_seqlens=cu)
    with pytest.raises(mrope.InputError, match=r"kv_cu_seqlens: needs one boundary per"):
        mrope.attention(q, k, v, layout="thd", cu_seqlens=cu, kv_cu_seqlens=[0, 10])
    with pytest.raises(mrope.InputError, match="kv_cu_seqlens: must start at 0, never decrease "
                                               "and end at most at the 10 packed tokens of k "
                                               "and v"):
        mrope.attention(q, k, v, layout="thd", cu_seqlens=cu, kv_cu_seqlens=[0, 4, 3, 10])
    with pytest.raises(mrope.InputError, match="kv_cu_seqlens: .* end at most at the 10 packed"):
        mrope.attention(q, k, v, layout="thd", cu_seqlens=cu, kv_cu_seqlens=[0, 4, 6, 11])
    with pytest.raises(mrope.InputError, match="kv_cu_seqlens: only with layout thd"):
        mrope.attention(k[None], k[None], v[None], kv_cu_seqlens=[0, 10])
    out = mrope.attention(q, k, v, layout="thd", cu_seqlens=cu, kv_cu_seqlens=[0, 4, 4, 10])
    assert np.all(out[1] == 0)  # an empty cache: a row of 0
    check(out, reference_attention(q, k, v, cu_seqlens=np.array(cu),
                                   kv_cu_seqlens=np.array([0, 4, 4, 10])), np.float32)


@pytest.mark.parametrize("element", ["f32", "bf16"])
def test_inputs_are_not_copied_nor_written(element, monkeypatch):
    """mrope.attention hands q, k, v (a whole KV cache) to the compiled
    function without copying them, and the function never writes them --
    not even with a rotary prologue that rotates the keys (bufferization
    keeps read-only inputs read-only). A read-only or non-contiguous array
    is copied first."""
    from hf_configs import QWEN2_VL_7B

    config = mrope.from_hf(QWEN2_VL_7B)
    dtype = dtype_of(element)
    rng = np.random.default_rng(71)
    q = random(rng, (1, 4, 6, config.head_dim), dtype)
    k, v = random(rng, (1, 2, 6, config.head_dim), dtype), random(rng, (1, 2, 6, config.head_dim),
                                                                  dtype)
    before = [x.copy() for x in (q, k, v)]
    seen = []
    real_call = mrope.runtime.Module.call

    def spy(self, name, *arrays):
        seen.extend(arrays)
        return real_call(self, name, *arrays)

    monkeypatch.setattr(mrope.runtime.Module, "call", spy)
    positions = rng.integers(0, 50, (3, 1, 6))
    out = mrope.attention(q, k, v, config, positions, causal=True)
    for x, y in zip((q, k, v), before):
        assert np.array_equal(x.view(np.uint8), y.view(np.uint8))
    # The compiled function read the caller's buffers themselves.
    assert [np.shares_memory(a, x) for a, x in zip(seen[:3], (q, k, v))] == [True] * 3
    # A read-only cache is copied (the runtime passes writable buffers only),
    # with the same result.
    k.setflags(write=False)
    seen.clear()
    again = mrope.attention(q, k, v, config, positions, causal=True)
    assert not np.shares_memory(seen[1], k)
    assert np.array_equal(again.astype(np.float32), out.astype(np.float32))


def test_threads_bit_identical():
    """All cores (MLIR async runtime over the query rows) give the same bits
    as one thread: each row is computed by one task in the same order."""
    rng = np.random.default_rng(37)
    q = random(rng, (1, 4, 300, 32), np.float32)
    k, v = random(rng, (1, 2, 300, 32), np.float32), random(rng, (1, 2, 300, 32), np.float32)
    many = mrope.attention(q, k, v, causal=True, threads=True)
    one = mrope.attention(q, k, v, causal=True, threads=False)
    assert np.array_equal(many, one)
    check(many, reference_attention(q, k, v, causal=True), np.float32)


def test_varlen_decode_bench_smoke():
    """tools/mrope-bench/varlen_decode_bench.py runs its four forms (packed,
    padded, per-sequence, paged with an odd page size) and checks each
    against its float64 reference."""
    pytest.importorskip("ml_dtypes")
    import sys

    bench = os.path.join(ROOT, "tools", "mrope-bench", "varlen_decode_bench.py")
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(mrope.__file__)))
    done = subprocess.run([sys.executable, bench, "--sequences", "3", "--keys", "300",
                           "--reps", "1", "--page-size", "7"],
                          capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "paged" in done.stdout and done.stdout.rstrip().endswith("4 passed, 0 failed")


def test_chunked_prefill_bench_smoke():
    """tools/mrope-bench/chunked_prefill_bench.py runs its three forms
    (packed, paged with wide table rows, per sequence) and checks each
    against float64 on sampled rows."""
    pytest.importorskip("ml_dtypes")
    import sys

    bench = os.path.join(ROOT, "tools", "mrope-bench", "chunked_prefill_bench.py")
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(mrope.__file__)))
    done = subprocess.run([sys.executable, bench, "--sequences", "3", "--chunk", "9",
                           "--context", "40", "--q-heads", "4", "--kv-heads", "2",
                           "--page-size", "7", "--table-pages", "20", "--reps", "1"],
                          capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "paged" in done.stdout and done.stdout.rstrip().endswith("3 passed, 0 failed")


def test_python_api_kv_seqlens():
    """kv_seqlens (each sequence's number of keys, FlashAttention's
    cache_seqlens) instead of kv_cu_seqlens: the same results, packed and
    paged, and errors that name it."""
    rng = np.random.default_rng(103)
    q = random(rng, (3, 4, 16), np.float32)
    k, v = random(rng, (20, 2, 16), np.float32), random(rng, (20, 2, 16), np.float32)
    cu, lengths = [0, 1, 2, 3], [7, 0, 13]
    packed = mrope.attention(q, k, v, layout="thd", cu_seqlens=cu, kv_seqlens=lengths,
                             causal=True)
    want = mrope.attention(q, k, v, layout="thd", cu_seqlens=cu,
                           kv_cu_seqlens=[0, 7, 7, 20], causal=True)
    np.testing.assert_array_equal(packed, want)
    check(packed, reference_attention(q, k, v, causal=True, cu_seqlens=np.array(cu),
                                      kv_cu_seqlens=np.array([0, 7, 7, 20])), np.float32)
    table = np.array([[4, 1], [0, 0], [2, 3]])
    pool_k = np.zeros((5, 8, 2, 16), np.float32)
    pool_v = np.zeros_like(pool_k)
    starts = [0, 7, 7]
    for n, length in enumerate(lengths):
        for j in range(length):
            pool_k[table[n, j // 8], j % 8] = k[starts[n] + j]
            pool_v[table[n, j // 8], j % 8] = v[starts[n] + j]
    paged = mrope.attention(q, pool_k, pool_v, layout="thd", cu_seqlens=cu,
                            kv_seqlens=lengths, block_table=table, causal=True)
    np.testing.assert_array_equal(paged, want)
    with pytest.raises(mrope.InputError, match="kv_seqlens and kv_cu_seqlens: give one"):
        mrope.attention(q, k, v, layout="thd", cu_seqlens=cu, kv_seqlens=lengths,
                        kv_cu_seqlens=[0, 7, 7, 20])
    with pytest.raises(mrope.InputError, match=r"kv_seqlens: lengths must be >= 0"):
        mrope.attention(q, k, v, layout="thd", cu_seqlens=cu, kv_seqlens=[7, -1, 14])
    with pytest.raises(mrope.InputError, match=r"kv_seqlens: needs one length per sequence "
                                               r"\(3\), got 2"):
        mrope.attention(q, k, v, layout="thd", cu_seqlens=cu, kv_seqlens=[7, 13])
    with pytest.raises(mrope.InputError, match="kv_seqlens: the lengths add up to 21, more "
                                               "than the 20 packed tokens of k and v"):
        mrope.attention(q, k, v, layout="thd", cu_seqlens=cu, kv_seqlens=[7, 0, 14])
    with pytest.raises(mrope.InputError, match="kv_seqlens: sequence 2 has 17 cached keys; "
                                               "its block_table row holds 0 to 2 pages of 8"):
        mrope.attention(q, pool_k, pool_v, layout="thd", cu_seqlens=cu, kv_seqlens=[7, 0, 17],
                        block_table=table)
    with pytest.raises(mrope.InputError, match="kv_seqlens: only with layout thd"):
        mrope.attention(*(x.transpose(1, 0, 2)[None] for x in (q, k, v)), kv_seqlens=[20])


def test_decode_loop_with_a_preallocated_cache():
    # A decode loop keeps one KV buffer of fixed capacity and passes the
    # growing lengths: the shapes, hence the compiled function, stay the
    # same every step (no compilation per token), and each step equals the
    # call on exactly the used rows.
    from mrope import runtime
    rng = np.random.default_rng(71)
    capacity, lengths = 64, np.array([5, 0, 11])
    k_buf = random(rng, (capacity, 2, 16), np.float32)
    v_buf = random(rng, (capacity, 2, 16), np.float32)
    cu = [0, 1, 2, 3]
    compiled = None
    for step in range(3):
        q = random(rng, (3, 4, 16), np.float32)
        bounds = np.concatenate([[0], np.cumsum(lengths)])
        out = mrope.attention(q, k_buf, v_buf, layout="thd", cu_seqlens=cu,
                              kv_seqlens=lengths, causal=True)
        used = int(bounds[-1])
        exact = mrope.attention(q, k_buf[:used], v_buf[:used], layout="thd", cu_seqlens=cu,
                                kv_cu_seqlens=bounds, causal=True)
        np.testing.assert_array_equal(out, exact)
        sources = {key for key in runtime._cache if f"{capacity}x2x16xf32" in key[0]}
        assert len(sources) == 1 and (compiled is None or sources == compiled)
        compiled = sources
        lengths = lengths + 1
