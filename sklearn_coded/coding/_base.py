"""Shared machinery of the encoder and decoder transformers (layer 2)."""

import weakref
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from .._public_init import own_init
from .._sklearn_compat import Interval, StrOptions, _fit_context, _get_output_config
from ..operators import POINT_FAMILIES, coding_operator, coding_points, flush_tiny
from ..operators._cache import ByteLRU
from ..operators._privacy import LeakageLedger, leakage_bound, resolve_budget
from ._byzantine import certified_locate, check_adversary_bound
from ._plan import CodingPlan
from ._private import PaddedEncoding, signal_variance

FLOAT_DTYPES = (np.float64, np.float32)


def apply_operator(M, Y):
    """``M @ Y`` in the dtype of ``Y`` (float32 stays float32).

    A float32 copy of ``M`` drops entries below float32's rounding unit of its
    largest one (:func:`~sklearn_coded.operators.flush_tiny`): they change no
    float32 result, and spare BLAS its slow path on subnormal numbers. The copy
    of a cached (read-only) operator is made once and kept while it lives, in a
    cache bounded in bytes.
    """
    if Y.dtype == np.float32:
        M = _float32_copy(M)
    return M @ Y


#: id of a read-only operator -> (weak reference to it, its float32 copy); 32 MiB at most
_float32_copies = ByteLRU(32 * 2**20)


def _float32_copy(M):
    entry = _float32_copies.get(id(M))
    if entry is not None and entry[0]() is M:
        return entry[1]
    copy = flush_tiny(M, np.finfo(np.float32).eps).astype(np.float32)
    if not M.flags.writeable:  # the operator caches' arrays: never changed in place
        key = id(M)
        _float32_copies[key] = (weakref.ref(M, lambda _: _float32_copies.pop(key, None)), copy)
    return copy


