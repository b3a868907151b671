"""Leave-one-out spline and rational (Berlekamp-Welch) locators (docs/method.rst section 7).

Up to A of the n results ``y_i`` at coded points ``t_i`` are arbitrary. The
code-span locator of :mod:`._robust` replaced these two as the default (it is
the only one that survives noise padding); they stay for comparison
(``benchmarks/bench_adversarial.py``).

- **Leave-one-out spline residuals** (for the spline code). The residual of row i
  against the spline fitted to all the others, ``e_i = y_i - u_{-i}(t_i)``, is by
  the leave-one-out lemma of smoothing splines (Green & Silverman 1994, eq. 3.3)

      e_i = ((I - H_lam) y)_i / (1 - (H_lam)_ii),           H_lam = (I + n lam K)^{-1}   (L)

  and, letting lam -> 0 (I - H_lam ~ n lam K), for the interpolating spline

      e_i = (K y)_i / K_ii,                                  K = Q R^{-1} Q'              (L0)

  with the Reinsch band matrices Q, R of :mod:`._spline`. The raw residuals do
  not single out the corrupted row: an error e at row i moves row j's residual
  by ``e K_ji / K_jj``, which can exceed e. The standardized residual

      r_i = e_i sqrt(K_ii) = (K y)_i / sqrt(K_ii)                                          (Z)

  does: ``r_i^2`` is how much roughness ``y' K y`` drops when row i is freed, and by
  Cauchy-Schwarz (K is positive semi-definite) ``|K_ji| / sqrt(K_jj) <= sqrt(K_ii)``,
  so a single error moves its own row's r the most. The rows' r are scaled per
  column by a robust spread, the largest is flagged if it exceeds ``threshold``,
  the row dropped and r recomputed on the rest, at most A times (iterative
  trimming). With smoothing, ``r_i = ((I - H) y)_i / sqrt((I - H)_ii)``.
- **Rational error locator** (Berlekamp-Welch over the reals, the locator of
  ApproxIFER for Berrut codes). If the clean results are values of a rational
  function ``p/q`` of type ``(d_p, d_q)`` and ``Lambda`` is the polynomial of degree
  A vanishing at the corrupted points, then ``y_i (q Lambda)(t_i) = (p Lambda)(t_i)``
  at *every* point. Solving ``y_i Q(t_i) = P(t_i)`` for P of degree ``d_p + A`` and
  Q of degree ``d_q + A`` in least squares (smallest right singular vector) gives
  Q, whose smallest values over the points are the corrupted ones. There are
  ``d_p + d_q + 2A + 2`` coefficients up to scale, so it needs
  ``n >= d_p + d_q + 2A + 1`` points: for Berrut through K data points
  ``d_p = d_q = K - 1`` and ``n >= 2K + 2A - 1``, i.e. ``N >= 2K + 2A + S - 1`` with S
  stragglers (ApproxIFER's condition); for Lagrange (a polynomial, ``d_q = 0``)
  ``n >= K + 2A``, the Reed-Solomon bound.
"""

import numpy as np
from numpy.polynomial import chebyshev

from ._robust import _robust_scores
from ._spline import (
    _as_knots,
    _penalty,
    _q_times,
    _q_transpose_times,
    _smooth,
    _solve_penalty_gram,
    spline_operator,
)

#: Default threshold of :func:`locate_loo` on a candidate's score
#: (:func:`candidate_scores`), chosen in ``benchmarks/bench_adversarial.py`` on
#: held-out rows (digits MLP, K = 16, N = 80, S = 4, 1000 clean batches of the
#: training split and 1000 of the test split): the clean scores have median 7,
#: 99.9% quantiles 166 and 122, maxima 266 and 175 (the large ones at the ends
#: of the interval, where the left-out row is extrapolated). At 150, 0.3% of clean
#: batches lose a row; gross errors (10 spreads of the results) are caught in
#: 99.7% of batches, errors of 3 spreads in only a third (bench_adversarial.py).
LOO_THRESHOLD = 150.0


