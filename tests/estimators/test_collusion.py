"""A dask worker process never computes more coded rows of a batch than n_private covers."""

from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

import numpy as np
import pytest
from sklearn.linear_model import Ridge

from sklearn_coded.estimators import CodedRegressor
from sklearn_coded.estimators._certify import check_process_collusion
from sklearn_coded.execution import CollusionError, run_workers

distributed = pytest.importorskip("distributed")


def _fitted(executor, n_private=2):
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(40, 3)), rng.normal(size=40)
    reg = CodedRegressor(
        Ridge(),
        scheme="lagrange",  # exact for an affine f, noise padding included
        batch_size=4,
        n_coded=16,
        n_private=n_private,
        leakage_budget=None,
    ).fit(X, y)
    return reg.set_params(executor=executor), X


def _cluster(n_workers, threads=1):
    return distributed.LocalCluster(
        n_workers=n_workers,
        threads_per_worker=threads,
        processes=False,
        dashboard_address="127.0.0.1:0",
    )


def test_two_processes_holding_eight_coded_rows_each_are_refused_eight_are_not():
    rng = np.random.default_rng(1)
    for n_workers, threads, refused in ((2, 1, True), (4, 2, True), (8, 1, False)):
        with _cluster(n_workers, threads) as cluster, distributed.Client(cluster) as client:
            reg, X = _fitted(client)
            if refused:  # ceil(16 / W) = 8 (or 2 threads x 2 rows = 4) coded rows > T = 2
                rows = 16 // n_workers
                with pytest.raises(CollusionError, match=rf"compute {rows} of the 16 coded rows"):
                    reg.predict(X[:16])
            else:  # 2 coded rows per process: decoded exactly, as in process
                np.testing.assert_allclose(
                    reg.predict(X[:16]), reg.estimator_.predict(X[:16]), atol=1e-8
                )
            # the run itself checks the placement it made, before sending anything
            coded = rng.normal(size=(16, 3, 3))
            if refused:
                with pytest.raises(CollusionError, match="Nothing was sent"):
                    run_workers(reg.estimator_, "predict", coded, executor=client,
                                tasks="auto", max_per_process=2)  # fmt: skip
            results, returned = run_workers(
                reg.estimator_, "predict", coded, executor=client, tasks="auto",
                max_per_process=16 // n_workers, timeout=30,
            )  # fmt: skip
            assert returned.all()
            np.testing.assert_allclose(results[..., 0], reg.estimator_.predict(
                coded.reshape(-1, 3)).reshape(16, 3))  # fmt: skip


def test_the_bound_counts_the_threads_of_each_process():
    # A 3-thread and a 1-thread worker: 4 tasks of 4 coded rows, 3 of them on the
    # first process (12 rows); counting processes alone would say ceil(16 / 2) = 8.
    spec = {"cls": distributed.Worker, "options": {"nthreads": 3}}
    workers = {"big": spec, "small": {**spec, "options": {"nthreads": 1}}}
    scheduler = {"cls": distributed.Scheduler, "options": {"dashboard_address": ":0"}}
    with (
        distributed.SpecCluster(workers=workers, scheduler=scheduler) as cluster,
        distributed.Client(cluster) as client,
    ):
        with pytest.raises(CollusionError, match=r"compute 12 of the 16"):
            check_process_collusion(client, 16, 11)
        check_process_collusion(client, 16, 12)
        check_process_collusion(client, 16, 0)  # no padding, nothing to protect
        reg, _ = _fitted(client)
        coded = np.random.default_rng(2).normal(size=(16, 2, 3))
        with pytest.raises(CollusionError, match=r"compute 12 of the 16"):
            run_workers(reg.estimator_, "predict", coded, executor=client, tasks="auto",
                        max_per_process=11)  # fmt: skip
        assert run_workers(reg.estimator_, "predict", coded, executor=client, tasks="auto",
                           max_per_process=12, timeout=30)[1].all()  # fmt: skip


def test_threads_process_pools_and_no_executor_are_this_machine_and_not_checked():
    with ThreadPoolExecutor(2) as threads, ProcessPoolExecutor(2) as processes:
        for executor in (None, threads, processes):
            check_process_collusion(executor, 16, 1)
        reg, X = _fitted(threads)
        assert np.isfinite(reg.predict(X[:16])).all()
