"""The documentation builds offline with warnings as errors, gallery examples included."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

DOCS = Path(__file__).parents[1] / "docs"


@pytest.mark.skipif(shutil.which("sphinx-build") is None, reason="needs the docs extra")
def test_docs_build_without_warnings(tmp_path):
    env = {**os.environ, "SKLEARN_CODED_SMOKE": "1", "MPLBACKEND": "Agg"}
    result = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "-q", "-b", "html", "-d", str(tmp_path / "doctrees"),
         str(DOCS), str(tmp_path / "html")],
        capture_output=True, text=True, env=env, timeout=600, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-5000:]
    api = tmp_path / "html" / "gen_modules" / "sklearn_coded.estimators.CodedClassifier.html"
    assert "predict_proba" in api.read_text()
    assert (tmp_path / "html" / "auto_examples" / "plot_encode_decode.html").is_file()
