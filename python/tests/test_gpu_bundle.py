"""The GPU bundle's position-id part (tools/mrope-bench/gpu_positions_bench.py)
and its f32 attention rows (gpu_bundle.py) before they reach a GPU: the
functions they emit, compiled here for the CPU, run on the inputs their cases
describe and give the outputs expected (the golden file's, the NumPy
reference's for the long prompts, float64 attention), so a GPU session
spends its time on the GPU, not on a wrong argument order."""

import json
import os
import re
import subprocess
import sys

import numpy as np

from mrope import reference, runtime
from conftest import ROOT
from test_attention import reference_attention

BENCH = os.path.join(ROOT, "tools", "mrope-bench")
sys.path.insert(0, BENCH)
import gpu_positions_bench  # noqa: E402


def test_position_cases_run_as_emitted(tmp_path):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    subprocess.run([sys.executable, os.path.join(BENCH, "gpu_positions_bench.py"),
                    "--emit", str(tmp_path)], check=True, env=env)
    cases = json.load(open(tmp_path / "positions_cases.json"))
    text = open(tmp_path / "positions.mlir").read()
    functions = {m.group(1): m.group(0) for m in
                 re.finditer(r"func\.func @(\w+)\(.*?\n}\n", text, re.S)}
    assert len(functions) == len(cases) == 66  # 64 golden (case, rules) + 2 prompts
    for case in cases:
        name = case["function"][len("_mlir_ciface_"):]
        rows, length = case["shape"]
        if "prompt" in case:
            ids, grids = gpu_positions_bench.prompt(*case["prompt"])
            inputs = [np.array(ids, np.int64), np.array(grids, np.int64)]
            want_positions, want_deltas = reference.get_rope_index(
                inputs[0], image_grid_thw=inputs[1])
        else:
            inputs = [np.array(a, np.int64 if e == "i64" else np.float32)
                      for a, e in case["inputs"]]
            want_positions = np.array(case["position_ids"])
            want_deltas = np.array(case["rope_deltas"])
        outputs = [np.zeros((3, rows, length), np.int64), np.zeros((rows, 1), np.int64),
                   np.zeros(rows, np.int64), np.zeros(4, np.int64)]
        source = functions[name].replace(f"@{name}(", "@position_ids(")
        runtime.compile(source).call("position_ids", *inputs, *outputs)
        assert outputs[3].tolist() == [0, 0, 0, 0], case["label"]
        np.testing.assert_array_equal(outputs[0], want_positions, err_msg=case["label"])
        np.testing.assert_array_equal(outputs[1], want_deltas, err_msg=case["label"])


def test_f32_attention_functions_run_as_emitted():
    # The bundle's f32 attention rows (gpu_attention_bench.py's run_f32),
    # at a short sequence: the emitted function's arguments (q, k, v,
    # positions, out) in the bench's order, compiled here for the CPU,
    # against softmax(q k^T / sqrt(D)) v in float64 (causal bottom-right).
    sys.path.insert(0, BENCH)
    import gpu_bundle
    seq, hq, hk, dim = 40, gpu_bundle.Q_HEADS, gpu_bundle.KV_HEADS, gpu_bundle.DIM
    rng = np.random.default_rng(4)
    q = rng.standard_normal((1, hq, seq, dim)).astype(np.float32)
    k, v = (rng.standard_normal((1, hk, seq, dim)).astype(np.float32) for _ in range(2))
    positions = np.zeros((3, 1, seq), np.int64)
    for causal in (True, False):
        name = f"attention_f32_s{seq}_{'causal' if causal else 'full'}"
        source = gpu_bundle.attention_function(name, seq, causal, "plain", dtype="f32")
        out = np.zeros_like(q)
        runtime.compile(source).call(name, q, k, v, positions, out)
        want = reference_attention(q, k, v, causal=causal)
        assert np.max(np.abs(out - want)) <= 1e-4, name
