#!/usr/bin/env python3
"""Position ids (`mrope.rope_index`) on the GPU: golden checks and timing.

Two halves. Here, with the mrope package (gpu_bundle.py runs it):

    gpu_positions_bench.py --emit OUT

writes OUT/positions.mlir -- one device-buffer function per case, which
gpu_bundle.py compiles into libmrope_gpu_positions.so -- and
OUT/positions_cases.json. On the GPU machine, from the bundle:

    python3 gpu_positions_bench.py [--reps 7]

runs every case of hf_position_ids.json in each rules version (positions and
rope_deltas equal to the golden file's, status 0), then long Qwen2-VL
prompts (B x T = 1 x 16384 and 64 x 2048: 16 text tokens and a 256-token
image, repeated) checked against the NumPy reference `get_rope_index`
(reference.py, bundled) and timed with CUDA events (four launches: the fill
and three kernels of one thread per row), next to the NumPy reference's host
time. Prints `N passed, N failed`.
"""

import argparse
import json
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
VISION_START, VISION_END, IMAGE_PAD = 151652, 151653, 151655
PROMPTS = [(1, 16384), (64, 2048)]  # (rows, tokens per row)


def prompt(rows, tokens):
    """input_ids [rows, tokens] (every row the same) and the raw image grids
    (global across the batch) of the benchmark prompt."""
    ids, grids = [], []
    while len(ids) < tokens:
        ids += [1000 + i for i in range(min(16, tokens - len(ids)))]
        if tokens - len(ids) >= 258 + 16:
            ids += [VISION_START] + [IMAGE_PAD] * 256 + [VISION_END]
            grids.append([1, 32, 32])
    return [ids] * rows, grids * rows


def emit(out):
    """positions.mlir and positions_cases.json (needs the mrope package)."""
    import mrope
    from mrope import designs, ir
    source = os.path.join(HERE, "..", "..", "test", "golden", "hf_position_ids.json")
    golden = json.load(open(source))["cases"]
    text, cases = "", []

    def add(name, config, ids, mask, images, videos, spg, expected):
        nonlocal text
        rows, length = len(ids), len(ids[0])
        body = ir.position_ids_function(
            config, rows, length, mask is not None, len(images or []), len(videos or []),
            None if spg is None else len(spg))
        text += body.replace("@position_ids(", f"@{name}(") + "\n"
        inputs = [[ids, "i64"]]
        inputs += [[a, e] for a, e in ((mask, "i64"), (images, "i64"), (videos, "i64"),
                                       (spg, "f32")) if a is not None]
        # (A prompt's inputs are rebuilt there, not stored.)
        cases.append({"name": name, "function": "_mlir_ciface_" + name,
                      "inputs": None if "prompt" in expected else inputs,
                      "shape": [rows, length], **expected})

    for n, case in enumerate(golden):
        for version, want in case["outputs"].items():
            design = designs.golden_rules_design(case["model_rules"], version,
                                                 case.get("tokens_per_second"))
            spg = (case["second_per_grid_ts"] if case["model_rules"] == "qwen25vl"
                   and case["video_grid_thw"] else None)
            add(f"golden_{n}_{version}", mrope.RopeConfig(design=design), case["input_ids"],
                case["attention_mask"], case["image_grid_thw"] or None,
                case["video_grid_thw"] or None, spg,
                {"label": f"{case['model_rules']}/{case['name']}/{version}",
                 "position_ids": want["position_ids"], "rope_deltas": want["rope_deltas"]})
    for rows, tokens in PROMPTS:
        ids, grids = prompt(rows, tokens)
        add(f"prompt_b{rows}_t{tokens}", mrope.RopeConfig(), ids, None, grids, None, None,
            {"label": f"{rows} x {tokens} prompt", "prompt": [rows, tokens]})
    with open(os.path.join(out, "positions.mlir"), "w") as f:
        f.write(text)
    with open(os.path.join(out, "positions_cases.json"), "w") as f:
        json.dump(cases, f)


def run(reps):
    """The checks and timings on the GPU machine."""
    import ctypes

    import numpy as np
    import torch

    import reference
    from gpu_common import descriptor, timed

    if not torch.cuda.is_available():
        raise SystemExit("gpu_positions_bench: PyTorch sees no CUDA device")
    runtime = ctypes.CDLL(os.path.join(HERE, "libmrope_cuda_runtime.so"))
    lib = ctypes.CDLL(os.path.join(HERE, "libmrope_gpu_positions.so"))
    runtime.mropeCudaUseStream(ctypes.c_void_p(torch.cuda.current_stream().cuda_stream))
    cases = json.load(open(os.path.join(HERE, "positions_cases.json")))
    dtypes = {"i64": torch.int64, "f32": torch.float32}
    print(f"# {torch.cuda.get_device_name()}: mrope.rope_index, device buffers")
    passed = failed = 0
    for case in cases:
        rows, length = case["shape"]
        if "prompt" in case:
            ids, grids = prompt(*case["prompt"])
            case["inputs"] = [[ids, "i64"], [grids, "i64"]]
            want_positions, want_deltas = reference.get_rope_index(
                np.array(ids), image_grid_thw=np.array(grids))
        else:
            want_positions = np.array(case["position_ids"])
            want_deltas = np.array(case["rope_deltas"])
        inputs = [torch.tensor(a, dtype=dtypes[e], device="cuda") for a, e in case["inputs"]]
        outputs = [torch.zeros((3, rows, length), dtype=torch.int64, device="cuda"),
                   torch.zeros((rows, 1), dtype=torch.int64, device="cuda"),
                   torch.zeros((rows,), dtype=torch.int64, device="cuda"),
                   torch.zeros((4,), dtype=torch.int64, device="cuda")]
        descriptors = [descriptor(t) for t in inputs + outputs]
        fn = getattr(lib, case["function"])

        def ours():
            fn(*(ctypes.byref(d) for d in descriptors))

        ours()
        torch.cuda.synchronize()
        positions, deltas, _, status = (t.cpu().numpy() for t in outputs)
        ok = (status.tolist() == [0, 0, 0, 0] and np.array_equal(positions, want_positions)
              and np.array_equal(deltas, want_deltas))
        passed += ok
        failed += not ok
        line = f"{case['label']:40s} {'ok' if ok else 'FAIL (status ' + str(status.tolist()) + ')'}"
        if "prompt" in case:
            med, lo, hi = timed(ours, 5, reps)
            host = []
            for _ in range(max(3, reps // 2)):
                start = time.perf_counter()
                reference.get_rope_index(np.array(ids), image_grid_thw=np.array(grids))
                host.append((time.perf_counter() - start) * 1e3)
            ref = statistics.median(host)
            line += (f"  ours {med:.3f} ms [{lo:.3f}-{hi:.3f}]  NumPy reference {ref:.3f} ms "
                     f"({ref / med:.1f}x)  {rows * length / med / 1e3:.1f} M tokens/s")
        print(line, flush=True)
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--emit", metavar="OUT", help="write positions.mlir and "
                        "positions_cases.json into OUT (here, with the mrope package)")
    parser.add_argument("--reps", type=int, default=7)
    args = parser.parse_args()
    if args.emit:
        emit(args.emit)
        return 0
    return run(args.reps)


if __name__ == "__main__":
    sys.exit(main())
