"""A worker process that holds more coded rows than n_private covers is named (leakage_)."""

import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from sklearn.linear_model import Ridge

from sklearn_coded.estimators import CodedRegressor, CollusionWarning


def _fitted(executor):
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(40, 3)), rng.normal(size=40)
    return CodedRegressor(
        Ridge(), batch_size=4, n_coded=16, n_private=2, leakage_budget=None, executor=executor
    ).fit(X, y), X


def test_each_of_two_dask_workers_holding_eight_coded_rows_is_named():
    distributed = pytest.importorskip("distributed")
    for n_workers, warned in ((2, True), (8, False)):  # ceil(N / W) = 8 and 2 vs T = 2
        with (
            distributed.LocalCluster(
                n_workers=n_workers,
                threads_per_worker=1,
                processes=False,
                dashboard_address="127.0.0.1:0",
            ) as cluster,
            distributed.Client(cluster) as client,
        ):
            reg, X = _fitted(client)
            if warned:
                with pytest.warns(CollusionWarning, match=r"each receives about 8 of them"):
                    reg.predict(X[:16])
            else:
                with warnings.catch_warnings():
                    warnings.simplefilter("error", CollusionWarning)
                    reg.predict(X[:16])


def test_threads_of_this_process_and_no_executor_are_not_named():
    with ThreadPoolExecutor(2) as pool, warnings.catch_warnings():
        warnings.simplefilter("error", CollusionWarning)
        for executor in (None, pool):
            reg, X = _fitted(executor)
            assert np.isfinite(reg.predict(X[:16])).all()


def test_a_process_pool_counts_its_processes_and_the_layerwise_plan_is_checked_alike():
    from concurrent.futures import ProcessPoolExecutor
    from types import SimpleNamespace

    from sklearn_coded.estimators._certify import warn_process_collusion, worker_processes

    pool = ProcessPoolExecutor(3)  # no process starts before a submit
    try:
        assert worker_processes(pool) == 3 and worker_processes(None) is None
        with pytest.warns(CollusionWarning, match=r"3 worker processes: each receives about 6"):
            warn_process_collusion(pool, SimpleNamespace(n_coded=18, n_private=2))
        with warnings.catch_warnings():
            warnings.simplefilter("error", CollusionWarning)
            warn_process_collusion(pool, SimpleNamespace(n_coded=18, n_private=6))
    finally:
        pool.shutdown()
