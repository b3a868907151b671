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
"""

import numpy as np

from ..operators import coding_operator, locate_span, span_locator_bound


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
