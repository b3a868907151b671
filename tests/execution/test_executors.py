"""run_workers on real executors: a thread pool and an in-process dask cluster.

Timings are generous for a loaded 2-core machine, where an in-process dask
request can stall for up to ~0.5 s (garbage collection, the shared event loop):
each bound asserted sits at least 0.5 s from the value that a failure would give.
"""

import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

import numpy as np
import pytest
from _execution_models import SLOW_CALLS, ExplicitDelays, MarkedLinear, marked_coded
from sklearn.linear_model import LinearRegression

from sklearn_coded.execution import (
    InsufficientResultsError,
    LatencyStragglers,
    run_workers,
)


def assert_correct(results, returned, coded, model):
    """Missing rows are NaN; the others equal a direct call of the model on them."""
    assert np.isnan(results[~returned]).all()
    expected = model.decision_function(coded[returned])
    np.testing.assert_allclose(results[returned], expected, rtol=1e-13, atol=1e-13)


def test_without_stragglers_matches_in_process(executor):
    coded, model = marked_coded(6, 5), MarkedLinear()
    results, returned = run_workers(model, "decision_function", coded, executor=executor)
    in_process = run_workers(model, "decision_function", coded)
    assert returned.all()
    np.testing.assert_allclose(results, in_process[0], rtol=1e-13, atol=1e-13)


def test_fixed_stragglers_keep_the_first_n_minus_s_per_request(executor):
    coded, model = marked_coded(6, 4), MarkedLinear()
    results, returned = run_workers(
        model, "decision_function", coded, executor=executor, stragglers=2
    )
    np.testing.assert_array_equal(returned.sum(axis=0), 4)
    # One task per worker: a worker returns all its batches or none.
    assert (returned.all(axis=1) | ~returned.any(axis=1)).all()
    assert_correct(results, returned, coded, model)


def test_latency_stragglers_drop_the_slowest_drawn_workers(executor):
    stragglers = LatencyStragglers(0.0, 0.15, n_stragglers=2)
    delays = stragglers.draw_plan(6, random_state=4).delays
    order = np.argsort(delays)
    assert delays[order[4]] - delays[order[3]] > 0.3  # the seed separates 4th and 5th
    coded, model = marked_coded(6, 3), MarkedLinear()
    results, returned = run_workers(
        model, "decision_function", coded, executor=executor, stragglers=stragglers,
        random_state=4,
    )  # fmt: skip
    np.testing.assert_array_equal(np.flatnonzero(~returned[:, 0]), np.sort(order[4:]))
    assert_correct(results, returned, coded, model)


def test_raising_nonfinite_and_short_workers_are_missing(executor):
    coded = marked_coded(6, 3)
    model = MarkedLinear(raise_on={1}, nonfinite_on={(2, 0): np.nan, (3, 2): np.inf}, short_on={4})
    results, returned = run_workers(model, "decision_function", coded, executor=executor)
    expected = np.ones((6, 3), dtype=bool)
    expected[[1, 4]] = False
    expected[2, 0] = expected[3, 2] = False
    np.testing.assert_array_equal(returned, expected)
    assert_correct(results, returned, coded, MarkedLinear())


def test_too_few_results_raise_with_counts_and_cause(executor):
    model = MarkedLinear(raise_on={0, 1, 2, 3, 4})
    with pytest.raises(InsufficientResultsError) as info:
        run_workers(model, "decision_function", marked_coded(6, 2), executor=executor)
    assert (info.value.n_returned, info.value.n_needed) == (1, 2)
    message = str(info.value)
    assert "Only 1 of 6 workers" in message and "min_results=2" in message
    assert "5 failed (first: ValueError: worker [" in message
    assert isinstance(info.value.__cause__, ValueError)


