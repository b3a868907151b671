"""Private coding: noise padding, its point layout, and measured leakage (docs/method.rst 7, 10).

The encoder interpolates the K data rows at the data points alpha *and* P random
rows ``z_p ~ N(0, sigma^2)`` at noise points nu, and evaluates at the coded
points beta: worker j receives

    x~_j = sum_k A_jk x_k + sum_p B_jp z_p,       [A | B] = M(alpha u nu -> beta)      (P)

(the noise-padded LCC / BACC construction, fresh noise per batch; docs/method.rst
(7.3)). Leakage to a set J of T colluding workers is measured two ways:

- the Gaussian bound: for data rows of variance ``s2`` per column, independent
  across rows, the best linear predictor of row k from the pooled rows ``x~_J``
  explains ``R2_k = s2 a_k' C^{-1} a_k`` of its variance, with ``a_k = A[J, k]`` and
  ``C = s2 A_J A_J' + sigma^2 B_J B_J'`` (per column; eq. G,
  docs/method.rst (7.4)). For Gaussian data this is the mutual information
  ``I_k = -log(1 - R2_k) / 2`` nats per column,
  and, for Gaussian data with independent columns, a bound on any predictor
  (correlated columns let an attacker do better: measured in the benchmark);
- an empirical attack, :func:`collusion_r2`: least squares from the pooled rows
  to each data row, fitted on some batches and scored on held-out ones.

A coded point at distance d on either side of a data point alpha_k carries
``x_k + d u'(alpha_k) + d^2 u''(alpha_k) / 2``, and two colluders at ``alpha_k - d``
and ``alpha_k + d`` cancel the first-order term: what masks x_k is the curvature
of the noise, ``sigma d^2 |B''|``, which for a local code (the spline) vanishes
geometrically with the distance to the nearest noise point. Hence the layouts:

- ``"ends"``: P = T noise points at both ends of the interval, data inside;
- ``"spread"``: P = T noise points spread evenly among the data points;
- ``"alternate"``: a noise point between every two data points and at both ends,
  P = max(T, K + 1): every data point has noise on both sides.

In every layout the K + P nodes are the points of a family for K + P points.
With ``gap = 0`` the N coded points are the family's points for N, and each
node is moved to the midpoint of the gap between coded points that holds it, so
that no coded point sits on a data point (a worker there would receive the row
itself). With ``gap = g > 0`` no coded point comes closer to a data point than
``g`` times the smallest node spacing: the family's N points are mapped onto the
rest of [-1, 1] by its arclength.
"""

import itertools
from math import comb

import numpy as np

from ._points import make_points

PRIVATE_LAYOUTS = ("alternate", "spread", "ends")

#: The layout of ``n_private > 0``, measured in ``benchmarks/bench_privacy_layouts.py``: the
#: only layout whose leakage falls with the noise scale; figures in
#: docs/benchmarks.rst, "Defaults and the measurements behind them".
DEFAULT_PRIVATE_LAYOUT = "alternate"


def n_noise_rows(layout, n_samples, n_private):
    """P, the number of padding rows of a layout.

    Parameters
    ----------
    layout : {"alternate", "spread", "ends"}
    n_samples : int
        K.
    n_private : int
        T.

    Returns
    -------
    int

    Examples
    --------
    >>> from sklearn_coded.operators import n_noise_rows
    >>> n_noise_rows("alternate", 16, 2), n_noise_rows("spread", 16, 2)
    (17, 2)
    """
    if layout not in PRIVATE_LAYOUTS:
        raise ValueError(f"layout must be one of {PRIVATE_LAYOUTS}; got {layout!r}.")
    if n_private <= 0:
        return 0
    return max(n_private, n_samples + 1) if layout == "alternate" else int(n_private)


#: The coded points' distance from the data points of ``n_private > 0``, in node
#: spacings, per scheme: of 0, 0.25 and 0.4, the gap with the best argmax
#: agreement among the settings whose attack R^2 stays <= 0.25 for every row, on
#: held-out rows (``bench_privacy_layouts.py --split train``, digits MLP, K = 16, T = 2,
#: N = 128): spline 0.25 (agreement 0.38 at sigma = 30, against 0.24 with 0.4),
#: Berrut 0.4 (0.47 at sigma = 10, the best of all), Lagrange 0.4 (0.21 at
#: sigma = 100, the only setting under 0.25; a gap costs Lagrange accuracy at low
#: noise, 0.90 at sigma = 0.3).
PRIVATE_GAPS = {"spline": 0.25, "berrut": 0.4, "lagrange": 0.4}

