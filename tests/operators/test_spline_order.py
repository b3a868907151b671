"""Splines of order m against a 50-digit solve, polynomial reproduction, and their cost."""

import tracemalloc

import mpmath
import numpy as np
import pytest
from scipy import linalg

from sklearn_coded.operators import coding_operator, make_points, spline_gcv, spline_operator
from sklearn_coded.operators._spline import _penalty, _selected_inverse_traces

RNG = np.random.default_rng(20261129)


def mpmath_smoothing_spline(t, y, s, lam, m, digits=50):
    """The minimiser of (S) with penalty int u^(m)^2 on R, solved with ``digits`` digits.

    Independent of the band algorithm: u(x) = sum_i c_i |x - t_i|^(2m-1) + sum_{j<m} d_j x^j
    with sum_i c_i t_i^j = 0 (Wahba 1990, section 1.3). Then (-1)^m u^(2m) =
    (-1)^m 2 (2m-1)! sum_i c_i delta_{t_i}, so int u^(m)^2 = kappa c' Phi c with
    kappa = (-1)^m 2 (2m-1)!, and the optimality conditions are
    (Phi + n lam kappa I) c + T d = y, T' c = 0.
    """
    with mpmath.workdps(digits):
        n = len(t)
        tt = [mpmath.mpf(float(v)) for v in t]
        kappa = (-1) ** m * 2 * mpmath.factorial(2 * m - 1)
        A = mpmath.matrix(n + m, n + m)
        for i in range(n):
            for j in range(n):
                A[i, j] = abs(tt[i] - tt[j]) ** (2 * m - 1)
            A[i, i] += n * mpmath.mpf(float(lam)) * kappa
            for j in range(m):
                A[i, n + j] = A[n + j, i] = tt[i] ** j
        sol = mpmath.lu_solve(A, mpmath.matrix([mpmath.mpf(float(v)) for v in y] + [0] * m))
        out = []
        for x in s:
            x = mpmath.mpf(float(x))
            value = sum(sol[i] * abs(x - tt[i]) ** (2 * m - 1) for i in range(n))
            out.append(float(value + sum(sol[n + j] * x**j for j in range(m))))
        return np.array(out)


@pytest.mark.parametrize("m", [1, 2, 3])
@pytest.mark.parametrize("lam", [0.0, 1e-5, 1e-2, 10.0])
def test_order_m_equals_a_50_digit_solve(m, lam):
    t = np.sort(RNG.uniform(-1, 1, 11))  # uneven gaps: the hard case
    y = RNG.standard_normal(11)
    s = np.linspace(-1.2, 1.2, 25)  # inside and outside the knots
    expected = mpmath_smoothing_spline(t, y, s, lam, m)
    # measured 2e-16 (m = 1), 3e-14 (m = 2), 2e-12 (m = 3) over 40 draws
    np.testing.assert_allclose(spline_operator(t, s, lam, order=m) @ y, expected, atol=1e-10)


@pytest.mark.parametrize("lam", [0.0, 1e-4, 1.0])
def test_order_four_equals_a_50_digit_solve_on_even_knots(lam):
    n = 12
    t = make_points("uniform", n) + RNG.uniform(-0.3, 0.3, n) * 2 / (n - 1)
    t = np.clip(t, -1, 1)
    y = RNG.standard_normal(n)
    s = np.linspace(-1.2, 1.2, 25)
    expected = mpmath_smoothing_spline(t, y, s, lam, 4)
    # measured <= 1e-12 on jittered knots; knots with gap ratios of 1e-2 lose digits
    # (2e-8 measured): degree-7 collocation and extrapolation amplify rounding
    np.testing.assert_allclose(spline_operator(t, s, lam, order=4) @ y, expected, atol=1e-10)


@pytest.mark.parametrize("m", [1, 2, 3, 4])
@pytest.mark.parametrize("lam", [0.0, 1e-3, 10.0])
def test_polynomials_of_degree_below_m_are_reproduced(m, lam):
    t = make_points("chebyshev", 15)
    s = np.linspace(-1.5, 1.5, 31)
    M = spline_operator(t, s, lam, order=m)
    for degree in range(m):
        coefficients = RNG.standard_normal(degree + 1)
        np.testing.assert_allclose(
            M @ np.polyval(coefficients, t), np.polyval(coefficients, s), atol=1e-10
        )
    # ... and degree m is not, once there is smoothing (its m-th derivative is penalised)
    if lam > 0:
        assert np.abs(M @ t**m - s**m).max() > 1e-6


