"""Private encoding: the point layout and noise padding of ``n_private > 0`` (docs/method.rst 7).

With ``n_private = T`` the encoder interpolates the K data rows at the data points
and P >= T random rows at the noise points of
:func:`~sklearn_coded.operators.private_layout`, and evaluates at the coded points
(eq. P of :mod:`sklearn_coded.operators._privacy`); the decoder evaluates at the
same data points. Both coders read the layout from their :class:`CodingPlan`, so they
agree; :class:`PaddedEncoding` holds the encoder's padding and its calibration.
"""

import functools

import numpy as np
from sklearn.utils.validation import check_is_fitted

from ..operators import coding_operator, colluder_information
from ..operators._privacy import information_for_leakage, leakage_bound
from ..operators._secret import private_generator


def padded_operators(scheme, alpha, nu, beta, smoothing=0.0, **operator_params):
    """(A, B): the columns of ``M(alpha u nu -> beta)`` on the data and on the noise rows."""
    nodes = np.concatenate([alpha, nu])
    rank = np.argsort(nodes, kind="stable")
    M = coding_operator(scheme, nodes[rank], beta, smoothing, **operator_params)[0]
    full = np.empty_like(M)
    full[:, rank] = M  # back to (data, noise) column order
    return full[:, : alpha.size], full[:, alpha.size :]


#: Largest noise scale, in data standard deviations (sqrt of lambda_max), that
#: ``noise_scale="auto"`` may choose: past it the coded rows carry under 1e-12 of the
#: data's variance and float64 decoding is rounding noise; the target is refused.
MAX_NOISE_RATIO = 1e6


@functools.lru_cache(maxsize=128)
def colluders_q(plan, n_samples):
    """Q (eq. Q of ``operators/_privacy.py``) of each data row of a plan's private layout.

    For batches of ``n_samples`` rows; cached by the (hashable, frozen) plan.
    """
    n_private = plan.n_private
    alpha, nu, beta = plan.layout(n_samples)
    A, B = padded_operators(plan.scheme, alpha, nu, beta, plan.lam_enc, **plan.operator_params())
    Q = colluder_information(A, B, n_private)
    Q.flags.writeable = False
    return Q


def signal_variance(covariance, X, n_features):
    """lambda_max, the largest variance of a unit-norm combination of a row's columns.

    ``covariance`` None: the top eigenvalue of the sample covariance of ``X`` plus
    three standard errors of the variance along its eigenvector (estimated from the
    rows' own fourth moment, so heavy tails widen it), so that an estimate from few
    rows errs on the safe side. A number is lambda_max itself; a matrix is the
    column covariance.
    """
    if covariance is None:
        X = np.asarray(X, dtype=np.float64)
        n = X.shape[0]
        if n < 2:
            raise ValueError(f"Estimating the covariance needs at least 2 rows; got {n}.")
        C = np.atleast_2d(np.cov(X, rowvar=False))
        w, V = np.linalg.eigh(C)
        top = float(w[-1])
        if not top > 0:
            raise ValueError(
                "The rows given to fit do not vary, so they give no scale for the privacy "
                "noise (n_private > 0): fit on representative rows, or pass covariance= "
                "(the data's column covariance or its largest eigenvalue)."
            )
        squares = ((X - X.mean(axis=0)) @ V[:, -1]) ** 2
        # Standard error of a variance: sd(p^2) / sqrt(n), at least the Gaussian one.
        relative = max(squares.std() / squares.mean(), np.sqrt(2.0)) / np.sqrt(max(n - 1, 1))
        return top * (1 + 3 * relative)
    if np.ndim(covariance) == 0:
        value = float(covariance)
        if not (np.isfinite(value) and value >= 0):
            raise ValueError(f"covariance as a number must be finite and >= 0; got {covariance!r}.")
        return value
    C = np.asarray(covariance, dtype=np.float64)
    if C.shape != (n_features, n_features) or not np.isfinite(C).all():
        raise ValueError(
            f"covariance must be None, a number or a finite array of shape ({n_features}, "
            f"{n_features}) (the columns' covariance); got shape {C.shape}."
        )
    return float(np.linalg.eigvalsh((C + C.T) / 2).max())


