"""Byzantine-robust decoding: which locator each scheme uses, and its bound (method.md 7).

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

Certified decoding (method.md 8). ``r + 2A`` results are necessary, not
sufficient: a batch's decode is *certified* only when

(a) its survivor set can locate A liars: after removing any block of 2A
    results adjacent in coded point, the rest still determine the code
    (:func:`~sklearn_coded.operators.span_locatable`: the smallest
    ``1 - lambda_max(H_WW)`` over those blocks is at least ``LOCATABLE_MARGIN``,
    so the kept rows' conditioning is at most ``1 / sqrt(LOCATABLE_MARGIN)``
    times the full set's; the spline code at N <= 40, K = 16, A = 3 fails this
    although N - S >= K + 2A);
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
    coding_operator,
    locate_span,
    span_consistency_scores,
    span_locatable,
    span_locator_bound,
)


class UncertifiedDecodeError(ValueError):
    """A decoder with ``n_adversaries > 0`` could not certify a batch's decode.

    Raised instead of returning a decode that may be wrong (method.md 8): the
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
    """Locate the liars of one batch and certify the decode (method.md 8).

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
    locatable, slack = span_locatable(B[order], A)
    bad = locate_span(B, Y, A)
    kept = ~bad
    scores = span_consistency_scores(B[kept], Y[kept])
    name = type(decoder).__name__
    numbers = dict(n_results=survivors.size, n_adversaries=A, locatable=locatable)
    if locatable < A:
        reason = (
            f"removing {2 * A} results adjacent in coded point leaves the code "
            f"undetermined (1 - lambda_max = {slack:.2g}): these {survivors.size} results "
            f"can locate at most {locatable} liars"
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


def _uncertified(name, reason, numbers):
    message = (
        f"{name} cannot certify this batch's decode with n_adversaries="
        f"{numbers['n_adversaries']} from {numbers['n_results']} results: {reason}. "
        "Refused rather than returned: add workers (n_coded), lower the stragglers, or "
        "declare the number of liars the survivors can locate."
    )
    return UncertifiedDecodeError(message, reason=reason, **numbers)
