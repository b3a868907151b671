"""Coded matrix multiplication against numpy."""

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from sklearn_coded.execution import GrossErrors, coded_matmul
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
