"""worker_task and ModelServer: when a task reads its stop flag, and what a stop skips."""

import threading
import time

import numpy as np

from sklearn_coded.execution import run_workers
from sklearn_coded.execution._tasks import ModelServer, current_call, worker_task


class CountingEvent(threading.Event):
    """A real threading.Event that counts how often a task reads it."""

    def __init__(self):
        super().__init__()
        self.reads = 0

    def is_set(self):
        self.reads += 1
        return super().is_set()


class Doubler:
    def __init__(self):
        self.calls = 0

    def predict(self, X):
        self.calls += 1
        return 2.0 * X[:, 0]


def test_reads_the_flag_before_every_chunk():
    rows = np.arange(10.0).reshape(10, 1)
    stop, model = CountingEvent(), Doubler()
    out = worker_task(rows, 0.0, model, "predict", stop, chunk_size=3)
    np.testing.assert_array_equal(out, 2.0 * np.arange(10.0))
    assert (stop.reads, model.calls) == (4, 4)  # before each of the 4 chunks


def test_a_queued_task_reads_first_and_stops():
    rows = np.arange(10.0).reshape(10, 1)
    stop, model = CountingEvent(), Doubler()
    stop.set()  # its request ended while it was queued
    out = worker_task(rows, 0.0, model, "predict", stop, 3)
    assert out is None
    assert (stop.reads, model.calls) == (1, 0)


def test_a_long_task_stops_between_chunks():
    rows = np.arange(12.0).reshape(12, 1)
    stop = CountingEvent()

    class Slow(Doubler):
        def predict(self, X):
            if self.calls == 1:
                stop.set()  # the request ends during the second chunk
            return super().predict(X)

    model = Slow()
    assert worker_task(rows, 0.0, model, "predict", stop, 1) is None
    assert model.calls == 2 and stop.reads == 3


def test_injected_delay_waits_on_the_flag():
    rows = np.ones((2, 1))
    stop = CountingEvent()
    threading.Timer(0.05, stop.set).start()
    start = time.perf_counter()
    out = worker_task(rows, 5.0, Doubler(), "predict", stop, 1)
    assert out is None
    assert time.perf_counter() - start < 2.0


def test_a_server_skips_the_calls_of_a_stopped_request(dask_client):
    client = dask_client
    model = Doubler()
    address = sorted(client.scheduler_info()["workers"])[0]
    server = client.submit(ModelServer, model, actor=True, workers=[address]).result()
    rows = np.arange(4.0).reshape(4, 1)
    out = server.run("a", "a-predict-0", rows, 0.0, "predict", 2).result()
    np.testing.assert_array_equal(out, 2 * rows[:, 0])
    server.stop("b").result()  # a call that arrives after its request's stop
    assert server.run("b", "b-predict-0", rows, 0.0, "predict", 2).result() is None
    # a call stopped while it waits (its injected delay) returns at once
    call = server.run("c", "c-predict-0", rows, 30.0, "predict", 2)
    time.sleep(0.05)
    start = time.perf_counter()
    server.stop("c").result()
    assert call.result() is None and time.perf_counter() - start < 2.0
    [(calls, flags)] = client.run(lambda dask_worker: next(
        (s.model.calls, {name: flag[1] for name, flag in s._flags.items()})
        for s in dask_worker.state.actors.values() if isinstance(s.model, Doubler)
    ), workers=[address]).values()  # fmt: skip
    assert calls == 2  # the two chunks of "a"; nothing of "b" or "c"
    # the finished request is forgotten; stopped ones are kept (STOP_KEPT s), none running
    assert flags == {"b": 0, "c": 0}


class WhereAmI:
    """Outputs 10 x (a call is named) + the name of the dask worker computing it."""

    def predict(self, X):
        from distributed import get_worker

        named = current_call() is not None
        return np.full(len(X), 10.0 * named + float(get_worker().name))


def test_a_model_on_a_server_sees_its_worker_and_its_call(dask_client):
    coded = np.zeros((4, 3, 1))
    results, returned = run_workers(WhereAmI(), "predict", coded, executor=dask_client)
    names = {float(info["name"]) for info in dask_client.scheduler_info()["workers"].values()}
    assert returned.all() and set(np.unique(results)) <= {10.0 + name for name in names}
