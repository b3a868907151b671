"""A hedge's data rows kept off the workers whose calls are left behind (execution/_placement)."""

import collections
import itertools
import time

import numpy as np
import pytest
from _execution_models import MarkedLinear, marked_coded

from sklearn_coded.execution import _dask, _placement, run_workers

THREADS = {"tcp://a": 1, "tcp://b": 1, "tcp://c": 1, "tcp://d": 1}
FIRST = np.array([0, 2, 4])


def first_arrived(returned):
    """``enough``: every first worker's rows are in."""
    return bool(returned[FIRST].all())


def _sent(seed=0, n_coded=32, k=16):
    """A hedge's submission order: the data rows (first) in random order, then the parity."""
    rng = np.random.default_rng(seed)
    first = rng.permutation(k)
    return np.concatenate([first, k + rng.permutation(n_coded - k)]), set(first.tolist())


@pytest.mark.parametrize("seed", range(5))
def test_data_rows_avoid_the_slow_worker_under_the_same_cap(seed):
    sent, first = _sent(seed)
    placed = _placement._placement(sent, THREADS, first=first, slow={"tcp://d"})
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
    assert _placement._placement(sent, THREADS) == turns
    assert _placement._placement(sent, THREADS, first=first, slow=set()) == turns
    assert _placement._placement(sent, THREADS, slow={"tcp://d"}) == turns  # no hedge
    every = set(THREADS)  # never all slow: the usual turns
    assert _placement._placement(sent, THREADS, first=first, slow=every) == turns


def test_data_rows_that_do_not_fit_the_fast_workers_take_turns():
    sent, first = _sent(0)
    two = {"tcp://a": 1, "tcp://b": 1}  # cap 16: the 16 data rows fit one worker exactly
    placed = _placement._placement(sent, two, first=first, slow={"tcp://b"})
    assert {placed[w] for w in first} == {"tcp://a"}
    more_first = first | {16, 17}  # 18 data rows over one fast worker of room 16
    turns = {int(w): sorted(two)[i % 2] for i, w in enumerate(sent)}
    assert _placement._placement(sent, two, first=more_first, slow={"tcp://b"}) == turns


class _Call:
    def __init__(self, done=False):
        self._done = done

    def done(self):
        return self._done


def _request(client, late_on, addresses=tuple(THREADS)):
    calls = {_Call(): (i, a, 0.0) for i, a in enumerate(addresses) for _ in range(2)}
    pending = {c for c, (_, a, _) in calls.items() if a in late_on}
    _placement._record_left_behind(client, calls, pending)


class _Client:
    status = "running"


def test_a_worker_left_behind_request_after_request_becomes_slow_and_stays_slow_without_news():
    client = _Client()
    addresses = list(THREADS)
    for _ in range(2):  # 1 - 0.75^2 = 0.44 of its calls left behind, on average
        _request(client, {"tcp://d"})
    assert _placement._slow_workers(client, addresses) == set()
    _request(client, {"tcp://d"})  # 1 - 0.75^3 = 0.58
    assert _placement._slow_workers(client, addresses) == {"tcp://d"}
    assert _placement._LEFT_BEHIND[client]["tcp://d"] == pytest.approx(1 - 0.75**3)
    _request(client, set(), addresses=("tcp://a", "tcp://b", "tcp://c"))  # no call to d
    assert _placement._slow_workers(client, addresses) == {"tcp://d"}  # no news: still slow
    _request(client, set())  # on time: 0.58 * 0.75 = 0.44
    assert _placement._slow_workers(client, addresses) == set()


def test_one_late_request_or_every_worker_late_makes_none_slow():
    client = _Client()
    _request(client, {"tcp://d"})  # 0.25 of its calls: not yet slow
    assert _placement._slow_workers(client, list(THREADS)) == set()
    for _ in range(5):
        _request(client, set(THREADS))  # every worker late: none singled out
    assert _placement._slow_workers(client, list(THREADS)) == set()


def test_a_slow_worker_is_due_a_probe_at_most_every_probe_period():
    client, every = _Client(), _placement.SLOW_PROBE_EVERY
    assert _placement._probes_due(client, {"tcp://c", "tcp://d"}, now=10.0) == {
        "tcp://c",
        "tcp://d",
    }
    assert _placement._probes_due(client, {"tcp://d"}, now=10.0 + every / 2) == set()
    assert _placement._probes_due(client, {"tcp://c"}, now=10.0 + every) == {"tcp://c"}
    assert _placement._probes_due(client, {"tcp://c", "tcp://d"}, now=10.0 + 1.5 * every) == {
        "tcp://d"
    }


