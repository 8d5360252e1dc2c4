#!/usr/bin/env python3
"""Prints the PTX held in the `assembly = "..."` of a gpu.binary read from
stdin: the first one, or the one whose PTX defines the entry named by the
first argument -- `binary::entry` picks the entry of the gpu.binary named
`binary` (outlining names the kernels of one function alike)."""
import re
import sys

text = sys.stdin.read()
entry = sys.argv[1] if len(sys.argv) > 1 else None
binary = None
if entry and "::" in entry:
    binary, entry = entry.split("::")
for match in re.finditer(r'gpu\.binary @([\w$.]+)[^\n]*?assembly = "((?:[^"\\]|\\.)*)"', text):
    if binary is not None and match.group(1) != binary:
        continue
    ptx = re.sub(r"\\([0-9A-Fa-f]{2})", lambda m: chr(int(m.group(1), 16)),
                 match.group(2))
    ptx = ptx.replace('\\"', '"').replace("\\\\", "\\")
    if entry is None or f".entry {entry}(" in ptx:
        sys.stdout.write(ptx)
        sys.exit(0)
sys.exit("no assembly" + (f" with entry {entry}" if entry else "") +
         (f" in binary {binary}" if binary else "") + " in input")
