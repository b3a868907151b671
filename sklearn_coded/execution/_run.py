"""Running f on the N coded inputs: in process, on an executor, or on dask (layer 3)."""

import sys
import time
import weakref
from concurrent.futures import Executor
from numbers import Integral, Real

import numpy as np
from sklearn import config_context, get_config
from sklearn.base import clone
from sklearn.utils import check_random_state

from ._adversaries import check_adversaries
from ._backends import SUBMIT_ORDERS, submission_order
from ._collect import (  # noqa: F401 (re-exported names)
    CollusionError,
    ExecutorLostError,
    InsufficientResultsError,
    _as_outputs,
    _check_collected,
    _check_insufficient,
    _collection,
    assign_rows,
    finite_rows,
)
from ._dask import run_on_dask, slow_threads
from ._futures import run_on_executor
from ._stragglers import LatencyStragglers, check_stragglers


def _check_coded(coded):
    coded = np.asarray(coded)
    if coded.ndim != 3 or 0 in coded.shape:
        raise ValueError(
            "coded must be a non-empty array of shape (n_workers, n_batches, n_features), "
            f"worker-major; got shape {coded.shape}."
        )
    if not (np.issubdtype(coded.dtype, np.floating) or np.issubdtype(coded.dtype, np.integer)):
        raise ValueError(f"coded must hold real numbers; got dtype {coded.dtype}.")
    if not np.isfinite(coded).all():
        raise ValueError("coded contains NaN or inf; the coded inputs must be finite.")
    return coded


def _dask_client(executor):
    distributed = sys.modules.get("distributed")  # a Client exists only if it was imported
    if distributed is not None and isinstance(executor, distributed.Client):
        return executor
    return None


