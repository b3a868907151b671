"""LeTCC: the smoothing-spline encoder and decoder (docs/method.rst section 3)."""

from numbers import Integral, Real

from .._sklearn_compat import Interval, StrOptions
from ..operators import PRIVATE_GAPS
from ._base import BaseDecoder, BaseEncoder
from ._registry import Scheme, register_scheme

_SMOOTHING = [Interval(Real, 0, None, closed="left"), StrOptions({"gcv"})]
_ORDER = [Interval(Integral, 1, None, closed="left")]


class SplineEncoder(BaseEncoder):
    """Encode a batch with a smoothing spline: ``X_coded = M(alpha -> beta, lam) X``.

    Read more in the :ref:`User Guide <letcc>`.

    The spline that fits the K rows of ``X`` at the data points alpha (the
    minimiser of ``(1/K) sum ||u(alpha_k) - x_k||^2 + lam int ||u''||^2`` on
    [-1, 1]) is evaluated at the N coded points beta. ``smoothing=0``
    interpolates (natural cubic spline, linear outside [alpha_1, alpha_K]).

    Parameters
    ----------
    n_coded : int
        N >= 2, the number of coded rows (workers); ``transform`` needs N >= K,
        the rows of its batch.
    smoothing : float or "gcv", default=0.0
        lam_enc >= 0 on the scale of docs/method.rst (SciPy's lam is K * lam), or
        ``"gcv"`` to choose one lam per batch, shared by every column, by
        generalised cross-validation.
    order : int, default=2
        m >= 1: the spline penalises the m-th derivative and interpolates with
        piecewise polynomials of degree 2m - 1 (2: natural cubic, linear outside
        the data points; 3: quintic). Order m reproduces polynomials of degree
        < m exactly; the batch needs K >= m rows.
    points : str or (data, coded) pair, default="chebyshev"
        ``"chebyshev"``, ``"chebyshev2"``, ``"uniform"``, ``"bacc"``, or a pair of
        family names or explicit increasing arrays in [-1, 1]; see
        :func:`sklearn_coded.operators.coding_points`.
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
        alpha for the batch size seen in ``fit``; ``transform`` takes any K >= 2.
    noise_scale_ : float
        The noise scale for batches of the ``fit`` size (``n_private > 0``).
    leakage_ : ndarray of shape (K,)
        The guaranteed R^2 bound of each row of one coded batch against any T
        colluders (``n_private > 0``).
    signal_variance_ : float
        The largest variance of a combination of a row's columns the bound
        assumes (``n_private > 0``).
    noise_points_ : ndarray of shape (P,)
        The noise points (empty when ``n_private=0``).
    coded_points_ : ndarray of shape (n_coded,)
        beta.
    n_features_in_ : int
        Number of columns.

    See Also
    --------
    SplineDecoder : Decodes the workers' results back to the K rows.
    BerrutEncoder : The BACC baseline.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_coded import SplineEncoder
    >>> X = np.arange(8.0).reshape(4, 2)
    >>> encoder = SplineEncoder(n_coded=6).fit(X)
    >>> encoder.transform(X).shape
    (6, 2)
    >>> encoder.coded_points_.round(3)
    array([-0.966, -0.707, -0.259,  0.259,  0.707,  0.966])
    """

    scheme = "spline"
    _parameter_constraints: dict = {
        **BaseEncoder._parameter_constraints,
        "smoothing": _SMOOTHING,
        "order": _ORDER,
    }

    def __init__(
        self,
        n_coded,
        *,
        smoothing=0.0,
        order=2,
        points="chebyshev",
        n_private=0,
        noise_scale="auto",
        max_leakage=0.25,
        covariance=None,
        leakage_budget="auto",
        random_state=None,
    ):
        super().__init__(
            n_coded,
            points=points,
            n_private=n_private,
            noise_scale=noise_scale,
            max_leakage=max_leakage,
            covariance=covariance,
            leakage_budget=leakage_budget,
            random_state=random_state,
        )
        self.smoothing = smoothing
        self.order = order

    def _smoothing(self):
        return self.smoothing

    def _operator_params(self):
        return {"order": self.order}

    def _plan_params(self):
        return {**super()._plan_params(), "lam_enc": self.smoothing, "order": self.order}


