"""The documentation builds offline with warnings as errors, gallery examples included.

The build runs on a copy of ``docs/`` and ``examples/`` in a temporary folder, so
the generated pages (``gen_modules/``, ``auto_examples/``) never land in ``docs/``.
"""

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
LOCAL_MATHJAX = "/usr/share/javascript/mathjax/MathJax.js"  # Debian's libjs-mathjax


# The build runs ``python -m sphinx``: what it needs is the module, not a
# ``sphinx-build`` script on PATH (missing in some virtual environments).
@pytest.mark.skipif(importlib.util.find_spec("sphinx") is None, reason="needs the docs extra")
def test_docs_build_without_warnings_outside_the_source_tree(tmp_path):
    before = sorted(path.name for path in (ROOT / "docs").iterdir())
    # the pages include the committed benchmark plots from ../benchmarks/results
    for folder in ("docs", "examples", "benchmarks/results"):
        shutil.copytree(ROOT / folder, tmp_path / folder, ignore=shutil.ignore_patterns("_build"))
    env = {**os.environ, "SKLEARN_CODED_SMOKE": "1", "MPLBACKEND": "Agg"}
    result = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "-q", "-b", "html", "-d",
         str(tmp_path / "doctrees"), str(tmp_path / "docs"), str(tmp_path / "html")],
        capture_output=True, text=True, env=env, timeout=900, check=False, cwd=ROOT,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-5000:]
    api = tmp_path / "html" / "gen_modules" / "sklearn_coded.CodedClassifier.html"
    assert "predict_proba" in api.read_text()
    # gallery backreferences: the API page lists the examples that use the class
    assert "Examples using" in api.read_text()
    assert "plot_dask_cluster.html" in api.read_text()
    assert (tmp_path / "html" / "auto_examples" / "plot_encode_decode.html").is_file()
    # a reference by the subpackage path links to the name's page at the package
    guide = (tmp_path / "html" / "user_guide.html").read_text()
    assert 'href="gen_modules/sklearn_coded.CodedClassifier.html' in guide
    method = (tmp_path / "html" / "method.html").read_text()
    assert r"\tag{2.2}" in method  # the equations are numbered
    if Path(LOCAL_MATHJAX).is_file() and "SKLEARN_CODED_MATHJAX" not in os.environ:
        assert f'src="file://{LOCAL_MATHJAX}?config=' in method  # offline MathJax
    assert sorted(path.name for path in (ROOT / "docs").iterdir()) == before
