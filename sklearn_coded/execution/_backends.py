"""Real executors: one task per worker, first results kept, the rest stopped.

Two backends share one protocol. Each sends every worker that the plan does
not mark as dead one task (:func:`~._tasks.worker_task` on all its rows), feeds
the outcomes to ``collection.add`` in the order they arrive until it answers
"enough", the deadline passes or every task has ended, and then sets the
request's stop flag so that the stragglers end within one chunk.

- :func:`run_on_executor`, any ``concurrent.futures.Executor``: the flag is a
  ``threading.Event`` for a thread pool, a :class:`FileFlag` for anything else
  (process pools, whose processes share this machine's file system).
- :func:`run_on_dask`, a ``distributed.Client``: the model is scattered to
  every worker once per client and model; the flag is a ``distributed.Event``.
"""

import contextlib
import itertools
import os
import queue
import tempfile
import threading
import time
import uuid
import weakref
from concurrent.futures import CancelledError, ThreadPoolExecutor
from functools import partial

import numpy as np

from ._tasks import worker_task


def _deadline(plan_deadline, timeout):
    """Seconds from sending the tasks after which collection ends, or None."""
    limits = [t for t in (plan_deadline, timeout) if t is not None]
    return min(limits) if limits else None


def _sent_workers(plan):
    """Workers that get a task: those the plan does not mark as never returning."""
    return np.flatnonzero(np.isfinite(plan.delays))


def _clear_when_done(stop, futures):
    """Clear a request's shared stop flag once none of its tasks can still read it.

    A set ``distributed.Event`` lives on the scheduler, and a ``FileFlag`` on
    disk, until cleared; clearing it while a stopped task still runs would let
    that task go on.
    """
    pending = [future for future in futures if not future.done()]
    if not pending:
        _clear_flag(stop)
        return
    lock = threading.Lock()
    remaining = [len(pending)]

    def one_done(_):
        with lock:
            remaining[0] -= 1
            last = remaining[0] == 0
        if last:
            _clear_flag(stop)

    for future in pending:
        future.add_done_callback(one_done)


def _clear_flag(stop):
    # If the client or the scheduler has closed, nothing is left to clear.
    with contextlib.suppress(Exception):
        stop.clear()


# --- concurrent.futures ---------------------------------------------------------------------


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


def run_on_executor(executor, model, method, coded, plan, *, chunk_size, timeout, collection):
    """Run one request on a ``concurrent.futures.Executor``; fill ``collection``.

    The model travels with every task (a thread pool shares it; a process pool
    pickles it per task).
    """
    stop = _stop_flag(executor)
    arrivals = queue.SimpleQueue()
    futures = []
    limit = _deadline(plan.deadline, timeout)
    start = time.monotonic()
    try:
        for worker in _sent_workers(plan):
            delay = float(plan.delays[worker])
            future = executor.submit(
                worker_task, coded[worker], delay, model, method, stop, chunk_size
            )
            future.add_done_callback(partial(_put_arrival, arrivals, worker))
            futures.append(future)
        for _ in futures:
            wait = None if limit is None else max(0.0, start + limit - time.monotonic())
            try:
                worker, future = arrivals.get(timeout=wait)
            except queue.Empty:
                break  # deadline
            if collection.add(worker, _future_outcome(future)):
                break
    finally:
        stop.set()
        for future in futures:
            future.cancel()  # those not started yet; a running one ends at its next check
        if isinstance(stop, FileFlag):
            _clear_when_done(stop, futures)


def _put_arrival(arrivals, worker, future):
    arrivals.put((worker, future))


# --- dask.distributed ---------------------------------------------------------------------------

#: Newer requests get a higher dask priority, so that tasks of an earlier request
#: that are stopped but still queued never delay the tasks of a later one.
_PRIORITY = itertools.count(1)

