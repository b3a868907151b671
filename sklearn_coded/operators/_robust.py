"""Locating Byzantine (corrupted) worker results (docs/method.rst section 7).

Up to A of the n results ``y_i`` at coded points ``t_i`` are arbitrary. The
code-span locator is here; the leave-one-out spline and rational
(Berlekamp-Welch) locators, which it replaced as the default, are in :mod:`._loo`
(equations (L), (L0), (Z) below are its).

- **Code-span locator** (for every scheme, and the only one that survives noise
  padding). The encoder's coded rows are ``X_coded = M X_nodes`` with M the
  scheme's interpolation operator from the nodes (the K data points, and the P
  noise points of a private code) to the coded points: a smoothing-spline encoder
  of any lam gives a natural spline with knots at the nodes too, so its rows lie
  in the same span. For an affine f the results are then ``Y = M f(X_nodes)``
  exactly (the cardinal functions sum to 1), so the clean results lie in the
  r-dimensional column space of ``M_F`` (r = K + P, F the survivors) and an error
  shows in the least-squares residual

      e = (I - H) y,     H = M_F M_F^+,                                              (S)

  the real-field syndrome of the code. Row i's leave-one-out residual is
  ``e_i / (1 - H_ii)`` and its standardized residual ``e_i / sqrt(1 - H_ii)``
  (the same Cauchy-Schwarz argument as (Z): ``I - H`` is a projection). For a
  network f the clean residual is f's departure from affinity along the code,
  small against gross errors; unlike (L0) it does not grow when the code
  alternates data and noise rows, which makes the results rough between the
  nodes. Like a Reed-Solomon code of length n and dimension r, A errors can be
  located only if ``n >= r + 2A``.
"""

import numpy as np

#: Default threshold of :func:`locate_span` on a candidate's score
#: (:func:`span_candidate_scores`), chosen in ``benchmarks/bench_adversarial.py``
#: on held-out rows (digits MLP, K = 16, N = 80, S = 4, 800 clean batches of the
#: training split per code, 3 candidates forced): the largest clean scores were
#: 9.6 (spline, interior points), 8.2 (Berrut, Chebyshev) and 8.0 (spline padded
#: for T = 2), their 99.9% quantiles 9.3, 8.1 and 7.4; 10 is above all of them.
SPAN_THRESHOLD = 10.0

#: How :func:`locate_span` chooses its candidates.
SPAN_METHODS = ("lts", "irls", "trim")


def _robust_scores(residuals, values):
    """RMS over columns of the residuals, each column scaled by a robust spread.

    The spread is the lower quartile of ``|r|`` over 0.3186 (the lower quartile of
    ``|z|`` for a standard normal z): one corrupted row contaminates a few
    neighbours' residuals too, and a quartile tolerates that for up to 3/4 of
    the rows, where the median would not.
    """
    scale = np.quantile(np.abs(residuals), 0.25, axis=0) / 0.3186
    floor = 1e-12 * (np.abs(values).max(axis=0) + 1e-300)  # exact fits: no division by 0
    z = residuals / np.maximum(scale, floor)
    return np.sqrt((z**2).mean(axis=1))


def span_residuals(basis, values, *, standardized=False):
    """Leave-one-out residuals of the least-squares fit of ``values`` in the span of ``basis``.

    Row i is ``e_i / (1 - H_ii)`` with ``e = (I - H) y`` and H the orthogonal
    projector onto the columns of ``basis`` (eq. S); ``standardized`` gives
    ``e_i / sqrt(1 - H_ii)``. A row with leverage ``H_ii = 1`` is not checked by
    the others at all: its residual is 0.

    Parameters
    ----------
    basis : array-like of shape (n, r)
        The code's operator from its r nodes to the n rows' coded points.
    values : array-like of shape (n,) or (n, m)
    standardized : bool, default=False

    Returns
    -------
    residuals : ndarray of shape (n, m)

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_coded.operators import coding_operator, span_residuals
    >>> M = coding_operator("berrut", [-0.5, 0.5], np.linspace(-1, 1, 5))[0]
    >>> y = M @ [1.0, 3.0]  # an affine f of the two data rows
    >>> y[3] += 2.0
    >>> round(float(span_residuals(M, y)[3, 0]), 12)  # row 3's is its error: the rest are clean
    2.0
    """
    B = np.asarray(basis, dtype=np.float64)
    Y = np.asarray(values, dtype=np.float64).reshape(B.shape[0], -1)
    U = _column_space(B)[0]
    residual = Y - U @ (U.T @ Y)  # (I - H) y, eq. (S)
    slack = 1.0 - (U**2).sum(axis=1)  # 1 - H_ii
    checked = slack > 1e-10
    out = np.zeros_like(residual)
    power = 0.5 if standardized else 1.0
    out[checked] = residual[checked] / slack[checked, None] ** power
    return out


