"""Running one request on a ``concurrent.futures.Executor`` (see :mod:`._backends`)."""

import contextlib
import os
import queue
import tempfile
import threading
import time
import uuid
import warnings
import weakref
from concurrent.futures import (
    BrokenExecutor,
    CancelledError,
    ProcessPoolExecutor,
    ThreadPoolExecutor,
)
from concurrent.futures.process import BrokenProcessPool
from functools import partial

from ._backends import _clear_when_done, _Clock, _Hedge, _sent_workers
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


#: {a process pool a caller passed: the pool that replaced it once it broke}
_REPLACEMENTS = weakref.WeakKeyDictionary()


def _rebuilt(executor, broken, error):
    """A new ``ProcessPoolExecutor`` like ``broken``, used for ``executor`` from now on.

    A pool whose child process was killed is broken for good: every later
    ``submit`` raises ``BrokenProcessPool``. The new pool has the same size,
    start method and initializer; it replaces the caller's pool in every later
    request until that pool is garbage collected, which shuts it down.
    """
    kwargs = {}
    if getattr(broken, "_max_tasks_per_child", None) is not None:
        kwargs["max_tasks_per_child"] = broken._max_tasks_per_child
    new = ProcessPoolExecutor(
        max_workers=broken._max_workers,
        mp_context=broken._mp_context,
        initializer=broken._initializer,
        initargs=broken._initargs,
        **kwargs,
    )
    with contextlib.suppress(TypeError):  # not weak-referenceable: kept for good
        _REPLACEMENTS[executor] = new
        weakref.finalize(executor, new.shutdown, wait=False, cancel_futures=True)
    broken.shutdown(wait=False, cancel_futures=True)
    warnings.warn(
        f"A child process of the ProcessPoolExecutor passed as executor died and broke "
        f"the pool ({type(error).__name__}: {error}). Its tasks in flight are missing "
        f"workers; this and later requests run on a new ProcessPoolExecutor(max_workers="
        f"{broken._max_workers}) that sklearn_coded starts in its place.",
        RuntimeWarning,
        stacklevel=5,
    )
    return new


def _is_broken(pool):
    return isinstance(pool, ProcessPoolExecutor) and bool(getattr(pool, "_broken", False))


def run_on_executor(
    executor, model, method, coded, plan, *, order, chunk_size, timeout, collection,
    hedge=((), None),
):  # fmt: skip
    """Run one request on a ``concurrent.futures.Executor``; fill ``collection``.

    The model travels with every task (a thread pool shares it; a process pool
    pickles it per task). A broken process pool is replaced by a new one of
    the same size (:func:`_rebuilt`); another broken executor sets
    ``collection.lost``. ``hedge`` is ``(held tasks, hedge_after)``: the held
    tasks are sent ``hedge_after`` seconds after the call, or once a task sent
    at once failed or all of them ended (see ``run_workers``).
    """
    pool = _REPLACEMENTS.get(executor, executor)
    stop = _stop_flag(pool)
    arrivals = queue.SimpleQueue()
    futures = []
    clock = _Clock(plan.deadline, timeout)
    try:
        sent = _sent_workers(plan, order)
        hedge = _Hedge(hedge, sent, clock)
        sent = [worker for worker in sent if worker not in hedge.later]
        try:
            futures = _submit(pool, sent, coded, plan, model, method, stop, chunk_size, arrivals)
        except BrokenExecutor as error:
            if not isinstance(pool, ProcessPoolExecutor):
                collection.lost = (
                    f"the executor {executor!r} is broken ({type(error).__name__}: {error}); "
                    "create a new one and pass it as executor"
                )
                return
            pool = _rebuilt(executor, pool, error)
            arrivals = queue.SimpleQueue()  # without the cancelled tasks' reports
            futures = _submit(pool, sent, coded, plan, model, method, stop, chunk_size, arrivals)
        n_arrived = 0
        while n_arrived < len(futures) or hedge.later:
            if hedge.due(len(futures) - n_arrived):  # the held tasks go out
                futures += _submit(pool, hedge.take(), coded, plan, model, method, stop,
                                   chunk_size, arrivals)  # fmt: skip
            try:
                worker, future = arrivals.get(timeout=hedge.wait(clock.wait()))
            except queue.Empty:
                if clock.ends(collection):
                    break
                continue
            n_arrived += 1
            outcome = _future_outcome(future)
            hedge.saw(outcome)
            if collection.add(worker, outcome) or clock.ends(collection):
                break
    finally:
        stop.set()
        for future in futures:
            future.cancel()  # those not started yet; a running one ends at its next check
        if isinstance(stop, FileFlag):
            _clear_when_done(stop, futures)
    if _is_broken(pool):  # a child died during this request: replace the pool now
        _rebuilt(executor, pool, BrokenProcessPool(pool._broken))


def _submit(pool, sent, coded, plan, model, method, stop, chunk_size, arrivals):
    """Submit the tasks of the workers ``sent``; each reports to ``arrivals`` when done."""
    futures = []
    for worker in sent:
        delay = float(plan.delays[worker])
        try:
            future = pool.submit(worker_task, coded[worker], delay, model, method, stop, chunk_size)
        except BrokenExecutor:
            for started in futures:
                started.cancel()
            raise
        future.add_done_callback(partial(_put_arrival, arrivals, worker))
        futures.append(future)
    return futures


def _put_arrival(arrivals, worker, future):
    arrivals.put((worker, future))