@pytest.mark.parametrize("m", [1, 2, 3, 4])
def test_zero_smoothing_interpolates_exactly(m):
    t = make_points("chebyshev", 9)
    np.testing.assert_array_equal(spline_operator(t, t, 0.0, order=m), np.eye(9))


def test_order_one_is_piecewise_linear_and_constant_outside():
    t = np.sort(RNG.uniform(-1, 1, 8))
    y = RNG.standard_normal(8)
    s = np.linspace(-1.3, 1.3, 40)
    np.testing.assert_allclose(spline_operator(t, s, 0.0, order=1) @ y, np.interp(s, t, y))


def test_order_two_penalty_equals_green_and_silverman():
    """K = Q R^{-1} Q' of the band code equals the closed form of G&S (1994) eq. 2.4-2.6."""
    t = np.sort(RNG.uniform(-1, 1, 9))
    n, h = t.size, np.diff(t)
    Q = np.zeros((n, n - 2))
    R = np.zeros((n - 2, n - 2))
    for j in range(n - 2):
        Q[j, j], Q[j + 1, j], Q[j + 2, j] = 1 / h[j], -1 / h[j] - 1 / h[j + 1], 1 / h[j + 1]
        R[j, j] = (h[j] + h[j + 1]) / 3
        if j < n - 3:
            R[j, j + 1] = R[j + 1, j] = h[j + 1] / 6
    np.testing.assert_allclose(dense_penalty(t, 2), Q @ linalg.solve(R, Q.T), rtol=1e-10, atol=1e-8)


def symmetric_from_band(band):
    """The dense symmetric matrix of an upper band storage ``band[b - d, j] = A[j - d, j]``."""
    b, N = band.shape[0] - 1, band.shape[1]
    A = np.zeros((N, N))
    for d in range(b + 1):
        A[np.arange(N - d), np.arange(d, N)] = A[np.arange(d, N), np.arange(N - d)] = band[
            b - d, d:
        ]
    return A


def dense_penalty(t, m):
    """K = Q R^{-1} Q' from the band storage of the operator module."""
    Qc, Rb, _ = _penalty(t.tobytes(), m)
    n, N = t.size, t.size - m
    Q = np.zeros((n, N))
    for r in range(m + 1):
        Q[np.arange(N) + r, np.arange(N)] = Qc[r]
    return Q @ linalg.solve(symmetric_from_band(Rb), Q.T)


@pytest.mark.parametrize("m", [2, 3])
def test_gcv_of_order_m_minimises_the_dense_criterion(m):
    t = make_points("chebyshev", 30)
    Y = np.column_stack([np.sin(3 * t), t**4]) + 0.2 * RNG.standard_normal((30, 2))
    K = dense_penalty(t, m)

    def score(lam):
        H = linalg.inv(np.eye(30) + 30 * lam * K)
        return 30 * np.sum(((np.eye(30) - H) @ Y) ** 2) / np.trace(np.eye(30) - H) ** 2

    lam = spline_gcv(t, Y, order=m)
    grid = np.exp(np.linspace(np.log(lam) - 3, np.log(lam) + 3, 61))
    assert score(lam) <= min(score(g) for g in grid) * (1 + 1e-9)


def test_band_inverse_traces_equal_dense_ones():
    N, b = 40, 3
    traces, dense = [], []
    C = np.zeros((b + 1, N))
    for d in range(b + 1):
        C[b - d, d:] = RNG.standard_normal(N - d)
    Cd = symmetric_from_band(C)
    U = []
    for _ in range(3):
        A = np.zeros((b + 1, N))
        for d in range(1, b + 1):
            A[b - d, d:] = RNG.uniform(-1, 1, N - d)
        A[b] = 2 * b + 1 + RNG.uniform(0, 1, N)  # diagonally dominant: SPD
        U.append(linalg.cholesky_banded(A))
        dense.append(np.trace(linalg.solve(symmetric_from_band(A), Cd)))
    traces = _selected_inverse_traces(np.array(U), C)
    np.testing.assert_allclose(traces, dense, rtol=1e-12)


