"""What one request collects: per coded worker, the outputs that arrived (layer 3).

The collections the backends fill (one entry per coded worker, or per task
carrying several coded workers' rows), the interleaved assignment of coded
workers to tasks, and the errors of a request short of results.
"""

import time

import numpy as np

from ..operators._secret import private_generator


class InsufficientResultsError(RuntimeError):
    """Fewer workers returned a finite result for some batch than decoding needs.

    Parameters
    ----------
    n_returned : int
        Workers that returned a finite row, in the worst batch.
    n_needed : int
        ``min_results``.
    message : str, optional
        The full message; by default one built from the two counts.

    Attributes
    ----------
    n_returned : int
    n_needed : int

    Examples
    --------
    >>> from sklearn_coded.execution import InsufficientResultsError
    >>> error = InsufficientResultsError(1, 2)
    >>> error.n_returned, error.n_needed
    (1, 2)
    >>> print(error)
    Only 1 worker result arrived; decoding needs at least 2.
    """

    def __init__(self, n_returned, n_needed, message=None):
        if message is None:
            message = (
                f"Only {n_returned} worker result{'' if n_returned == 1 else 's'} arrived; "
                f"decoding needs at least {n_needed}."
            )
        super().__init__(message)
        self.n_returned = n_returned
        self.n_needed = n_needed

    def __reduce__(self):
        return type(self), (self.n_returned, self.n_needed, str(self))


class ExecutorLostError(InsufficientResultsError):
    """The executor itself was lost during a request, before enough results arrived.

    Raised when the dask scheduler can no longer be reached (killed, or the
    client closed) and some batch has fewer than ``min_results`` rows. The
    message names what was lost and how to recover. A subclass of
    :class:`InsufficientResultsError`, so code that handles too few results
    handles this too.

    Examples
    --------
    >>> from sklearn_coded.execution import ExecutorLostError, InsufficientResultsError
    >>> error = ExecutorLostError(0, 2, "the dask scheduler at tcp://10.0.0.1:8786 was lost")
    >>> isinstance(error, InsufficientResultsError), error.n_returned
    (True, 0)
    """


class CollusionError(ValueError):
    """A worker process would receive more coded rows of a batch than ``n_private`` covers.

    ``n_private = T`` noise rows hide the data from any T coded workers
    (``leakage_`` bounds what they learn), not from a worker process that
    computes more than T of them: that process alone is a coalition beyond
    the bound. A dask cluster of W worker processes gets about N / W coded
    rows of every batch on each, so a request is refused, before anything is
    sent, when some process would get more than T; a task whose process was
    lost is then not sent to another process (it becomes a straggler).
    Threads and process pools run on this machine, which holds the data
    anyway, and are not checked.

    Examples
    --------
    >>> from sklearn_coded.execution import CollusionError
    >>> from sklearn_coded.execution._collect import check_placement
    >>> check_placement({"tcp://a": 2, "tcp://b": 2}, 2)  # 4 coded rows, T = 2: allowed
    >>> try:
    ...     check_placement({"tcp://a": 3, "tcp://b": 1}, 2)
    ... except CollusionError as error:
    ...     print("would compute 3 of the 4 coded rows" in str(error))
    True
    """


def check_placement(rows_per_process, n_private):
    """Raise :class:`CollusionError` if a process would hold more than n_private coded rows."""
    address, most = max(rows_per_process.items(), key=lambda item: item[1])
    if most > n_private:
        total, W = sum(rows_per_process.values()), len(rows_per_process)
        raise CollusionError(
            f"n_private={n_private} hides the data from {n_private} coded workers, but the "
            f"dask worker process {address} would compute {most} of the {total} coded rows "
            f"of each batch (on {W} worker processes): a coalition of {most} > {n_private} "
            f"that leakage_ does not bound. Nothing was sent. Use at least "
            f"ceil(n_coded / n_private) = {-(-total // n_private)} single-thread worker "
            f"processes, or n_private >= {most}."
        )