def _column_space(B):
    """Thin SVD ``U, s, Vt`` of B without its numerically zero singular values."""
    U, s, Vt = np.linalg.svd(B, full_matrices=False)
    rank = s > (s[0] if s.size else 0.0) * B.shape[0] * np.finfo(float).eps
    return U[:, rank], s[rank], Vt[rank]


#: Default threshold of :func:`span_consistency_scores`: a certified decode needs
#: every kept row's score at or below it (docs/method.rst 8 (b)). The largest over all
#: rows of a batch is heavier-tailed than a candidate's score (``SPAN_THRESHOLD``):
#: on clean digits-MLP batches (K = 16, S = 4; 300 batches per cell, two model
#: seeds) its 99.9% quantiles were 8.0-9.8 for the spline code (interior points,
#: N = 80; the largest at the interval's ends), 5.6-6.0 padded for T = 2 (N = 100)
#: and 4.1-4.5 for Berrut (Chebyshev, N = 80); the weaker nets of
#: tests/estimators/test_coded_security.py reached 24.8 at the last of N = 160
#: rows, where the coded rows are extrapolated. 30 is above all of them
#: (``bench_adversarial.py --certified`` ran at 20 and at 30).
CONSISTENCY_THRESHOLD = 30.0

#: Least ``1 - lambda_max(H_WW)`` over the removable blocks W of 2A rows for a
#: survivor set to locate A liars (:func:`span_locatable`). At 0 the kept rows
#: are rank-deficient and two codewords that differ only on W are
#: indistinguishable; just above 0 a lie along the block's weakest direction
#: shows in the syndrome by only ``sqrt(1 - lambda_max)`` of its size. Chosen in
#: ``benchmarks/bench_adversarial.py --certified`` (digits MLP, K = 16, S = 4):
#: the spline code padded for T = 2 at N = 80 (slack 1e-6 to 1e-4 at A = 2) let
#: lies along the weakest direction through silently, 10 spreads off; the plain
#: spline (interior points, A = 3: slack 3e-4 to 5e-3) and Berrut (Chebyshev,
#: 0.016 to 0.05) codes never did. 2e-4 separates them: the kept rows'
#: conditioning is then at most 71 times the full set's.
LOCATABLE_MARGIN = 2e-4


def span_consistency_scores(basis, values):
    """Studentized residual of every row against the code's span, in robust units.

    Row i's score is ``|e_i| / sqrt(1 - H_ii)`` (eq. S; equal to its
    leave-one-out prediction error over that error's standard deviation), per
    column in units of the median absolute standardized residual / 0.6745, and
    combined over the columns by root mean square. When every row is honest the
    scores are those of clean rows; a row left over by a locator that missed
    liars stands out.

    Parameters
    ----------
    basis : array-like of shape (n, r)
    values : array-like of shape (n,) or (n, m)

    Returns
    -------
    scores : ndarray of shape (n,)

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_coded.operators import coding_operator, span_consistency_scores
    >>> rng = np.random.default_rng(0)
    >>> M = coding_operator("spline", np.linspace(-0.9, 0.9, 4), np.linspace(-1, 1, 30))[0]
    >>> y = M @ rng.standard_normal((4, 2)) + 1e-3 * rng.standard_normal((30, 2))
    >>> bool(span_consistency_scores(M, y).max() < 15)
    True
    >>> y[7] += 1.0
    >>> int(span_consistency_scores(M, y).argmax())
    7
    """
    B = np.asarray(basis, dtype=np.float64)
    Y = np.asarray(values, dtype=np.float64).reshape(B.shape[0], -1)
    standardized = span_residuals(B, Y, standardized=True)
    scale = np.median(np.abs(standardized), axis=0) / 0.6745
    floor = 1e-12 * (np.abs(Y).max(axis=0) + 1e-300)
    return np.sqrt(((standardized / np.maximum(scale, floor)) ** 2).mean(axis=1))


