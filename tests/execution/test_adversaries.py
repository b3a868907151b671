"""Adversary models: who lies, how, seeded; applied by run_workers in process and on threads."""

import numpy as np
import pytest
from _execution_models import ExplicitDelays

from sklearn_coded import SplineDecoder, SplineEncoder
from sklearn_coded.coding._byzantine import code_basis
from sklearn_coded.execution import (
    AdaptiveAdversaries,
    BaseAdversaries,
    ChoosingAdversaries,
    GrossErrors,
    SignFlips,
    TargetedShift,
    check_adversaries,
    run_workers,
)


class Net:
    """A small ReLU network with a method to call, as the workers run it."""

    def __init__(self, seed=0):
        rng = np.random.default_rng(seed)
        self.W1, self.W2 = rng.normal(size=(4, 16)), rng.normal(size=(16, 3))

    def scores(self, X):
        return np.maximum(X @ self.W1, 0.0) @ self.W2


def honest(n_workers=20, n_batches=30, n_outputs=3, seed=0):
    rng = np.random.default_rng(seed)
    results = rng.normal(size=(n_workers, n_batches, n_outputs))
    returned = rng.random((n_workers, n_batches)) > 0.1
    results[~returned] = np.nan
    return results, returned


@pytest.mark.parametrize(
    "model", [GrossErrors(3), SignFlips(3), TargetedShift(3), AdaptiveAdversaries(3)]
)
def test_liars_are_a_per_request_set_among_the_returned_rows(model):
    results, returned = honest()
    corrupted, bad = model.corrupt(results, returned, random_state=0)
    liars = np.flatnonzero(bad.any(axis=1))
    assert len(liars) <= 3 and (bad.sum(axis=0) <= 3).all()
    assert not (bad & ~returned).any()  # stragglers do not lie
    np.testing.assert_array_equal(bad[liars], returned[liars])  # a liar lies in every batch
    np.testing.assert_array_equal(corrupted[~bad], results[~bad])  # NaN == NaN here
    assert np.isfinite(corrupted[bad]).all() and (corrupted[bad] != results[bad]).any()
    again, bad_again = model.corrupt(results, returned, random_state=0)
    np.testing.assert_array_equal(again, corrupted)
    np.testing.assert_array_equal(bad_again, bad)


def test_gross_errors_have_the_stated_size_in_spreads():
    results, returned = honest(n_workers=40, n_batches=2000, seed=1)
    corrupted, bad = GrossErrors(2, scale=5.0).corrupt(results, returned, random_state=1)
    spread = np.nanstd(results, axis=0)  # (batches, outputs): the honest spread
    ratio = (corrupted - results)[bad] / np.broadcast_to(spread, results.shape)[bad]
    assert ratio.std() == pytest.approx(5.0, rel=0.03)


def test_sign_flips_negate_and_targeted_shifts_move_one_column():
    results, returned = honest(seed=2)
    flipped, bad = SignFlips(2).corrupt(results, returned, random_state=0)
    np.testing.assert_array_equal(flipped[bad], -results[bad])
    shifted, bad = TargetedShift(2, scale=1.5, target=2).corrupt(results, returned, random_state=0)
    delta = (shifted - results)[bad]
    assert (delta[:, :2] == 0).all()
    spread = np.broadcast_to(np.nanstd(results, axis=0), results.shape)[bad][:, 2]
    np.testing.assert_allclose(delta[:, 2], 1.5 * spread)


def test_adaptive_adversaries_hold_adjacent_coded_points():
    results, returned = honest(seed=3)
    for seed in range(10):
        bad = AdaptiveAdversaries(4).corrupt(results, np.ones_like(returned), seed)[1]
        liars = np.flatnonzero(bad.any(axis=1))
        np.testing.assert_array_equal(liars, np.arange(liars[0], liars[0] + 4))


@pytest.mark.parametrize("executor", [None, "thread_pool", "dask_client"])
def test_run_workers_lies_and_the_robust_decoder_finds_the_liars(executor, request):
    K, N, S, A = 8, 48, 3, 2
    net = Net()
    rng = np.random.default_rng(4)
    X = rng.normal(size=(5, K, 4))  # 5 batches
    encoder = SplineEncoder(N, points="uniform").fit(X[0])
    coded = np.stack([encoder.transform(x) for x in X], axis=1)  # (N, B, 4)
    # S workers that never return, the same ones on every executor: on a real one,
    # who is late is otherwise a matter of timing, and so would be the survivor set
    # the locator works on.
    delays = np.zeros(N)
    delays[np.random.default_rng(0).choice(N, S, replace=False)] = np.inf
    kwargs = {"stragglers": ExplicitDelays(delays), "random_state": 0}
    pool = request.getfixturevalue(executor) if executor else None  # conftest's executors
    clean, returned = run_workers(net, "scores", coded, executor=pool, **kwargs)
    lied, returned_lied = run_workers(
        net, "scores", coded, executor=pool, adversaries=GrossErrors(A, scale=30.0), **kwargs
    )
    if executor is None:  # in process the straggler draws are the same with and without liars
        np.testing.assert_array_equal(returned_lied, returned)
        differs = ~np.isclose(lied, clean).all(axis=2) & returned
        assert 1 <= differs.any(axis=1).sum() <= A
    for b in range(X.shape[0]):
        decoder = SplineDecoder(K, points="uniform", n_adversaries=A).fit(lied[:, b])
        decoded = decoder.transform(lied[:, b])
        liars = ~np.isclose(lied[:, b], net.scores(coded[:, b])).all(axis=1) & returned_lied[:, b]
        np.testing.assert_array_equal(decoder.flagged_, liars)
        told = SplineDecoder(K, points="uniform").fit(lied[:, b])
        expected = told.transform(lied[:, b], returned=returned_lied[:, b] & ~liars)
        np.testing.assert_allclose(decoded, expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    ("adversaries", "error", "message"),
    [
        (GrossErrors(11), ValueError, r"n_adversaries must be an int in \[0, n_workers=10\]"),
        (GrossErrors(1, scale=-1.0), ValueError, "scale must be a finite number >= 0"),
        (3, TypeError, "adversaries must be None or an adversary model"),
    ],
)
def test_invalid_adversaries_are_named(adversaries, error, message):
    with pytest.raises(error, match=message):
        check_adversaries(adversaries, 10)