class SplineDecoder(BaseDecoder):
    """Decode worker results with a smoothing spline fitted at the survivors.

    Read more in the :ref:`User Guide <letcc>`.

    For the set F of workers that returned a finite row, the spline fitted to
    ``(beta_F, Y[F])`` is evaluated at the K data points:
    ``Y_decoded = M(beta_F -> alpha, lam) Y[F]``. The matrix depends on F and is
    cached by it. At least 2 workers must return.

    Parameters
    ----------
    n_samples : int
        K >= 2, the number of decoded rows; ``transform`` needs K <= N, the
        workers it was fitted to.
    smoothing : float or "gcv", default=0.0
        lam_dec >= 0 (docs/method.rst scale). Noiseless workers want it near 0; noisy
        ones larger. ``"gcv"`` chooses one lam per call from the survivors'
        results, shared by every output column.
    order : int, default=2
        m >= 1, the spline order; must match the encoder's. At least
        ``max(2, m)`` workers must return.
    points : str or (data, coded) pair, default="chebyshev"
        Point layout; must match the encoder's.
    n_adversaries : int, default=0
        A: up to A results per call may be arbitrary. They are located by
        the code-span locator (:func:`~sklearn_coded.operators.locate_span`),
        recorded in ``flagged_`` and left out. Needs at least K + P + 2A
        results (P noise rows of ``n_private``); see :ref:`security`.
    n_private : int, default=0
        The encoder's ``n_private`` (the data points of the private layout).

    Attributes
    ----------
    data_points_ : ndarray of shape (n_samples,)
        alpha.
    noise_points_ : ndarray of shape (P,)
        The encoder's noise points (empty when ``n_private=0``).
    coded_points_ : ndarray of shape (N,)
        beta, N being the number of rows seen in ``fit``.
    n_features_in_ : int
        Number of output columns.
    flagged_ : ndarray of bool of shape (N,)
        Rows located as corrupted by the last ``transform``; set only when
        ``n_adversaries > 0``.

    See Also
    --------
    SplineEncoder : The matching encoder.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_coded import SplineDecoder, SplineEncoder
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(4, 3))
    >>> coded = SplineEncoder(n_coded=40).fit_transform(X)
    >>> results = np.tanh(coded)  # each worker computes f = tanh on its row
    >>> results[3] = np.nan  # worker 3 straggles
    >>> decoded = SplineDecoder(n_samples=4).fit(results).transform(results)
    >>> bool(np.abs(decoded - np.tanh(X)).max() < 1e-3)  # approximate, not exact
    True
    """

    scheme = "spline"
    _parameter_constraints: dict = {
        **BaseDecoder._parameter_constraints,
        "smoothing": _SMOOTHING,
        "order": _ORDER,
    }

    def __init__(
        self,
        n_samples,
        *,
        smoothing=0.0,
        order=2,
        points="chebyshev",
        n_adversaries=0,
        n_private=0,
    ):
        super().__init__(n_samples, points=points, n_adversaries=n_adversaries, n_private=n_private)
        self.smoothing = smoothing
        self.order = order

    def _smoothing(self):
        return self.smoothing

    def _operator_params(self):
        return {"order": self.order}

    def _plan_params(self):
        return {**super()._plan_params(), "lam_dec": self.smoothing, "order": self.order}

    def _needed_survivors(self):
        return max(2, self.order)


register_scheme(
    Scheme(
        "spline",
        SplineEncoder,
        SplineDecoder,
        options=frozenset({"smoothing", "order"}),
        # measured in benchmarks/bench_frontier.py (docs/code_or_replicate.rst): the
        # systematic layout beat "interior" on tuning and held-out models
        auto_points="systematic",
        fallback_points="interior",  # bench_accuracy.py's choice among the others
        private_gap=PRIVATE_GAPS["spline"],
    )
)
