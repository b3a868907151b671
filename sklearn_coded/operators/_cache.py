"""A least-recently-used cache of read-only arrays, bounded in bytes."""

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
    """A thread-safe mapping that evicts its least recently used entries past ``max_bytes``.

    An entry's size is the sum of ``nbytes`` of the arrays it holds (tuples are
    walked). An entry larger than the whole budget is not stored. Random
    stragglers give a new survivor set, hence a new decoder, nearly every batch:
    counting entries would let (n, K) matrices of any size pile up; counting
    bytes does not.

    Parameters
    ----------
    max_bytes : int
        The budget.

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

    def __init__(self, max_bytes):
        self.max_bytes = int(max_bytes)
        self.nbytes = 0
        self._data = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key, default=None):
        with self._lock:
            entry = self._data.get(key)
            if entry is None:
                return default
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
            while self.nbytes > self.max_bytes:
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


def byte_cache(max_bytes):
    """Memoise a function of hashable arguments in a :class:`ByteLRU` of ``max_bytes``.

    The wrapped function gets ``cache`` (the ByteLRU) and ``cache_clear`` attributes.
    """

    def decorate(function):
        cache = ByteLRU(max_bytes)

        @functools.wraps(function)
        def wrapper(*args):
            value = cache.get(args)
            if value is None:
                value = function(*args)
                cache[args] = value
            return value

        wrapper.cache = cache
        wrapper.cache_clear = cache.clear
        return wrapper

    return decorate
