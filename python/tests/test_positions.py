"""Position ids through the compiled path: against the golden vectors of the
real reference models, against the NumPy reference on generated batches, and
the NumPy reference itself against the golden vectors."""

import numpy as np
import pytest

import mrope
from mrope import reference
from conftest import load_golden
from hf_configs import QWEN2_5_VL_7B, QWEN2_VL_7B, QWEN3_VL_8B

RAW = {"qwen2vl": QWEN2_VL_7B, "qwen25vl": QWEN2_5_VL_7B, "qwen3vl": QWEN3_VL_8B}
COMPAT = {"v449": "reference", "v457": "hf457", "head": "hf5"}
HF = load_golden("hf_position_ids.json")
CASES = [(c, v) for c in HF["cases"] for v in c["outputs"]]


def config_for(rules, version, tokens_per_second=None):
    raw = dict(RAW[rules])
    if tokens_per_second is not None:
        raw["vision_config"] = dict(raw["vision_config"], tokens_per_second=tokens_per_second)
    return mrope.from_hf(raw, compat=COMPAT[version])


@pytest.mark.parametrize("case, version", CASES,
                         ids=[f"{c['model_rules']}/{c['name']}/{v}" for c, v in CASES])
def test_golden_hf_position_ids(case, version):
    want = case["outputs"][version]
    config = config_for(case["model_rules"], version, case["tokens_per_second"])
    got = mrope.position_ids(config, case["input_ids"], case["attention_mask"],
                             case["image_grid_thw"], case["video_grid_thw"],
                             case["second_per_grid_ts"])
    assert got.position_ids.dtype == np.int64
    assert got.position_ids.tolist() == want["position_ids"]
    assert got.rope_deltas.tolist() == want["rope_deltas"]
    decode = mrope.decode_positions(got.next_positions, 3)
    assert decode[0].tolist() == want["decode_positions_next3"]
    assert (decode[0] == decode[1]).all() and (decode[0] == decode[2]).all()


LEGACY = [(c, v) for c, v in CASES if v != "head"]


@pytest.mark.parametrize("case, version", LEGACY,
                         ids=[f"{c['model_rules']}/{c['name']}/{v}" for c, v in LEGACY])
def test_numpy_reference_matches_golden(case, version):
    want = case["outputs"][version]
    positions, deltas = reference.get_rope_index(
        case["input_ids"], case["attention_mask"], case["image_grid_thw"],
        case["video_grid_thw"], case["second_per_grid_ts"], model=case["model_rules"],
        version=version, tokens_per_second=case["tokens_per_second"] or 2)
    assert positions.tolist() == want["position_ids"]
    assert deltas.tolist() == want["rope_deltas"]


