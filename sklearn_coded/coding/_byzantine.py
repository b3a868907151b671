"""Byzantine-robust decoding: which locator each scheme uses, and its bound (method.md 7).

A decoder with ``n_adversaries = A`` locates up to A corrupted rows among the
results that arrived and decodes from the rest. The locators are in
:mod:`sklearn_coded.operators._robust`; this module picks one per scheme and
states how many results it needs (``n_returned`` is N - S with S stragglers):

=========  ========================================  ==========================
scheme     locator                                   results needed
=========  ========================================  ==========================
spline     iterated standardized leave-one-out       A + 3
           residuals of the interpolating spline
berrut     rational error locator (ApproxIFER),      2K + 2A - 1
           type (K - 1, K - 1)                       (N >= 2K + 2A + S - 1)
lagrange   polynomial error locator (Berlekamp-      K + 2A
           Welch over the reals), degree K - 1
=========  ========================================  ==========================

The spline locator's bound is what it needs to run; whether it finds the
corrupted rows depends on their size against the spread of the clean residuals
(see :func:`~sklearn_coded.operators.locate_loo` and the user guide).
"""

from ..operators import locate_loo, locate_rational, rational_locator_bound


def adversary_bound(scheme, n_samples, n_adversaries):
    """Fewest finite results a decoder of ``scheme`` needs to tolerate A adversaries.

    Parameters
    ----------
    scheme : {"spline", "berrut", "lagrange"}
    n_samples : int
        K.
    n_adversaries : int
        A.

    Returns
    -------
    needed : int
    formula : str
        The bound as a formula in K and A, for error messages.

    Examples
    --------
    >>> from sklearn_coded.coding import adversary_bound
    >>> adversary_bound("berrut", 16, 3)
    (37, '2K + 2A - 1')
    """
    K, A = int(n_samples), int(n_adversaries)
    if scheme == "spline":
        return A + 3, "A + 3"
    if scheme == "berrut":
        return rational_locator_bound(K - 1, K - 1, A), "2K + 2A - 1"
    return rational_locator_bound(K - 1, 0, A), "K + 2A"


def check_adversary_bound(decoder, n_returned):
    """Raise ValueError, naming the bound, if too few results arrived for the locator."""
    needed, formula = adversary_bound(decoder.scheme, decoder.n_samples, decoder.n_adversaries)
    if n_returned < needed:
        raise ValueError(
            f"{type(decoder).__name__} with n_adversaries={decoder.n_adversaries} and "
            f"n_samples={decoder.n_samples} needs at least {formula} = {needed} finite "
            f"results (N - S >= {formula}); only {n_returned} arrived."
        )


def locate_adversaries(decoder, survivors, Y_survivors):
    """Boolean mask over ``survivors`` of the rows located as corrupted."""
    beta = decoder.coded_points_[survivors]
    A, K = decoder.n_adversaries, decoder.n_samples
    if decoder.scheme == "spline":
        lam = decoder._smoothing()
        return locate_loo(beta, Y_survivors, A, smoothing=0.0 if lam == "gcv" else lam)
    den_degree = K - 1 if decoder.scheme == "berrut" else 0
    return locate_rational(beta, Y_survivors, A, num_degree=K - 1, den_degree=den_degree)
