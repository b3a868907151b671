"""Coded matrix multiplication against numpy."""

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from sklearn_coded.execution import GrossErrors, coded_matmul, matdot_matmul
from sklearn_coded.operators import EXACT_CODES


@pytest.mark.parametrize("code", EXACT_CODES)
@pytest.mark.parametrize("T", [0, 2])
def test_matrix_and_vector_products(code, T):
    # Oracle: numpy. m = 37 rows is not a multiple of the blocks (zero-padded).
    rng = np.random.default_rng(0)
    A, B, x = rng.normal(size=(37, 20)), rng.normal(size=(20, 6)), rng.normal(size=20)
    C = coded_matmul(A, B, 12, code=code, n_private=T, stragglers=2, random_state=0)
    np.testing.assert_allclose(C, A @ B, atol=1e-6)
    y = coded_matmul(A, x, 12, code=code, n_private=T, stragglers=2, random_state=1)
    assert y.shape == (37,)
    np.testing.assert_allclose(y, A @ x, atol=1e-6)


def test_liar_located_on_a_thread_pool():
    rng = np.random.default_rng(1)
    A, B = rng.normal(size=(30, 10)), rng.normal(size=(10, 4))
    with ThreadPoolExecutor(4) as pool:
        C = coded_matmul(
            A,
            B,
            10,
            n_private=1,
            stragglers=2,
            n_adversaries=1,
            adversaries=GrossErrors(1, scale=100.0),
            executor=pool,
            random_state=0,
        )
    np.testing.assert_allclose(C, A @ B, atol=1e-6)


def test_too_few_workers_refused():
    A = np.ones((10, 3))
    with pytest.raises(ValueError, match="needs threshold \\+ 2A"):
        coded_matmul(A, np.ones(3), 6, code="chebyshev", n_blocks=4, stragglers=2, n_private=1)
    with pytest.raises(ValueError, match="A @ B needs"):
        coded_matmul(A, np.ones(4), 6)


@pytest.mark.parametrize("code", ["chebyshev", "vandermonde"])
def test_matdot_against_numpy(code):
    # p = 5 splits of the inner dimension (k = 23 is not a multiple: zero-padded),
    # threshold 2p - 1 = 9 of N = 12 workers, S = 3.
    rng = np.random.default_rng(2)
    A, B, x = rng.normal(size=(7, 23)), rng.normal(size=(23, 4)), rng.normal(size=23)
    C = matdot_matmul(A, B, 12, n_splits=5, code=code, stragglers=3, random_state=0)
    np.testing.assert_allclose(C, A @ B, atol=1e-8)
    y = matdot_matmul(A, x, 12, n_splits=5, code=code, stragglers=3, random_state=1)
    np.testing.assert_allclose(y, A @ x, atol=1e-8)
    with pytest.raises(ValueError, match="needs 2p - 1 \\+ 2A = 9"):
        matdot_matmul(A, B, 10, n_splits=5, code=code, stragglers=2)


def test_orthomatdot_more_accurate_than_monomial_matdot():
    # Fahim-Cadambe: the Chebyshev basis on the Chebyshev grid keeps the decode
    # accurate where monomial MatDot on equispaced points loses digits (p = 12,
    # threshold 23 of N = 26, worst over 5 straggler draws).
    rng = np.random.default_rng(3)
    A, B = rng.normal(size=(5, 48)), rng.normal(size=(48, 3))
    errors = {}
    for code in ("chebyshev", "vandermonde"):
        errors[code] = max(
            np.abs(matdot_matmul(A, B, 26, n_splits=12, code=code, stragglers=3,
                                 random_state=seed) - A @ B).max()
            for seed in range(5)
        )  # fmt: skip
    assert errors["chebyshev"] < 1e-9
    assert errors["chebyshev"] * 100 < errors["vandermonde"]


def test_matdot_liar_located():
    rng = np.random.default_rng(4)
    A, B = rng.normal(size=(6, 20)), rng.normal(size=(20, 3))
    C = matdot_matmul(A, B, 11, n_splits=4, stragglers=2, n_adversaries=1,
                      adversaries=GrossErrors(1, scale=10.0), random_state=0)  # fmt: skip
    np.testing.assert_allclose(C, A @ B, atol=1e-8)