def span_locatable(basis, n_adversaries, *, margin=LOCATABLE_MARGIN):
    """Most liars (up to ``n_adversaries``) the rows of a code can locate, and the margin.

    Locating A liars among n rows is unique only if no two codewords agree on
    n - 2A rows, i.e. if the rows left after removing *any* 2A of them still
    have rank r (docs/method.rst 8 (a)). With H the projector on the column space of
    the basis and W the removed rows, the kept rows' Gram matrix is
    ``B'B - B_W'B_W``, whose smallest eigenvalue is at least
    ``(1 - lambda_max(H_WW)) sigma_min(B)^2``; so the removal keeps rank r, with
    conditioning at most ``kappa(B) / sqrt(1 - lambda_max(H_WW))``, when
    ``1 - lambda_max(H_WW) >= margin``. This checks every block of 2A rows that
    are consecutive in the rows' order (the coded points, sorted): the removals
    that leave the widest gap, which are the worst for the local spline code
    (at N <= 40, K = 16, A = 3 it is exactly rank-deficient there). Other
    removals are not enumerated; the consistency check of the kept rows
    (:func:`span_consistency_scores`) catches a wrong location they allow.

    Parameters
    ----------
    basis : array-like of shape (n, r)
        Rows in increasing coded point.
    n_adversaries : int
        A, the declared number of liars.
    margin : float, default=LOCATABLE_MARGIN

    Returns
    -------
    locatable : int
        The largest A' <= A whose 2A'-blocks all keep ``1 - lambda_max >= margin``
        (and with ``n >= r + 2A'``).
    slack : float
        ``min_W 1 - lambda_max(H_WW)`` over the blocks of 2A rows (1.0 when A = 0).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_coded.operators import coding_operator, coding_points, span_locatable
    >>> def code(N):  # K = 16 data points, N coded points, Chebyshev family
    ...     return coding_operator("spline", *coding_points("chebyshev", 16, N))[0]
    >>> span_locatable(code(80), 3)[0]
    3
    >>> span_locatable(code(36), 3)  # 6 adjacent rows removed: rank-deficient
    (1, 0.0)
    """
    B = np.asarray(basis, dtype=np.float64)
    A = int(n_adversaries)
    U = _column_space(B)[0]
    if U.shape[1] < B.shape[1]:
        return 0, 0.0  # the rows do not even determine the code
    n = B.shape[0]
    slack_at = {}
    for a in range(1, A + 1):
        m = 2 * a
        if n < B.shape[1] + m:
            slack_at[a] = 0.0
            continue
        windows = np.lib.stride_tricks.sliding_window_view(U, m, axis=0)  # (n-m+1, r, m)
        top = np.linalg.svd(windows, compute_uv=False)[:, 0] ** 2  # lambda_max(H_WW)
        slack_at[a] = max(float(1.0 - top.max()), 0.0)
    locatable = 0
    for a in range(1, A + 1):
        if slack_at[a] < margin:
            break
        locatable = a
    return locatable, slack_at.get(A, 1.0)


def span_locator_bound(n_nodes, n_adversaries):
    """Fewest rows the code-span locator needs: ``r + 2A`` (r nodes, A errors).

    Parameters
    ----------
    n_nodes : int
        r: K data points, plus P noise points for a private code.
    n_adversaries : int
        A.

    Returns
    -------
    int

    Examples
    --------
    >>> from sklearn_coded.operators import span_locator_bound
    >>> span_locator_bound(16, 3)  # K = 16, no padding: N - S >= K + 2A
    22
    """
    return int(n_nodes) + 2 * int(n_adversaries)


