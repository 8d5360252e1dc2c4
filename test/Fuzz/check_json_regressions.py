#!/usr/bin/env python3
"""Runs the conformance command on every file of a directory of fuzzer
findings and prints one line per file: its exit status and the last line
of output. A fixed finding exits 1 with an "mrope-conform: FILE: ..."
message; a traceback or a signal shows up as a different line.

    check_json_regressions.py DIR CONFORM_CMD...
"""
import os
import subprocess
import sys

folder, command = sys.argv[1], sys.argv[2:]
for name in sorted(os.listdir(folder)):
    path = os.path.join(folder, name)
    result = subprocess.run(command + [path], capture_output=True, text=True)
    out = (result.stdout + result.stderr).strip()
    traceback = "Traceback" in out
    last = out.splitlines()[-1] if out else "(no output)"
    print(f"{name}: status {result.returncode}{' TRACEBACK' if traceback else ''}: "
          f"{last.replace(path, 'FILE')}")
