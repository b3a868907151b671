"""A hedge (``run_workers(first=, hedge_after=)``): the held coded workers are sent late.

The held workers are sent only after ``hedge_after`` seconds, or at once when a
first task fails or all of them have ended; a request that ``enough`` ends
before never sends them. Checked on a thread pool and on a dask cluster by
counting the calls each coded worker's rows received (column 0 of a coded row is
its worker, see ``_execution_models``).
"""

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from _execution_models import MarkedLinear, marked_coded

from sklearn_coded.execution import run_workers


class CountingLinear(MarkedLinear):
    """MarkedLinear that records which coded workers' rows it computed."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.seen = set()
        self.lock = threading.Lock()

    def decision_function(self, X):
        with self.lock:
            self.seen |= set(X[:, 0].astype(int).tolist())
        return super().decision_function(X)


FIRST = np.array([0, 2, 4])


def first_arrived(returned):
    """``enough``: every first worker's rows are in."""
    return bool(returned[FIRST].all())


@pytest.mark.parametrize("tasks", [None, 2])
def test_a_hedge_that_is_not_needed_is_never_sent(tasks):
    coded, model = marked_coded(6, 3), CountingLinear()
    with ThreadPoolExecutor(max_workers=2) as pool:
        start = time.monotonic()
        results, returned = run_workers(
            model, "decision_function", coded, executor=pool, enough=first_arrived,
            first=FIRST, hedge_after=30.0, tasks=tasks, min_results=3,
        )  # fmt: skip
        elapsed = time.monotonic() - start
    assert elapsed < 10  # not the 30 s hedge
    assert model.seen == set(FIRST.tolist())  # the others' rows were never computed
    np.testing.assert_array_equal(returned.any(axis=1), np.isin(np.arange(6), FIRST))
    np.testing.assert_allclose(results[FIRST], coded[FIRST] @ model.weights)


@pytest.mark.parametrize("tasks", [None, 2])
def test_a_late_first_worker_sends_the_hedge_after_its_time(tasks):
    # worker 2 is slow (3 s): the first workers alone never give the N - S = 4 rows
    # waited for, so the hedge goes out at 0.3 s and the request ends with 4 rows
    coded = marked_coded(6, 3)
    model = CountingLinear(slow_on={2}, seconds=3.0)
    with ThreadPoolExecutor(max_workers=4) as pool:
        start = time.monotonic()
        results, returned = run_workers(
            model, "decision_function", coded, executor=pool, stragglers=2,
            first=FIRST, hedge_after=0.3, tasks=tasks, min_results=3,
        )  # fmt: skip
        elapsed = time.monotonic() - start
    assert elapsed < 2.5  # the hedge answered, not the 3 s straggler
    assert len({1, 3, 5} & model.seen) >= 2  # held workers ran (N - S = 4 were waited for)
    assert not returned[2].any()
    assert returned.sum(axis=0).min() >= 4
    ok = returned.all(axis=1)
    np.testing.assert_allclose(results[ok], coded[ok] @ model.weights)


def test_a_failed_first_task_sends_the_hedge_at_once():
    coded = marked_coded(6, 3)
    model = CountingLinear(raise_on={0})
    with ThreadPoolExecutor(max_workers=2) as pool:
        start = time.monotonic()
        _, returned = run_workers(
            model, "decision_function", coded, executor=pool, stragglers=1,
            first=FIRST, hedge_after=30.0, min_results=3,
        )  # fmt: skip
    assert time.monotonic() - start < 10  # not the 30 s hedge
    assert {1, 3, 5} <= model.seen
    assert returned.sum(axis=0).min() == 5


def test_dask_hedge_not_needed_and_needed(dask_client):
    coded = marked_coded(6, 3)
    # the model is copied to the workers: what came back tells who ran
    _, returned = run_workers(
        MarkedLinear(), "decision_function", coded, executor=dask_client, enough=first_arrived,
        first=FIRST, hedge_after=30.0, tasks=2, min_results=3,
    )  # fmt: skip
    np.testing.assert_array_equal(returned.any(axis=1), np.isin(np.arange(6), FIRST))
    slow = MarkedLinear(slow_on={2}, seconds=3.0)
    start = time.monotonic()
    results, returned = run_workers(
        slow, "decision_function", coded, executor=dask_client, stragglers=2,
        first=FIRST, hedge_after=0.3, min_results=3,
    )  # fmt: skip
    assert time.monotonic() - start < 2.5  # the hedge answered, not the 3 s straggler
    assert returned[[1, 3, 5]].all(axis=1).sum() >= 2 and not returned[2].any()
    assert returned.sum(axis=0).min() >= 4
    ok = returned.all(axis=1)
    np.testing.assert_allclose(results[ok], coded[ok] @ slow.weights)


@pytest.mark.parametrize(
    ("first", "hedge_after", "match"),
    [(None, 0.1, "hedge_after needs first"), ([0, 9], 0.1, "first must hold"),
     ([0], -1.0, "hedge_after must be")],
)  # fmt: skip
def test_hedge_arguments_are_checked(first, hedge_after, match):
    with pytest.raises(ValueError, match=match):
        run_workers(
            MarkedLinear(), "decision_function", marked_coded(6, 2),
            executor=ThreadPoolExecutor(1), first=first, hedge_after=hedge_after,
        )  # fmt: skip
