#!/usr/bin/env python3
"""Runs golden cases through IREE: mrope IR -> `mrope-opt
--mrope-to-linalg-pipeline` (the portable form) -> the real `iree-compile`
(llvm-cpu backend) -> the real `iree.runtime`, printing one line per case
and a summary `N passed, N failed`. Rotary files (rotary_*.json): q_rot /
k_rot against the reference (1e-5 absolute, f32). Position-id files
(hf_position_ids.json): `mrope.rope_index` on the processor's tensors, its
positions and rope_deltas exactly, status 0, in every rules version. Paper
variants (paper_variants.json): `mrope.rope_index` under each variant's
runtime design on the mixed image + video prompt, positions and rope_deltas
bit for bit (--designs: only these variants; docs/Integration.md says which
IREE gets wrong and why). --attention: built-in `mrope.attention` cases
(GQA/MQA, causal or not, decode, additive masks with a fully masked row,
bshd, f16, rotary prologues; packed thd sequences with their own keys, a
paged KV cache, overlapping boundaries) against the float64 reference of
the Python package (mrope/reference.py), within its error bound.
--torch-mlir DIR: the Torch-MLIR imports of the Hugging Face rotary
(test/Integration/TorchMLIR/Inputs) raised to mrope ops, lowered, compiled
and run, and the imports compiled as they are, against the NumPy reference.

    iree-check.py [--mrope-opt PATH] [--iree-compile PATH] [--designs A,B]
                  [--attention] [--torch-mlir DIR] [FILE.json...]

Needs `iree-base-compiler`, `iree-base-runtime` and `numpy` (pip).
"""
import argparse
import functools
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
TOLERANCE = 1e-5


def ttype(shape, elem):
    return "tensor<" + "".join(f"{d}x" for d in shape) + elem + ">"