def test_a_worker_found_slow_again_soon_after_it_was_cleared_is_probed_ever_more_rarely():
    client, every = _Client(), _placement.SLOW_PROBE_EVERY
    now = 100.0

    def fold(share, times):
        nonlocal now
        for _ in range(times):
            now += 0.1
            _placement._fold(client, "tcp://d", share, now=now)

    def probe_interval():
        return _placement._BACKOFF[client]["tcp://d"][0]

    fold(1.0, 3)  # found slow (0.58) for the first time: probed every second
    assert _placement._slow_workers(client, list(THREADS)) == {"tcp://d"}
    assert probe_interval() == every
    expected = every
    for _ in range(8):  # probes clear it, data rows find it slow again: a relapse
        fold(0.0, 2)
        assert _placement._slow_workers(client, list(THREADS)) == set()
        fold(1.0, 3)
        expected = min(2 * expected, _placement.SLOW_PROBE_MAX)
        assert probe_interval() == expected
    assert expected == _placement.SLOW_PROBE_MAX
    last = now
    assert _placement._probes_due(client, {"tcp://d"}, now=last) == {"tcp://d"}
    assert _placement._probes_due(client, {"tcp://d"}, now=last + expected / 2) == set()
    assert _placement._probes_due(client, {"tcp://d"}, now=last + expected) == {"tcp://d"}
    fold(0.0, 2)  # cleared, and found slow again only much later: probed every second
    now += _placement.SLOW_BACKOFF_RESET
    fold(1.0, 3)
    assert probe_interval() == every


def test_a_probe_is_judged_by_its_calls_unanswered_after_the_grace():
    import asyncio

    client = _Client()
    for _ in range(4):
        _placement._fold(client, "tcp://c", 1.0)
        _placement._fold(client, "tcp://d", 1.0)
    before = 1 - 0.75**4
    on_time = [_Call(done=True) for _ in range(4)]
    half_late = [_Call(done=True), _Call(), _Call(done=True), _Call()]

    async def probe_then_wait():
        _placement._judge_probe(client, {"tcp://c": on_time, "tcp://d": half_late}, grace=0.01)
        assert _placement._LEFT_BEHIND[client]["tcp://c"] == pytest.approx(before)  # not yet
        await asyncio.sleep(0.05)

    asyncio.run(probe_then_wait())
    record = _placement._LEFT_BEHIND[client]
    assert record["tcp://c"] == pytest.approx(0.75 * before)
    assert record["tcp://d"] == pytest.approx(before + 0.25 * (0.5 - before))


@pytest.mark.parametrize("probe_seconds", [0.0, 1.0])
def test_dask_a_slow_worker_is_probed_with_parity_the_request_does_not_wait_for(
    dask_client, probe_seconds
):
    # two workers x 4 threads, 6 coded workers (cap 1 per thread): the data rows
    # 0, 2, 4 go to the fast worker, the held parity 1, 3, 5 to the slow one, and a
    # probe sends that parity at once; the request ends with the data rows
    slow_address = sorted(dask_client.scheduler_info()["workers"])[1]
    _placement._LEFT_BEHIND.pop(dask_client, None)
    _placement._PROBED.pop(dask_client, None)
    try:
        for _ in range(4):
            _placement._fold(dask_client, slow_address, 1.0)
        before = 1 - 0.75**4
        model = MarkedLinear(slow_on={1, 3, 5}, seconds=probe_seconds)
        start = time.monotonic()
        _, returned = run_workers(
            model, "decision_function", marked_coded(6, 3), executor=dask_client,
            enough=first_arrived, first=FIRST, hedge_after=30.0, min_results=3,
        )  # fmt: skip
        elapsed = time.monotonic() - start
        assert elapsed < 0.8  # waited for neither the probe's sleep nor the hedge
        assert returned[FIRST].all()
        assert slow_address in _placement._PROBED[dask_client]
        assert _placement._LEFT_BEHIND[dask_client][slow_address] == pytest.approx(before)
        time.sleep(elapsed + 0.5)  # the probe is judged at twice the request's time
        share = _placement._LEFT_BEHIND[dask_client][slow_address]
        if probe_seconds:  # unanswered then: it stays slow
            assert share == pytest.approx(before + 0.25 * (1 - before))
        else:  # answered: its share falls, towards data rows again
            assert share == pytest.approx(0.75 * before)
    finally:
        time.sleep(probe_seconds)  # the probe's calls end before the next test
        _placement._LEFT_BEHIND.pop(dask_client, None)
        _placement._PROBED.pop(dask_client, None)


def test_no_choice_of_slow_workers_puts_more_than_the_cap_on_one_worker():
    # someone who makes chosen workers look slow (answers late on purpose) moves the
    # data rows, never more than ceil(N / threads) = S coded rows onto one worker
    names = sorted(THREADS)
    for seed in range(3):
        sent, first = _sent(seed)
        for n in range(1, len(names)):
            for slow in itertools.combinations(names, n):
                placed = _placement._placement(sent, THREADS, first=first, slow=set(slow))
                assert sorted(placed) == sorted(sent.tolist())
                assert max(collections.Counter(placed.values()).values()) <= 8


