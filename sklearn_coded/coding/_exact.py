"""Coders of the exact real-field codes (layer 2 around :mod:`sklearn_coded.operators._exact`)."""

from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from .._sklearn_compat import Interval, StrOptions, _fit_context
from ..operators._exact import (
    EXACT_CODES,
    exact_code,
    exact_decode,
    exact_encode,
    locate_liars,
)
from ..operators._exact_liars import locate_exact
from ._byzantine import UncertifiedDecodeError
from ._registry import Scheme, register_scheme

FLOAT_DTYPES = (np.float64, np.float32)


class _ExactCoder(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags


class ExactEncoder(_ExactCoder):
    """Encode K rows into N workers' shares of an exact real-field code.

    Read more in the :ref:`User Guide <exact_codes>`.

    Any ``threshold`` workers' results of a linear (or degree-d polynomial) f
    determine f of the K rows exactly up to rounding (:class:`ExactDecoder`);
    any ``n_private`` colluding workers see the rows plus full-rank Gaussian
    padding of standard deviation ``noise_scale``, drawn afresh at every
    ``transform`` from the operating system's secret source (no seed replays it).

    Parameters
    ----------
    n_coded : int
        N >= the recovery threshold, the number of workers.
    code : {"chebyshev", "vandermonde", "rotation"}, default="chebyshev"
        Fahim and Cadambe's Chebyshev-basis code, the monomial baseline, or
        Ramamoorthy and Tang's rotation-matrix embedding (two rows per worker,
        linear f only). See :func:`~sklearn_coded.operators.exact_code`.
    n_private : int, default=0
        T colluding workers to protect against.
    noise_scale : float, default=1.0
        sigma of the padding, in the units of ``X``: the decode error grows like
        condition number x machine epsilon x sigma / data spread.
    degree : int, default=1
        Degree of the workers' f; sets the threshold d (K + T - 1) + 1.

    Attributes
    ----------
    code_ : ExactCode
        The code of the fitted batch size.
    n_features_in_ : int

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_coded.coding import ExactDecoder, ExactEncoder
    >>> X = np.arange(8.0).reshape(4, 2)
    >>> enc = ExactEncoder(n_coded=8, n_private=2, noise_scale=100.0).fit(X)
    >>> shares = enc.transform(X)  # (8, 2): one row per worker
    >>> shares[[1, 6]] = np.nan  # two stragglers
    >>> decoded = ExactDecoder(n_samples=4, n_private=2).fit(shares).transform(shares)
    >>> float(np.abs(decoded - X).max()) < 1e-8
    True
    """

    _parameter_constraints: dict = {
        "n_coded": [Interval(Integral, 1, None, closed="left")],
        "code": [StrOptions(set(EXACT_CODES))],
        "n_private": [Interval(Integral, 0, None, closed="left")],
        "noise_scale": [Interval(Real, 0, None, closed="left")],
        "degree": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(self, n_coded, *, code="chebyshev", n_private=0, noise_scale=1.0, degree=1):
        self.n_coded = n_coded
        self.code = code
        self.n_private = n_private
        self.noise_scale = noise_scale
        self.degree = degree

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Build the code for batches of ``len(X)`` rows.

        Parameters
        ----------
        X : array-like of shape (K, n_features)
        y : None
            Ignored.

        Returns
        -------
        self : object
        """
        X = validate_data(self, X, dtype=FLOAT_DTYPES)
        self.code_ = self._code(X.shape[0])
        return self

    def _code(self, n_samples):
        return exact_code(
            self.code, n_samples, self.n_coded, n_private=self.n_private, degree=self.degree
        )

    def transform(self, X):
        """The N workers' shares of the batch X, with fresh secret padding.

        Parameters
        ----------
        X : array-like of shape (K, n_features)
            Any K (the code is rebuilt for another batch size).

        Returns
        -------
        shares : ndarray of shape (n_coded * share, n_features)
            share = 2 rows per worker for ``code="rotation"``, else 1.
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=FLOAT_DTYPES)
        code = self.code_ if X.shape[0] == self.code_.n_samples else self._code(X.shape[0])
        return exact_encode(code, X, self.noise_scale)


class ExactDecoder(_ExactCoder):
    """Decode f of K rows from the workers of an exact code that returned.

    Read more in the :ref:`User Guide <exact_codes>`.

    Parameters
    ----------
    n_samples : int
        K, the rows of the batch.
    code : {"chebyshev", "vandermonde", "rotation"}, default="chebyshev"
        The encoder's construction.
    n_private : int, default=0
        The encoder's T.
    degree : int, default=1
        Degree of the workers' f.
    n_adversaries : int, default=0
        A workers whose results may be arbitrary: located exactly when at least
        threshold + 2A workers returned, recorded in ``flagged_`` and left out;
        more liars than declared raise
        :class:`~sklearn_coded.coding.UncertifiedDecodeError` instead of
        decoding wrongly.
    locator : {"auto", "l1", "exhaustive"}, default="auto"
        How liars are located. ``"l1"``: l1 decoding, one linear program
        (:func:`~sklearn_coded.operators.l1_locate_liars`, polynomial in A);
        ``"exhaustive"``: the syndrome search over every set of at most A
        workers (:func:`~sklearn_coded.operators.locate_liars`, exponential in
        A); ``"auto"``: l1 first, and the exhaustive search only when l1
        refuses a batch on survivors where
        :func:`~sklearn_coded.operators.l1_recovery_bound` does not prove that
        l1 recovers every pattern of A liars (docs/method.rst (9.8)); where it
        does, the refusal stands (more liars than declared). Both return a
        location only after checking the kept results against the code, so a
        location l1 returns is right even beyond its proven bound.

    Attributes
    ----------
    code_ : ExactCode
    n_features_in_ : int
    flagged_ : ndarray of bool of shape (n_coded,)
        Workers located as liars by the last ``transform`` (``n_adversaries > 0``).
    certified_ : bool
        Whether the last ``transform``'s decode was certified (``n_adversaries >
        0``): the kept results agree with one codeword to rounding.
    located_by_ : {"l1", "exhaustive"}
        The locator the last ``transform`` used (``n_adversaries > 0``).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_coded.coding import ExactDecoder, ExactEncoder
    >>> X = np.arange(6.0).reshape(3, 2)
    >>> shares = ExactEncoder(n_coded=7, code="rotation").fit_transform(X)  # 2 rows each
    >>> shares[4:6] += 1.0  # worker 2 lies
    >>> dec = ExactDecoder(n_samples=3, code="rotation", n_adversaries=1).fit(shares)
    >>> bool(np.allclose(dec.transform(shares), X)), np.flatnonzero(dec.flagged_)
    (True, array([2]))
    """

    _parameter_constraints: dict = {
        "n_samples": [Interval(Integral, 1, None, closed="left")],
        "code": [StrOptions(set(EXACT_CODES))],
        "n_private": [Interval(Integral, 0, None, closed="left")],
        "degree": [Interval(Integral, 1, None, closed="left")],
        "n_adversaries": [Interval(Integral, 0, None, closed="left")],
        "locator": [StrOptions({"auto", "l1", "exhaustive"})],
    }

    def __init__(
        self,
        n_samples,
        *,
        code="chebyshev",
        n_private=0,
        degree=1,
        n_adversaries=0,
        locator="auto",
    ):
        self.n_samples = n_samples
        self.code = code
        self.n_private = n_private
        self.degree = degree
        self.n_adversaries = n_adversaries
        self.locator = locator

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, Y, y=None):
        """Record N from the number of result rows (``share`` per worker).

        Parameters
        ----------
        Y : array-like of shape (n_coded * share, n_outputs)
            NaN rows mark workers that did not return.
        y : None
            Ignored.

        Returns
        -------
        self : object
        """
        Y = validate_data(
            self, Y, dtype=FLOAT_DTYPES, ensure_all_finite=False, ensure_min_samples=2
        )
        share = 2 if self.code == "rotation" else 1
        if Y.shape[0] % share:
            raise ValueError(f"code='rotation' returns 2 rows per worker; Y has {Y.shape[0]} rows.")
        self.code_ = exact_code(
            self.code,
            self.n_samples,
            Y.shape[0] // share,
            n_private=self.n_private,
            degree=self.degree,
        )
        return self

    def transform(self, Y):
        """Decode f(X) from the workers whose rows are all finite.

        Parameters
        ----------
        Y : array-like of shape (n_coded * share, n_outputs)

        Returns
        -------
        decoded : ndarray of shape (n_samples, n_outputs)

        Raises
        ------
        ValueError
            If fewer workers than the threshold (+ 2A) returned, or the results
            are inconsistent beyond ``n_adversaries`` liars.
        """
        check_is_fitted(self)
        Y = validate_data(self, Y, reset=False, dtype=FLOAT_DTYPES, ensure_all_finite=False)
        code = self.code_
        if Y.shape[0] != code.n_coded * code.share:
            raise ValueError(
                f"Y has {Y.shape[0]} rows; fitted for {code.n_coded} workers of "
                f"{code.share} row(s)."
            )
        ok = np.isfinite(Y).all(axis=1).reshape(code.n_coded, code.share).all(axis=1)
        workers = np.flatnonzero(ok)
        code.check_survivors(workers)
        rows = (workers[:, None] * code.share + np.arange(code.share)).ravel()
        if self.n_adversaries:
            liars = self._locate(code, workers, Y[rows])
            workers = workers[~liars]
            rows = (workers[:, None] * code.share + np.arange(code.share)).ravel()
        return exact_decode(code, workers, Y[rows])

    def _locate(self, code, workers, Y):
        """Liars among ``workers`` (:func:`~sklearn_coded.operators._exact_liars.locate_exact`);
        sets ``flagged_``, ``certified_`` and ``located_by_`` (docs/method.rst (9.6), (9.10))."""
        A = self.n_adversaries
        self.flagged_ = np.zeros(code.n_coded, dtype=bool)
        self.certified_ = False
        if workers.size < code.threshold + 2 * A:  # the bound, named by the locators
            locate_liars(code, workers, Y, A)
        try:
            liars, self.located_by_ = locate_exact(code, workers, Y, A, locator=self.locator)
        except ValueError as error:
            self.located_by_ = getattr(error, "located_by", self.locator)
            raise UncertifiedDecodeError(
                f"ExactDecoder cannot certify this batch's decode with n_adversaries={A} "
                f"from {workers.size} workers ({self.located_by_} locator): {error}",
                n_results=int(workers.size),
                n_adversaries=A,
                locatable=(workers.size - code.threshold) // 2,
                reason=str(error),
            ) from None
        self.flagged_[workers[liars]] = True
        self.certified_ = True
        return liars

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags


# Exact layer-wise inference of a skorch net (docs/method.rst (9.9)): not encode / f /
# decode per batch, so the estimators hand it to its own module.
register_scheme(Scheme("layerwise", dispatch="sklearn_coded.estimators._layerwise"))