def test_stragglers_really_stop(executor):
    """A slow worker and a delayed one are stopped; the next request is not slowed."""
    SLOW_CALLS.clear()
    coded = marked_coded(6, 20)
    # Worker 0 computes slowly: 0.1 s per chunk of 1 row, 2 s for its 20 rows.
    # Worker 5 is delayed 30 s before it computes. The master waits for 4.
    model = MarkedLinear(slow_on={0}, seconds=0.1)
    stragglers = ExplicitDelays([0, 0, 0, 0, 0, 30], n_wait=4)
    start = time.monotonic()
    results, returned = run_workers(
        model, "decision_function", coded, executor=executor, stragglers=stragglers,
        chunk_size=1,
    )  # fmt: skip
    returned_at = time.monotonic()
    assert returned_at - start < 1.5
    assert not returned[[0, 5]].any() and returned[1:5].all()
    assert_correct(results, returned, coded, MarkedLinear())

    # Every thread must be free again: 8 workers delayed 0.5 s each take 0.5 s on
    # 8 threads, and at least 2 s if a straggler still held one (worker 0 for its
    # remaining chunks, worker 5 for its 30 s).
    start_second = time.monotonic()
    _, returned = run_workers(
        MarkedLinear(), "decision_function", marked_coded(8, 2), executor=executor,
        stragglers=ExplicitDelays([0.5] * 8),
    )  # fmt: skip
    assert returned.all()
    assert time.monotonic() - start_second < 1.5
    # The slow worker stopped within a few 0.1 s chunks of the first request's end
    # (a dask stop flag takes a scheduler round trip); unstopped, it would have
    # computed all 20 chunks, until about 1.5 s after the request returned.
    # (Tasks go out in a random order: the slow worker may even be stopped before
    # its first chunk, and make no call at all.)
    time.sleep(0.7)
    assert len(SLOW_CALLS) < 20
    assert max((t for _, t in SLOW_CALLS), default=returned_at) < returned_at + 0.6


def test_deadline_and_timeout_cut_late_workers(executor):
    # The deadline counts from sending the tasks, and an in-process dask cluster on
    # a loaded machine can take up to ~0.5 s to start them: 1 s leaves the prompt
    # workers room and stays far from the late workers' 5 s.
    coded, model = marked_coded(6, 2), MarkedLinear()
    for stragglers, timeout in [
        (ExplicitDelays([0, 0, 0, 5, 5, 5], deadline=1.0), None),
        (ExplicitDelays([0, 0, 0, 5, 5, 5]), 1.0),
    ]:
        start = time.monotonic()
        results, returned = run_workers(
            model, "decision_function", coded, executor=executor, stragglers=stragglers,
            timeout=timeout,
        )  # fmt: skip
        assert 1.0 <= time.monotonic() - start < 3.0  # the late workers take 5 s
        np.testing.assert_array_equal(returned[:, 0], [True] * 3 + [False] * 3)
        assert_correct(results, returned, coded, model)


def test_enough_stops_at_the_first_copy_of_each_pair(executor):
    """2-fold replication: workers n and n + 3 hold the same rows."""
    coded = np.concatenate([marked_coded(3, 2)] * 2)
    first_copies = lambda r: r.reshape(2, 3, -1).any(axis=0).all()  # noqa: E731
    start = time.monotonic()
    _results, returned = run_workers(
        MarkedLinear(), "decision_function", coded, executor=executor,
        stragglers=ExplicitDelays([0, 5, 0, 5, 0, 5]), enough=first_copies,
    )  # fmt: skip
    assert time.monotonic() - start < 2.5  # the second copies take 5 s
    np.testing.assert_array_equal(returned[:, 0], [True, False, True, False, True, False])


def test_dask_sends_the_model_once_and_again_after_a_refit(dask_client):
    rng = np.random.default_rng(0)
    model = LinearRegression().fit(rng.normal(size=(30, 4)), rng.normal(size=30))
    coded = rng.normal(size=(5, 3, 4))

    def model_keys():
        # {prefix: [number of workers holding each key with that prefix]}
        return dask_client.run_on_scheduler(
            lambda dask_scheduler: {
                prefix: sorted(
                    len(task.who_has or ())
                    for key, task in dask_scheduler.tasks.items()
                    if str(key).startswith(prefix)
                )
                for prefix in ("LinearRegression-", "sklearn-coded-server-")
            }
        )

    earlier = model_keys()["sklearn-coded-server-"]  # other tests' servers
    for _ in range(3):
        results, _ = run_workers(model, "predict", coded, executor=dask_client)
        np.testing.assert_allclose(
            results[..., 0], model.predict(coded.reshape(15, 4)).reshape(5, 3)
        )
    # One server per worker, each a key of its own held by one worker (the memory
    # manager, which drops extra replicas of a key, has nothing to drop); the
    # scattered copies it was built from are let go.
    n_workers = len(dask_client.scheduler_info()["workers"])
    one_each = {"LinearRegression-": [], "sklearn-coded-server-": earlier + [1] * n_workers}
    deadline = time.monotonic() + 2.0  # the copies are let go once the servers are built
    while model_keys() != one_each:
        assert time.monotonic() < deadline, model_keys()
        time.sleep(0.02)

    model.fit(rng.normal(size=(30, 4)), rng.normal(size=30))  # rebinds coef_: a new model
    results, _ = run_workers(model, "predict", coded, executor=dask_client)
    np.testing.assert_allclose(results[..., 0], model.predict(coded.reshape(15, 4)).reshape(5, 3))
    deadline = time.monotonic() + 2.0  # the old servers are released
    while model_keys() != one_each:
        assert time.monotonic() < deadline, model_keys()
        time.sleep(0.02)


