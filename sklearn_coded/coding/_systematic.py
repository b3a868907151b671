"""Which workers compute f on a data row itself, read off the code (docs/method.rst 12.3).

A coded row ``i`` whose encoding row is a unit vector, ``E[i] = e_k``, is the data
row ``x_k`` itself: its worker's result *is* ``f(x_k)``, for any f, smooth or not.
That holds for the K data workers of a systematic layout (``points="systematic"``:
spline, Berrut and Lagrange interpolate, so the encoder evaluated at a data point
is ``e_k``) and for every replica of replication (``E[i] = e_{i mod K}``). It is
read from the encoding matrix, so every scheme gets it without a flag of its own,
and it vanishes where it must: with encoder smoothing (``lam_enc > 0``) or noise
padding (``n_private > 0``) no coded row is a data row.

:func:`exact_sources` gives that map per batch size; :func:`exact_stop` is the
early stop of a real executor built on it (every row of every batch has one of its
own workers' results), and :func:`exact_first` the workers a hedged request sends
at once (one copy of every row).
"""

import threading

import numpy as np

#: An encoding row within this of a unit vector (max-norm) copies that data row:
#: interpolating operators reproduce their nodes to about 1e-13 (operators/_spline.py).
EXACT_ATOL = 1e-9

_CACHE = {}
_LOCK = threading.Lock()


def exact_sources_of(E, atol=EXACT_ATOL):
    """The data row each coded row copies, -1 where it copies none.

    Parameters
    ----------
    E : ndarray of shape (n_coded, n_samples)
        An encoding matrix.
    atol : float, default=EXACT_ATOL
        Max-norm distance from a unit vector ``e_k`` within which row i copies k.

    Returns
    -------
    sources : ndarray of int of shape (n_coded,)

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_coded.coding._systematic import exact_sources_of
    >>> E = np.array([[1.0, 0.0], [0.5, 0.5], [0.0, 1.0]])
    >>> exact_sources_of(E)
    array([ 0, -1,  1])
    """
    E = np.asarray(E, dtype=np.float64)
    k = E.argmax(axis=1)
    unit = np.zeros_like(E)
    unit[np.arange(E.shape[0]), k] = 1.0
    copies = np.abs(E - unit).max(axis=1) <= atol
    return np.where(copies, k, -1)


def exact_sources(plan, n_samples):
    """:func:`exact_sources_of` the encoder of ``plan`` for batches of ``n_samples`` rows.

    All -1 with ``n_private > 0`` (the padding makes every coded row noisy) or
    ``n_adversaries > 0`` (one worker's row is not certified: docs/method.rst 12.3).
    Cached per plan and batch size.

    Parameters
    ----------
    plan : CodingPlan
    n_samples : int
        k, the rows of the batch.

    Returns
    -------
    sources : ndarray of int of shape (plan.n_coded,), read-only

    Examples
    --------
    >>> from sklearn_coded.coding import CodingPlan
    >>> from sklearn_coded.coding._systematic import exact_sources
    >>> plan = CodingPlan("spline", batch_size=3, n_coded=5, points="systematic")
    >>> exact_sources(plan, 3)
    array([ 0, -1,  1, -1,  2])
    """
    try:
        key = (plan, int(n_samples))
        hash(key)
    except TypeError:  # explicit point arrays: not hashable, not cached
        key = None
    with _LOCK:
        cached = None if key is None else _CACHE.get(key)
    if cached is not None:
        return cached
    if plan.n_private or plan.n_adversaries:
        sources = np.full(plan.n_coded, -1)
    else:
        encoder = plan.coders()[0]().fit(np.zeros((int(n_samples), 1)))
        sources = exact_sources_of(encoder.encoding_matrix(int(n_samples)))
    sources.flags.writeable = False
    if key is None:
        return sources
    with _LOCK:
        if len(_CACHE) > 256:  # plans come and go with set_params: stay bounded
            _CACHE.clear()
        _CACHE[key] = sources
    return sources


def exact_stop(groups, plan):
    """``enough(returned)`` of a real executor: every row answered by a worker holding it.

    True once every kept row of every batch has a finite result from a coded row
    that copies it (:func:`exact_sources`: its data worker on a systematic layout)
    and every batch has the plan's floor of results (``min_results``).
    The decode is then exact on every row; waiting longer buys nothing. It carries
    ``or_default = True``: the executor stops at the earlier of this and its usual
    rule (the straggler model's N - S results per batch).

    Parameters
    ----------
    groups : list of Group
        The chunk's layout, in the order of the columns of ``returned``.
    plan : CodingPlan

    Returns
    -------
    enough : callable or None
        None where some kept row has no coded copy (not systematic, liars, padding):
        the executor's usual rule then applies unchanged.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_coded.coding import CodingPlan
    >>> from sklearn_coded.coding._systematic import exact_stop
    >>> from sklearn_coded.estimators._batching import batch_groups
    >>> plan = CodingPlan("spline", batch_size=3, n_coded=5, points="systematic")
    >>> enough = exact_stop(batch_groups(6, 3), plan)  # two batches; workers 0, 2, 4 hold rows
    >>> returned = np.zeros((5, 2), dtype=bool)
    >>> returned[[0, 2, 4]] = True
    >>> enough(returned), enough(~returned)
    (True, False)
    """
    blocks = []
    start = 0
    for group in groups:
        n_batches, k = group.slots.shape
        sources = exact_sources(plan, k)
        held = np.zeros((k, plan.n_coded))
        copies = np.flatnonzero(sources >= 0)
        held[sources[copies], copies] = 1.0
        kept = group.keep.any(axis=0)  # data slots some batch returns
        if not (held.sum(axis=1)[kept] > 0).all():
            return None
        blocks.append((slice(start, start + n_batches), held[kept]))
        start += n_batches

    floor = plan.min_results  # a requested floor above K is still waited for

    def enough(returned):
        if not (returned.sum(axis=0) >= floor).all():
            return False
        return all((M @ returned[:, cols] >= 1).all() for cols, M in blocks)

    enough.or_default = True
    return enough


def exact_first(groups, plan):
    """The coded workers holding one copy of every data row: a hedge's first tasks.

    For every batch size of ``groups``, the first coded row that copies each data
    row (:func:`exact_sources`): a systematic layout's data workers, replication's
    first replicas.

    Parameters
    ----------
    groups : list of Group
    plan : CodingPlan

    Returns
    -------
    first : ndarray of int, or (k, row)
        The sorted coded workers; where a data row has no copy, the batch size k
        and that row instead (not systematic, liars, padding: nothing to hedge).

    Examples
    --------
    >>> from sklearn_coded.coding import CodingPlan
    >>> from sklearn_coded.coding._systematic import exact_first
    >>> from sklearn_coded.estimators._batching import batch_groups
    >>> plan = CodingPlan("spline", batch_size=3, n_coded=5, points="systematic")
    >>> exact_first(batch_groups(6, 3), plan)
    array([0, 2, 4])
    """
    first = set()
    for group in groups:
        k = group.slots.shape[1]
        sources = exact_sources(plan, k)
        for row in range(k):
            copies = np.flatnonzero(sources == row)
            if copies.size == 0:
                return k, row
            first.add(int(copies[0]))
    return np.array(sorted(first), dtype=np.intp)
