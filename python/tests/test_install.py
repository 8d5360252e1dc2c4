"""The package assembled by the build installs with pip and works from the
installed copy (no build tree on the path)."""

import os
import subprocess
import sys

import pytest

from conftest import PACKAGE_DIR

SCRIPT = """
import mrope, numpy as np
assert os.path.dirname(mrope.__file__).startswith(target), mrope.__file__
config = mrope.RopeConfig()
ids = mrope.position_ids(config, [[1, 2, 3]])
assert ids.position_ids.tolist() == [[[0, 1, 2]]] * 3, ids
print("ok", mrope.__version__)
"""


def test_pip_install_from_the_build(tmp_path):
    if not os.path.exists(os.path.join(PACKAGE_DIR, "pyproject.toml")):
        pytest.skip("no assembled package in " + PACKAGE_DIR)
    target = tmp_path / "site"
    install = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check",
         "--no-deps", "--no-build-isolation", "--no-index", "--target", str(target),
         PACKAGE_DIR], capture_output=True, text=True)
    assert install.returncode == 0, install.stderr
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(target)
    run = subprocess.run([sys.executable, "-c", f"import os; target = {str(target)!r}\n" + SCRIPT],
                         capture_output=True, text=True, env=env, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("ok ")