def locate_span(basis, values, n_adversaries, *, threshold=SPAN_THRESHOLD, method="lts"):
    """Flag up to ``n_adversaries`` rows whose results leave the span of the code (eq. S).

    A candidates are chosen, then confirmed. ``method`` chooses them:

    - ``"lts"`` (least trimmed squares): the A rows whose removal leaves the kept
      rows the smallest residual sum of squares, in units of each column's robust
      residual spread, by a local search started from the ``"irls"`` candidates
      and from the block of A adjacent rows (rows in increasing coded point)
      whose removal leaves the smallest sum, keeping the better end point:
      the swap of a candidate with a kept row that lowers that sum most, computed
      exactly by rank-one updates, is made while it at least halves the sum. For
      an affine f this repairs the starts the robust fit gets wrong; on a
      network's results it rarely moves (``benchmarks/bench_adversarial.py``);
    - ``"irls"``: the A rows with the largest residuals of a robust fit in the
      span, an M-estimate by iteratively reweighted least squares (Huber weights
      ``min(1, 1.345 / u)``, then Tukey's bisquare ``(1 - (u / 4.685)^2)^2`` for
      ``u < 4.685``, which gives gross errors no weight at all), u a row's
      residual in units of a robust spread (median absolute residual / 0.6745 per
      column, root mean square over columns). All rows are fitted at once, so
      liars next to each other do not hide one another;
    - ``"trim"``: iterative trimming: the row with the largest standardized
      residual (eq. S; columns scaled by their lower quartile in absolute value
      over 0.3186, combined by root mean square) is set aside and the residuals
      recomputed on the rest, A times.

    A candidate stays flagged only if its distance from the least-squares fit of
    the kept rows exceeds ``threshold`` times what the kept rows' own residuals
    predict (:func:`span_candidate_scores`).

    Parameters
    ----------
    basis : array-like of shape (n, r)
        The code's operator from its r nodes to the rows' coded points:
        ``coding_operator(scheme, nodes, coded_points[F])[0]``;
        ``n >= r + 2 * n_adversaries``.
    values : array-like of shape (n,) or (n, m)
        The rows (worker results).
    n_adversaries : int
        A >= 0, the most rows to flag.
    threshold : float, default=SPAN_THRESHOLD
        Score above which a row is flagged. 0 flags exactly A rows.
    method : {"lts", "irls", "trim"}, default="lts"
        How the candidates are chosen (above).

    Returns
    -------
    flagged : ndarray of bool of shape (n,)

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_coded.operators import coding_operator, locate_span
    >>> rng = np.random.default_rng(0)
    >>> nodes, t = np.linspace(-0.9, 0.9, 4), np.linspace(-1, 1, 30)
    >>> M = coding_operator("spline", nodes, t)[0]
    >>> y = M @ rng.standard_normal((4, 2)) + 1e-3 * rng.standard_normal((30, 2))
    >>> y[[4, 17]] += [[3.0, -1.0], [-2.0, 2.0]]
    >>> np.flatnonzero(locate_span(M, y, 3))
    array([ 4, 17])
    """
    B = np.asarray(basis, dtype=np.float64)
    Y = np.asarray(values, dtype=np.float64).reshape(B.shape[0], -1)
    A = int(n_adversaries)
    needed = span_locator_bound(B.shape[1], A)
    if B.shape[0] < needed:
        raise ValueError(
            f"Locating n_adversaries={A} rows in the span of a code with r={B.shape[1]} "
            f"nodes needs at least r + 2A = {needed} rows; got {B.shape[0]}."
        )
    if method not in SPAN_METHODS:
        raise ValueError(f"method must be one of {SPAN_METHODS}; got {method!r}.")
    if A == 0:
        return np.zeros(B.shape[0], dtype=bool)
    flagged = _span_candidates(B, Y, A, method)
    rows = np.flatnonzero(flagged)
    flagged[rows[span_candidate_scores(B, Y, flagged) <= threshold]] = False
    return flagged


def _span_candidates(B, Y, A, method):
    """The A candidate rows of :func:`locate_span` by ``method`` (see there)."""
    flagged = np.zeros(B.shape[0], dtype=bool)
    if method == "trim":
        for _ in range(A):  # iterative trimming on eq. (S)
            keep = np.flatnonzero(~flagged)
            standardized = span_residuals(B[keep], Y[keep], standardized=True)
            flagged[keep[np.argmax(_robust_scores(standardized, Y[keep]))]] = True
        return flagged
    u, spread = _irls_residuals(B, Y)
    flagged[np.argsort(-u, kind="stable")[:A]] = True
    if method == "irls":
        return flagged
    # "lts": squares in units of each column's robust residual spread; the search
    # also starts from the best block of A adjacent rows (liars who choose adjacent
    # positions hide from the robust fit's start), and the lower RSS wins
    scaled = Y / spread
    starts = (flagged, _best_block(B, scaled, A))
    found = [_trimmed_squares_search(B, scaled, start) for start in starts]
    return min(found, key=lambda mask: _kept_rss(B, scaled, mask))