@pytest.mark.parametrize("smoothing", [0.0, 1e-6, "gcv"])
def test_a_decoder_for_4000_workers_takes_memory_linear_in_n(smoothing):
    """O(K n): one dense (n, n) intermediate would need 128 MB.

    Measured peaks: 2 MB (lam = 0), 4.5 MB (lam > 0), 12 MB with GCV, which
    scores 41 lam at once on (41, n, m + 1) band arrays.
    """
    n, K = 4000, 16
    beta = make_points("chebyshev", n + 7)[RNG.choice(n + 7, n, replace=False)]
    beta.sort()
    alpha = make_points("chebyshev", K)
    Y = np.sin(3 * beta)[:, None] + 1e-3 * RNG.standard_normal((n, 4))
    tracemalloc.start()
    D, _ = coding_operator("spline", beta, alpha, smoothing, values=Y)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert D.shape == (K, n)
    assert peak < (16 if smoothing == "gcv" else 8) * 2**20


@pytest.mark.parametrize("order", [0, 1.5, True, "2"])
def test_bad_order_is_named(order):
    with pytest.raises(ValueError, match="order must be an integer >= 1"):
        spline_operator([-1.0, 0.0, 1.0], [0.0], order=order)


def test_too_few_points_for_the_order():
    with pytest.raises(ValueError, match="order 3 needs at least 3 points; got 2"):
        spline_operator([-1.0, 1.0], [0.0], order=3)


def test_rational_schemes_refuse_an_order():
    with pytest.raises(ValueError, match="berrut scheme has no spline order"):
        coding_operator("berrut", [-1.0, 1.0], [0.0], order=3)


def test_dense_and_band_gcv_choose_the_same_lam(monkeypatch):
    """Order 2 with few points scans V in the eigenbasis; the band path must agree."""
    import sklearn_coded.operators._spline as spline

    t = make_points("chebyshev", 120)[RNG.choice(120, 100, replace=False)]
    t.sort()
    Y = np.column_stack([np.sin(3 * t), np.cos(5 * t)]) + 0.1 * RNG.standard_normal((100, 2))
    dense = spline_gcv(t, Y)
    monkeypatch.setattr(spline, "DENSE_GCV_MAX_POINTS", 0)
    band = spline_gcv(t, Y)
    assert dense > 0
    np.testing.assert_allclose(band, dense, rtol=1e-3)


def test_gcv_survives_an_eigensolver_that_does_not_converge(monkeypatch):
    """The eigenvalues only bound the scan: a wider fallback range finds the same lam."""
    import sklearn_coded.operators._spline as spline

    t = make_points("chebyshev", 500)
    Y = np.sin(4 * t)[:, None] + 0.1 * RNG.standard_normal((500, 2))
    expected = spline_gcv(t, Y)

    def fail(*args, **kwargs):
        raise spline.sparse_linalg.ArpackNoConvergence("no convergence", [], [])

    monkeypatch.setattr(spline.sparse_linalg, "eigsh", fail)
    np.testing.assert_allclose(spline_gcv(t, Y), expected, rtol=1e-3)


@pytest.mark.parametrize("m", [1, 2, 3])
@pytest.mark.parametrize("n_extra", [0, 1, 2, 3])
@pytest.mark.parametrize("smoothing", [0.0, 1e-3, "gcv"])
def test_the_fewest_points_an_order_takes(m, n_extra, smoothing):
    # n = m .. m + 3 points: penalty bands as wide as (or wider than) the matrix.
    n = max(m, 2) + n_extra
    t = np.sort(RNG.uniform(-1, 1, n))
    s = np.linspace(-1.3, 1.3, 7)
    Y = RNG.standard_normal((n, 2))
    M, lam = coding_operator("spline", t, s, smoothing, values=Y, order=m)
    for degree in range(m):  # reproduced for every lam, outside the knots too
        np.testing.assert_allclose(M @ t**degree, s**degree, atol=1e-9)
    if smoothing == "gcv" and n > m:
        K = dense_penalty(t, m)

        def score(lam):
            H = linalg.inv(np.eye(n) + n * lam * K)
            return n * np.sum(((np.eye(n) - H) @ Y) ** 2) / np.trace(np.eye(n) - H) ** 2

        if lam > 0:  # the chosen lam minimises the dense criterion near it
            grid = np.exp(np.linspace(np.log(lam) - 2, np.log(lam) + 2, 41))
            # few points: V is flat near its minimum, so a lam a grid step off scores 1e-5 worse
            assert score(lam) <= min(score(g) for g in grid) * (1 + 1e-4)
