"""The dask scheduler's bookkeeping of requests stays bounded over many requests."""

import numpy as np
import pytest
from sklearn.linear_model import LinearRegression

from sklearn_coded.execution import run_workers


def _spans_and_groups(dask_scheduler):
    spans = dask_scheduler.extensions["spans"].spans
    return len(spans), sum(len(span.groups) for span in spans.values())


def test_requests_one_after_another_open_no_new_span_or_task_group(dask_client):
    # Each request ends before the next starts, so without the keep-alive task every
    # request would open a new task group, and the scheduler a new span it keeps forever.
    rng = np.random.default_rng(0)
    model = LinearRegression().fit(rng.normal(size=(30, 4)), rng.normal(size=30))
    coded = rng.normal(size=(6, 2, 4))
    run_workers(model, "predict", coded, executor=dask_client, timeout=30)
    first = dask_client.run_on_scheduler(_spans_and_groups)
    for _ in range(5):
        results, returned = run_workers(model, "predict", coded, executor=dask_client, timeout=30)
        assert returned.all()
        np.testing.assert_allclose(
            results[..., 0], model.predict(coded.reshape(12, 4)).reshape(6, 2)
        )
    assert dask_client.run_on_scheduler(_spans_and_groups) == first


def test_a_closed_clients_keep_alive_is_let_go():
    distributed = pytest.importorskip("distributed")
    from sklearn_coded.execution._dask_group import _KEEP, request_name

    with distributed.Client(processes=False, dashboard_address=None, n_workers=1) as client:
        request_name(client)
        assert client in _KEEP
    with distributed.Client(processes=False, dashboard_address=None, n_workers=1) as other:
        request_name(other)
        assert client not in _KEEP and other in _KEEP
