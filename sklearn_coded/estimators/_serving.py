"""Request coalescing: concurrent requests to one fitted estimator, batched together.

Serving systems batch dynamically (Clipper, Triton, Ray Serve): requests that
arrive within a short wait are predicted in one call. For a coded estimator
this fills whole batches of K rows and sends one task per physical worker for
all of them, instead of one request (and N / W tasks) per caller.
"""

import threading
import time
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state
from sklearn.utils.validation import validate_data

from ..execution import run_workers
from ..execution._run import run_drawn

#: float dtypes a request keeps as they are (sklearn's FLOAT_DTYPES less float16)
_KEPT_FLOATS = (np.dtype(np.float64), np.dtype(np.float32))
_RNGS = threading.local()  # per thread: owner id -> a RandomState reseeded per request
_NAMES = {}  # class -> its parameter names (sklearn reads them from the signature per call)


def request_rows(estimator, X, dtype, *, with_bound=False):
    """``validate_data(estimator, X, reset=False, dtype=dtype)``, with a fast path.

    A request that is a 2-D float64/float32 ndarray with the fitted number of
    columns, at least one row, only finite values and an estimator fitted
    without feature names passes every check ``validate_data`` makes and comes
    back unchanged: it is returned at once, with one finiteness check (its
    smallest and largest entries, which are NaN or infinite if any entry is;
    they cost what a sum does and cannot overflow). Anything else goes through
    ``validate_data``, which converts it or raises sklearn's own error.

    ``with_bound=True`` returns ``(X, bound)``: ``bound`` = max |x| over the
    entries when the fast path found it, else None.
    """
    if (
        type(X) is np.ndarray
        and X.ndim == 2
        and X.dtype in _KEPT_FLOATS
        and X.shape[0] >= 1
        and X.shape[1] == getattr(estimator, "n_features_in_", None)
        and not hasattr(estimator, "feature_names_in_")
    ):
        low, high = X.min(), X.max()  # NaN propagates; an infinity is an extreme
        if np.isfinite(low) and np.isfinite(high):
            return (X, max(-float(low), float(high))) if with_bound else X
    X = validate_data(estimator, X, reset=False, dtype=dtype)
    return (X, None) if with_bound else X


def request_rng(random_state, owner):
    """``check_random_state(random_state)`` without building a generator per request.

    An integer seed gives a generator in the same state as
    ``RandomState(random_state)`` (the same draws): one ``RandomState`` per
    thread and ``owner`` is reseeded (about 1 us) instead of built (about 90 us,
    most of it seeding a fresh MT19937 from the operating system first). The
    generator must not outlive the request that asked for it.
    """
    if not isinstance(random_state, Integral):
        return check_random_state(random_state)
    cache = getattr(_RNGS, "by_owner", None)
    if cache is None or len(cache) > 64:  # bounded: estimators come and go
        cache = _RNGS.by_owner = {}
    rng = cache.get(id(owner))
    if rng is None:
        rng = cache[id(owner)] = np.random.RandomState(random_state)
    else:
        rng.seed(random_state)
    return rng


def shallow_params(estimator):
    """``estimator.get_params(deep=False)`` with its parameter names looked up once per class."""
    cls = type(estimator)
    if cls.get_params is not BaseEstimator.get_params:  # its own (skorch, Pipeline)
        return estimator.get_params(deep=False)
    names = _NAMES.get(cls)
    if names is None:
        names = _NAMES[cls] = tuple(estimator._get_param_names())
    return {name: getattr(estimator, name) for name in names}


class _Request:
    __slots__ = ("X", "error", "finished", "result", "wake")

    def __init__(self, X):
        self.X = X
        self.wake = threading.Event()  # set when done, or when promoted to lead a batch
        self.finished = False
        self.result = None
        self.error = None


