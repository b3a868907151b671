"""The smoothing-spline operator M(t -> s, lam) of order m and its GCV (docs/method.rst 2, 3, 7).

For fit points t_1 < ... < t_n (n >= m), lam >= 0 and the order m >= 1, the minimiser of

    (1/n) sum_i ||u(t_i) - y_i||^2 + lam * int_{-1}^{1} ||u^(m)(t)||^2 dt        (S)

is the natural spline of degree 2m - 1 with knots t: a polynomial of degree < m
outside [t_1, t_n], so that derivatives m .. 2m - 2 vanish at t_1 and t_n
(m = 2: the natural cubic spline, linear outside). Everything below is banded,
so an operator for K evaluation points costs O(n K) time and memory.

Roughness (Reinsch form, Green & Silverman 1994, section 2.1, for any m). Let
Q' (n - m, n) take the scaled m-th divided differences,
(Q'g)_i = (t_{i+m} - t_i) [t_i, ..., t_{i+m}] g. By Peano's theorem
[t_i..t_{i+m}] g = int P_i g^(m) with P_i = B_i / ((m - 1)! (t_{i+m} - t_i)),
B_i the B-spline of degree m - 1 on t_i..t_{i+m}. For a natural spline g^(m)
lies in span{B_i}, so with R_ij = int B_i B_j / ((m - 1)!)^2 (band width m - 1),
int (g^(m))^2 = g' K g with K = Q R^{-1} Q'. (m = 2 gives Green & Silverman's
Q and R exactly.) Multiplying (S) by n, the fitted values are g = H y with

    H = (I + alpha K)^{-1} = I - alpha Q (R + alpha Q'Q)^{-1} Q',  alpha = n lam,    (H)

a band solve of width m for every right-hand side.

Evaluation. The natural spline through (t, g) in the B-spline basis of degree
2m - 1 (boundary knots of multiplicity 2m) solves a banded collocation system C:
n interpolation rows and m - 1 rows u^(j)(t_1) = u^(j)(t_n) = 0, j = m..2m-2.
Outside [t_1, t_n] it is the Taylor polynomial of degree m - 1 at the end.
With E the evaluation rows at s, A(t -> s) = E C^{-1} (interpolation columns).

Operator. M(t -> s, lam) = A H, formed transposed: M' = H A' with A' = C^{-T} E'
(one band solve with K right-hand sides) and (H).

GCV. V(lam) = n ||(I - H) Y||_F^2 / tr(I - H)^2 with (I - H) Y = alpha Q B^{-1} Q'Y
and tr(I - H) = alpha tr(B^{-1} Q'Q), B = R + alpha Q'Q. Only the band of B^{-1}
enters the trace; it follows from the Cholesky factor of B by the recursion of
Hutchinson & de Hoog (1985), O(n m^2) per lam.
"""

import math

import numpy as np
from scipy import linalg, sparse
from scipy.interpolate import BSpline
from scipy.sparse import linalg as sparse_linalg

from ._cache import byte_cache

#: Spline orders with an oracle test; any integer >= 1 works.
DEFAULT_ORDER = 2


def _check_order(order):
    if isinstance(order, bool) or not isinstance(order, int | np.integer) or order < 1:
        raise ValueError(f"order must be an integer >= 1; got {order!r}.")
    return int(order)


def _divided_differences(t, m):
    """Qc (m + 1, n - m): Qc[r, i] = Q[i + r, i], the scaled m-th divided differences.

    (Q'g)_i = (t_{i+m} - t_i) sum_r g_{i+r} / prod_{l != r} (t_{i+r} - t_{i+l}).
    """
    n = t.size
    N = n - m
    windows = np.stack([t[r : r + N] for r in range(m + 1)])  # (m + 1, N)
    Qc = np.empty((m + 1, N))
    for r in range(m + 1):
        gaps = windows[r] - np.delete(windows, r, axis=0)
        Qc[r] = (windows[m] - windows[0]) / np.prod(gaps, axis=0)
    return Qc


