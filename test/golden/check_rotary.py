#!/usr/bin/env python3
"""Runs the golden rotary cases through the compiled CPU path and compares.

For every case of rotary_contiguous_mrope.json, rotary_interleaved_mrope.json,
rotary_mhrope.json and every variant of paper_variants.json, writes one
function that builds `mrope.inv_freq`, `mrope.cos_sin` and `mrope.apply`
(forward, then inverse) on the stored inputs, computes the largest absolute
difference to the stored outputs in the same run, and prints it. The module is
compiled with `mrope-opt --mrope-cpu-pipeline` and run by `mlir-runner`.

Prints one line per case and quantity and a summary; exits non-zero if any
difference exceeds the tolerance (1e-5 absolute, f32) or is NaN.

With `--portable MLIR_OPT`, mrope-opt only lowers to linalg-on-tensors
(`--mrope-to-linalg-pipeline`) and upstream `mlir-opt` (no mrope dialect)
takes it from there with stock passes: the check that another MLIR pipeline
can consume the portable form.

Usage: check_rotary.py MROPE_OPT MLIR_RUNNER LIB_DIR GOLDEN_DIR [--portable MLIR_OPT]
"""
import json
import math
import os
import subprocess
import sys

TOLERANCE = 1e-5

# Stock upstream passes from linalg-on-tensors to the LLVM dialect.
UPSTREAM_CPU_PIPELINE = (
    "builtin.module(one-shot-bufferize{bufferize-function-boundaries "
    "function-boundary-type-conversion=identity-layout-map},"
    "buffer-deallocation-pipeline,convert-linalg-to-loops,"
    "expand-strided-metadata,lower-affine,convert-scf-to-cf,"
    "convert-vector-to-llvm,convert-to-llvm,reconcile-unrealized-casts)")


def shape_of(x):
    s = []
    while isinstance(x, list):
        s.append(len(x))
        x = x[0]
    return s


def flat(x):
    if isinstance(x, list):
        for v in x:
            yield from flat(v)
    else:
        yield x


def ttype(shape, elem):
    return "tensor<" + "x".join(str(d) for d in shape) + "x" + elem + ">"


def fnum(v):
    return repr(float(v))


def const(name, values, elem):
    shape = shape_of(values)
    fmt = fnum if elem == "f32" else (lambda v: str(int(v)))
    body = ", ".join(fmt(v) for v in flat(values))
    return (f"  %{name} = arith.constant dense<[{body}]> : "
            f"{ttype([math.prod(shape)], elem)}\n"
            f"  %{name}_r = tensor.reshape %{name}(%{name}_shape) : "
            f"({ttype([math.prod(shape)], elem)}, tensor<{len(shape)}xindex>) -> "
            f"{ttype(shape, elem)}\n"), ttype(shape, elem)


def shape_const(name, shape):
    return (f"  %{name}_shape = arith.constant dense<[{', '.join(map(str, shape))}]>"
            f" : tensor<{len(shape)}xindex>\n")


def tensor_const(name, values, elem="f32"):
    text, t = const(name, values, elem)
    return shape_const(name, shape_of(values)) + text, f"%{name}_r", t


def max_abs_diff(lhs, rhs, t, label, out):
    rank = t.count("x")
    dims = ", ".join(f"d{i}" for i in range(rank))
    n = len(out)
    out.append(label)
    return f"""  %e{n}_init = tensor.empty() : tensor<f32>
  %e{n}_zero = linalg.fill ins(%zero : f32) outs(%e{n}_init : tensor<f32>) -> tensor<f32>
  %e{n} = linalg.generic {{indexing_maps = [affine_map<({dims}) -> ({dims})>, affine_map<({dims}) -> ({dims})>, affine_map<({dims}) -> ()>], iterator_types = [{', '.join(['"reduction"'] * rank)}]}} ins({lhs}, {rhs} : {t}, {t}) outs(%e{n}_zero : tensor<f32>) {{
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %d = arith.subf %a, %b : f32
    %m = math.absf %d : f32
    %r = arith.maximumf %acc, %m : f32
    linalg.yield %r : f32
  }} -> tensor<f32>
  %e{n}_v = tensor.extract %e{n}[] : tensor<f32>
  vector.print %e{n}_v : f32
"""