class _Collection:
    """Worker results as they arrive, and why the others are missing.

    Parameters
    ----------
    n_workers, n_batches : int
    n_wait : int
        Default stopping rule: every batch has ``n_wait`` finite rows.
    enough : callable or None
        Replaces the default rule: ``enough(returned)`` with ``returned`` the
        (N, B) boolean mask so far; if it has ``or_default = True``, the
        collection stops at the earlier of the two.
    min_results : int, default=1
        Fewest finite rows per batch that decoding needs (see :meth:`has_minimum`).
    """

    def __init__(self, n_workers, n_batches, n_wait, enough=None, min_results=1):
        self.n_batches = n_batches
        self.outputs = {}
        self.returned = np.zeros((n_workers, n_batches), dtype=bool)
        self.errors = {}
        self.n_wait = n_wait
        self.enough = enough
        self.min_results = min_results
        self.lost = None  # what the backend lost (e.g. the dask scheduler), if anything
        self.started = time.monotonic()
        self.arrived = {}  # worker -> seconds from the start to its finite result

    def has_minimum(self):
        """True once every batch has ``min_results`` finite rows (a request can be decoded)."""
        return bool((self.returned.sum(axis=0) >= self.min_results).all())

    def add(self, worker, outcome):
        """Record one worker's outcome (outputs or exception); True once enough arrived."""
        if isinstance(outcome, BaseException):
            self.errors[worker] = outcome
        elif outcome is None:
            self.errors[worker] = RuntimeError("the task was stopped before it finished")
        else:
            try:
                outputs = _as_outputs(outcome, self.n_batches, self._n_outputs())
            except ValueError as error:  # a wrong shape or type is a fault, like an exception
                self.errors[worker] = error
            else:
                self.outputs[worker] = outputs
                self.returned[worker] = finite_rows(outputs)
                self.arrived[worker] = time.monotonic() - self.started
        usual = bool((self.returned.sum(axis=0) >= self.n_wait).all())
        if self.enough is not None:  # with ``or_default``: the earlier of the two rules
            return (usual and getattr(self.enough, "or_default", False)) or bool(
                self.enough(self.returned.copy())
            )
        return usual

    def _n_outputs(self):
        return next(iter(self.outputs.values())).shape[1] if self.outputs else None

    def results(self):
        """The (N, B, n_outputs) array, NaN where no finite row arrived."""
        n_workers = self.returned.shape[0]
        dtype = np.result_type(np.float32, *(o.dtype for o in self.outputs.values()))
        results = np.full((n_workers, self.n_batches, self._n_outputs() or 0), np.nan, dtype)
        for worker, outputs in self.outputs.items():
            results[worker] = outputs
        results[~self.returned] = np.nan
        return results


def _as_outputs(outputs, n_rows, n_outputs=None):
    """Outputs as a 2-D numeric array of ``n_rows`` rows (and ``n_outputs`` columns)."""
    outputs = np.asarray(outputs)
    if outputs.ndim not in (1, 2):
        raise ValueError(f"outputs have shape {outputs.shape}; 1-D or 2-D is needed.")
    if outputs.ndim == 1:
        outputs = outputs[:, None]
    if outputs.dtype.kind not in "fiub":
        raise ValueError(f"outputs have dtype {outputs.dtype}; real numbers are needed.")
    expected = (n_rows, outputs.shape[-1] if n_outputs is None else n_outputs)
    if outputs.shape != expected:
        raise ValueError(f"outputs have shape {outputs.shape}; expected {expected}.")
    if not np.issubdtype(outputs.dtype, np.floating):
        outputs = outputs.astype(np.float64)
    return outputs


