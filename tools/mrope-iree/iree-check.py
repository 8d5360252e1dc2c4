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
IREE gets wrong and why).

    iree-check.py [--mrope-opt PATH] [--iree-compile PATH] [--designs A,B] FILE.json...

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
def load_designs():
    """The Python package's design spellings (python/mrope/designs.py, a
    self-contained file), from the source tree."""
    import importlib.util
    path = os.path.join(HERE, "..", "..", "python", "mrope", "designs.py")
    spec = importlib.util.spec_from_file_location("mrope_designs", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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


def compile_and_load(ir, args, workdir, n):
    """The IREE module of mrope IR, or an error message."""
    import iree.runtime as rt
    lowered = subprocess.run([args.mrope_opt, "-", "--mrope-to-linalg-pipeline"],
                             input=ir, capture_output=True, text=True)
    if lowered.returncode:
        return f"mrope-opt failed: {lowered.stderr.strip()[:500]}"
    vmfb = os.path.join(workdir, f"case{n}.vmfb")
    compiled = subprocess.run([args.iree_compile, "-", "--iree-hal-target-device=local",
                               "--iree-hal-local-target-device-backends=llvm-cpu",
                               "--iree-llvmcpu-target-cpu=host", "-o", vmfb],
                              input=lowered.stdout, capture_output=True, text=True)
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


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+")
    parser.add_argument("--mrope-opt", default=os.path.join(HERE, "mrope-opt"))
    parser.add_argument("--iree-compile", default="iree-compile")
    parser.add_argument("--designs", default="",
                        help="paper_variants.json: only these variants (comma-separated)")
    args = parser.parse_args()
    only = set(filter(None, args.designs.split(",")))
    passed = failed = 0
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
            for m, (name, run, measure, bound) in enumerate(runs):
                label = f"{os.path.basename(path)} {name}"
                result = run(m)
                if isinstance(result, str):
                    print(f"FAIL {label}: {result}")
                    failed += 1
                    continue
                ok = all(d <= bound for d in result.values())
                passed += ok
                failed += not ok
                detail = ", ".join(f"{k} {measure} {v:.3g}" for k, v in result.items())
                print(f"{'PASS' if ok else 'FAIL'} {label}: {detail}")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
