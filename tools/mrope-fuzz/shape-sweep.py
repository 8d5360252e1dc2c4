#!/usr/bin/env python3
"""Shape sweep: every mrope function of the test suite's .mlir files with
one of its static extents set to 0, 1, 3 or `?` (dynamic) everywhere it
occurs in the function (so q, k, positions and masks change together and
the function still verifies), run through mrope-opt's pipelines. A pipeline
may succeed or refuse with an mrope diagnostic; anything else -- a crash,
or an upstream verifier error (invalid IR from a lowering) -- is a finding.

    shape-sweep.py --mrope-opt build/bin/mrope-opt [--extents 0,1,3,?]
                   [--pipelines portable,cpu,gpu] [--filter REGEX]
                   [--jobs N] [FILE_OR_DIR...]   (default: test/)

Prints one line per distinct finding (kind, file, pipeline, first error
line; the mutated function goes to --save DIR) and a summary
`N runs, N findings`; exits 1 when there are findings. Each extent takes
minutes over the whole suite (scripts/fuzz.sh shapes); the lit test runs a
few files.

The fuzzer's token mutations rarely reach these inputs: it changes one
type at a time, and a function whose q, k and positions disagree is
rejected by the verifier before any lowering runs.
"""
import argparse
import concurrent.futures
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
PIPELINES = {
    "portable": ["--mrope-to-linalg-pipeline"],
    "cpu": ["--mrope-cpu-pipeline"],
    "gpu": ["--mrope-gpu-pipeline=format=isa"],
}
# A static extent inside a tensor (or memref/vector) type: "<8x", "x8x".
EXTENT = r"(?<=[<x]){}(?=x)"
FUNCTION = re.compile(r"^func\.func @\w+\(.*?^}\n", re.S | re.M)


def functions(paths, pattern):
    """(file, function text) of every function that uses an mrope op."""
    files = []
    for path in paths:
        if os.path.isdir(path):
            for dirpath, _, names in os.walk(path):
                files += [os.path.join(dirpath, n) for n in sorted(names) if n.endswith(".mlir")]
        else:
            files.append(path)
    found = []
    for name in sorted(files):
        # Inputs that are meant to fail, and the fuzzers' own corpora.
        if "invalid" in os.path.basename(name) or f"{os.sep}Fuzz{os.sep}" in name:
            continue
        if pattern and not re.search(pattern, name):
            continue
        text = open(name).read()
        found += [(name, m.group(0)) for m in FUNCTION.finditer(text) if "mrope." in m.group(0)]
    return found


def own_messages():
    """The string literals of mrope's C++ sources (16 characters or more):
    the text of its own diagnostics, including those it attaches to
    upstream ops (the GPU pipeline's "needs constant bounds ...")."""
    literals = set()
    for top in ("lib", "include"):
        for dirpath, _, names in os.walk(os.path.join(ROOT, top)):
            for n in names:
                if n.endswith((".cpp", ".h", ".td")):
                    text = open(os.path.join(dirpath, n), errors="replace").read()
                    literals.update(m.group(1) for m in
                                    re.finditer(r'"((?:[^"\\\n]|\\.){16,})"', text))
    return literals


def is_mrope_diagnostic(stderr, messages):
    """Whether the first error is mrope's own: about an mrope op, from an
    mrope pass or pipeline, or with text from mrope's sources."""
    for line in stderr.splitlines():
        if "error:" in line:
            return "mrope" in line or any(m in line for m in messages)
    return False


def sweep_one(opt, name, text, extent, replacement, pipelines, messages):
    """Findings for one mutated function: (kind, pipeline, first error line,
    function) for each pipeline that crashed or produced invalid IR."""
    mutated = re.sub(EXTENT.format(extent), replacement, text)
    check = subprocess.run([opt, "-", "-o", os.devnull], input=mutated, capture_output=True,
                           text=True)
    if check.returncode:
        return 0, []  # does not verify: not an input to the pipelines
    findings = []
    for pipeline in pipelines:
        try:
            done = subprocess.run([opt, "-", *PIPELINES[pipeline], "-o", os.devnull],
                                  input=mutated, capture_output=True, text=True, timeout=300)
        except subprocess.TimeoutExpired:
            findings.append(("HANG", pipeline, "no result in 300 s", mutated))
            continue
        if done.returncode == 0:
            continue
        if done.returncode < 0 or "PLEASE submit a bug report" in done.stderr:
            kind = "CRASH"
        elif is_mrope_diagnostic(done.stderr, messages):
            continue
        else:
            kind = "UPSTREAM"
        first = next((line for line in done.stderr.splitlines() if "error" in line.lower()),
                     done.stderr.strip().splitlines()[0] if done.stderr.strip() else "")
        findings.append((kind, pipeline, first[first.find("error"):][:160], mutated))
    return len(pipelines), findings


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", default=[os.path.join(ROOT, "test")])
    parser.add_argument("--mrope-opt", default=os.path.join(ROOT, "build", "bin", "mrope-opt"))
    parser.add_argument("--extents", default="0,1,3,?")
    parser.add_argument("--pipelines", default="portable,cpu,gpu")
    parser.add_argument("--filter", default="", help="only files whose path matches")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--save", default="", help="write each finding's function here")
    args = parser.parse_args()
    pipelines = [p for p in args.pipelines.split(",") if p]
    unknown = [p for p in pipelines if p not in PIPELINES]
    if unknown:
        parser.error(f"--pipelines: unknown {', '.join(unknown)} (known: {', '.join(PIPELINES)})")
    replacements = [e for e in args.extents.split(",") if e]
    if any(e != "?" and not e.isdigit() for e in replacements):
        parser.error("--extents: non-negative integers or ?")
    if not os.access(args.mrope_opt, os.X_OK):
        sys.exit(f"shape-sweep: {args.mrope_opt}: not an executable mrope-opt")

    jobs = []
    for name, text in functions(args.paths, args.filter):
        extents = sorted(set(re.findall(r"(?<=[<x])(\d+)(?=x)", text)), key=int)
        jobs += [(name, text, e, r) for e in extents for r in replacements if e != r]
    runs, seen, messages = 0, {}, own_messages()
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        futures = [pool.submit(sweep_one, args.mrope_opt, *job, pipelines, messages) for job in jobs]
        for job, future in zip(jobs, futures):
            count, findings = future.result()
            runs += count
            for kind, pipeline, message, mutated in findings:
                key = (kind, pipeline, message)
                if key in seen:
                    continue
                seen[key] = mutated
                where = os.path.relpath(job[0], ROOT)
                print(f"{kind} {where} ({job[2]} -> {job[3]}) {pipeline}: {message}", flush=True)
                if args.save:
                    os.makedirs(args.save, exist_ok=True)
                    with open(os.path.join(args.save, f"finding-{len(seen)}.mlir"), "w") as f:
                        f.write(f"// {kind} {pipeline}: {message}\n{mutated}")
    print(f"{runs} runs, {len(seen)} findings")
    return 1 if seen else 0


if __name__ == "__main__":
    sys.exit(main())
