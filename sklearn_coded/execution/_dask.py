"""Running one request on a ``distributed.Client`` (see :mod:`._backends`).

Everything a request does runs in one coroutine on the client's event loop and
is bounded by the request's :class:`~._backends._Clock`, from the call on:

- **The model, one server per worker.** It is scattered to every running
  worker under a key of its own, once per client and model, and a
  :class:`~._tasks.ModelServer` (a dask actor) built from it there holds it
  for as long as the client keeps it (:class:`_Copies`). dask's Active
  Memory Manager drops extra *replicas* of a key within seconds, which left a
  broadcast model on one worker that, frozen, stalled every request; a key
  with one replica is never dropped, so no request depends on one worker
  holding the only copy. A worker that joins (or whose copy was lost) gets its
  copy in the background; a request waits only while no worker has one.
- **One direct message per coded worker**, to the server of the physical
  worker it is placed on (spread over the servers' threads in submission
  order), answered by its outputs: a request adds no task, key or span to the
  scheduler, whose memory stays flat however many requests go by; the list
  of running workers is the only thing asked of it, at most every
  :data:`WORKERS_TTL` seconds. A call whose worker died fails, and is sent
  once to another server (never for a private request: no process gets a
  second share of its rows).
- **Stragglers stopped by a message**: once the request has what it needs,
  each worker with unanswered calls is told to stop it (its calls then
  return at once, or within one chunk). Those calls are kept until they
  answer (at most :data:`MAX_BACKLOG` per worker), and a worker with one older
  than :data:`UNRESPONSIVE_AFTER` seconds (frozen, or stuck in a long
  computation) gets no coded rows of new requests until it answers, unless
  every worker is in that state.
- **A slow worker kept off a hedge's data rows** (:mod:`._placement`): a
  worker whose calls are often still unanswered when its requests end gets
  the parity first and no data rows, under the same cap of coded rows per
  thread, so a request that needs no parity waits for no slow worker. With
  one task per physical worker, the data rows are cut into one share per
  other thread (:func:`slow_threads`), so the fast workers share them
  evenly, and the slow worker's task is parity up to the cap. At most once a
  second one request probes it: its parity goes out at once, is not waited
  for, and counts as left behind if unanswered at twice the request's time;
  a slow worker is never sent data rows to find out, and one found slow
  again soon after being cleared is probed half as often.
- **A lost scheduler** (the client reconnecting or closed) ends the request
  at once, recorded in ``collection.lost``.
"""

import asyncio
import time
import uuid
import weakref

import numpy as np

from ._backends import _Clock, _Hedge, _sent_workers
from ._collect import check_placement
from ._placement import (
    _drop_closed,
    _judge_probe,
    _placement,
    _probes_due,
    _record_left_behind,
    _slow_workers,
)
from ._snapshot import _attribute_snapshot, _same_snapshot
from ._tasks import ModelServer

#: Per client: {id(model): _Copies}. An entry's futures hold their client, so
#: the weak keys alone would not free a closed client: closed ones are dropped.
_COPIES = weakref.WeakKeyDictionary()

#: Per client: (monotonic time, {address: threads}) of its running workers.
_WORKERS = weakref.WeakKeyDictionary()

#: Seconds a list of the running workers is reused before the scheduler is asked again.
WORKERS_TTL = 1.0

#: Per client: {address: {call: monotonic time sent}}, the unanswered calls of ended requests.
_BACKLOG = weakref.WeakKeyDictionary()

#: Seconds after which a worker with an unanswered call of an ended request is
#: left out of new requests' placement (frozen, or stuck in a long computation).
UNRESPONSIVE_AFTER = 2.0

#: Most unanswered calls of ended requests kept per worker; older ones are cancelled.
MAX_BACKLOG = 64

#: Seconds a stop message may take (a frozen worker never answers it).
STOP_WITHIN = 10.0

#: Seconds between checks that the scheduler is still connected.
_POLL = 0.1

#: Seconds before a copy whose sending failed is tried again (when others exist).
RESEND_AFTER = 2.0


class _Copies:
    """One model's servers on a client's workers: {address: future}, and those on their way."""

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
    """A :class:`~._tasks.ModelServer` of ``model`` on the worker ``address`` (its future),
    or the exception that stopped it."""
    try:
        # hash=False: a key of its own per copy (hashing would also cost a pickle).
        copy = await client.scatter(model, workers=[address], hash=False, asynchronous=True)
        server = client.submit(
            ModelServer, copy, actor=True, workers=[address], allow_other_workers=False,
            pure=False, key=f"sklearn-coded-server-{uuid.uuid4().hex}",
        )  # fmt: skip
        # once built, the server holds the model and the scattered copy is let go
        error = await server.exception(asynchronous=True)
        return server if error is None else error
    except Exception as error:  # the worker left, the scheduler was lost: sent again later
        return error


