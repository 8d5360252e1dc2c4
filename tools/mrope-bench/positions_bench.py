#!/usr/bin/env python3
"""Position-ID construction on the CPU against rotary application.

Builds Qwen2-VL prompts of T tokens (16 text tokens, then a 32x32-patch
image -- 256 merged tokens between vision_start and vision_end -- repeated,
text at the end), computes their position ids with the compiled runtime
construction (`mrope.position_ids`: `mrope.rope_index` through the CPU
pipeline) and checks them against the NumPy reference (`get_rope_index`) in
the same run. For T up to --rotary-max it also times `mrope.apply_rotary` on
bf16 q/k of S0's heads (32 q, 8 KV, head_dim 128, contiguous [16,24,24]),
so the two can be compared. Prints the median and min of --reps runs after
a warm-up call (which compiles), ns per token (flat = linear in T) and
positions / rotary. `--model qwen25vl-video`: Qwen2.5-VL prompts of videos
instead (16 text tokens, then a 2x32x32-patch video at 0.75 s per grid --
512 merged tokens whose temporal positions are (tau * 0.75) * 2 truncated,
the absolute-time scan), checked the same way.

    PYTHONPATH=build/python_packages build/pyenv/bin/python \\
        tools/mrope-bench/positions_bench.py [--tokens 2048,16384,65536,131072]
        [--model qwen2vl|qwen25vl-video]
"""

import argparse
import statistics
import sys
import time

import numpy as np

import mrope
from mrope import reference

VISION_START, VISION_END, IMAGE_PAD, VIDEO_PAD = 151652, 151653, 151655, 151656


def prompt(tokens: int, video: bool = False):
    """input_ids [1, tokens] and the raw grids of the prompt's images (or
    videos)."""
    ids, grids = [], []
    grid = (2, 32, 32) if video else (1, 32, 32)
    block = grid[0] * grid[1] * grid[2] // 4
    while len(ids) < tokens:
        ids += [1000 + i for i in range(min(16, tokens - len(ids)))]
        if tokens - len(ids) >= block + 2 + 16:
            ids += [VISION_START] + [VIDEO_PAD if video else IMAGE_PAD] * block + [VISION_END]
            grids.append(grid)
    return np.array([ids], np.int64), np.array(grids, np.int64).reshape(-1, 3)


def timed(fn, reps: int):
    fn()  # compiles (cached per shape) and warms up
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), min(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", default="2048,16384,65536,131072")
    parser.add_argument("--rotary-max", type=int, default=16384,
                        help="largest T for which rotary is timed too")
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--model", choices=("qwen2vl", "qwen25vl-video"), default="qwen2vl")
    args = parser.parse_args()
    video = args.model == "qwen25vl-video"
    try:
        import ml_dtypes
        bf16 = np.dtype(ml_dtypes.bfloat16)
    except ImportError:
        bf16 = None
    config = mrope.from_hf({"model_type": "qwen2_5_vl" if video else "qwen2_vl",
                            "hidden_size": 4096,
                            "num_attention_heads": 32, "num_key_value_heads": 8,
                            "rope_theta": 1000000.0,
                            "rope_scaling": {"type": "mrope",
                                             "mrope_section": [16, 24, 24]},
                            "vision_config": {"tokens_per_second": 2}})
    print(f"{'T':>7} {'positions ms (min)':>20} {'ns/token':>9} "
          f"{'rotary ms (min)':>18} {'pos/rotary':>10}  check")
    failed = False
    for tokens in (int(t) for t in args.tokens.split(",")):
        ids, grids = prompt(tokens, video)
        seconds = np.full(len(grids), 0.75, np.float32) if video else None
        kinds = {"video_grid_thw" if video else "image_grid_thw": grids}
        result = {}

        def positions():
            result["ids"] = mrope.position_ids(config, ids, second_per_grid_ts=seconds, **kinds)

        pos_med, pos_min = timed(positions, args.reps)
        want, _ = reference.get_rope_index(ids, second_per_grid_ts=seconds,
                                           model="qwen25vl" if video else "qwen2vl",
                                           tokens_per_second=2, **kinds)
        ok = np.array_equal(result["ids"].position_ids, want)
        failed |= not ok
        rot = "-"
        ratio = "-"
        if bf16 is not None and tokens <= args.rotary_max:
            rng = np.random.default_rng(0)
            q = rng.standard_normal((1, 32, tokens, 128), np.float32).astype(bf16)
            k = rng.standard_normal((1, 8, tokens, 128), np.float32).astype(bf16)
            p = result["ids"].position_ids
            rot_med, rot_min = timed(lambda: mrope.apply_rotary(config, q, k, p), args.reps)
            rot = f"{rot_med * 1e3:9.3f} ({rot_min * 1e3:.3f})"
            ratio = f"{pos_med / rot_med:10.3f}"
        print(f"{tokens:>7} {pos_med * 1e3:10.3f} ({pos_min * 1e3:.3f}) "
              f"{pos_med * 1e9 / tokens:9.1f} {rot:>18} {ratio:>10}  "
              f"{'ok' if ok else 'MISMATCH'}")
    print("positions: mrope.position_ids (compiled rope_index, one sequence, "
          "Python call included); rotary: mrope.apply_rotary (bf16, bhsd, "
          "including its Python call and copies of q and k); check: position "
          "ids equal to reference.get_rope_index")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