def spline_loo_residuals(fit_points, values, smoothing=0.0, *, standardized=False):
    """Leave-one-out residuals ``y_i - u_{-i}(t_i)`` of the smoothing spline.

    Row i is the value minus the spline fitted to every other row, evaluated at
    ``t_i``: eq. (L) for ``smoothing > 0``, its limit (L0) for interpolation.

    Parameters
    ----------
    fit_points : array-like of shape (n,)
        Strictly increasing knots, n >= 3.
    values : array-like of shape (n,) or (n, m)
    smoothing : float, default=0.0
        lam >= 0 (docs/method.rst scale).
    standardized : bool, default=False
        Return eq. (Z), ``e_i sqrt(K_ii)`` (``e_i sqrt(1 - H_ii)`` with smoothing),
        the statistic that locates a single corrupted row.

    Returns
    -------
    residuals : ndarray of shape (n, m)

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_coded.operators import spline_loo_residuals
    >>> t = np.linspace(-1, 1, 6)
    >>> y = 2 * t + 1  # a line: every row is predicted exactly by the others
    >>> y[2] += 5.0  # except a corrupted one
    >>> spline_loo_residuals(t, y).ravel().round(2)  # row 2's is its error, 5
    array([ 8.04, -4.81,  5.  , -3.76,  2.09, -2.14])
    >>> z = spline_loo_residuals(t, y, standardized=True)
    >>> int(np.abs(z).argmax())
    2
    """
    t = _as_knots(fit_points)
    if t.size < 3:
        raise ValueError(f"Leave-one-out residuals need at least 3 points; got {t.size}.")
    Y = np.asarray(values, dtype=np.float64).reshape(t.size, -1)
    lam = float(smoothing)
    if lam > 0:
        H = _smooth(t, 2, lam, np.eye(t.size))  # H = (I + n lam K)^{-1}, eq. (H) of _spline
        leverage = 1.0 - np.diag(H)
        power = 0.5 if standardized else 1.0
        return (Y - H @ Y) / leverage[:, None] ** power  # eq. (L)
    K = _roughness_matrix(t)
    power = 0.5 if standardized else 1.0
    return (K @ Y) / np.diag(K)[:, None] ** power  # eq. (L0), or (Z) when standardized


def _roughness_matrix(t):
    """K with ``int u''^2 = y' K y`` for the natural cubic spline through (t, y): Q R^{-1} Q'."""
    Qc, Rb, _ = _penalty(t.tobytes(), 2)
    Q = _q_times(Qc, np.eye(Qc.shape[1]))
    return Q @ _solve_penalty_gram(Rb, Q.T)