def _gram(t, m):
    """R in upper band storage (m, n - m): Rb[m - 1 - d, j] = R[j - d, j].

    R_ij = int B_i B_j / ((m - 1)!)^2, by Gauss-Legendre with m nodes per knot
    interval (exact: the integrand has degree 2m - 2).
    """
    n, k = t.size, m - 1
    N = n - m
    x, w = np.polynomial.legendre.leggauss(m)
    h = np.diff(t)
    nodes = (t[:-1, None] + (x[None, :] + 1) * h[:, None] / 2).ravel()
    weights = (w[None, :] * h[:, None] / 2).ravel()
    # pad the knots so that the B-splines on t_i..t_{i+m} are interior ones
    pad = np.arange(1, k + 1, dtype=float)
    knots = np.concatenate([t[0] - pad[::-1] * h[0], t, t[-1] + pad * h[-1]])
    B = BSpline.design_matrix(nodes, knots, k).tocsc()[:, k : k + N]
    R = (B.T @ sparse.diags(weights) @ B).todia() / math.factorial(k) ** 2
    Rb = np.zeros((m, N))
    for d in range(min(m, N)):
        Rb[m - 1 - d, d:] = R.diagonal(d)
    return Rb


@byte_cache(16 * 2**20)
def _penalty(t_bytes, m):
    """(Qc, Rb, QtQb) of the knots: Q, R and Q'Q in band storage (read-only)."""
    t = np.frombuffer(t_bytes)
    Qc, Rb = _divided_differences(t, m), _gram(t, m)
    N = Qc.shape[1]
    # Q -> Q D, R -> D R D leaves K = Q R^{-1} Q' unchanged; D equilibrates the columns
    # of Q, which keeps R + alpha Q'Q well conditioned for uneven gaps and m > 2.
    scale = 1.0 / np.sqrt(np.sum(Qc**2, axis=0))
    Qc = Qc * scale
    for d in range(min(m, N)):
        Rb[m - 1 - d, d:] *= scale[: N - d] * scale[d:]
    # (Q'Q)[j - d, j] = sum_r Q[j - d + r, j - d] Q[j - d + r, j], upper band of width m
    QtQb = np.zeros((m + 1, N))
    for d in range(min(m + 1, N)):
        QtQb[m - d, d:] = np.sum(Qc[d:, : N - d] * Qc[: m + 1 - d, d:], axis=0)
    for array in (Qc, Rb, QtQb):
        array.setflags(write=False)
    return Qc, Rb, QtQb


def _solve_penalty_gram(Rb, B):
    """R^{-1} B for R in upper band storage (SPD); SciPy's band solver refuses a 1x1 band."""
    if Rb.shape[1] == 1:
        return B / Rb[-1, 0]
    return linalg.solveh_banded(Rb, B)


def _q_transpose_times(Qc, Y):
    """Q' Y for Y (n, p)."""
    N = Qc.shape[1]
    return sum(Qc[r, :, None] * Y[r : r + N] for r in range(Qc.shape[0]))


def _q_times(Qc, X):
    """Q X for X (n - m, p)."""
    m, N = Qc.shape[0] - 1, Qc.shape[1]
    out = np.zeros((N + m, X.shape[1]))
    for r in range(m + 1):
        out[r : r + N] += Qc[r, :, None] * X
    return out


def _band_system(Rb, QtQb, alpha):
    """B = R + alpha Q'Q in upper band storage of width m."""
    B = alpha * QtQb
    B[1:] += Rb
    return B


def _smooth(t, m, lam, Y):
    """H Y of (H) for Y (n, p), from the augmented band system of (H).

    g = H y solves g + Q c = y, Q'g - R c / alpha = 0 (then c = alpha R^{-1} Q'g
    and (I + alpha K) g = y). Unlike the normal equations R + alpha Q'Q, whose
    condition grows like that of Q squared (for m = 3 and n = 2000 it exceeds
    1 / eps at large lam), this system is only as ill-conditioned as Q. The
    unknowns are interleaved by position (c_j beside g_{j + m/2}), so it is banded
    with width about 2m and solved by band LU in O(n m^2 + n p m).
    """
    if lam == 0 or t.size == m:
        return Y
    ab, lower, upper, order = _augmented_system(t.tobytes(), m, t.size * lam)
    n = t.size
    rhs = np.zeros((ab.shape[1], Y.shape[1]))
    rhs[order[:n]] = Y
    return linalg.solve_banded((lower, upper), ab, rhs, check_finite=False)[order[:n]]


