"""Running one request on a ``distributed.Client`` (see :mod:`._backends`).

Everything a request does runs in one coroutine on the client's event loop and
is bounded by the request's :class:`~._backends._Clock`, from the call on:

- **The model, one copy per worker.** It is scattered to every running worker
  under a key of its own (:class:`_Copies`), once per client and model, and
  each task reads the copy on the worker it is pinned to. dask's Active
  Memory Manager drops extra *replicas* of a key within seconds, which left a
  broadcast model on one worker that, frozen, stalled every request; a key
  with one replica is never dropped, so no request depends on one worker
  holding the only copy. A worker that joins (or whose copy was lost) gets its
  copy in the background; a request waits only while no worker has one.
- **Tasks pinned to the workers holding copies**, spread over their threads
  in submission order, and sent in graphs of at most :data:`GRAPH_BYTES`, so
  that dask does not warn about large graphs.
- **Results fetched one by one from the worker that computed them** (one hop;
  through the scheduler when that worker no longer has it) within the time
  limit: a result held by a frozen worker delays only itself (the client's
  shared gather waits for every key it fetches, and logs a warning per failure).
- **Few scheduler round trips per request**: the list of running workers is
  reused for :data:`WORKERS_TTL` seconds, a task reads the stop flag at most
  every :data:`FLAG_EVERY` seconds (one that starts sooner after being sent
  computes without asking), and the flag is set only while a task of the
  request is still running.
- **Nothing left behind**: a finished request cancels its queued tasks and
  clears its stop flag :data:`CLEAR_AFTER` seconds later.
- **A lost scheduler** (the client reconnecting or closed) ends the request
  at once, recorded in ``collection.lost``; the stop flag is set and cleared
  without waiting for the scheduler.
"""

import asyncio
import contextlib
import itertools
import time
import weakref

import numpy as np

from ._backends import _Clock, _Hedge, _sent_workers
from ._collect import check_placement
from ._dask_group import request_name
from ._snapshot import _attribute_snapshot, _same_snapshot
from ._tasks import worker_task

#: Newer requests get a higher dask priority, so that tasks of an earlier request
#: that are stopped but still queued never delay the tasks of a later one.
_PRIORITY = itertools.count(1)

#: Per client: {id(model): _Copies}. An entry's futures hold their client, so
#: the weak keys alone would not free a closed client: closed ones are dropped.
_COPIES = weakref.WeakKeyDictionary()

#: Most bytes of coded rows sent in one graph (dask warns above 10 MB).
GRAPH_BYTES = 4 * 2**20

#: Per client: (monotonic time, {address: threads}) of its running workers.
_WORKERS = weakref.WeakKeyDictionary()

#: Seconds a list of the running workers is reused before the scheduler is asked again.
WORKERS_TTL = 1.0

#: Seconds between two reads of the stop flag inside a task (each read is a round
#: trip to the scheduler): a task that starts within this time of being sent, and
#: chunks computed within it, skip the read; stragglers still stop within it.
FLAG_EVERY = 0.05

#: Seconds from the end of a request to the clearing of its stop flag (a running
#: task reads the flag within FLAG_EVERY and one chunk, long before this).
CLEAR_AFTER = 1.0

#: Seconds between checks that the scheduler is still connected.
_POLL = 0.1

#: Seconds before a copy whose sending failed is tried again (when others exist).
RESEND_AFTER = 2.0


