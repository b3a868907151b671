"""ExactDecoder locates liars by l1 decoding where it is proven (docs/method.rst (9.8))."""

import numpy as np
import pytest

from sklearn_coded.coding import ExactDecoder, UncertifiedDecodeError
from sklearn_coded.operators import exact_code, exact_decode, l1_recovery_bound


def _shares(code, rng, n_outputs=4):
    """Results of a linear f on every worker (exactly a codeword), and the truth f(X)."""
    X = rng.normal(size=(code.n_samples, 6))
    W = rng.normal(size=(6, n_outputs))
    Z = 100.0 * rng.normal(size=(code.n_data_rows - code.n_samples + code.n_padding, 6))
    return (code.encoder @ np.vstack([X, Z])) @ W, X @ W


def _framing_lie(code, workers, liars, rng):
    """Lies that make the liars agree with another codeword M (c + d), d chosen so
    that M d vanishes on threshold - 1 honest workers as well: the framing of
    honest workers, at the positions the attack chose."""
    M = code.system(workers)[0]
    honest = np.setdiff1d(np.arange(workers.size), liars)
    zero = honest[: code.threshold - 1]
    rows = (zero[:, None] * code.share + np.arange(code.share)).ravel()
    null = np.linalg.svd(M[rows])[2][len(rows) :]  # d with M_zero d = 0
    d = null.T @ rng.normal(size=(null.shape[0], 4))
    bad = (np.asarray(liars)[:, None] * code.share + np.arange(code.share)).ravel()
    return bad, 30.0 * (M @ d)[bad] / np.abs(M @ d).max()


