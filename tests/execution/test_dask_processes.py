"""A dask worker process dies in the middle of a request, and the request still decodes."""

import time

import numpy as np
import pytest
from _execution_models import KillsItsProcess, MarkedLinear, marked_coded

from sklearn_coded.execution import run_workers

distributed = pytest.importorskip("distributed")


def test_a_killed_worker_process_is_a_missing_worker():
    # allowed_failures=0: the scheduler fails a task the first time its worker
    # dies instead of running it again elsewhere, so the victim's task ends as
    # an error (KilledWorker) that run_workers must take as a missing worker.
    with (
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=2,
            processes=True,
            dashboard_address="127.0.0.1:0",  # any free port (see conftest.py)
            scheduler_kwargs={"allowed_failures": 0},
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        coded = marked_coded(4, 3)
        # A first request warms the worker processes (imports, the model's scatter).
        _, returned = run_workers(MarkedLinear(), "decision_function", coded, executor=client)
        assert returned.all()

        pids = set(client.run(lambda: __import__("os").getpid()).values())
        start = time.monotonic()
        results, returned = run_workers(
            KillsItsProcess(victim=2, seconds=0.6), "decision_function", coded, executor=client
        )
        elapsed = time.monotonic() - start
        assert not returned[2].any()
        # The 4 tasks spread 2 and 2 over the two 2-thread workers, so at most one
        # other task dies with the victim: >= 2 workers are left to decode from.
        assert returned.all(axis=1).sum() >= 2
        assert (returned.all(axis=1) | ~returned.any(axis=1)).all()
        expected = MarkedLinear().decision_function(coded[returned])
        np.testing.assert_allclose(results[returned], expected, rtol=1e-13, atol=1e-13)
        assert elapsed < 5
        # The victim's process is gone (its nanny starts a new one).
        assert set(client.run(lambda: __import__("os").getpid()).values()) != pids