class _Copies:
    """One model's copies on a client's workers: {address: future}, and those on their way."""

    def __init__(self, model):
        self.snapshot = _attribute_snapshot(model)
        try:
            self.model = weakref.ref(model)
        except TypeError:  # not weak-referenceable: hold it, and its entry, for good
            self.model = lambda: model
        self.copies = {}  # address -> finished distributed.Future
        self.sending = {}  # address -> asyncio.Task of the scatter
        self.failed = {}  # address -> (monotonic time, exception) of its last failed send

    def is_current(self, model):
        """True while the copies can stand in for ``model`` (not refitted since)."""
        return self.model() is model and _same_snapshot(self.snapshot, _attribute_snapshot(model))

    def refresh(self, workers):
        """Take in the finished sends; forget copies that are lost or whose worker left."""
        for address, send in list(self.sending.items()):
            if send.done():
                del self.sending[address]
                outcome = None if send.cancelled() else send.result()
                if isinstance(outcome, BaseException):
                    self.failed[address] = (time.monotonic(), outcome)
                elif outcome is not None:
                    self.copies[address] = outcome
        for address, future in list(self.copies.items()):
            if future.status != "finished" or address not in workers:
                del self.copies[address]
        return {address: self.copies[address] for address in workers if address in self.copies}

    def send(self, client, model, workers, *, retry_after=RESEND_AFTER):
        """Start sending a copy to every worker that has none and none on its way.

        A worker whose last send failed less than ``retry_after`` seconds ago
        is skipped (it has usually left the cluster).
        """
        now = time.monotonic()
        for address in workers:
            failed_at = self.failed.get(address, (-np.inf, None))[0]
            if (
                address not in self.copies
                and address not in self.sending
                and now - failed_at >= retry_after
            ):
                self.sending[address] = asyncio.ensure_future(_send_copy(client, model, address))

    def last_failure(self):
        """The exception of the latest failed send, or None."""
        return max(self.failed.values(), key=lambda pair: pair[0], default=(None, None))[1]


async def _send_copy(client, model, address):
    """A copy of ``model`` on the worker ``address``, or the exception that stopped it."""
    try:
        # hash=False: a key of its own per copy (hashing would also cost a pickle).
        return await client.scatter(model, workers=[address], hash=False, asynchronous=True)
    except Exception as error:  # the worker left, the scheduler was lost: sent again later
        return error


def _copies_entry(client, model):
    for closed in [other for other in list(_COPIES) if other.status in ("closing", "closed")]:
        del _COPIES[closed]
    entries = _COPIES.setdefault(client, {})
    entry = entries.get(id(model))
    if entry is None or not entry.is_current(model):
        entries[id(model)] = entry = _Copies(model)
        if isinstance(entry.model, weakref.ref):
            weakref.finalize(model, entries.pop, id(model), None)
    return entry


class _SchedulerLostError(Exception):
    """The scheduler cannot be reached; the message says how it was lost."""


class _OutOfTimeError(Exception):
    """The time limit passed while waiting for the scheduler (slow, not lost)."""


def _address(client):
    """The scheduler's address, also once the client has closed (and dropped it)."""
    address = getattr(client.scheduler, "address", None)
    return address or getattr(client, "_start_arg", None) or "(unknown address)"


def _check_connected(client):
    if client.status != "running":
        raise _SchedulerLostError(
            f"the dask scheduler at {_address(client)} was lost (the client is "
            f"{client.status!r}); start a scheduler and workers again and pass a new Client"
        )


async def _bounded(awaitable, clock, client, what):
    """Await a call to the scheduler within the time limit, watching the connection."""
    task = asyncio.ensure_future(awaitable)
    try:
        while not task.done():
            _check_connected(client)
            left = clock.left()
            if left is not None and left <= 0:
                raise _OutOfTimeError(
                    f"the dask scheduler at {_address(client)} did not send "
                    f"{what} within timeout={clock.timeout} s"
                )
            await asyncio.wait([task], timeout=_POLL if left is None else min(left, _POLL))
        try:
            return task.result()
        except OSError as error:  # CommClosedError included
            raise _SchedulerLostError(
                f"the dask scheduler at {_address(client)} was lost during {what} "
                f"({type(error).__name__}: {error})"
            ) from None
    finally:
        task.cancel()


async def _running_workers(client, clock):
    """{address: threads} of the running workers; on a cold cluster, waits for the first.

    Asked of the scheduler at most every :data:`WORKERS_TTL` seconds: requests in
    between reuse the list (a worker that left meanwhile holds no live copy of the
    model, so no task is pinned to it; one that joined is used from the next ask).
    """
    cached = _WORKERS.get(client)
    if cached is not None and time.monotonic() - cached[0] < WORKERS_TTL:
        return cached[1]
    while True:
        nthreads = await _bounded(
            client.scheduler.ncores_running(), clock, client, "the list of its workers"
        )
        if nthreads:
            _WORKERS[client] = (time.monotonic(), nthreads)
            return nthreads
        left = clock.left()
        await asyncio.sleep(_POLL if left is None else max(0, min(left, _POLL)))
        if left is not None and clock.left() <= 0:
            return {}


