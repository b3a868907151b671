"""The serving codec keeps the survivor sets that recur, and only those, within its bounds."""

import numpy as np
from sklearn.datasets import make_regression
from sklearn.linear_model import LinearRegression

from sklearn_coded.estimators import CodedRegressor
from sklearn_coded.execution._run import assign_rows
from sklearn_coded.operators._cache import transient
from sklearn_coded.operators._spline import _collocation, _spline_operator_cached

K, N, TASKS = 16, 32, 4


def _codec():
    X, y = make_regression(64, 3, random_state=0)
    reg = CodedRegressor(LinearRegression(), batch_size=K, n_coded=N, random_state=0).fit(X, y)
    return reg._serving_state()[1]


def _late_task_masks(rng, n_batches=3):
    """Survivors when one of 4 physical workers is late: its interleaved coded rows missing."""
    masks = np.ones((n_batches, N), dtype=bool)
    masks[:, assign_rows(N, TASKS, rng)[rng.integers(TASKS)]] = False
    return masks


def _n_kept(codec):
    return sum(len(slots) for slots, _ in codec._slots.values())


def test_one_off_survivor_sets_are_decoded_exactly_and_kept_nowhere():
    codec, rng = _codec(), np.random.default_rng(0)
    operators = len(_spline_operator_cached.cache), len(_collocation.cache)
    seen = set()
    while len(seen) < 150:  # a stream of distinct sets, as the interleaving draws per request
        masks = _late_task_masks(rng)
        if masks[0].tobytes() in seen:
            continue
        seen.add(masks[0].tobytes())
        D, index = codec.decoders(K, masks)
        survivors = np.flatnonzero(masks[0])
        with transient():
            direct = codec.decoder(K).decoding_matrix(survivors)
        for b in range(len(masks)):  # D_F embedded: the same numbers, zero elsewhere
            np.testing.assert_array_equal(D[index[b]][:, survivors], direct)
            assert not D[index[b]][:, ~masks[0]].any()
    assert _n_kept(codec) == 0 and codec._seen.nbytes <= codec._seen.max_bytes
    assert (len(_spline_operator_cached.cache), len(_collocation.cache)) == operators
    assert (codec.hits, codec.misses) == (0, 3 * 150)


def test_a_recurring_set_is_kept_from_its_second_sight():
    codec, rng = _codec(), np.random.default_rng(1)
    masks = _late_task_masks(rng)
    first, _ = codec.decoders(K, masks)
    assert _n_kept(codec) == 0
    misses = _collocation.cache.misses
    second, index = codec.decoders(K, masks)
    assert _collocation.cache.misses == misses  # not built again: its first build was held
    assert _n_kept(codec) == 1
    np.testing.assert_array_equal(second[index[0]], first[0])
    third, index = codec.decoders(K, masks)
    assert third is second and codec.hits == 3  # the third request: one look-up per batch


def test_kept_sets_stay_within_the_entry_bound():
    codec, rng = _codec(), np.random.default_rng(2)
    codec.max_entries = 5
    for _ in range(40):
        masks = _late_task_masks(rng, n_batches=1)
        codec.decoders(K, masks)
        codec.decoders(K, masks)  # seen twice: kept
        assert 1 <= _n_kept(codec) <= 5


def test_a_restart_moves_the_kept_sets_over_without_building_them_again():
    codec, rng = _codec(), np.random.default_rng(3)
    codec.max_entries = 2
    a, b = _late_task_masks(rng, n_batches=1), _late_task_masks(rng, n_batches=1)
    for masks in (a, a, b, b):  # both kept (seen twice)
        codec.decoders(K, masks)
    assert _n_kept(codec) == 2
    c = _late_task_masks(rng, n_batches=1)
    codec.decoders(K, np.concatenate([c, a]))  # c built once, at its first sight
    misses = _collocation.cache.misses
    D, index = codec.decoders(K, np.concatenate([c, a]))  # c kept: past 2 entries, restart
    assert _n_kept(codec) == 2  # c and a, which this call asked for; b dropped
    assert _collocation.cache.misses == misses  # a moved over, c held from its first sight
    for masks in (c, a):
        survivors = np.flatnonzero(masks[0])
        with transient():
            direct = codec.decoder(K).decoding_matrix(survivors)
        row = D[index[0 if masks is c else 1]]
        np.testing.assert_array_equal(row[:, survivors], direct)
        assert not row[:, ~masks[0]].any()


def test_kept_sets_are_written_in_place_never_copied_to_a_larger_store():
    codec, rng = _codec(), np.random.default_rng(4)
    stores = set()
    for _ in range(40):
        masks = _late_task_masks(rng, n_batches=1)
        codec.decoders(K, masks)
        D, _ = codec.decoders(K, masks)  # seen twice: kept
        stores.add(id(D))
    assert _n_kept(codec) == 40 and len(stores) == 1  # one store, room made at once
    room = min(codec.max_entries, codec.max_bytes // (K * N * 8))
    assert D.shape == (room, K, N)
