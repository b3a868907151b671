"""Refused batches keep the rows known exactly (docs/method.rst 12.3), and the early stop."""

import contextlib
import threading
import time
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.datasets import load_digits
from sklearn.ensemble import RandomForestRegressor

from sklearn_coded.coding import CodingPlan
from sklearn_coded.coding._systematic import exact_sources, exact_sources_of
from sklearn_coded.estimators import CodedRegressor
from sklearn_coded.estimators._diagnostics import UncertifiedBatchError, UncertifiedBatchWarning
from sklearn_coded.execution import GrossErrors, InsufficientResultsError, RandomStragglers

K = 8


@pytest.fixture(scope="module")
def data():
    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    # A forest is piecewise constant: no decode reproduces it, so a row equal to
    # f(x_k) to rounding came from the worker that computed f(x_k) itself.
    forest = RandomForestRegressor(10, random_state=0).fit(X[:400], y[:400])
    return forest, X[400:560], (X[:400], y[:400])


def _predict(reg, X):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = reg.predict(X)
    refused = [w for w in caught if issubclass(w.category, UncertifiedBatchWarning)]
    return out, refused


def _fit_quietly(reg, train):
    """Fit a coded regressor of the forest (its probe warns that a forest is not smooth)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reg.fit(*train)


def _refused_rows(reg, n_rows):
    mask = np.zeros(n_rows, dtype=bool)
    for b in reg.diagnostics_.last.uncertified:
        mask[b * K : (b + 1) * K] = True  # no randomized: batch b is rows bK..bK+K-1
    return mask


@pytest.mark.parametrize("scheme", ["spline", "berrut", "lagrange", "replication"])
def test_refused_batches_keep_rows_equal_to_the_oracle_in_process(data, scheme):
    forest, X, train = data
    points = "uniform" if scheme == "replication" else "systematic"
    reg = CodedRegressor(
        forest,
        scheme=scheme,
        points=points,
        batch_size=K,
        n_coded=10,
        stragglers=RandomStragglers(0.2),
        on_uncertified="nan",
        random_state=1,
    )
    _fit_quietly(reg, train)
    out, warned = _predict(reg, X)
    bare = forest.predict(X)
    last = reg.diagnostics_.last
    refused = _refused_rows(reg, len(X))
    finite = np.isfinite(out)
    assert last.uncertified.size >= 3 and len(warned) == 1
    assert last.refused_rows == refused.sum()
    assert last.exact_rows == (refused & finite).sum()
    # exact rows of refused batches are f(x_k) to rounding; the others NaN, not guessed
    assert 0 < last.exact_rows < last.refused_rows
    np.testing.assert_allclose(out[refused & finite], bare[refused & finite], rtol=1e-12)
    assert f"{last.exact_rows} of their {last.refused_rows} rows" in str(warned[0].message)
    # "raise" still raises: below the floor (InsufficientResultsError, in process) or
    # for replication's lost rows (UncertifiedBatchError, naming the exact rows)
    with pytest.raises((UncertifiedBatchError, InsufficientResultsError)):
        reg.set_params(on_uncertified="raise").predict(X)


def test_raise_names_the_exact_rows():
    X = np.random.default_rng(0).normal(size=(64, 3))
    reg = CodedRegressor(
        _Slow(0.0, parity=False),
        scheme="replication",
        batch_size=K,
        n_coded=12,
        stragglers=4,
        random_state=0,
    ).fit(X, X[:, 0])
    with pytest.raises(UncertifiedBatchError, match=r"\d+ of their \d+ rows were answered exactly"):
        reg.predict(X)


def test_with_liars_nothing_partial_is_returned(data):
    forest, X, train = data
    reg = CodedRegressor(
        forest,
        scheme="spline",
        points="systematic",
        batch_size=K,
        n_coded=14,
        n_adversaries=1,
        adversaries=GrossErrors(1, scale=50.0),
        stragglers=RandomStragglers(0.25),
        on_uncertified="nan",
        random_state=0,
    )
    _fit_quietly(reg, train)
    out, warned = _predict(reg, X)
    refused = _refused_rows(reg, len(X))
    last = reg.diagnostics_.last
    assert refused.any() and warned
    assert np.isnan(out[refused]).all() and last.exact_rows == 0
    assert exact_sources(reg._serving_state()[0], K).max() == -1  # no row trusted alone


class _Slow(RegressorMixin, BaseEstimator):
    """f(x) = sum(x); a row that is not a data point (a parity row) takes ``delay`` s."""

    def __init__(self, delay=0.5, parity=True):
        self.delay = delay
        self.parity = parity  # False while fitting (the probe calls predict)

    def fit(self, X, y):
        self.n_features_in_ = X.shape[1]
        self.data_ = np.asarray(X, dtype=float)
        return self

    def predict(self, X):
        X = np.asarray(X, dtype=float)
        if self.parity and not self._all_data(X):
            time.sleep(self.delay)
        return X.sum(axis=1)

    def _all_data(self, X):
        gaps = np.abs(X[:, None, :] - self.data_[None]).max(axis=2).min(axis=1)
        return bool((gaps < 1e-9).all())


def test_exact_stop_returns_before_the_parity_worker_and_exactly():
    X = np.random.default_rng(0).normal(size=(32, 3))
    reg = CodedRegressor(
        _Slow(delay=2.0, parity=False),
        scheme="spline",
        points="systematic",
        batch_size=K,
        n_coded=9,
    )
    reg.fit(X, X.sum(axis=1))  # the data rows are answered at once, parity rows late
    reg.estimator_.parity = True
    plan = reg._serving_state()[0]
    assert (exact_sources(plan, K) >= 0).sum() == K  # one parity worker of 9
    with ThreadPoolExecutor(max_workers=9) as pool:
        reg.set_params(executor=pool, timeout=30)
        tic = time.perf_counter()
        out = reg.predict(X)
        elapsed = time.perf_counter() - tic
    assert elapsed < 1.0, elapsed  # the parity worker (2 s) was not waited for
    np.testing.assert_allclose(out, X.sum(axis=1), rtol=1e-12)  # exact: data workers
    assert reg.diagnostics_.last.uncertified.size == 0


@contextlib.contextmanager
def _executor(kind):
    """A real thread pool, or a real in-process dask cluster, of 10 worker threads."""
    if kind == "threads":
        with ThreadPoolExecutor(max_workers=10) as pool:
            yield pool
        return
    distributed = pytest.importorskip("distributed")
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=5, processes=False, dashboard_address="127.0.0.1:0"
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client


@pytest.mark.parametrize("kind", ["threads", "dask"])
def test_refused_rows_on_real_executors_are_whole_dead_data_workers(data, kind):
    forest, X, train = data
    bare = forest.predict(X)
    reg = CodedRegressor(
        forest,
        scheme="berrut",
        points="systematic",
        batch_size=K,
        n_coded=10,
        stragglers=RandomStragglers(0.3),
        on_uncertified="nan",
        timeout=30,
    )
    _fit_quietly(reg, train)
    with _executor(kind) as pool:
        for seed in range(20):  # a request with >= 3 dead workers refuses every batch
            reg.set_params(executor=pool, random_state=seed)
            out, _ = _predict(reg, X)
            if reg.diagnostics_.last.uncertified.size == len(X) // K:
                break
        else:
            pytest.fail("no request lost 3 workers")
    finite = np.isfinite(out)
    # a dead data worker loses its row in every batch, and only that row
    per_slot = finite.reshape(-1, K)
    assert (per_slot == per_slot[0]).all() and 0 < per_slot[0].sum() < K
    np.testing.assert_allclose(out[finite], bare[finite], rtol=1e-12)
    # (the warning is checked in process: catch_warnings is not thread-safe, and
    # the executor's threads run scikit-learn code that enters it too)
    assert reg.diagnostics_.last.exact_rows == finite.sum()


def test_exact_sources_read_the_encoder():
    # smoothing moves the coded points off the data: no coded row is a data row
    smooth = CodingPlan("spline", batch_size=4, n_coded=6, points="systematic", lam_enc=0.1)
    assert exact_sources(smooth, 4).max() == -1
    plain = CodingPlan("spline", batch_size=4, n_coded=6, points="systematic")
    assert sorted(exact_sources(plain, 4)[exact_sources(plain, 4) >= 0]) == [0, 1, 2, 3]
    np.testing.assert_array_equal(exact_sources_of(np.eye(3)[[2, 0, 1]]), [2, 0, 1])
    assert threading.active_count() >= 1


def test_exact_stop_still_waits_for_a_requested_floor():
    from sklearn_coded.coding._systematic import exact_stop
    from sklearn_coded.estimators._batching import batch_groups

    plan = CodingPlan("spline", batch_size=4, n_coded=6, points="systematic")
    sources = exact_sources(plan, 4)
    returned = np.zeros((6, 2), dtype=bool)
    returned[sources >= 0] = True  # the 4 data workers of both batches
    assert exact_stop(batch_groups(8, 4), plan)(returned)
    higher = CodingPlan(
        "spline", batch_size=4, n_coded=6, points="systematic", requested_floor=5, role="predict"
    )
    assert not exact_stop(batch_groups(8, 4), higher)(returned)  # 4 < min_results = 5
    returned[np.flatnonzero(sources < 0)[0]] = True
    assert exact_stop(batch_groups(8, 4), higher)(returned)
