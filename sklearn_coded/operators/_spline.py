"""The smoothing-spline operator M(t -> s, lam) and its GCV criterion (method.md 2, 3).

For fit points t_1 < ... < t_n and lam >= 0 the minimiser of

    (1/n) sum_i ||u(t_i) - y_i||^2 + lam * int_{-1}^{1} ||u''(t)||^2 dt        (S)

is the natural cubic spline with knots t, linear outside [t_1, t_n]. In the
Reinsch (Green & Silverman 1994, section 2.1) notation, with h_j = t_{j+1} - t_j,
the band matrices Q (n, n-2) and R (n-2, n-2) give the roughness
int u''^2 = g' K g with K = Q R^{-1} Q', where g = u(t). Multiplying (S) by n, the
fitted values are g = H_lam y with H_lam = (I + n lam K)^{-1}, and evaluating the
natural spline through g at points s is a fixed matrix A(t -> s). Hence

    M(t -> s, lam) = A(t -> s) H_lam.                                        (M)

GCV uses one eigendecomposition of K restricted to range(Q), the complement of
the lines {1, t} that K does not penalise, so lines pass through H
exactly for every lam, and scanning lam for GCV costs O(n) per value; the operator
for the chosen lam is then formed by the Reinsch algorithm, which is accurate to
rounding.
"""

import functools

import numpy as np
from scipy import linalg, optimize


def _reinsch_matrices(t):
    """Q (n, n-2) and R (n-2, n-2) of Green & Silverman (1994), eq. (2.4)-(2.6)."""
    n = t.size
    h = np.diff(t)
    j = np.arange(n - 2)
    Q = np.zeros((n, n - 2))
    Q[j, j] = 1.0 / h[:-1]
    Q[j + 1, j] = -1.0 / h[:-1] - 1.0 / h[1:]
    Q[j + 2, j] = 1.0 / h[1:]
    R = np.diag((h[:-1] + h[1:]) / 3.0)
    R[j[:-1], j[:-1] + 1] = R[j[:-1] + 1, j[:-1]] = h[1:-1] / 6.0
    return Q, R


def _solve_banded_spd(S, B, bandwidth):
    """S^{-1} B for a symmetric positive definite band matrix S (banded Cholesky)."""
    bandwidth = min(bandwidth, S.shape[0] - 1)
    upper = np.zeros((bandwidth + 1, S.shape[0]))
    for k in range(bandwidth + 1):
        upper[bandwidth - k, k:] = np.diagonal(S, k)
    return linalg.solveh_banded(upper, B)


@functools.lru_cache(maxsize=64)
def _penalty_eigensystem(t_bytes):
    """Orthonormal W (n, n-2) and d >= 0 with K = W diag(d) W' (the Demmler-Reinsch basis)."""
    t = np.frombuffer(t_bytes)
    if t.size < 3:
        return np.zeros((t.size, 0)), np.zeros(0)
    Q, R = _reinsch_matrices(t)
    # Q = C T with C an orthonormal basis of range(Q) (orthogonal to 1 and t);
    # K = C (T R^{-1} T') C', and the small SPD middle factor is diagonalised.
    C, T = linalg.qr(Q, mode="economic")
    middle = T @ _solve_banded_spd(R, T.T, 1)
    d, V = linalg.eigh((middle + middle.T) / 2.0)
    W = C @ V
    for array in (W, d):
        array.setflags(write=False)
    return W, np.clip(d, 0.0, None)