def run_workers(
    model,
    method,
    coded,
    *,
    executor=None,
    stragglers=None,
    min_results=2,
    random_state=None,
    timeout=None,
    chunk_size=256,
    enough=None,
    submit_order="random",
    adversaries=None,
    tasks=None,
    first=None,
    hedge_after=None,
    timings=None,
    max_per_process=None,
):
    """Compute ``getattr(model, method)`` on every worker's coded rows, stragglers included.

    Read more in the :ref:`User Guide <executors>`.

    Worker n gets ``coded[n]``: its coded row of each of the B batches.
    Workers that straggle, fail, or return NaN/inf are missing: their rows are
    NaN in ``results`` and False in ``returned``, ready for a decoder
    (:class:`~sklearn_coded.SplineDecoder` takes NaN rows as missing workers).

    Parameters
    ----------
    model : object
        Any object with the method ``method``.
    method : str
        Name of a method of ``model`` mapping an array (rows, n_features) to
        (rows,) or (rows, n_outputs), e.g. ``"decision_function"``. Decode
        logits or decision values, not probabilities.
    coded : array-like of shape (n_workers, n_batches, n_features)
        Worker-major coded inputs: ``coded[n, b]`` is worker n's row of batch b.
    executor : None, concurrent.futures.Executor or distributed.Client, default=None
        None: one vectorised call on all N*B rows in this process, then the
        straggler model masks rows (a simulation; no threads, the fast default).
        An executor or a dask client: one task per worker, really run; the
        first results are kept and the rest are stopped (see Notes).
    stragglers : None, int, float or BaseStragglers, default=None
        The straggler model, see :func:`check_stragglers`: None (none), an
        int S (:class:`FixedStragglers`), a float p (:class:`RandomStragglers`)
        or a model such as :class:`LatencyStragglers`.
    min_results : int, default=2
        Fewest workers per batch needed to decode.
    random_state : int, RandomState instance or None, default=None
        Seeds every draw of the straggler model.
    timeout : float, optional
        A hard limit in seconds for the whole call on a real executor
        (sending the model to dask workers included). Then whatever has not
        arrived is missing, and the request is decoded from the others if
        every batch has ``min_results`` of them, else it fails with
        :class:`InsufficientResultsError` (a hung or frozen worker costs at
        most this; a lost dask scheduler or a broken executor ends it at once
        with :class:`ExecutorLostError`). None waits for as long as it takes.
        In process (``executor=None``) it applies to the simulated latencies
        of a :class:`LatencyStragglers` model, those past it being missing.
        A straggler model's ``deadline`` is soft, see Notes.
    chunk_size : int, default=256
        Real executors only: rows per call of the method inside a task; the
        stop flag is checked between chunks.
    enough : callable, optional
        Real executors only: ``enough(returned) -> bool`` on the (N, B) mask
        of finite rows so far; collection stops once it is True. By default
        it stops once every batch has the number of rows the straggler model
        waits for (N - S for :class:`FixedStragglers`). For example, with
        2-fold replication ``lambda r: r.reshape(2, -1, r.shape[1]).any(0).all()``
        stops at the first copy of each pair. A callable with the attribute
        ``or_default = True`` stops at the earlier of itself and that default.
    submit_order : {"random", "spread", "index"}, default="random"
        Real executors only: the order in which the N tasks are sent. Tasks
        run first in, first out, so the last sent are the late ones when
        threads are short: ``"random"`` (a fresh permutation per request,
        drawn from ``random_state``) makes who is late independent of the
        coded point, as the in-process simulation assumes; ``"spread"`` sends
        the end points first and then bisects, so that the late ones are
        spread evenly inside the interval; ``"index"`` sends them in order
        0..N-1, which makes the highest coded points the stragglers of every
        request (for comparisons only). See
        :func:`~sklearn_coded.execution._backends.submission_order`.
    adversaries : None or BaseAdversaries, default=None
        Byzantine workers (e.g. :class:`GrossErrors`): the model corrupts the
        results of the workers it draws as liars, after collection, seeded by
        ``random_state``; ``returned`` stays True for them (a lie arrives).
    tasks : None, "auto" or int, default=None
        Real executors only: how many tasks one request sends. None: one per
        coded worker (N). An int W < N: W tasks, each carrying the coded rows
        of about N / W coded workers (see :func:`assign_rows`); ``"auto"``:
        one task per physical worker, the executor's threads or processes
        (``max_workers``) or a dask cluster's worker threads, and N tasks when
        there are at least N of them. See Notes for what a physical worker
        then is to the stragglers, the adversaries and the timeout.
    first : array-like of int, optional
        With ``hedge_after``: the coded workers sent at once (a systematic
        code's data workers, whose results are the outputs themselves).
    hedge_after : float, optional
        Real executors only: a hedge. The coded workers not in ``first`` (the
        parity) are sent only ``hedge_after`` seconds after the call, or as
        soon as a task of ``first`` fails or every one of them has ended,
        unless ``enough`` stopped collection before. With physical workers
        (``tasks``) each worker gets two tasks, its share of ``first`` and its
        share of the others, and ``first`` is placed one task per worker; on
        dask, workers whose calls keep answering late get no share of
        ``first`` and a full share of the others instead (see Notes). None
        (the default) sends everything at once. Ignored in process.
    timings : list, optional
        Real executors only: extended with the seconds from the call to each
        coded worker's result (those of ``first`` only, with a hedge), for a
        caller that tunes ``hedge_after`` (the estimators' ``"auto"``).
    max_per_process : int, optional
        dask only: the most coded rows of a batch that one worker process may
        compute (the estimators pass ``n_private``, see :class:`CollusionError`).
        A request whose placement would give some process more raises
        :class:`CollusionError` before anything is sent, and a task whose copy
        of the model was lost is not sent again to another process.

    Returns
    -------
    results : ndarray of shape (n_workers, n_batches, n_outputs)
        Float outputs (float32 if the method returns float32, else float64),
        2-D per worker even if the method returns 1-D; NaN where missing.
    returned : ndarray of bool of shape (n_workers, n_batches)
        True where the worker's row arrived and is finite.

    Raises
    ------
    InsufficientResultsError
        If some batch has fewer than ``min_results`` finite rows. Its cause
        is the first exception raised by a worker, if any.
    ExecutorLostError
        If the dask scheduler was lost (killed, unreachable, or the client
        closed) before every batch had ``min_results`` rows; raised as soon as
        the loss is seen, within ``timeout``.
    CollusionError
        If ``max_per_process`` is given and some dask worker process would
        compute more coded rows of a batch.
    ValueError
        If ``coded``, ``method``, ``stragglers`` or ``min_results`` is invalid.
    TypeError
        If ``executor`` or ``stragglers`` has an unsupported type.

    Notes
    -----
    Faults are stragglers. On a real executor a task that raises, returns a
    wrong shape, returns NaN/inf rows, misses the deadline or whose worker
    process dies is a missing worker; the request fails only if some batch is
    left with fewer than ``min_results`` rows. In process, an exception in the
    single vectorised call propagates (it is a bug, not a straggler), while
    NaN/inf rows are missing workers.

    Real executors send each worker one task holding all its B rows. The
    master keeps results in the order they arrive until it has enough (or the
    time limits end the request, or every task has ended), then sets a stop
    flag: a
    ``threading.Event`` for thread pools and on each dask worker (set there by
    a stop message to the worker's model server), a flag file for other
    executors (process pools, whose processes share this machine's file
    system). Tasks wait out injected latency on that flag and check it before
    every chunk, so stragglers free their worker threads at once instead of
    slowing the next request.

    Time limits: once the straggler plan's ``deadline`` has passed, the master
    decodes from whoever has answered as soon as every batch has
    ``min_results`` rows (at once if it already has them); until then it keeps
    waiting, up to ``timeout``, after which the request is decoded from whoever
    answered or fails with :class:`InsufficientResultsError`.

    Physical workers (``tasks``): with W < N tasks, task w carries the coded
    rows of the coded workers ``assign_rows(N, W)[w]``, one in every stretch
    of W consecutive coded points (interleaved), drawn afresh for every
    request from :func:`~sklearn_coded.operators._secret.private_generator`,
    so the loss of one physical worker removes coded points spread over the
    code, never a contiguous block, and no worker can know which coded
    points its neighbours hold. A worker learns its own coded rows (a
    random subset of the code's points, one per stretch) and nothing of the
    assignment of the others. The straggler model is drawn for the W tasks:
    delays, deaths (:class:`RandomStragglers`) and latencies are per
    physical worker, and every coded row of a late, dead or failed task is
    missing; the stopping rule still counts coded rows (every batch has
    N - S of them, S the model's ``n_stragglers`` in coded rows, besides
    the rows of dead tasks), so tolerating one slow physical worker needs
    S >= ceil(N / W). ``timeout`` ends the request as before. Adversaries
    corrupt coded rows as before (a liar controls its coded rows only; a
    physical worker that lies controls all of its about N / W rows, which
    ``n_adversaries`` must then cover).

    On dask the model is scattered to every worker once per client and model
    object, one copy per worker under a key of its own (dask's Active Memory
    Manager drops extra replicas of one key, not single copies), and sent again
    only if one of its attributes was reassigned (as by ``fit`` or
    ``set_params``); a change made in place inside an attribute's array is not
    seen, so refit (or copy) a model rather than editing its weights in place.
    Each task is one direct message to a worker holding a copy (the workers'
    threads in turn, in submission order, a physical worker's two tasks of a
    hedge on one thread), so a frozen worker delays only its own tasks; a
    request waits for copies only while no worker has one, and a task whose
    copy was lost (its worker died) is sent once more to a live copy. With a
    hedge and physical workers, the threads of workers whose calls keep being
    left unanswered (:func:`~sklearn_coded.execution._dask.slow_threads`) get
    no share of ``first``: it is cut into one share per other thread, and the
    others fill every thread up to the same ``ceil(N / W)`` coded rows, the
    slow ones first (:func:`~sklearn_coded.execution._collect.fill_rows`), so
    a request that needs no parity waits for no slow worker and the loss of
    any one physical worker still removes at most ``ceil(N / W)`` coded rows.

    Faults of the executor itself: a killed child breaks a
    ``ProcessPoolExecutor`` for good; the request in flight decodes from the
    results that arrived, and this and later requests run on a new pool of the
    same size that replaces it (with a ``RuntimeWarning`` once per rebuild). A
    lost dask scheduler, or another broken executor, raises
    :class:`ExecutorLostError` unless every batch already has ``min_results``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LinearRegression
    >>> from sklearn_coded.execution import run_workers
    >>> rng = np.random.default_rng(0)
    >>> model = LinearRegression().fit(rng.normal(size=(20, 3)), rng.normal(size=20))
    >>> coded = rng.normal(size=(6, 4, 3))  # 6 workers, 4 batches, 3 features
    >>> results, returned = run_workers(
    ...     model, "predict", coded, stragglers=2, random_state=0
    ... )
    >>> results.shape, returned.sum(axis=0)
    ((6, 4, 1), array([4, 4, 4, 4]))
    >>> bool(np.allclose(results[returned, 0], model.predict(coded[returned])))
    True
    """
    coded = _check_coded(coded)
    n_workers = coded.shape[0]
    _check_run_args(model, method, n_workers, min_results, timeout, chunk_size, submit_order)
    stragglers = check_stragglers(stragglers, n_workers, min_results=min_results)
    adversaries = check_adversaries(adversaries, n_workers)
    rng = check_random_state(random_state)

    if executor is None:
        if enough is not None:
            raise ValueError(
                "enough applies to real executors; with executor=None the straggler model "
                f"alone decides who returns. Got enough={enough!r}."
            )
        stragglers = simulated_deadline(stragglers, timeout)
        results, returned = _run_in_process(model, method, coded, stragglers, min_results, rng)
        return _lie(adversaries, results, returned, rng)

    client = _dask_client(executor)
    if client is None and not isinstance(executor, Executor):
        raise TypeError(
            "executor must be None, a concurrent.futures.Executor or a distributed.Client; "
            f"got {executor!r}."
        )
    n_tasks = _n_tasks(tasks, executor, client, n_workers)
    first = _check_hedge(first, hedge_after, n_workers)
    # a hedge on dask cuts the data rows for the workers that answer in time only
    n_fast = None if client is None or first is None else n_tasks - slow_threads(client)
    collection, rows, target, plan, n_sent, held, groups = _collection(
        coded, stragglers, n_tasks, enough, min_results, rng, first=first, n_fast=n_fast
    )
    order = submission_order(submit_order, len(rows), rng)
    if held:  # the first tasks are sent (and placed on the workers) before the held ones
        order = np.concatenate([order[~np.isin(order, held)], order[np.isin(order, held)]])
    run = run_on_executor if client is None else run_on_dask
    private = {} if client is None else {"max_per_process": max_per_process, "groups": groups}
    run(
        executor,
        model,
        method,
        rows,
        plan,
        order=order,
        chunk_size=chunk_size,
        timeout=timeout,
        collection=target,
        hedge=(held, hedge_after),
        **private,
    )
    if timings is not None:  # seconds to each result (of ``first`` only, with a hedge)
        timings.extend(t for w, t in collection.arrived.items() if first is None or w in first)
    _check_collected(collection, min_results, n_sent)
    return _lie(adversaries, collection.results(), collection.returned, rng)