def locate_loo(fit_points, values, n_adversaries, *, smoothing=0.0, threshold=LOO_THRESHOLD):
    """Flag up to ``n_adversaries`` corrupted rows by iterated leave-one-out residuals.

    A candidates are chosen by iterative trimming: the row with the largest
    standardized leave-one-out residual (eq. Z; columns scaled by a robust spread,
    their lower quartile in absolute value over 0.3186, and combined by root mean
    square) is set aside and the residuals recomputed on the rest. The candidates
    are then exchanged with unflagged neighbours while that lowers the roughness
    of the spline through the kept rows. A candidate stays flagged only if its
    distance from the spline through the kept rows exceeds ``threshold`` times
    the kept rows' own leave-one-out residuals (median absolute value / 0.6745 per
    column, root mean square over columns): the scale comes from rows that are
    clean once every corrupted row is among the candidates.

    The natural spline assumes no curvature at the ends of the interval: for
    results that bend there (not the case of a ReLU network on the codes' curves,
    whose ends are straight) the clean end rows have large residuals and may be
    flagged; a false flag costs that row's result, nothing more.

    Parameters
    ----------
    fit_points : array-like of shape (n,)
        Strictly increasing coded points of the rows, n >= n_adversaries + 3.
    values : array-like of shape (n,) or (n, m)
        The rows (worker results).
    n_adversaries : int
        A >= 0, the most rows to flag.
    smoothing : float, default=0.0
        lam of the spline the residuals are taken against.
    threshold : float, default=LOO_THRESHOLD
        Score above which a row is flagged. 0 flags exactly A rows.

    Returns
    -------
    flagged : ndarray of bool of shape (n,)

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_coded.operators import locate_loo
    >>> t = np.linspace(-1, 1, 30)
    >>> rng = np.random.default_rng(0)
    >>> y = np.column_stack([2 * t - 1, -t]) + 0.001 * rng.standard_normal((30, 2))
    >>> y[[4, 17]] += [[3.0, -1.0], [-2.0, 2.0]]
    >>> np.flatnonzero(locate_loo(t, y, 3))
    array([ 4, 17])
    """
    t = _as_knots(fit_points)
    Y = np.asarray(values, dtype=np.float64).reshape(t.size, -1)
    A = int(n_adversaries)
    if t.size < A + 3:
        raise ValueError(
            f"Locating n_adversaries={A} rows by leave-one-out residuals needs at least "
            f"A + 3 = {A + 3} rows; got {t.size}."
        )
    flagged = np.zeros(t.size, dtype=bool)
    for _ in range(A):  # iterative trimming on eq. (Z)
        keep = np.flatnonzero(~flagged)
        standardized = spline_loo_residuals(t[keep], Y[keep], smoothing, standardized=True)
        flagged[keep[np.argmax(_robust_scores(standardized, Y[keep]))]] = True
    if not flagged.any():
        return flagged
    flagged = _exchange(t, Y / _column_rms(Y), flagged)
    # Keep a flag only if the row is far from the spline through the kept rows, in
    # units of the kept rows' own leave-one-out residuals (clean, if every
    # corrupted row was flagged).
    rows = np.flatnonzero(flagged)
    flagged[rows[candidate_scores(t, Y, flagged, smoothing) <= threshold]] = False
    return flagged


def candidate_scores(t, Y, candidates, smoothing=0.0):
    """Distance of each candidate row from the spline through the other rows.

    In units of the other rows' leave-one-out residuals: per column the median
    absolute value / 0.6745, combined over columns by root mean square. This is
    the score :func:`locate_loo` compares with its threshold.
    """
    keep = np.flatnonzero(~candidates)
    rows = np.flatnonzero(candidates)
    scale = np.median(np.abs(spline_loo_residuals(t[keep], Y[keep], smoothing)), axis=0) / 0.6745
    floor = 1e-12 * (np.abs(Y).max(axis=0) + 1e-300)
    error = Y[rows] - spline_operator(t[keep], t[rows], smoothing) @ Y[keep]
    return np.sqrt(((error / np.maximum(scale, floor)) ** 2).mean(axis=1))


def _column_rms(Y):
    rms = np.sqrt((Y**2).mean(axis=0))
    return np.where(rms > 0, rms, 1.0)


def _roughness(t, Y):
    """``sum_c y_c' K y_c``: the squared curvature of the interpolating spline (eq. L0)."""
    if t.size <= 2:
        return 0.0  # a line through two points has no curvature
    Qc, Rb, _ = _penalty(t.tobytes(), 2)
    QtY = _q_transpose_times(Qc, Y)
    return float(np.sum(QtY * _solve_penalty_gram(Rb, QtY)))  # y' Q R^{-1} Q' y


def _exchange(t, Y, flagged, reach=2):
    """Swap flagged rows with unflagged neighbours while the kept rows get smoother.

    Greedy trimming can flag the clean row between two corrupted ones (both
    errors move its residual); the roughness of the spline through the kept rows
    is smallest when exactly the corrupted rows are left out, so each flagged row
    is exchanged with the unflagged row within ``reach`` positions that lowers it
    most, until no exchange helps.
    """
    flagged = flagged.copy()
    best = _roughness(t[~flagged], Y[~flagged])
    improved = True
    while improved:
        improved = False
        for i in np.flatnonzero(flagged):
            for j in range(max(i - reach, 0), min(i + reach + 1, t.size)):
                if flagged[j]:
                    continue
                flagged[i], flagged[j] = False, True
                value = _roughness(t[~flagged], Y[~flagged])
                if value < best * (1 - 1e-9):
                    best, improved = value, True
                    break
                flagged[i], flagged[j] = True, False
            if improved:
                break
    return flagged


