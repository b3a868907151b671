"""A worker-side recording model: what each dask worker actually received.

``RecordingLogistic`` is a logistic regression whose ``decision_function`` (what
a coded classifier's workers call) first saves its input rows on the worker,
named after the call that runs it: the colluders' view in
``bench_privacy_dask.py`` is read from these files, not rebuilt from the
encoder. The call's name names the coded worker (``{request}-{method}-{j}``,
``sklearn_coded.execution._tasks.current_call``), which is how a colluder knows
its coded point (the bound assumes it does).
"""

import re
import time
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression


def _record(record_dir, X):
    """Save X under ``record_dir`` named by the running call (nothing off a worker)."""
    if record_dir is None:
        return
    try:
        from distributed import get_worker

        worker = get_worker()
    except (ImportError, ValueError):  # fit, the probe: not on a dask worker
        return
    from sklearn_coded.execution._tasks import current_call

    key, where = str(current_call()), re.sub(r"\W", "_", str(worker.address))
    np.save(Path(record_dir) / f"{where}~{key}~{time.monotonic_ns()}.npy", np.asarray(X))


class RecordingLogistic(ClassifierMixin, BaseEstimator):
    """LogisticRegression that records, on a dask worker, every input it scores."""

    def __init__(self, record_dir=None, C=1.0, max_iter=3000):
        self.record_dir = record_dir
        self.C = C
        self.max_iter = max_iter

    def fit(self, X, y):
        self.model_ = LogisticRegression(C=self.C, max_iter=self.max_iter).fit(X, y)
        self.classes_ = self.model_.classes_
        return self

    def predict(self, X):
        return self.model_.predict(X)

    def decision_function(self, X):
        _record(self.record_dir, X)
        return self.model_.decision_function(X)


def read_views(record_dir):
    """What each task received, and which worker process ran it; clears the files.

    Parameters
    ----------
    record_dir : Path

    Returns
    -------
    views : dict of int -> ndarray of shape (n_rows, n_features)
        Task index (the coded worker, or the physical task of ``tasks="auto"``)
        -> its rows, chunks in arrival order.
    process : dict of int -> str
        Task index -> the address of the worker process that ran it.
    """
    chunks, process = {}, {}
    for path in Path(record_dir).glob("*.npy"):
        where, key, stamp = path.stem.split("~")
        j = int(key.rsplit("-", 1)[1])  # "{request}-{method}-{j}"
        chunks.setdefault(j, []).append((int(stamp), np.load(path)))
        process[j] = where
        path.unlink()
    views = {j: np.concatenate([c for _, c in sorted(parts, key=lambda p: p[0])]) for j, parts in
             chunks.items()}  # fmt: skip
    return views, process
