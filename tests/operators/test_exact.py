"""Exact real-field codes: exact recovery, thresholds, privacy blocks, conditioning, liars."""

import itertools

import numpy as np
import pytest

from sklearn_coded.coding import ExactDecoder, ExactEncoder
from sklearn_coded.operators import (
    EXACT_CODES,
    exact_code,
    exact_decode,
    exact_encode,
    exact_leakage,
    exact_noise_scale,
    locate_liars,
    worst_condition,
)

REAL_CODES = ("vandermonde", "chebyshev")


def _rows(code, workers):
    workers = np.asarray(workers)
    return (workers[:, None] * code.share + np.arange(code.share)).ravel()


@pytest.mark.parametrize("name", EXACT_CODES)
@pytest.mark.parametrize("T", [0, 1, 2])
def test_linear_f_recovered_from_every_threshold_set(name, T):
    # Oracle: numpy's X @ W. Every survivor set of exactly the threshold (N = 7
    # gives at most 35 sets). Tolerance: worst cond (< 1e3 here) x eps x sigma/spread
    # (1e2) x a safety factor, far below any decoding mistake (O(1)).
    rng = np.random.default_rng(0)
    K, N = 3, 7
    code = exact_code(name, K, N, n_private=T)
    X, W = rng.normal(size=(K, 4)), rng.normal(size=(4, 5))
    Y = exact_encode(code, X, 100.0, rng=rng) @ W
    worst = worst_condition(code)[0]
    for F in itertools.combinations(range(N), code.threshold):
        decoded = exact_decode(code, F, Y[_rows(code, F)])
        assert np.abs(decoded - X @ W).max() < 1e-12 * worst * 100 * 10


@pytest.mark.parametrize("name", REAL_CODES)
@pytest.mark.parametrize("degree", [2, 3])
def test_polynomial_f_of_known_degree(name, degree):
    # f(x) = x**degree entrywise plus a cross term: degree d, threshold d (K + T - 1) + 1.
    rng = np.random.default_rng(1)
    K, T = 3, 1
    threshold = degree * (K + T - 1) + 1
    code = exact_code(name, K, threshold + 2, n_private=T, degree=degree)
    assert code.threshold == threshold
    X = rng.normal(size=(K, 3))

    def f(x):
        return np.column_stack([x**degree, x[:, :1] ** (degree - 1) * x[:, 1:2]])

    Y = f(exact_encode(code, X, 1.0, rng=rng))
    F = np.sort(rng.choice(code.n_coded, threshold, replace=False))
    np.testing.assert_allclose(exact_decode(code, F, Y[F]), f(X), atol=1e-7)
    # one fewer than the threshold: refused, naming the threshold
    with pytest.raises(ValueError, match=f"recovery threshold {threshold}"):
        exact_decode(code, F[:-1], Y[F[:-1]])


def test_rotation_is_linear_only_and_n_coded_checked():
    with pytest.raises(ValueError, match="degree=2"):
        exact_code("rotation", 4, 10, degree=2)
    with pytest.raises(ValueError, match="n_coded=3 is below the recovery threshold 5"):
        exact_code("chebyshev", 4, 3, n_private=1)
    with pytest.raises(ValueError, match="code must be one of"):
        exact_code("lagrange", 4, 8)


@pytest.mark.parametrize("name", EXACT_CODES)
def test_every_t_set_sees_full_rank_padding(name):
    # T-privacy: the colluders' (T * share, P) noise block has full row rank for
    # every T-set, so their view is the data plus a non-degenerate Gaussian; and
    # no worker holds a data or padding row itself (alpha is never a coded point).
    T, N = 2, 9
    code = exact_code(name, 4, N, n_private=T)
    for F in itertools.combinations(range(N), T):
        s = np.linalg.svd(code.noise_block(F), compute_uv=False)
        assert s.size == T * code.share and s.min() > 1e-6
    if code.data_points is not None:
        assert np.abs(code.data_points[:, None] - code.coded_points).min() > 1e-3


@pytest.mark.parametrize("name", EXACT_CODES)
def test_lmmse_leakage_small_and_falls_as_sigma_squared(name):
    # The best linear attack of any T=2 workers (closed form, true covariance) on
    # any data row: R^2 small at sigma = 1e3 and ~ 1 / sigma^2 (100x per 10x sigma).
    thr = exact_code(name, 8, 10**6, n_private=2).threshold
    code = exact_code(name, 8, thr + 3, n_private=2)
    r3, r4 = exact_leakage(code, 1e3), exact_leakage(code, 1e4)
    assert r3 < 0.01
    assert 80 < r3 / r4 < 120
    # repeated queries: R views act like sigma^2 / R
    assert exact_leakage(code, 1e4, n_views=100) == pytest.approx(r3, rel=1e-6)
    # no padding: one worker sees a combination of the rows (R^2 > 0.05)
    assert exact_leakage(exact_code(name, 8, thr + 3), 1e3) > 0.05


