"""Byzantine locators: leave-one-out spline residuals and the rational error locator."""

import numpy as np
import pytest
from numpy.polynomial import polynomial
from scipy.interpolate import CubicSpline, make_smoothing_spline

from sklearn_coded.operators import (
    LOO_THRESHOLD,
    locate_loo,
    locate_rational,
    make_points,
    rational_locator_bound,
    spline_loo_residuals,
)

RNG = np.random.default_rng(7)


def natural_spline_at(t, y, s):
    """SciPy's natural cubic spline through (t, y) at s, continued linearly outside."""
    spline = CubicSpline(t, y, bc_type="natural")
    slope = spline.derivative()
    if s < t[0]:
        return y[0] + (s - t[0]) * slope(t[0])
    if s > t[-1]:
        return y[-1] + (s - t[-1]) * slope(t[-1])
    return spline(s)


def test_loo_residuals_equal_refitting_without_each_row():
    # Oracle: SciPy's natural cubic spline through the other rows (eq. L0).
    t = np.sort(RNG.uniform(-1, 1, 12))
    y = np.sin(3 * t) + RNG.normal(scale=0.1, size=12)
    expected = [y[i] - natural_spline_at(np.delete(t, i), np.delete(y, i), t[i]) for i in range(12)]
    np.testing.assert_allclose(spline_loo_residuals(t, y)[:, 0], expected, atol=1e-9)


def test_loo_residuals_with_smoothing_equal_scipy_refits():
    # Eq. (L): the same n * lam penalty (SciPy's lam) for the fit without row i.
    n, lam = 15, 1e-3
    t = np.linspace(-1, 1, n)
    y = np.cos(2 * t) + RNG.normal(scale=0.2, size=n)
    e = spline_loo_residuals(t, y, smoothing=lam)[:, 0]
    for i in range(1, n - 1):  # SciPy extrapolates cubically: interior rows only
        fit = make_smoothing_spline(np.delete(t, i), np.delete(y, i), lam=n * lam)
        assert e[i] == pytest.approx(y[i] - fit(t[i]), abs=1e-8)


@pytest.mark.parametrize("smoothing", [0.0, 1e-3])
def test_standardized_residual_locates_a_single_error_anywhere(smoothing):
    # Lines pass through the spline untouched (K annihilates them), so only the
    # error is left, and by Cauchy-Schwarz its own row has the largest |r|.
    t = np.sort(RNG.uniform(-1, 1, 20))
    for i in range(20):
        y = 3 * t - 1
        y[i] += 2.0
        r = spline_loo_residuals(t, y, smoothing, standardized=True)[:, 0]
        assert np.argmax(np.abs(r)) == i


def smooth_rows(t, m=4):
    """Worker results as the codes produce them: a ReLU network on a spline curve.

    The curve is linear beyond its ends and the network piecewise linear, which
    is what the natural spline's end conditions expect (a curve bending at the
    ends of the interval has large clean residuals there: see locate_loo).
    """
    rng = np.random.default_rng(3)
    alpha = make_points("uniform", 8)
    X = rng.normal(size=(8, 5))
    curve = np.column_stack([CubicSpline(alpha, X[:, j], bc_type="natural")(t) for j in range(5)])
    hidden = np.maximum(curve @ rng.normal(size=(5, 16)), 0.0)
    return hidden @ rng.normal(size=(16, m))


@pytest.mark.parametrize("bad", [[5, 30, 60], [46, 48, 10], [0, 1, 75], [20, 21, 22]])
def test_locate_loo_flags_gross_errors_exactly(bad):
    # Two errors around a clean row, at the ends, and three adjacent ones.
    rng = np.random.default_rng(0)
    t = make_points("uniform", 76)
    Y = smooth_rows(t)
    Y[bad] += rng.normal(scale=10.0 * Y.std(), size=(3, Y.shape[1]))
    assert set(np.flatnonzero(locate_loo(t, Y, 3))) == set(bad)


def test_locate_loo_flags_nothing_on_clean_rows():
    t = make_points("uniform", 76)
    assert not locate_loo(t, smooth_rows(t), 3).any()
    assert locate_loo(t, smooth_rows(t), 3, threshold=0).sum() == 3  # threshold 0: exactly A


def test_locate_loo_misses_errors_below_the_threshold():
    t = make_points("uniform", 40)
    Y = smooth_rows(t)
    Y[10] += 1e-6  # a subtle lie: far below the threshold
    assert not locate_loo(t, Y, 1).any()
    assert LOO_THRESHOLD > 0


def test_locate_loo_needs_a_plus_3_rows():
    with pytest.raises(ValueError, match=r"A \+ 3 = 5 rows; got 4"):
        locate_loo(np.linspace(-1, 1, 4), np.zeros(4), 2)


def random_rational(t, num_degree, den_degree):
    p = RNG.normal(size=num_degree + 1)
    # q without roots in [-1, 1]: a product of factors (z - r) with |r| > 1.5.
    q = np.array([1.0])
    for r in RNG.uniform(1.5, 3.0, den_degree) * RNG.choice([-1, 1], den_degree):
        q = polynomial.polymul(q, [-r, 1.0])
    return polynomial.polyval(t, p) / polynomial.polyval(t, q)


@pytest.mark.parametrize(("num_degree", "den_degree", "A"), [(3, 3, 2), (4, 0, 2), (5, 5, 1)])
def test_locate_rational_is_exact_at_its_bound(num_degree, den_degree, A):
    n = rational_locator_bound(num_degree, den_degree, A)
    t = make_points("chebyshev", n)
    y = np.column_stack([random_rational(t, num_degree, den_degree) for _ in range(3)])
    bad = RNG.choice(n, A, replace=False)
    y[bad] += RNG.normal(scale=3.0, size=(A, 3))
    flagged = locate_rational(t, y, A, num_degree=num_degree, den_degree=den_degree)
    assert set(np.flatnonzero(flagged)) == set(bad)


def test_locate_rational_refuses_below_its_bound():
    with pytest.raises(ValueError, match=r"2A \+ 1 = 11 rows; got 10"):
        locate_rational(np.linspace(-1, 1, 10), np.zeros(10), 2, num_degree=3, den_degree=3)


def test_rational_bound_is_approxifer_condition():
    K, A, S = 16, 3, 4
    assert rational_locator_bound(K - 1, K - 1, A) + S == 2 * K + 2 * A + S - 1