def case_ir(case):
    """A function (q, k, positions) -> (q_rot, k_rot) for one golden case."""
    q = np.asarray(case["q"], np.float32)
    k = np.asarray(case["k"], np.float32)
    pos = np.asarray(case["position_ids"], np.int64)
    dim = case["head_dim"]
    if "mrope_section_heads" in case:
        alloc = f"<head_partitioned, section = {case['mrope_section_heads']}>"
    elif "interleaved" in case["allocation"]:
        alloc = f"<interleaved, section = {case['mrope_section']}>"
    else:
        alloc = f"<contiguous, section = {case['mrope_section']}>"
    qt, kt, pt = ttype(q.shape, "f32"), ttype(k.shape, "f32"), ttype(pos.shape, "i64")
    ft = ttype([dim // 2], "f32")
    ir = f"""func.func @rotate(%q: {qt}, %k: {kt}, %p: {pt}) -> ({qt}, {kt}) {{
  %f = mrope.inv_freq theta = {float(case['rope_theta']):e} : {ft}
  %a, %b = mrope.apply %q, %k positions(%p : {pt}) freqs(%f : {ft}) layout bhsd rotary <alloc = {alloc}, rotary_dim = {dim}> : {qt}, {kt}
  return %a, %b : {qt}, {kt}
}}
"""
    return ir, q, k, pos


@functools.lru_cache(maxsize=None)
def load_package_file(name):
    """A self-contained module of the Python package (python/mrope/NAME.py:
    the design spellings, the NumPy reference), from the source tree."""
    import importlib.util
    path = os.path.join(HERE, "..", "..", "python", "mrope", f"{name}.py")
    spec = importlib.util.spec_from_file_location(f"mrope_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_designs():
    return load_package_file("designs")


# Attention cases: (name, batch, q heads, kv heads, q tokens, kv tokens, head
# dim, layout, element, causal, mask (None, "shared": [B, 1, S, T] with a
# fully masked row, "per-head": [B, Hq, S, T]), scale, rotary (None, or
# (allocation, section, positions: "shared" or "q-only")), and whether the
# function's batch and token sizes are dynamic (`?`: one compiled module
# for any prompt length)).
ATTENTION_CASES = [
    ("gqa-causal", 1, 4, 2, 12, 12, 16, "bhsd", "f32", True, None, None, None, False),
    ("mqa-bshd", 2, 4, 1, 5, 9, 16, "bshd", "f32", False, None, None, None, False),
    ("decode-causal", 1, 4, 2, 1, 9, 16, "bhsd", "f32", True, None, None, None, False),
    ("mask-shared-scale", 2, 2, 2, 6, 7, 16, "bhsd", "f32", False, "shared", 0.3, None, False),
    ("mask-per-head-causal", 1, 4, 2, 6, 6, 32, "bhsd", "f32", True, "per-head", None, None, False),
    ("f16-gqa-causal", 1, 4, 2, 12, 12, 16, "bhsd", "f16", True, None, None, None, False),
    ("rotary-contiguous", 1, 4, 2, 10, 10, 16, "bhsd", "f32", True, None, None,
     ("contiguous", [2, 3, 3], "shared"), False),
    ("rotary-interleaved-bshd-mask", 1, 4, 2, 10, 10, 16, "bshd", "f32", False, "per-head", None,
     ("interleaved", [4, 2, 2], "shared"), False),
    ("rotary-decode-q-only", 1, 4, 2, 2, 11, 16, "bhsd", "f32", True, None, None,
     ("contiguous", [2, 3, 3], "q-only"), False),
    ("dyn-gqa-causal-decode", 2, 4, 2, 3, 11, 16, "bhsd", "f32", True, "per-head", None,
     None, True),
    ("dyn-rotary-bshd", 1, 4, 2, 7, 7, 16, "bshd", "f32", True, None, None,
     ("interleaved", [4, 2, 2], "shared"), True),
]


def attention_case(case, rng):
    """IR of one attention case, its inputs and the float64 reference."""
    (_, b, hq, hkv, sq, skv, d, layout, elem, causal, mask_kind, scale, rotary, dynamic) = case
    ref = load_package_file("reference")
    dtype = np.float32 if elem == "f32" else np.float16

    def shaped(h, s):
        return (b, s, h, d) if layout == "bshd" else (b, h, s, d)

    def to_bhsd(x):
        return x.transpose(0, 2, 1, 3) if layout == "bshd" else x

    q, k, v = (rng.standard_normal(shaped(h, s)).astype(dtype)
               for h, s in ((hq, sq), (hkv, skv), (hkv, skv)))
    def typed(x, el, dims):
        # `?` for the batch and token dimensions `dims` of a dynamic case.
        shape = [("?" if dynamic and i in dims else n) for i, n in enumerate(x.shape)]
        return ttype(shape, el)
    act_dims = (0, 1) if layout == "bshd" else (0, 2)
    inputs, params, operands = [q, k, v], [], ""
    for n, x in enumerate(inputs):
        params.append(f"%a{n}: {typed(x, elem, act_dims)}")
    mask = None
    if mask_kind:
        mask = rng.uniform(-2, 2, (b, 1 if mask_kind == "shared" else hq, sq, skv))
        mask = mask.astype(np.float32)
        if mask_kind == "shared":
            mask[0, 0, 1, :] = -np.inf  # a row that attends nothing: 0
        inputs.append(mask)
        mt = typed(mask, "f32", (2, 3))
        params.append(f"%a3: {mt}")
        operands += f" mask(%a3 : {mt})"
    qr, kr = (to_bhsd(x).astype(np.float32) for x in (q, k))
    prologue = ""
    if rotary:
        alloc, section, which = rotary
        theta = 10000.0
        inv_freq = ref.default_inv_freq(d, theta)
        qpos = rng.integers(0, 50, (3, b, sq)).astype(np.int64)
        pt = typed(qpos, "i64", (1, 2))
        n = len(inputs)
        inputs.append(qpos)
        params.append(f"%a{n}: {pt}")
        operands += f" q_positions(%a{n} : {pt})"
        qr, _ = ref.apply_rotary(to_bhsd(q), to_bhsd(q), qpos, inv_freq, alloc, section,
                                 dtype=dtype)
        if which == "shared":  # (q-only: the keys were rotated when cached)
            operands += f" k_positions(%a{n} : {pt})"
            _, kr = ref.apply_rotary(to_bhsd(k), to_bhsd(k), qpos, inv_freq, alloc, section,
                                     dtype=dtype)
        qr, kr = (x.astype(np.float32) for x in (qr, kr))
        ft = ttype([d // 2], "f32")
        prologue = f"  %f = mrope.inv_freq theta = {theta:e} : {ft}\n"
        operands += f" freqs(%f : {ft})"
        rotary_attr = (f" rotary <alloc = <{alloc}, section = {section}>, "
                       f"rotary_dim = {d}>")
    else:
        rotary_attr = ""
    want = ref.attention(qr, kr, to_bhsd(v).astype(np.float32), causal=causal, scale=scale,
                         mask=mask)
    if layout == "bshd":
        want = want.transpose(0, 2, 1, 3)
    types = ", ".join(typed(x, elem, act_dims) for x in (q, k, v))
    out_t = typed(q, elem, act_dims)
    ir = (f"func.func @attention({', '.join(params)}) -> {out_t} {{\n{prologue}"
          f"  %o = mrope.attention %a0, %a1, %a2{operands} layout {layout}{rotary_attr}"
          f"{f' scale {scale}' if scale else ''}{' causal' if causal else ''}"
          f" : {types} -> {out_t}\n  return %o : {out_t}\n}}\n")
    return ir, inputs, want, ref.attention_error_bound(want, dtype)


# Packed (thd) cases: (name, query tokens, cu_seqlens, keys: None (each sequence's own
# tokens), ("kv", kv_cu_seqlens) or ("paged", per-sequence key counts, page
# size, pages per sequence), q heads, kv heads, head dim, element, causal,
# rotary allocation and section (None: no prologue), and whether the token
# and sequence counts are dynamic).
PACKED_ATTENTION_CASES = [
    ("thd-varlen-causal", 13, [0, 5, 6, 13], None, 4, 2, 16, "f32", True, None, False),
    ("thd-varlen-f16", 12, [0, 9, 12], None, 4, 1, 16, "f16", False, None, False),
    ("thd-own-keys-decode", 3, [0, 1, 2, 3], ("kv", [0, 20, 20, 33]), 4, 2, 16, "f32", True,
     None, False),
    ("thd-overlapping-boundaries", 8, [0, 5, 3, 8, 20], None, 2, 2, 8, "f32", True, None, False),
    ("thd-paged-decode", 3, [0, 1, 2, 3], ("paged", [9, 0, 13], 4, 4), 4, 2, 16, "f32", True,
     None, False),
    ("thd-paged-chunked-prefill", 10, [0, 6, 10], ("paged", [14, 4], 4, 5), 2, 1, 16, "f32", True,
     None, False),
    ("thd-rotary-interleaved", 12, [0, 7, 12], None, 4, 2, 16, "f32", True,
     ("interleaved", [4, 2, 2]), False),
    ("thd-dyn-own-keys", 9, [0, 3, 3, 9], ("kv", [0, 10, 12, 14]), 4, 2, 16, "f32", True, None,
     True),
]


def packed_attention_case(case, rng):
    """IR of one packed attention case, its inputs and the float64
    reference (sequence by sequence; a token in two sequences belongs to the
    later one, whose rows the reference writes last)."""
    (_, tokens, cu, keys, hq, hkv, d, elem, causal, rotary, dynamic) = case
    ref = load_package_file("reference")
    dtype = np.float32 if elem == "f32" else np.float16
    cu = np.array(cu, np.int32)
    kv_cu, table, page_size = None, None, None
    if keys is None:
        key_rows = tokens
    elif keys[0] == "kv":
        kv_cu = np.array(keys[1], np.int32)
        key_rows = int(kv_cu[-1])
    else:
        _, lengths, page_size, per_seq = keys
        kv_cu = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32)
        pages = len(lengths) * per_seq + 2
        table = np.stack([rng.permutation(pages)[:per_seq] for _ in lengths]).astype(np.int32)
        key_rows = pages * page_size
    q = rng.standard_normal((tokens, hq, d)).astype(dtype)
    k, v = (rng.standard_normal((key_rows, hkv, d)).astype(dtype) for _ in range(2))

    def typed(x, el, dim=0):
        # `?` for the tokens (or sequences: dimension `dim`) of a dynamic case.
        return ttype(["?" if dynamic and i == dim else n for i, n in enumerate(x.shape)], el)
    inputs, params, operands = [q, k, v], [], ""
    for n, x in enumerate(inputs):
        params.append(f"%a{n}: {typed(x, elem)}")
    for word, x in (("cu_seqlens", cu), ("kv_cu_seqlens", kv_cu), ("block_table", table)):
        if x is not None:
            n = len(inputs)
            inputs.append(x)
            t = ttype(x.shape, "i32") if word == "block_table" else typed(x, "i32")
            params.append(f"%a{n}: {t}")
            operands += f" {word}(%a{n} : {t})"
    if table is not None:
        operands += f" page_size {page_size}"
    qr, kr = q.astype(np.float32), k.astype(np.float32)
    prologue, rotary_attr = "", ""
    if rotary:
        alloc, section = rotary
        theta = 10000.0
        inv_freq = ref.default_inv_freq(d, theta)
        pos = rng.integers(0, 50, (3, tokens)).astype(np.int64)
        n = len(inputs)
        inputs.append(pos)
        pt = typed(pos, "i64", 1)
        params.append(f"%a{n}: {pt}")
        operands += f" q_positions(%a{n} : {pt}) k_positions(%a{n} : {pt})"
        # thd [T, H, D] as bhsd [1, H, T, D] for the reference.
        rotated = ref.apply_rotary(q.transpose(1, 0, 2)[None], k.transpose(1, 0, 2)[None],
                                   pos[:, None], inv_freq, alloc, section, dtype=dtype)
        qr, kr = (x[0].transpose(1, 0, 2).astype(np.float32) for x in rotated)
        ft = ttype([d // 2], "f32")
        prologue = f"  %f = mrope.inv_freq theta = {theta:e} : {ft}\n"
        operands += f" freqs(%f : {ft})"
        rotary_attr = (f" rotary <alloc = <{alloc}, section = {section}>, "
                       f"rotary_dim = {d}>")
    vr = v.astype(np.float32)
    if table is not None:
        kr, vr = (ref.gather_pages(x, kv_cu, table, page_size) for x in (kr, vr))
    # Boundaries clamped to the tokens (a decreasing pair: no sequence).
    want = np.zeros(q.shape, np.float64)
    for n in range(len(cu) - 1):
        lo, hi = int(np.clip(cu[n], 0, tokens)), int(np.clip(cu[n + 1], 0, tokens))
        if hi <= lo:
            continue
        klo, khi = (lo, hi) if kv_cu is None else (int(kv_cu[n]), int(kv_cu[n + 1]))
        want[lo:hi] = ref.attention(qr[lo:hi], kr[klo:khi], vr[klo:khi], causal=causal,
                                    cu_seqlens=[0, hi - lo], kv_cu_seqlens=[0, khi - klo])
    types = ", ".join(typed(x, elem) for x in (q, k, v))
    out_t = typed(q, elem)
    ir = (f"func.func @attention({', '.join(params)}) -> {out_t} {{\n{prologue}"
          f"  %o = mrope.attention %a0, %a1, %a2{operands} layout thd{rotary_attr}"
          f"{' causal' if causal else ''} : {types} -> {out_t}\n"
          f"  return %o : {out_t}\n}}\n")
    return ir, inputs, want, ref.attention_error_bound(want, dtype)


def run_attention_case(case, args, workdir, n, build=attention_case):
    """The largest |IREE - reference| / bound of one case (< 1 passes), or
    an error message."""
    ir, inputs, want, bound = build(case, np.random.default_rng(n))
    module = compile_and_load(ir, args, workdir, n)
    if isinstance(module, str):
        return module
    got = np.asarray(module.attention(*inputs).to_host()).astype(np.float64)
    return {"out": float(np.max(np.abs(got - want) / bound))}


def rope_index_ir(inputs, design, elem):
    """A function (input_ids, operands...) -> (positions, rope_deltas,
    next_positions, status) of `elem` positions; `inputs`: (operand keyword
    or None for input_ids, array) pairs, input_ids first."""
    params, operands = [], ""
    for n, (word, value) in enumerate(inputs):
        t = ttype(value.shape, "f32" if value.dtype == np.float32 else "i64")
        params.append(f"%a{n}: {t}")
        if word:
            operands += f" {word}(%a{n} : {t})"
    batch, length = inputs[0][1].shape
    results = (f"{ttype([3, batch, length], elem)}, {ttype([batch, 1], elem)}, "
               f"{ttype([batch], elem)}, tensor<4xi64>")
    return f"""func.func @positions({", ".join(params)}) -> ({results}) {{
  %p, %d, %n, %s = mrope.rope_index %a0{operands} design {design} : {ttype([batch, length], "i64")} -> {results}
  return %p, %d, %n, %s : {results}
}}
"""


def positions_case_ir(case, version):
    """rope_index_ir for one golden case in one rules version, and its
    inputs."""
    rules = case["model_rules"]
    design = load_designs().golden_rules_design(rules, version, case.get("tokens_per_second"))
    fields = [("input_ids", None, np.int64), ("attention_mask", "mask", np.int64),
              ("image_grid_thw", "images", np.int64), ("video_grid_thw", "videos", np.int64)]
    if rules == "qwen25vl" and case["video_grid_thw"]:
        fields.append(("second_per_grid_ts", "second_per_grid", np.float32))
    inputs = [(word, np.asarray(case[key], dtype)) for key, word, dtype in fields
              if case.get(key)]
    return rope_index_ir(inputs, design, "i64"), [a for _, a in inputs]


def paper_case_ir(variant, mixed):
    """rope_index_ir under one paper variant's design on the mixed prompt,
    its inputs and its positions' dtype."""
    designs = load_designs()
    name, kw = variant["variant"], variant["kwargs"]
    elem = "f32" if name in designs.FLOAT_POSITION_VARIANTS else "i64"
    inputs = [(None, np.asarray([mixed["input_ids"]], np.int64)),
              ("images", np.asarray(mixed["image_grid_thw"], np.int64)),
              ("videos", np.asarray(mixed["video_grid_thw"], np.int64))]
    return (rope_index_ir(inputs, designs.paper_design(name, kw), elem),
            [a for _, a in inputs], np.float32 if elem == "f32" else np.int64)


def compile_and_load(ir, args, workdir, n, passes=("--mrope-to-linalg-pipeline",)):
    """The IREE module of mrope IR after mrope-opt `passes` (none: the IR as
    it is), or an error message."""
    import iree.runtime as rt
    if passes:
        lowered = subprocess.run([args.mrope_opt, "-", *passes], input=ir, capture_output=True,
                                 text=True)
        if lowered.returncode:
            return f"mrope-opt failed: {lowered.stderr.strip()[:500]}"
        ir = lowered.stdout
    vmfb = os.path.join(workdir, f"case{n}.vmfb")
    compiled = subprocess.run([args.iree_compile, "-", "--iree-hal-target-device=local",
                               "--iree-hal-local-target-device-backends=llvm-cpu",
                               "--iree-llvmcpu-target-cpu=host", "-o", vmfb],
                              input=ir, capture_output=True, text=True)
    if compiled.returncode:
        return f"iree-compile failed: {compiled.stderr.strip()[:500]}"
    return rt.load_vm_flatbuffer_file(vmfb, driver="local-task")


def run_case(case, args, workdir, n):
    ir, q, k, pos = case_ir(case)
    module = compile_and_load(ir, args, workdir, n)
    if isinstance(module, str):
        return module
    out = module.rotate(q, k, pos)
    q_rot, k_rot = (np.asarray(o.to_host()) for o in out)
    diffs = {"q_rot": float(np.max(np.abs(q_rot - np.asarray(case["q_rot"], np.float32)))),
             "k_rot": float(np.max(np.abs(k_rot - np.asarray(case["k_rot"], np.float32))))}
    return diffs


def run_rope_index(ir, inputs, args, workdir, n):
    """IREE's positions and rope_deltas of a rope_index function, or an
    error message (a failed compile, or a non-zero status)."""
    module = compile_and_load(ir, args, workdir, n)
    if isinstance(module, str):
        return module
    positions, deltas, _, status = (np.asarray(o.to_host()) for o in module.positions(*inputs))
    if status.tolist() != [0, 0, 0, 0]:
        return f"status {status.tolist()}"
    return positions, deltas


def run_positions_case(case, version, args, workdir, n):
    """Whether IREE's positions, rope_deltas and status are the golden ones,
    as a mismatch count per output (0: exact), or an error message."""
    result = run_rope_index(*positions_case_ir(case, version), args, workdir, n)
    if isinstance(result, str):
        return result
    want = case["outputs"][version]
    return {"positions": int(np.sum(result[0] != np.asarray(want["position_ids"]))),
            "rope_deltas": int(np.sum(result[1] != np.asarray(want["rope_deltas"])))}


def run_paper_case(variant, mixed, args, workdir, n):
    """Mismatching positions and rope_deltas (bits) of one paper variant, or
    an error message."""
    ir, inputs, dtype = paper_case_ir(variant, mixed)
    result = run_rope_index(ir, inputs, args, workdir, n)
    if isinstance(result, str):
        return result
    bits = np.int32 if dtype == np.float32 else np.int64

    def mismatches(got, want):
        want = np.asarray(want, dtype).reshape(got.shape)
        return int(np.sum(got.astype(dtype).view(bits) != want.view(bits)))
    return {"positions": mismatches(result[0], variant["position_ids"]),
            "rope_deltas": mismatches(result[1], variant["rope_deltas"])}


# Torch-MLIR imports of the Hugging Face rotary (test/Integration/TorchMLIR/
# Inputs, generate.py's shapes): file stem -> (allocation of the reference;
# None: one table for all pairs; "tables" prefix: cos/sin given per axis).
TORCH_MLIR_CASES = {
    "apply_rotary": ("tables", None),
    "apply_multimodal_rotary": ("tables", "contiguous"),
    "qwen2vl_rotary": ("chain", "contiguous"),
    "qwen3vl_rotary": ("chain", "interleaved"),
    "qwen2vl_scaled_rotary": ("chain", "contiguous"),
}
TORCH_MLIR_SECTION = [2, 3, 3]
# generate.py's attention scaling (YaRN, factor 4), as the f32 the import uses.
TORCH_MLIR_SCALING = float(np.float32(1.1386294361119891))


def run_torch_mlir_case(path, args, workdir, n):
    """A Torch-MLIR import raised to mrope ops (--mrope-raise-linalg-rotary),
    lowered to the portable form and run by IREE, against the NumPy
    reference: tables given -- the import's operations, which IREE may
    contract into an FMA: an ulp of each product and of the f32 result (bf16:
    IREE does not round the products to bf16 as torch does, so a bf16 ulp
    of each product and of the result); cos/sin computed -- within 1e-5 (f32),
    or (bf16) 2 ulps of the result plus an ulp of each term (cos/sin agree
    to 2 f32 ulps, so a bf16 cos/sin may round to the other neighbour).
    Returns the largest error / bound of the raised form, and for
    comparison (not checked: "(import)") of the import compiled by IREE as
    it is, or an error message."""
    ref = load_package_file("reference")
    name = os.path.basename(path)
    stem, element = name[:-len(".mlir")].rsplit("_", 1)
    kind, allocation = TORCH_MLIR_CASES[stem]
    if element == "bf16":
        import ml_dtypes
        dtype = np.dtype(ml_dtypes.bfloat16)
    else:
        dtype = np.dtype(np.float32)
    rng = np.random.default_rng(5)
    q = rng.standard_normal((1, 4, 8, 16)).astype(np.float32).astype(dtype)
    k = rng.standard_normal((1, 2, 8, 16)).astype(np.float32).astype(dtype)
    positions = rng.integers(0, 500, (3, 1, 8)).astype(np.int64)
    inv_freq = ref.default_inv_freq(16, 10000.0)
    if kind == "chain":
        inputs = [q, k, positions, inv_freq]
        scaling = TORCH_MLIR_SCALING if "scaled" in stem else 1.0
        want = ref.apply_rotary(q, k, positions, inv_freq, allocation, TORCH_MLIR_SECTION,
                                attention_scaling=scaling, dtype=dtype)
    else:
        if allocation:
            # Distinct per-axis tables [3, B, S, D], so that a wrong row
            # selection shows; the reference selects each channel's axis.
            tables = [ref.cos_sin(positions, inv_freq, np.full(8, a)) for a in range(3)]
            cos3 = np.stack([c for c, _ in tables]).astype(dtype)
            sin3 = np.stack([s for _, s in tables]).astype(dtype)
            inputs = [q, k, cos3, sin3]
            cos, sin = ref.select_axis_tables(cos3, sin3, allocation, TORCH_MLIR_SECTION)
        else:
            cos, sin = (x.astype(dtype) for x in ref.cos_sin(positions, inv_freq,
                                                              np.zeros(8, np.int64)))
            inputs = [q, k, cos, sin]
        want = (ref.rotate(q, cos, sin, dtype=dtype), ref.rotate(k, cos, sin, dtype=dtype))
        tables = (cos.astype(np.float32), sin.astype(np.float32))
    with open(path) as f:
        imported = f.read()
    def spacing(a, like=np.float32):
        return np.spacing(np.abs(a.astype(np.float32)).astype(like)).astype(np.float64)

    results = {}
    for label, passes in (("raised", ("--mrope-raise-linalg-rotary",
                                      "--mrope-to-linalg-pipeline")),
                          ("(import)", ())):
        module = compile_and_load(imported, args, workdir, f"{n}{label}", passes)
        if isinstance(module, str):
            return f"{label}: {module}"
        if label == "raised":
            lowered = subprocess.run([args.mrope_opt, "-", "--mrope-raise-linalg-rotary"],
                                     input=imported, capture_output=True, text=True).stdout
            if "mrope.apply" not in lowered and "mrope.rotate" not in lowered:
                return "the raising pass left the import unchanged"
        got = getattr(module, stem)(*inputs)
        worst = 0.0
        for x, out, ref_out in zip((q, k), got, want):
            out32 = np.asarray(out.to_host()).astype(np.float32)
            ref32 = np.asarray(ref_out).astype(np.float32)
            x32 = x.astype(np.float32)
            if kind == "tables":
                cos32, sin32 = (np.broadcast_to(t[:, None], x32.shape) for t in tables)
                half = np.concatenate([-x32[..., 8:], x32[..., :8]], axis=-1)
                bound = spacing(x32 * cos32) + spacing(half * sin32) + spacing(ref32)
                if element == "bf16":
                    # IREE computes the bf16 products and their sum in f32
                    # without rounding in between (torch rounds each).
                    bound += (spacing(x32 * cos32, dtype) + spacing(half * sin32, dtype)
                              + spacing(ref32, dtype))
            elif element == "f32":
                bound = np.full(ref32.shape, TOLERANCE)
            else:
                bound = (2 * spacing(ref32, dtype) + spacing(x32, dtype)
                         + spacing(np.roll(x32, 8, axis=-1), dtype))
            err = np.abs(out32.astype(np.float64) - ref32)
            worst = max(worst, float(np.max(np.where(err == 0, 0.0, err / bound))))
        results[label] = worst
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="*")
    parser.add_argument("--mrope-opt", default=os.path.join(HERE, "mrope-opt"))
    parser.add_argument("--iree-compile", default="iree-compile")
    parser.add_argument("--designs", default="",
                        help="paper_variants.json: only these variants (comma-separated)")
    parser.add_argument("--attention", action="store_true",
                        help="run the built-in mrope.attention cases")
    parser.add_argument("--torch-mlir", default="",
                        help="a folder of Torch-MLIR imports of the Hugging Face rotary "
                             "(test/Integration/TorchMLIR/Inputs): raised, lowered and run")
    args = parser.parse_args()
    if not args.files and not args.attention and not args.torch_mlir:
        parser.error("give golden files, --attention and/or --torch-mlir")
    only = set(filter(None, args.designs.split(",")))
    counts = [0, 0]  # passed, failed

    def report(runs, prefix):
        for m, (name, run, measure, bound) in enumerate(runs):
            label = f"{prefix} {name}"
            result = run(m)
            if isinstance(result, str):
                print(f"FAIL {label}: {result}")
                counts[1] += 1
                continue
            # "(name)" values are reported for comparison, not checked.
            ok = all(d <= bound for k, d in result.items() if not k.startswith("("))
            counts[0] += ok
            counts[1] += not ok
            detail = ", ".join(f"{k} {measure} {v:.3g}" for k, v in result.items())
            print(f"{'PASS' if ok else 'FAIL'} {label}: {detail}")

    with tempfile.TemporaryDirectory() as workdir:
        for path in args.files:
            try:
                data = json.load(open(path))
                cases = data["cases"] if "variants" not in data else []
                variants = data.get("variants", [])
            except (OSError, ValueError, KeyError, TypeError) as e:
                sys.exit(f"iree-check: {path}: not a golden file: {e}")
            runs = []
            runtime_designs = load_designs().RUNTIME_PAPER_DESIGNS
            for v in variants:
                if v["variant"] in runtime_designs and (not only or v["variant"] in only):
                    runs.append((f"{v['variant']} ({v['label']})",
                                 lambda m, v=v: run_paper_case(v, data["mixed_case"], args,
                                                               workdir, m),
                                 "mismatches", 0))
            for n, case in enumerate(cases):
                if "input_ids" in case:  # position ids, in each rules version
                    for version in case["outputs"]:
                        runs.append((f"{case['model_rules']}/{case['name']}/{version}",
                                     lambda m, c=case, v=version:
                                     run_positions_case(c, v, args, workdir, m),
                                     "mismatches", 0))
                else:
                    runs.append((f"case {n} ({case.get('allocation', '?')})",
                                 lambda m, c=case: run_case(c, args, workdir, m),
                                 "max abs diff", TOLERANCE))
            report(runs, os.path.basename(path))
        if args.attention:
            report([(c[0], lambda m, c=c: run_attention_case(c, args, workdir, 1000 + m),
                     "error / bound", 1.0) for c in ATTENTION_CASES]
                   + [(c[0], lambda m, c=c: run_attention_case(c, args, workdir, 1100 + m,
                                                              packed_attention_case),
                       "error / bound", 1.0) for c in PACKED_ATTENTION_CASES], "attention")
        if args.torch_mlir:
            try:
                imports = sorted(f for f in os.listdir(args.torch_mlir) if f.endswith(".mlir"))
            except OSError as e:
                sys.exit(f"iree-check: --torch-mlir: {e}")
            report([(f, lambda m, f=f: run_torch_mlir_case(os.path.join(args.torch_mlir, f), args,
                                                           workdir, 1200 + m),
                     "error / bound", 1.0) for f in imports
                    if f[:-len(".mlir")].rsplit("_", 1)[0] in TORCH_MLIR_CASES], "torch-mlir")
    passed, failed = counts
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
