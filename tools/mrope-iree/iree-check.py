#!/usr/bin/env python3
"""Runs the rotary golden cases through IREE: mrope IR -> `mrope-opt
--mrope-to-linalg-pipeline` (the portable form) -> the real `iree-compile`
(llvm-cpu backend) -> the real `iree.runtime`, and compares q_rot / k_rot
with the reference (1e-5 absolute, f32), printing one line per case and a
summary `N passed, N failed`.

    iree-check.py [--mrope-opt PATH] [--iree-compile PATH] FILE.json...

Needs `iree-base-compiler`, `iree-base-runtime` and `numpy` (pip).
"""
import argparse
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


def run_case(case, args, workdir, n):
    import iree.runtime as rt
    ir, q, k, pos = case_ir(case)
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
    module = rt.load_vm_flatbuffer_file(vmfb, driver="local-task")
    out = module.rotate(q, k, pos)
    q_rot, k_rot = (np.asarray(o.to_host()) for o in out)
    diffs = {"q_rot": float(np.max(np.abs(q_rot - np.asarray(case["q_rot"], np.float32)))),
             "k_rot": float(np.max(np.abs(k_rot - np.asarray(case["k_rot"], np.float32))))}
    return diffs


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+")
    parser.add_argument("--mrope-opt", default=os.path.join(HERE, "mrope-opt"))
    parser.add_argument("--iree-compile", default="iree-compile")
    args = parser.parse_args()
    passed = failed = 0
    with tempfile.TemporaryDirectory() as workdir:
        for path in args.files:
            try:
                data = json.load(open(path))
                cases = data["cases"]
            except (OSError, ValueError, KeyError, TypeError) as e:
                sys.exit(f"iree-check: {path}: not a rotary golden file: {e}")
            for n, case in enumerate(cases):
                label = f"{os.path.basename(path)} case {n} ({case.get('allocation', '?')})"
                result = run_case(case, args, workdir, n)
                if isinstance(result, str):
                    print(f"FAIL {label}: {result}")
                    failed += 1
                    continue
                ok = all(d <= TOLERANCE for d in result.values())
                passed += ok
                failed += not ok
                detail = ", ".join(f"{k} max abs diff {v:.3g}" for k, v in result.items())
                print(f"{'PASS' if ok else 'FAIL'} {label}: {detail}")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