def _check_run_args(model, method, n_workers, min_results, timeout, chunk_size, submit_order):
    """Validate :func:`run_workers`' scalar arguments (errors name the parameter)."""
    if not isinstance(method, str):
        raise TypeError(f"method must be the name of a method, a str; got {method!r}.")
    if not callable(getattr(model, method, None)):
        raise ValueError(f"method={method!r} is not a method of {type(model).__name__}.")
    if not isinstance(min_results, Integral) or not 1 <= min_results <= n_workers:
        raise ValueError(
            f"min_results must be an int in [1, n_workers={n_workers}]; got {min_results!r}."
        )
    if timeout is not None and (not isinstance(timeout, Real) or not timeout > 0):
        raise ValueError(f"timeout must be None or a number of seconds > 0; got {timeout!r}.")
    if not isinstance(chunk_size, Integral) or chunk_size < 1:
        raise ValueError(f"chunk_size must be an int >= 1; got {chunk_size!r}.")
    if submit_order not in SUBMIT_ORDERS:
        raise ValueError(f"submit_order must be one of {SUBMIT_ORDERS}; got {submit_order!r}.")


def _check_hedge(first, hedge_after, n_workers):
    """``first`` as an index array when ``hedge_after`` is set, else None (errors name them)."""
    if hedge_after is None:
        return None
    if not isinstance(hedge_after, Real) or isinstance(hedge_after, bool) or not hedge_after >= 0:
        raise ValueError(f"hedge_after must be None or seconds >= 0; got {hedge_after!r}.")
    if first is None:
        raise ValueError("hedge_after needs first, the coded workers sent at once; got None.")
    first = np.unique(np.asarray(first, dtype=np.intp).ravel())
    if first.size == 0 or first.min() < 0 or first.max() >= n_workers:
        raise ValueError(
            f"first must hold coded workers in [0, {n_workers}); got {first.tolist()!r}."
        )
    return first


