"""Every example runs as a plain script, ``python examples/x.py``, as a new user runs it.

The gallery build (``tests/test_docs.py``) executes the examples inside Sphinx,
which hides what only a script hits: dask's worker processes re-import the
script (``spawn``), so a missing ``if __name__ == "__main__":`` guard crashes
there and not in the gallery. The examples run in their smoke mode
(``SKLEARN_CODED_SMOKE=1``, small sizes), one subprocess each, two at a time
(CI has 2 cores; one after the other they took 145 s on a loaded 2-core machine).
"""

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
EXAMPLES = sorted((ROOT / "examples").glob("*.py"))


def test_examples_are_found():
    assert len(EXAMPLES) >= 7


def run_script(path, folder):
    env = {
        **os.environ,
        "SKLEARN_CODED_SMOKE": "1",
        "MPLBACKEND": "Agg",
        "OMP_NUM_THREADS": "1",
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    return subprocess.run(
        [sys.executable, str(path)],
        capture_output=True, text=True, env=env, timeout=300, check=False, cwd=folder,
    )  # fmt: skip


@pytest.fixture(scope="module")
def script_runs(tmp_path_factory):
    folders = [tmp_path_factory.mktemp(path.stem) for path in EXAMPLES]
    with ThreadPoolExecutor(max_workers=2) as pool:
        runs = list(pool.map(run_script, EXAMPLES, folders))
    return {path.name: run for path, run in zip(EXAMPLES, runs, strict=True)}


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda path: path.name)
def test_example_runs_as_a_script(path, script_runs):
    result = script_runs[path.name]
    assert result.returncode == 0, result.stderr[-4000:]