@byte_cache(16 * 2**20)
def _augmented_system(t_bytes, m, alpha):
    """Band storage of [[I, Q], [Q', -R / alpha]] with interleaved unknowns."""
    t = np.frombuffer(t_bytes)
    Qc, Rb, _ = _penalty(t_bytes, m)
    n, N = t.size, Qc.shape[1]
    keys = np.concatenate([np.arange(n), np.arange(N) + m / 2])
    order = np.empty(n + N, dtype=np.intp)  # order[v] = position of unknown v
    order[np.argsort(keys, kind="stable")] = np.arange(n + N)
    j = np.arange(N)
    rows = [np.arange(n)]
    cols = [np.arange(n)]
    vals = [np.ones(n)]
    for r in range(m + 1):  # Q[j + r, j] in both off-diagonal blocks
        rows += [j + r, n + j]
        cols += [n + j, j + r]
        vals += [Qc[r], Qc[r]]
    for d in range(min(m, N)):  # -R / alpha, symmetric band of width m - 1
        diag = -Rb[m - 1 - d, d:] / alpha
        rows += [n + j[: N - d], n + j[d:]]
        cols += [n + j[d:], n + j[: N - d]]
        vals += [diag, diag] if d else [diag, np.zeros(0)]
        if not d:
            rows[-1], cols[-1] = rows[-1][:0], cols[-1][:0]
    rows, cols, vals = (np.concatenate(a) for a in (rows, cols, vals))
    rows, cols = order[rows], order[cols]
    lower, upper = int(np.max(rows - cols)), int(np.max(cols - rows))
    ab = np.zeros((lower + upper + 1, n + N))
    np.add.at(ab, (upper + rows - cols, cols), vals)
    ab.setflags(write=False)
    order.setflags(write=False)
    return ab, lower, upper, order


def _natural_basis(t, m):
    """Knots of the B-spline basis of degree 2m - 1 with boundary knots of multiplicity 2m."""
    return np.concatenate([np.repeat(t[0], 2 * m), t[1:-1], np.repeat(t[-1], 2 * m)])


def _end_derivatives(knots, k, end, orders):
    """Rows (len(orders), k + 1) of u^(j) at one end on the k + 1 basis functions nearest it."""
    n_coef = knots.size - k - 1
    width = k + 1
    cols = np.arange(width) if end == 0 else np.arange(n_coef - width, n_coef)
    # those functions live on the 2 width knots at that end
    local = knots[: 2 * width] if end == 0 else knots[-2 * width :]
    basis = BSpline(local, np.eye(width), k)
    x = knots[0] if end == 0 else knots[-1]
    return cols, np.array([basis(x, nu=j) for j in orders]).reshape(len(orders), width)


@byte_cache(16 * 2**20)
def _collocation(t_bytes, m):
    """The natural-spline collocation matrix C in general band storage, and its widths."""
    t = np.frombuffer(t_bytes)
    k = 2 * m - 1
    knots = _natural_basis(t, m)
    n_coef = t.size + 2 * m - 2
    bc = list(range(m, 2 * m - 1))
    rows, cols, vals = [], [], []
    left_cols, left = _end_derivatives(knots, k, 0, bc)
    right_cols, right = _end_derivatives(knots, k, -1, bc)
    # rows of derivatives of order j scale like h^-j: equilibrate them for the pivoting
    left /= np.abs(left).max(axis=1, keepdims=True)
    right /= np.abs(right).max(axis=1, keepdims=True)
    interp = BSpline.design_matrix(t, knots, k).tocoo()
    for r0, c, block in ((0, left_cols, left), (m - 1 + t.size, right_cols, right)):
        rr, cc = np.meshgrid(np.arange(block.shape[0]) + r0, c, indexing="ij")
        rows.append(rr.ravel()), cols.append(cc.ravel()), vals.append(block.ravel())
    rows.append(interp.row + m - 1), cols.append(interp.col), vals.append(interp.data)
    rows, cols, vals = map(np.concatenate, (rows, cols, vals))
    lower, upper = int(np.max(rows - cols)), int(np.max(cols - rows))
    # the transpose C' in band storage for solve_banded: C'[i, j] = C[j, i] at [l + i - j, j]
    ab = np.zeros((lower + upper + 1, n_coef))
    np.add.at(ab, (lower + cols - rows, rows), vals)
    ab.setflags(write=False)
    return knots, ab, lower, upper, n_coef