def _copies_entry(client, model):
    _drop_closed(_COPIES)
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


def slow_threads(client):
    """Threads of the workers a hedge keeps its data rows off (:func:`_slow_workers`).

    Read from the last list of running workers (no call to the scheduler): 0
    before the first request, or when no worker is slow. ``run_workers`` cuts
    a hedge's data rows for the other threads only.
    """
    cached = _WORKERS.get(client)
    if cached is None:
        return 0
    nthreads = cached[1]
    live = {a: nthreads[a] for a in _responsive(client, sorted(nthreads))}
    return sum(live[a] for a in _slow_workers(client, live))


def _responsive(client, addresses):
    """``addresses`` less those holding a call older than :data:`UNRESPONSIVE_AFTER` s.

    Only calls of ended requests count (:func:`_leave_behind`): a frozen or
    stuck worker is left out of the next requests' placement until they return.
    When every worker is stuck, all are used (a request may outlast them).
    """
    now, backlog = time.monotonic(), _BACKLOG.get(client, {})
    stuck = {address for address, calls in backlog.items()
             if calls and now - min(calls.values()) > UNRESPONSIVE_AFTER}  # fmt: skip
    return [address for address in addresses if address not in stuck] or list(addresses)


def _leave_behind(client, calls):
    """Keep an ended request's unanswered calls ({call: (address, sent at)}) until they end.

    They run to their end (cancelling a call would close its connection), but
    at most :data:`MAX_BACKLOG` per worker: older ones are cancelled.
    """
    _drop_closed(_BACKLOG)
    backlog = _BACKLOG.setdefault(client, {})
    for call, (address, sent) in calls.items():
        mine = backlog.setdefault(address, {})
        mine[call] = sent
        call.add_done_callback(lambda done, mine=mine: mine.pop(done, None))
        while len(mine) > MAX_BACKLOG:
            oldest = min(mine, key=mine.get)
            del mine[oldest]
            oldest.cancel()


async def _call(client, address, server, function, *args):
    """``function(*args)`` of the :class:`~._tasks.ModelServer` ``server`` on ``address``.

    A direct message to the worker, as ``distributed.Actor`` sends it; returns
    the result, or the exception the method raised.
    """
    from distributed.protocol import to_serialize

    response = await client.rpc(address).actor_execute(
        actor=server, function=function, args=[to_serialize(arg) for arg in args], kwargs={}
    )
    return response["result"] if response["status"] == "OK" else response["exception"]


def _retrieve(task):
    """Read a finished background task's exception (asyncio logs unread ones)."""
    if not task.cancelled():
        task.exception()


def _stop(client, request, servers):
    """Tell each of ``servers`` ({address: key}) that ``request`` has ended, without waiting."""
    for address, server in servers.items():
        stop = _call(client, address, server, "stop", request)
        asyncio.ensure_future(asyncio.wait_for(stop, STOP_WITHIN)).add_done_callback(_retrieve)


def _outcome(call):
    """The result of a finished call, or the exception that ended it."""
    if call.cancelled():
        from concurrent.futures import CancelledError

        return CancelledError("the call was cancelled")
    return call.exception() or call.result()


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


def _place(client, sent, live, hedge, groups):
    """(thread's address of each task, slow workers probed by this request).

    The tasks of one physical worker (``groups``; None: each task its own)
    go to one thread. A slow worker left with parity only is probed
    (:func:`~._placement._probes_due`): its held tasks leave ``hedge.later``,
    to be sent at once.
    """
    held = set(hedge.later)
    first = [w for w in sent if w not in held] if held else None
    slow = _slow_workers(client, live)
    group = int if groups is None else (lambda w: int(groups[w]))
    units = list(dict.fromkeys(group(w) for w in sent))
    with_first = None if first is None else {group(w) for w in first}
    where = _placement(units, live, first=with_first, slow=slow)
    placement = {w: where[group(w)] for w in sent}
    if first is None or not slow:
        return placement, set()
    with_data = {placement[w] for w in first}
    probed = _probes_due(client, {a for a in slow if a not in with_data})
    hedge.later = [w for w in hedge.later if placement[w] not in probed]
    return placement, probed