class PaddedEncoding:
    """The noise padding of an encoder with ``n_private > 0`` (a mixin of ``BaseEncoder``)."""

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

    def draw_padding(self, n_rows, n_features, dtype=np.float64, n_batches=None, n_samples=None):
        """Fresh padding rows Z from the operating system's secret source.

        Entries are N(0, sigma^2), sigma the noise scale of batches of
        ``n_samples`` rows; a new secret generator is drawn at every call, so
        neither ``random_state`` nor numpy's global state can replay it.

        Parameters
        ----------
        n_rows : int
            P.
        n_features : int
        dtype : dtype, default=float64
        n_batches : int, optional
            Draw a stack of shape (n_batches, P, n_features), fresh per batch.
        n_samples : int, optional
            K, the batch size the noise is for; default the size seen in ``fit``.

        Returns
        -------
        Z : ndarray of shape (P, n_features) or (n_batches, P, n_features)
        """
        check_is_fitted(self)
        K = self.data_points_.size if n_samples is None else int(n_samples)
        scale = self.calibrated_noise_scale(K) if self.n_private else 0.0
        shape = (n_rows, n_features) if n_batches is None else (n_batches, n_rows, n_features)
        return (scale * private_generator().standard_normal(shape)).astype(dtype, copy=False)

    def calibrated_noise_scale(self, n_samples):
        """sigma for batches of ``n_samples`` rows: ``noise_scale``, or "auto"'s choice.

        ``"auto"`` solves eq. (L) for the target: ``sigma^2 = lambda_max max_k Q_k / q*``,
        ``q* = max_leakage / (1 - max_leakage)``.

        Parameters
        ----------
        n_samples : int
            K.

        Returns
        -------
        float

        Raises
        ------
        ValueError
            If the target cannot be met (a row seen without noise, or a noise
            scale past ``MAX_NOISE_RATIO`` data standard deviations needed), or
            the given ``noise_scale`` does not meet it.
        """
        check_is_fitted(self)
        K = int(n_samples)
        if K in self._scales:
            return self._scales[K]
        lam = self.signal_variance_
        Q = float(self._colluders_q(K).max())
        q_star = information_for_leakage(self.max_leakage)
        where = (
            f"(n_private=T={self.n_private} colluders among n_coded=N={self.n_coded}, "
            f"batches of K={K} rows, scheme {self.scheme!r}, data variance up to {lam:.3g})"
        )
        if self.noise_scale == "auto":
            if lam == 0 or np.isinf(q_star):
                scale = 0.0
            elif not np.isfinite(Q):
                raise ValueError(
                    f"max_leakage={self.max_leakage!r} cannot be met at any noise scale "
                    f"{where}: some T workers see a data row without noise. Use more "
                    "noise rows (another points family) or fewer colluders."
                )
            else:
                scale = float(np.sqrt(lam * Q / q_star))  # eq. (L) solved for sigma
                if scale > MAX_NOISE_RATIO * np.sqrt(lam):
                    raise ValueError(
                        f"max_leakage={self.max_leakage!r} needs noise of {scale:.3g} "
                        f"{where}, over {MAX_NOISE_RATIO:g} data standard deviations: "
                        "decoding would return rounding noise. Raise max_leakage or "
                        "lower n_private."
                    )
        else:
            scale = float(self.noise_scale)
            bound = float(leakage_bound(lam * Q / scale**2 if scale > 0 else np.inf * (lam > 0)))
            if bound > self.max_leakage * (1 + 1e-9):
                needed = np.sqrt(lam * Q / q_star) if np.isfinite(Q) else np.inf
                raise ValueError(
                    f"noise_scale={self.noise_scale!r} lets T colluders reach R^2 {bound:.3f} "
                    f"{where}, above max_leakage={self.max_leakage!r}; it needs noise_scale "
                    f">= {needed:.3g}, or noise_scale='auto' (or max_leakage=1.0 to accept "
                    "the leakage)."
                )
        self._scales[K] = scale
        return scale

    def leakage_information(self, n_samples):
        """q of each data row of one coded batch of ``n_samples`` rows (eq. Q).

        ``q_k = lambda_max Q_k / sigma^2``; the colluders' R^2 on row k is at most
        ``q_k / (1 + q_k)`` (:func:`~sklearn_coded.operators.leakage_bound`), and
        the q of repeated views add (eq. R).

        Parameters
        ----------
        n_samples : int
            K.

        Returns
        -------
        q : ndarray of shape (K,)
        """
        check_is_fitted(self)
        K = int(n_samples)
        if not self.n_private:
            return np.full(K, np.inf)
        scale = self.calibrated_noise_scale(K)
        Q = self._colluders_q(K)
        if self.signal_variance_ == 0:
            return np.zeros(K)
        with np.errstate(divide="ignore"):
            return self.signal_variance_ * Q / scale**2 if scale > 0 else np.full(K, np.inf)

    def _colluders_q(self, n_samples):
        return colluders_q(self.plan_, int(n_samples))

    def _padded_operators(self, n_samples):
        alpha, nu, beta = self.plan_.layout(n_samples)
        return padded_operators(
            self.scheme, alpha, nu, beta, self.plan_.lam_enc, **self.plan_.operator_params()
        )
