"""A hedge's data rows kept off the workers whose calls are left behind (execution/_dask.py)."""

import collections
import itertools

import numpy as np
import pytest

from sklearn_coded.execution import _dask

THREADS = {"tcp://a": 1, "tcp://b": 1, "tcp://c": 1, "tcp://d": 1}


def _sent(seed=0, n_coded=32, k=16):
    """A hedge's submission order: the data rows (first) in random order, then the parity."""
    rng = np.random.default_rng(seed)
    first = rng.permutation(k)
    return np.concatenate([first, k + rng.permutation(n_coded - k)]), set(first.tolist())


@pytest.mark.parametrize("seed", range(5))
def test_data_rows_avoid_the_slow_worker_under_the_same_cap(seed):
    sent, first = _sent(seed)
    placed = _dask._placement(sent, THREADS, first=first, slow={"tcp://d"})
    assert sorted(placed) == sorted(sent.tolist())
    per_worker = collections.Counter(placed.values())
    assert max(per_worker.values()) <= 32 // 4  # one worker's loss: at most S = 8 rows
    assert not [w for w in first if placed[w] == "tcp://d"]
    assert per_worker["tcp://d"] == 8  # the slow one takes parity first
    data = collections.Counter(placed[w] for w in first)
    assert max(data.values()) - min(data.values()) <= 1  # 6, 5, 5 over the others


def test_without_a_slow_worker_or_a_hedge_the_threads_take_turns():
    sent, first = _sent(0)
    turns = {int(w): sorted(THREADS)[i % 4] for i, w in enumerate(sent)}
    assert _dask._placement(sent, THREADS) == turns
    assert _dask._placement(sent, THREADS, first=first, slow=set()) == turns
    assert _dask._placement(sent, THREADS, slow={"tcp://d"}) == turns  # no hedge
    every = set(THREADS)  # never all slow: the usual turns
    assert _dask._placement(sent, THREADS, first=first, slow=every) == turns


def test_data_rows_that_do_not_fit_the_fast_workers_take_turns():
    sent, first = _sent(0)
    two = {"tcp://a": 1, "tcp://b": 1}  # cap 16: the 16 data rows fit one worker exactly
    placed = _dask._placement(sent, two, first=first, slow={"tcp://b"})
    assert {placed[w] for w in first} == {"tcp://a"}
    more_first = first | {16, 17}  # 18 data rows over one fast worker of room 16
    turns = {int(w): sorted(two)[i % 2] for i, w in enumerate(sent)}
    assert _dask._placement(sent, two, first=more_first, slow={"tcp://b"}) == turns


class _Call:
    pass


def _request(client, late_on, now, addresses=tuple(THREADS)):
    calls = {_Call(): (i, a, now) for i, a in enumerate(addresses) for _ in range(2)}
    pending = {c for c, (_, a, _) in calls.items() if a in late_on}
    _dask._record_left_behind(client, calls, pending, now=now)


class _Client:
    status = "running"


def test_a_worker_left_behind_request_after_request_becomes_slow_then_is_tried_again():
    client = _Client()
    addresses = list(THREADS)
    for i in range(2):  # 1 - 0.75^2 = 0.44 of its calls left behind, on average
        _request(client, {"tcp://d"}, now=0.01 * i)
    assert _dask._slow_workers(client, addresses, now=0.01) == set()
    _request(client, {"tcp://d"}, now=0.02)  # 1 - 0.75^3 = 0.58
    assert _dask._slow_workers(client, addresses, now=0.02) == {"tcp://d"}
    # without news its share halves every SLOW_HALF_LIFE seconds: tried again
    later = 0.02 + _dask.SLOW_HALF_LIFE
    assert _dask._slow_workers(client, addresses, now=later) == set()
    _request(client, set(), now=later)  # on time: d's share falls further
    assert _dask._slow_workers(client, addresses, now=later) == set()


def test_one_late_request_or_every_worker_late_makes_none_slow():
    client = _Client()
    _request(client, {"tcp://d"}, now=0.0)  # 0.25 of its calls: not yet slow
    assert _dask._slow_workers(client, list(THREADS), now=0.0) == set()
    for i in range(1, 6):
        _request(client, set(THREADS), now=float(i))  # every worker late: none singled out
    assert _dask._slow_workers(client, list(THREADS), now=5.0) == set()


def test_no_choice_of_slow_workers_puts_more_than_the_cap_on_one_worker():
    # someone who makes chosen workers look slow (answers late on purpose) moves the
    # data rows, never more than ceil(N / threads) = S coded rows onto one worker
    names = sorted(THREADS)
    for seed in range(3):
        sent, first = _sent(seed)
        for n in range(1, len(names)):
            for slow in itertools.combinations(names, n):
                placed = _dask._placement(sent, THREADS, first=first, slow=set(slow))
                assert sorted(placed) == sorted(sent.tolist())
                assert max(collections.Counter(placed.values()).values()) <= 8