def _end(client, request, calls, pending, probes, used, started):
    """Record who was left behind, judge the probes later, stop and watch the stragglers."""
    _record_left_behind(client, {c: v for c, v in calls.items() if c not in probes}, pending)
    if probes:  # judged later, and so not stopped
        probe = {}
        for call in probes:
            probe.setdefault(calls[call][1], []).append(call)
        _judge_probe(client, probe, time.monotonic() - started)
    if pending:
        stopped = pending - probes
        _stop(client, request, {calls[c][1]: used[calls[c][0]].key for c in stopped})
        _leave_behind(client, {c: calls[c][1:] for c in pending})


async def _request(
    client, model, method, coded, plan, order, chunk_size, clock, collection, hedge, private,
    groups=None,
):  # fmt: skip
    sent = [int(worker) for worker in _sent_workers(plan, order)]
    nthreads, copies = await _ready(client, model, clock, sent, collection)
    if not copies:
        return
    hedge = _Hedge(hedge, sent, clock)
    live = {a: nthreads[a] for a in _responsive(client, sorted(copies))}
    placement, probed = _place(client, sent, live, hedge, groups)
    if private is not None:  # coded rows per process, each task's rows over its batches
        n_batches, held = collection.returned.shape[1], dict.fromkeys(placement.values(), 0)
        for worker, address in placement.items():
            held[address] += len(coded[worker]) // n_batches
        check_placement(held, private)
    request = uuid.uuid4().hex
    calls, pending, retried = {}, set(), set()  # calls: {call: (coded worker, address, sent)}
    probes = set()  # the calls of a probe: the request does not wait for them
    used = {}  # coded worker -> the server its call went to

    def submit(tasks, copies):
        for worker, address in tasks.items():
            used[worker] = copies[address]
            call = asyncio.ensure_future(_call(
                client, address, copies[address].key, "run", request,
                f"{request}-{method}-{worker}", coded[worker], float(plan.delays[worker]),
                method, chunk_size,
            ))  # fmt: skip
            call.add_done_callback(_retrieve)
            calls[call] = (worker, address, time.monotonic())
            pending.add(call)

    try:
        submit({w: a for w, a in placement.items() if w not in hedge.later}, copies)
        probes = {call for call, (_, address, _) in calls.items() if address in probed}
        while pending or hedge.later:
            _check_connected(client)
            if hedge.due(len(pending - probes)):  # the held calls, to workers with a copy
                later, live = hedge.take(), sorted(copies)
                submit({w: placement[w] if placement[w] in copies else live[i % len(live)]
                        for i, w in enumerate(later)}, copies)  # fmt: skip
            wait = clock.wait()
            wait = hedge.wait(_POLL if wait is None else min(wait, _POLL))
            if pending:
                done, _ = await asyncio.wait(pending, timeout=wait, return_when="FIRST_COMPLETED")
            else:
                done = await asyncio.sleep(wait, set())
            if not done and clock.ends(collection):
                return
            for call in done:
                pending.discard(call)
                worker, outcome = calls[call][0], _outcome(call)
                hedge.saw(outcome)
                if (
                    (isinstance(outcome, OSError) or used[worker].status != "finished")
                    and worker not in retried
                    and private is None
                ):
                    # Its worker died or cannot be reached (or the scheduler forgot its
                    # server): once per coded worker, send the call again to another
                    # server; never a second share of a private request's rows.
                    retried.add(worker)
                    copies, _ = await _await_copies(client, model, nthreads, clock)
                    others = [a for a in _responsive(client, sorted(copies)) if a != calls[call][1]]
                    if others:
                        placement[worker] = others[len(retried) % len(others)]
                        submit({worker: placement[worker]}, copies)
                        continue
                if collection.add(worker, outcome) or clock.ends(collection):
                    return
    finally:
        _end(client, request, calls, pending, probes, used, clock.start)


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
    groups=None,
):
    """Run one request on a ``distributed.Client``; fill ``collection``.

    The time limits count from this call, the model's first sending included.
    A lost scheduler ends the request at once with ``collection.lost`` set to
    what was lost. ``hedge`` is ``(held tasks, hedge_after)``: the held tasks
    are sent ``hedge_after`` seconds after the call, or once a task sent at
    once failed or all of them ended (see ``run_workers``). ``max_per_process``:
    refuse a placement that gives a process more coded rows of a batch
    (:func:`~._collect.check_placement`), and resend no task to another process.
    ``groups``: the physical worker each task was cut for (None: one task per
    coded worker); the tasks of one go to one thread.
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
            hedge, max_per_process, groups,
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
