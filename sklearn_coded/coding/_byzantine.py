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
    ``1 - lambda_max(H_WW)`` over those blocks is above ``RANK_MARGIN``, the
    spline code at N <= 40, K = 16, A = 3 fails this although
    N - S >= K + 2A), and either the slack is at least ``LOCATABLE_MARGIN`` or
    the largest lie it lets hide from (b), ``CONSISTENCY_THRESHOLD * sigma /
    sqrt(slack)`` with sigma the kept results' residual scale, is at most
    ``MAX_HIDDEN_LIE`` spreads (always so for an affine f, exact up to rounding);
(b) after the located rows are dropped, every kept result is consistent with
    the code: its studentized residual
    (:func:`~sklearn_coded.operators.span_consistency_scores`) is at most
    ``CONSISTENCY_THRESHOLD``. More liars than declared leave some of them among
    the kept rows, and (b) fails.

A decoder refuses an uncertified batch with :class:`UncertifiedDecodeError`
naming the numbers; the estimators apply their ``on_uncertified`` policy.
"""

import numpy as np

from ..operators import (
    CONSISTENCY_THRESHOLD,
    LOCATABLE_MARGIN,
    coding_operator,
    locate_span,
    span_consistency_scores,
    span_locatable,
    span_locator_bound,
    span_residuals,
)
from ..operators._robust import _irls_residuals, _kept_rss, _trimmed_squares_search

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

#: Largest lie, in spreads, that condition (a) lets hide along a block whose
#: ``1 - lambda_max`` is under ``LOCATABLE_MARGIN`` (:func:`_hidden_lie`).
MAX_HIDDEN_LIE = 1.0


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
    scores = np.maximum(
        span_consistency_scores(B[kept], Y[kept]),
        _irls_residuals(B[kept], Y[kept])[0] * (CONSISTENCY_THRESHOLD / ROBUST_THRESHOLD),
    )
    numbers = dict(n_results=survivors.size, n_adversaries=A, locatable=locatable)
    hidden = _hidden_lie(B[kept], Y[kept], slack) if slack < LOCATABLE_MARGIN else 0.0
    if hidden > MAX_HIDDEN_LIE:  # full rank, but too weak for the results' own noise
        numbers["locatable"] = span_locatable(B[order], A, margin=LOCATABLE_MARGIN)[0]
        reason = (
            f"removing {2 * A} results adjacent in coded point leaves the code "
            "too weakly determined "
            f"(1 - lambda_max = {slack:.2g} < {LOCATABLE_MARGIN:g}; a lie of {hidden:.3g} "
            f"spreads could hide): these {survivors.size} results can locate at most "
            f"{numbers['locatable']} liars"
        )
        return bad, _uncertified(name, reason, numbers)
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
    return bad, None


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


def _hidden_lie(B, Y, slack):
    """Largest lie (in spreads) along the weakest block that the consistency check may miss.

    A lie e on a block W shows in the syndrome through ``(I - H) e``, of norm at
    least ``sqrt(slack) |e|`` (docs/method.rst (8.1)); it passes the check while that
    is under ``CONSISTENCY_THRESHOLD`` residual scales sigma, so lies up to
    ``CONSISTENCY_THRESHOLD * sigma / sqrt(slack)`` may hide. sigma is the kept
    rows' robust residual scale and the spread their standard deviation, per
    column, combined by root mean square: for an affine f sigma is rounding and
    nothing hides.
    """
    standardized = span_residuals(B, Y, standardized=True)
    sigma = np.median(np.abs(standardized), axis=0) / 0.6745
    floor = 1e-12 * (np.abs(Y).max(axis=0) + 1e-300)  # rounding: exact results hide nothing
    sigma = np.where(sigma <= floor, 0.0, sigma)
    ratio = float(np.sqrt(np.mean((sigma / np.maximum(Y.std(axis=0), floor)) ** 2)))
    return CONSISTENCY_THRESHOLD * ratio / np.sqrt(max(slack, 1e-300))


def _uncertified(name, reason, numbers):
    message = (
        f"{name} cannot certify this batch's decode with n_adversaries="
        f"{numbers['n_adversaries']} from {numbers['n_results']} results: {reason}. "
        "Refused rather than returned: add workers (n_coded), lower the stragglers, or "
        "declare the number of liars the survivors can locate."
    )
    return UncertifiedDecodeError(message, reason=reason, **numbers)