#: The default ``gap`` of :func:`private_layout` (Berrut's, the best point measured).
DEFAULT_PRIVATE_GAP = 0.4


def private_layout(
    points,
    n_samples,
    n_private,
    n_coded,
    layout=DEFAULT_PRIVATE_LAYOUT,
    gap=DEFAULT_PRIVATE_GAP,
):
    """Data points alpha, noise points nu and coded points beta of a private code.

    Parameters
    ----------
    points : {"chebyshev", "chebyshev2", "uniform", "bacc"}
        Point family of the K + P nodes and of the N coded points.
    n_samples : int
        K >= 2.
    n_private : int
        T >= 1 colluders to protect against.
    n_coded : int
        N >= 2.
    layout : {"alternate", "spread", "ends"}, default=DEFAULT_PRIVATE_LAYOUT
        Where the noise points sit among the data points (module docstring).
    gap : float, default=DEFAULT_PRIVATE_GAP
        Smallest distance of a coded point from a data point, in units of the
        smallest node spacing; in [0, 0.5).

    Returns
    -------
    alpha : ndarray of shape (K,)
    nu : ndarray of shape (P,)
    beta : ndarray of shape (N,)

    Examples
    --------
    >>> from sklearn_coded.operators import private_layout
    >>> alpha, nu, beta = private_layout("uniform", 2, 1, 6, gap=0.0)
    >>> alpha.round(2), nu.round(2), beta.round(2)
    (array([-0.4,  0.4]), array([-0.8,  0. ,  0.8]), array([-1. , -0.6, -0.2,  0.2,  0.6,  1. ]))
    """
    if not isinstance(points, str):
        raise ValueError(
            f"n_private > 0 places data and noise points from a point family; points must "
            f"be a family name, got {points!r}."
        )
    P = n_noise_rows(layout, n_samples, n_private)
    n = n_samples + P
    beta = make_points(points, n_coded, role="coded", name="points (coded points)")
    nodes = make_points(points, n, role="data", name="points (data points)")
    if layout == "alternate":
        # Noise at the even positions 0, 2, ..., 2K; extra noise (T > K + 1) at the end.
        data = np.arange(1, 2 * n_samples, 2)
    elif layout == "ends":
        first = P // 2
        data = np.arange(first, first + n_samples)
    else:  # spread: noise at the ranks (p + 1/2) n / P, p = 0..P-1
        noise = np.floor((np.arange(P) + 0.5) * n / P).astype(int)
        data = np.setdiff1d(np.arange(n), noise)
    is_data = np.zeros(n, dtype=bool)
    is_data[data] = True
    if not 0 <= gap < 0.5:
        raise ValueError(f"gap must be in [0, 0.5); got {gap!r}.")
    if gap > 0:
        beta = _avoid(beta, nodes[is_data], gap * np.diff(nodes).min())
    else:
        nodes = _off_coded_points(nodes, beta)
    return nodes[is_data], nodes[~is_data], beta


def _avoid(beta, alpha, width):
    """Map points of [-1, 1] onto [-1, 1] minus the intervals (alpha_k - w, alpha_k + w).

    The map is the inverse of the allowed set's arclength from -1, rescaled to
    [-1, 1], so the points keep their family's relative spacing.
    """
    lo, hi = np.clip(alpha - width, -1, 1), np.clip(alpha + width, -1, 1)
    edges = np.concatenate([[-1.0], np.column_stack([lo, hi]).ravel(), [1.0]])
    allowed = np.zeros(edges.size)
    allowed[1:] = np.cumsum(np.diff(edges) * (np.arange(1, edges.size) % 2 == 1))
    target = (beta + 1) / 2 * allowed[-1]
    # Inside the allowed pieces the arclength grows; invert it piece by piece.
    piece = np.clip(np.searchsorted(allowed[::2], target, side="right") - 1, 0, alpha.size)
    return edges[2 * piece] + target - allowed[2 * piece]


