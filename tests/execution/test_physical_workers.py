"""Coded rows mapped onto physical workers: one task per worker, interleaved rows."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from sklearn.linear_model import LinearRegression

from sklearn_coded.execution import BaseStragglers, StragglerPlan, run_workers
from sklearn_coded.execution._run import assign_rows


class _Recording(LinearRegression):
    """Records the number of rows of every predict call (thread-safe)."""

    def predict(self, X):
        with _LOCK:
            _CALLS.append(len(X))
        return super().predict(X)


_LOCK = threading.Lock()
_CALLS = []


class _SlowTask(BaseStragglers):
    """Task 0 sleeps ``seconds`` (checking its stop flag); S counts coded rows."""

    def __init__(self, n_stragglers=4, seconds=20.0):
        self.n_stragglers = n_stragglers
        self.seconds = seconds

    def draw_missing(self, n_workers, n_batches, random_state=None):  # pragma: no cover
        return np.zeros((n_workers, n_batches), dtype=bool)

    def draw_plan(self, n_workers, random_state=None):
        delays = np.zeros(n_workers)
        delays[0] = self.seconds
        return StragglerPlan(delays, n_workers - 1, None)


@pytest.fixture(scope="module")
def model_and_coded():
    rng = np.random.default_rng(0)
    model = _Recording().fit(rng.normal(size=(30, 3)), rng.normal(size=30))
    return model, rng.normal(size=(16, 5, 3))  # N = 16 coded workers, 5 batches


def test_assign_rows_one_point_per_stretch():
    rng = np.random.default_rng(0)
    for n_coded, n_tasks in [(16, 4), (32, 5), (7, 7), (9, 2)]:
        assignment = assign_rows(n_coded, n_tasks, rng)
        assert sorted(np.concatenate(assignment).tolist()) == list(range(n_coded))
        for rows in assignment:  # never two points of one stretch: spread over the code
            stretches = rows // n_tasks
            assert len(set(stretches.tolist())) == len(rows)
        sizes = [len(rows) for rows in assignment]
        assert max(sizes) - min(sizes) <= 1
    # private randomness: two requests draw different assignments (1 in 24^4 to agree)
    first, second = assign_rows(16, 4), assign_rows(16, 4)
    assert any(not np.array_equal(a, b) for a, b in zip(first, second, strict=True))


def test_one_task_per_physical_worker(model_and_coded):
    model, coded = model_and_coded
    with ThreadPoolExecutor(max_workers=4) as pool:
        _CALLS.clear()
        results, returned = run_workers(
            model, "predict", coded, executor=pool, tasks="auto", random_state=0
        )
    assert sorted(_CALLS) == [4 * 5] * 4  # 4 tasks of 4 coded workers x 5 batches
    assert returned.all()
    np.testing.assert_allclose(results[:, :, 0], model.predict(coded.reshape(-1, 3)).reshape(16, 5))


def test_slow_physical_worker_loses_interleaved_rows(model_and_coded):
    model, coded = model_and_coded
    with ThreadPoolExecutor(max_workers=4) as pool:
        start = time.monotonic()
        results, returned = run_workers(
            model, "predict", coded, executor=pool, tasks=4, stragglers=_SlowTask(), random_state=0
        )
        elapsed = time.monotonic() - start
    assert elapsed < 5.0  # the slow task (20 s) is stopped, not waited for
    lost = np.flatnonzero(~returned[:, 0])
    assert (~returned == ~returned[:, :1]).all()  # a task's rows miss every batch together
    assert len(lost) == 4 and sorted((lost // 4).tolist()) == [0, 1, 2, 3]  # one per stretch
    ok = returned[:, 0]
    expected = model.predict(coded[ok].reshape(-1, 3)).reshape(-1, 5)
    np.testing.assert_allclose(results[ok, :, 0], expected)
    assert np.isnan(results[~ok]).all()


def test_stragglers_below_a_task_wait_for_every_task(model_and_coded):
    # S = 2 coded rows cannot cover a physical worker of 4 rows: the request waits for it.
    model, coded = model_and_coded
    with ThreadPoolExecutor(max_workers=4) as pool:
        start = time.monotonic()
        _, returned = run_workers(
            model, "predict", coded, executor=pool, tasks=4,
            stragglers=_SlowTask(n_stragglers=2, seconds=0.5), random_state=0,
        )  # fmt: skip
    assert time.monotonic() - start >= 0.5
    assert returned.all()


def test_tasks_on_dask(model_and_coded, dask_client):
    _, coded = model_and_coded
    plain = LinearRegression().fit(np.eye(4, 3), [1.0, 2.0, 3.0, 4.0])
    results, returned = run_workers(
        plain, "predict", coded, executor=dask_client, tasks="auto", random_state=0
    )
    assert returned.all()
    expected = plain.predict(coded.reshape(-1, 3)).reshape(16, 5)
    np.testing.assert_allclose(results[:, :, 0], expected, atol=1e-9)


def test_tasks_is_checked(model_and_coded):
    model, coded = model_and_coded
    with (
        ThreadPoolExecutor(max_workers=2) as pool,
        pytest.raises(ValueError, match="tasks must be"),
    ):
        run_workers(model, "predict", coded, executor=pool, tasks=0)


def test_estimator_on_fewer_threads_than_coded_workers():
    # 3 threads, N = 12: the estimator sends 3 tasks of 4 coded rows per batch; an exact
    # code (Lagrange, linear f, no stragglers) still returns the plain predictions.
    from sklearn.datasets import make_regression
    from sklearn.linear_model import Ridge

    from sklearn_coded.estimators import CodedRegressor

    X, y = make_regression(n_samples=50, n_features=4, random_state=0)
    with ThreadPoolExecutor(max_workers=3) as pool:
        reg = CodedRegressor(
            Ridge(), scheme="lagrange", batch_size=8, n_coded=12, executor=pool, timeout=30
        ).fit(X, y)
        predicted = reg.predict(X)
    np.testing.assert_allclose(predicted, reg.estimator_.predict(X), atol=1e-8 * np.abs(y).max())