@functools.lru_cache(maxsize=64)
def _natural_spline_evaluation(t_bytes, s_bytes):
    """A(t -> s): values at s of the natural cubic spline through (t, g), as a matrix on g."""
    t, s = np.frombuffer(t_bytes), np.frombuffer(s_bytes)
    n, m = t.size, s.size
    h = np.diff(t)
    # A = A_value + A_curv Gamma, where Gamma maps g to the second derivatives at the
    # knots (zero at both ends: natural spline) through R gamma = Q' g.
    A_value = np.zeros((m, n))
    A_curv = np.zeros((m, n))
    rows = np.arange(m)
    j = np.clip(np.searchsorted(t, s, side="right") - 1, 0, n - 2)
    hj = h[j]
    inside = (s >= t[0]) & (s <= t[-1])
    # Inside [t_j, t_j+1] with a = (t_j+1 - s)/h, b = (s - t_j)/h:
    # u(s) = a g_j + b g_j+1 + ((a^3 - a) c_j + (b^3 - b) c_j+1) h^2 / 6.
    a = (t[j + 1] - s) / hj
    b = (s - t[j]) / hj
    r = rows[inside]
    A_value[r, j[inside]] = a[inside]
    A_value[r, j[inside] + 1] = b[inside]
    A_curv[r, j[inside]] = (a[inside] ** 3 - a[inside]) * hj[inside] ** 2 / 6.0
    A_curv[r, j[inside] + 1] = (b[inside] ** 3 - b[inside]) * hj[inside] ** 2 / 6.0
    # Outside: linear continuation with the end slopes (u'' = 0 there):
    # u'(t_1) = (g_2 - g_1)/h_1 - h_1 c_2 / 6,  u'(t_n) = (g_n - g_n-1)/h_n-1 + h_n-1 c_n-1 / 6.
    left, right = rows[s < t[0]], rows[s > t[-1]]
    dl, dr = s[left] - t[0], s[right] - t[-1]
    A_value[left, 0] = 1.0 - dl / h[0]
    A_value[left, 1] = dl / h[0]
    A_curv[left, 1] = -dl * h[0] / 6.0
    A_value[right, -1] = 1.0 + dr / h[-1]
    A_value[right, -2] = -dr / h[-1]
    A_curv[right, -2] = dr * h[-1] / 6.0
    A = A_value
    if n > 2:
        Q, R = _reinsch_matrices(t)
        A = A + A_curv[:, 1:-1] @ _solve_banded_spd(R, Q.T, 1)
    A.setflags(write=False)
    return A


def _hat_matrix(t, lam):
    """H_lam = (I + n lam K)^{-1} by the Reinsch algorithm (Green & Silverman, eq. 2.14).

    With alpha = n lam, g = y - alpha Q gamma and (R + alpha Q'Q) gamma = Q'y, so
    H = I - alpha Q (R + alpha Q'Q)^{-1} Q'; the band system is well conditioned.
    """
    Q, R = _reinsch_matrices(t)
    alpha = t.size * lam
    band = R + alpha * Q.T @ Q  # pentadiagonal
    return np.eye(t.size) - alpha * Q @ _solve_banded_spd(band, Q.T, 2)


@functools.lru_cache(maxsize=256)
def _spline_operator_cached(t_bytes, s_bytes, lam):
    t = np.frombuffer(t_bytes)
    A = _natural_spline_evaluation(t_bytes, s_bytes)
    M = A if lam == 0 else A @ _hat_matrix(t, lam)
    M = np.array(M)  # own copy: the cached A stays untouched
    M.setflags(write=False)
    return M


def spline_operator(fit_points, eval_points, smoothing=0.0):
    """Matrix M(t -> s, lam) of the smoothing spline (method.md section 2).

    ``M @ y`` evaluates at ``eval_points`` the minimiser of
    ``(1/n) sum_i ||u(t_i) - y_i||^2 + lam * int_{-1}^{1} ||u''||^2`` fitted to
    ``(fit_points, y)``: a natural cubic spline with knots at the fit points,
    linear outside them. ``smoothing=0`` is natural cubic interpolation.
    Matrices are cached by (points, smoothing) and returned read-only.

    Parameters
    ----------
    fit_points : array-like of shape (n,)
        Strictly increasing knots t, n >= 2.
    eval_points : array-like of shape (m,)
        Points s at which the fit is evaluated (any order, may leave [t_1, t_n]).
    smoothing : float, default=0.0
        lam >= 0, on the scale of method.md: SciPy's ``make_smoothing_spline``
        uses ``lam_scipy = n * lam``.

    Returns
    -------
    M : ndarray of shape (m, n), float64, read-only

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_coded.operators import spline_operator
    >>> t = np.array([-1.0, 0.0, 1.0])
    >>> M = spline_operator(t, np.array([-2.0, 0.5]))
    >>> M @ (3 * t + 1)  # lines are reproduced, also outside the knots
    array([-5. ,  2.5])
    """
    t = _as_knots(fit_points)
    s = np.ascontiguousarray(eval_points, dtype=np.float64).ravel()
    lam = _check_smoothing(smoothing)
    return _spline_operator_cached(t.tobytes(), s.tobytes(), lam)


