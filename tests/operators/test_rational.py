"""Berrut and Lagrange operators against SciPy's interpolators and exact arithmetic."""

import mpmath
import numpy as np
import pytest
from scipy.interpolate import BarycentricInterpolator, FloaterHormannInterpolator

from sklearn_coded.operators import berrut_operator, lagrange_operator, make_points

RNG = np.random.default_rng(7)


@pytest.mark.parametrize("n", [2, 5, 16, 64])
def test_berrut_equals_floater_hormann_d0(n):
    z = np.sort(RNG.uniform(-1, 1, n))
    s = np.linspace(-1.3, 1.3, 53)
    y = RNG.standard_normal((n, 4))
    expected = FloaterHormannInterpolator(z, y, d=0)(s)
    np.testing.assert_allclose(berrut_operator(z, s) @ y, expected, atol=1e-12)


def test_berrut_returns_node_values_at_nodes():
    z = make_points("chebyshev", 6)
    s = np.concatenate([z[[1, 4]], [0.3]])
    M = berrut_operator(z, s)
    np.testing.assert_array_equal(M[:2], np.eye(6)[[1, 4]])
    assert np.all(np.isfinite(M))


def test_berrut_signs_alternate_within_the_nodes_used():
    """A decoder uses the survivors only: signs restart by rank among them."""
    beta = make_points("chebyshev", 9)
    survivors = beta[[0, 2, 3, 7, 8]]
    s = np.array([-0.11, 0.42])
    expected = FloaterHormannInterpolator(survivors, np.eye(5), d=0)(s)
    np.testing.assert_allclose(berrut_operator(survivors, s), expected, atol=1e-13)


@pytest.mark.parametrize("n", [2, 6, 20])
def test_lagrange_equals_barycentric_interpolator(n):
    z = make_points("chebyshev", n)
    s = np.linspace(-1, 1, 37)
    y = RNG.standard_normal((n, 2))
    np.testing.assert_allclose(
        lagrange_operator(z, s) @ y, BarycentricInterpolator(z, y)(s), atol=1e-11
    )


def test_lagrange_is_exact_for_polynomials_and_backward_stable():
    z = np.sort(RNG.uniform(-1, 1, 12))
    s = np.linspace(-1.2, 1.2, 25)
    y = np.polyval(RNG.standard_normal(12), z)
    M = lagrange_operator(z, s)
    with mpmath.workdps(50):  # the exact interpolant of the rounded data
        exact = [
            float(
                mpmath.fsum(
                    y[i]
                    * mpmath.fprod(
                        (x - z[j]) / mpmath.mpf(z[i] - z[j]) for j in range(12) if j != i
                    )
                    for i in range(12)
                )
            )
            for x in map(mpmath.mpf, s)
        ]
    # First (modified) barycentric form, backward stable also when extrapolating
    # (Higham 2004): the error is a few ulps of sum_i |L_i(s) y_i|.
    bound = 50 * np.finfo(float).eps * (np.abs(M) @ np.abs(y))
    assert np.all(np.abs(M @ y - exact) <= bound)
    np.testing.assert_allclose(
        M.sum(axis=1), 1.0, atol=50 * np.finfo(float).eps * np.abs(M).sum(1).max()
    )


def test_lagrange_is_ill_conditioned_on_uniform_points():
    """The Lebesgue constant grows exponentially: the reason for BACC and LeTCC."""
    s = np.linspace(-1, 1, 2001)
    lebesgue = [
        np.abs(lagrange_operator(make_points("uniform", n), s)).sum(1).max() for n in (10, 30)
    ]
    assert lebesgue[1] > 1e4 * lebesgue[0]
    assert np.abs(berrut_operator(make_points("uniform", 30), s)).sum(1).max() < 10


def test_large_node_counts_do_not_overflow():
    z = make_points("chebyshev", 2000)
    M = lagrange_operator(z, np.array([0.123]))
    assert np.all(np.isfinite(M))
    np.testing.assert_allclose(M.sum(), 1.0, atol=1e-10)


def test_bad_nodes():
    with pytest.raises(ValueError, match="strictly increasing"):
        berrut_operator([0.0, -1.0], [0.0])
    with pytest.raises(ValueError, match="at least 1 node"):
        lagrange_operator([], [0.0])