def _n_tasks(tasks, executor, client, n_workers):
    """The number of tasks of one request (see ``tasks`` in :func:`run_workers`)."""
    if tasks is None:
        return n_workers
    if isinstance(tasks, str) and tasks == "auto":
        if client is not None:
            return _dask_threads(client)
        return int(getattr(executor, "_max_workers", n_workers) or n_workers)
    if isinstance(tasks, Integral) and not isinstance(tasks, bool) and tasks >= 1:
        return int(tasks)
    raise ValueError(f'tasks must be None, "auto" or an int >= 1; got {tasks!r}.')


#: client -> (time of the count, worker threads); a count is reused this many seconds
_THREADS = weakref.WeakKeyDictionary()
THREADS_TTL = 5.0


def _dask_threads(client):
    """A dask cluster's worker threads, asked of the scheduler at most every few seconds."""
    now = time.monotonic()
    cached = _THREADS.get(client)
    if cached is not None and now - cached[0] < THREADS_TTL:
        return cached[1]
    workers = client.scheduler_info().get("workers", {}).values()  # a scheduler round trip
    total = max(sum(int(w.get("nthreads", 1)) for w in workers), 1)
    _THREADS[client] = (now, total)
    return total


def _lie(adversaries, results, returned, rng):
    """The Byzantine workers' lies, if an adversary model is given."""
    if adversaries is None:
        return results, returned
    return adversaries.corrupt(results, returned, rng)[0], returned