class _BaseCoder(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """Points, smoothing and tags shared by every encoder and decoder."""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        own_init(cls)  # an inherited __init__, named after the public class

    scheme = None  # "spline", "berrut" or "lagrange", set by the concrete classes

    _parameter_constraints: dict = {
        "points": [StrOptions(set(POINT_FAMILIES)), tuple, list],
    }

    def _smoothing(self):
        return 0.0

    def _operator_params(self):
        """Scheme-specific keyword arguments of :func:`coding_operator`."""
        return {}

    def _plan_params(self):
        """This coder's parameters as :class:`CodingPlan` fields (beyond scheme and points)."""
        return {}

    def plan(self, n_samples, n_coded):
        """The :class:`~sklearn_coded.coding.CodingPlan` of this coder's code.

        Parameters
        ----------
        n_samples : int
            K, the batch size.
        n_coded : int
            N, the coded rows.

        Returns
        -------
        plan : CodingPlan
            Its points, noise rows and floor are the ones ``fit`` uses.
        """
        return CodingPlan(
            self.scheme,
            batch_size=int(n_samples),
            n_coded=int(n_coded),
            points=self.points,
            **self._plan_params(),
        )

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags

    def _new_rows(self, out):
        """``out`` as a DataFrame with a fresh 0..n-1 index when pandas output is set.

        A coder's output rows are other rows than its input's (N coded rows from K,
        or back), so the input's index does not carry over: scikit-learn's wrapper
        would reuse it (a shape error); returning a DataFrame lets it only name
        the columns.
        """
        if _get_output_config("transform", self)["dense"] == "pandas":
            import pandas as pd

            return pd.DataFrame(out)
        return out


class BaseEncoder(PaddedEncoding, _BaseCoder):
    """Encoder: maps a batch of K rows (at data points alpha) to N coded rows (at beta).

    Parameters
    ----------
    n_coded : int
        N >= 2, the number of coded rows (workers); ``transform`` needs N >= K,
        the rows of its batch.
    points : str or (data, coded) pair, default="chebyshev"
        Point layout, see :func:`sklearn_coded.operators.coding_points`.
    n_private : int, default=0
        T >= 0 colluding workers to protect against: the batch is padded with
        random rows at noise points (:func:`~sklearn_coded.operators.private_layout`),
        drawn afresh at every ``transform`` from the operating system's secret
        source. 0 encodes the data alone.
    noise_scale : "auto" or float, default="auto"
        Standard deviation of the padding entries, in the units of ``X``.
        ``"auto"``: the smallest that holds every T colluders to ``max_leakage``
        (per batch size). A number is checked against ``max_leakage`` at ``fit``.
    max_leakage : float, default=0.25
        Target in (0, 1]: the largest R^2 that any T colluders' best linear
        predictor may reach on any linear feature of any row (eq. L of
        ``operators/_privacy.py``, for independent rows of the ``fit``
        covariance). 1 accepts any leakage.
    covariance : None, float or array of shape (n_features, n_features), default=None
        The data's column covariance, or its largest eigenvalue; None estimates
        it from the rows given to ``fit`` (with a safety margin).
    leakage_budget : "auto", float or None, default="auto"
        Largest R^2 bound a row may reach over *all* the ``transform`` calls of
        this fitted encoder (views with fresh noise add, eq. R); a call past it
        raises :class:`~sklearn_coded.operators.LeakageBudgetError` and codes
        nothing. Rows are recognised by a hash of their bytes. "auto": three
        views at ``max_leakage`` (0.5 at 0.25; no limit at 1). None: no account.
    random_state : int, RandomState instance or None, default=None
        Unused: the padding never comes from a public seed (anyone knowing it
        could subtract the noise). Kept so that existing code runs.
    """

    _parameter_constraints: dict = {
        **_BaseCoder._parameter_constraints,
        "n_coded": [Interval(Integral, 2, None, closed="left")],
        "n_private": [Interval(Integral, 0, None, closed="left")],
        "noise_scale": [Interval(Real, 0, None, closed="left"), StrOptions({"auto"})],
        "max_leakage": [Interval(Real, 0, 1, closed="right")],
        "covariance": [Interval(Real, 0, None, closed="left"), "array-like", None],
        "leakage_budget": [Interval(Real, 0, 1, closed="right"), StrOptions({"auto"}), None],
        "random_state": ["random_state"],
    }

    def _plan_params(self):
        return {
            "n_private": self.n_private,
            "noise_scale": self.noise_scale,
            "max_leakage": self.max_leakage,
        }

    def __init__(
        self,
        n_coded,
        *,
        points="chebyshev",
        n_private=0,
        noise_scale="auto",
        max_leakage=0.25,
        covariance=None,
        leakage_budget="auto",
        random_state=None,
    ):
        self.n_coded = n_coded
        self.points = points
        self.n_private = n_private
        self.noise_scale = noise_scale
        self.max_leakage = max_leakage
        self.covariance = covariance
        self.leakage_budget = leakage_budget
        self.random_state = random_state

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Record the columns and points for a batch of ``len(X)`` rows; calibrate the noise.

        Parameters
        ----------
        X : array-like of shape (K, n_features)
            A batch; K >= 2 and every value finite.
        y : None
            Ignored.

        Returns
        -------
        self : object

        Raises
        ------
        ValueError
            With ``n_private > 0``, if no noise scale (or not the given one)
            holds T colluders to ``max_leakage``.
        """
        X = validate_data(self, X, dtype=FLOAT_DTYPES, ensure_min_samples=2)
        if self.n_private and self._smoothing() == "gcv":
            raise ValueError(
                f"smoothing='gcv' chooses lam from the batch, which would depend on the "
                f"private rows; with n_private={self.n_private} set a number."
            )
        self.plan_ = self.plan(X.shape[0], self.n_coded)
        self.data_points_, self.noise_points_, self.coded_points_ = self.plan_.layout()
        self._scales = {}
        if self.n_private:
            self.signal_variance_ = signal_variance(self.covariance, X, X.shape[1])
            self.noise_scale_ = self.calibrated_noise_scale(X.shape[0])
            self.leakage_ = leakage_bound(self.leakage_information(X.shape[0]))
            budget = resolve_budget(self.leakage_budget, self.max_leakage)
            self._ledger = None if budget is None else LeakageLedger(budget)
        return self

    def transform(self, X):
        """Encode a batch of K >= 2 rows into ``n_coded`` rows.

        Parameters
        ----------
        X : array-like of shape (K, n_features)
            Any batch size K >= 2 (one cached operator per K), unless the data
            points were given explicitly, which fixes K.

        Returns
        -------
        X_coded : ndarray of shape (n_coded, n_features)
            Same dtype as ``X`` (float32 or float64); a DataFrame with the index
            0..n_coded-1 under ``set_output(transform="pandas")``.

        Raises
        ------
        ValueError
            If ``X`` has more rows than ``n_coded``: a code has at least as many
            coded rows as data rows, N >= K (the lower-level
            :meth:`encoding_matrix` builds N < K too).
        LeakageBudgetError
            If coding these rows would pass ``leakage_budget``.
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=FLOAT_DTYPES, ensure_min_samples=2)
        K = X.shape[0]
        if self.n_coded < K:
            raise ValueError(
                f"{type(self).__name__}(n_coded={self.n_coded}) got a batch of "
                f"{K} rows: a code needs at least as many coded rows as data "
                f"rows (N >= K); pass batches of at most {self.n_coded} rows or raise "
                "n_coded."
            )
        if self.n_private and self._ledger is not None:  # eq. (R), before anything is coded
            self._ledger.charge(X, self.leakage_information(K))
        X_coded = apply_operator(self.encoding_matrix(K, X), X)
        if self.n_private:  # eq. (P): + B Z with fresh secret padding rows Z
            B = self.noise_matrix(K)
            Z = self.draw_padding(B.shape[1], X.shape[1], X.dtype, n_samples=K)
            X_coded += apply_operator(B, Z)
        return self._new_rows(X_coded)

    def encoding_matrix(self, n_samples, X=None):
        """The (n_coded, n_samples) matrix E with ``X_coded = E @ X``.

        Parameters
        ----------
        n_samples : int
            K, the batch size.
        X : ndarray of shape (K, n_features), optional
            The batch; needed only when the smoothing is chosen by GCV.

        Returns
        -------
        E : ndarray of shape (n_coded, n_samples), float64, read-only
        """
        check_is_fitted(self)
        if self.n_private:
            return self._padded_operators(n_samples)[0]
        alpha, beta = coding_points(self.points, n_samples, self.n_coded)
        return coding_operator(
            self.scheme, alpha, beta, self._smoothing(), values=X, **self._operator_params()
        )[0]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # Secret padding: two transforms of the same rows differ (issue 16.1).
        tags.non_deterministic = bool(self.n_private)
        return tags


