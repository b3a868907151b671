"""worker_task: when it reads the stop flag (on dask each read is a scheduler round trip)."""

import threading
import time

import numpy as np

from sklearn_coded.execution._tasks import worker_task


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


def test_every_zero_reads_before_every_chunk():
    rows = np.arange(10.0).reshape(10, 1)
    stop, model = CountingEvent(), Doubler()
    out = worker_task(rows, 0.0, model, "predict", stop, chunk_size=3)
    np.testing.assert_array_equal(out, 2.0 * np.arange(10.0))
    assert (stop.reads, model.calls) == (4, 4)  # before each of the 4 chunks


def test_a_prompt_task_skips_the_reads_within_every():
    rows = np.arange(10.0).reshape(10, 1)
    stop, model = CountingEvent(), Doubler()
    out = worker_task(rows, 0.0, model, "predict", stop, 3, sent_at=time.time(), every=60.0)
    np.testing.assert_array_equal(out, 2.0 * np.arange(10.0))
    assert stop.reads == 0


def test_a_queued_task_reads_first_and_stops():
    rows = np.arange(10.0).reshape(10, 1)
    stop, model = CountingEvent(), Doubler()
    stop.set()  # its request ended while it was queued
    out = worker_task(rows, 0.0, model, "predict", stop, 3, sent_at=time.time() - 1.0, every=0.5)
    assert out is None
    assert (stop.reads, model.calls) == (1, 0)


def test_a_long_task_reads_between_chunks_once_every_has_passed():
    rows = np.arange(12.0).reshape(12, 1)
    stop = CountingEvent()

    class Slow(Doubler):
        def predict(self, X):
            stop.set()  # the request ends during the first chunk
            time.sleep(0.03)
            return super().predict(X)

    model = Slow()
    out = worker_task(rows, 0.0, model, "predict", stop, 1, sent_at=time.time(), every=0.05)
    assert out is None  # stopped before its 12 chunks of 30 ms
    assert 2 <= model.calls < 12  # not before 50 ms had passed
    assert stop.reads == 1  # one read, the one that stopped it


def test_injected_delay_waits_on_the_flag():
    rows = np.ones((2, 1))
    stop = CountingEvent()
    threading.Timer(0.05, stop.set).start()
    start = time.perf_counter()
    out = worker_task(rows, 5.0, Doubler(), "predict", stop, 1, sent_at=time.time(), every=1.0)
    assert out is None
    assert time.perf_counter() - start < 2.0