def run_drawn(
    model, method, coded, missing, *, min_results=2, adversaries=None, rng=None, finite=None
):
    """In process, with the straggler mask already drawn: the serving fast path.

    :func:`run_workers` with ``executor=None`` minus its checks, for callers
    that built ``coded`` themselves from validated, finite rows (the coded
    estimators): one call of the method on all N*B rows, then ``missing``
    (N, B) masks rows, then the adversary model lies. ``finite=True``: the
    caller proved every coded entry finite (a bound on ``|E x|``); otherwise
    the entries are checked here.
    """
    if not finite:
        with np.errstate(over="ignore", invalid="ignore"):
            finite = bool(np.isfinite(coded.sum()) or np.isfinite(coded).all())
    # Finite coded rows need no second finiteness check inside a scikit-learn f
    # (its validation on N/K times the request's rows); any other rows keep it.
    with config_context(assume_finite=finite or get_config()["assume_finite"]):
        results, returned = _evaluate(model, method, coded, missing, min_results)
    if adversaries is not None:
        adversaries = check_adversaries(adversaries, coded.shape[0])
    return _lie(adversaries, results, returned, check_random_state(rng))


def simulated_deadline(stragglers, timeout):
    """The straggler model of an in-process request with a time limit.

    Simulated latencies past the hard limit are missing, as on a real executor:
    a :class:`LatencyStragglers` gets ``deadline = min(deadline, timeout)``;
    other models (and ``timeout=None``) are returned as they are.
    """
    if timeout is None or not isinstance(stragglers, LatencyStragglers):
        return stragglers
    deadline = timeout if stragglers.deadline is None else min(stragglers.deadline, timeout)
    return clone(stragglers).set_params(deadline=deadline)


def _run_in_process(model, method, coded, stragglers, min_results, rng):
    """One call of the method on all N*B rows, then the straggler model masks rows."""
    n_workers, n_batches, _ = coded.shape
    missing = stragglers.draw_missing(n_workers, n_batches, rng)
    return _evaluate(model, method, coded, missing, min_results)


def _evaluate(model, method, coded, missing, min_results):
    """f on all N*B coded rows in one call; rows that are ``missing`` or not finite are NaN."""
    n_workers, n_batches, n_features = coded.shape
    # Batch-major memory (encode_request(batch_major=True)): f on the rows in memory
    # order, no copy; f acts row by row, so only its outputs' order is transposed back.
    batch_major = not coded.flags.c_contiguous and coded.transpose(1, 0, 2).flags.c_contiguous
    rows = coded.transpose(1, 0, 2) if batch_major else coded
    outputs = getattr(model, method)(rows.reshape(n_workers * n_batches, n_features))
    try:
        outputs = _as_outputs(outputs, n_workers * n_batches)
    except ValueError as error:
        raise ValueError(
            f"{type(model).__name__}.{method} on the {n_workers * n_batches} coded rows "
            f"returned unusable outputs: {error}"
        ) from None
    if batch_major:
        results = outputs.reshape(n_batches, n_workers, -1).transpose(1, 0, 2)
    else:
        results = outputs.reshape(n_workers, n_batches, -1)
    with np.errstate(over="ignore", invalid="ignore"):  # a NaN or infinity: a non-finite sum
        every_row_finite = results.dtype.kind == "f" and np.isfinite(results.sum())
    returned = ~missing if every_row_finite else finite_rows(results, among=~missing)
    _check_insufficient(returned, min_results, {}, n_workers)
    if not returned.all():
        results = results.copy(order="K")  # batch-major stays batch-major: a flat copy
        results[~returned] = np.nan
    return results, returned
