"""Real executors: one task per worker, first results kept, the rest stopped.

Two backends share one protocol. Each sends every worker that the plan does
not mark as dead one task (:func:`~._tasks.worker_task` on all its rows), in
the request's submission ``order`` (:func:`submission_order`), feeds the
outcomes to ``collection.add`` in the order they arrive until it answers
"enough", the time limits end the request (:class:`_Clock`) or every task has
ended, and then sets the request's stop flag so that the stragglers end within
one chunk.

- :func:`~._futures.run_on_executor`, any ``concurrent.futures.Executor``: the
  flag is a ``threading.Event`` for a thread pool, a
  :class:`~._futures.FileFlag` for anything else (process pools, whose
  processes share this machine's file system).
- :func:`~._dask.run_on_dask`, a ``distributed.Client``: the model is held
  on every worker by a :class:`~._tasks.ModelServer` (a dask actor), built
  once per client and model; a task is a direct message to it, and the flag
  is a ``threading.Event`` on the worker, set by a stop message.

This module holds what both share: the submission order, the clock and the
clean-up of a request's stop flag.
"""

import contextlib
import threading
import time

import numpy as np

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
    """The time limits of one request, counted from the call (sending the model included).

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

    def left(self):
        """Seconds left until ``timeout`` (None: no limit; <= 0: it has passed)."""
        if self.timeout is None:
            return None
        return self.timeout - (time.monotonic() - self.start)

    def ends(self, collection):
        """True once the limits end collection, given what ``collection`` holds."""
        elapsed = time.monotonic() - self.start
        if self.timeout is not None and elapsed >= self.timeout:
            return True
        return self.deadline is not None and elapsed >= self.deadline and collection.has_minimum()


class _Hedge:
    """The tasks a request holds back (``run_workers``' ``hedge_after``) and when they go.

    They go ``after`` seconds from the clock's start, at once when a first task
    failed, or when every first task has ended (``due(0)``).
    """

    def __init__(self, hedge, sent, clock):
        held, after = hedge
        self.later = [worker for worker in sent if worker in held]
        self.at = None if after is None else clock.start + after

    def due(self, n_pending):
        return bool(self.later) and (n_pending == 0 or time.monotonic() >= self.at)

    def wait(self, wait):
        """``wait`` (None: no limit) cut to the time left before the hedge goes out."""
        if not self.later:
            return wait
        left = max(self.at - time.monotonic(), 0.0)
        return left if wait is None else min(wait, left)

    def saw(self, outcome):
        """A first task's outcome: a failure (or a stopped task) sends the hedge at once."""
        if self.later and (outcome is None or isinstance(outcome, BaseException)):
            self.at = time.monotonic()

    def take(self):
        later, self.later = self.later, []
        return later


def _clear_when_done(stop, futures):
    """Clear a request's shared stop flag once none of its tasks can still read it.

    A set ``FileFlag`` lives on disk until cleared; clearing it while a
    stopped task still runs would let that task go on.
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
