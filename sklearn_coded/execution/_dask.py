"""Running one request on a ``distributed.Client`` (see :mod:`._backends`)."""

import asyncio
import itertools
import time
import uuid
import weakref
from concurrent.futures import CancelledError

import numpy as np

from ._backends import _clear_when_done, _Clock, _sent_workers
from ._tasks import worker_task

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