def _evaluation_rows(t, s, m, knots, n_coef):
    """E (len(s), n_coef), sparse: the spline's values at s from its B-spline coefficients."""
    k = 2 * m - 1
    rows, cols, vals = [], [], []
    inside = np.flatnonzero((s >= t[0]) & (s <= t[-1]))
    if inside.size:
        block = BSpline.design_matrix(s[inside], knots, k).tocoo()
        rows.append(inside[block.row]), cols.append(block.col), vals.append(block.data)
    # outside: the Taylor polynomial of degree m - 1 at the end (u^(j) = 0 for j >= m)
    for end, outside in ((0, np.flatnonzero(s < t[0])), (-1, np.flatnonzero(s > t[-1]))):
        if outside.size:
            end_cols, D = _end_derivatives(knots, k, end, range(m))
            dx = s[outside] - t[end]
            powers = dx[:, None] ** np.arange(m) / [math.factorial(j) for j in range(m)]
            rr, cc = np.meshgrid(outside, end_cols, indexing="ij")
            rows.append(rr.ravel()), cols.append(cc.ravel()), vals.append((powers @ D).ravel())
    if not rows:
        return sparse.csr_matrix((s.size, n_coef))
    rows, cols, vals = map(np.concatenate, (rows, cols, vals))
    return sparse.csr_matrix((vals, (rows, cols)), shape=(s.size, n_coef))


def _evaluation_transposed(t, s, m):
    """A(t -> s)' of shape (n, len(s)): the natural spline through g at s is A g."""
    knots, ab, lower, upper, n_coef = _collocation(t.tobytes(), m)
    E = _evaluation_rows(t, s, m, knots, n_coef)
    X = linalg.solve_banded((upper, lower), ab, E.T.toarray(), check_finite=False)
    return X[m - 1 : m - 1 + t.size]


@byte_cache(64 * 2**20)
def _spline_operator_cached(t_bytes, s_bytes, lam, m):
    t, s = np.frombuffer(t_bytes), np.frombuffer(s_bytes)
    M = np.ascontiguousarray(_smooth(t, m, lam, _evaluation_transposed(t, s, m)).T)
    if lam == 0:  # interpolation: at a knot the row is that knot's unit vector, exactly
        rows, cols = np.nonzero(s[:, None] == t[None, :])
        M[rows] = 0.0
        M[rows, cols] = 1.0
    M.setflags(write=False)
    return M