def test_dask_stops_the_stragglers_and_leaves_nothing_on_the_scheduler(dask_client):
    def on_scheduler(dask_scheduler):
        servers = sum(str(key).startswith("sklearn-coded-server-") for key in dask_scheduler.tasks)
        others = len(dask_scheduler.tasks) - servers
        return servers, others, len(dask_scheduler.extensions["events"]._events)

    def running_calls(dask_worker):
        return sum(flag[1] for server in dask_worker.state.actors.values()
                   for flag in server._flags.values())  # fmt: skip

    model = MarkedLinear()
    _, others, _ = dask_client.run_on_scheduler(on_scheduler)
    run_workers(
        model, "decision_function", marked_coded(6, 2), executor=dask_client,
        stragglers=ExplicitDelays([0, 0, 0, 0, 30, 30], n_wait=4),
    )  # fmt: skip
    deadline = time.monotonic() + 2.0  # the stragglers would run for 30 s
    while sum(dask_client.run(running_calls).values()):
        assert time.monotonic() < deadline, dask_client.run(running_calls)
        time.sleep(0.02)
    # the scattered copies the servers were built from are let go: no task, key or
    # event of the request's own stays
    while (on := dask_client.run_on_scheduler(on_scheduler))[1:] != (others, 0):
        assert time.monotonic() < deadline, on
        time.sleep(0.02)
    servers = on[0]
    run_workers(model, "decision_function", marked_coded(6, 2), executor=dask_client)
    # the model's servers (one per worker, built by the first request) serve the next
    again, *rest = dask_client.run_on_scheduler(on_scheduler)
    assert again <= servers and rest == [others, 0]


def test_process_pool_runs_and_stops_stragglers():
    coded, model = marked_coded(4, 3), MarkedLinear()
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        start = time.monotonic()
        # One process: in index order it runs the three prompt tasks before the
        # 60 s straggler (a random order could hand it the straggler first).
        results, returned = run_workers(
            model, "decision_function", coded, executor=pool,
            stragglers=ExplicitDelays([0, 0, 0, 60], n_wait=3), timeout=30,
            submit_order="index",
        )  # fmt: skip
        np.testing.assert_array_equal(returned.all(axis=1), [True, True, True, False])
        assert_correct(results, returned, coded, model)
        # The 60 s straggler is stopped, so the pool shuts down at once.
    assert time.monotonic() - start < 20


def test_soft_deadline_waits_for_the_minimum_then_decodes():
    # Only worker 0 is in by the 0.2 s deadline; decoding needs 2, so the master
    # keeps waiting and decodes as soon as the 1 s workers have come (before,
    # the deadline raised although the results were a moment away).
    coded, model = marked_coded(4, 2), MarkedLinear()
    with ThreadPoolExecutor(max_workers=4) as pool:
        start = time.monotonic()
        results, returned = run_workers(
            model, "decision_function", coded, executor=pool,
            stragglers=ExplicitDelays([0, 1.0, 1.0, 1.0], deadline=0.2),
        )  # fmt: skip
        elapsed = time.monotonic() - start
    assert 1.0 <= elapsed < 2.5
    assert returned[0].all() and (returned.sum(axis=0) >= 2).all()
    assert_correct(results, returned, coded, model)


