"""Shared machinery of the encoder and decoder transformers (layer 2)."""

import weakref
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from .._sklearn_compat import Interval, StrOptions, _fit_context
from ..operators import POINT_FAMILIES, coding_operator, coding_points, flush_tiny
from ..operators._cache import ByteLRU
from ._byzantine import certified_locate, check_adversary_bound
from ._private import layout, padded_operators

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

    scheme = None  # "spline", "berrut" or "lagrange", set by the concrete classes

    _parameter_constraints: dict = {
        "points": [StrOptions(set(POINT_FAMILIES)), tuple, list],
    }

    def _smoothing(self):
        return 0.0

    def _operator_params(self):
        """Scheme-specific keyword arguments of :func:`coding_operator`."""
        return {}

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags


class BaseEncoder(_BaseCoder):
    """Encoder: maps a batch of K rows (at data points alpha) to N coded rows (at beta).

    Parameters
    ----------
    n_coded : int
        N >= 2, the number of coded rows (workers).
    points : str or (data, coded) pair, default="chebyshev"
        Point layout, see :func:`sklearn_coded.operators.coding_points`.
    n_private : int, default=0
        T >= 0 colluding workers to protect against: the batch is padded with
        random rows at noise points (:func:`~sklearn_coded.operators.private_layout`),
        drawn afresh at every ``transform``. 0 encodes the data alone.
    noise_scale : float, default=1.0
        Standard deviation of the padding entries, in the units of ``X``.
    random_state : int, RandomState instance or None, default=None
        Seeds the padding rows (drawn from one generator created in ``fit``).
    """

    _parameter_constraints: dict = {
        **_BaseCoder._parameter_constraints,
        "n_coded": [Interval(Integral, 2, None, closed="left")],
        "n_private": [Interval(Integral, 0, None, closed="left")],
        "noise_scale": [Interval(Real, 0, None, closed="left")],
        "random_state": ["random_state"],
    }

    def __init__(
        self, n_coded, *, points="chebyshev", n_private=0, noise_scale=1.0, random_state=None
    ):
        self.n_coded = n_coded
        self.points = points
        self.n_private = n_private
        self.noise_scale = noise_scale
        self.random_state = random_state

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Record the number of columns and the points for a batch of ``len(X)`` rows.

        Parameters
        ----------
        X : array-like of shape (K, n_features)
            A batch; K >= 2 and every value finite.
        y : None
            Ignored.

        Returns
        -------
        self : object
        """
        X = validate_data(self, X, dtype=FLOAT_DTYPES, ensure_min_samples=2)
        if self.n_private and self._smoothing() == "gcv":
            raise ValueError(
                f"smoothing='gcv' chooses lam from the batch, which would depend on the "
                f"private rows; with n_private={self.n_private} set a number."
            )
        self.data_points_, self.noise_points_, self.coded_points_ = layout(
            self, X.shape[0], self.n_coded
        )
        self._rng = check_random_state(self.random_state)
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
            Same dtype as ``X`` (float32 or float64).
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=FLOAT_DTYPES, ensure_min_samples=2)
        X_coded = apply_operator(self.encoding_matrix(X.shape[0], X), X)
        if self.n_private:  # eq. (P): + B Z with fresh padding rows Z
            B = self.noise_matrix(X.shape[0])
            X_coded += apply_operator(B, self.draw_padding(B.shape[1], X.shape[1], X.dtype))
        return X_coded

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

    def noise_matrix(self, n_samples):
        """The (n_coded, P) matrix B with ``X_coded = E @ X + B @ Z`` (``n_private > 0``).

        Parameters
        ----------
        n_samples : int
            K, the batch size.

        Returns
        -------
        B : ndarray of shape (n_coded, P), float64
            P = 0 columns when ``n_private=0``.
        """
        check_is_fitted(self)
        if not self.n_private:
            return np.zeros((self.n_coded, 0))
        return self._padded_operators(n_samples)[1]

    def draw_padding(self, n_rows, n_features, dtype=np.float64, n_batches=None):
        """Fresh padding rows Z, entries N(0, noise_scale^2), from the fitted generator.

        Parameters
        ----------
        n_rows : int
            P.
        n_features : int
        dtype : dtype, default=float64
        n_batches : int, optional
            Draw a stack of shape (n_batches, P, n_features).

        Returns
        -------
        Z : ndarray of shape (P, n_features) or (n_batches, P, n_features)
        """
        check_is_fitted(self)
        shape = (n_rows, n_features) if n_batches is None else (n_batches, n_rows, n_features)
        return (self.noise_scale * self._rng.standard_normal(shape)).astype(dtype, copy=False)

    def _padded_operators(self, n_samples):
        alpha, nu, beta = layout(self, n_samples, self.n_coded)
        return padded_operators(
            self.scheme, alpha, nu, beta, self._smoothing(), **self._operator_params()
        )


class BaseDecoder(_BaseCoder):
    """Decoder: maps the N worker results (at beta) back to K rows (at alpha).

    Parameters
    ----------
    n_samples : int
        K >= 2, the number of decoded rows.
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
        self.data_points_, self.noise_points_, self.coded_points_ = layout(
            self, self.n_samples, Y.shape[0]
        )
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
            Same dtype as ``Y``.

        Raises
        ------
        ValueError
            If ``Y`` does not have N rows, or too few workers returned: fewer
            than :meth:`min_results` (K + P), or with ``n_adversaries > 0``
            fewer than the locator's bound; the message names the numbers.
        UncertifiedDecodeError
            With ``n_adversaries > 0``, if the decode cannot be certified
            (method.md 8): the survivors cannot locate A liars, or a kept
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
        return apply_operator(self.decoding_matrix(survivors, Y_survivors), Y_survivors)

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
        r = self.data_points_.size + self.noise_points_.size
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