def spline_operator(fit_points, eval_points, smoothing=0.0, *, order=DEFAULT_ORDER):
    """Matrix M(t -> s, lam) of the smoothing spline of order m (docs/method.rst 2 and 7).

    ``M @ y`` evaluates at ``eval_points`` the minimiser of
    ``(1/n) sum_i ||u(t_i) - y_i||^2 + lam * int_{-1}^{1} ||u^(m)||^2`` fitted to
    ``(fit_points, y)``: a natural spline of degree 2m - 1 with knots at the fit
    points, a polynomial of degree < m outside them. ``order=2`` (default) is the
    natural cubic spline, linear outside; ``smoothing=0`` interpolates. Built with
    band solves in O(n m^2 + n len(s) m) time and O(n len(s)) memory; cached by
    (points, smoothing, order) in a cache bounded in bytes, returned read-only.

    Parameters
    ----------
    fit_points : array-like of shape (n,)
        Strictly increasing knots t, n >= max(2, order).
    eval_points : array-like of shape (k,)
        Points s at which the fit is evaluated (any order, may leave [t_1, t_n]).
    smoothing : float, default=0.0
        lam >= 0, on the scale of docs/method.rst: SciPy's ``make_smoothing_spline``
        (order 2) uses ``lam_scipy = n * lam``.
    order : int, default=2
        m >= 1, the derivative that is penalised. Polynomials of degree < m are
        reproduced exactly for every lam.

    Returns
    -------
    M : ndarray of shape (k, n), float64, read-only

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_coded.operators import spline_operator
    >>> t = np.array([-1.0, 0.0, 1.0])
    >>> M = spline_operator(t, np.array([-2.0, 0.5]))
    >>> M @ (3 * t + 1)  # lines are reproduced, also outside the knots
    array([-5. ,  2.5])
    >>> t = np.linspace(-1, 1, 7)
    >>> M3 = spline_operator(t, np.array([1.5]), 0.1, order=3)
    >>> (M3 @ t**2).round(12)  # order 3 reproduces quadratics, also when smoothing
    array([2.25])
    """
    m = _check_order(order)
    t = _as_knots(fit_points, m)
    s = np.ascontiguousarray(eval_points, dtype=np.float64).ravel()
    lam = _check_smoothing(smoothing)
    return _spline_operator_cached(t.tobytes(), s.tobytes(), lam, m)


def _selected_inverse_traces(U, C):
    """tr(B^{-1} C) for a batch of band SPD B = U'U, C symmetric with the same band.

    Hutchinson & de Hoog (1985): with B = U'U, Sigma = B^{-1} satisfies
    U Sigma = U^{-T}, lower triangular with diagonal 1/U_ii, so for j >= i
    Sigma_ij = (delta_ij / U_ii - sum_{k=i+1}^{i+b} U_ik Sigma_kj) / U_ii, which
    needs only the band of Sigma below row i. U: (L, b + 1, N) upper band
    storage (cholesky_banded), C: (b + 1, N) upper band storage.
    """
    L, b1, N = U.shape
    b = b1 - 1
    rows = np.zeros((L, N + b, b1))  # rows[:, i, d] = U[i, i + d]
    S = np.zeros((L, N + b, b1))  # S[:, i, d] = Sigma[i, i + d]; zero past N
    for d in range(min(b1, N)):  # a band wider than the matrix has empty diagonals
        rows[:, : N - d, d] = U[:, b - d, d:]
    a, c = np.meshgrid(np.arange(b), np.arange(b), indexing="ij")
    first, offset = np.minimum(a, c) + 1, np.abs(a - c)
    for i in range(N - 1, -1, -1):
        block = S[:, i + first, offset]  # Sigma[i+1..i+b, i+1..i+b]
        u = rows[:, i, 1:]
        inv_diag = 1.0 / rows[:, i, 0]
        row = -inv_diag[:, None] * np.matmul(u[:, None, :], block)[:, 0, :]
        S[:, i, 1:] = row
        S[:, i, 0] = inv_diag * (inv_diag - np.sum(u * row, axis=1))
    weights = np.full(b1, 2.0)
    weights[0] = 1.0
    Cd = np.zeros((b1, N))
    for d in range(min(b1, N)):
        Cd[d, : N - d] = C[b - d, d:]
    return np.einsum("lid,di,d->l", S[:, :N], Cd, weights)


