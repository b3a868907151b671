"""A least-recently-used cache of read-only arrays, bounded in bytes and in entries."""

import contextlib
import functools
import threading
from collections import OrderedDict

import numpy as np


def _nbytes(value):
    if isinstance(value, np.ndarray):
        return value.nbytes
    if isinstance(value, tuple | list):
        return sum(_nbytes(v) for v in value)
    return 0


class ByteLRU:
    """A thread-safe mapping that evicts its least recently used entries past its bounds.

    An entry's size is the sum of ``nbytes`` of the arrays it holds (tuples are
    walked). An entry larger than the whole budget is not stored. Random
    stragglers give a new survivor set, hence a new decoder, nearly every batch:
    counting entries alone would let (n, K) matrices of any size pile up;
    counting bytes alone would let many small entries pile up their keys and
    Python objects, which ``nbytes`` does not see. Both are bounded.

    Parameters
    ----------
    max_bytes : int
        The budget in bytes of the arrays held.
    max_entries : int, default=4096
        The most entries kept.

    Attributes
    ----------
    hits, misses : int
        Look-ups (:meth:`get`) that found an entry, and that did not.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_coded.operators._cache import ByteLRU
    >>> cache = ByteLRU(max_bytes=100)
    >>> cache["a"] = np.zeros(10)  # 80 bytes
    >>> cache["b"] = np.zeros(5)  # 40 more: "a" is evicted
    >>> sorted(cache), cache.nbytes
    (['b'], 40)
    """

    def __init__(self, max_bytes, max_entries=4096):
        self.max_bytes = int(max_bytes)
        self.max_entries = int(max_entries)
        self.nbytes = 0
        self.hits = self.misses = 0
        self._data = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key, default=None):
        with self._lock:
            entry = self._data.get(key)
            if entry is None:
                self.misses += 1
                return default
            self.hits += 1
            self._data.move_to_end(key)
            return entry[0]

    def __setitem__(self, key, value):
        size = _nbytes(value)
        with self._lock:
            old = self._data.pop(key, None)
            if old is not None:
                self.nbytes -= old[1]
            if size > self.max_bytes:
                return
            self._data[key] = (value, size)
            self.nbytes += size
            while self.nbytes > self.max_bytes or len(self._data) > self.max_entries:
                _, (_, evicted) = self._data.popitem(last=False)
                self.nbytes -= evicted

    def pop(self, key, default=None):
        with self._lock:
            entry = self._data.pop(key, None)
            if entry is None:
                return default
            self.nbytes -= entry[1]
            return entry[0]

    def clear(self):
        with self._lock:
            self._data.clear()
            self.nbytes = 0

    def __contains__(self, key):
        return key in self._data

    def __iter__(self):
        return iter(list(self._data))

    def __len__(self):
        return len(self._data)


_TRANSIENT = threading.local()


@contextlib.contextmanager
def transient():
    """Within it, this thread's :func:`byte_cache` functions read their caches but add nothing.

    For values that their caller keeps itself, or that are seldom asked for
    again: a decoder of a one-off survivor set (the serving path keeps the
    decoders it reuses, see ``Codec.decoders``) would only push reusable
    operators out of the caches and grow the process while they fill.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_coded.operators._cache import byte_cache, transient
    >>> @byte_cache(2**20)
    ... def ones(n):
    ...     return np.ones(n)
    >>> with transient():
    ...     _ = ones(3)
    >>> len(ones.cache), float(ones(3).sum()), len(ones.cache)
    (0, 3.0, 1)
    """
    before = getattr(_TRANSIENT, "on", False)
    _TRANSIENT.on = True
    try:
        yield
    finally:
        _TRANSIENT.on = before


def byte_cache(max_bytes, max_entries=4096):
    """Memoise a function of hashable arguments in a :class:`ByteLRU` of ``max_bytes``.

    The wrapped function gets ``cache`` (the ByteLRU) and ``cache_clear``
    attributes. Within :func:`transient`, new values are computed and not kept.
    """

    def decorate(function):
        cache = ByteLRU(max_bytes, max_entries)

        @functools.wraps(function)
        def wrapper(*args):
            value = cache.get(args)
            if value is None:
                value = function(*args)
                if not getattr(_TRANSIENT, "on", False):
                    cache[args] = value
            return value

        wrapper.cache = cache
        wrapper.cache_clear = cache.clear
        return wrapper

    return decorate


class SecondSight:
    """Which keys to keep: those seen again among the last ``max_entries`` first sightings.

    A cache that stores every key fills with keys that never come back when
    most of them are one-offs (a decoder per survivor set, the set drawn
    afresh per request), and the process grows until the cache is full.
    Admitting a key on its second sight keeps the ones that recur; a one-off
    costs one remembered key. The value built at a key's first sight may be
    held with it (:meth:`hold`, up to ``max_bytes`` in all), so that a key
    admitted at its second sight is not built twice. Thread-safe.

    Parameters
    ----------
    max_entries : int, default=1024
        First sightings remembered (the oldest are forgotten first). A key
        that recurs within that many new keys is kept; among the 4^8 survivor
        sets of the serving soak (32 coded rows dealt over 4 workers, one of
        them late) a window of 4096 still admitted 195 sets in 3 minutes
        (which then served 100 of 117,708 batches).
    max_bytes : int, default=4 MiB
        Bytes of held values (the oldest are dropped first, their keys kept).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_coded.operators._cache import SecondSight
    >>> seen = SecondSight(max_entries=2)
    >>> seen.admit("a"), seen.hold("a", np.ones(2)), seen.admit("a")
    ((False, None), None, (True, array([1., 1.])))
    >>> [seen.admit(key)[0] for key in "bcdb"]  # "b" was forgotten: two newer first sightings
    [False, False, False, False]
    """

    def __init__(self, max_entries=1024, max_bytes=4 * 2**20):
        self.max_entries = int(max_entries)
        self.max_bytes = int(max_bytes)
        self.nbytes = 0
        self._keys = OrderedDict()  # key seen once -> the value held for it, or None
        self._lock = threading.Lock()

    def admit(self, key):
        """``(True, the value held or None)`` at a key's second sight; ``(False, None)``."""
        with self._lock:
            if key in self._keys:
                value = self._keys.pop(key)
                self.nbytes -= _nbytes(value)
                return True, value
            self._keys[key] = None
            while len(self._keys) > self.max_entries:
                self.nbytes -= _nbytes(self._keys.popitem(last=False)[1])
            return False, None

    def hold(self, key, value):
        """Hold ``value`` for a key seen once, while it is remembered and the bytes allow."""
        size = _nbytes(value)
        with self._lock:
            if self._keys.get(key, False) is not None or size > self.max_bytes:
                return
            self._keys[key] = value
            self.nbytes += size
            for old, held in self._keys.items():  # over budget: drop the oldest values
                if self.nbytes <= self.max_bytes:
                    break
                if held is not None:
                    self._keys[old] = None
                    self.nbytes -= _nbytes(held)

    def __len__(self):
        return len(self._keys)
