#!/usr/bin/env python3
"""Checks folded `mrope.position_ids` against every paper variant.

For each variant of paper_variants.json (the mixed case) and of its padded
batch, writes the static op with the variant's design, folds it with
`mrope-opt --canonicalize`, and compares positions, rope_deltas and the next
decode position with the reference: integers exactly, floats to 1e-6.
Variants whose design has no rules yet are reported as SKIP with the reason.

Float tolerance: 1e-6 absolute, or one float32 ulp of the reference value
where that is larger. A float32 position above 8 cannot be stated more finely
than its ulp (about 1e-6 at 8, 3.8e-6 at 32): CircleRoPE's positions come from
float32 atan2/cos/sin, which torch (Sleef) and the C library round
differently in the last place.

Usage: check_positions.py MROPE_OPT paper_variants.json
"""
import json
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_conformance_tests import fmt_segment, segments_of_batch  # noqa: E402

TOLERANCE = 1e-6

# Known deviations with their bound: the pure-circle CircleRoPE maps the grid
# with float32 atan2/cos/sin of radius 10, where torch (Sleef) and the C
# library differ in the last place (up to ~1e-6 at magnitude 10); the
# rotation into the plane orthogonal to (1, 1, 1) then subtracts such terms,
# leaving absolute differences of a few 1e-6. Any growth past the bound fails.
KNOWN_DEVIATIONS = {
    "circlerope (pure circle (dff_rate=False), radius 10, alpha 0.5, move_to_origin)": 4e-6,
}


def f32_ulp(x):
    """The spacing of float32 numbers at |x|."""
    import math
    if x == 0:
        return 2.0 ** -149
    return 2.0 ** (math.frexp(abs(x))[1] - 24)


def design_of(variant, kwargs):
    stride = kwargs.get("temporal_stride", 1.0)
    stride_field = f", temporal_stride = {float(stride)!r}" if stride != 1.0 else ""
    if variant == "vanilla-rope":
        return "<vanilla>"
    if variant in ("mrope", "grape"):
        # GRAPE positions are the paper's MRoPE (default stride 2.0).
        stride = kwargs.get("temporal_stride", 2.0)
        return f"<mrope{', temporal_stride = ' + repr(float(stride)) if stride != 1.0 else ''}>"
    if variant in ("mrope-interleave", "mhrope"):
        return "<spatial_reset>" if kwargs.get("spatial_reset") else "<qwen3vl>"
    if variant in ("videorope", "hope"):
        return f"<{variant}{stride_field}>"
    if variant == "v2pe":
        return f"<v2pe, visual_stride = {float(kwargs.get('visual_stride', 1.0))!r}>"
    if variant in ("omnirope", "ilrope"):
        return f"<omnirope{stride_field}>"
    if variant == "mmrope":
        scale = ", ".join(repr(float(s)) for s in kwargs["position_scale"])
        return f"<mmrope, position_scale = [{scale}]{stride_field}>"
    if variant == "circlerope":
        fields = []
        if "radius" in kwargs:
            fields.append(f"radius = {float(kwargs['radius'])!r}")
        if "alpha" in kwargs:
            fields.append(f"alpha = {float(kwargs['alpha'])!r}")
        if kwargs.get("method", "circle") != "circle":
            fields.append("circle = false")
        if kwargs.get("dff_rate"):
            fields.append(f"dff_rate = {float(kwargs['dff_rate'])!r}")
        if kwargs.get("move_to_origin"):
            fields.append("move_to_origin = true")
        if kwargs.get("move_to_positive"):
            mtp = kwargs["move_to_positive"]
            fields.append(f"move_to_positive = {0.0 if mtp in ('auto', True) else float(mtp)!r}")
        return "<circlerope" + "".join(", " + f for f in fields) + stride_field + ">"
    return None


