"""Byzantine locators: leave-one-out spline residuals, the rational and the code-span locator."""

import numpy as np
import pytest
from numpy.polynomial import polynomial
from scipy.interpolate import CubicSpline, make_smoothing_spline

from sklearn_coded.operators import (
    LOO_THRESHOLD,
    coding_operator,
    locate_loo,
    locate_rational,
    locate_span,
    make_points,
    rational_locator_bound,
    span_locator_bound,
    span_residuals,
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


# --- the code-span locator (eq. S) ---------------------------------------------------


def affine_results(scheme, K, n, rng, n_outputs=3):
    """Coded rows of K random rows through an affine f: exactly in the span of the code."""
    nodes, t = np.sort(rng.uniform(-0.9, 0.9, K)), np.linspace(-1, 1, n)
    M = coding_operator(scheme, nodes, t)[0]
    X = rng.normal(size=(K, 4))
    W, b = rng.normal(size=(4, n_outputs)), rng.normal(size=n_outputs)
    return M, (M @ X) @ W + b  # f(x) = x W + b on the coded rows


def test_span_residuals_equal_refitting_without_each_row():
    rng = np.random.default_rng(0)
    M, Y = affine_results("spline", 6, 20, rng)
    Y = Y + 0.1 * rng.normal(size=Y.shape)
    loo = span_residuals(M, Y)
    for i in range(20):
        rest = np.delete(np.arange(20), i)
        coef = np.linalg.lstsq(M[rest], Y[rest], rcond=None)[0]
        np.testing.assert_allclose(loo[i], Y[i] - M[i] @ coef, rtol=1e-9, atol=1e-12)
    hat = M @ np.linalg.pinv(M)  # standardized: e_i / sqrt(1 - H_ii)
    expected = (Y - hat @ Y) / np.sqrt(1 - np.diag(hat))[:, None]
    np.testing.assert_allclose(span_residuals(M, Y, standardized=True), expected, atol=1e-12)


@pytest.mark.parametrize("scheme", ["spline", "berrut", "lagrange"])
def test_affine_results_have_no_span_residual(scheme):
    M, Y = affine_results(scheme, 5, 17, np.random.default_rng(1))
    assert np.abs(span_residuals(M, Y)).max() < 1e-9 * np.abs(Y).max()


def test_a_row_no_other_row_checks_has_zero_residual():
    M = np.vstack([np.eye(3), [[0.5, 0.5, 0.0], [0.0, 0.5, 0.5]]])
    M = np.hstack([M, [[0], [0], [0], [0], [0]]])
    M = np.vstack([M, [0, 0, 0, 1]])  # row 5 alone carries the last node: leverage 1
    Y = np.random.default_rng(2).normal(size=(6, 2))
    assert np.all(span_residuals(M, Y)[5] == 0)


def test_swap_rss_equals_refitting_every_swap():
    from sklearn_coded.operators._robust import _swap_rss

    rng = np.random.default_rng(3)
    M, Y = affine_results("berrut", 5, 16, rng)
    Y = Y + 0.3 * rng.normal(size=Y.shape)
    flagged = np.zeros(16, dtype=bool)
    flagged[[2, 9]] = True
    rss, swap = _swap_rss(M, Y, flagged)

    def kept_rss(keep):
        coef = np.linalg.lstsq(M[keep], Y[keep], rcond=None)[0]
        return ((Y[keep] - M[keep] @ coef) ** 2).sum()

    assert rss == pytest.approx(kept_rss(~flagged), rel=1e-10)
    for a, i in enumerate(np.flatnonzero(flagged)):
        for b, j in enumerate(np.flatnonzero(~flagged)):
            keep = ~flagged
            keep[i], keep[j] = True, False
            assert swap[a, b] == pytest.approx(kept_rss(keep), rel=1e-9)


@pytest.mark.parametrize("scheme", ["spline", "berrut", "lagrange"])
@pytest.mark.parametrize("method", ["lts", "trim"])
def test_locate_span_finds_every_liar_of_an_affine_f(scheme, method):
    # r = K nodes, n = r + 2A + 4 rows: exact in every seeded case (the bare IRLS
    # fit is not: two adjacent liars can share its weight, see the next test)
    K, A = 5, 2
    for seed in range(20):
        rng = np.random.default_rng(seed)
        M, Y = affine_results(scheme, K, K + 2 * A + 4, rng)
        bad = rng.choice(len(Y), A, replace=False)
        Y[bad] += 10 * Y.std() * rng.standard_normal((A, Y.shape[1]))
        assert set(np.flatnonzero(locate_span(M, Y, A, method=method))) == set(bad), seed


def test_lts_at_the_bound_beats_the_robust_fit_it_starts_from():
    # n = r + 2A: the least trimmed squares search repairs the IRLS start
    found = {"lts": 0, "irls": 0}
    for seed in range(30):
        rng = np.random.default_rng(seed)
        M, Y = affine_results("spline", 5, 9, rng)
        bad = rng.choice(9, 2, replace=False)
        Y[bad] += 10 * Y.std() * rng.standard_normal((2, Y.shape[1]))
        for method in found:
            found[method] += set(np.flatnonzero(locate_span(M, Y, 2, method=method))) == set(bad)
    assert found["lts"] > found["irls"] + 5


def test_locate_span_flags_nothing_on_clean_rows_and_small_errors():
    rng = np.random.default_rng(4)
    M, Y = affine_results("spline", 6, 40, rng)
    Y = Y + 0.01 * rng.normal(size=Y.shape)  # clean rows: residuals of one size
    assert not locate_span(M, Y, 3).any()
    Y[7] += 0.02  # an error the size of the clean residuals passes
    assert not locate_span(M, Y, 3).any()
    Y[7] += 1.0  # one 100 times that does not
    assert np.flatnonzero(locate_span(M, Y, 3)).tolist() == [7]


def test_locate_span_names_its_bound_and_methods():
    M = coding_operator("spline", np.linspace(-0.5, 0.5, 5), np.linspace(-1, 1, 8))[0]
    with pytest.raises(ValueError, match=r"r=5 nodes needs at least r \+ 2A = 9 rows; got 8"):
        locate_span(M, np.ones((8, 2)), 2)
    with pytest.raises(ValueError, match="method must be one of"):
        locate_span(M, np.ones((8, 2)), 1, method="huber")
    assert span_locator_bound(16, 3) == 22


def test_lts_never_accepts_a_swap_that_raises_the_residual():
    # Bug (issue 16.4): where the kept rows are nearly rank-deficient the rank-one
    # swap formula promised a fall (here -3e5) and the search took a swap that
    # raised the kept rows' RSS from 18.7 to 26.8. Every swap is now refitted.
    from sklearn_coded.operators._robust import _irls_residuals, _trimmed_squares_search

    rng = np.random.default_rng(75)
    K, A, n = 7, 1, 10  # drawn as in the search that found it
    rng.integers(3, 10), rng.integers(1, 4), rng.integers(0, 6)
    nodes = np.cos(np.pi * (np.arange(K) + 0.5) / K)[::-1]
    t = np.sort(rng.uniform(-1, 1, n))
    M = coding_operator("spline", nodes, t)[0]
    Y = M @ rng.standard_normal((K, 2)) + 1e-9 * rng.standard_normal((n, 2))
    Y[rng.choice(n, A, replace=False)] += rng.standard_normal((A, 2)) * 10
    u, spread = _irls_residuals(M, Y)
    start = np.zeros(n, dtype=bool)
    start[np.argsort(-u)[:A]] = True

    def rss(flagged):  # oracle: refit the kept rows with lstsq
        keep = ~flagged
        coef = np.linalg.lstsq(M[keep], Y[keep] / spread, rcond=None)[0]
        return float(((Y[keep] / spread - M[keep] @ coef) ** 2).sum())

    end = _trimmed_squares_search(M, Y / spread, start)
    assert rss(end) <= rss(start) * (1 + 1e-9)