def _trimmed_squares_search(B, Y, start, gain=2.0):
    """Least trimmed squares over sets of A rows: a local search from ``start``.

    The flagged set should be the one whose removal leaves the kept rows the
    smallest residual sum of squares (RSS). From ``start``, the swap of a flagged
    row with a kept row that lowers it most (:func:`_swap_rss`) is made while it
    divides the RSS by at least ``gain``: a swap that puts a liar among the
    flagged rows does (for an affine f the RSS falls to rounding), one that
    trades clean rows of a network's results does not.
    """
    flagged = start.copy()
    for _ in range(B.shape[0]):
        swap = _swap_rss(B, Y, flagged)[1]
        swapped = _confirmed_swap(B, Y, flagged, swap, gain)
        if swapped is None:
            break
        flagged = swapped
    return flagged


def _best_block(B, Y, A):
    """The block of A consecutive rows whose removal leaves the smallest RSS.

    Removing rows W from a least-squares fit lowers its RSS by
    ``sum_c e_Wc' (I - H_WW)^+ e_Wc`` (e the residuals, H the projector on the
    column space): one small A x A system per block, no refit. Blocks whose
    removal leaves the fit undetermined (an eigenvalue of H_WW at 1) are skipped.
    """
    n = B.shape[0]
    U = _column_space(B)[0]
    e = Y - U @ (U.T @ Y)
    windows = np.lib.stride_tricks.sliding_window_view(np.arange(n), A)  # (n-A+1, A)
    UW = U[windows]  # (n-A+1, A, r)
    G = np.eye(A) - UW @ UW.transpose(0, 2, 1)  # I - H_WW
    eW = e[windows]  # (n-A+1, A, m)
    slack = np.linalg.eigvalsh(G)[:, 0]
    drop = np.einsum("wac,wac->w", eW, np.linalg.pinv(G) @ eW)
    drop[slack < 1e-10] = -np.inf
    mask = np.zeros(n, dtype=bool)
    mask[windows[int(np.argmax(drop))]] = True
    return mask


def _confirmed_swap(B, Y, flagged, swap, gain):
    """The flagged set after the best swap that refitting confirms, or None.

    The rank-one formula of :func:`_swap_rss` is exact in exact arithmetic only:
    where the kept rows are nearly rank-deficient it can promise a fall (even a
    negative RSS) that refitting does not give, and accepting it raised the RSS.
    The few most promising swaps are refitted, in order; the first that divides
    the kept rows' refitted RSS by ``gain`` is made.
    """
    rss = _kept_rss(B, Y, flagged)
    out, keep = np.flatnonzero(flagged), np.flatnonzero(~flagged)
    for flat in np.argsort(swap, axis=None, kind="stable")[:_SWAP_TRIES]:
        i, j = np.unravel_index(flat, swap.shape)
        if not swap[i, j] * gain < rss:
            return None
        trial = flagged.copy()
        trial[out[i]], trial[keep[j]] = False, True
        if _kept_rss(B, Y, trial) * gain < rss:
            return trial
    return None


#: Swaps of :func:`_trimmed_squares_search` checked by refitting, per step.
_SWAP_TRIES = 4


def _kept_rss(B, Y, flagged):
    """Residual sum of squares of the least-squares fit of the kept rows, by refitting."""
    keep = ~flagged
    coef = np.linalg.lstsq(B[keep], Y[keep], rcond=None)[0]
    return float(((Y[keep] - B[keep] @ coef) ** 2).sum())