def _off_coded_points(nodes, beta):
    """Move each node to the midpoint of the gap between coded points holding it.

    Nodes that would share a gap are spread evenly inside it, keeping the order.
    """
    gap = np.clip(np.searchsorted(beta, nodes) - 1, 0, beta.size - 2)
    out = np.empty_like(nodes)
    for g in np.unique(gap):
        members = np.flatnonzero(gap == g)
        fractions = (np.arange(members.size) + 1) / (members.size + 1)
        out[members] = beta[g] + fractions * (beta[g + 1] - beta[g])
    return out


def gaussian_leakage(
    data_operator,
    noise_operator,
    noise_scale,
    n_colluders,
    *,
    signal_var=1.0,
    max_subsets=20000,
    random_state=None,
    return_subsets=False,
):
    """Worst-case Gaussian leakage of each data row to T colluding workers (eq. G).

    Parameters
    ----------
    data_operator : array-like of shape (N, K)
        A in eq. (P).
    noise_operator : array-like of shape (N, P)
        B in eq. (P).
    noise_scale : float
        sigma, the standard deviation of the padding entries.
    n_colluders : int
        T.
    signal_var : float, default=1.0
        Variance of a data entry.
    max_subsets : int, default=20000
        All T-subsets of workers are checked when there are at most this many;
        otherwise every window of T consecutive workers and random subsets up to
        this count (then the maximum is a lower bound of the worst case).
    random_state : int or None, default=None
        Seeds the random subsets.
    return_subsets : bool, default=False
        Also return, for each data row, the T workers that learn the most of it.

    Returns
    -------
    r2 : ndarray of shape (K,)
        Largest R^2 of the best linear predictor of each data row over the subsets.
    mutual_information : ndarray of shape (K,)
        ``-log(1 - r2) / 2``, nats per column (inf where a row is revealed).
    subsets : ndarray of int of shape (K, T)
        Only with ``return_subsets``: the worst workers for each row.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_coded.operators import gaussian_leakage
    >>> A = np.array([[1.0], [1.0]])  # two workers both see x + z
    >>> B = np.array([[1.0], [1.0]])
    >>> r2, mi = gaussian_leakage(A, B, noise_scale=1.0, n_colluders=1)
    >>> r2, mi.round(4)  # var(x) / var(x + z) = 1/2
    (array([0.5]), array([0.3466]))
    """
    A = np.asarray(data_operator, dtype=np.float64)
    B = np.asarray(noise_operator, dtype=np.float64)
    N = A.shape[0]
    T = int(n_colluders)
    if not 1 <= T <= N:
        raise ValueError(f"n_colluders must be in [1, N={N}]; got {n_colluders!r}.")
    subsets = _subsets(N, T, max_subsets, random_state)
    worst = np.zeros(A.shape[1])
    worst_subsets = np.zeros((A.shape[1], T), dtype=np.intp)
    for start in range(0, len(subsets), 4096):
        J = subsets[start : start + 4096]
        AJ, BJ = A[J], B[J]  # (M, T, K), (M, T, P)
        C = signal_var * AJ @ AJ.transpose(0, 2, 1) + noise_scale**2 * BJ @ BJ.transpose(0, 2, 1)
        solved = np.linalg.pinv(C, hermitian=True) @ AJ  # C^+ a_k for every k
        r2 = signal_var * np.einsum("mtk,mtk->mk", AJ, solved)  # eq. (G)
        r2 = np.clip(r2, 0.0, 1.0)
        better = r2.max(axis=0) > worst
        worst_subsets[better] = J[r2.argmax(axis=0)[better]]
        worst = np.maximum(worst, r2.max(axis=0))
    with np.errstate(divide="ignore"):
        mutual_information = -0.5 * np.log1p(-worst)
    if return_subsets:
        return worst, mutual_information, worst_subsets
    return worst, mutual_information


def _subsets(N, T, max_subsets, random_state):
    if comb(N, T) <= max_subsets:
        return np.array(list(itertools.combinations(range(N), T)), dtype=np.intp)
    rng = np.random.default_rng(random_state)
    windows = np.arange(N - T + 1)[:, None] + np.arange(T)
    extra = max(max_subsets - len(windows), 0)
    drawn = np.sort(np.argsort(rng.random((extra, N)), axis=1)[:, :T], axis=1)
    return np.concatenate([windows, drawn])