def test_leakage_and_noise_scale_closed_form():
    # T = 1, monomial code: worker z sees Z_0 + sum_j X_j z^(1+j); with unit-variance
    # rows the best linear predictor of row j explains z^(2(1+j)) / (sum_k z^(2(1+k))
    # + sigma^2) of its variance; the worst over the 7 equispaced workers and rows.
    K = 4
    code = exact_code("vandermonde", K, 7, n_private=1)
    a = np.linspace(-1, 1, 7)[:, None] ** (1 + np.arange(K))

    def oracle(sigma):
        return float((a**2 / ((a**2).sum(axis=1, keepdims=True) + sigma**2)).max())

    for sigma in (0.5, 3.0, 30.0):
        assert exact_leakage(code, sigma) == pytest.approx(oracle(sigma), rel=1e-9)
    sigma = exact_noise_scale(code, 0.01)
    assert oracle(sigma) <= 0.01 < oracle(0.98 * sigma)
    with pytest.raises(ValueError, match="n_private >= 1"):
        exact_noise_scale(exact_code("vandermonde", K, 7), 0.01)


def test_noise_is_secret_and_fresh():
    code = exact_code("chebyshev", 3, 6, n_private=1)
    X = np.zeros((3, 2))
    a, b = exact_encode(code, X, 1.0), exact_encode(code, X, 1.0)
    assert not np.allclose(a, b)  # private_generator: a fresh draw every call


def test_stable_codes_condition_far_below_monomial():
    # Fahim-Cadambe: Chebyshev grid O(N^(2S)); Ramamoorthy-Tang: unit circle.
    # The monomial-Vandermonde baseline grows exponentially (measured 1.9e6 here).
    K, T, S = 12, 2, 2
    conds = {}
    for name in EXACT_CODES:
        code = exact_code(name, K, (K + T if name != "rotation" else K // 2 + T) + S, n_private=T)
        conds[name], exhaustive = worst_condition(code)
        assert exhaustive
    assert conds["chebyshev"] * 100 < conds["vandermonde"]
    assert conds["rotation"] * 10 < conds["chebyshev"]


@pytest.mark.parametrize("name", EXACT_CODES)
@pytest.mark.parametrize("A", [1, 2])
def test_every_liar_located_at_the_bound(name, A):
    # |F| = threshold + 2A exactly (the stated bound); every choice of liar
    # positions (chosen, not random), lies of several sizes: located exactly.
    rng = np.random.default_rng(2)
    K, T = 4, 1
    thr = (K + T) if name != "rotation" else (K // 2 + T)
    code = exact_code(name, K, thr + 2 * A, n_private=T)
    X = rng.normal(size=(K, 3))
    honest = exact_encode(code, X, 1e3, rng=rng) @ rng.normal(size=(3, 4))
    workers = np.arange(code.n_coded)
    for liars in itertools.combinations(workers, A):
        for size in (1e-3, 1.0, 1e4):
            Y = honest.copy()
            Y[_rows(code, liars)] += size * rng.normal(size=(len(liars) * code.share, 4))
            found = locate_liars(code, workers, Y, A)
            assert np.array_equal(np.flatnonzero(found), liars)
    with pytest.raises(ValueError, match="threshold \\+ 2A"):
        locate_liars(code, workers[:-1], honest[: -code.share], A)


@pytest.mark.parametrize("name", EXACT_CODES)
def test_more_liars_than_declared_refused(name):
    rng = np.random.default_rng(3)
    thr = 5 if name != "rotation" else 3
    code = exact_code(name, 4, thr + 2, n_private=1)
    Y = exact_encode(code, rng.normal(size=(4, 3)), 10.0, rng=rng)
    Y[_rows(code, [0, 3])] += rng.normal(size=(2 * code.share, 3))
    with pytest.raises(ValueError, match="more workers lied than declared"):
        locate_liars(code, np.arange(code.n_coded), Y, 1)


@pytest.mark.parametrize("name", EXACT_CODES)
def test_coders_round_trip_with_stragglers_float32(name):
    rng = np.random.default_rng(4)
    X = rng.normal(size=(5, 3))  # odd K: the rotation code pads a zero row
    enc = ExactEncoder(n_coded=9, code=name, n_private=2, noise_scale=10.0).fit(X)
    shares = enc.transform(X)
    assert shares.shape == (9 * enc.code_.share, 3)
    shares[: enc.code_.share] = np.nan  # worker 0 straggles
    dec = ExactDecoder(n_samples=5, code=name, n_private=2).fit(shares)
    np.testing.assert_allclose(dec.transform(shares), X, atol=1e-9)
    shares32 = enc.transform(X.astype(np.float32))
    out32 = dec.transform(shares32)
    assert out32.dtype == np.float32
    # float32: eps 6e-8 x sigma/spread 10 x cond (< 100): about 1e-4
    np.testing.assert_allclose(out32, X, atol=5e-3)
    bad = shares.copy()
    bad[: (9 - enc.code_.threshold + 1) * enc.code_.share] = np.nan
    with pytest.raises(ValueError, match="recovery threshold"):
        dec.transform(bad)
