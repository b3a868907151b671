"""The spline operator against SciPy's splines, closed forms and limit cases."""

import numpy as np
import pytest
from scipy import linalg
from scipy.interpolate import CubicSpline, make_smoothing_spline

from sklearn_coded.operators import make_points, spline_gcv, spline_operator
from sklearn_coded.operators._spline import _penalty

RNG = np.random.default_rng(20241122)


def _reinsch_matrices(t, m=2):
    """Dense Q (n, n - m) and R (n - m, n - m) from the band storage of the operator."""
    Qc, Rb, _ = _penalty(t.tobytes(), m)
    n, N = t.size, t.size - m
    Q = np.zeros((n, N))
    for r in range(m + 1):
        Q[np.arange(N) + r, np.arange(N)] = Qc[r]
    R = np.zeros((N, N))
    for d in range(m):
        R[np.arange(N - d), np.arange(d, N)] = Rb[m - 1 - d, d:]
        R[np.arange(d, N), np.arange(N - d)] = Rb[m - 1 - d, d:]
    return Q, R


def knots(n, family):
    if family == "random":
        return np.sort(RNG.uniform(-1, 1, n))
    return make_points(family, n)


@pytest.mark.parametrize("family", ["chebyshev", "uniform", "random"])
@pytest.mark.parametrize("n", [5, 9, 40])
@pytest.mark.parametrize("lam", [1e-6, 1e-3, 0.1])
def test_equals_scipy_smoothing_spline_with_lam_times_n(family, n, lam):
    t = knots(n, family)
    y = RNG.standard_normal((n, 3))
    s = np.linspace(t[0], t[-1], 57)  # SciPy extrapolates cubically: compare inside
    expected = make_smoothing_spline(t, y, lam=n * lam)(s)  # SciPy's lam has no 1/n
    # Both are accurate to ~1e-13 of |y| on these sets (checked against 30-digit
    # arithmetic while writing them); 1e-10 leaves room for BLAS differences.
    np.testing.assert_allclose(spline_operator(t, s, lam) @ y, expected, atol=1e-10)


@pytest.mark.parametrize("n", [2, 3, 4, 7, 50])
def test_zero_smoothing_is_natural_cubic_interpolation(n):
    t = knots(n, "chebyshev")
    y = RNG.standard_normal((n, 2))
    s = np.linspace(t[0], t[-1], 41)
    natural = CubicSpline(t, y, bc_type="natural")
    np.testing.assert_allclose(spline_operator(t, s, 0.0) @ y, natural(s), atol=1e-12)
    np.testing.assert_allclose(spline_operator(t, t, 0.0), np.eye(n), atol=1e-14)


@pytest.mark.parametrize("lam", [0.0, 1e-3])
def test_linear_outside_the_fit_points(lam):
    t = knots(6, "chebyshev")
    y = RNG.standard_normal(6)
    inside = spline_operator(t, t, lam) @ y
    fit = make_smoothing_spline(t, y, lam=6 * lam) if lam else CubicSpline(t, y, bc_type="natural")
    slopes = fit.derivative()(t[[0, -1]])
    for end, slope, value, outward in (
        (0, slopes[0], inside[0], -1),
        (-1, slopes[1], inside[-1], 1),
    ):
        s = t[end] + outward * np.array([0.1, 0.4, 1.0])
        np.testing.assert_allclose(
            spline_operator(t, s, lam) @ y, value + slope * (s - t[end]), atol=1e-12
        )


def test_rows_sum_to_one_and_lines_are_reproduced():
    t = knots(12, "random")
    s = np.linspace(-1.5, 1.5, 31)
    for lam in [0.0, 1e-5, 1e-2, 10.0, 1e6]:
        M = spline_operator(t, s, lam)
        np.testing.assert_allclose(M.sum(axis=1), 1.0, atol=1e-12)
        np.testing.assert_allclose(M @ (2.5 * t - 0.75), 2.5 * s - 0.75, atol=1e-11)