def _gcv_scores(log_lams, n, Rb, QtQb, Qc, QtY):
    """n ||(I - H) Y||^2 / tr(I - H)^2 for each log(lam) (the 1/n of V cancelled)."""
    alphas = n * np.exp(np.asarray(log_lams, dtype=float))
    U = np.empty((alphas.size, *QtQb.shape))
    rss = np.empty(alphas.size)
    for j, alpha in enumerate(alphas):
        try:
            U[j] = linalg.cholesky_banded(_band_system(Rb, QtQb, alpha), check_finite=False)
        except linalg.LinAlgError:
            # R + alpha Q'Q is positive definite, but past about 1 / (eps cond(Q)^2)
            # not in floating point (order >= 3, many uneven points): this lam is
            # beyond what the normal equations resolve and is left out of the scan.
            U[j] = 0.0
            U[j, -1] = 1.0
            rss[j] = np.inf
            continue
        solution = linalg.cho_solve_banded((U[j], False), QtY, check_finite=False)
        residual = alpha * _q_times(Qc, solution)
        rss[j] = np.sum(residual**2)
    traces = alphas * _selected_inverse_traces(U, QtQb)
    with np.errstate(divide="ignore", invalid="ignore"):
        return n * rss / traces**2


def _pencil_extremes(Rb, QtQb):
    """Smallest and largest eigenvalue of K on range(Q): the pencil (Q'Q, R)."""
    m, N = QtQb.shape[0] - 1, QtQb.shape[1]

    def to_sparse(band, width):
        offsets = [d for d in range(width + 1) if d < N]
        upper = sparse.diags([band[width - d, d:] for d in offsets], offsets)
        return (upper + sparse.triu(upper, 1).T).tocsc()

    A, B = to_sparse(QtQb, m), to_sparse(Rb, m - 1)
    if N <= 64:
        d = linalg.eigh(A.toarray(), B.toarray(), eigvals_only=True)
        return d[0], d[-1]
    v0 = np.ones(N)
    try:
        top = sparse_linalg.eigsh(A, k=1, M=B, which="LA", v0=v0, tol=1e-3)[0][0]
        bottom = sparse_linalg.eigsh(A, k=1, M=B, sigma=0, which="LM", v0=v0, tol=1e-3)[0][0]
    except sparse_linalg.ArpackError:  # only the scan range depends on them: widen it
        ratio = A.diagonal() / B.diagonal()
        top, bottom = 10 * ratio.max(), ratio.min() / (10 * N**2)
    return bottom, top


#: Below this many points (order 2) GCV scans lam in the eigenbasis of the penalty:
#: one dense O(n^3) eigendecomposition, then every lam costs O(n) with no Python
#: loop, faster than the band recursion for small n (256 points: about 5x).
DENSE_GCV_MAX_POINTS = 400


@byte_cache(16 * 2**20)
def _penalty_eigensystem(t_bytes, m):
    """W (n, n - m) orthonormal and d >= 0 with K = W diag(d) W' (Demmler-Reinsch basis)."""
    t = np.frombuffer(t_bytes)
    Qc, Rb, _ = _penalty(t_bytes, m)
    n, N = t.size, Qc.shape[1]
    Q = np.zeros((n, N))
    for r in range(m + 1):
        Q[np.arange(N) + r, np.arange(N)] = Qc[r]
    # Q = C T with C an orthonormal basis of range(Q) (orthogonal to polynomials of
    # degree < m); K = C (T R^{-1} T') C', and the small SPD middle factor is diagonalised.
    C, T = linalg.qr(Q, mode="economic")
    middle = T @ _solve_penalty_gram(Rb, T.T)
    d, V = linalg.eigh((middle + middle.T) / 2.0)
    W = C @ V
    d = np.clip(d, 0.0, None)
    for array in (W, d):
        array.setflags(write=False)
    return W, d


def _dense_gcv_scores(log_lams, n, d, z2):
    """V in the eigenbasis: n sum s_i^2 z_i^2 / (sum s_i)^2, s_i = n lam d_i / (1 + n lam d_i)."""
    n_lam_d = n * np.exp(np.asarray(log_lams, dtype=float))[:, None] * d[None, :]
    shrink = n_lam_d / (1.0 + n_lam_d)
    return n * (shrink**2 @ z2) / np.sum(shrink, axis=1) ** 2


