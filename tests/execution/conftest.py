"""Executors shared by the execution tests: a thread pool and an in-process dask cluster."""

from concurrent.futures import ThreadPoolExecutor

import pytest

#: Threads of each shared executor: enough for every worker of a test at once.
N_THREADS = 8


@pytest.fixture(scope="module")
def thread_pool():
    with ThreadPoolExecutor(max_workers=N_THREADS) as pool:
        yield pool


@pytest.fixture(scope="module")
def dask_client():
    distributed = pytest.importorskip("distributed")
    with (
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=N_THREADS // 2,
            processes=False,
            # Any free port: with None the HTTP server still takes 8787 and warns
            # (an error under -W error) when another cluster holds it.
            dashboard_address="127.0.0.1:0",
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client


@pytest.fixture(params=["threads", "dask"])
def executor(request):
    """Each real executor in turn."""
    return request.getfixturevalue({"threads": "thread_pool", "dask": "dask_client"}[request.param])