class _Queue:
    """The pending requests of one method; the first caller of a batch leads it."""

    def __init__(self, function, max_wait, max_rows):
        self.function = function
        self.max_wait = max_wait
        self.max_rows = max_rows
        self.lock = threading.Lock()
        self.full = threading.Condition(self.lock)
        self.pending = []
        self.rows = 0
        self.n_calls = 0

    def submit(self, X):
        request = _Request(X)
        with self.lock:
            self.pending.append(request)
            self.rows += len(X)
            leader = len(self.pending) == 1
            if self.rows >= self.max_rows:
                self.full.notify()
        if not leader:
            request.wake.wait()
            if not request.finished:  # promoted: what is left of a full batch is its own
                request.wake.clear()
                self._lead(wait=0.0)
        else:
            self._lead(wait=self.max_wait)
        if request.error is not None:
            raise request.error
        return request.result

    def _lead(self, wait):
        """Wait for more requests (or a full batch), take at most max_rows rows, run them."""
        with self.lock:
            end = time.monotonic() + wait
            while self.rows < self.max_rows and (left := end - time.monotonic()) > 0:
                self.full.wait(left)
            taken, rows = 0, 0
            while taken < len(self.pending) and (
                taken == 0 or rows + len(self.pending[taken].X) <= self.max_rows
            ):
                rows += len(self.pending[taken].X)
                taken += 1
            batch, self.pending = self.pending[:taken], self.pending[taken:]
            self.rows -= rows
            if self.pending:  # the first of the rest leads the next batch at once
                self.pending[0].wake.set()
        self._run(batch)

    def _run(self, batch):
        try:
            X = batch[0].X if len(batch) == 1 else np.concatenate([r.X for r in batch])
            self.n_calls += 1
            out = self.function(X)
            start = 0
            for request in batch:
                stop = start + len(request.X)
                request.result = out[start:stop]
                start = stop
        except BaseException as error:  # every caller of the batch gets the error
            for request in batch:
                request.error = error
        finally:
            for request in batch:
                request.finished = True
                request.wake.set()