class BaseDecoder(_BaseCoder):
    """Decoder: maps the N worker results (at beta) back to K rows (at alpha).

    Parameters
    ----------
    n_samples : int
        K >= 2, the number of decoded rows; ``transform`` needs K <= N, the
        workers it was fitted to.
    points : str or (data, coded) pair, default="chebyshev"
        Point layout, see :func:`sklearn_coded.operators.coding_points`.
    n_adversaries : int, default=0
        A >= 0: up to A finite results per call may be arbitrary (Byzantine
        workers). ``transform`` locates them, records them in ``flagged_`` and
        decodes from the rest; 0 decodes every finite result linearly.
    n_private : int, default=0
        The encoder's ``n_private``: with T > 0 the data points are those of the
        private layout (:func:`~sklearn_coded.operators.private_layout`).
    """

    _parameter_constraints: dict = {
        **_BaseCoder._parameter_constraints,
        "n_samples": [Interval(Integral, 2, None, closed="left")],
        "n_adversaries": [Interval(Integral, 0, None, closed="left")],
        "n_private": [Interval(Integral, 0, None, closed="left")],
    }

    def _plan_params(self):
        return {"n_private": self.n_private, "n_adversaries": self.n_adversaries}

    def __init__(self, n_samples, *, points="chebyshev", n_adversaries=0, n_private=0):
        self.n_samples = n_samples
        self.points = points
        self.n_adversaries = n_adversaries
        self.n_private = n_private

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, Y, y=None):
        """Record the number of workers N = ``len(Y)`` and the columns.

        Parameters
        ----------
        Y : array-like of shape (N, n_outputs)
            Worker results; rows with NaN or inf mark workers that did not return.
        y : None
            Ignored.

        Returns
        -------
        self : object
        """
        Y = validate_data(
            self, Y, dtype=FLOAT_DTYPES, ensure_all_finite=False, ensure_min_samples=2
        )
        self.plan_ = self.plan(self.n_samples, Y.shape[0])
        self.data_points_, self.noise_points_, self.coded_points_ = self.plan_.layout()
        return self

    def transform(self, Y, returned=None):
        """Decode the K rows from the workers that returned a finite result.

        Parameters
        ----------
        Y : array-like of shape (N, n_outputs)
            One row per worker. A row with any NaN or inf is a straggler or a
            faulty worker and is left out of the decoding.
        returned : array-like of bool of shape (N,), optional
            True where the worker's result arrived; rows marked False are left
            out whatever they hold.

        Returns
        -------
        Y_decoded : ndarray of shape (n_samples, n_outputs)
            Same dtype as ``Y``; a DataFrame with the index 0..n_samples-1 under
            ``set_output(transform="pandas")``.

        Raises
        ------
        ValueError
            If ``n_samples`` exceeds the N fitted workers (a code decodes at most
            N >= K rows), if ``Y`` does not have N rows, or too few workers
            returned: fewer than :meth:`min_results` (K + P), or with
            ``n_adversaries > 0`` fewer than the locator's bound; the message
            names the numbers.
        UncertifiedDecodeError
            With ``n_adversaries > 0``, if the decode cannot be certified
            (docs/method.rst 8): the survivors cannot locate A liars, or a kept
            result is inconsistent with the code (more liars than declared).
            A ValueError; ``flagged_`` and ``certified_`` are set first.

        Notes
        -----
        With ``n_adversaries > 0`` this sets ``flagged_``, the boolean mask of
        the N rows located as corrupted in this call, and ``certified_`` (True
        when the decode is certified, see :mod:`~sklearn_coded.coding._byzantine`),
        and decodes without the flagged rows (the only attributes a ``transform``
        sets; with A = 0 it sets none).
        """
        check_is_fitted(self)
        Y = validate_data(self, Y, reset=False, dtype=FLOAT_DTYPES, ensure_all_finite=False)
        if self.n_samples > self.coded_points_.size:
            raise ValueError(
                f"{type(self).__name__}(n_samples={self.n_samples}) was fitted to "
                f"{self.coded_points_.size} worker results: a code decodes at most as many "
                "rows as it has coded rows (N >= K); set n_samples to the encoder's batch "
                "size."
            )
        survivors = self.survivors(Y, returned)
        if self.n_adversaries:  # the only state transform sets (none when A = 0)
            self.check_results(survivors.size)
            check_adversary_bound(self, survivors.size)
            bad, error = certified_locate(self, survivors, Y[survivors])
            self.flagged_ = np.zeros(Y.shape[0], dtype=bool)
            self.flagged_[survivors[bad]] = True
            self.certified_ = error is None
            if error is not None:
                raise error
            survivors = survivors[~bad]
        Y_survivors = Y[survivors]
        return self._new_rows(
            apply_operator(self.decoding_matrix(survivors, Y_survivors), Y_survivors)
        )

    def survivors(self, Y, returned=None):
        """Indices of the workers whose row arrived and is finite.

        Parameters
        ----------
        Y : ndarray of shape (N, n_outputs)
        returned : array-like of bool of shape (N,), optional

        Returns
        -------
        survivors : ndarray of int
        """
        n_coded = self.coded_points_.size
        if Y.shape[0] != n_coded:
            raise ValueError(
                f"Y has {Y.shape[0]} rows, but {type(self).__name__} was fitted for "
                f"N={n_coded} workers: pass one row per worker, NaN for those missing."
            )
        ok = np.isfinite(Y).all(axis=1)
        if returned is not None:
            returned = np.asarray(returned)
            if returned.dtype != bool or returned.shape != (n_coded,):
                raise ValueError(
                    f"returned must be a boolean mask of shape ({n_coded},); got dtype "
                    f"{returned.dtype} and shape {returned.shape}."
                )
            ok &= returned
        return np.flatnonzero(ok)

    def decoding_matrix(self, survivors, Y_survivors=None):
        """The (n_samples, len(survivors)) matrix D_F with ``Y_decoded = D_F @ Y[F]``.

        Parameters
        ----------
        survivors : array-like of int
            Sorted indices F of the workers that returned.
        Y_survivors : ndarray of shape (len(survivors), n_outputs), optional
            Their results; needed only when the smoothing is chosen by GCV.

        Returns
        -------
        D : ndarray of shape (n_samples, len(survivors)), float64, read-only
        """
        check_is_fitted(self)
        survivors = np.asarray(survivors, dtype=np.intp)
        self.check_results(survivors.size)
        return coding_operator(
            self.scheme,
            self.coded_points_[survivors],
            self.data_points_,
            self._smoothing(),
            values=Y_survivors,
            **self._operator_params(),
        )[0]

    def min_results(self):
        """Fewest results this decoder decodes from: r = K + P, the code's nodes.

        The encoder's coded rows are ``M X_nodes`` with M of rank r = K + P (K
        data points, P noise points when ``n_private > 0``); an affine f keeps
        the results in that r-dimensional span. From fewer than r results some
        nonzero change of the K data rows leaves every result unchanged, so no
        decoder can tell the outputs apart: below r a decode is a guess (the
        spline decoder on 2 of 32 results returned -34 to 45 for tanh outputs).
        Every scheme needs r (a spline of order m also needs m >= 2 points,
        which r >= 2 covers for K >= m).

        Returns
        -------
        needed : int

        Examples
        --------
        >>> import numpy as np
        >>> from sklearn_coded.coding import SplineDecoder
        >>> SplineDecoder(16).fit(np.zeros((32, 1))).min_results()
        16
        """
        check_is_fitted(self)
        r = self.plan_.batch_size + self.plan_.n_noise  # the plan's K + P
        return max(r, self._needed_survivors())

    def check_results(self, n_results):
        """Raise ValueError, naming K, the count and the minimum, below :meth:`min_results`.

        Parameters
        ----------
        n_results : int
            Finite results of the batch.
        """
        needed = self.min_results()
        if n_results < needed:
            P = self.noise_points_.size
            nodes = f"K + P = {self.n_samples} + {P} nodes" if P else f"K = {self.n_samples} nodes"
            raise ValueError(
                f"Only {n_results} of {self.coded_points_.size} workers returned a finite "
                f"result; {type(self).__name__} needs at least {needed} to decode "
                f"K=n_samples={self.n_samples} rows (the code has {nodes}: fewer results "
                "do not determine the outputs, even for an affine f)."
            )

    def _needed_survivors(self):
        return 2

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags
