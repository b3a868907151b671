"""Real executors: one task per worker, first results kept, the rest stopped.

Two backends share one protocol. Each sends every worker that the plan does
not mark as dead one task (:func:`~._tasks.worker_task` on all its rows), in
the request's submission ``order`` (:func:`submission_order`), feeds the
outcomes to ``collection.add`` in the order they arrive until it answers
"enough", the time limits end the request (:class:`_Clock`) or every task has
ended, and then sets the request's stop flag so that the stragglers end within
one chunk.

- :func:`run_on_executor`, any ``concurrent.futures.Executor``: the flag is a
  ``threading.Event`` for a thread pool, a :class:`FileFlag` for anything else
  (process pools, whose processes share this machine's file system).
- :func:`run_on_dask`, a ``distributed.Client``: the model is scattered to
  every worker once per client and model; the flag is a ``distributed.Event``.
"""

import asyncio
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

#: The submission orders :func:`submission_order` knows.
SUBMIT_ORDERS = ("random", "spread", "index")


def submission_order(kind, n_workers, rng):
    """The order in which one request's N tasks are sent to a real executor.

    Real executors run tasks first in, first out, so with fewer free threads
    than tasks the last-submitted tasks are the late ones, and on dask the
    order also decides which tasks share a (possibly slow) worker process.
    Sending the coded points in index order makes the highest points the
    stragglers of every request, and the decoder then extrapolates at one end
    of the interval (measured in ``benchmarks/bench_execution.py``).

    Parameters
    ----------
    kind : {"random", "spread", "index"}
        ``"random"``: a uniformly random permutation per request, so that who
        is late is independent of the coded point, as the in-process
        simulation assumes. ``"spread"``: the two end points first, then
        midpoints breadth-first by bisection (each level in a random order),
        so that the last-submitted tasks are spread evenly inside the
        interval. ``"index"``: 0, 1, ..., N - 1 (the order before this
        option existed; for comparisons only).
    n_workers : int
        N.
    rng : RandomState
        Draws the permutations.

    Returns
    -------
    order : ndarray of int of shape (n_workers,)
        A permutation of ``range(n_workers)``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_coded.execution._backends import submission_order
    >>> submission_order("index", 5, np.random.RandomState(0))
    array([0, 1, 2, 3, 4])
    >>> np.sort(submission_order("random", 5, np.random.RandomState(0)))
    array([0, 1, 2, 3, 4])
    >>> order = submission_order("spread", 9, np.random.RandomState(0)).tolist()
    >>> sorted(order[:2]), order[2], sorted(order[3:5]), sorted(order[5:])
    ([0, 8], 4, [2, 6], [1, 3, 5, 7])
    """
    if kind == "random":
        return rng.permutation(n_workers)
    if kind == "index":
        return np.arange(n_workers)
    if kind != "spread":
        raise ValueError(f"submit_order must be one of {SUBMIT_ORDERS}; got {kind!r}.")
    order = rng.permutation([0, n_workers - 1][: min(n_workers, 2)]).tolist()
    level = [(0, n_workers - 1)]
    while level:
        next_level, mids = [], []
        for lo, hi in level:
            mid = (lo + hi) // 2
            if lo < mid < hi:
                mids.append(mid)
                next_level += [(lo, mid), (mid, hi)]
        order += rng.permutation(mids).tolist() if mids else []
        level = next_level
    return np.asarray(order, dtype=int)


def _sent_workers(plan, order):
    """Workers that get a task, in submission order: those not marked as never returning."""
    return np.asarray([w for w in order if np.isfinite(plan.delays[w])], dtype=int)


