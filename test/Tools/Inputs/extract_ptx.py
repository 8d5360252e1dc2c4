#!/usr/bin/env python3
"""Prints the PTX held in the `assembly = "..."` of the gpu.binary read from stdin."""
import re
import sys

text = sys.stdin.read()
match = re.search(r'assembly = "((?:[^"\\]|\\.)*)"', text)
if not match:
    sys.exit("no assembly in input")
ptx = re.sub(r"\\([0-9A-Fa-f]{2})", lambda m: chr(int(m.group(1), 16)),
             match.group(1))
sys.stdout.write(ptx.replace('\\"', '"').replace("\\\\", "\\"))