def spline_gcv(fit_points, values, *, bounds=(1e-4, 1e4)):
    """The one lam that minimises the joint GCV score of all columns (method.md 3).

    ``V(lam) = (1/n) ||(I - H_lam) Y||_F^2 / ((1/n) tr(I - H_lam))^2`` with
    ``H_lam = (I + n lam K)^{-1}``. In the eigenbasis ``K = W diag(d) W'`` both
    terms are sums over the n - 2 eigenvalues, so each evaluation of V costs
    O(n) once ``Z = W' Y`` is formed; ``n lam d`` is scanned on a log grid
    from ``bounds[0] / max(d)`` to ``bounds[1] / min(d)`` and refined by a
    bounded scalar minimisation in log(lam).

    Parameters
    ----------
    fit_points : array-like of shape (n,)
        Strictly increasing knots.
    values : array-like of shape (n,) or (n, m)
        The data; every column shares the chosen lam.
    bounds : (float, float), default=(1e-4, 1e4)
        Scan range of ``n lam d`` relative to the largest and smallest eigenvalue.

    Returns
    -------
    lam : float
        0.0 when n <= 2 or the data lie on lines (nothing to smooth).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_coded.operators import spline_gcv
    >>> rng = np.random.default_rng(0)
    >>> t = np.linspace(-1, 1, 50)
    >>> y = np.sin(3 * t) + 0.3 * rng.standard_normal(50)
    >>> bool(spline_gcv(t, y) > 0)
    True
    """
    t = _as_knots(fit_points)
    Y = np.asarray(values, dtype=np.float64).reshape(t.size, -1)
    W, d = _penalty_eigensystem(t.tobytes())
    z2 = np.einsum("ij,ij->i", W.T @ Y, W.T @ Y) if d.size else d
    # No roughness beyond rounding (the data lie on a line): nothing to smooth.
    if d.size == 0 or z2.sum() <= (1e-12 * np.linalg.norm(Y)) ** 2 or d.max() <= 0:
        return 0.0
    n = t.size
    positive = d[d > 0]

    def score(log_lam):
        n_lam_d = n * np.exp(log_lam) * d
        shrink = n_lam_d / (1.0 + n_lam_d)
        # n * RSS / tr(I - H)^2, the 1/n factors of V cancelled.
        return n * np.dot(shrink**2, z2) / np.sum(shrink) ** 2

    lo = np.log(bounds[0] / (n * positive.max()))
    hi = np.log(bounds[1] / (n * positive.min()))
    grid = np.linspace(lo, hi, 81)
    scores = np.array([score(g) for g in grid])
    best = int(np.argmin(scores))
    step = grid[1] - grid[0]
    result = optimize.minimize_scalar(
        score,
        bounds=(grid[max(best - 1, 0)] - (best == 0) * step, grid[min(best + 1, 80)]),
        method="bounded",
        options={"xatol": 1e-6},
    )
    log_lam = result.x if result.fun <= scores[best] else grid[best]
    return float(np.exp(log_lam))


def _as_knots(fit_points):
    t = np.ascontiguousarray(fit_points, dtype=np.float64).ravel()
    if t.size < 2:
        raise ValueError(f"A spline fit needs at least 2 points; got {t.size}.")
    if np.any(np.diff(t) <= 0) or not np.all(np.isfinite(t)):
        raise ValueError(f"fit_points must be finite and strictly increasing; got {t}.")
    return t


def _check_smoothing(smoothing):
    lam = float(smoothing)
    if not np.isfinite(lam) or lam < 0:
        raise ValueError(f"smoothing must be a finite number >= 0; got {smoothing!r}.")
    return lam
