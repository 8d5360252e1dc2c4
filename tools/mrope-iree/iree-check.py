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


def positions_case_ir(case, version):
    """A function (input_ids, [mask], [grids], [second_per_grid]) ->
    (positions, rope_deltas, next_positions, status) for one golden case in
    one rules version, and its inputs."""
    rules = case["model_rules"]
    design = load_designs().golden_rules_design(rules, version, case.get("tokens_per_second"))
    inputs, params, operands = [], [], ""
    fields = [("input_ids", None, np.int64), ("attention_mask", "mask", np.int64),
              ("image_grid_thw", "images", np.int64), ("video_grid_thw", "videos", np.int64)]
    if rules == "qwen25vl" and case["video_grid_thw"]:
        fields.append(("second_per_grid_ts", "second_per_grid", np.float32))
    for key, word, dtype in fields:
        if not case.get(key):
            continue
        value = np.asarray(case[key], dtype)
        elem = "f32" if dtype == np.float32 else "i64"
        params.append(f"%{key}: {ttype(value.shape, elem)}")
        if word:
            operands += f" {word}(%{key} : {ttype(value.shape, elem)})"
        inputs.append(value)
    batch, length = inputs[0].shape
    results = [ttype([3, batch, length], "i64"), ttype([batch, 1], "i64"),
               ttype([batch], "i64"), "tensor<4xi64>"]
    ir = f"""func.func @positions({", ".join(params)}) -> ({", ".join(results)}) {{
  %p, %d, %n, %s = mrope.rope_index %input_ids{operands} design {design} : {ttype([batch, length], "i64")} -> {", ".join(results)}
  return %p, %d, %n, %s : {", ".join(results)}
}}
"""
    return ir, inputs


# The paper variants mrope.rope_index takes as runtime designs (as
# mrope-conform's RUNTIME_PAPER_DESIGNS).
RUNTIME_PAPER_DESIGNS = ("vanilla-rope", "mrope-interleave", "mhrope", "videorope", "hope",
                         "v2pe", "ilrope", "omnirope", "mmrope", "circlerope")


def paper_case_ir(variant, mixed):
    """A function (input_ids, image grids, video grids) -> (positions,
    rope_deltas, next_positions, status) under one paper variant's design,
    and its inputs."""
    designs = load_designs()
    name, kw = variant["variant"], variant["kwargs"]
    elem = "f32" if name in designs.FLOAT_POSITION_VARIANTS else "i64"
    inputs = [np.asarray([mixed["input_ids"]], np.int64),
              np.asarray(mixed["image_grid_thw"], np.int64),
              np.asarray(mixed["video_grid_thw"], np.int64)]
    ids_t, img_t, vid_t = (ttype(a.shape, "i64") for a in inputs)
    length = inputs[0].shape[1]
    results = (f"{ttype([3, 1, length], elem)}, {ttype([1, 1], elem)}, {ttype([1], elem)}, "
               "tensor<4xi64>")
    ir = f"""func.func @positions(%ids: {ids_t}, %img: {img_t}, %vid: {vid_t}) -> ({results}) {{
  %p, %d, %n, %s = mrope.rope_index %ids images(%img : {img_t}) videos(%vid : {vid_t}) design {designs.paper_design(name, kw)} : {ids_t} -> {results}
  return %p, %d, %n, %s : {results}
}}
"""
    return ir, inputs, np.float32 if elem == "f32" else np.int64


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


def run_positions_case(case, version, args, workdir, n):
    """Whether IREE's positions, rope_deltas and status are the golden ones,
    as a mismatch count per output (0: exact), or an error message."""
    ir, inputs = positions_case_ir(case, version)
    module = compile_and_load(ir, args, workdir, n)
    if isinstance(module, str):
        return module
    positions, deltas, _, status = (np.asarray(o.to_host()) for o in module.positions(*inputs))
    want = case["outputs"][version]
    if status.tolist() != [0, 0, 0, 0]:
        return f"status {status.tolist()}"
    return {"positions": int(np.sum(positions != np.asarray(want["position_ids"]))),
            "rope_deltas": int(np.sum(deltas != np.asarray(want["rope_deltas"])))}


def run_paper_case(variant, mixed, args, workdir, n):
    """Mismatching positions and rope_deltas (bits) of one paper variant, or
    an error message."""
    ir, inputs, dtype = paper_case_ir(variant, mixed)
    module = compile_and_load(ir, args, workdir, n)
    if isinstance(module, str):
        return module
    positions, deltas, _, status = (np.asarray(o.to_host()) for o in module.positions(*inputs))
    if status.tolist() != [0, 0, 0, 0]:
        return f"status {status.tolist()}"
    bits = np.int32 if dtype == np.float32 else np.int64

    def mismatches(got, want):
        want = np.asarray(want, dtype).reshape(got.shape)
        return int(np.sum(got.astype(dtype).view(bits) != want.view(bits)))
    return {"positions": mismatches(positions, variant["position_ids"]),
            "rope_deltas": mismatches(deltas, variant["rope_deltas"])}


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
            for v in variants:
                if v["variant"] in RUNTIME_PAPER_DESIGNS and (not only or v["variant"] in only):
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