def collusion_r2(data_rows, pooled_rows, *, train_fraction=0.5, ridge=0.0):
    """Held-out R^2 of the least-squares attack of colluders on one data row.

    The colluders pool their coded rows of many batches; an affine map from the
    pooled rows to the data row is fitted on the first ``train_fraction`` of the
    batches and scored on the rest.

    Parameters
    ----------
    data_rows : array-like of shape (n_batches, d)
        The data row (one position of the batch) in every batch.
    pooled_rows : array-like of shape (n_batches, n_inputs)
        What the colluders saw in the same batches, concatenated.
    train_fraction : float, default=0.5
    ridge : float, default=0.0
        Ridge penalty on the coefficients of the standardized inputs (the
        intercept is not penalized), for attacks with many inputs.

    Returns
    -------
    r2 : float
        ``1 - sum(residual^2) / sum((row - mean)^2)`` on the held-out batches,
        pooled over the d columns (variance-weighted).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_coded.operators import collusion_r2
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(4000, 1))
    >>> seen = x + rng.normal(size=(4000, 1))  # one worker sees x + z
    >>> round(collusion_r2(x, seen), 2)  # the Gaussian value is 1/2
    0.49
    """
    Y = np.asarray(data_rows, dtype=np.float64)
    Z = np.asarray(pooled_rows, dtype=np.float64)
    if Y.ndim == 1:
        Y = Y[:, None]
    n = Y.shape[0]
    n_train = round(train_fraction * n)
    if not 2 <= n_train <= n - 2:
        raise ValueError(f"Need at least 2 training and 2 held-out batches; got {n} batches.")
    center = Z[:n_train].mean(axis=0)
    scale = Z[:n_train].std(axis=0)
    Zs = (Z - center) / np.where(scale > 0, scale, 1.0)
    offset = Y[:n_train].mean(axis=0)
    # Ridge least squares on centred data: (Zs'Zs + ridge I) w = Zs'(Y - mean).
    gram = Zs[:n_train].T @ Zs[:n_train] + ridge * np.eye(Zs.shape[1])
    coef = np.linalg.lstsq(gram, Zs[:n_train].T @ (Y[:n_train] - offset), rcond=None)[0]
    residual = Y[n_train:] - offset - Zs[n_train:] @ coef
    spread = Y[n_train:] - Y[n_train:].mean(axis=0)
    return float(1.0 - (residual**2).sum() / (spread**2).sum())


# ------------------------------------------------------------------ certified leakage
#
# The bound the coders guarantee (docs/method.rst 10: eqs. Q, L, L_r and R below are its
# (10.1), (10.2), (10.3) and (10.4), the calibration of noise_scale="auto" (10.5)). Colluders J
# see ``Y_J = A_J X + B_J Z`` (eq. P). Give them, on top, every other row of the batch
# (a known-plaintext attacker: only more knowledge): what is left about row k is
#
#     Y_J - A_J,-k X_-k = a x_k' + B_J Z,        a = A[J, k],  Z iid N(0, sigma^2).
#
# Rotate the columns onto the eigenvectors of the column covariance C (the noise is
# isotropic, so its columns stay iid): each eigen-column j of x_k, of variance lambda_j,
# is seen through its own scalar Gaussian channel, with signal-to-noise ratio
#
#     q_j = (lambda_j / sigma^2) a' (B_J B_J')^+ a                                  (Q)
#
# (infinite when a leaves the range of B_J: the row is seen without noise). The LMMSE
# R^2 of any linear feature v'x_k is a weighted mean of q_j / (1 + q_j), at most
#
#     R2_k <= q_k / (1 + q_k),   q_k = (lambda_max / sigma^2) max_J a' (B_J B_J')^+ a     (L)
#
# for every T-subset J: a bound on the LMMSE attacker who knows the layout, sigma and
# the true covariance, whichever linear feature or pixel of the row it targets (equality
# for the top principal component when the other rows are known). R requests that code
# row k again with fresh noise are R independent channels given the data: their
# precisions add, and the bound after them is (L) with q_k = sum_r q_k,r             (R)
#
# whatever the batches, positions or neighbours of the repeats. Rows of a batch that are
# correlated (covariance Sigma >= r (I_K kron C), r the smallest eigenvalue of the rows'
# correlation matrix) have, since the posterior covariance grows with the prior's,
#
#     R2_k <= 1 - r / (1 + r q_k)                                                   (L_r)
#
# for the attacker who does not know the other rows (r = 1 is eq. L).

