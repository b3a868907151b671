"""The README's examples run as printed and do what their comments say."""

import contextlib
import io
import re
from pathlib import Path

import numpy as np
import pytest

README = Path(__file__).parents[1] / "README.md"


def _blocks():
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert len(blocks) >= 2, "README.md has lost an example"
    return blocks


def _run(block):
    namespace = {"__name__": "readme"}
    with contextlib.redirect_stdout(io.StringIO()) as out:
        exec(compile(block, str(README), "exec"), namespace)
    return namespace, out.getvalue()


def test_readme_example_runs_and_decodes_accurately():
    namespace, out = _run(_blocks()[0])
    assert namespace["coded"].shape == (128, 64)
    assert namespace["decoded"].shape == (16, 64)
    assert float(out) < 5e-3  # the README says 4e-3


def test_readme_coded_training_example_runs_as_printed():
    torch = pytest.importorskip("torch")
    pytest.importorskip("skorch")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the main job does: spinning threads slow a busy machine 20x
    try:
        namespace, out = _run(_blocks()[1])
    finally:
        torch.set_num_threads(threads)
    search = namespace["search"]
    assert set(search.best_params_) == {"mu", "n_coded"}
    # GridSearchCV(verbose=2) prints a line per fit; the example's own lines come last
    first, second = [
        line for line in out.strip().splitlines() if not line.startswith(("[CV]", "Fitting"))
    ]
    accuracy = float(first.split("}")[-1])
    X_test, y_test = namespace["X_test"], namespace["y_test"]
    assert accuracy == search.score(X_test, y_test)
    assert accuracy > 0.93  # the README says about 0.96
    # The default scorer scored the plain network, the one that is deployed: its
    # accuracy from the module's own forward pass (argmax of the logits).
    best = search.best_estimator_
    with torch.no_grad():
        logits = best.module_(torch.as_tensor(X_test, dtype=torch.float32))
    assert accuracy == np.mean(logits.argmax(1).numpy() == y_test)
    # The coded classifier kept the chosen training N and mu, and predicts at N = 64.
    coded = namespace["coded"]
    assert coded.estimator_.n_coded == search.best_params_["n_coded"]
    assert coded.estimator_.mu == search.best_params_["mu"]
    assert float(second) == coded.score(X_test, y_test) > 0.93
