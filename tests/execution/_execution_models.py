"""Worker models and a straggler model for the execution tests.

Column 0 of every coded row holds its worker's index and column 1 its batch's
index, so a model can misbehave on chosen workers whatever executor runs it.
"""

import os
import signal
import time

import numpy as np

from sklearn_coded.execution import BaseStragglers, StragglerPlan

#: (worker, monotonic time) of every slow call, appended by MarkedLinear; shared
#: with in-process dask workers and thread pools, which run in this process.
SLOW_CALLS = []


def marked_coded(n_workers, n_batches, n_features=4, seed=0):
    """Random coded inputs whose columns 0 and 1 are the worker and batch indices."""
    coded = np.random.default_rng(seed).normal(size=(n_workers, n_batches, n_features))
    coded[:, :, 0] = np.arange(n_workers)[:, None]
    coded[:, :, 1] = np.arange(n_batches)[None, :]
    return coded


class MarkedLinear:
    """f(x) = x @ W (3 outputs, in the dtype of x), misbehaving on chosen workers.

    Parameters
    ----------
    n_features : int
    raise_on : set of int
        Workers whose call raises ValueError.
    nonfinite_on : dict {(worker, batch): value}
        Rows whose first output becomes ``value`` (NaN or inf).
    slow_on : set of int
        Workers whose every call sleeps ``seconds`` (and is logged in SLOW_CALLS).
    seconds : float
    short_on : set of int
        Workers whose call returns one row too few.
    """

    def __init__(
        self, n_features=4, *, raise_on=(), nonfinite_on=None, slow_on=(), seconds=0.0, short_on=()
    ):
        self.weights = np.random.default_rng(1).normal(size=(n_features, 3))
        self.raise_on = set(raise_on)
        self.nonfinite_on = dict(nonfinite_on or {})
        self.slow_on = set(slow_on)
        self.seconds = seconds
        self.short_on = set(short_on)

    def decision_function(self, X):
        workers = set(X[:, 0].astype(int).tolist())
        if workers & self.raise_on:
            raise ValueError(f"worker {sorted(workers & self.raise_on)} fails")
        for worker in workers & self.slow_on:
            SLOW_CALLS.append((worker, time.monotonic()))
            time.sleep(self.seconds)
        outputs = X @ self.weights.astype(X.dtype)
        for (worker, batch), value in self.nonfinite_on.items():
            outputs[(X[:, 0] == worker) & (X[:, 1] == batch), 0] = value
        if len(workers) == 1 and workers <= self.short_on:
            outputs = outputs[:-1]
        return outputs

    def predict(self, X):
        return self.decision_function(X)[:, 0]


class ExplicitDelays(BaseStragglers):
    """Test straggler model: fixed per-worker delays (inf: never returns)."""

    def __init__(self, delays=(), n_wait=None, deadline=None):
        self.delays = delays
        self.n_wait = n_wait
        self.deadline = deadline

    def draw_missing(self, n_workers, n_batches, random_state=None):
        return np.repeat(np.isinf(self.delays)[:, None], n_batches, axis=1)

    def draw_plan(self, n_workers, random_state=None):
        n_wait = n_workers if self.n_wait is None else self.n_wait
        return StragglerPlan(np.asarray(self.delays, dtype=float), n_wait, self.deadline)

    def validate(self, n_workers, min_results=1):
        if len(self.delays) != n_workers:
            raise self._invalid(f"{len(self.delays)} delays for {n_workers} workers.")


class KillsItsProcess(MarkedLinear):
    """Kills the worker process that computes ``victim``'s rows; the others take ``seconds``."""

    def __init__(self, victim, seconds):
        super().__init__()
        self.victim = victim
        self.seconds = seconds

    def decision_function(self, X):
        if self.victim in X[:, 0]:
            time.sleep(self.seconds / 3)  # let the other tasks start: the kill is mid-request
            os.kill(os.getpid(), signal.SIGKILL)
        time.sleep(self.seconds)
        return super().decision_function(X)