async def _await_copies(client, model, workers, clock):
    """The model's copies on ``workers`` and the last failed send, waiting only while none has one.

    When none has one, it waits for the first to land (within the time limit;
    failed sends are tried again every ``_POLL`` seconds), then as long again
    for the others (at most a quarter of the time left); copies still on
    their way land in the background for later requests.
    """
    entry = _copies_entry(client, model)
    copies = entry.refresh(workers)
    entry.send(client, model, workers)
    if copies:
        return copies, None
    start = time.monotonic()
    grace_end = None
    while True:
        _check_connected(client)
        copies = entry.refresh(workers)
        if not copies:
            entry.send(client, model, workers, retry_after=_POLL)
        pending = [entry.sending[a] for a in workers if a in entry.sending]
        now = time.monotonic()
        if copies and grace_end is None:
            left = clock.left()
            grace_end = now + (now - start) + 0.02
            if left is not None:
                grace_end = min(grace_end, now + left / 4)
        if grace_end is not None and (not pending or now >= grace_end):
            return copies, None
        left = clock.left()
        if left is not None and left <= 0:
            return copies, entry.last_failure()
        wait = _POLL if grace_end is None else min(_POLL, grace_end - now)
        wait = wait if left is None else min(wait, left)
        if pending:
            await asyncio.wait(pending, timeout=wait)
        else:
            await asyncio.sleep(wait)


def _placement(sent, nthreads):
    """Physical worker of each coded worker: their threads in turn, in submission order."""
    addresses = sorted(nthreads)
    slots = [
        address
        for thread in range(max(nthreads.values()))
        for address in addresses
        if nthreads[address] > thread
    ]
    return {int(worker): slots[i % len(slots)] for i, worker in enumerate(sent)}


def _graphs(workers, coded):
    """Split ``workers`` into runs whose coded rows fit in GRAPH_BYTES (one graph each)."""
    run, size = [], 0
    for worker in workers:
        nbytes = coded[worker].nbytes
        if run and size + nbytes > GRAPH_BYTES:
            yield run
            run, size = [], 0
        run.append(worker)
        size += nbytes
    if run:
        yield run


class _DaskFlag:
    """A request's stop flag: a ``distributed.Event`` set and cleared without waiting.

    Tasks get the ``Event`` itself (it pickles as its name); the master sets
    and clears it by messages to the scheduler, so that a lost scheduler
    cannot block the end of a request.
    """

    def __init__(self, client):
        from distributed import Event

        self.client = client
        self.event = Event(request_name(client))  # keeps the task group open

    def _send(self, operation):
        async def call():
            with contextlib.suppress(Exception):  # also a client closed since
                handler = getattr(self.client.scheduler, operation)
                await asyncio.wait_for(handler(name=self.event.name), 10)

        with contextlib.suppress(Exception):
            self.client.loop.add_callback(call)

    def set(self):
        self._send("event_set")

    def clear(self):
        self._send("event_clear")


async def _direct(client, key, address, clock):
    """The result ``key`` fetched from the worker it was pinned to, or None if not there.

    One hop (worker to client) instead of two through the scheduler; bounded by
    the request's clock like every other call, so a frozen worker delays only this.
    """
    from distributed.utils_comm import gather_from_workers

    # Shielded: a request that ends (or runs out of time) while a fetch is under way
    # stops waiting for it, but the exchange with the worker runs to its end, so the
    # worker is not left with a connection closed before the client's reply.
    fetch = asyncio.ensure_future(gather_from_workers({key: [address]}, rpc=client.rpc))
    fetch.add_done_callback(_retrieve)
    try:
        data, *_ = await _bounded(asyncio.shield(fetch), clock, client, "the results")
    except (_SchedulerLostError, _OutOfTimeError, OSError):
        return None
    return data.get(key, _MISSING)


def _retrieve(task):
    """Read a finished background task's exception (asyncio logs unread ones)."""
    if not task.cancelled():
        task.exception()


