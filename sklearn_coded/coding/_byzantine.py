"""Byzantine-robust decoding: which locator each scheme uses, and its bound (docs/method.rst (7.1)).

A decoder with ``n_adversaries = A`` locates up to A corrupted rows among the
results that arrived and decodes from the rest. The locators are in
:mod:`sklearn_coded.operators._robust`; every scheme uses the code-span locator
(:func:`~sklearn_coded.operators.locate_span`): the results of an affine f lie in
the span of the encoder's operator from its r nodes (K data points, and P noise
points with ``n_private > 0``) to the survivors' coded points, and a result off
that span is a liar. It needs ``n_returned >= r + 2A`` results (``n_returned`` is
N - S with S stragglers), the bound of a Reed-Solomon code of dimension r.

It was chosen in ``benchmarks/bench_adversarial.py`` over the leave-one-out
spline locator (:func:`~sklearn_coded.operators.locate_loo`) and, for Berrut and
Lagrange, ApproxIFER's rational locator
(:func:`~sklearn_coded.operators.locate_rational`, N >= 2K + 2A + S - 1): it
locates as well on plain codes and it is the only one of the three that still
locates liars when the code is padded with noise rows.

Certified decoding (docs/method.rst 8, (8.1)-(8.2)). ``r + 2A`` results are necessary, not
sufficient: a batch's decode is *certified* only when

(a) its survivor set can locate A liars: after removing any block of 2A
    results adjacent in coded point, the rest still determine the code
    (:func:`~sklearn_coded.operators.span_locatable`: the smallest slack
    ``1 - lambda_max(H_WW)`` over those blocks is above ``RANK_MARGIN``; the
    spline code at N <= 40, K = 16, A = 3 fails this although
    N - S >= K + 2A);
(b) after the located rows are dropped, every kept result is consistent with
    the code: its studentized residual
    (:func:`~sklearn_coded.operators.span_consistency_scores`) is at most
    ``CONSISTENCY_THRESHOLD``, and trimming A more of them does not collapse
    their residual sum of squares (``EXCESS_RATIO``);
(c) the decode does not lean on any 2A kept results (docs/method.rst (8.3)):
    dropping any block of 2A kept results adjacent in coded point, or the 2A of
    largest robust residual, moves the decoder's own decode by at most
    ``STABILITY_THRESHOLD`` spreads. Liars beyond those located (up to 2A in
    all, in such a block) are then either visible or harmless: the decode
    without them is within that distance. This replaces a fixed margin on the
    slack of (a): the padded codes, whose noise nodes make the slack small,
    are certified when their decode is still determined.

A decoder refuses an uncertified batch with :class:`UncertifiedDecodeError`
naming the numbers; the estimators apply their ``on_uncertified`` policy.
"""

import numpy as np

from ..operators import (
    CONSISTENCY_THRESHOLD,
    coding_operator,
    locate_span,
    span_consistency_scores,
    span_locatable,
    span_locator_bound,
    span_residuals,
)
from ..operators._robust import _column_space, _irls_residuals, _kept_rss, _trimmed_squares_search

#: ``1 - lambda_max`` below which the kept rows are rank-deficient to working
#: precision: no A-liar location is unique, whatever the noise.
RANK_MARGIN = 1e-10

#: Least ratio of the kept results' residual sum of squares after trimming A more
#: of them to before (:func:`_excess_trim`) for a certified decode: below it,
#: liars beyond the declared A are among the kept results (docs/method.rst (8.2)).
#: With a network's clean results trimming A more rows removes only A of their
#: residuals (a ratio near 1 - A / (n - r)); in ``benchmarks/bench_adversarial.py
#: --certified`` no clean batch of the plain codes was refused by 0.05.
EXCESS_RATIO = 0.05

#: Threshold of the robust half of check (b): a kept row's residual against a
#: robust (bisquare) fit of the kept rows, in robust spreads, not studentized, so
#: the extrapolated end rows of a clean network's results reach 28
#: (tests/estimators/test_coded_security.py); liars left among the kept rows
#: stand out by far more (an affine f: by their whole lie).
ROBUST_THRESHOLD = 40.0

#: Largest move of the decode, in spreads of the kept results, that check (c)
#: accepts when more kept results are dropped (:func:`_decode_shift`).
STABILITY_THRESHOLD = 2.0