def _public(K=8, N=40):
    decoder = SplineDecoder(K).fit(np.zeros((N, 1)))
    B = code_basis(decoder, np.arange(N))
    U = np.linalg.svd(B, full_matrices=False)[0]
    return decoder, U


def test_choosing_adversaries_sit_next_to_the_stragglers_and_at_the_ends():
    results, _ = honest(n_workers=40, n_batches=3)
    results = np.nan_to_num(results)
    returned = np.ones((40, 3), dtype=bool)
    returned[[20, 21, 22], 0] = False
    returned[[0, 39], 1] = False
    near = ChoosingAdversaries(2, code=SplineDecoder(8), position="stragglers")
    _, bad = near.corrupt(results, returned, random_state=0)
    assert set(np.flatnonzero(bad[:, 0])) == {19, 23}
    assert set(np.flatnonzero(bad[:, 1])) == {1, 38}
    ends = ChoosingAdversaries(3, code=SplineDecoder(8), position="ends")
    _, bad = ends.corrupt(results, returned, random_state=0)
    np.testing.assert_array_equal(np.flatnonzero(bad[:, 1]), [1, 2, 3])  # 0 is missing
    assert (bad.sum(axis=0) == 3).all() and not (bad & ~returned).any()


def test_weakest_block_and_lie_are_the_codes_least_checked_ones():
    # oracle: brute force over the blocks of 3 adjacent workers, and the syndrome
    # |(I - H) e| of the lie against random lies of the same norm on the same rows
    _decoder, U = _public()
    N, A = 40, 3
    results = np.zeros((N, 1, 2))
    results[:, 0] = U[:, :2]  # clean results in the code's span, spread > 0
    returned = np.ones((N, 1), dtype=bool)
    model = ChoosingAdversaries(A, code=SplineDecoder(8), position="weakest", lie="weakest")
    corrupted, bad = model.corrupt(results, returned, random_state=0)
    top = [np.linalg.eigvalsh(U[i : i + A] @ U[i : i + A].T)[-1] for i in range(N - A + 1)]
    best = int(np.argmax(top))
    np.testing.assert_array_equal(np.flatnonzero(bad[:, 0]), np.arange(best, best + A))
    lie = (corrupted - results)[:, 0, 0]

    def syndrome(e):
        return np.linalg.norm(e - U @ (U.T @ e)) / np.linalg.norm(e)

    rng = np.random.default_rng(0)
    others = []
    for _ in range(50):
        e = np.zeros(N)
        e[bad[:, 0]] = rng.standard_normal(A)
        others.append(syndrome(e))
    assert syndrome(lie) <= min(others) + 1e-12


def test_framing_liars_agree_with_another_codeword():
    # the liars' rows move along a codeword concentrated on them and their A honest
    # neighbours: the lie is (nearly) in the code's span
    _decoder, U = _public()
    N, A = 40, 3
    results = np.zeros((N, 1, 1))
    results[:, 0, 0] = U[:, 0]
    model = ChoosingAdversaries(A, code=SplineDecoder(8), position="ends", lie="frame")
    corrupted, bad = model.corrupt(results, np.ones((N, 1), dtype=bool), random_state=0)
    lie = (corrupted - results)[:, 0, 0]
    assert bad[:, 0].sum() == A
    codeword = U @ (U.T @ lie)
    assert np.abs(codeword[bad[:, 0]] - lie[bad[:, 0]]).max() < 0.5 * np.abs(lie).max()


@pytest.mark.parametrize("executor", [None, "thread_pool"])
def test_run_workers_applies_choosing_adversaries_on_every_executor(executor, request):
    K, N = 8, 32
    net = Net()
    X = np.random.default_rng(3).normal(size=(4, K, 4))
    encoder = SplineEncoder(N).fit(X[0])
    coded = np.stack([encoder.transform(x) for x in X], axis=1)
    pool = request.getfixturevalue(executor) if executor else None
    model = ChoosingAdversaries(3, code=SplineDecoder(K), position="weakest", lie="smooth")
    lied, returned = run_workers(net, "scores", coded, executor=pool, adversaries=model)
    clean = net.scores(coded.reshape(-1, 4)).reshape(N, 4, -1)
    differs = ~np.isclose(lied, clean).all(axis=2) & returned
    assert (differs.sum(axis=0) == 3).all()
    for b in range(4):  # adjacent workers
        assert np.ptp(np.flatnonzero(differs[:, b])) == 2


def test_an_adversary_model_must_lie_somehow():
    # A model implements _lie (liars drawn per request) or overrides corrupt.
    with pytest.raises(TypeError, match="must implement _lie"):

        class Silent(BaseAdversaries):
            def __init__(self, n_adversaries=1):
                self.n_adversaries = n_adversaries