class _Clock:
    """The time limits of one request, counted from sending its tasks.

    ``deadline`` (the straggler plan's) is soft: once it has passed, collection
    ends as soon as every batch has ``min_results`` rows, which may be at once
    or later. ``timeout`` (the caller's) is hard: collection ends then, and the
    request is decoded from whoever answered if that is enough, else it fails.
    """

    def __init__(self, deadline, timeout):
        self.start = time.monotonic()
        self.deadline = deadline
        self.timeout = timeout

    def wait(self):
        """Seconds until the next limit that can end collection (None: no limit)."""
        elapsed = time.monotonic() - self.start
        limits = [t for t in (self.deadline, self.timeout) if t is not None and t > elapsed]
        if self.timeout is not None and not limits:
            return 0.0
        return min(limits) - elapsed if limits else None

    def ends(self, collection):
        """True once the limits end collection, given what ``collection`` holds."""
        elapsed = time.monotonic() - self.start
        if self.timeout is not None and elapsed >= self.timeout:
            return True
        return self.deadline is not None and elapsed >= self.deadline and collection.has_minimum()


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


# --- dask.distributed ---------------------------------------------------------------------------

#: Newer requests get a higher dask priority, so that tasks of an earlier request
#: that are stopped but still queued never delay the tasks of a later one.
_PRIORITY = itertools.count(1)

#: Per client: {id(model): _Scattered}. An entry's future holds its client, so
#: the weak keys alone would not free a closed client: closed ones are dropped.
_SCATTERED = weakref.WeakKeyDictionary()


#: Most objects an attribute snapshot visits; a larger object graph is checked
#: only this far (in a deterministic order, so a change there is still seen).
_SNAPSHOT_LIMIT = 20_000


#: Seconds after a broadcast that timed out during which requests send the model
#: inside their tasks instead of trying the broadcast again.
BROADCAST_RETRY = 30.0


class _Scattered:
    """A model broadcast to a client's workers (or a failed broadcast), and the model then."""

    def __init__(self, model, future):
        self.future = future  # None: the broadcast timed out at self.failed_at
        self.failed_at = time.monotonic()
        self.snapshot = _attribute_snapshot(model)
        try:
            self.model = weakref.ref(model)
        except TypeError:  # not weak-referenceable: hold it, and its entry, for good
            self.model = lambda: model

    def is_current(self, model):
        """True while the scattered copy can stand in for ``model``."""
        if self.future is None:
            usable = time.monotonic() - self.failed_at < BROADCAST_RETRY
        else:
            usable = self.future.status == "finished"
        return (
            usable
            and self.model() is model
            and _same_snapshot(self.snapshot, _attribute_snapshot(model))
        )


#: Values a snapshot holds but does not look inside.
_SNAPSHOT_LEAVES = (str, bytes, int, float, complex, type(None), np.ndarray, np.generic, type)


def _attribute_snapshot(model):
    """Every object reachable from the model's attributes, in a fixed order.

    A depth-first walk through instance attributes, lists, tuples, sets and
    dicts (keys and values), holding each object (so that its id cannot be
    reused). Refitting the model, or an inner estimator of it in place
    (``coded.estimator_.fit(...)``), rebinds some attribute somewhere to a new
    object, which changes the snapshot; changes made inside an array or a
    tensor are not seen (see run_workers' Notes).
    """
    objects, seen, stack = [], set(), [model]
    while stack and len(objects) < _SNAPSHOT_LIMIT:
        obj = stack.pop()
        objects.append(obj)
        if isinstance(obj, _SNAPSHOT_LEAVES) or id(obj) in seen:
            continue
        seen.add(id(obj))
        if isinstance(obj, list | tuple):
            children = list(obj)
        elif isinstance(obj, set | frozenset):
            children = sorted(obj, key=id)
        elif isinstance(obj, dict):
            children = [item for pair in obj.items() for item in pair]
        else:
            try:
                children = list(vars(obj).values())
            except TypeError:  # no __dict__ (slots, C objects): compared by identity only
                children = []
        stack.extend(reversed(children))
    return objects


def _same_snapshot(old, new):
    return len(old) == len(new) and all(a is b for a, b in zip(old, new, strict=True))


