#!/usr/bin/env python3
"""Runs every case of hf_position_ids.json through the compiled runtime form.

Each case (token ids, attention mask, raw grids, second_per_grid_ts, as the
Hugging Face processor gives them) and each rules version (v449, v457, head)
becomes an `mrope.rope_index` call, compiled by `mrope-opt
--mrope-cpu-pipeline` and run by `mlir-runner`; in the same run the compiled
code compares positions, rope_deltas and the next decode position with the
reference outputs and prints the largest difference and the status code.
Integers must match exactly and the status must be 0.

Usage: check_rope_index.py MROPE_OPT MLIR_RUNNER LIB_DIR hf_position_ids.json
"""
import json
import os
import subprocess
import sys


def dense(values, elem):
    flat = []

    def walk(v):
        if isinstance(v, list):
            for x in v:
                walk(x)
        else:
            flat.append(v)

    walk(values)
    fmt = (lambda v: repr(float(v))) if elem == "f32" else (lambda v: str(int(v)))
    return "[" + ", ".join(fmt(v) for v in flat) + "]", len(flat)


def shape_of(x):
    s = []
    while isinstance(x, list):
        s.append(len(x))
        x = x[0] if x else None
    return s


def constant(name, values, elem, shape=None):
    shape = shape or shape_of(values)
    body, count = dense(values, elem)
    ttype = "tensor<" + "x".join(map(str, shape)) + f"x{elem}>"
    flat = f"tensor<{count}x{elem}>"
    dims = ", ".join(map(str, shape))
    return (f"  %{name}_flat = arith.constant dense<{body}> : {flat}\n"
            f"  %{name}_shape = arith.constant dense<[{dims}]> : tensor<{len(shape)}xindex>\n"
            f"  %{name} = tensor.reshape %{name}_flat(%{name}_shape) : ({flat}, "
            f"tensor<{len(shape)}xindex>) -> {ttype}\n"), ttype


def max_diff(lhs, rhs, ttype, rank, n):
    dims = ", ".join(f"d{i}" for i in range(rank))
    return f"""  %z{n}_init = tensor.empty() : tensor<i64>
  %z{n} = linalg.fill ins(%c0_i64 : i64) outs(%z{n}_init : tensor<i64>) -> tensor<i64>
  %e{n} = linalg.generic {{indexing_maps = [affine_map<({dims}) -> ({dims})>, affine_map<({dims}) -> ({dims})>, affine_map<({dims}) -> ()>], iterator_types = [{', '.join(['"reduction"'] * rank)}]}} ins({lhs}, {rhs} : {ttype}, {ttype}) outs(%z{n} : tensor<i64>) {{
  ^bb0(%a: i64, %b: i64, %acc: i64):
    %diff = arith.subi %a, %b : i64
    %nd = arith.subi %c0_i64, %diff : i64
    %m = arith.maxsi %diff, %nd : i64
    %r = arith.maxsi %acc, %m : i64
    linalg.yield %r : i64
  }} -> tensor<i64>
  %e{n}_v = tensor.extract %e{n}[] : tensor<i64>
  vector.print %e{n}_v : i64
"""


def design_for(rules, version, tps):
    tps_field = f", tokens_per_second = {float(tps)!r}" if tps not in (None, 2) else ""
    compat = {"v449": "", "v457": ", compat = hf457", "head": ", compat = hf5"}[version]
    if rules == "qwen2vl":
        return "<mrope" + (", compat = hf5" if version == "head" else "") + ">"
    if rules == "qwen25vl":
        return f"<absolute_time{compat}{tps_field}>"
    return "<qwen3vl" + (", compat = hf5" if version == "head" else "") + ">"


def main():
    opt, runner, libdir, path = sys.argv[1:5]
    data = json.load(open(path))
    funcs, labels = [], []
    for n, case in enumerate(data["cases"]):
        ids = case["input_ids"]
        batch, length = len(ids), len(ids[0])
        for version, out in case["outputs"].items():
            name = f"c{n}_{version}"
            body = "  %c0_i64 = arith.constant 0 : i64\n"
            text, ids_t = constant("ids", ids, "i64")
            body += text
            operands = ""
            if case["attention_mask"] is not None:
                text, mask_t = constant("mask", case["attention_mask"], "i64")
                body += text
                operands += f" mask(%mask : {mask_t})"
            if case["image_grid_thw"]:
                text, t = constant("img", case["image_grid_thw"], "i64")
                body += text
                operands += f" images(%img : {t})"
            if case["video_grid_thw"]:
                text, t = constant("vid", case["video_grid_thw"], "i64")
                body += text
                operands += f" videos(%vid : {t})"
                if case["second_per_grid_ts"] is not None and case["model_rules"] == "qwen25vl":
                    text, t = constant("spg", case["second_per_grid_ts"], "f32")
                    body += text
                    operands += f" second_per_grid(%spg : {t})"
            design = design_for(case["model_rules"], version, case["tokens_per_second"])
            pos_t = f"tensor<3x{batch}x{length}xi64>"
            res = f"{pos_t}, tensor<{batch}x1xi64>, tensor<{batch}xi64>, tensor<4xi64>"
            body += (f"  %p, %d, %n, %st = mrope.rope_index %ids{operands} design "
                     f"{design} : {ids_t} -> {res}\n")
            text, _ = constant("pe", out["position_ids"], "i64")
            body += text
            text, _ = constant("de", out["rope_deltas"], "i64")
            body += text
            text, _ = constant("ne", [d[0] for d in out["decode_positions_next3"]], "i64")
            body += text
            body += max_diff("%p", "%pe", pos_t, 3, 0)
            body += max_diff("%d", "%de", f"tensor<{batch}x1xi64>", 2, 1)
            body += max_diff("%n", "%ne", f"tensor<{batch}xi64>", 1, 2)
            body += ("  %c0 = arith.constant 0 : index\n"
                     "  %code = tensor.extract %st[%c0] : tensor<4xi64>\n"
                     "  vector.print %code : i64\n")
            funcs.append(f"func.func @{name}() {{\n{body}  return\n}}\n")
            labels.append(f"{case['model_rules']}/{case['name']} [{version}] {design}")
    main_fn = "func.func @main() {\n" + "".join(
        f"  call @{f.split('@')[1].split('(')[0]}() : () -> ()\n" for f in funcs) + "  return\n}\n"
    lowered = subprocess.run([opt, "-", "--mrope-cpu-pipeline"],
                             input="\n".join(funcs) + main_fn,
                             capture_output=True, text=True)
    if lowered.returncode != 0:
        print(lowered.stderr[-4000:])
        return 1
    libs = ",".join(os.path.join(libdir, f"libmlir_{l}.so")
                    for l in ("c_runner_utils", "runner_utils"))
    run = subprocess.run([runner, "-e", "main", "-entry-point-result=void",
                          f"-shared-libs={libs}"], input=lowered.stdout,
                         capture_output=True, text=True)
    if run.returncode != 0:
        print(run.stderr[-4000:])
        return 1
    values = [int(v) for v in run.stdout.split()]
    if len(values) != 4 * len(labels):
        print(f"expected {4 * len(labels)} values, got {len(values)}")
        return 1
    failures = 0
    for k, label in enumerate(labels):
        pos, delta, nxt, code = values[4 * k:4 * k + 4]
        ok = pos == 0 and delta == 0 and nxt == 0 and code == 0
        failures += not ok
        print(f"{'PASS' if ok else 'FAIL'} {label}: positions {pos}, "
              f"deltas {delta}, next {nxt}, status {code}")
    print(f"rope_index: {len(labels) - failures} passed, {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