def rational_locator_bound(num_degree, den_degree, n_adversaries):
    """Fewest rows the rational locator needs: ``d_p + d_q + 2A + 1``.

    Parameters
    ----------
    num_degree, den_degree : int
        Degrees of the clean rational function's numerator and denominator.
    n_adversaries : int
        A.

    Returns
    -------
    int

    Examples
    --------
    >>> from sklearn_coded.operators import rational_locator_bound
    >>> K, A = 16, 3
    >>> rational_locator_bound(K - 1, K - 1, A)  # Berrut: N - S >= 2K + 2A - 1
    37
    """
    return int(num_degree) + int(den_degree) + 2 * int(n_adversaries) + 1


def locate_rational(fit_points, values, n_adversaries, *, num_degree, den_degree):
    """Flag ``n_adversaries`` rows with the rational (Berlekamp-Welch) error locator.

    For each column c, the coefficients (in the Chebyshev basis on [-1, 1]) of
    P of degree ``num_degree + A`` and Q of degree ``den_degree + A`` minimising
    ``sum_i (y_ic Q(t_i) - P(t_i))^2`` with unit norm are the smallest right
    singular vector of ``[diag(y_c) V_Q, -V_P]``; the columns are first scaled to
    unit RMS. Each row's score is the mean over columns of
    ``log(|Q_c(t_i)| / RMS_i |Q_c|)``, and the A rows of smallest score are
    flagged (ApproxIFER's rule: flag exactly A).

    Parameters
    ----------
    fit_points : array-like of shape (n,)
        Strictly increasing points in [-1, 1],
        ``n >= num_degree + den_degree + 2A + 1``.
    values : array-like of shape (n,) or (n, m)
    n_adversaries : int
        A >= 0.
    num_degree, den_degree : int
        Degrees of the clean rational function: ``K - 1, K - 1`` for Berrut
        through K points, ``K - 1, 0`` for Lagrange.

    Returns
    -------
    flagged : ndarray of bool of shape (n,)

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_coded.operators import locate_rational
    >>> t = np.linspace(-1, 1, 12)
    >>> y = 1.0 / (2.0 + t)  # rational of type (0, 1)
    >>> y[7] = 4.0
    >>> np.flatnonzero(locate_rational(t, y, 1, num_degree=0, den_degree=1))
    array([7])
    """
    t = _as_knots(fit_points)
    Y = np.asarray(values, dtype=np.float64).reshape(t.size, -1)
    A = int(n_adversaries)
    needed = rational_locator_bound(num_degree, den_degree, A)
    if t.size < needed:
        raise ValueError(
            f"The rational error locator for n_adversaries={A} needs at least "
            f"num_degree + den_degree + 2A + 1 = {needed} rows; got {t.size}."
        )
    flagged = np.zeros(t.size, dtype=bool)
    if A == 0:
        return flagged
    V_P = chebyshev.chebvander(t, num_degree + A)
    V_Q = chebyshev.chebvander(t, den_degree + A)
    rms = np.sqrt((Y**2).mean(axis=0))
    score = np.zeros(t.size)
    for c in range(Y.shape[1]):
        y = Y[:, c] / (rms[c] if rms[c] > 0 else 1.0)
        system = np.hstack([y[:, None] * V_Q, -V_P])
        q = np.linalg.svd(system)[2][-1, : V_Q.shape[1]]  # full: n may be < unknowns
        q_values = np.abs(V_Q @ q)
        score += np.log(q_values / np.sqrt((q_values**2).mean()) + 1e-300)
    flagged[np.argsort(score, kind="stable")[:A]] = True
    return flagged