#: All T-subsets of workers are enumerated for the bound when there are at most this many.
MAX_CERTIFIED_SUBSETS = 500_000


def colluder_information(data_operator, noise_operator, n_colluders, *, max_subsets=None):
    """Worst signal-to-noise factor of each data row over every set of T workers (eq. Q).

    ``Q_k = max_J a' (B_J B_J')^+ a`` with ``a = A[J, k]``, over *every* T-subset
    J of the N workers; the colluders' R^2 on row k is at most ``q / (1 + q)``
    with ``q = lambda_max Q_k / sigma^2`` (eq. L of this module's source).

    Parameters
    ----------
    data_operator : array-like of shape (N, K)
        A in eq. (P).
    noise_operator : array-like of shape (N, P)
        B in eq. (P).
    n_colluders : int
        T, 1 <= T <= N.
    max_subsets : int, optional
        Largest number of T-subsets enumerated; default ``MAX_CERTIFIED_SUBSETS``.
        More subsets than this is refused (no bound is claimed from a sample).

    Returns
    -------
    Q : ndarray of shape (K,)
        ``inf`` where some T workers see the row without noise.

    Raises
    ------
    ValueError
        If ``C(N, T)`` exceeds ``max_subsets``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_coded.operators import colluder_information
    >>> A = np.array([[1.0], [1.0]])  # both workers see x + z: a'(BB')^+ a = 1
    >>> B = np.array([[1.0], [1.0]])
    >>> colluder_information(A, B, 1), colluder_information(A, B, 2)
    (array([1.]), array([1.]))
    """
    A = np.asarray(data_operator, dtype=np.float64)
    B = np.asarray(noise_operator, dtype=np.float64)
    N, K = A.shape
    T = int(n_colluders)
    if not 1 <= T <= N:
        raise ValueError(f"n_colluders must be in [1, N={N}]; got {n_colluders!r}.")
    limit = MAX_CERTIFIED_SUBSETS if max_subsets is None else int(max_subsets)
    if comb(N, T) > limit:
        raise ValueError(
            f"Certifying the leakage to T={T} colluders among N={N} workers means checking "
            f"C(N, T) = {comb(N, T)} subsets, more than {limit}; use fewer workers "
            "(n_coded) or fewer colluders (n_private)."
        )
    subsets = np.array(list(itertools.combinations(range(N), T)), dtype=np.intp)
    worst = np.zeros(K)
    for start in range(0, len(subsets), 8192):
        J = subsets[start : start + 8192]
        AJ, BJ = A[J], B[J]  # (M, T, K), (M, T, P)
        w, V = np.linalg.eigh(BJ @ BJ.transpose(0, 2, 1))  # B_J B_J' = V diag(w) V'
        proj = V.transpose(0, 2, 1) @ AJ  # V' a for every k: (M, T, K)
        # Eigenvalues under rounding of the largest are zero: B_J B_J' is singular there.
        kept = w > np.maximum(w.max(axis=1, keepdims=True) * 1e-12, 1e-300)
        q = np.einsum("mt,mtk->mk", np.where(kept, 1.0 / np.where(kept, w, 1.0), 0.0), proj**2)
        # a with a component outside range(B_J): seen without noise.
        outside = np.einsum("mt,mtk->mk", ~kept, proj**2)
        scale = np.einsum("mtk,mtk->mk", AJ, AJ)
        q[outside > 1e-20 * np.maximum(scale, 1e-300)] = np.inf
        worst = np.maximum(worst, q.max(axis=0))
    return worst