_MISSING = object()


async def _outcome(client, future, clock, address=None):
    """The result of a finished task, or why there is none.

    Fetched from its worker directly when ``address`` is given, else (or when the
    worker no longer has it) through the scheduler.
    """
    from concurrent.futures import CancelledError

    if future.status == "error":
        return await future.exception(asynchronous=True)
    if future.status != "finished":
        return CancelledError(f"the task ended as {future.status!r}")
    if address is not None:
        data = await _direct(client, future.key, address, clock)
        if data is not None and data is not _MISSING:
            return data
    try:
        response = await _bounded(
            client.scheduler.gather(keys=[future.key]), clock, client, "the results"
        )
    except (_SchedulerLostError, _OutOfTimeError) as error:
        return RuntimeError(str(error))
    if response.get("status") != "OK":
        return RuntimeError("the worker holding the result was lost before it was fetched")
    return response["data"][future.key]


async def _pump(client, futures, keys, clock, outcomes, where=None):
    """Put (key, outcome) into ``outcomes`` as the tasks end, in the order they end.

    ``where`` ({key: address}) names the worker each result is fetched from.
    """
    from distributed import as_completed

    fetches = set()
    where = {} if where is None else where

    async def fetch(future):
        try:
            outcome = await _outcome(client, future, clock, where.get(future.key))
        except Exception as error:  # whatever went wrong, the task has an outcome
            outcome = error
        outcomes.put_nowait((future.key, outcome))

    try:
        async for future in as_completed(futures, loop=client.loop):
            fetches.add(asyncio.ensure_future(fetch(future)))
        await asyncio.gather(*fetches)
    finally:
        for task in fetches:
            task.cancel()


def _submit(client, tasks, copies, coded, plan, method, chunk_size, flag, priority, keys):
    """Send ``tasks`` ({coded worker: address}), pinned; record {key: coded worker} in ``keys``."""
    futures = []
    for address in sorted(set(tasks.values())):
        mine = [worker for worker, there in tasks.items() if there == address]
        for run in _graphs(mine, coded):
            names = [f"{flag.event.name}-{method}-{worker}-{len(keys) + i}" for i, worker in
                     enumerate(run)]  # fmt: skip
            futures += client.map(
                worker_task,
                [coded[worker] for worker in run],
                [float(plan.delays[worker]) for worker in run],
                model=copies[address],
                method=method,
                stop=flag.event,
                chunk_size=chunk_size,
                sent_at=time.time(),
                every=FLAG_EVERY,
                key=names,
                pure=False,
                priority=priority,
                workers=[address],
                allow_other_workers=False,
            )
            keys.update(zip(names, run, strict=True))
    return futures


async def _ready(client, model, clock, sent, collection):
    """(running workers, copies of the model); none: every sent worker gets the error."""
    nthreads = await _running_workers(client, clock)
    copies, failure = (
        (await _await_copies(client, model, nthreads, clock)) if nthreads else ({}, None)
    )
    if copies:
        return nthreads, copies
    why = (
        "it is still being sent; later requests use it once it has arrived"
        if failure is None
        else f"the last try failed: {type(failure).__name__}: {failure}"
    )
    error = TimeoutError(
        f"the model reached no dask worker within timeout={clock.timeout} s ({why})"
        if nthreads
        else f"no dask worker was running on the scheduler at {_address(client)} "
        f"within timeout={clock.timeout} s"
    )
    for worker in sent:
        collection.add(worker, error)
    return nthreads, None