def next_positions(variant, positions, mask):
    """The first decode position per row, by the variant's own rule."""
    result = []
    for b in range(len(positions[0])):
        real = [n for n in range(len(positions[0][b])) if mask is None or mask[b][n] == 1]
        rows = [0] if variant in ("videorope", "hope") else [0, 1, 2]
        top = max(positions[r][b][n] for r in rows for n in real)
        result.append(float(int(-(-top // 1))) + 1 if variant == "v2pe" else top + 1)
    return result


def main():
    opt, path = sys.argv[1], sys.argv[2]
    data = json.load(open(path))
    cases = []
    mixed = data["mixed_case"]
    for v in data["variants"]:
        cases.append((f"{v['variant']} ({v['label']})", v["variant"], v["kwargs"],
                      [mixed["input_ids"]], None, mixed, v))
    pb = data["padded_batch"]
    for r in pb["results"]:
        cases.append((f"padded batch {r['variant']}", r["variant"], r["kwargs"],
                      pb["input_ids"], pb["attention_mask"], pb, r))
    funcs, checks, skipped = [], [], []
    for n, (label, variant, kwargs, ids, mask, inputs, ref) in enumerate(cases):
        design = design_of(variant, kwargs)
        if design is None:
            skipped.append(f"SKIP {label}: the {variant} design has no rules yet")
            continue
        rows = segments_of_batch(ids, mask, inputs["image_grid_thw"],
                                 inputs["video_grid_thw"], None, True)
        floats = any(isinstance(x, float) and not x.is_integer()
                     for r in ref["position_ids"] for row in r for x in row) or \
            variant in ("videorope", "hope", "v2pe", "omnirope", "ilrope", "mmrope",
                    "circlerope")
        elem = "f32" if floats else "i64"
        batch, length = len(ids), len(ids[0])
        types = (f"tensor<3x{batch}x{length}x{elem}>, tensor<{batch}x1x{elem}>, "
                 f"tensor<{batch}x{elem}>")
        body = ", ".join("[" + ", ".join(fmt_segment(s) for s in r) + "]" for r in rows)
        funcs.append(f"func.func @c{n}() -> ({types}) {{\n"
                     f"  %p, %d, %n = mrope.position_ids {design} [{body}] : {types}\n"
                     f"  return %p, %d, %n : {types}\n}}\n")
        checks.append((n, label, ref["position_ids"], ref["rope_deltas"],
                       next_positions(variant, ref["position_ids"], mask)))
    out = subprocess.run([opt, "-", "--canonicalize",
                          "--mlir-print-elementsattrs-with-hex-if-larger=-1"],
                         input="\n".join(funcs), capture_output=True, text=True)
    if out.returncode != 0:
        print(out.stderr)
        return 1
    bodies = dict(re.findall(r"func\.func @c(\d+)\(\).*?\n(.*?)\n  \}", out.stdout, re.S))

    def numbers(text):
        return [float(x) for x in re.findall(r"-?\d+(?:\.\d+)?(?:e[-+]?\d+)?", text)]

    failures = 0
    for n, label, positions, deltas, nexts in checks:
        consts = re.findall(r"dense<(.*?)> : tensor<([^>]*)>", bodies.get(str(n), ""))
        if len(consts) != 3:
            print(f"FAIL {label}: not folded")
            failures += 1
            continue
        got = {}
        for values, ttype in consts:
            rank = ttype.count("x")
            key = {3: "positions", 2: "deltas", 1: "next"}[rank]
            got[key] = numbers(values)
        want = {"positions": [x for r in positions for row in r for x in row],
                "deltas": [x for row in deltas for x in row], "next": nexts}
        worst = 0.0
        ok = True
        for key, ref_values in want.items():
            mine = got[key]
            if len(mine) == 1 and len(ref_values) > 1:
                mine = mine * len(ref_values)  # splat
            if len(mine) != len(ref_values):
                ok = False
                continue
            for a, b in zip(mine, ref_values):
                diff = abs(a - b)
                worst = max(worst, diff)
                ok = ok and diff <= max(TOLERANCE, f32_ulp(b),
                                        KNOWN_DEVIATIONS.get(label, 0.0))
        failures += not ok
        status = "FAIL" if not ok else ("KNOWN" if label in KNOWN_DEVIATIONS else "PASS")
        print(f"{status} {label}: max abs diff {worst:.3g}")
    for line in skipped:
        print(line)
    print(f"positions: {len(checks) - failures} passed, {failures} failed, "
          f"{len(skipped)} skipped")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
