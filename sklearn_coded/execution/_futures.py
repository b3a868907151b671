"""Running one request on a ``concurrent.futures.Executor`` (see :mod:`._backends`)."""

import contextlib
import os
import queue
import tempfile
import threading
import time
import uuid
from concurrent.futures import CancelledError, ThreadPoolExecutor
from functools import partial

from ._backends import _clear_when_done, _Clock, _sent_workers
from ._tasks import worker_task


class FileFlag:
    """A stop flag shared by the processes of this machine: set once its file exists.

    It has the ``threading.Event`` methods that a task uses and pickles as a
    path, so a process pool needs no manager process (whose start would
    re-import the caller's main module). A wait polls every ``poll`` seconds.
    """

    poll = 0.005

    def __init__(self):
        self.path = os.path.join(tempfile.gettempdir(), f"sklearn-coded-stop-{uuid.uuid4().hex}")

    def is_set(self):
        return os.path.exists(self.path)

    def set(self):
        with open(self.path, "a"):
            pass

    def clear(self):
        with contextlib.suppress(FileNotFoundError):
            os.remove(self.path)

    def wait(self, timeout=None):
        end = None if timeout is None else time.monotonic() + timeout
        while not self.is_set():
            left = self.poll if end is None else min(self.poll, end - time.monotonic())
            if left <= 0:
                return False
            time.sleep(left)
        return True


def _stop_flag(executor):
    return threading.Event() if isinstance(executor, ThreadPoolExecutor) else FileFlag()


def _future_outcome(future):
    if future.cancelled():
        return CancelledError("the task was cancelled")
    error = future.exception()
    return future.result() if error is None else error


def run_on_executor(
    executor, model, method, coded, plan, *, order, chunk_size, timeout, collection
):
    """Run one request on a ``concurrent.futures.Executor``; fill ``collection``.

    The model travels with every task (a thread pool shares it; a process pool
    pickles it per task).
    """
    stop = _stop_flag(executor)
    arrivals = queue.SimpleQueue()
    futures = []
    clock = _Clock(plan.deadline, timeout)
    try:
        for worker in _sent_workers(plan, order):
            delay = float(plan.delays[worker])
            future = executor.submit(
                worker_task, coded[worker], delay, model, method, stop, chunk_size
            )
            future.add_done_callback(partial(_put_arrival, arrivals, worker))
            futures.append(future)
        n_arrived = 0
        while n_arrived < len(futures):
            try:
                worker, future = arrivals.get(timeout=clock.wait())
            except queue.Empty:
                if clock.ends(collection):
                    break
                continue
            n_arrived += 1
            if collection.add(worker, _future_outcome(future)) or clock.ends(collection):
                break
    finally:
        stop.set()
        for future in futures:
            future.cancel()  # those not started yet; a running one ends at its next check
        if isinstance(stop, FileFlag):
            _clear_when_done(stop, futures)


def _put_arrival(arrivals, worker, future):
    arrivals.put((worker, future))
