"""The README's example runs and does what its comments say."""

import contextlib
import io
import re
from pathlib import Path

README = Path(__file__).parents[1] / "README.md"


def test_readme_example_runs_and_decodes_accurately():
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert blocks, "README.md has no python example"
    namespace = {}
    with contextlib.redirect_stdout(io.StringIO()) as out:
        exec(compile(blocks[0], str(README), "exec"), namespace)
    assert namespace["coded"].shape == (128, 64)
    assert namespace["decoded"].shape == (16, 64)
    assert float(out.getvalue()) < 5e-3  # the README says 4e-3