# ------------------------------------------ physical workers (tasks="auto") with a hedge
def _cut(n_fast, n_tasks=4, n_coded=32, k=16, seed=0):
    from sklearn_coded.execution import FixedStragglers
    from sklearn_coded.execution._collect import _collection

    coded = np.zeros((n_coded, 1, 2))
    first = np.arange(k)
    rng = np.random.default_rng(seed)
    _, _, target, _, _, held, groups = _collection(
        coded, FixedStragglers(n_coded - k), n_tasks, None, k, rng, first=first, n_fast=n_fast
    )
    return target.assignment, held, groups, first


@pytest.mark.parametrize("seed", range(3))
def test_a_hedge_cut_for_fast_workers_keeps_every_physical_worker_within_the_cap(seed):
    # one of 4 workers slow: the 16 data rows in 3 shares (6, 5, 5), the parity filling
    # every worker to ceil(32 / 4) = 8 coded rows, the slow one with parity only
    assignment, held, groups, first = _cut(3, seed=seed)
    every = np.sort(np.concatenate(assignment))
    np.testing.assert_array_equal(every, np.arange(32))
    rows = collections.Counter()
    for task, coded_workers in enumerate(assignment):
        rows[int(groups[task])] += len(coded_workers)
        is_data = np.isin(coded_workers, first)
        assert is_data.all() != (task in held) and (is_data.all() or not is_data.any())
    assert dict(rows) == {0: 8, 1: 8, 2: 8, 3: 8}
    data = sorted(len(a) for t, a in enumerate(assignment) if t not in held)
    assert data == [5, 5, 6]
    slow_tasks = [t for t in range(len(assignment)) if groups[t] == 3]
    assert len(slow_tasks) == 1 and slow_tasks[0] in held
    gaps = np.diff(assignment[slow_tasks[0]])
    assert gaps.max() <= 3  # its 8 of the 16 parity rows spread over them, no block


@pytest.mark.parametrize("n_fast", [1, 2, 3, 4])
@pytest.mark.parametrize(("n_tasks", "n_coded", "k"), [(4, 32, 16), (5, 32, 16), (3, 12, 9)])
def test_no_number_of_slow_workers_puts_more_than_the_cap_on_one_physical_worker(
    n_fast, n_tasks, n_coded, k
):
    # someone who makes chosen workers look slow changes the cut, never the bound:
    # every physical worker holds at most ceil(N / W) coded rows, each row once
    assignment, held, groups, first = _cut(min(n_fast, n_tasks), n_tasks, n_coded, k)
    np.testing.assert_array_equal(np.sort(np.concatenate(assignment)), np.arange(n_coded))
    rows = collections.Counter()
    for task, coded_workers in enumerate(assignment):
        rows[int(groups[task])] += len(coded_workers)
        assert (task in held) == (not np.isin(coded_workers, first).any())
    assert max(rows.values()) <= -(-n_coded // n_tasks)


def test_a_hedge_without_slow_workers_is_cut_as_before():
    assignment, held, groups, _ = _cut(4)
    assert [len(a) for a in assignment] == [4] * 8
    np.testing.assert_array_equal(groups, [0, 1, 2, 3, 0, 1, 2, 3])
    assert held == (4, 5, 6, 7)
    # data rows that would not fit the fast workers under the cap: cut as before
    assignment, held, _, _ = _cut(1)
    assert [len(a) for a in assignment] == [4] * 8 and held == (4, 5, 6, 7)


WHERE = []  # (worker address, coded worker) of every row computed, in-process workers


class WhereLinear(MarkedLinear):
    def decision_function(self, X):
        import distributed

        address = distributed.get_worker().address
        WHERE.extend((address, int(w)) for w in np.unique(X[:, 0]))
        return super().decision_function(X)


def test_dask_physical_workers_keep_a_hedge_data_rows_off_the_slow_worker(dask_client):
    # 2 workers x 4 threads: 16 coded workers, 8 of them data; cap 16 / 8 = 2 per thread.
    # The slow worker's 4 threads get the 8 parity rows only (its probe sends them at once).
    data = np.arange(8)
    addresses = sorted(dask_client.scheduler_info()["workers"])
    model, coded = WhereLinear(), marked_coded(16, 2)

    def run():
        return run_workers(
            model, "decision_function", coded, executor=dask_client, tasks="auto",
            enough=lambda returned: bool(returned[data].all()), first=data,
            hedge_after=30.0, min_results=8,
        )  # fmt: skip

    _placement._LEFT_BEHIND.pop(dask_client, None)
    _placement._PROBED.pop(dask_client, None)
    try:
        run()  # the list of running workers, cached
        for _ in range(4):
            _placement._fold(dask_client, addresses[1], 1.0)
        assert _dask.slow_threads(dask_client) == 4
        WHERE.clear()
        _, returned = run()
        assert returned[data].all()
        time.sleep(0.5)  # the probe's calls end
        on = collections.defaultdict(set)
        for address, worker in WHERE:
            on[address].add(worker)
        assert on[addresses[0]] == set(range(8))  # every data row, no parity needed
        assert on[addresses[1]] == set(range(8, 16))  # the parity only, all of it
    finally:
        _placement._LEFT_BEHIND.pop(dask_client, None)
        _placement._PROBED.pop(dask_client, None)
