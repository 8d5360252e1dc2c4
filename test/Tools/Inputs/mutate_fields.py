#!/usr/bin/env python3
"""Runs mrope-conform on one-field mutations of golden files.

    mutate_fields.py OUT_DIR CONFORM_CMD...

For every mutation below (file, field path, new value or DELETE) it writes
the mutated file, runs the conformance command on it and prints
"<file> <path> => <exit status> <last line of output>". The lit test checks
each line: a non-zero status and a message naming the field and the rule.
"""
import json
import os
import subprocess
import sys

DELETE = object()
HERE = os.path.dirname(os.path.abspath(__file__))
GOLDEN = os.path.join(HERE, "..", "..", "golden")
NUMERICS = os.path.join(HERE, "..", "..", "Numerics")

MUTATIONS = [
    # hf_position_ids.json
    ("hf_position_ids.json", "cases.0.input_ids", "tokens"),
    ("hf_position_ids.json", "cases.0.input_ids", DELETE),
    ("hf_position_ids.json", "cases.0.input_ids.0", []),
    ("hf_position_ids.json", "cases.0.input_ids.0.0", 1.5),
    ("hf_position_ids.json", "cases.0.model_rules", "qwen9vl"),
    ("hf_position_ids.json", "cases.0.attention_mask", [[1], [1, 1]]),
    ("hf_position_ids.json", "cases.0.second_per_grid_ts", ["x"]),
    ("hf_position_ids.json", "cases.0.tokens_per_second", -2),
    ("hf_position_ids.json", "cases.0.outputs", {"v500": {}}),
    ("hf_position_ids.json", "cases.0.outputs.v449.rope_deltas", None),
    ("hf_position_ids.json", "cases", {}),
    # inv_freq_scaling.json
    ("inv_freq_scaling.json", "cases.0.rope_parameters.rope_type", "ntk"),
    ("inv_freq_scaling.json", "cases.0.rope_parameters.rope_theta", -10000.0),
    ("inv_freq_scaling.json", "cases.0.rope_parameters.rope_theta", float("nan")),
    ("inv_freq_scaling.json", "cases.0.rope_parameters.factor", 0),
    ("inv_freq_scaling.json", "cases.0.rope_parameters.truncate", "no"),
    ("inv_freq_scaling.json", "cases.0.config_top_level.head_dim", 0),
    ("inv_freq_scaling.json", "cases.0.config_top_level.max_position_embeddings", DELETE),
    ("inv_freq_scaling.json", "cases.0.seq_len_arg", -1),
    ("inv_freq_scaling.json", "cases.0.results.v449.inv_freq.0", 1e300),
    ("inv_freq_scaling.json", "dynamic_via_module.config.mrope_section", [24, -20, 20]),
    # rotary_*.json
    ("rotary_contiguous_mrope.json", "cases.0.mrope_section", DELETE),
    ("rotary_contiguous_mrope.json", "cases.0.head_dim", -128),
    ("rotary_contiguous_mrope.json", "cases.0.q.0.0", [[0.5]]),
    ("rotary_contiguous_mrope.json", "cases.0.q", [[[[0.5]]], [[[0.5]], [[0.5]]]]),
    ("rotary_mhrope.json", "cases.0.k_rot", 3),
    ("rotary_interleaved_mrope.json", "cases.0.position_ids.0.0.0", True),
    # paper_variants.json
    ("paper_variants.json", "variants.0.variant", "rope9"),
    ("paper_variants.json", "variants.0.kwargs.dim", "128"),
    ("paper_variants.json", "variants.3.kwargs.mrope_section", DELETE),
    ("paper_variants.json", "mixed_case.image_grid_thw.0", [1, 3, 4]),
    ("paper_variants.json", "mixed_case.image_grid_thw.0", [0, 4, 4]),
    ("paper_variants.json", "mixed_case.video_grid_thw", DELETE),
    ("paper_variants.json", "padded_batch.results.0.variant", 7),
    # allocation_axis_maps.json
    ("allocation_axis_maps.json", "maps.0.alloc", "paper:unknown"),
    ("allocation_axis_maps.json", "maps.0.pairs", DELETE),
    ("allocation_axis_maps.json", "maps.0.head_dim", 1.0),
    # long-context.json (the project's numerics file)
    ("long-context.json", "long_context.positions.0", 1 << 24),
    ("long-context.json", "long_context.random_positions.count", -1),
    ("long-context.json", "long_context.configs.0.mrope_section", [16, 24, 25]),
    ("long-context.json", "long_context.configs.0.attention_scaling", "big"),
]


def mutate(data, path, value):
    keys = [int(k) if k.isdigit() else k for k in path.split(".")]
    node = data
    for k in keys[:-1]:
        node = node[k]
    if value is DELETE:
        del node[keys[-1]]
    else:
        node[keys[-1]] = value


def main():
    out_dir, command = sys.argv[1], sys.argv[2:]
    os.makedirs(out_dir, exist_ok=True)
    cache = {}
    for n, (name, path, value) in enumerate(MUTATIONS):
        if name not in cache:
            folder = NUMERICS if name == "long-context.json" else GOLDEN
            with open(os.path.join(folder, name)) as f:
                cache[name] = f.read()
        data = json.loads(cache[name])
        mutate(data, path, value)
        target = os.path.join(out_dir, f"m{n}.json")
        with open(target, "w") as f:
            json.dump(data, f)
        result = subprocess.run(command + [target], capture_output=True, text=True)
        lines = (result.stdout + result.stderr).strip().splitlines() or ["(no output)"]
        message = lines[-1].replace(target, "FILE")
        print(f"{name} {path} => {result.returncode} {message}")


if __name__ == "__main__":
    main()