def _swap_rss(B, Y, flagged):
    """RSS of the kept rows, and after swapping each flagged row i with each kept row j.

    With ``G = (B_S' B_S)^+`` on the kept rows S, residuals e, leverages h and
    ``g_ij = b_i G b_j'``, dropping j and adding i gives exactly (Sherman-Morrison)

        RSS_ij = RSS - |e_j|^2 / (1 - h_j)
                 + |e_i + g_ij e_j / (1 - h_j)|^2 / (1 + g_ii + g_ij^2 / (1 - h_j)),

    inf where dropping j would leave the fit undetermined (``h_j = 1``).
    """
    keep, out = np.flatnonzero(~flagged), np.flatnonzero(flagged)
    G = np.linalg.pinv(B[keep].T @ B[keep])
    coef = G @ (B[keep].T @ Y[keep])
    e_keep, e_out = Y[keep] - B[keep] @ coef, Y[out] - B[out] @ coef
    rss = float((e_keep**2).sum())
    slack = 1.0 - np.einsum("jr,rs,js->j", B[keep], G, B[keep])  # 1 - h_j
    usable = slack > 1e-10
    slack = np.where(usable, slack, 1.0)
    g = B[out] @ G @ B[keep].T  # (A, |S|)
    g_ii = np.einsum("ir,rs,is->i", B[out], G, B[out])
    added = e_out[:, None, :] + g[:, :, None] * (e_keep / slack[:, None])[None]
    swap = (
        rss
        - (e_keep**2).sum(axis=1) / slack
        + (added**2).sum(axis=2) / (1 + g_ii[:, None] + g**2 / slack)
    )
    swap[:, ~usable] = np.inf
    return rss, swap


def _irls_residuals(B, Y, huber=1.345, bisquare=4.685, iterations=25):
    """Rows' residuals u of a robust fit of Y in the span of B, and the columns' spread.

    Huber IRLS from least squares, then bisquare IRLS from the Huber fit, each
    until the weights settle (at most ``iterations`` steps) (see locate_span).
    """
    weights = np.ones(B.shape[0])
    floor = 1e-12 * (np.abs(Y).max(axis=0) + 1e-300)
    for redescending in (False, True):
        for _ in range(iterations):
            root = np.sqrt(weights)[:, None]
            coef = np.linalg.lstsq(root * B, root * Y, rcond=None)[0]
            residual = Y - B @ coef
            scale = np.maximum(np.median(np.abs(residual), axis=0) / 0.6745, floor)
            u = np.sqrt(((residual / scale) ** 2).mean(axis=1))
            if redescending:
                new = np.where(u < bisquare, (1 - (u / bisquare) ** 2) ** 2, 0.0)
            else:
                new = np.minimum(1.0, huber / np.maximum(u, 1e-300))
            settled = np.abs(new - weights).max() < 1e-6
            weights = new
            if settled:
                break
    return u, scale


def span_candidate_scores(basis, values, candidates):
    """Distance of each candidate row from the least-squares fit of the other rows.

    Externally studentized: in units of the other rows' standardized residuals
    (eq. S; per column the median absolute value / 0.6745, combined over columns
    by root mean square), and divided by ``sqrt(1 + b (B' B)^+ b')``, the growth
    of a prediction's error at a row b that the fit did not see. This is the
    score :func:`locate_span` compares with its threshold.

    Parameters
    ----------
    basis : array-like of shape (n, r)
    values : array-like of shape (n,) or (n, m)
    candidates : array-like of bool of shape (n,)

    Returns
    -------
    scores : ndarray of shape (n_candidates,)
    """
    B = np.asarray(basis, dtype=np.float64)
    Y = np.asarray(values, dtype=np.float64).reshape(B.shape[0], -1)
    candidates = np.asarray(candidates, dtype=bool)
    keep, rows = np.flatnonzero(~candidates), np.flatnonzero(candidates)
    standardized = span_residuals(B[keep], Y[keep], standardized=True)
    scale = np.median(np.abs(standardized), axis=0) / 0.6745
    floor = 1e-12 * (np.abs(Y).max(axis=0) + 1e-300)
    U, s, Vt = _column_space(B[keep])
    error = Y[rows] - B[rows] @ (Vt.T @ ((U.T @ Y[keep]) / s[:, None]))
    # externally studentized: a new row's prediction error has variance
    # sigma^2 (1 + b (B_keep' B_keep)^+ b'), sigma estimated from the kept rows
    inflation = np.sqrt(1.0 + (((B[rows] @ Vt.T) / s) ** 2).sum(axis=1))
    return np.sqrt(((error / np.maximum(scale, floor)) ** 2).mean(axis=1)) / inflation