def _positions(N, S, A, where):
    """Stragglers and A liars: next to the stragglers, at both ends, or random."""
    stragglers = np.arange(N // 2, N // 2 + S)
    if where == "stragglers":
        liars = np.arange(N // 2 - A, N // 2)
    elif where == "ends":
        liars = np.concatenate([np.arange((A + 1) // 2), N - 1 - np.arange(A // 2)])
    else:
        liars = np.random.default_rng(A).choice(np.setdiff1d(np.arange(N), stragglers), A, False)
    return stragglers, np.sort(liars)


@pytest.mark.parametrize("where", ["stragglers", "ends", "random"])
@pytest.mark.parametrize("A", [1, 2, 3])
def test_l1_decoder_equals_the_told_decoder_and_the_exhaustive_locator(where, A):
    rng = np.random.default_rng(A)
    code = exact_code("rotation", 8, 48, n_private=2)
    Y, truth = _shares(code, rng)
    stragglers, liars = _positions(48, 2, A, where)
    workers = np.setdiff1d(np.arange(48), stragglers)
    assert l1_recovery_bound(code, workers)[0] >= A  # proven: "auto" takes l1
    local = np.searchsorted(workers, liars)
    bad, lie = _framing_lie(code, workers, local, rng)
    Yw = Y[(workers[:, None] * 2 + np.arange(2)).ravel()]
    Yw[bad] += lie
    full = np.full_like(Y, np.nan)
    full[(workers[:, None] * 2 + np.arange(2)).ravel()] = Yw
    l1 = ExactDecoder(8, code="rotation", n_private=2, n_adversaries=A).fit(full)
    exhaustive = ExactDecoder(
        8, code="rotation", n_private=2, n_adversaries=A, locator="exhaustive"
    ).fit(full)
    out_l1, out_ex = l1.transform(full), exhaustive.transform(full)
    assert l1.located_by_ == "l1" and exhaustive.located_by_ == "exhaustive"
    assert l1.certified_ and np.array_equal(np.flatnonzero(l1.flagged_), liars)
    np.testing.assert_array_equal(l1.flagged_, exhaustive.flagged_)
    honest = np.setdiff1d(workers, liars)
    told = exact_decode(code, honest, Y[(honest[:, None] * 2 + np.arange(2)).ravel()])
    scale = np.abs(truth).max()
    np.testing.assert_allclose(out_l1, told, atol=1e-8 * scale)  # the decoder told the liars
    np.testing.assert_allclose(out_l1, truth, atol=1e-6 * scale)
    np.testing.assert_allclose(out_ex, out_l1, atol=1e-8 * scale)


def _l1_weakest_lie(M, liars, rng):
    """A lie on ``liars`` along the codeword direction d of largest
    ``||(M d)_liars||_1 / ||M d||_1`` (the null-space ratio of (9.8)), by sampling."""
    D = rng.normal(size=(M.shape[1], 100_000))
    V = M @ D
    ratio = np.abs(V[liars]).sum(axis=0) / np.abs(V).sum(axis=0)
    return (M @ D[:, np.argmax(ratio)])[liars], float(ratio.max())


def test_auto_falls_back_to_the_exhaustive_search_beyond_the_proven_bound():
    rng = np.random.default_rng(0)
    code = exact_code("chebyshev", 3, 12)
    assert l1_recovery_bound(code, np.arange(12))[0] == 1
    M = code.system(np.arange(12))[0]
    Y, truth = _shares(code, rng)
    liars = [0, 1, 2]  # at the end, lying along l1's weakest direction
    lie, ratio = _l1_weakest_lie(M, liars, rng)
    assert ratio > 0.5  # the null-space property fails: l1 decoding may be fooled
    Y[liars] += 10.0 * lie[:, None] * [1.0, -0.5, 2.0, 0.3]
    forced = ExactDecoder(3, n_adversaries=3, locator="l1").fit(Y)
    with pytest.raises(UncertifiedDecodeError, match="more workers lied than declared"):
        forced.transform(Y)  # l1 alone refuses (never a wrong location)
    assert not forced.certified_ and forced.located_by_ == "l1"
    auto = ExactDecoder(3, n_adversaries=3).fit(Y)
    np.testing.assert_allclose(auto.transform(Y), truth, atol=1e-8 * np.abs(truth).max())
    assert auto.located_by_ == "exhaustive" and auto.certified_
    assert np.array_equal(np.flatnonzero(auto.flagged_), liars)
    # one liar is within the proven bound: l1 locates it, a second one is refused
    Y1, truth1 = _shares(code, rng)
    Y1[11] += 5.0
    one = ExactDecoder(3, n_adversaries=1).fit(Y1)
    np.testing.assert_allclose(one.transform(Y1), truth1, atol=1e-8 * np.abs(truth1).max())
    assert one.located_by_ == "l1" and np.array_equal(np.flatnonzero(one.flagged_), [11])
    Y1[0] += 5.0
    with pytest.raises(UncertifiedDecodeError, match="more workers lied than declared"):
        one.transform(Y1)
    assert one.located_by_ == "l1" and not one.certified_


@pytest.mark.parametrize("seed", range(6))
def test_forced_l1_beyond_its_bound_is_right_or_refused_never_wrong(seed):
    rng = np.random.default_rng(seed)
    code = exact_code("chebyshev", 4, 20, n_private=1)
    Y, truth = _shares(code, rng)
    A = 4  # far beyond l1_recovery_bound (1): no proof, the check decides
    liars = np.sort(rng.choice(20, rng.integers(1, 2 * A + 1), replace=False))
    sizes = 10.0 ** rng.uniform(-2, 2, size=(liars.size, 1))
    Y[liars] += sizes * rng.normal(size=(liars.size, 4))
    dec = ExactDecoder(4, n_private=1, n_adversaries=A, locator="l1").fit(Y)
    try:
        out = dec.transform(Y)
    except UncertifiedDecodeError as error:
        assert (
            not dec.certified_
            and error.n_adversaries == A
            and error.locatable == (20 - code.threshold) // 2
        )
        return
    assert dec.certified_ and liars.size <= A
    np.testing.assert_array_equal(np.flatnonzero(dec.flagged_), liars)
    np.testing.assert_allclose(out, truth, atol=1e-7 * np.abs(truth).max())


def test_honest_results_are_certified_with_nobody_flagged():
    rng = np.random.default_rng(3)
    code = exact_code("rotation", 8, 30, n_private=2)
    Y, truth = _shares(code, rng)
    Y[10:14] = np.nan  # workers 5 and 6 straggle
    dec = ExactDecoder(8, code="rotation", n_private=2, n_adversaries=2).fit(Y)
    np.testing.assert_allclose(dec.transform(Y), truth, atol=1e-8 * np.abs(truth).max())
    assert dec.certified_ and not dec.flagged_.any()


def test_locate_exact_names_its_locator_and_refuses_an_unknown_one():
    from sklearn_coded.operators._exact_liars import locate_exact

    rng = np.random.default_rng(5)
    code = exact_code("rotation", 4, 16, n_private=1)
    Y, _ = _shares(code, rng)
    Y[[6, 7]] += 3.0  # worker 3's two rows
    for locator in ("auto", "l1", "exhaustive"):
        liars, how = locate_exact(code, np.arange(16), Y, 2, locator=locator)
        assert np.array_equal(np.flatnonzero(liars), [3])
        assert how == ("exhaustive" if locator == "exhaustive" else "l1")
    with pytest.raises(ValueError, match="locator must be one of"):
        locate_exact(code, np.arange(16), Y, 2, locator="lp")
