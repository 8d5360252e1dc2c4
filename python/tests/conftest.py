"""pytest set-up: the package under test comes from the build
(build/python_packages, put on sys.path by scripts/test.sh or MROPE_PYTHON_PATH)
and the golden vectors from test/golden."""

import json
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
GOLDEN = os.path.join(ROOT, "test", "golden")
PACKAGE_DIR = os.environ.get("MROPE_PYTHON_PATH",
                             os.path.join(ROOT, "build", "python_packages"))
if PACKAGE_DIR not in sys.path:
    sys.path.insert(0, PACKAGE_DIR)

try:
    import mrope  # noqa: F401
    IMPORT_ERROR = None
except ImportError as e:
    IMPORT_ERROR = str(e)


def pytest_collection_modifyitems(config, items):
    if IMPORT_ERROR is None:
        return
    skip = pytest.mark.skip(reason=f"mrope package not built ({IMPORT_ERROR})")
    for item in items:
        item.add_marker(skip)


def load_golden(name):
    with open(os.path.join(GOLDEN, name)) as f:
        return json.load(f)


@pytest.fixture(scope="session")
def golden():
    return load_golden