async def _broadcast(client, model, timeout):
    # Client.scatter's own timeout does not bound the broadcast's replication step.
    scatter = client.scatter(model, broadcast=True, hash=False, asynchronous=True)
    return await asyncio.wait_for(scatter, timeout)


def _scattered_model(client, model, timeout=None):
    """A future of ``model`` on every worker of ``client``, sent once and then reused.

    A broadcast waits for every worker, so one frozen worker would hang it: with
    a ``timeout``, it waits at most half of it, and if it has not finished by
    then the model itself is returned, to travel inside the tasks of this
    request and of the next ones for ``BROADCAST_RETRY`` seconds (after which a
    request tries the broadcast again).
    """
    for closed in [other for other in list(_SCATTERED) if other.status in ("closing", "closed")]:
        del _SCATTERED[closed]
    entries = _SCATTERED.setdefault(client, {})
    entry = entries.get(id(model))
    if entry is None or not entry.is_current(model):
        # hash=False: a random key; hashing the content would cost a pickle of
        # the model, which is what the cache is there to avoid.
        try:
            future = client.sync(
                _broadcast, client, model, None if timeout is None else timeout / 2
            )
        except TimeoutError:
            future = None
        entries[id(model)] = entry = _Scattered(model, future)
        if isinstance(entry.model, weakref.ref):
            weakref.finalize(model, entries.pop, id(model), None)
    return model if entry.future is None else entry.future


def _dask_outcome(future, value):
    """The result, or the exception, of a finished dask future from ``as_completed``."""
    if future.status == "finished":
        return value
    if future.status == "error":
        return value[1]  # as_completed(raise_errors=False) gives (type, exception, traceback)
    return value if isinstance(value, BaseException) else CancelledError(future.status)


async def _collect_dask(client, futures, workers, clock, collection):
    from distributed import as_completed

    # The async iterator: the blocking one polls and can oversleep a wake-up.
    arrived = as_completed(futures, loop=client.loop, with_results=True, raise_errors=False)
    while True:
        try:
            future, value = await asyncio.wait_for(arrived.__anext__(), clock.wait())
        except StopAsyncIteration:
            return  # every task has ended
        except TimeoutError:
            if clock.ends(collection):
                return
            continue
        if collection.add(workers[future.key], _dask_outcome(future, value)):
            return
        if clock.ends(collection):
            return


def run_on_dask(client, model, method, coded, plan, *, order, chunk_size, timeout, collection):
    """Run one request on a ``distributed.Client``; fill ``collection``.

    If the scattered model is lost during the request (the scheduler forgets it,
    for example when a worker dies under load, and cancels every task that needs
    it) and too few results arrived, the model is sent again and the request's
    tasks once more, within the same time limits.
    """
    if client.asynchronous:
        raise ValueError(
            f"executor={client!r} is an asynchronous client; run_workers needs a blocking one."
        )
    clock = None
    for attempt in range(2):
        model_future = _scattered_model(client, model, timeout)
        if clock is None:  # the limits count from sending the first tasks
            clock = _Clock(plan.deadline, timeout)
        _send_and_collect(
            client, model_future, method, coded, plan, order, chunk_size, clock, collection
        )
        lost = getattr(model_future, "status", "finished") != "finished"
        if attempt or not lost or collection.has_minimum() or clock.ends(collection):
            return


def _send_and_collect(
    client, model_future, method, coded, plan, order, chunk_size, clock, collection
):
    from distributed import Event

    stop = Event(f"sklearn-coded-stop-{uuid.uuid4().hex}", client=client)
    sent = _sent_workers(plan, order)
    keys = [f"sklearn-coded-{method}-{stop.name[-32:]}-{worker}" for worker in sent]
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
        client.sync(_collect_dask, client, futures, workers, clock, collection)
    finally:
        stop.set()
        _clear_when_done(stop, futures)