class UncertifiedDecodeError(ValueError):
    """A decoder with ``n_adversaries > 0`` could not certify a batch's decode.

    Raised instead of returning a decode that may be wrong (docs/method.rst 8): the
    survivor set cannot locate the declared liars, or the kept results are not
    consistent with the code (more liars than declared, or an f far from smooth
    along the code).

    Attributes
    ----------
    n_results : int
        Finite results the batch had.
    n_adversaries : int
        A, the declared number of liars.
    locatable : int
        Most liars this survivor set can locate (condition (a)).
    reason : str
        What failed.
    """

    def __init__(self, message, *, n_results, n_adversaries, locatable, reason):
        super().__init__(message)
        self.n_results = n_results
        self.n_adversaries = n_adversaries
        self.locatable = locatable
        self.reason = reason


class CertificationWarning(UserWarning):
    """``n_adversaries`` is above what the layout certifies once the stragglers are missing.

    Raised as a warning at ``fit`` by the coded estimators
    (:func:`certified_adversaries`): some survivor sets of the declared stragglers
    cannot locate the declared liars, so the batches that meet them are refused
    (never decoded silently). The message names A, the bound and the smallest
    ``n_coded`` (or the most ``stragglers``) that would certify A.
    """


def certified_adversaries(
    decoder, n_stragglers=0, *, n_random=64, random_state=0, max_adversaries=None
):
    """Most liars every survivor set locates with S results missing (docs/method.rst (8.4)).

    Condition (a) of a certified decode depends on the code and the survivor set
    only, not on the results: after removing any 2A survivors adjacent in coded
    point, the rest must still determine the code (:func:`span_locatable` at
    ``RANK_MARGIN``). This returns the largest A for which (a) holds on every
    survivor set tried with ``n_stragglers`` results missing: no straggler at
    all when S = 0; else every block of S workers adjacent in coded point (with
    the 2A-blocks next to it, the widest gaps: the worst case of a local code),
    S workers spread evenly, and ``n_random`` random sets of S. A batch whose
    survivor set is one of these and that has A or fewer declared liars is never
    refused by (a); the decoders check every batch anyway (``certified_``).

    Parameters
    ----------
    decoder : BaseDecoder
        A fitted spline, Berrut or Lagrange decoder (its layout: points, K, P).
    n_stragglers : int, default=0
        S, the results each batch may miss.
    n_random : int, default=64
        Random straggler sets tried beside the structured ones.
    random_state : int, default=0
        Seeds the random sets.
    max_adversaries : int, optional
        Search no higher (the cost grows with the bound: each pattern checks
        blocks of 2A rows); None: up to the Reed-Solomon bound.

    Returns
    -------
    bound : int
        Between 0 and the Reed-Solomon bound ``(N - S - K - P) // 2`` (and
        ``max_adversaries``).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_coded import SplineDecoder
    >>> from sklearn_coded.coding import certified_adversaries
    >>> decoder = SplineDecoder(16, points="interior").fit(np.zeros((48, 1)))
    >>> certified_adversaries(decoder, 0), certified_adversaries(decoder, 4)
    (3, 1)
    """
    N, r, S = decoder.coded_points_.size, n_nodes(decoder), int(n_stragglers)
    if not 0 <= S <= N:
        raise ValueError(f"n_stragglers must be in [0, N={N}]; got n_stragglers={n_stragglers!r}.")
    order = np.argsort(decoder.coded_points_, kind="stable")  # workers in coded order
    B = code_basis(decoder, order)
    bound = max((N - S - r) // 2, 0)
    if max_adversaries is not None:
        bound = min(bound, int(max_adversaries))
    for missing in _straggler_patterns(N, S, n_random, random_state):
        if bound == 0:
            break
        U = _column_space(np.delete(B, missing, axis=0))[0]
        if U.shape[1] < r:
            return 0
        if _window_slack(U, bound) >= RANK_MARGIN:
            continue
        low, high = 0, bound  # slack falls as the blocks widen: bisect the largest A
        while high - low > 1:
            mid = (low + high) // 2
            low, high = (mid, high) if _window_slack(U, mid) >= RANK_MARGIN else (low, mid)
        bound = low
    return bound


def _window_slack(U, a):
    """``min_W 1 - lambda_max(H_WW)`` over blocks W of 2a consecutive rows (span_locatable)."""
    m = 2 * a
    if U.shape[0] < U.shape[1] + m:
        return 0.0
    windows = np.lib.stride_tricks.sliding_window_view(U, m, axis=0)
    return max(float(1.0 - (np.linalg.svd(windows, compute_uv=False)[:, 0] ** 2).max()), 0.0)


def _straggler_patterns(N, S, n_random, random_state):
    """Positions (in coded order) of S missing results: adjacent, even, random."""
    if S == 0:
        yield np.zeros(0, dtype=int)
        return
    for start in range(N - S + 1):
        yield np.arange(start, start + S)
    yield np.unique(np.round(np.linspace(0, N - 1, S)).astype(int))
    rng = np.random.default_rng(random_state)
    for _ in range(n_random):
        yield rng.choice(N, S, replace=False)


def adversary_bound(n_nodes, n_adversaries):
    """Fewest finite results a decoder needs to tolerate A adversaries: ``r + 2A``.

    Parameters
    ----------
    n_nodes : int
        r: the K data points plus the P noise points of a private code.
    n_adversaries : int
        A.

    Returns
    -------
    needed : int
    formula : str
        The bound as a formula, for error messages.

    Examples
    --------
    >>> from sklearn_coded.coding import adversary_bound
    >>> adversary_bound(16, 3)
    (22, 'K + P + 2A')
    """
    return span_locator_bound(n_nodes, n_adversaries), "K + P + 2A"


def n_nodes(decoder):
    """r = K + P, the nodes the fitted decoder's encoder interpolates."""
    return decoder.data_points_.size + decoder.noise_points_.size


def check_adversary_bound(decoder, n_returned):
    """Raise ValueError, naming the bound, if too few results arrived for the locator."""
    r = n_nodes(decoder)
    needed, formula = adversary_bound(r, decoder.n_adversaries)
    if n_returned < needed:
        raise ValueError(
            f"{type(decoder).__name__} with n_adversaries={decoder.n_adversaries}, "
            f"n_samples={decoder.n_samples} and n_private={decoder.n_private} "
            f"(r = K + P = {r} nodes) needs at least {formula} = {needed} finite results "
            f"(N - S >= {formula}); only {n_returned} arrived."
        )


def code_basis(decoder, survivors):
    """``M(nodes -> beta_F)``: the encoder's operator from its nodes to the survivors.

    The nodes are the data and noise points, sorted; a smoothing-spline encoder's
    rows lie in the span of the interpolating one's (both natural splines with
    knots at the nodes), so the interpolating operator serves every lam. Its rows
    at the survivors are rows of the operator to all N coded points, which is
    built once and cached.
    """
    nodes = np.sort(np.concatenate([decoder.data_points_, decoder.noise_points_]))
    M = coding_operator(decoder.scheme, nodes, decoder.coded_points_, **decoder._operator_params())[
        0
    ]
    return M[survivors]


def locate_adversaries(decoder, survivors, Y_survivors):
    """Boolean mask over ``survivors`` of the rows located as corrupted."""
    return locate_span(code_basis(decoder, survivors), Y_survivors, decoder.n_adversaries)


def certified_locate(decoder, survivors, Y_survivors):
    """Locate the liars of one batch and certify the decode (docs/method.rst 8).

    Parameters
    ----------
    decoder : BaseDecoder
        Fitted, with ``n_adversaries = A > 0``.
    survivors : ndarray of int
        Sorted indices of the finite results, at least ``r + 2A``.
    Y_survivors : ndarray of shape (len(survivors), n_outputs)

    Returns
    -------
    bad : ndarray of bool of shape (len(survivors),)
        The rows located as corrupted.
    error : UncertifiedDecodeError or None
        None when the decode is certified, else the error to raise.
    """
    A = decoder.n_adversaries
    Y = np.asarray(Y_survivors, dtype=np.float64)
    order = np.argsort(decoder.coded_points_[survivors], kind="stable")
    B = code_basis(decoder, survivors)
    locatable, slack = span_locatable(B[order], A, margin=RANK_MARGIN)
    name = type(decoder).__name__
    if locatable < A:  # (a) fails whatever the results: refuse before locating
        reason = (
            f"removing {2 * A} results adjacent in coded point leaves the code undetermined "
            f"(1 - lambda_max = {slack:.2g}): these {survivors.size} results can locate at "
            f"most {locatable} liars"
        )
        numbers = dict(n_results=survivors.size, n_adversaries=A, locatable=locatable)
        return np.zeros(survivors.size, dtype=bool), _uncertified(name, reason, numbers)
    bad = locate_span(B, Y, A)
    kept = ~bad
    # (b) on the least-squares fit of the kept rows (studentized) and on a robust
    # fit of them: liars left among the kept rows pull the least-squares fit and
    # inflate its residual scale, but not the robust one's
    robust = _irls_residuals(B[kept], Y[kept])[0]
    scores = np.maximum(
        span_consistency_scores(B[kept], Y[kept]),
        robust * (CONSISTENCY_THRESHOLD / ROBUST_THRESHOLD),
    )
    numbers = dict(n_results=survivors.size, n_adversaries=A, locatable=locatable)
    excess = _excess_trim(B[kept], Y[kept], A)
    if excess < EXCESS_RATIO:
        reason = (
            f"after dropping the {int(bad.sum())} located results, dropping {A} more lowers "
            f"the kept results' residual sum of squares to {excess:.2g} of itself (< "
            f"{EXCESS_RATIO:g}): more liars than n_adversaries={A}"
        )
        return bad, _uncertified(name, reason, numbers)
    if scores.max() > CONSISTENCY_THRESHOLD:
        worst = survivors[np.flatnonzero(kept)[np.argmax(scores)]]
        reason = (
            f"after dropping the {int(bad.sum())} located results, the result of worker "
            f"{worst} is inconsistent with the code (studentized residual "
            f"{scores.max():.3g} > {CONSISTENCY_THRESHOLD:g}): more liars than "
            f"n_adversaries={A}, or f is far from smooth along the code"
        )
        return bad, _uncertified(name, reason, numbers)
    shift, worst = _decode_shift(decoder, survivors[kept], Y[kept], 2 * A, B[kept], robust)
    if shift > STABILITY_THRESHOLD:  # (c): some rows the decode leans on may be lies
        reason = (
            f"after dropping the {int(bad.sum())} located results, dropping the results of "
            f"workers {worst.tolist()} moves the decode by {shift:.3g} spreads (> "
            f"{STABILITY_THRESHOLD:g}): more liars than n_adversaries={A}, or too few "
            f"results to determine the decode against {2 * A} liars"
        )
        return bad, _uncertified(name, reason, numbers)
    return bad, None


def _decode_shift(decoder, kept, Y, m, B, robust):
    """Largest move of the decode when 2A more kept results are dropped (docs/method.rst (8.3)).

    The decoder's own decode from the kept results Y (workers ``kept``),
    ``D_K Y_K``, is compared with its decode without a block W of m kept
    results: every block of m results adjacent in coded point and the m of
    largest robust residual (:func:`_screened_blocks`, which also finds the
    blocks whose removal leaves the code undetermined). If every liar left
    among the kept results lies in one such W, the decode without W is a
    decode of honest results only, so a move of at most
    ``STABILITY_THRESHOLD`` bounds the decode's distance from one that uses
    no liar. The move is the root mean square over the decoded entries, each
    column in units of the kept results' spread (the smaller of their standard
    deviation and 1.4826 times their median absolute deviation). A block whose
    removal leaves the code undetermined moves it without bound: a lie there
    would not show in the other results at all.

    ``B`` is the code's basis at ``kept`` and ``robust`` their residuals
    against a robust fit (``_irls_residuals``), both computed by the caller.

    Returns
    -------
    shift : float
    worst : ndarray of int
        The workers whose removal moves the decode most.
    """
    if kept.size - m < decoder.min_results():  # any m of them could hide anything
        return np.inf, kept
    mad = 1.4826 * np.median(np.abs(Y - np.median(Y, axis=0)), axis=0)
    spread = np.maximum(np.minimum(Y.std(axis=0), mad), 1e-9 * (np.abs(Y).max(axis=0) + 1e-300))
    blocks, screen = _screened_blocks(decoder, kept, Y / spread, m, B, robust)
    if not np.isfinite(screen).all():  # a lie on that block would not show at all
        return np.inf, np.sort(kept[blocks[int(np.argmax(~np.isfinite(screen)))]])
    base = decoder.decoding_matrix(kept, Y) @ Y
    shift, worst = 0.0, kept[:0]
    for block in blocks[np.argsort(-screen, kind="stable")[:_DECODED_BLOCKS]]:
        rest = np.delete(np.arange(kept.size), block)
        moved = decoder.decoding_matrix(kept[rest], Y[rest]) @ Y[rest] - base
        value = float(np.sqrt(np.mean((moved / spread) ** 2)))
        if value > shift:
            shift, worst = value, np.sort(kept[block])
    return shift, worst


#: Blocks of check (c) decoded by the decoder itself, the largest by the screen
#: of :func:`_screened_blocks` first; None: every block. Decoding only the 8 first
#: let one batch of 4 liars (declared 2) next to the stragglers through, 4.4 spreads
#: off, on the padded spline code (``bench_adversarial.py --certified``): the
#: least-squares screen is a poor guide where noise nodes make the fit unstable.
_DECODED_BLOCKS = None


def _screened_blocks(decoder, kept, Ys, m, B, robust):
    """Candidate blocks W of check (c) and the move of the least-squares decode without each.

    The blocks of m kept results adjacent in coded point and the m of largest
    robust residual. The screen is the move of the data nodes' coefficients of
    the least-squares fit in the code's span when W is dropped
    (Sherman-Morrison-Woodbury, e the residuals, ``B = U s V'``),

        x_K - x_{K \\ W} = V s^-1 U_W' (I - H_WW)^{-1} e_W,

    one m x m system per block, no refit; inf where ``I - H_WW`` is singular to
    working precision (dropping W leaves the code undetermined). The two end
    blocks get inf-free priority (the decoder extrapolates there).
    """
    U, sv, Vt = _column_space(B)
    e = Ys - U @ (U.T @ Ys)
    order = np.argsort(decoder.coded_points_[kept], kind="stable")
    windows = np.lib.stride_tricks.sliding_window_view(order, m)
    top = np.argsort(-robust, kind="stable")[:m]
    blocks = np.vstack([windows, top[None]])
    UW = U[blocks]  # (w, m, r)
    slack_matrix = np.eye(m) - UW @ UW.transpose(0, 2, 1)  # I - H_WW
    slack = np.linalg.eigvalsh(slack_matrix)[:, 0]
    nodes = np.sort(np.concatenate([decoder.data_points_, decoder.noise_points_]))
    lift = (Vt.T / sv)[np.isin(nodes, decoder.data_points_)]  # V s^-1 at the data nodes
    moved = (lift @ UW.transpose(0, 2, 1)) @ np.linalg.pinv(slack_matrix) @ e[blocks]
    screen = np.sqrt((moved**2).mean(axis=(1, 2)))
    screen[[0, len(windows) - 1]] = np.maximum(screen[[0, len(windows) - 1]], screen.max())
    screen[:-1][slack[:-1] < RANK_MARGIN] = np.inf  # adjacent: undetermined, condition (a)
    if slack[-1] < RANK_MARGIN or float((e**2).sum()) <= 1e-20 * float((Ys**2).sum()):
        # the residual block is a heuristic extra (meaningless for results
        # consistent to rounding): never refused for it, never decoded first
        screen[-1] = -1.0
    return blocks, screen


def _excess_trim(B, Y, A):
    """RSS of the kept rows after trimming A more of them, over their RSS (docs/method.rst (8.2)).

    With every liar located, the kept rows are clean and trimming A more of them
    removes only A of their residuals; with liars left among them, trimming
    those leaves a much smaller sum (for an affine f, rounding). The A rows are
    chosen by least trimmed squares from the A largest standardized residuals.
    """
    if B.shape[0] - A < np.linalg.matrix_rank(B) + 1:
        return 1.0
    spread = np.maximum(Y.std(axis=0), 1e-12 * (np.abs(Y).max(axis=0) + 1e-300))
    scaled = Y / spread
    rss = _kept_rss(B, scaled, np.zeros(B.shape[0], dtype=bool))
    if rss <= 1e-20 * float((scaled**2).sum()):  # consistent to rounding: nothing left
        return 1.0
    residual = span_residuals(B, scaled, standardized=True)
    start = np.zeros(B.shape[0], dtype=bool)
    start[np.argsort(-np.sqrt((residual**2).sum(axis=1)), kind="stable")[:A]] = True
    trimmed = _trimmed_squares_search(B, scaled, start)
    return _kept_rss(B, scaled, trimmed) / rss


def _uncertified(name, reason, numbers):
    message = (
        f"{name} cannot certify this batch's decode with n_adversaries="
        f"{numbers['n_adversaries']} from {numbers['n_results']} results: {reason}. "
        "Refused rather than returned: add workers (n_coded), lower the stragglers, or "
        "declare the number of liars the survivors can locate."
    )
    return UncertifiedDecodeError(message, reason=reason, **numbers)
