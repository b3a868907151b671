"""l1 decoding of exact codes (docs/method.rst (9.8)) against the decoder told the liars."""

import numpy as np
import pytest

from sklearn_coded.operators import (
    exact_code,
    exact_decode,
    l1_locate_liars,
    l1_recovery_bound,
    locate_liars,
)


@pytest.mark.parametrize(
    ("name", "degree"), [("chebyshev", 1), ("vandermonde", 1), ("chebyshev", 2)]
)
@pytest.mark.parametrize("seed", range(3))
def test_l1_locates_the_liars_and_decodes_as_the_told_decoder(name, degree, seed):
    rng = np.random.default_rng(seed)
    K, N, A = 3, 14, 2
    code = exact_code(name, K, N, degree=degree)
    X = rng.normal(size=(K, 2))
    u = code.encoder @ X
    Y = u**degree  # f(x) = x^degree, elementwise: a polynomial of that degree
    workers = np.sort(rng.choice(N, N - 1, replace=False))  # one straggler
    Y = Y[workers]
    bad = rng.choice(workers.size, A, replace=False)
    Y[bad] += rng.normal(scale=[[100.0], [0.01]], size=(A, 2))  # a gross and a small lie
    liars = l1_locate_liars(code, workers, Y, A)
    assert set(np.flatnonzero(liars)) == set(bad)
    assert np.array_equal(liars, locate_liars(code, workers, Y, A))  # the exhaustive locator
    kept = ~liars
    told = exact_decode(code, workers[kept], Y[kept])
    np.testing.assert_allclose(told, X**degree, atol=1e-7)


@pytest.mark.parametrize("seed", range(4))
def test_l1_more_liars_than_declared_are_refused_or_decoded_right(seed):
    rng = np.random.default_rng(seed)
    K, N, A = 3, 16, 2
    code = exact_code("chebyshev", K, N)
    X = rng.normal(size=(K, 2))
    Y = code.encoder @ X
    bad = rng.choice(N, 2 * A, replace=False)
    Y[bad] += 10 * rng.normal(size=(2 * A, 2))
    with pytest.raises(ValueError, match="more workers lied than declared"):
        l1_locate_liars(code, np.arange(N), Y, A)


def test_l1_recovery_bound_is_a_coherence_no_codeword_beats():
    code = exact_code("chebyshev", 3, 12)
    workers = np.arange(12)
    bound, mu = l1_recovery_bound(code, workers)
    assert 0 < mu < 1 and bound >= 1 and 2 * bound * mu < 1
    M = code.system(workers)[0]
    v = M @ np.random.default_rng(0).normal(size=(M.shape[1], 2000))
    ratio = np.abs(v).max(axis=0) / np.abs(v).sum(axis=0)
    assert ratio.max() <= mu + 1e-9  # mu is the maximum over all codewords
    assert ratio.max() > 0.5 * mu  # and not a loose number


def test_l1_recovers_every_pattern_up_to_its_bound():
    # within l1_recovery_bound, any pattern of liars, with lies of any sizes, is located
    rng = np.random.default_rng(1)
    code = exact_code("chebyshev", 2, 12)
    workers = np.arange(12)
    bound = l1_recovery_bound(code, workers)[0]
    assert bound >= 1
    for _ in range(10):
        Y = code.encoder @ rng.normal(size=(2, 3))
        bad = rng.choice(12, bound, replace=False)
        Y[bad] += rng.normal(size=(bound, 3)) * 10.0 ** rng.uniform(-3, 3, size=(bound, 1))
        assert set(np.flatnonzero(l1_locate_liars(code, workers, Y, bound))) == set(bad)


def test_l1_names_the_bound_when_too_few_results():
    code = exact_code("chebyshev", 3, 6)
    with pytest.raises(ValueError, match=r"threshold \+ 2A = 7"):
        l1_locate_liars(code, np.arange(6), np.zeros((6, 1)), 2)