#: Per client: {id(model): _Scattered}. An entry's future holds its client, so
#: the weak keys alone would not free a closed client: closed ones are dropped.
_SCATTERED = weakref.WeakKeyDictionary()


class _Scattered:
    """A model broadcast to a client's workers, and what it looked like then."""

    def __init__(self, model, future):
        self.future = future
        self.snapshot = _attribute_snapshot(model)
        try:
            self.model = weakref.ref(model)
        except TypeError:  # not weak-referenceable: hold it, and its entry, for good
            self.model = lambda: model

    def is_current(self, model):
        """True while the scattered copy can stand in for ``model``."""
        return (
            self.model() is model
            and self.future.status == "finished"
            and _same_snapshot(self.snapshot, _attribute_snapshot(model))
        )


def _attribute_snapshot(model):
    """The model's attribute values (held, so that their ids cannot be reused)."""
    return dict(vars(model)) if hasattr(model, "__dict__") else None


def _same_snapshot(old, new):
    # Refitting, set_params or any attribute assignment rebinds an attribute to
    # a new object and forces a new scatter; in-place changes inside an array
    # or tensor are not seen (see run_workers' Notes).
    if old is None or new is None:
        return old is new
    return old.keys() == new.keys() and all(new[name] is value for name, value in old.items())


def _scattered_model(client, model):
    """A future of ``model`` on every worker of ``client``, sent once and then reused."""
    for closed in [other for other in list(_SCATTERED) if other.status in ("closing", "closed")]:
        del _SCATTERED[closed]
    entries = _SCATTERED.setdefault(client, {})
    entry = entries.get(id(model))
    if entry is None or not entry.is_current(model):
        # hash=False: a random key; hashing the content would cost a pickle of
        # the model, which is what the cache is there to avoid.
        future = client.scatter(model, broadcast=True, hash=False)
        entries[id(model)] = entry = _Scattered(model, future)
        if isinstance(entry.model, weakref.ref):
            weakref.finalize(model, entries.pop, id(model), None)
    return entry.future


def _dask_outcome(future, value):
    """The result, or the exception, of a finished dask future from ``as_completed``."""
    if future.status == "finished":
        return value
    if future.status == "error":
        return value[1]  # as_completed(raise_errors=False) gives (type, exception, traceback)
    return value if isinstance(value, BaseException) else CancelledError(future.status)


async def _collect_dask(client, futures, workers, limit, collection):
    from distributed import as_completed

    # The async iterator: the blocking one polls and can oversleep a wake-up.
    arrived = as_completed(
        futures, loop=client.loop, with_results=True, raise_errors=False, timeout=limit
    )
    try:
        async for future, value in arrived:
            if collection.add(workers[future.key], _dask_outcome(future, value)):
                return
    except TimeoutError:
        return  # deadline


def run_on_dask(client, model, method, coded, plan, *, chunk_size, timeout, collection):
    """Run one request on a ``distributed.Client``; fill ``collection``."""
    from distributed import Event

    if client.asynchronous:
        raise ValueError(
            f"executor={client!r} is an asynchronous client; run_workers needs a blocking one."
        )
    model_future = _scattered_model(client, model)
    stop = Event(f"sklearn-coded-stop-{uuid.uuid4().hex}", client=client)
    sent = _sent_workers(plan)
    keys = [f"sklearn-coded-{method}-{stop.name[-32:]}-{worker}" for worker in sent]
    limit = _deadline(plan.deadline, timeout)
    futures = client.map(
        worker_task,
        [coded[worker] for worker in sent],
        [float(delay) for delay in plan.delays[sent]],
        model=model_future,
        method=method,
        stop=stop,
        chunk_size=chunk_size,
        key=keys,
        pure=False,
        priority=next(_PRIORITY),
    )
    workers = dict(zip(keys, sent, strict=True))
    try:
        client.sync(_collect_dask, client, futures, workers, limit, collection)
    finally:
        stop.set()
        _clear_when_done(stop, futures)