def q_formula(shape, scale, fn):
    b, h, n, d = shape
    return [[[[float(struct_f32(fn(scale * (bi + 1) * (hi + 1) * (ni + 1) * (di + 1))))
               for di in range(d)] for ni in range(n)] for hi in range(h)]
            for bi in range(b)]


def struct_f32(x):
    import struct
    return struct.unpack("<f", struct.pack("<f", x))[0]


def case_function(name, label, positions, pos_elem, theta, alloc, dim, q, k,
                  q_rot, k_rot, cos, sin, labels):
    body = "  %zero = arith.constant 0.0 : f32\n"
    text, pos, pos_t = tensor_const("pos", positions, pos_elem)
    body += text
    text, qv, q_t = tensor_const("q", q)
    body += text
    text, kv, k_t = tensor_const("k", k)
    body += text
    inv_t = f"tensor<{dim // 2}xf32>"
    body += f"  %f = mrope.inv_freq theta = {fnum(theta)} : {inv_t}\n"
    rotary = f"rotary <alloc = {alloc}, rotary_dim = {dim}>"
    body += (f"  %qr, %kr = mrope.apply {qv}, {kv} positions({pos} : {pos_t}) "
             f"freqs(%f : {inv_t}) layout bhsd {rotary} : {q_t}, {k_t}\n")
    body += (f"  %qi, %ki = mrope.apply %qr, %kr positions({pos} : {pos_t}) "
             f"freqs(%f : {inv_t}) layout bhsd {rotary} inverse : {q_t}, {k_t}\n")
    text, qe, _ = tensor_const("qe", q_rot)
    body += text
    body += max_abs_diff("%qr", qe, q_t, f"{label}: q_rot", labels)
    if k_rot is not None:
        text, ke, _ = tensor_const("ke", k_rot)
        body += text
        body += max_abs_diff("%kr", ke, k_t, f"{label}: k_rot", labels)
    cos_t = ttype(shape_of(cos), "f32")
    body += (f"  %c, %s = mrope.cos_sin {pos}, %f {rotary} : {pos_t}, {inv_t} -> "
             f"{cos_t}, {cos_t}\n")
    text, ce, _ = tensor_const("ce", cos)
    body += text
    body += max_abs_diff("%c", ce, cos_t, f"{label}: cos", labels)
    text, se, _ = tensor_const("se", sin)
    body += text
    body += max_abs_diff("%s", se, cos_t, f"{label}: sin", labels)
    body += max_abs_diff("%qi", qv, q_t, f"{label}: inverse(q_rot) - q", labels)
    return f"func.func @{name}() {{\n{body}  return\n}}\n"


def hf_cases(golden):
    for fname, kind in (("rotary_contiguous_mrope.json", "contiguous"),
                        ("rotary_interleaved_mrope.json", "interleaved"),
                        ("rotary_mhrope.json", "head_partitioned")):
        data = json.load(open(os.path.join(golden, fname)))
        for n, c in enumerate(data["cases"]):
            section = c.get("mrope_section") or c.get("mrope_section_heads")
            yield dict(
                label=f"{fname[7:-5]} D={c['head_dim']} theta={c['rope_theta']:g}"
                      f" section={section}" +
                      (f" q/kv heads={c['num_attention_heads']}/{c['num_key_value_heads']}"
                       if kind == "head_partitioned" else ""),
                positions=c["position_ids"], pos_elem="i64",
                theta=c["rope_theta"],
                alloc=f"<{kind}, section = {section}>", dim=c["head_dim"],
                q=c["q"], k=c["k"], q_rot=c["q_rot"], k_rot=c["k_rot"],
                cos=c["cos"], sin=c["sin"])