async def _request(
    client, model, method, coded, plan, order, chunk_size, clock, collection, hedge, private
):
    sent = [int(worker) for worker in _sent_workers(plan, order)]
    nthreads, copies = await _ready(client, model, clock, sent, collection)
    if not copies:
        return
    placement = _placement(sent, {a: nthreads[a] for a in copies})
    if private is not None:  # coded rows per process, each task's rows over its batches
        n_batches, held = collection.returned.shape[1], dict.fromkeys(placement.values(), 0)
        for worker, address in placement.items():
            held[address] += len(coded[worker]) // n_batches
        check_placement(held, private)
    flag = _DaskFlag(client)
    priority = next(_PRIORITY)
    keys, retried, pumps = {}, set(), []
    outcomes = asyncio.Queue()

    used = {}  # coded worker -> the copy of the model its task reads

    def submit(tasks, copies):
        used.update({worker: copies[address] for worker, address in tasks.items()})
        futures = _submit(
            client, tasks, copies, coded, plan, method, chunk_size, flag, priority, keys
        )
        all_futures.extend(futures)
        where = {future.key: tasks[keys[future.key]] for future in futures}
        pumps.append(asyncio.ensure_future(_pump(client, futures, keys, clock, outcomes, where)))

    all_futures = []
    hedge = _Hedge(hedge, sent, clock)
    try:
        submit({w: a for w, a in placement.items() if w not in hedge.later}, copies)
        n_pending = len(sent) - len(hedge.later)
        while n_pending or hedge.later:
            _check_connected(client)
            if hedge.due(n_pending):  # the held tasks go out, each to a worker with a copy
                later, live = hedge.take(), sorted(copies)
                submit({w: placement[w] if placement[w] in copies else live[i % len(live)]
                        for i, w in enumerate(later)}, copies)  # fmt: skip
                n_pending += len(later)
            wait = clock.wait()
            try:
                key, outcome = await asyncio.wait_for(
                    outcomes.get(), hedge.wait(_POLL if wait is None else min(wait, _POLL))
                )
            except TimeoutError:
                if clock.ends(collection):
                    return
                continue
            worker = keys[key]
            hedge.saw(outcome)
            if (
                isinstance(outcome, BaseException)
                and worker not in retried
                and used[worker].status != "finished"
                and private is None  # never a second share of the rows on one process
            ):
                # Its copy of the model was lost (a worker died, or the scheduler forgot
                # it): once per coded worker, send the task again with a live copy.
                retried.add(worker)
                copies, _ = await _await_copies(client, model, nthreads, clock)
                if copies:
                    placement[worker] = sorted(copies)[len(retried) % len(copies)]
                    submit({worker: placement[worker]}, copies)
                    continue
            n_pending -= 1
            if collection.add(worker, outcome) or clock.ends(collection):
                return
    finally:
        for pump in pumps:
            pump.cancel()
        pending = [future for future in all_futures if not future.done()]
        if pending:  # else no task can read the flag
            flag.set()
            # queued tasks are dropped, not started only to read the flag and skip
            with contextlib.suppress(Exception):
                await client.cancel(pending, asynchronous=True, reason="request done")
            client.loop.call_later(CLEAR_AFTER, flag.clear)


def run_on_dask(
    client,
    model,
    method,
    coded,
    plan,
    *,
    order,
    chunk_size,
    timeout,
    collection,
    hedge=((), None),
    max_per_process=None,
):
    """Run one request on a ``distributed.Client``; fill ``collection``.

    The time limits count from this call, the model's first sending included.
    A lost scheduler ends the request at once with ``collection.lost`` set to
    what was lost. ``hedge`` is ``(held tasks, hedge_after)``: the held tasks
    are sent ``hedge_after`` seconds after the call, or once a task sent at
    once failed or all of them ended (see ``run_workers``). ``max_per_process``:
    refuse a placement that gives a process more coded rows of a batch
    (:func:`~._collect.check_placement`), and resend no task to another process.
    """
    if client.asynchronous:
        raise ValueError(
            f"executor={client!r} is an asynchronous client; run_workers needs a blocking one."
        )
    clock = _Clock(plan.deadline, timeout)
    try:
        _check_connected(client)
        client.sync(
            _request, client, model, method, coded, plan, order, chunk_size, clock, collection,
            hedge, max_per_process,
        )  # fmt: skip
    except _SchedulerLostError as error:
        collection.lost = str(error)
    except _OutOfTimeError as error:
        late = TimeoutError(str(error))
        for worker in _sent_workers(plan, order):
            if int(worker) not in collection.outputs and int(worker) not in collection.errors:
                collection.add(int(worker), late)
    except OSError as error:  # a comm failure that surfaced elsewhere
        collection.lost = (
            f"the dask scheduler at {_address(client)} was lost ({type(error).__name__}: {error})"
        )
