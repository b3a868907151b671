"""What runs on a worker: one task per worker, stoppable between chunks.

Kept in its own small module so that a dask or process-pool worker imports
only this (and numpy) to run it.
"""

import numpy as np


def worker_task(rows, delay, model, method, stop, chunk_size):
    """Compute ``getattr(model, method)`` on one worker's rows, unless stopped first.

    The injected slowness is a wait on the stop flag (it ends early when the
    master stops the request); the rows then go through the method in chunks
    of ``chunk_size``, and the flag is checked before every chunk: a straggler
    whose result is no longer wanted frees its thread within one chunk
    (``Client.cancel`` cannot stop a running dask task; this can).

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

    Returns
    -------
    outputs : ndarray of shape (n_batches,) or (n_batches, n_outputs), or None
        None if the task was stopped.
    """
    stopped = stop.wait(delay) if delay > 0 else stop.is_set()
    if stopped:
        return None
    predict = getattr(model, method)
    outputs = []
    for start in range(0, len(rows), chunk_size):
        if start and stop.is_set():
            return None
        outputs.append(np.asarray(predict(rows[start : start + chunk_size])))
    return outputs[0] if len(outputs) == 1 else np.concatenate(outputs)