PAPER_ALLOC = {
    "vanilla-rope": "<vanilla>", "mrope": "<contiguous, section = {s}>",
    "mrope-interleave": "<interleaved, section = {s}>",
    "mhrope": "<head_partitioned, section = {s}>",
    "videorope": "<videorope, section = {s}>", "hope": "<hope, section = {s}>",
    "circlerope": "<contiguous, section = {s}>", "v2pe": "<vanilla>",
    "ilrope": "<interleaved, section = {s}>",
    "omnirope": "<contiguous, section = {s}>", "mmrope": "<mmrope>",
}


def paper_cases(golden):
    data = json.load(open(os.path.join(golden, "paper_variants.json")))
    for v in data["variants"]:
        kw = v["kwargs"]
        name = v["variant"]
        if name == "grape":
            alloc = ("<grape_interleaved>"
                     if kw.get("frequency_allocation") == "interleaved"
                     else f"<contiguous, section = {kw['mrope_section']}>")
        else:
            alloc = PAPER_ALLOC[name].format(s=kw.get("mrope_section"))
        qshape = shape_of(v["q_rot"])
        kv = kw.get("num_key_value_heads", qshape[1])
        q = q_formula(qshape, 0.1, math.sin)
        k = q_formula([qshape[0], kv, qshape[2], qshape[3]], 0.05, math.cos)
        floats = v["position_ids_dtype"] == "torch.float32"
        yield dict(label=f"paper {name} ({v['label']})",
                   positions=v["position_ids"],
                   pos_elem="f32" if floats else "i64", theta=kw["base"],
                   alloc=alloc, dim=kw["dim"], q=q, k=k, q_rot=v["q_rot"],
                   k_rot=None, cos=v["cos"], sin=v["sin"])


def main():
    opt, runner, libdir, golden = sys.argv[1:5]
    labels, funcs = [], []
    for n, case in enumerate(list(hf_cases(golden)) + list(paper_cases(golden))):
        label = case.pop("label")
        funcs.append(case_function(f"case{n}", label, labels=labels, **case))
    main_fn = "func.func @main() {\n" + "".join(
        f"  call @case{n}() : () -> ()\n" for n in range(len(funcs))) + "  return\n}\n"
    module = "\n".join(funcs) + main_fn
    if "--portable" in sys.argv:
        upstream = sys.argv[sys.argv.index("--portable") + 1]
        steps = [[opt, "-", "--mrope-to-linalg-pipeline"],
                 [upstream, "-", f"--pass-pipeline={UPSTREAM_CPU_PIPELINE}"]]
    else:
        steps = [[opt, "-", "--mrope-cpu-pipeline"]]
    source = module
    for step in steps:
        lowered = subprocess.run(step, input=source, capture_output=True,
                                 text=True)
        if lowered.returncode != 0:
            print(lowered.stderr[-4000:])
            return 1
        source = lowered.stdout
    libs = ",".join(os.path.join(libdir, f"libmlir_{l}.so")
                    for l in ("c_runner_utils", "runner_utils"))
    run = subprocess.run([runner, "-e", "main", "-entry-point-result=void",
                          f"-shared-libs={libs}"], input=source,
                         capture_output=True, text=True)
    if run.returncode != 0:
        print(run.stderr[-4000:])
        return 1
    values = [float(v) for v in run.stdout.split()]
    if len(values) != len(labels):
        print(f"expected {len(labels)} values, got {len(values)}")
        return 1
    failures = 0
    for label, value in zip(labels, values):
        ok = not math.isnan(value) and value <= TOLERANCE
        failures += not ok
        print(f"{'PASS' if ok else 'FAIL'} {label}: max abs diff {value:.3g}")
    print(f"rotary: {len(labels) - failures} passed, {failures} failed "
          f"(tolerance {TOLERANCE:g} absolute, f32)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
