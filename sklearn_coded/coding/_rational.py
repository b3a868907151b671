"""The baselines: Berrut (BACC) and real-field Lagrange (LCC) coders (docs/method.rst 4)."""

from ..operators import PRIVATE_GAPS
from ._base import BaseDecoder, BaseEncoder
from ._registry import Scheme, register_scheme


class BerrutEncoder(BaseEncoder):
    """Encode with Berrut's rational interpolant (BACC): ``X_coded = B(alpha -> beta) X``.

    Read more in the :ref:`User Guide <bacc>`.

    Parameters
    ----------
    n_coded : int
        N >= 2, the number of coded rows (workers); ``transform`` needs N >= K,
        the rows of its batch.
    points : str or (data, coded) pair, default="chebyshev"
        Point layout. ``"bacc"`` is the placement of the public BACC code:
        alpha_j = cos((2j + 1) pi / 2K) and beta_n = cos(n pi / N).
    n_private : int, default=0
        T: pad each batch with random rows at noise points, drawn from the
        operating system's secret source afresh at every ``transform``, so that
        T colluding workers learn at most ``max_leakage`` of any row
        (:func:`~sklearn_coded.operators.private_layout`; :ref:`security`).
    noise_scale : "auto" or float, default="auto"
        Standard deviation of the padding entries, in the units of ``X``:
        ``"auto"`` chooses the smallest that meets ``max_leakage``; a number is
        refused at ``fit`` if it does not.
    max_leakage : float, default=0.25
        The target in (0, 1]: the largest R^2 any T colluders' best linear
        predictor may reach on any linear feature of a row (the bound is
        ``leakage_``). 1 accepts any leakage.
    covariance : None, float or array of shape (n_features, n_features), default=None
        The data's column covariance (or its largest eigenvalue) the bound is
        computed for; None estimates it from the rows given to ``fit``.
    leakage_budget : "auto", float or None, default="auto"
        Largest R^2 bound a row may reach over all ``transform`` calls (views
        with fresh noise add up): a call past it raises
        :class:`~sklearn_coded.operators.LeakageBudgetError`. "auto": three
        views at ``max_leakage`` (0.5 at 0.25; no limit at 1). None: no account.
    random_state : int, RandomState instance or None, default=None
        Unused: no public seed draws the padding. Kept so existing code runs.

    Attributes
    ----------
    data_points_ : ndarray of shape (K,)
    coded_points_ : ndarray of shape (n_coded,)
    n_features_in_ : int
    noise_scale_ : float
        The noise scale for batches of the ``fit`` size (``n_private > 0``).
    leakage_ : ndarray of shape (K,)
        The guaranteed R^2 bound of each row of one coded batch against any T
        colluders (``n_private > 0``).
    signal_variance_ : float
        The largest variance of a combination of a row's columns the bound
        assumes (``n_private > 0``).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_coded import BerrutEncoder
    >>> X = np.eye(3)
    >>> BerrutEncoder(n_coded=5, points="bacc").fit_transform(X).sum(axis=1)
    array([1., 1., 1., 1., 1.])
    """

    scheme = "berrut"

    # Declared here (not only in BaseEncoder) so that a misspelled argument's
    # TypeError names this class.


class BerrutDecoder(BaseDecoder):
    """Decode with Berrut's rational interpolant through the survivors (BACC).

    Read more in the :ref:`User Guide <bacc>`.

    Signs alternate by rank among the workers that returned; a data point equal
    to a coded point takes that worker's result. At least 2 workers must return.

    Parameters
    ----------
    n_samples : int
        K >= 2, the number of decoded rows; ``transform`` needs K <= N, the
        workers it was fitted to.
    points : str or (data, coded) pair, default="chebyshev"
        Point layout; must match the encoder's.
    n_adversaries : int, default=0
        A corrupted results per call to locate (code-span locator,
        :func:`~sklearn_coded.operators.locate_span`), record in ``flagged_``
        and leave out; needs K + P + 2A finite results (P noise rows of
        ``n_private``). See :ref:`security`.
    n_private : int, default=0
        The encoder's ``n_private`` (the data points of the private layout).

    Attributes
    ----------
    data_points_ : ndarray of shape (n_samples,)
    noise_points_ : ndarray of shape (P,)
        The encoder's noise points (empty when ``n_private=0``).
    coded_points_ : ndarray of shape (N,)
    n_features_in_ : int
    flagged_ : ndarray of bool of shape (N,)
        Rows located as corrupted by the last ``transform``; set only when
        ``n_adversaries > 0``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_coded import BerrutDecoder, BerrutEncoder
    >>> X = np.ones((4, 2))
    >>> coded = BerrutEncoder(n_coded=8).fit_transform(X)
    >>> BerrutDecoder(n_samples=4).fit(coded).transform(coded[:, :1].repeat(2, 1))
    array([[1., 1.],
           [1., 1.],
           [1., 1.],
           [1., 1.]])
    """

    scheme = "berrut"

    # Declared here (not only in BaseDecoder) so that a misspelled argument's
    # TypeError names this class.


