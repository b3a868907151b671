"""Private layouts and leakage: closed forms, brute force and the empirical attack."""

import itertools

import numpy as np
import pytest

from sklearn_coded.coding._private import padded_operators
from sklearn_coded.operators import (
    collusion_r2,
    gaussian_leakage,
    n_noise_rows,
    private_layout,
)


def test_single_worker_leakage_is_the_closed_form():
    rng = np.random.default_rng(0)
    A, B = rng.normal(size=(6, 3)), rng.normal(size=(6, 2))
    sigma = 1.7
    r2, mi = gaussian_leakage(A, B, sigma, 1)
    # One worker sees a'x + b'z: R^2_k = a_k^2 / (|a|^2 + sigma^2 |b|^2), max over workers.
    expected = (A**2 / ((A**2).sum(1) + sigma**2 * (B**2).sum(1))[:, None]).max(axis=0)
    np.testing.assert_allclose(r2, expected, rtol=1e-12)
    np.testing.assert_allclose(mi, -0.5 * np.log(1 - expected), rtol=1e-12)


def test_pairs_are_searched_exhaustively():
    rng = np.random.default_rng(1)
    A, B = rng.normal(size=(7, 3)), rng.normal(size=(7, 2))
    r2, _, worst = gaussian_leakage(A, B, 0.5, 2, return_subsets=True)
    for k in range(3):
        best = 0.0
        for J in itertools.combinations(range(7), 2):
            J = list(J)
            C = A[J] @ A[J].T + 0.25 * B[J] @ B[J].T
            best = max(best, A[J, k] @ np.linalg.solve(C, A[J, k]))
        assert r2[k] == pytest.approx(best, rel=1e-10)
        C = A[worst[k]] @ A[worst[k]].T + 0.25 * B[worst[k]] @ B[worst[k]].T
        assert A[worst[k], k] @ np.linalg.solve(C, A[worst[k], k]) == pytest.approx(r2[k])


def test_attack_on_gaussian_data_reaches_the_gaussian_value():
    # For Gaussian rows the least-squares attack is the Bayes predictor: its
    # held-out R^2 matches eq. (G) for the same pair of workers.
    rng = np.random.default_rng(2)
    K, T, N, sigma = 4, 1, 12, 0.5
    alpha, nu, beta = private_layout("uniform", K, T, N)
    A, B = padded_operators("berrut", alpha, nu, beta)
    r2, _, worst = gaussian_leakage(A, B, sigma, 2, return_subsets=True)
    n = 40000
    X = rng.standard_normal((n, K))
    Z = sigma * rng.standard_normal((n, nu.size))
    for k in range(K):
        seen = X @ A[worst[k]].T + Z @ B[worst[k]].T
        assert collusion_r2(X[:, k], seen) == pytest.approx(r2[k], abs=0.015)


def test_more_noise_leaks_less():
    alpha, nu, beta = private_layout("uniform", 8, 2, 40)
    A, B = padded_operators("spline", alpha, nu, beta)
    leak = [gaussian_leakage(A, B, s, 2)[0].max() for s in (0.1, 1.0, 10.0)]
    assert leak[0] > leak[1] > leak[2]


def test_two_noise_rows_do_not_reach_a_local_code():
    # The measured reason for the "alternate" layout: with T = 2 noise points the
    # spline code leaks some row completely whatever the noise.
    alpha, nu, beta = private_layout("uniform", 16, 2, 128, layout="spread", gap=0.0)
    A, B = padded_operators("spline", alpha, nu, beta)
    assert gaussian_leakage(A, B, 100.0, 2)[0].max() > 0.99


def test_layout_sizes_and_errors():
    assert n_noise_rows("alternate", 16, 2) == 17
    assert n_noise_rows("alternate", 4, 9) == 9
    assert n_noise_rows("ends", 16, 3) == 3
    alpha, nu, beta = private_layout("chebyshev", 16, 3, 64, layout="ends")
    assert (alpha.size, nu.size, beta.size) == (16, 3, 64)
    assert np.all(np.diff(beta) > 0)
    with pytest.raises(ValueError, match=r"gap must be in \[0, 0.5\); got 0.5"):
        private_layout("uniform", 4, 1, 10, gap=0.5)
    with pytest.raises(ValueError, match="layout must be one of"):
        private_layout("uniform", 4, 1, 10, layout="middle")
    with pytest.raises(ValueError, match=r"n_colluders must be in \[1, N=3\]"):
        gaussian_leakage(np.ones((3, 1)), np.ones((3, 1)), 1.0, 4)
