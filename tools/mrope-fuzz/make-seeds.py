#!/usr/bin/env python3
"""Writes small seed inputs for the fuzz targets.

    make-seeds.py ROOT IR_DIR JSON_DIR

IR seeds: every split-file chunk of test/**/*.mlir without its comment lines.
JSON seeds: each case of the golden files (test/golden, test/Numerics) as a
file of its own, rotary cases cut to 3 tokens and floats to 5 digits, so
libFuzzer mutates inputs of a few kilobytes instead of megabytes.
"""
import glob
import json
import os
import sys

# Larger seeds are left out; scripts/fuzz.sh passes the same -max_len.
MAX_SEED_BYTES = 65536


def shrink_floats(x):
    if isinstance(x, float):
        return float(f"{x:.5g}")
    if isinstance(x, list):
        return [shrink_floats(v) for v in x]
    if isinstance(x, dict):
        return {k: shrink_floats(v) for k, v in x.items()}
    return x


def cut_tokens(x, depth, axis, keep=3):
    """x[..., :keep, ...] along `axis` of a nested list."""
    if not isinstance(x, list):
        return x
    if depth == axis:
        return x[:keep]
    return [cut_tokens(v, depth + 1, axis, keep) for v in x]


def rotary_case(case):
    case = dict(case)
    case["position_ids"] = cut_tokens(case["position_ids"], 0, 2)
    for key in ("cos", "sin", "q", "k", "q_rot", "k_rot"):
        if key in case:
            case[key] = cut_tokens(case[key], 0, 2)
    return case


def main():
    root, ir_dir, json_dir = sys.argv[1:4]
    os.makedirs(ir_dir, exist_ok=True)
    os.makedirs(json_dir, exist_ok=True)
    n_ir = 0
    for path in sorted(glob.glob(os.path.join(root, "test", "**", "*.mlir"), recursive=True)):
        for i, chunk in enumerate(open(path).read().split("// -----")):
            lines = [l for l in chunk.split("\n") if not l.strip().startswith("//")]
            body = "\n".join(lines).strip()
            if body:
                name = os.path.relpath(path, root).replace(os.sep, "_")
                with open(os.path.join(ir_dir, f"{name}.{i}.mlir"), "w") as f:
                    f.write(body + "\n")
                n_ir += 1
    n_json = 0
    files = glob.glob(os.path.join(root, "test", "golden", "*.json")) + \
        glob.glob(os.path.join(root, "test", "Numerics", "*.json"))
    for path in sorted(files):
        data = json.load(open(path))
        base = os.path.basename(path)
        seeds = []
        if "cases" in data:
            for case in data["cases"]:
                if "q_rot" in case:
                    case = rotary_case(case)
                seeds.append(dict(data, cases=[case]))
        elif "variants" in data:
            for variant in data["variants"]:
                seeds.append({"variants": [variant], "mixed_case": data["mixed_case"]})
            if "padded_batch" in data:
                seeds.append({"variants": [], "mixed_case": data["mixed_case"],
                              "padded_batch": data["padded_batch"]})
        else:
            seeds.append(data)
        for i, seed in enumerate(seeds):
            text = json.dumps(shrink_floats(seed), separators=(",", ":"))
            if len(text) > MAX_SEED_BYTES:
                continue
            with open(os.path.join(json_dir, f"{base}.{i}.json"), "w") as f:
                f.write(text)
            n_json += 1
    print(f"{n_ir} IR seeds in {ir_dir}, {n_json} JSON seeds in {json_dir}")


if __name__ == "__main__":
    main()
