#!/usr/bin/env python3
"""mrope-fuzz-json: libFuzzer (atheris) target over mrope-conform's JSON input.

    mrope-fuzz-json.py [libFuzzer flags] [CORPUS_DIR | FILE ...]

Each input is parsed as JSON and handed to mrope-conform exactly as a file
would be: schema detection, every handler, the IR it writes, and that IR
compiled by `mrope-opt --mrope-cpu-pipeline` (the sanitizer build's, when
MROPE_OPT points there). Running the compiled code is skipped (outputs are
taken as zeros of the declared shapes, so the comparison code runs too).

Mutations are mostly structured (a parsed input with a leaf replaced by an
edge value, an element dropped or duplicated, a key removed), so most inputs
are valid JSON that is wrong in one field -- the bad-input paths.

Expected outcomes: a report, or a clean exit with a message (SystemExit: the
tool's bad-input path, including mrope-opt rejecting the IR with a
diagnostic). Findings: any other Python exception, and mrope-opt dying from
a signal (crash, sanitizer abort) or hanging.

Needs `pip install atheris` (scripts/fuzz.sh installs it into build/pyenv).
"""
import importlib.util
import os
import subprocess
import sys

import atheris

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
CONFORM = os.environ.get("MROPE_CONFORM", os.path.join(ROOT, "tools", "mrope-conform",
                                                       "mrope-conform.py"))
MROPE_OPT = os.environ.get("MROPE_OPT", os.path.join(ROOT, "build", "bin", "mrope-opt"))

import contextlib
import copy
import io
import json

spec = importlib.util.spec_from_file_location("mrope_conform", CONFORM)
conform = importlib.util.module_from_spec(spec)
spec.loader.exec_module(conform)
# Coverage feedback from every Python function loaded so far (the runner and
# the json module).
atheris.instrument_all()


class Args:
    emit = False
    variant = None
    dtype = "f32"
    portable = False
    threads = False
    mrope_opt = MROPE_OPT


def compile_only(builder, args):
    """mrope-conform's run(), minus execution: compile, then zero outputs."""
    try:
        result = subprocess.run([MROPE_OPT, "-", "--mrope-cpu-pipeline"],
                                input=builder.module(), capture_output=True,
                                text=True, timeout=60)
    except subprocess.TimeoutExpired:
        raise RuntimeError("mrope-opt hung (60 s) on IR written by mrope-conform")
    if result.returncode < 0 or "Sanitizer" in result.stderr:
        raise RuntimeError(f"mrope-opt crashed (status {result.returncode}):\n"
                           f"{result.stderr[-4000:]}\n--- IR ---\n{builder.module()[:4000]}")
    if result.returncode != 0:
        sys.exit("mrope-opt rejected the IR")

    def zeros(shape):
        if not shape:
            return 0.0
        return [zeros(shape[1:]) for _ in range(shape[0])]
    return {key: zeros(list(shape)) for key, _, shape in builder.outputs}


conform.run = compile_only


def test_one_input(data):
    try:
        value = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return
    try:
        # The report lines are not what is being tested.
        with contextlib.redirect_stdout(io.StringIO()):
            conform.conform(value, Args(), "<fuzz input>")
    except SystemExit:
        pass


# Values a structured mutation puts in place of a JSON leaf: the edges the
# runner must reject or survive.
EDGE_VALUES = [0, -1, 1, 2, 3, -(2 ** 31), 2 ** 31, 2 ** 53 + 1, 2 ** 63, 10 ** 400,
               0.5, -0.0, 1e-300, 1e308, float("nan"), float("inf"), "", "x",
               "vanilla", None, True, False, [], {}, [0], [[]], {"a": 1}]


def mutate_structure(value, rng):
    """One edit of a parsed JSON value: replace a leaf, drop or duplicate a
    list element, drop a key, or scale a number."""
    path = []
    node = value
    while isinstance(node, (list, dict)) and node and rng.random() < 0.85:
        key = rng.randrange(len(node)) if isinstance(node, list) else rng.choice(list(node))
        path.append((node, key))
        node = node[key]
    # Copies: a shared edge value or a duplicated element would alias, and a
    # later edit could make the value contain itself.
    edge = lambda: copy.deepcopy(rng.choice(EDGE_VALUES))
    if not path:
        return edge()
    parent, key = path[-1]
    choice = rng.random()
    if choice < 0.5:
        parent[key] = edge()
    elif choice < 0.65 and isinstance(parent, list):
        del parent[key]
    elif choice < 0.8 and isinstance(parent, list):
        parent.insert(key, copy.deepcopy(parent[key]))
    elif choice < 0.9 and isinstance(parent, dict):
        del parent[key]
    elif isinstance(node, (int, float)) and not isinstance(node, bool):
        try:
            parent[key] = node * rng.choice([-1, 2, 1000, 0.5]) + rng.choice([0, 1, -1])
        except OverflowError:  # a huge int times 0.5
            parent[key] = edge()
    else:
        parent[key] = edge()
    return value


def custom_mutator(data, max_size, seed):
    import random
    rng = random.Random(seed)
    try:
        value = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return atheris.Mutate(data, max_size)
    if rng.random() < 0.1:
        return atheris.Mutate(data, max_size)
    for _ in range(rng.randint(1, 3)):
        value = mutate_structure(value, rng)
    out = json.dumps(value, separators=(",", ":")).encode()
    return out if len(out) <= max_size else data


if __name__ == "__main__":
    atheris.Setup(sys.argv, test_one_input, custom_mutator=custom_mutator)
    atheris.Fuzz()