def finite_rows(results, among=None):
    """(N, B) bool: ``results[i, b]`` is finite in every output column.

    The same as ``np.isfinite(results).all(axis=2)`` in a fraction of its time on
    few output columns: one matrix-vector product sums each row (a NaN or an
    infinity makes the sum non-finite), and only the rows whose sum is not
    finite (missing workers, or finite values whose sum overflows) are checked
    element by element. Any memory layout (a transposed view is not copied).
    ``among`` (N, B) bool, optional: the rows outside it are False and never
    checked (``among & finite_rows(results)``, the returned rows of a request
    without re-checking the lost ones, NaN by construction).
    """
    if results.dtype.kind != "f" or results.ndim < 2 or results.shape[-1] == 0:
        ok = np.isfinite(results).all(axis=-1)
        return ok if among is None else ok & np.asarray(among, dtype=bool)
    with np.errstate(over="ignore", invalid="ignore"):
        ok = np.isfinite(np.matmul(results, np.ones(results.shape[-1], dtype=results.dtype)))
    suspect = ~ok
    if among is not None:
        among = np.asarray(among, dtype=bool)
        ok &= among
        suspect &= among
    if suspect.any():
        ok[suspect] = np.isfinite(results[suspect]).all(axis=-1)
    return ok


def nan_rows(values):
    """``np.isnan(values).any(axis=1)`` of a 2-D float array, one sum when there is no NaN.

    A NaN entry makes the sum NaN, so a sum that is not NaN proves there is
    none (an all-False mask at once); a NaN sum (a NaN, or infinities of both
    signs) falls back to the entries.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        if values.dtype.kind == "f" and not np.isnan(values.sum()):
            return np.zeros(values.shape[0], dtype=bool)
    return np.isnan(values).any(axis=1)


def _check_insufficient(returned, min_results, errors, n_sent):
    """Raise InsufficientResultsError if some batch has fewer than ``min_results`` rows."""
    counts = returned.sum(axis=0)
    batch = int(counts.argmin())
    n_returned = int(counts[batch])
    if n_returned >= min_results:
        return
    n_workers, n_batches = returned.shape
    parts = []
    if n_sent < n_workers:
        parts.append(f"{n_workers - n_sent} drawn as stragglers")
    if errors:
        first = next(iter(errors.values()))
        parts.append(f"{len(errors)} failed (first: {type(first).__name__}: {first})")
    parts.append("the others did not arrive in time or returned NaN/inf for this batch")
    message = (
        f"Only {n_returned} of {n_workers} workers returned a finite result for batch "
        f"{batch} (of {n_batches}); decoding needs at least min_results={min_results}. "
        + "; ".join(parts)
        + "."
    )
    error = InsufficientResultsError(n_returned, min_results, message)
    raise error from (next(iter(errors.values())) if errors else None)


def _collection(coded, stragglers, n_tasks, enough, min_results, rng, first=None, n_fast=None):
    """What one request on a real executor sends and collects.

    Returns ``(collection, rows, target, plan, n_sent, held, groups)``: the
    per-coded-worker collection, the rows of each task, what the backend fills
    (the collection, or a :class:`_TaskCollection` splitting each task's
    outputs), the straggler plan drawn for the tasks, the coded workers whose
    rows were sent, the tasks held back for a hedge (those of the coded workers
    not in ``first``; empty without ``first``), and the physical worker of each
    task (None with one task per coded worker). With ``first`` and physical
    workers, each of the ``n_tasks`` workers gets two tasks: its share of
    ``first``, and its share of the others; both have the worker's drawn delay.
    The others fill every worker up to the same ``ceil(N / n_tasks)`` coded
    rows (:func:`fill_rows`), so no physical worker holds more. With
    ``n_fast < n_tasks`` (the others answer late, see ``run_workers``),
    ``first`` is cut into ``n_fast`` shares only, and the last ``n_tasks -
    n_fast`` workers, which get none of it, are filled first.
    """
    n_workers, n_batches, _ = coded.shape
    if n_tasks >= n_workers:  # one task per coded worker
        plan = stragglers.draw_plan(n_workers, rng)
        collection = _Collection(n_workers, n_batches, plan.n_wait, enough, min_results)
        held = () if first is None else tuple(np.setdiff1d(np.arange(n_workers), first).tolist())
        n_sent = int(np.isfinite(plan.delays).sum())
        return collection, coded, collection, plan, n_sent, held, None
    # one task per physical worker, carrying its share of the coded rows
    plan = stragglers.draw_plan(n_tasks, rng)
    held, physical = (), np.arange(n_tasks)
    if first is None:
        assignment = assign_rows(n_workers, n_tasks)
    else:  # a hedge: the first workers' share, then the others' share (held back)
        first = np.asarray(first, dtype=np.intp)
        rest = np.setdiff1d(np.arange(n_workers), first)
        cap = -(-n_workers // n_tasks)  # coded rows of one physical worker
        if n_fast is None or not 1 <= n_fast < n_tasks or -(-len(first) // n_fast) > cap:
            n_fast = n_tasks  # first over every worker
        parts = [first[a] for a in assign_rows(len(first), n_fast)]
        room = [cap - len(part) for part in parts] + [cap] * (n_tasks - n_fast)
        parts += [rest[a] for a in fill_rows(len(rest), room, slow_first=n_fast)]
        owners = list(range(n_fast)) + list(range(n_tasks))
        physical = np.array([o for o, part in zip(owners, parts, strict=True) if part.size])
        assignment = [part for part in parts if part.size]
        n_first = sum(1 for part in parts[:n_fast] if part.size)
        held = tuple(range(n_first, len(assignment)))
        plan = plan._replace(delays=plan.delays[physical])  # a worker's delay, both tasks
    alive = np.isfinite(plan.delays)
    n_sent = sum(len(a) for a, live in zip(assignment, alive, strict=True) if live)
    S = getattr(stragglers, "n_stragglers", None) or 0
    n_wait = max(min(n_sent - S, n_workers - S), 0)
    collection = _Collection(n_workers, n_batches, n_wait, enough, min_results)
    rows = [coded[a].reshape(-1, coded.shape[2]) for a in assignment]
    target = _TaskCollection(collection, assignment, n_batches)
    return collection, rows, target, plan, n_sent, held, physical


def _check_collected(collection, min_results, n_sent):
    """Raise if the executor was lost, or if some batch is below ``min_results``."""
    n_workers = collection.returned.shape[0]
    if collection.lost is not None and not collection.has_minimum():
        counts = collection.returned.sum(axis=0)
        raise ExecutorLostError(
            int(counts.min()),
            min_results,
            f"{collection.lost[0].upper()}{collection.lost[1:]}. Before that, "
            f"{int(counts.min())} of {n_workers} workers returned a result for batch "
            f"{int(counts.argmin())}; decoding needs at least min_results={min_results}.",
        )
    _check_insufficient(collection.returned, min_results, collection.errors, n_sent)


def assign_rows(n_coded, n_tasks, rng=None):
    """Which coded workers each of ``n_tasks`` physical workers serves, interleaved.

    The N coded points are cut into stretches of ``n_tasks`` consecutive
    points, and every stretch is dealt to the tasks in a random order: each
    task holds one coded point of every stretch (the last stretch, if
    shorter, goes to some of them), so a lost task removes points spread
    over the code, never a block of neighbours. Drawn from
    :func:`~sklearn_coded.operators._secret.private_generator` unless ``rng``
    is given: the public ``random_state`` cannot replay it.

    Parameters
    ----------
    n_coded : int
        N, coded workers.
    n_tasks : int
        W <= N, physical workers.
    rng : numpy Generator or RandomState, optional
        For tests only.

    Returns
    -------
    assignment : list of ndarray of int
        ``assignment[w]``: the sorted coded workers of task w.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_coded.execution._run import assign_rows
    >>> assignment = assign_rows(8, 4)
    >>> sorted(np.concatenate(assignment).tolist()) == list(range(8))
    True
    >>> all(len(a) == 2 and a[0] < 4 <= a[1] for a in assignment)  # one per stretch
    True
    """
    rng = private_generator() if rng is None else rng
    owner = np.empty(n_coded, dtype=np.intp)
    for start in range(0, n_coded, n_tasks):
        stretch = min(n_tasks, n_coded - start)
        owner[start : start + stretch] = rng.permutation(n_tasks)[:stretch]
    return [np.flatnonzero(owner == task) for task in range(n_tasks)]


def fill_rows(n_rows, room, slow_first=0, rng=None):
    """Cut ``n_rows`` coded rows into tasks of at most ``room[t]`` rows, each spread evenly.

    The tasks from ``slow_first`` on are filled to their room first, the
    others share what is left as evenly as their room allows; each task's
    rows are then spread over the ``n_rows`` like the tasks' shares of a
    stretch in :func:`assign_rows`: the task furthest behind its share takes
    the next row (ties broken in an order drawn from
    :func:`~sklearn_coded.operators._secret.private_generator` unless ``rng``
    is given), so no task holds a block of neighbours.

    Returns
    -------
    assignment : list of ndarray of int
        ``assignment[t]``: the sorted rows of task t, ``len(room)`` tasks.

    Examples
    --------
    >>> from sklearn_coded.execution._collect import fill_rows
    >>> [len(a) for a in fill_rows(16, [2, 3, 3, 8], slow_first=3)]
    [2, 3, 3, 8]
    >>> [len(a) for a in fill_rows(12, [2, 3, 3, 8], slow_first=3)]  # the last filled first
    [2, 1, 1, 8]
    """
    if sum(room) < n_rows or min(room, default=0) < 0:
        raise ValueError(f"room={room!r} cannot hold {n_rows} rows.")
    sizes, left = [0] * len(room), n_rows
    for t in range(slow_first, len(room)):
        sizes[t] = min(room[t], left)
        left -= sizes[t]
    while left:  # the rest in turns, one row at a time, to the tasks with room
        for t in range(slow_first):
            if left and sizes[t] < room[t]:
                sizes[t], left = sizes[t] + 1, left - 1
    rng = private_generator() if rng is None else rng
    ties = rng.permutation(len(room))
    owner, taken = np.empty(n_rows, dtype=np.intp), np.zeros(len(room))
    for row in range(n_rows):
        behind = np.asarray(sizes) * (row + 1) / n_rows - taken
        task = ties[np.argmax(behind[ties])]
        owner[row], taken[task] = task, taken[task] + 1
    return [np.flatnonzero(owner == task) for task in range(len(room))]


class _TaskCollection:
    """A collection seen by the backends with one entry per task (physical worker).

    ``add(task, outcome)`` splits a task's outputs (its coded workers' rows,
    worker-major) into one outcome per coded worker; an exception, a stopped
    task or outputs of the wrong size make every coded worker of the task
    missing, with that reason.
    """

    def __init__(self, collection, assignment, n_batches):
        self.collection = collection
        self.assignment = assignment
        self.n_batches = n_batches

    def add(self, task, outcome):
        workers = self.assignment[task]
        parts = [outcome] * len(workers)
        if outcome is not None and not isinstance(outcome, BaseException):
            outputs = np.asarray(outcome)
            n_rows = len(workers) * self.n_batches
            if outputs.ndim in (1, 2) and outputs.shape[0] == n_rows:
                parts = np.split(outputs, len(workers))
            else:
                error = ValueError(f"outputs have shape {outputs.shape}; expected {n_rows} rows.")
                parts = [error] * len(workers)
        enough = False
        for worker, part in zip(workers, parts, strict=True):
            enough = self.collection.add(int(worker), part)
        return enough

    @property
    def lost(self):  # set by a backend that lost its executor: kept on the collection
        return self.collection.lost

    @lost.setter
    def lost(self, value):
        self.collection.lost = value

    def __getattr__(self, name):  # has_minimum and whatever else the backends read
        return getattr(self.collection, name)
