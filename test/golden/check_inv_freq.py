#!/usr/bin/env python3
"""Checks the folded `mrope.inv_freq` against every case of inv_freq_scaling.json.

For each case and each transformers snapshot (v449, v457, head), writes the
`mrope.inv_freq` and `mrope.attention_scaling` ops with the case's scaling,
folds them with `mrope-opt --canonicalize`, and compares every frequency with
the stored float32 value (at most `--ulp` units in the last place apart) and
the attention scaling with the stored Python float (relative 1e-12). Prints one line
per case and a summary; exits non-zero on any mismatch.

Usage: check_inv_freq.py MROPE_OPT inv_freq_scaling.json [--ulp N]
"""
import json
import re
import struct
import subprocess
import sys

# Cases where the reference itself is off: torch evaluates `base ** x` with
# Sleef's float32 pow, which is within 1 ulp but not correctly rounded. Where
# the exact power lies within a few hundredths of an ulp of a rounding tie
# (e.g. theta=1e6, D=128, j=37: 0.486 ulp), the reference rounds the other
# way; Llama-3's smoothing blend and dynamic NTK's rescaled base amplify that
# single-ulp step. Listed with the largest deviation seen, so any growth
# fails; ours is the correctly rounded pow.
KNOWN_DEVIATIONS = {
    ("llama3", 10000.0, 128, None): 4,
    ("dynamic", 10000.0, 128, 8192): 2,
    ("yarn_mscale", 1000000.0, 128, None): 2,
}

# v457 and head agree on every case (the `agree` field); v449 differs in YaRN.
CONVENTION = {"v449": "hf449", "v457": "hf457", "head": "hf457"}


def f32_bits(x):
    return struct.unpack("<i", struct.pack("<f", x))[0]


def ulp_distance(a, b):
    ia, ib = f32_bits(a), f32_bits(b)
    if ia < 0:
        ia = -2**31 - ia
    if ib < 0:
        ib = -2**31 - ib
    return abs(ia - ib)


def fmt(x):
    text = repr(float(x))
    return text if ("." in text or "e" in text) else text + ".0"


def scaling_attr(params, top, snapshot):
    kind = params["rope_type"]
    if kind == "default":
        return None
    fields = [f"kind = {kind}"]
    if kind == "yarn" and CONVENTION[snapshot] == "hf449":
        fields.append("convention = hf449")
    if "factor" in params:
        fields.append(f"factor = {fmt(params['factor'])}")
    if kind in ("dynamic", "yarn", "longrope"):
        fields.append(f"max_position_embeddings = {top['max_position_embeddings']}")
    original = params.get("original_max_position_embeddings",
                          top.get("original_max_position_embeddings"))
    if original is not None and kind in ("yarn", "longrope", "llama3"):
        fields.append(f"original_max_position_embeddings = {original}")
    for key in ("beta_fast", "beta_slow", "mscale", "mscale_all_dim",
                "attention_factor", "low_freq_factor", "high_freq_factor"):
        if key in params:
            fields.append(f"{key} = {fmt(params[key])}")
    if params.get("truncate") is False:
        fields.append("truncate = false")
    for key in ("short_factor", "long_factor"):
        if key in params:
            fields.append(f"{key} = [{', '.join(fmt(v) for v in params[key])}]")
    return "<" + ", ".join(fields) + ">"


def main():
    opt, path = sys.argv[1], sys.argv[2]
    max_ulp = int(sys.argv[sys.argv.index("--ulp") + 1]) if "--ulp" in sys.argv else 1
    data = json.load(open(path))
    funcs, expected = [], []
    for n, case in enumerate(data["cases"]):
        params, top = case["rope_parameters"], case["config_top_level"]
        dim = int(top["head_dim"] * params.get("partial_rotary_factor", 1.0))
        for snapshot, result in case["results"].items():
            attr = scaling_attr(params, top, snapshot)
            scaling = f" scaling {attr}" if attr else ""
            seq = case["seq_len_arg"]
            body = ""
            operand = ""
            if seq is not None:
                body = f"  %len = arith.constant {seq} : i64\n"
                operand = " seq_len(%len : i64)"
            name = f"c{n}_{snapshot}"
            scale_op = (f"  %s = mrope.attention_scaling {attr} : f64\n" if attr
                        else "  %s = arith.constant 1.0 : f64\n")
            funcs.append(
                f"func.func @{name}() -> (tensor<{dim // 2}xf32>, f64) {{\n{body}"
                f"  %0 = mrope.inv_freq theta = {fmt(params['rope_theta'])}"
                f"{scaling}{operand} : tensor<{dim // 2}xf32>\n{scale_op}"
                f"  return %0, %s : tensor<{dim // 2}xf32>, f64\n}}\n")
            label = f"{case['name']} theta={params['rope_theta']:g} D={dim}"
            if seq is not None:
                label += f" seq_len={seq}"
            known = KNOWN_DEVIATIONS.get(
                (case["name"], params["rope_theta"], dim, seq), max_ulp)
            expected.append((name, f"{label} [{snapshot}]", result["inv_freq"],
                             known, result["attention_scaling"]))
    out = subprocess.run(
        [opt, "-", "--canonicalize", "--mlir-print-elementsattrs-with-hex-if-larger=-1"],
        input="\n".join(funcs), capture_output=True, text=True)
    if out.returncode != 0:
        print(out.stderr)
        return 1
    folded, scales = {}, {}
    for m in re.finditer(r"func\.func @(\w+)\(\)(.*?)\n  \}", out.stdout, re.S):
        body = m.group(2)
        freqs = re.search(r"arith\.constant dense<\[([^\]]*)\]>", body)
        if freqs:
            folded[m.group(1)] = [float(v) for v in freqs.group(1).split(",")]
        scale = re.search(r"arith\.constant ([-0-9.e+]+) : f64", body)
        if scale:
            scales[m.group(1)] = float(scale.group(1))
    failures = known = 0
    for name, label, want, allowed, want_scale in expected:
        got = folded.get(name)
        scale = scales.get(name)
        if got is None or scale is None:
            print(f"FAIL {label}: not folded")
            failures += 1
            continue
        worst = max(ulp_distance(g, w) for g, w in zip(got, want))
        scale_ok = abs(scale - want_scale) <= 1e-12 * abs(want_scale)
        if not scale_ok:
            print(f"FAIL {label}: attention_scaling {scale!r}, reference {want_scale!r}")
            failures += 1
            continue
        if len(got) != len(want) or worst > allowed:
            status = "FAIL"
            failures += 1
        elif worst > max_ulp:
            status = "KNOWN"
            known += 1
        else:
            status = "PASS"
        print(f"{status} {label}: max {worst} ulp")
    passed = len(expected) - failures - known
    print(f"inv_freq: {passed} passed within {max_ulp} ulp, {known} known "
          f"reference-pow deviations, {failures} failed "
          f"(attention_scaling checked in every case)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
