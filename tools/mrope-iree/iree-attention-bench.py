#!/usr/bin/env python3
"""Prefill attention through IREE (the portable form) vs the CPU pipeline,
same inputs, same run: `mrope.attention` lowered by `mrope-opt
--mrope-to-linalg-pipeline` (whole-tensor linalg: the scores materialized,
softmax by reductions), compiled by the real `iree-compile` (llvm-cpu, host
CPU) and run by `iree.runtime` (local-task: all cores), against the same op
through the Python package (the CPU pipeline's online-softmax tiles,
threads on). Both outputs are checked in the same run against a float64
reference on sampled query rows (mrope.reference.attention_error_bound).
Prints the median and min of --reps calls after a warm-up, TFLOP/s of the
attention's useful work (causal: the visible keys only) and the ratio.

    PYTHONPATH=build/python_packages build/pyenv/bin/python \\
        tools/mrope-iree/iree-attention-bench.py --iree-compile build/pyenv/bin/iree-compile \\
        [--seq 512,1024,2048] [--q-heads 32] [--kv-heads 8] [--dim 128] [--dtype f32|f16]
        [--no-causal] [--reps 5]
"""
import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "mrope-bench"))
from bench_common import timed  # noqa: E402

SAMPLED_ROWS = 48


def attention_ir(shape_q, shape_kv, element, causal):
    qt = "tensor<" + "x".join(map(str, shape_q)) + f"x{element}>"
    kt = "tensor<" + "x".join(map(str, shape_kv)) + f"x{element}>"
    return (f"func.func @attention(%q: {qt}, %k: {kt}, %v: {kt}) -> {qt} {{\n"
            f"  %o = mrope.attention %q, %k, %v layout bhsd{' causal' if causal else ''}"
            f" : {qt}, {kt}, {kt} -> {qt}\n  return %o : {qt}\n}}\n")


def iree_module(ir, args, workdir):
    import iree.runtime as rt
    lowered = subprocess.run([args.mrope_opt, "-", "--mrope-to-linalg-pipeline"], input=ir,
                             capture_output=True, text=True, check=True).stdout
    vmfb = os.path.join(workdir, "attention.vmfb")
    subprocess.run([args.iree_compile, "-", "--iree-hal-target-device=local",
                    "--iree-hal-local-target-device-backends=llvm-cpu",
                    "--iree-llvmcpu-target-cpu=host", "-o", vmfb],
                   input=lowered, capture_output=True, text=True, check=True)
    return rt.load_vm_flatbuffer_file(vmfb, driver="local-task")


def sampled_error(got, q, k, v, causal, rows, bound_of):
    """Largest |got - float64 reference| / bound over the sampled (head,
    token) rows."""
    from mrope import reference
    s_len, t_len = q.shape[2], k.shape[2]
    group = q.shape[1] // k.shape[1]
    worst = 0.0
    for h, s in rows:
        keys = t_len if not causal else s + 1 + t_len - s_len
        kh = k[0, h // group, :keys].astype(np.float64)
        vh = v[0, h // group, :keys].astype(np.float64)
        want = reference.attention(q[0, h, s][None, None, None].astype(np.float64),
                                   kh[None, None], vh[None, None])[0, 0, 0]
        worst = max(worst, float(np.max(np.abs(got[0, h, s].astype(np.float64) - want)
                                        / bound_of(want))))
    return worst


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mrope-opt",
                        default=os.path.join(HERE, "..", "..", "build", "bin", "mrope-opt"))
    parser.add_argument("--iree-compile", default="iree-compile")
    parser.add_argument("--seq", default="512,1024,2048")
    parser.add_argument("--q-heads", type=int, default=32)
    parser.add_argument("--kv-heads", type=int, default=8)
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--dtype", choices=["f32", "f16"], default="f32")
    parser.add_argument("--no-causal", dest="causal", action="store_false")
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args()
    seqs = [int(s) for s in args.seq.split(",") if s]
    if (not seqs or min(seqs) < 1 or args.reps < 1 or args.kv_heads < 1
            or args.q_heads % args.kv_heads or args.dim < 1):
        sys.exit("iree-attention-bench: needs positive --seq, --reps, --dim, and --q-heads a "
                 "multiple of --kv-heads")
    import mrope
    from mrope import reference
    dtype = np.float32 if args.dtype == "f32" else np.float16
    rng = np.random.default_rng(0)
    print(f"# bhsd, batch 1, {args.q_heads} q / {args.kv_heads} KV heads, D {args.dim}, "
          f"{args.dtype}, {'causal' if args.causal else 'full'}; medians of {args.reps}; "
          f"{os.cpu_count()} cores for both")
    print(f"{'S':>6s} {'IREE ms':>9s} {'min':>8s} {'TFLOP/s':>8s} {'CPU ms':>9s} {'min':>8s} "
          f"{'TFLOP/s':>8s} {'IREE/CPU':>9s} {'err IREE':>9s} {'err CPU':>8s} check")
    failed = 0
    with tempfile.TemporaryDirectory() as workdir:
        for s in seqs:
            shape_q = (1, args.q_heads, s, args.dim)
            shape_kv = (1, args.kv_heads, s, args.dim)
            q, k, v = (rng.standard_normal(x).astype(dtype) for x in (shape_q, shape_kv, shape_kv))
            module = iree_module(attention_ir(shape_q, shape_kv, args.dtype, args.causal), args,
                                 workdir)
            iree_median, iree_min, iree_out = timed(
                lambda: np.asarray(module.attention(q, k, v).to_host()), args.reps)
            cpu_median, cpu_min, cpu_out = timed(
                lambda: mrope.attention(q, k, v, causal=args.causal, threads=True), args.reps)
            # Useful work: QK^T and PV, 2 * 2 * D flops per visible (row, key).
            pairs = s * (s + 1) / 2 if args.causal else s * s
            flops = 4 * args.dim * args.q_heads * pairs
            rows = list(zip(rng.integers(0, args.q_heads, SAMPLED_ROWS),
                            rng.integers(0, s, SAMPLED_ROWS)))
            rows.append((args.q_heads - 1, s - 1))

            def bound(want):
                return reference.attention_error_bound(want, dtype)
            errs = [sampled_error(out, q, k, v, args.causal, rows, bound)
                    for out in (iree_out, cpu_out)]
            ok = all(e < 1.0 for e in errs)
            failed += not ok
            print(f"{s:6d} {iree_median * 1e3:9.2f} {iree_min * 1e3:8.2f} "
                  f"{flops / iree_median / 1e12:8.3f} {cpu_median * 1e3:9.2f} "
                  f"{cpu_min * 1e3:8.2f} {flops / cpu_median / 1e12:8.3f} "
                  f"{iree_median / cpu_median:8.2f}x {errs[0]:9.3f} {errs[1]:8.3f} "
                  f"{'pass' if ok else 'FAIL'}", flush=True)
    print(f"{len(seqs) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