def leakage_bound(information, row_eigenvalue_floor=1.0):
    """R^2 bound of the colluders from their total signal-to-noise ratio (eqs. L, L_r).

    Parameters
    ----------
    information : array-like
        q, the summed ``lambda_max Q / sigma^2`` of every coded view of the row
        (eq. R: views with fresh noise add).
    row_eigenvalue_floor : float, default=1.0
        r in (0, 1]: a lower bound on the smallest eigenvalue of the correlation
        matrix of the rows of a batch; 1 for independent rows.

    Returns
    -------
    r2 : ndarray
        ``1 - r / (1 + r q)``, in [0, 1] (1 where q is infinite).

    Examples
    --------
    >>> from sklearn_coded.operators import leakage_bound
    >>> leakage_bound([0.0, 1 / 3, 1.0]).round(3)
    array([0.  , 0.25, 0.5 ])
    >>> leakage_bound(1 / 3, row_eigenvalue_floor=0.5).round(3)  # correlated rows leak more
    np.float64(0.571)
    """
    q = np.asarray(information, dtype=np.float64)
    r = float(row_eigenvalue_floor)
    if not 0 < r <= 1:
        raise ValueError(f"row_eigenvalue_floor must be in (0, 1]; got {row_eigenvalue_floor!r}.")
    with np.errstate(invalid="ignore"):
        bound = np.where(np.isinf(q), 1.0, 1.0 - r / (1.0 + r * np.where(np.isinf(q), 0.0, q)))
    return bound if bound.ndim else bound[()]


def information_for_leakage(max_leakage):
    """q* = R2 / (1 - R2): the signal-to-noise ratio at which eq. (L) reaches ``max_leakage``.

    docs/method.rst (10.5): ``noise_scale="auto"`` is ``sigma^2 = lambda_max max_k Q_k / q*``.
    """
    return np.inf if max_leakage >= 1 else max_leakage / (1.0 - max_leakage)


def lmmse_leakage(data_operator, noise_operator, noise_scale, covariance, subset):
    """Exact R^2 of the LMMSE attack of the workers ``subset`` on every data row.

    The oracle for eq. (L): the data ``vec(X)`` (row-major, K rows of d columns) has
    covariance ``covariance`` (any (K d, K d) positive semi-definite matrix: rows and
    columns may be correlated), the workers J see ``(A_J kron I) vec(X) + (B_J kron I)
    vec(Z)``; the posterior covariance of the batch is
    ``S - S G' (G S G' + sigma^2 (B_J B_J' kron I))^+ G S`` with ``G = A_J kron I``.

    Parameters
    ----------
    data_operator : array-like of shape (N, K)
    noise_operator : array-like of shape (N, P)
    noise_scale : float
    covariance : array-like of shape (K * d, K * d)
    subset : array-like of int
        The colluding workers J.

    Returns
    -------
    pooled : ndarray of shape (K,)
        ``1 - tr(posterior_kk) / tr(prior_kk)``: the R^2 pooled over the row's columns.
    worst : ndarray of shape (K,)
        The largest R^2 of any linear feature ``v' x_k`` of the row.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_coded.operators import lmmse_leakage
    >>> A, B = np.array([[1.0]]), np.array([[1.0]])  # one worker sees x + z
    >>> lmmse_leakage(A, B, 1.0, np.eye(1), [0])
    (array([0.5]), array([0.5]))
    """
    A = np.asarray(data_operator, dtype=np.float64)
    B = np.asarray(noise_operator, dtype=np.float64)
    S = np.asarray(covariance, dtype=np.float64)
    K = A.shape[1]
    d = S.shape[0] // K
    J = np.asarray(subset, dtype=np.intp)
    eye = np.eye(d)
    G = np.kron(A[J], eye)
    noise = noise_scale**2 * np.kron(B[J] @ B[J].T, eye)
    SG = S @ G.T
    post = S - SG @ np.linalg.pinv(G @ SG + noise, hermitian=True) @ SG.T
    pooled, worst = np.empty(K), np.empty(K)
    for k in range(K):
        block = slice(k * d, (k + 1) * d)
        prior, after = S[block, block], post[block, block]
        pooled[k] = 1.0 - np.trace(after) / np.trace(prior)
        w, V = np.linalg.eigh(prior)
        keep = w > w.max() * 1e-12
        W = V[:, keep] / np.sqrt(w[keep])  # whitening of the prior on its range
        worst[k] = 1.0 - np.linalg.eigvalsh(W.T @ after @ W).min()
    return np.clip(pooled, 0.0, 1.0), np.clip(worst, 0.0, 1.0)


# The per-model budget lives in _ledger.py; re-exported for the importers of this module.
from ._ledger import (  # noqa: E402, F401
    AUTO_BUDGET_VIEWS,
    LeakageBudgetError,
    LeakageLedger,
    resolve_budget,
)
