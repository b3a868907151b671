"""What runs on a worker: one task per worker, stoppable between chunks.

:class:`ModelServer` holds a model on a dask worker and runs these tasks
there on direct messages from the client.

Kept in its own small module so that a dask or process-pool worker imports
only this (and numpy) to run it.
"""

import contextvars
import threading
import time

import numpy as np


def worker_task(rows, delay, model, method, stop, chunk_size):
    """Compute ``getattr(model, method)`` on one worker's rows, unless stopped first.

    The injected slowness is a wait on the stop flag (it ends early when the
    master stops the request); the rows then go through the method in chunks
    of ``chunk_size``, and the flag is read before every chunk: a straggler
    whose result is no longer wanted frees its thread within one chunk, and
    one still queued when its request ended returns without computing.

    Parameters
    ----------
    rows : ndarray of shape (n_batches, n_features)
        This worker's coded row of every batch.
    delay : float
        Injected latency in seconds (0 for none).
    model : object
        Has the method ``method``.
    method : str
        Name of the method to call on row blocks.
    stop : threading.Event or multiprocessing Event proxy
        Set by the master once it has what it needs (on dask, by a message to
        the worker's :class:`ModelServer`).
    chunk_size : int
        Rows per call of the method.

    Returns
    -------
    outputs : ndarray of shape (n_batches,) or (n_batches, n_outputs), or None
        None if the task was stopped.

    Examples
    --------
    >>> import threading
    >>> import numpy as np
    >>> from sklearn.dummy import DummyRegressor
    >>> from sklearn_coded.execution._tasks import worker_task
    >>> model = DummyRegressor().fit(np.zeros((2, 1)), [1.0, 3.0])
    >>> stop = threading.Event()
    >>> worker_task(np.zeros((3, 1)), 0.0, model, "predict", stop, chunk_size=2)
    array([2., 2., 2.])
    >>> stop.set()
    >>> worker_task(np.zeros((3, 1)), 0.0, model, "predict", stop, chunk_size=2) is None
    True
    """
    if stop.wait(delay) if delay > 0 else stop.is_set():
        return None
    predict = getattr(model, method)
    outputs = []
    for start in range(0, len(rows), chunk_size):
        if start and stop.is_set():
            return None
        outputs.append(np.asarray(predict(rows[start : start + chunk_size])))
    return outputs[0] if len(outputs) == 1 else np.concatenate(outputs)


_CURRENT = contextvars.ContextVar("sklearn_coded_call", default=None)


def current_call():
    """The name of the :class:`ModelServer` call being computed, or None.

    What ``distributed.get_worker().get_current_task()`` is to a dask task: a
    model can read which request and coded worker it is computing for.
    """
    return _CURRENT.get()


#: Seconds a worker remembers that a request was stopped (a call of it that
#: arrives later returns None at once); an ended request's calls arrive long before.
STOP_KEPT = 10.0


class ModelServer:
    """One model held on one dask worker, run by direct messages (a dask actor).

    The client calls :meth:`run` once per coded worker of a request, and
    :meth:`stop` once the request has what it needs. Both are coroutines on the
    worker's event loop, so a stop is read at once even while calls compute in
    the worker's threads; :func:`worker_task` reads the flag before its first
    chunk and between chunks, so a queued call of a stopped request returns
    None without computing. Neither message goes through the scheduler: a
    request adds nothing to the scheduler's bookkeeping.

    Parameters
    ----------
    model : object
        Has the methods the client calls.

    Examples
    --------
    A stop is kept, so a call of that request that arrives later skips:

    >>> import asyncio
    >>> from sklearn_coded.execution._tasks import ModelServer
    >>> server = ModelServer(model=None)
    >>> asyncio.run(server.stop("done"))
    >>> server._flag("done")[0].is_set(), server._flag("new")[0].is_set()
    (True, False)
    """

    def __init__(self, model):
        self.model = model
        self._flags = {}  # request -> [threading.Event, calls running, monotonic time stopped]

    def _flag(self, request):
        return self._flags.setdefault(request, [threading.Event(), 0, None])

    async def run(self, request, name, rows, delay, method, chunk_size):
        """:func:`worker_task` on ``rows`` in the worker's threads; None if ``request`` stopped.

        ``name`` names the call (``"{request}-{method}-{coded worker}"``, as a
        dask task key would) for :func:`current_call` while it computes.
        """
        import asyncio

        from distributed import get_worker

        flag = self._flag(request)
        flag[1] += 1
        token = _CURRENT.set(name)
        context = contextvars.copy_context()  # the worker (get_worker()) and this call
        _CURRENT.reset(token)
        try:
            return await asyncio.get_running_loop().run_in_executor(
                get_worker().executor, context.run, worker_task, rows, delay, self.model,
                method, flag[0], chunk_size,
            )  # fmt: skip
        finally:
            flag[1] -= 1
            if not flag[1] and flag[2] is None:
                self._flags.pop(request, None)

    async def stop(self, request):
        """Stop ``request``'s calls, those computing and those still to come."""
        now = time.monotonic()
        for name, (_, running, stopped) in list(self._flags.items()):
            if stopped is not None and not running and now - stopped > STOP_KEPT:
                del self._flags[name]
        flag = self._flag(request)
        flag[0].set()
        flag[2] = now