def test_infinite_smoothing_tends_to_the_least_squares_line():
    t = knots(9, "uniform")
    y = RNG.standard_normal(9)
    line = np.polyval(np.polyfit(t, y, 1), t)
    np.testing.assert_allclose(spline_operator(t, t, 1e12) @ y, line, atol=1e-8)


def test_objective_is_minimised():
    """u = M y beats perturbed natural splines on the objective of docs/method.rst (2.2)."""
    t, lam = knots(10, "random"), 1e-3
    y = RNG.standard_normal(10)
    Q, R = _reinsch_matrices(t)
    K = Q @ linalg.solve(R, Q.T)  # int g''^2 = g' K g for the natural spline through g

    def objective(g):
        return np.mean((g - y) ** 2) + lam * g @ K @ g

    g = spline_operator(t, t, lam) @ y
    for _ in range(20):
        assert objective(g) < objective(g + 1e-3 * RNG.standard_normal(10))


def test_operator_is_cached_and_read_only():
    t = knots(8, "chebyshev")
    M = spline_operator(t, t[:3], 0.01)
    assert spline_operator(t.copy(), t[:3].copy(), 0.01) is M
    with pytest.raises(ValueError, match="read-only"):
        M[0, 0] = 1.0


def _dense_gcv(t, Y, lam):
    n = t.size
    Q, R = _reinsch_matrices(t)
    H = linalg.inv(np.eye(n) + n * lam * Q @ linalg.solve(R, Q.T))
    rss = np.sum(((np.eye(n) - H) @ Y) ** 2) / n
    return rss / (np.trace(np.eye(n) - H) / n) ** 2


def test_gcv_minimises_the_joint_criterion():
    t = knots(30, "chebyshev")
    Y = np.column_stack([np.sin(3 * t), np.cos(2 * t), t**3]) + 0.2 * RNG.standard_normal((30, 3))
    lam = spline_gcv(t, Y)
    grid = np.exp(np.linspace(np.log(lam) - 3, np.log(lam) + 3, 61))
    scores = [_dense_gcv(t, Y, g) for g in grid]
    # the optimiser's tolerance in log(lam) is 1e-6; the grid step is 0.1
    assert _dense_gcv(t, Y, lam) <= min(scores) * (1 + 1e-9)


def test_gcv_single_column_matches_scipy():
    t = knots(25, "uniform")
    # its own draw, so that the test does not depend on which tests ran before: for
    # some draws V is flat near its minimum and SciPy's lam (see below) is off by 1e-3
    y = np.sin(4 * t) + 0.3 * np.random.default_rng(3).standard_normal(25)
    ours = spline_operator(t, t, spline_gcv(t, y)) @ y
    scipys = make_smoothing_spline(t, y)(t)  # lam=None: SciPy's own GCV, same criterion
    # Both minimise the same V(lam). SciPy searches lam linearly on (0, n) with the
    # bounded optimiser's default xatol of 1e-5, so its lam, and its fit, are only
    # that accurate; ours refines log(lam) (checked against a dense V above).
    np.testing.assert_allclose(ours, scipys, atol=1e-4)


def test_gcv_limit_cases():
    t = knots(10, "chebyshev")
    assert spline_gcv(t, 3 * t + 1) == 0.0  # no roughness to smooth
    assert spline_gcv(t[:2], [1.0, 2.0]) == 0.0  # two points: always a line


@pytest.mark.parametrize("smoothing", [-1.0, np.inf, np.nan])
def test_bad_smoothing_is_named(smoothing):
    with pytest.raises(ValueError, match="smoothing must be a finite number >= 0"):
        spline_operator([-1.0, 0.0, 1.0], [0.0], smoothing)


def test_bad_knots():
    with pytest.raises(ValueError, match="at least 2 points"):
        spline_operator([0.0], [0.0])
    with pytest.raises(ValueError, match="strictly increasing"):
        spline_operator([0.0, 0.0, 1.0], [0.0])