def generated_batch(rng, rules, batch=3):
    """A padded batch of text runs, images and videos in Qwen's token layout:
    raw grids, per-frame blocks for Qwen3-VL videos, left padding."""
    tokens = reference.QWEN_TOKENS
    rows, images, videos, seconds = [], [], [], []
    for _ in range(batch):
        row = list(rng.integers(1000, 2000, rng.integers(1, 6)))
        for _ in range(rng.integers(0, 4)):
            video = rng.random() < 0.5
            t = int(rng.integers(1, 4)) if video else 1
            h, w = (2 * int(rng.integers(1, 5)) for _ in range(2))
            merged = (h // 2) * (w // 2)
            if video:
                videos.append([t, h, w])
                seconds.append(float(rng.choice([0.5, 1.0, 1.5, 2.0])))
                frames = [merged] * t if rules == "qwen3vl" else [t * merged]
                for count in frames:
                    if rules == "qwen3vl":
                        row += list(rng.integers(1000, 2000, 2))  # timestamp text
                    row += [tokens["vision_start"]] + [tokens["video_pad"]] * count + [151653]
            else:
                images.append([1, h, w])
                row += [tokens["vision_start"]] + [tokens["image_pad"]] * merged + [151653]
            row += list(rng.integers(1000, 2000, rng.integers(0, 4)))
        rows.append(row)
    length = max(len(r) for r in rows)
    ids = np.full((batch, length), 151643, np.int64)
    mask = np.zeros((batch, length), np.int64)
    for b, row in enumerate(rows):
        ids[b, length - len(row):] = row
        mask[b, length - len(row):] = 1
    return ids, mask, images or None, videos or None, (seconds or None)


@pytest.mark.parametrize("rules", ["qwen2vl", "qwen25vl", "qwen3vl"])
@pytest.mark.parametrize("version", ["v449", "v457"])
@pytest.mark.parametrize("seed", range(8))
def test_generated_batches_match_numpy_reference(rules, version, seed):
    rng = np.random.default_rng(1000 * seed + len(rules))
    ids, mask, images, videos, seconds = generated_batch(rng, rules)
    tps = int(rng.choice([2, 4]))
    config = config_for(rules, version, tps)
    got = mrope.position_ids(config, ids, mask, images, videos,
                             seconds if rules == "qwen25vl" else None)
    want_positions, want_deltas = reference.get_rope_index(
        ids, mask, images, videos, seconds, model=rules, version=version,
        tokens_per_second=tps)
    np.testing.assert_array_equal(got.position_ids, want_positions)
    np.testing.assert_array_equal(got.rope_deltas, want_deltas)
    # The next token of each row follows its largest position.
    np.testing.assert_array_equal(got.next_positions,
                                  want_deltas[:, 0] + ids.shape[1])


PAPER = load_golden("paper_variants.json")
# The paper's mrope and GRAPE apply Qwen2-VL rules to per-frame input, which
# the runtime Qwen2-VL design does not split; they are checked by mrope-conform
# in the static form.
RUNTIME_VARIANTS = [v for v in PAPER["variants"] if v["variant"] not in ("mrope", "grape")]


def paper_config(variant):
    kw = dict(variant["kwargs"])
    return mrope.paper(variant["variant"], dim=kw.pop("dim"), base=kw.pop("base"),
                       mrope_section=kw.pop("mrope_section", None),
                       num_key_value_heads=kw.pop("num_key_value_heads", None), **kw)


@pytest.mark.parametrize("variant", RUNTIME_VARIANTS,
                         ids=[f"{v['variant']}/{v['label']}" for v in RUNTIME_VARIANTS])
def test_golden_paper_variant_positions(variant):
    mixed = PAPER["mixed_case"]
    config = paper_config(variant)
    got = mrope.position_ids(config, [mixed["input_ids"]],
                             image_grid_thw=mixed["image_grid_thw"],
                             video_grid_thw=mixed["video_grid_thw"])
    want = np.array(variant["position_ids"])
    if variant["position_ids_dtype"] == "torch.int64":
        np.testing.assert_array_equal(got.position_ids, want)
        np.testing.assert_array_equal(got.rope_deltas, variant["rope_deltas"])
    else:
        # Float positions match the reference's float32 bit for bit (torch's
        # atan2/cos/sin/arange arithmetic: TorchMath.h).
        f32 = np.float32
        np.testing.assert_array_equal(got.position_ids.astype(f32), want.astype(f32))
        np.testing.assert_array_equal(np.asarray(got.rope_deltas).astype(f32),
                                      np.array(variant["rope_deltas"]).astype(f32))


def test_positions_bench_runs_and_checks():
    # The benchmark program (tools/mrope-bench/positions_bench.py) end to end
    # on small prompts: its same-run check against get_rope_index passes.
    import os
    import subprocess
    import sys
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    script = os.path.join(root, "tools", "mrope-bench", "positions_bench.py")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    run = subprocess.run([sys.executable, script, "--tokens", "300,1200", "--reps", "1",
                          "--rotary-max", "300"], capture_output=True, text=True, env=env,
                         timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    rows = [line for line in run.stdout.splitlines() if line.strip().endswith("ok")]
    assert len(rows) == 2 and "MISMATCH" not in run.stdout


@pytest.mark.parametrize("compat", ["", ", compat = hf5"])
@pytest.mark.parametrize("element", ["i64", "i32"])
@pytest.mark.parametrize("batch, length", [(2, 7), (1, 1), (3, 0), (0, 4)])
def test_unmasked_vanilla_closed_form(batch, length, element, compat):
    """Vanilla RoPE without a mask lowers to a closed form (token i at i),
    not the scan: it must give what the scan gives with an all-ones mask --
    positions 0..N-1 on the three rows, rope_deltas 0, next position N --
    and, for rows without tokens, the scan's empty-row status and values."""
    from mrope import ir, runtime
    shapes = [(3, batch, length), (batch, 1), (batch,), (4,)]
    elements = [element] * 3 + ["i64"]

    def function(name, masked):
        # The scan's shapes are dynamic: a static length of 0 takes the
        # closed form too, a run-time one the scan.
        fn = ir._Function(name)
        ids, ids_t = fn.input("ids", [batch, length], "i64")
        operands, dyn = "", "tensor<?x?xi64>"
        if masked:
            mask, mask_t = fn.input("mask", [batch, length], "i64")
            fn.lines += [f"%ids_d = tensor.cast {ids} : {ids_t} to {dyn}",
                         f"%mask_d = tensor.cast {mask} : {mask_t} to {dyn}"]
            ids, ids_t, operands = "%ids_d", dyn, f" mask(%mask_d : {dyn})"
        types = [ir.tensor_type(s, e) for s, e in zip(shapes, elements)]
        dynamic = [ir.tensor_type(["?"] * len(s), e) for s, e in zip(shapes, elements)]
        dynamic[3] = types[3]
        results = dynamic if masked else types
        fn.lines.append(f"%d0, %d1, %d2, %r3 = mrope.rope_index {ids}{operands} "
                        f"design <vanilla{compat}> : {ids_t} -> {', '.join(results)}")
        for n in range(3):
            fn.lines.append(f"%r{n} = tensor.cast %d{n} : {results[n]} to {types[n]}")
        for n, (s, e) in enumerate(zip(shapes, elements)):
            fn.output(f"r{n}", s, e)
            fn.store(f"%r{n}", f"r{n}_out", s, e)
        return fn.text()
    module = runtime.compile(function("closed", False) + function("scan", True))
    carrier = np.int64 if element == "i64" else np.int32
    ids = np.arange(batch * length, dtype=np.int64).reshape(batch, length) + 100

    def run(name, *inputs):
        outputs = [np.zeros(s, carrier if n < 3 else np.int64) for n, s in enumerate(shapes)]
        module.call(name, ids, *inputs, *outputs)
        return outputs
    closed = run("closed")
    scan = run("scan", np.ones_like(ids))
    for got, want in zip(closed, scan):
        np.testing.assert_array_equal(got, want)
    if batch and length:
        np.testing.assert_array_equal(closed[0], np.broadcast_to(np.arange(length), shapes[0]))
        np.testing.assert_array_equal(closed[1], 0)
        np.testing.assert_array_equal(closed[2], length)
        np.testing.assert_array_equal(closed[3], [0, 0, 0, 0])
    elif batch:  # empty rows: the scan's initial maximum + 1 as the next position
        np.testing.assert_array_equal(closed[3], [7, 0, -1, 0])
        next_empty = np.int64(np.iinfo(np.int64).min + 1).astype(carrier)
        np.testing.assert_array_equal(closed[2], next_empty)
    else:
        np.testing.assert_array_equal(closed[3], [0, 0, 0, 0])