def spline_gcv(fit_points, values, *, order=DEFAULT_ORDER, bounds=(1e-4, 1e4)):
    """The one lam that minimises the joint GCV score of all columns (docs/method.rst 3).

    ``V(lam) = (1/n) ||(I - H_lam) Y||_F^2 / ((1/n) tr(I - H_lam))^2``. Each
    evaluation is a band Cholesky solve and the band of its inverse (Hutchinson &
    de Hoog 1985), O(n) time and memory, scored for a batch of lam at once (for
    order 2 and at most ``DENSE_GCV_MAX_POINTS`` points, the eigenbasis of the
    penalty gives the same V faster):
    ``n lam d`` is scanned on a log grid from ``bounds[0] / max(d)`` to
    ``bounds[1] / min(d)`` (d: the nonzero eigenvalues of the penalty), refined
    by three nested grids around the best point and a final parabola in log(lam).

    Parameters
    ----------
    fit_points : array-like of shape (n,)
        Strictly increasing knots.
    values : array-like of shape (n,) or (n, p)
        The data; every column shares the chosen lam.
    order : int, default=2
        The spline order m (see :func:`spline_operator`).
    bounds : (float, float), default=(1e-4, 1e4)
        Scan range of ``n lam d`` relative to the largest and smallest eigenvalue.

    Returns
    -------
    lam : float
        0.0 when n <= m or the data are polynomials of degree < m (nothing to smooth).

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
    m = _check_order(order)
    t = _as_knots(fit_points, m)
    Y = np.asarray(values, dtype=np.float64).reshape(t.size, -1)
    n = t.size
    if n <= m:
        return 0.0
    # No roughness beyond rounding (polynomials of degree < m): nothing to smooth.
    V = np.vander(t, m, increasing=True)
    residual = Y - V @ linalg.lstsq(V, Y)[0]
    if np.linalg.norm(residual) <= 1e-12 * np.linalg.norm(Y):
        return 0.0
    if m == 2 and n <= DENSE_GCV_MAX_POINTS:
        W, d = _penalty_eigensystem(t.tobytes(), m)
        z2 = np.sum((W.T @ Y) ** 2, axis=1)
        d_min, d_max = d[d > 0].min(), d.max()

        def scores(grid):
            return _dense_gcv_scores(grid, n, d, z2)

    else:
        Qc, Rb, QtQb = _penalty(t.tobytes(), m)
        QtY = _q_transpose_times(Qc, Y)
        d_min, d_max = _pencil_extremes(Rb, QtQb)

        def scores(grid):
            return _gcv_scores(grid, n, Rb, QtQb, Qc, QtY)

    lo, hi = np.log(bounds[0] / (n * d_max)), np.log(bounds[1] / (n * max(d_min, 1e-300)))

    grid = np.linspace(lo, hi, 33)
    values_ = scores(grid)
    for _ in range(3):  # nested grids: each narrows the step fourfold
        best = int(np.nanargmin(values_))
        step = grid[1] - grid[0]
        grid = np.linspace(grid[best] - step, grid[best] + step, 9)
        values_ = scores(grid)
    best = int(np.nanargmin(values_))
    log_lam = grid[best]
    if 0 < best < grid.size - 1:  # vertex of the parabola through the best three
        x, v = grid[best - 1 : best + 2], values_[best - 1 : best + 2]
        curvature = v[0] - 2 * v[1] + v[2]
        if curvature > 0:
            vertex = x[1] - (x[2] - x[0]) / 4 * (v[2] - v[0]) / curvature
            if scores([vertex])[0] < v[1]:
                log_lam = vertex
    return float(np.exp(log_lam))


def _as_knots(fit_points, order=DEFAULT_ORDER):
    t = np.ascontiguousarray(fit_points, dtype=np.float64).ravel()
    needed = max(2, order)
    if t.size < needed:
        raise ValueError(
            f"A spline fit of order {order} needs at least {needed} points; got {t.size}."
        )
    if np.any(np.diff(t) <= 0) or not np.all(np.isfinite(t)):
        raise ValueError(f"fit_points must be finite and strictly increasing; got {t}.")
    return t


def _check_smoothing(smoothing):
    lam = float(smoothing)
    if not np.isfinite(lam) or lam < 0:
        raise ValueError(f"smoothing must be a finite number >= 0; got {smoothing!r}.")
    return lam
