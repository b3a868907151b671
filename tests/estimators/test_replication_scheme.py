"""scheme="replication" in the coded estimators: every executor, lost rows, votes, timeouts."""

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import Ridge

from sklearn_coded.coding._replication import replica_stop
from sklearn_coded.estimators import CodedClassifier, CodedRegressor
from sklearn_coded.estimators._batching import batch_groups
from sklearn_coded.estimators._diagnostics import UncertifiedBatchError, UncertifiedBatchWarning
from sklearn_coded.execution import GrossErrors, InsufficientResultsError, LatencyStragglers


@pytest.fixture(scope="module")
def forest():
    X, y = load_digits(return_X_y=True)
    clf = CodedClassifier(
        RandomForestClassifier(20, random_state=0),
        scheme="replication",
        batch_size=8,
        n_coded=16,
        random_state=0,
    )
    return clf.fit(X[:600], y[:600]), X[600:900]


def test_replication_returns_the_bare_model_exactly_for_a_forest(forest):
    clf, X = forest
    bare = clf.estimator_.predict_proba(X)
    # A forest is piecewise constant: no code decodes it, replication is exact (up to
    # the renormalisation of decoded probabilities, which floors 0 at the smallest float)
    same = {"rtol": 1e-12, "atol": 1e-300}
    np.testing.assert_allclose(clf.set_params(stragglers=0).predict_proba(X), bare, **same)
    # 5 of 16 stragglers per batch: each lost row is NaN, every other row exact
    clf.set_params(stragglers=5, on_uncertified="nan")
    with pytest.warns(UncertifiedBatchWarning, match="lost every replica"):
        proba = clf.predict_proba(X)
    lost = np.isnan(proba).any(axis=1)
    assert 0 < lost.mean() < 0.2  # P(both replicas among 5 of 16) = 1/12 per row
    np.testing.assert_allclose(proba[~lost], bare[~lost], **same)
    with pytest.warns(UncertifiedBatchWarning):  # the same draw (random_state=0)
        assert np.isnan(clf.predict(X)[lost].astype(float)).all()  # no made-up class
    with pytest.raises(UncertifiedBatchError, match="lost every replica"):
        clf.set_params(on_uncertified="raise").predict(X)


def test_replication_runs_on_threads_and_dask_with_the_first_replica(forest):
    distributed = pytest.importorskip("distributed")
    clf, X = forest
    bare = clf.estimator_.predict_proba(X[:64])
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=4, processes=False, dashboard_address="127.0.0.1:0"
        ) as cluster,
        distributed.Client(cluster) as client,
        ThreadPoolExecutor(max_workers=16) as pool,
    ):
        for executor in (pool, client):
            clf.set_params(executor=executor, stragglers=0, timeout=30)
            np.testing.assert_allclose(clf.predict_proba(X[:64]), bare, rtol=1e-12, atol=1e-300)
    clf.set_params(executor=None, timeout=None)


def test_timeout_misses_the_slow_replicas_and_keeps_the_fast_ones(forest):
    clf, X = forest
    bare = clf.estimator_.predict_proba(X[:40])
    # every worker 30 ms late: a 10 ms limit leaves no replica, simulated in process
    slow = LatencyStragglers(shift=0.03, scale=0.001)
    clf.set_params(stragglers=slow, timeout=0.01)
    with pytest.raises(InsufficientResultsError, match="Only 0 of 16 workers"):
        clf.predict_proba(X[:40])
    clf.set_params(timeout=0.05)
    np.testing.assert_allclose(clf.predict_proba(X[:40]), bare, rtol=1e-12, atol=1e-300)
    clf.set_params(stragglers=0, timeout=None)


def test_replica_stop_waits_for_one_replica_of_every_row_or_2a_plus_1():
    groups = batch_groups(11, 4)  # batches of 4, 4 and a last one of 3 rows
    N = 8
    returned = np.zeros((N, 3), dtype=bool)
    returned[:4] = True  # one replica of each row of the full batches, rows 0..2 of the last
    assert replica_stop(groups, N)(returned)  # 3-row batch: workers 0, 1, 2 hold rows 0, 1, 2
    returned[1, 0] = False
    assert not replica_stop(groups, N)(returned)
    returned[5, 0] = True  # the other replica of row 1
    assert replica_stop(groups, N)(returned)
    assert not replica_stop(groups, N, n_adversaries=1)(np.ones((N, 3), dtype=bool))


def test_votes_outvote_gross_errors_with_three_replicas():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(96, 5))
    reg = CodedRegressor(
        Ridge(),
        scheme="replication",
        batch_size=8,
        n_coded=24,
        n_adversaries=1,
        adversaries=GrossErrors(1, scale=100.0),
        random_state=0,
    ).fit(X, X @ np.arange(5.0))
    np.testing.assert_allclose(reg.predict(X), reg.estimator_.predict(X), rtol=1e-10)
    flagged = reg.diagnostics_.last.results_used
    assert (flagged == 23).all()  # one liar located and left out of every batch
    # n_coded=16 gives every row 2 replicas: no vote against a liar, a clear error
    with pytest.raises(ValueError, match=r"n_adversaries=1 needs .* n_coded >= 3 \* K = 24"):
        reg.set_params(n_coded=16).predict(X)
