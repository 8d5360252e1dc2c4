#!/usr/bin/env python3
"""Checks that every MLIR example in docs/ is in the form mrope-opt prints.

- docs/examples/*.mlir and every ```mlir block holding a func.func or module:
  parsed and printed by mrope-opt, the result must equal the example up to
  SSA value names, comments, whitespace and the implicit outer module.
- ```mlir blocks made only of attributes (`#mrope.alloc<...>`): each one must
  print back unchanged.
Any other ```mlir block is an error, so no example escapes the check.

Usage: check_doc_examples.py MROPE_OPT DOCS_DIR
"""
import glob
import os
import re
import subprocess
import sys

SSA = re.compile(r"%[A-Za-z0-9_$.-]+(#[0-9]+)?")


def normalize(text):
    lines = [l.split("//")[0] if not l.strip().startswith("//") else ""
             for l in text.splitlines()]
    text = " ".join(lines)
    names = {}

    def rename(m):
        return names.setdefault(m.group(0), f"%v{len(names)}")

    text = SSA.sub(rename, text)
    text = re.sub(r"\s+", " ", text).strip()
    if text.startswith("module {") and text.endswith("}"):
        text = text[len("module {"):-1].strip()
    return text


def run(opt, source, extra=()):
    out = subprocess.run([opt, "-", *extra], input=source, capture_output=True,
                         text=True)
    return out.returncode, out.stdout, out.stderr


def check_module(opt, where, source):
    rc, out, err = run(opt, source)
    if rc != 0:
        return f"{where}: does not parse/verify:\n{err}"
    if normalize(out) != normalize(source):
        return (f"{where}: not in printed form.\n--- example\n{source}\n"
                f"--- mrope-opt prints\n{out}")
    return None


def check_attributes(opt, where, source):
    attrs = [l.strip() for l in source.splitlines()
             if l.strip() and not l.strip().startswith("//")]
    for attr in attrs:
        module = f"module attributes {{test.a = {attr}}} {{\n}}\n"
        rc, out, err = run(opt, module)
        if rc != 0:
            return f"{where}: attribute {attr} does not parse:\n{err}"
        printed = re.search(r"test\.a = (.*)\} \{", out.replace("\n", " "))
        if not printed or printed.group(1).strip() != attr:
            return f"{where}: attribute {attr} prints as {out!r}"
    return None


def main():
    opt, docs = sys.argv[1], sys.argv[2]
    errors, checked = [], 0
    for path in sorted(glob.glob(os.path.join(docs, "examples", "*.mlir"))):
        errors.append(check_module(opt, path, open(path).read()))
        checked += 1
    for path in sorted(glob.glob(os.path.join(docs, "**", "*.md"),
                              recursive=True)):
        text = open(path).read()
        for n, block in enumerate(re.findall(r"```mlir\n(.*?)```", text, re.S)):
            where = f"{os.path.relpath(path, docs)} example {n + 1}"
            body = [l.strip() for l in block.splitlines()
                    if l.strip() and not l.strip().startswith("//")]
            if any(l.startswith(("func.func", "llvm.func", "module")) for l in body):
                errors.append(check_module(opt, where, block))
            elif body and all(l.startswith("#mrope.") for l in body):
                errors.append(check_attributes(opt, where, block))
            else:
                errors.append(f"{where}: an mlir example must be a module, a "
                              "function or attributes, so it can be checked")
            checked += 1
    errors = [e for e in errors if e]
    for e in errors:
        print("error:", e)
    print(f"{checked} examples checked, {len(errors)} not in printed form")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
