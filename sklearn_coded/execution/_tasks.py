"""What runs on a worker: one task per worker, stoppable between chunks.

Kept in its own small module so that a dask or process-pool worker imports
only this (and numpy) to run it.
"""

import time

import numpy as np


def worker_task(rows, delay, model, method, stop, chunk_size, sent_at=None, every=0.0):
    """Compute ``getattr(model, method)`` on one worker's rows, unless stopped first.

    The injected slowness is a wait on the stop flag (it ends early when the
    master stops the request); the rows then go through the method in chunks
    of ``chunk_size``, and the flag is checked before the first chunk and
    between chunks: a straggler whose result is no longer wanted frees its
    thread within one chunk (``Client.cancel`` cannot stop a running dask
    task; this can).

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
    stop : threading.Event, distributed.Event or multiprocessing Event proxy
        Set by the master once it has what it needs.
    chunk_size : int
        Rows per call of the method.
    sent_at : float, optional
        ``time.time()`` when the master sent the task.
    every : float, default=0.0
        Seconds between two reads of the flag. A read of a ``distributed.Event``
        is a round trip to the scheduler: a task that started within ``every``
        seconds of ``sent_at`` (not queued behind others) skips the first read,
        and reads it between chunks only once ``every`` seconds have passed
        since the last read. 0 reads it before every chunk.

    Returns
    -------
    outputs : ndarray of shape (n_batches,) or (n_batches, n_outputs), or None
        None if the task was stopped.
    """
    last = time.time() if sent_at is None else sent_at
    if delay > 0:
        stopped = stop.wait(delay)
        last = time.time()
    elif time.time() - last >= every:  # queued, or always read
        stopped = stop.is_set()
        last = time.time()
    else:
        stopped = False
    if stopped:
        return None
    predict = getattr(model, method)
    outputs = []
    for start in range(0, len(rows), chunk_size):
        if start and time.time() - last >= every:
            if stop.is_set():
                return None
            last = time.time()
        outputs.append(np.asarray(predict(rows[start : start + chunk_size])))
    return outputs[0] if len(outputs) == 1 else np.concatenate(outputs)
