"""Operator caches are bounded in bytes and in entries; one-off keys need not enter them."""

import threading

import numpy as np

from sklearn_coded.operators import make_points, spline_operator
from sklearn_coded.operators._cache import ByteLRU, SecondSight, byte_cache, transient
from sklearn_coded.operators._spline import _spline_operator_cached


def test_least_recently_used_entries_go_first():
    cache = ByteLRU(max_bytes=3 * 80)
    for key in "abc":
        cache[key] = np.zeros(10)
    assert cache.get("a") is not None  # "a" is now the most recent
    cache["d"] = np.zeros(10)
    assert sorted(cache) == ["a", "c", "d"]
    assert cache.nbytes == 240


def test_an_entry_larger_than_the_budget_is_not_kept():
    cache = ByteLRU(max_bytes=100)
    cache["small"] = np.zeros(5)
    cache["big"] = np.zeros(100)
    assert "big" not in cache and "small" in cache
    assert cache.nbytes == 40


def test_replacing_and_popping_keep_the_byte_count():
    cache = ByteLRU(max_bytes=1000)
    cache["a"] = (np.zeros(10), np.zeros(5))
    assert cache.nbytes == 120
    cache["a"] = np.zeros(2)
    assert cache.nbytes == 16
    assert cache.pop("a").shape == (2,) and cache.nbytes == 0 and len(cache) == 0


def test_the_decorator_memoises_and_is_thread_safe():
    calls = []

    @byte_cache(10 * 2**10)
    def square(x):
        calls.append(x)
        return np.full(16, float(x) ** 2)

    threads = [threading.Thread(target=lambda i=i: square(i % 8)) for i in range(64)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert square.cache.nbytes <= 10 * 2**10
    assert np.all(square(3) == 9.0)
    assert len(set(calls)) == 8


def test_spline_operator_cache_stays_within_its_budget_under_new_survivor_sets():
    rng = np.random.default_rng(0)
    cache = _spline_operator_cached.cache
    beta = make_points("chebyshev", 2000)
    alpha = make_points("chebyshev", 64)
    for _ in range(80):  # 80 decoders of (64, 1800): 74 MB if all were kept
        keep = np.sort(rng.choice(2000, 1800, replace=False))
        spline_operator(beta[keep], alpha, 0.0)
        assert cache.nbytes <= cache.max_bytes
    assert cache.nbytes > cache.max_bytes / 2  # it does keep what fits


def test_entries_are_bounded_as_well_as_bytes():
    cache = ByteLRU(max_bytes=2**20, max_entries=3)
    for key in range(10):
        cache[key] = np.zeros(1)  # 8 bytes each: the byte budget alone would keep all
        assert len(cache) <= 3
    assert sorted(cache) == [7, 8, 9] and cache.nbytes == 24


def test_hits_and_misses_are_counted():
    cache = ByteLRU(max_bytes=1000)
    cache["a"] = np.zeros(1)
    [cache.get(key) for key in "aab"]
    assert (cache.hits, cache.misses) == (2, 1)


def test_transient_reads_the_cache_but_adds_nothing():
    @byte_cache(2**20)
    def ones(n):
        return np.ones(n)

    kept = ones(2)
    with transient():
        assert ones(2) is kept  # a hit is still a hit
        fresh = ones(3)
        with transient():
            pass
        ones(4)  # still transient after a nested block
    assert len(ones.cache) == 1 and ones(3) is not fresh
    assert len(ones.cache) == 2  # outside, values are kept again


def test_transient_is_per_thread():
    @byte_cache(2**20)
    def ones(n):
        return np.ones(n)

    with transient():
        thread = threading.Thread(target=ones, args=(5,))
        thread.start()
        thread.join()
    assert len(ones.cache) == 1


def test_second_sight_keeps_recurring_keys_and_remembers_a_bounded_number():
    seen = SecondSight(max_entries=100)
    rng = np.random.default_rng(0)
    one_offs = rng.permutation(10**6)[:5000].tolist()  # distinct keys: none recurs
    assert not any(seen.admit(key)[0] for key in one_offs)
    assert len(seen) == 100
    assert [seen.admit("full set")[0] for _ in range(3)] == [False, True, False]


def test_second_sight_holds_first_values_within_its_bytes():
    seen = SecondSight(max_entries=100, max_bytes=3 * 80)
    for key in range(10):
        seen.admit(key)
        seen.hold(key, np.full(10, float(key)))  # 80 bytes each
        assert seen.nbytes <= 3 * 80
    assert seen.admit(9)[1][0] == 9.0  # the newest values are held
    assert seen.admit(0) == (True, None)  # the oldest value was dropped, its key kept
    seen.hold("never seen", np.zeros(1))
    assert seen.admit("never seen") == (False, None)
