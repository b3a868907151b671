"""Requests add nothing to the dask scheduler's bookkeeping, and a closed client's is let go."""

import gc
import time

import numpy as np
import pytest
from _execution_models import ExplicitDelays, MarkedLinear, marked_coded
from sklearn.linear_model import LinearRegression

from sklearn_coded.execution import run_workers

distributed = pytest.importorskip("distributed")


def _bookkeeping(dask_scheduler):
    """Everything the scheduler keeps per task submission: tasks, groups, spans, prefixes."""
    spans = dask_scheduler.extensions["spans"].spans
    return {
        "tasks": len(dask_scheduler.tasks),
        "task groups": len(dask_scheduler.task_groups),
        "task prefixes": len(dask_scheduler.task_prefixes),
        "spans": len(spans),
        "span groups": sum(len(span.groups) for span in spans.values()),
        "events": len(dask_scheduler.extensions["events"]._events),
    }


def test_requests_add_nothing_to_the_scheduler():
    rng = np.random.default_rng(0)
    model = LinearRegression().fit(rng.normal(size=(30, 4)), rng.normal(size=30))
    coded = rng.normal(size=(6, 2, 4))
    with distributed.Client(processes=False, dashboard_address=":0", n_workers=2) as client:
        run_workers(model, "predict", coded, executor=client, timeout=30)  # builds the servers
        deadline = time.monotonic() + 2  # the copies the servers were built from are let go
        while (first := client.run_on_scheduler(_bookkeeping))["tasks"] != 2:
            assert time.monotonic() < deadline, first  # one server per worker
            time.sleep(0.02)
        for seed in range(5):
            results, returned = run_workers(
                model, "predict", coded, executor=client, timeout=30, stragglers=2,
                random_state=seed,
            )  # fmt: skip
            assert returned.sum(axis=0).min() >= 4
            np.testing.assert_allclose(
                results[returned, 0], model.predict(coded[returned]), rtol=1e-12
            )
        assert client.run_on_scheduler(_bookkeeping) == first


def test_a_closed_clients_servers_and_stragglers_are_let_go():
    from sklearn_coded.execution._dask import _BACKLOG, _COPIES

    def serve(client):
        run_workers(
            MarkedLinear(), "decision_function", marked_coded(4, 2), executor=client,
            stragglers=ExplicitDelays([0, 0, 0, 30], n_wait=3),
        )  # fmt: skip

    with distributed.Client(processes=False, dashboard_address=":0", n_workers=1) as client:
        serve(client)  # the straggler's call is kept until it answers
        assert client in _BACKLOG and client in _COPIES
    with distributed.Client(processes=False, dashboard_address=":0", n_workers=1) as other:
        serve(other)
        gc.collect()
        assert client not in _BACKLOG and client not in _COPIES
        assert other in _BACKLOG and other in _COPIES
