"""Where a request's calls go on dask: the threads in turn, and the record of slow workers.

- :func:`_placement`: each coded worker (or each physical worker's group of
  tasks) to a thread, the threads in turn in submission order, at most
  ``ceil(len(sent) / threads)`` per thread; with a hedge, the data rows kept
  off the slow workers under the same cap.
- The record (:func:`_record_left_behind`, :func:`_slow_workers`): per client
  and worker, the average share of its calls still unanswered when its
  requests end; over :data:`SLOW_SHARE`, the worker is slow.
- Probes (:func:`_probes_due`, :func:`_judge_probe`): a slow worker left with
  parity only gets no calls, and so no news; at most every
  :data:`SLOW_PROBE_EVERY` seconds one request sends its parity at once
  without waiting for it, and judges it at twice the request's time. A
  worker found slow again soon after its probes cleared it waits twice as
  long for the next (up to :data:`SLOW_PROBE_MAX` seconds).
"""

import asyncio
import time
import weakref

import numpy as np

#: Per client: {address: average share of its calls left behind}.
_LEFT_BEHIND = weakref.WeakKeyDictionary()

#: Per client: {address: monotonic time of its last probe}.
_PROBED = weakref.WeakKeyDictionary()

#: Per client: {address: (seconds between its probes, monotonic time it was last cleared)}.
_BACKOFF = weakref.WeakKeyDictionary()

#: A worker whose average share of calls left unanswered at its requests' end
#: is over this is slow: a hedge sends it no data rows (:func:`_placement`).
SLOW_SHARE = 0.5

#: Weight of a request's share in that average.
SLOW_WEIGHT = 0.25

#: Seconds between probes of a slow worker (:func:`_probes_due`): a slow worker
#: left with parity only gets no calls, and so no news, without them.
SLOW_PROBE_EVERY = 1.0

#: A worker found slow again within this many seconds of being cleared waits
#: twice as long for its next probes (up to :data:`SLOW_PROBE_MAX`): one that
#: answers a probe alone in time but not its share of every request (a cost
#: per call) is then tried with data rows ever more rarely.
SLOW_BACKOFF_RESET = 60.0

#: Most seconds between probes of a slow worker.
SLOW_PROBE_MAX = 32.0


def _drop_closed(per_client):
    """Forget the entries of closed clients (their values may hold the client alive)."""
    for closed in [other for other in list(per_client) if other.status in ("closing", "closed")]:
        del per_client[closed]


def _placement(sent, nthreads, *, first=None, slow=()):
    """Physical worker of each coded worker: their threads in turn, in submission order.

    Every thread gets at most ``ceil(len(sent) / threads)`` coded workers, so one
    physical worker's loss costs at most its threads' share, spread over the code
    by the submission order. With ``first`` (the coded workers a hedge sends at
    once: the data rows) and ``slow`` (addresses whose calls were left behind,
    :func:`_slow_workers`), the first go to the threads of the other workers
    and the held ones to the slow workers' threads before the rest, under the
    same cap; a request that needs no parity then waits for no slow worker.
    ``sent`` may also be groups of tasks, one per physical worker a request
    was cut for (``_request``): each group then goes whole to one thread.
    """
    addresses = sorted(nthreads)
    slots = [
        address
        for thread in range(max(nthreads.values()))
        for address in addresses
        if nthreads[address] > thread
    ]
    cap = -(-len(sent) // len(slots))  # the threads in turn never fill one past it
    room = [cap] * len(slots)
    placed = {}

    def deal(workers, order):
        """``workers`` to the slots of ``order`` in turn, skipping full slots."""
        turn = 0
        for worker in workers:
            while room[order[turn % len(order)]] == 0:
                turn += 1
            slot = order[turn % len(order)]
            placed[int(worker)], room[slot] = slots[slot], room[slot] - 1
            turn += 1

    first = set() if first is None else {int(worker) for worker in first}
    data = [w for w in sent if int(w) in first]
    fast = [slot for slot, address in enumerate(slots) if address not in slow]
    if data and 0 < len(fast) < len(slots) and len(data) <= cap * len(fast):
        deal(data, fast)
        slow_first = [slot for slot in range(len(slots)) if slot not in fast] + fast
        deal([w for w in sent if int(w) not in first], slow_first)
    else:
        deal(sent, range(len(slots)))
    return placed


def _record_left_behind(client, calls, pending):
    """Fold a request's calls into each worker's share of calls left behind.

    ``calls``: {call: (coded worker, address, sent at)}; ``pending``: those
    unanswered at the request's end. Per address, an average over its requests.
    """
    per_address = {}
    for call, (_, address, _) in calls.items():
        sent, late = per_address.get(address, (0, 0))
        per_address[address] = (sent + 1, late + (call in pending))
    for address, (sent, late) in per_address.items():
        _fold(client, address, late / sent)


def _fold(client, address, share, now=None):
    """One request's ``share`` of calls left behind on ``address``, into its average.

    A worker that crosses :data:`SLOW_SHARE` upwards within
    :data:`SLOW_BACKOFF_RESET` seconds of crossing it downwards (tried with
    data rows, and slow again) has the time between its probes doubled.
    """
    now = time.monotonic() if now is None else now
    _drop_closed(_LEFT_BEHIND)
    _drop_closed(_BACKOFF)
    record = _LEFT_BEHIND.setdefault(client, {})
    average = record.get(address, 0.0)
    record[address] = average + SLOW_WEIGHT * (share - average)
    backoff = _BACKOFF.setdefault(client, {})
    every, cleared = backoff.get(address, (SLOW_PROBE_EVERY, -np.inf))
    if average <= SLOW_SHARE < record[address]:  # found slow: a relapse if cleared lately
        relapse = now - cleared < SLOW_BACKOFF_RESET
        every = min(2 * every, SLOW_PROBE_MAX) if relapse else SLOW_PROBE_EVERY
        backoff[address] = (every, cleared)
    elif record[address] <= SLOW_SHARE < average:  # cleared
        backoff[address] = (every, now)


def _slow_workers(client, addresses):
    """Addresses whose share of calls left behind is over :data:`SLOW_SHARE`.

    Never all of them: when every worker is slow, none is treated as slow.
    """
    record = _LEFT_BEHIND.get(client, {})
    slow = {a for a in addresses if record.get(a, 0.0) > SLOW_SHARE}
    return set() if len(slow) == len(set(addresses)) else slow


def _probes_due(client, slow, now=None):
    """Those of ``slow`` not probed for their time between probes, marked probed now.

    That time is :data:`SLOW_PROBE_EVERY` seconds, doubled by each relapse
    (:func:`_fold`).
    """
    now = time.monotonic() if now is None else now
    _drop_closed(_PROBED)
    last, backoff = _PROBED.setdefault(client, {}), _BACKOFF.get(client, {})
    due = {
        a for a in slow
        if now - last.get(a, -np.inf) >= backoff.get(a, (SLOW_PROBE_EVERY,))[0]
    }  # fmt: skip
    last.update(dict.fromkeys(due, now))
    return due


def _judge_probe(client, probe, grace):
    """In ``grace`` seconds, fold the share of each address's ``probe`` calls still unanswered.

    ``probe``: {address: calls}. The request waited for none of them; they are
    judged at twice its time (``grace`` = its time, from its end), so a healthy
    worker, whose share of the parity takes about as long as the data rows,
    answers them in time.
    """

    def judge():
        for address, calls in probe.items():
            _fold(client, address, sum(not call.done() for call in calls) / len(calls))

    asyncio.get_running_loop().call_later(grace, judge)