class CoalescingPredictor:
    """Batch concurrent requests to one fitted estimator (dynamic batching).

    Read more in the :ref:`User Guide <serving>`.

    Thread-safe. Each call of :meth:`predict` (or ``predict_proba``,
    ``predict_log_proba``, ``decision_function``, where the estimator has
    them) joins the batch of its method that is open, or opens one and then
    waits up to ``max_wait`` seconds (or until ``max_rows`` rows are
    waiting) for other callers; the batch (at most ``max_rows`` rows, unless
    one request alone is larger) is predicted in one call of the estimator,
    and every caller gets exactly its own rows back (or the exception the
    call raised); requests left over start the next batch at once. A batch
    being predicted does not block the next one, which collects new callers
    meanwhile.

    Parameters
    ----------
    estimator : fitted estimator
        Typically a :class:`CodedClassifier` or :class:`CodedRegressor`; any
        estimator whose methods take an array of rows.
    max_wait : float, default=0.002
        Seconds the first request of a batch waits for others. 0 batches only
        the requests that arrive while the previous batch is predicted.
    max_rows : int, default=4096
        A batch is closed at once when this many rows are waiting, and holds
        at most this many (a single larger request is predicted alone).

    Attributes
    ----------
    n_calls_ : int
        Calls of the estimator so far, over all methods.

    Notes
    -----
    A coded estimator's predictions depend on the other rows of their batch
    of K (the code's approximation error; exact codes excepted): a caller's
    predictions then depend on the rows of the callers it was batched with,
    within that error. The rows of different callers are coded together,
    so every worker sees combinations of rows from several callers, as it
    sees combinations of one caller's rows without coalescing. Inputs must
    be arrays (or array-likes that ``numpy.concatenate`` accepts) with the
    same columns.

    Examples
    --------
    >>> from concurrent.futures import ThreadPoolExecutor
    >>> import numpy as np
    >>> from sklearn.datasets import make_regression
    >>> from sklearn.linear_model import Ridge
    >>> from sklearn_coded.estimators import CodedRegressor, CoalescingPredictor
    >>> X, y = make_regression(n_samples=64, n_features=4, random_state=0)
    >>> reg = CodedRegressor(Ridge(), scheme="lagrange", batch_size=8, n_coded=12).fit(X, y)
    >>> server = CoalescingPredictor(reg, max_wait=0.01)
    >>> with ThreadPoolExecutor(4) as pool:
    ...     parts = list(pool.map(server.predict, np.split(X, 8)))
    >>> bool(np.allclose(np.concatenate(parts), reg.estimator_.predict(X)))
    True
    """

    def __init__(self, estimator, *, max_wait=0.002, max_rows=4096):
        if not isinstance(max_wait, Real) or isinstance(max_wait, bool) or not max_wait >= 0:
            raise ValueError(f"max_wait must be a number of seconds >= 0; got {max_wait!r}.")
        if not isinstance(max_rows, Integral) or isinstance(max_rows, bool) or max_rows < 1:
            raise ValueError(f"max_rows must be an int >= 1; got {max_rows!r}.")
        self.estimator = estimator
        self.max_wait = float(max_wait)
        self.max_rows = int(max_rows)
        self._queues = {}
        self._lock = threading.Lock()

    @property
    def n_calls_(self):
        return sum(queue.n_calls for queue in self._queues.values())

    def _queue(self, name):
        with self._lock:
            queue = self._queues.get(name)
            if queue is None:
                function = getattr(self.estimator, name)  # AttributeError if it has none
                queue = self._queues[name] = _Queue(function, self.max_wait, self.max_rows)
            return queue

    def _call(self, name, X):
        X = np.asarray(X)
        if X.ndim != 2:
            raise ValueError(f"X must be a 2-D array of rows; got shape {X.shape}.")
        if len(X) == 0:
            return getattr(self.estimator, name)(X)
        return self._queue(name).submit(X)

    def predict(self, X):
        """The estimator's ``predict`` of the rows ``X``, batched with concurrent calls.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_outputs)
        """
        return self._call("predict", X)

    def predict_proba(self, X):
        """The estimator's ``predict_proba``, batched with concurrent calls.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
        """
        return self._call("predict_proba", X)

    def predict_log_proba(self, X):
        """The estimator's ``predict_log_proba``, batched with concurrent calls.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
        """
        return self._call("predict_log_proba", X)

    def decision_function(self, X):
        """The estimator's ``decision_function``, batched with concurrent calls.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        scores : ndarray of shape (n_samples,) or (n_samples, n_classes)
        """
        return self._call("decision_function", X)


def run_rows(estimator, worker, coded, missing, floor, rng, finite=None, **executor_options):
    """``worker.response`` on coded rows, in process or on the estimator's executor.

    In process (``missing``, the request's simulated straggler mask, given): one
    call on all rows, then the mask and the estimator's adversaries (``finite``:
    True when the coded rows are known to be finite, see
    :func:`~sklearn_coded.execution._run.run_drawn`). Otherwise
    :func:`~sklearn_coded.execution.run_workers` on ``estimator.executor``, one
    task per physical worker, with the estimator's stragglers, timeout and
    adversaries, and ``executor_options`` (its stop rule, a hedge).
    """
    if missing is not None:
        return run_drawn(
            worker,
            "response",
            coded,
            missing,
            min_results=floor,
            adversaries=estimator.adversaries,
            rng=rng,
            finite=finite,
        )
    return run_workers(
        worker,
        "response",
        coded,
        executor=estimator.executor,
        stragglers=estimator.stragglers,
        min_results=floor,
        random_state=rng,
        timeout=estimator.timeout,
        adversaries=estimator.adversaries,
        tasks="auto",  # one task per physical worker, rows interleaved
        max_per_process=estimator.n_private or None,  # dask: no process sees more than T
        **executor_options,
    )
