"""Every example runs as a plain script, ``python examples/x.py``, as a new user runs it.

The gallery build (``tests/test_docs.py``) executes the examples inside Sphinx,
which hides what only a script hits: dask's worker processes re-import the
script (``spawn``), so a missing ``if __name__ == "__main__":`` guard crashes
there and not in the gallery. The examples run in their smoke mode
(``SKLEARN_CODED_SMOKE=1``, small sizes), one subprocess each.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
EXAMPLES = sorted((ROOT / "examples").glob("*.py"))


def test_examples_are_found():
    assert len(EXAMPLES) >= 7


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda path: path.name)
def test_example_runs_as_a_script(path, tmp_path):
    env = {
        **os.environ,
        "SKLEARN_CODED_SMOKE": "1",
        "MPLBACKEND": "Agg",
        "OMP_NUM_THREADS": "1",
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    result = subprocess.run(
        [sys.executable, str(path)],
        capture_output=True, text=True, env=env, timeout=300, check=False, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-4000:]
