"""Request names that keep the dask scheduler's bookkeeping of requests bounded.

The dask scheduler files tasks by group (the key up to its first hexadecimal
word): every request's tasks fall in the group ``sklearn-coded-stop``. When all
tasks of a group are released the scheduler drops the group, and the next
request opens a new one; its spans extension (``distributed.spans``) puts
each new group into a new "default" span and keeps every span and its group
for the scheduler's lifetime, with the source of the code that sent them.
Under steady serving that is one span every few requests: measured on
``benchmarks/bench_serving_soak.py`` (distributed 2026.8), 1797 spans and task
groups over 16,506 requests, about 4.8 KiB of scheduler memory per request.

Spans are never freed (dask/distributed#7977, open). One tiny task per client
in the same group, held while the client lives, keeps the group (and so its
one span) open: one span and one task group however many requests go by.

What still grows: the span's metadata. The scheduler appends one small dict
(``{"type": "Future"}``) to it per ``client.map`` call, and a request makes one
call per physical worker; measured 0.43 KiB of scheduler memory per request on
the soak (8 clients, coalescing, about 4 requests per call).
"""

import threading
import uuid
import weakref

#: the task group of every request's tasks (keys ``GROUP-<hex>-...``)
GROUP = "sklearn-coded-stop"

#: client -> the future of its keep-alive task (dropped once the client is closed)
_KEEP = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


def request_name(client):
    """A new request's name, ``sklearn-coded-stop-<hex>``; its tasks' keys start with it.

    Makes sure ``client`` holds its keep-alive task in the requests' task group
    (submitted once per client, again if it was lost or cancelled).

    Parameters
    ----------
    client : distributed.Client

    Returns
    -------
    name : str

    Examples
    --------
    >>> from distributed import Client
    >>> from sklearn_coded.execution._dask_group import request_name
    >>> with Client(processes=False, dashboard_address=None, n_workers=1) as client:
    ...     names = {request_name(client) for _ in range(3)}
    ...     held = [str(key) for key in client.futures]  # one keep-alive for all of them
    >>> len(names), [key.startswith("sklearn-coded-stop-") for key in held]
    (3, [True])
    """
    with _LOCK:
        # the future refers to its client, so a closed client's entry is dropped here
        for closed in [other for other in list(_KEEP) if other.status in ("closing", "closed")]:
            del _KEEP[closed]
        future = _KEEP.get(client)
        if future is None or future.status in ("cancelled", "error", "lost"):
            key = f"{GROUP}-{uuid.uuid4().hex}-keep"
            _KEEP[client] = client.submit(int, key=key, pure=False)
    return f"{GROUP}-{uuid.uuid4().hex}"
