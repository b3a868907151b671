"""``hedge_after`` on the coded estimators: with no straggler the parity is never run.

A systematic layout's data workers (or replication's first replicas) compute f on
the rows themselves; the estimators stop once every row has its own result, so
with a long ``hedge_after`` the other coded rows are never sent. Checked on a real
thread pool by counting the rows the inner model computed, against the plain
model's predictions (the exact answer).
"""

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression

from sklearn_coded.estimators import CodedClassifier

ROWS = []  # rows computed by every CountingLogistic (clones included)
LOCK = threading.Lock()


class CountingLogistic(LogisticRegression):
    """LogisticRegression that records how many rows its decision_function saw."""

    def decision_function(self, X):
        with LOCK:
            ROWS.append(len(X))
        return super().decision_function(X)


@pytest.fixture
def data():
    X, y = make_classification(96, 6, n_informative=4, n_classes=3, random_state=0)
    return X[:64], y[:64], X[64:]


@pytest.mark.parametrize("scheme", ["spline", "berrut", "replication"])
def test_no_straggler_costs_the_plain_compute_and_is_exact(data, scheme):
    X, y, X_test = data
    with ThreadPoolExecutor(max_workers=2) as pool:
        clf = CodedClassifier(
            CountingLogistic(), scheme=scheme, batch_size=4, n_coded=8, executor=pool,
            hedge_after=30.0, timeout=20,
        ).fit(X, y)  # fmt: skip
        ROWS.clear()
        scores = clf.decision_function(X_test)
    assert sum(ROWS) == len(X_test)  # only one copy of each row was computed
    np.testing.assert_allclose(scores, clf.estimator_.decision_function(X_test), atol=1e-12)


def test_without_a_hedge_every_coded_row_is_computed(data):
    # the control of the count: one thread, so one task carries every coded row
    X, y, X_test = data
    with ThreadPoolExecutor(max_workers=1) as pool:
        clf = CodedClassifier(
            CountingLogistic(), batch_size=4, n_coded=8, executor=pool, timeout=20
        ).fit(X, y)
        ROWS.clear()
        clf.decision_function(X_test)
    assert sum(ROWS) == 2 * len(X_test)  # N / K = 2: the parity ran too


@pytest.mark.parametrize("params", [{"points": "chebyshev"}, {"n_private": 1}])
def test_a_layout_that_cannot_hedge_is_refused(data, params):
    X, y, X_test = data
    clf = CodedClassifier(
        LogisticRegression(), batch_size=4, n_coded=16, hedge_after=0.01, **params
    )
    with pytest.raises(ValueError, match=r"hedge_after=0\.01"):
        clf.fit(X, y).predict(X_test)