class LagrangeEncoder(BaseEncoder):
    """Encode with the polynomial through the K rows (real-field LCC).

    Read more in the :ref:`User Guide <lcc>`.

    Exact for polynomial computations of bounded degree but ill-conditioned:
    the baseline the approximate codes are measured against.

    Parameters
    ----------
    n_coded : int
        N >= 2, the number of coded rows (workers); ``transform`` needs N >= K,
        the rows of its batch.
    points : str or (data, coded) pair, default="chebyshev"
        Point layout.
    n_private : int, default=0
        T: pad each batch with random rows at noise points, drawn from the
        operating system's secret source afresh at every ``transform``, so that
        T colluding workers learn at most ``max_leakage`` of any row
        (:func:`~sklearn_coded.operators.private_layout`; :ref:`security`).
    noise_scale : "auto" or float, default="auto"
        Standard deviation of the padding entries, in the units of ``X``:
        ``"auto"`` chooses the smallest that meets ``max_leakage``; a number is
        refused at ``fit`` if it does not.
    max_leakage : float, default=0.25
        The target in (0, 1]: the largest R^2 any T colluders' best linear
        predictor may reach on any linear feature of a row (the bound is
        ``leakage_``). 1 accepts any leakage.
    covariance : None, float or array of shape (n_features, n_features), default=None
        The data's column covariance (or its largest eigenvalue) the bound is
        computed for; None estimates it from the rows given to ``fit``.
    leakage_budget : "auto", float or None, default="auto"
        Largest R^2 bound a row may reach over all ``transform`` calls (views
        with fresh noise add up): a call past it raises
        :class:`~sklearn_coded.operators.LeakageBudgetError`. "auto": three
        views at ``max_leakage`` (0.5 at 0.25; no limit at 1). None: no account.
    random_state : int, RandomState instance or None, default=None
        Unused: no public seed draws the padding. Kept so existing code runs.

    Attributes
    ----------
    data_points_ : ndarray of shape (K,)
    coded_points_ : ndarray of shape (n_coded,)
    n_features_in_ : int
    noise_scale_ : float
        The noise scale for batches of the ``fit`` size (``n_private > 0``).
    leakage_ : ndarray of shape (K,)
        The guaranteed R^2 bound of each row of one coded batch against any T
        colluders (``n_private > 0``).
    signal_variance_ : float
        The largest variance of a combination of a row's columns the bound
        assumes (``n_private > 0``).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_coded import LagrangeEncoder
    >>> X = np.array([[0.0], [1.0], [4.0]])
    >>> LagrangeEncoder(n_coded=3, points="chebyshev2").fit_transform(X).ravel()
    array([0., 1., 4.])
    """

    scheme = "lagrange"

    # Declared here (not only in BaseEncoder) so that a misspelled argument's
    # TypeError names this class.


class LagrangeDecoder(BaseDecoder):
    """Decode with the polynomial through all survivors (real-field LCC).

    Read more in the :ref:`User Guide <lcc>`.

    Needs at least K = ``n_samples`` survivors; with exactly K it inverts the
    encoder, and a computation f of degree d needs d (K - 1) + 1 survivors.

    Parameters
    ----------
    n_samples : int
        K >= 2, the number of decoded rows; ``transform`` needs K <= N, the
        workers it was fitted to.
    points : str or (data, coded) pair, default="chebyshev"
        Point layout; must match the encoder's.
    n_adversaries : int, default=0
        A corrupted results per call to locate (code-span locator,
        :func:`~sklearn_coded.operators.locate_span`), record in ``flagged_``
        and leave out; needs K + P + 2A finite results (P noise rows of
        ``n_private``). See :ref:`security`.
    n_private : int, default=0
        The encoder's ``n_private`` (the data points of the private layout).

    Attributes
    ----------
    data_points_ : ndarray of shape (n_samples,)
    noise_points_ : ndarray of shape (P,)
        The encoder's noise points (empty when ``n_private=0``).
    coded_points_ : ndarray of shape (N,)
    n_features_in_ : int
    flagged_ : ndarray of bool of shape (N,)
        Rows located as corrupted by the last ``transform``; set only when
        ``n_adversaries > 0``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_coded import LagrangeDecoder, LagrangeEncoder
    >>> X = np.array([[1.0], [2.0], [3.0]])
    >>> coded = LagrangeEncoder(n_coded=5).fit_transform(X)
    >>> coded[0] = np.nan
    >>> LagrangeDecoder(n_samples=3).fit(coded).transform(coded).round(12).ravel()
    array([1., 2., 3.])
    """

    scheme = "lagrange"

    # Declared here (not only in BaseDecoder) so that a misspelled argument's
    # TypeError names this class.
    def _needed_survivors(self):
        return self.n_samples


# points="auto": uniform for Berrut (the smallest decoded errors in
# benchmarks/bench_accuracy.py), Chebyshev for Lagrange (unstable on uniform points)
register_scheme(
    Scheme(
        "berrut",
        BerrutEncoder,
        BerrutDecoder,
        auto_points="systematic",  # bench_frontier.py: exact at S = 0
        fallback_points="uniform",
        private_gap=PRIVATE_GAPS["berrut"],
    )
)
register_scheme(
    Scheme(
        "lagrange",
        LagrangeEncoder,
        LagrangeDecoder,
        auto_points="chebyshev",
        needs_all_nodes=True,  # K results determine the polynomial: N >= K at fit too
        private_gap=PRIVATE_GAPS["lagrange"],
    )
)