def test_timeout_decodes_from_whoever_answered_or_fails_clearly(executor):
    coded, model = marked_coded(4, 2), MarkedLinear()
    # A hung worker (30 s) and no stragglers expected: the 1 s timeout ends the
    # request and it is decoded from the three others.
    start = time.monotonic()
    results, returned = run_workers(
        model, "decision_function", coded, executor=executor,
        stragglers=ExplicitDelays([0, 0, 30, 0]), timeout=1.0,
    )  # fmt: skip
    assert 1.0 <= time.monotonic() - start < 3.0
    np.testing.assert_array_equal(returned.all(axis=1), [True, True, False, True])
    assert_correct(results, returned, coded, model)
    # Three hung workers: one result by the timeout is not enough.
    start = time.monotonic()
    with pytest.raises(InsufficientResultsError, match="Only 1 of 4 workers"):
        run_workers(
            model, "decision_function", coded, executor=executor,
            stragglers=ExplicitDelays([30, 0, 30, 30]), timeout=1.0,
        )  # fmt: skip
    assert 1.0 <= time.monotonic() - start < 3.0


def _missed_per_worker(submit_order, n_requests=30):
    """How often each of 8 workers was among the 2 stragglers, on 2 threads."""
    coded = marked_coded(8, 2)
    model = MarkedLinear(slow_on=set(range(8)), seconds=0.005)  # FIFO order shows
    missed = np.zeros(8, dtype=int)
    with ThreadPoolExecutor(max_workers=2) as pool:
        for seed in range(n_requests):
            _, returned = run_workers(
                model, "decision_function", coded, executor=pool, stragglers=2,
                random_state=seed, submit_order=submit_order,
            )  # fmt: skip
            missed += ~returned[:, 0]
    return missed


def test_who_straggles_does_not_depend_on_the_coded_point():
    # Index order: the last-submitted tasks, the highest coded points, miss.
    index = _missed_per_worker("index")
    assert index[6:].sum() >= 0.8 * index.sum()
    # Random order: every worker misses sometimes. Each request misses 2 of 8
    # uniformly, so a given worker is missed 7.5 times in 30 on average and
    # never with probability 0.75^30 = 2e-4.
    random = _missed_per_worker("random")
    assert random.sum() == 60 and (random > 0).all(), random
    # Spread order: the end points (sent first) never miss.
    spread = _missed_per_worker("spread")
    assert spread[[0, 7]].sum() == 0 and spread.sum() == 60, spread


class Holder:
    """A model that holds another, as WorkerResponse holds a coded estimator's estimator_."""

    def __init__(self, inner):
        self.parts = {"inner": [inner]}

    def predict(self, X):
        return self.parts["inner"][0].predict(X)


def test_dask_sees_an_inner_model_refit_in_place(dask_client):
    rng = np.random.default_rng(0)
    inner = LinearRegression().fit(rng.normal(size=(30, 4)), rng.normal(size=30))
    model, coded = Holder(inner), rng.normal(size=(5, 3, 4))

    def server_keys():
        keys = dask_client.run_on_scheduler(lambda dask_scheduler: list(dask_scheduler.tasks))
        return {key for key in keys if str(key).startswith("sklearn-coded-server-")}

    earlier = server_keys()  # other tests' servers
    run_workers(model, "predict", coded, executor=dask_client)
    run_workers(model, "predict", coded, executor=dask_client)
    first = server_keys() - earlier
    n_workers = len(dask_client.scheduler_info()["workers"])
    assert len(first) == n_workers  # one server per worker
    inner.fit(rng.normal(size=(30, 4)), rng.normal(size=30))  # two levels down, in place
    results, _ = run_workers(model, "predict", coded, executor=dask_client)
    assert len(server_keys() - earlier - first) == n_workers  # built again
    np.testing.assert_allclose(results[..., 0], inner.predict(coded.reshape(15, 4)).reshape(5, 3))


def test_a_model_lost_on_dask_mid_request_is_sent_again(dask_client, monkeypatch):
    # The scheduler can forget the model's copies while a request runs (a worker
    # dying under load): every task that needs one is cancelled. The request sends
    # the model again and reruns those tasks, instead of failing with no result.
    from sklearn_coded.execution import _dask

    model, coded = MarkedLinear(), marked_coded(6, 3)
    await_copies = _dask._await_copies
    lost = []

    async def copies_then_lose(client, model, workers, clock):
        copies, failure = await await_copies(client, model, workers, clock)
        if not lost:  # forgotten before the tasks could read them
            await client.cancel(list(copies.values()), asynchronous=True)
            lost.extend(copies.values())
        return copies, failure

    monkeypatch.setattr(_dask, "_await_copies", copies_then_lose)
    results, returned = run_workers(model, "decision_function", coded, executor=dask_client)
    assert lost and {future.status for future in lost} == {"cancelled"}
    assert returned.all()
    assert_correct(results, returned, coded, model)
