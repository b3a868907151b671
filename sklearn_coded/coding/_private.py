"""Private encoding: the point layout and noise padding of ``n_private > 0`` (docs/method.rst 7).

With ``n_private = T`` the encoder interpolates the K data rows at the data points
and P >= T random rows at the noise points of
:func:`~sklearn_coded.operators.private_layout`, and evaluates at the coded points
(eq. P of :mod:`sklearn_coded.operators._privacy`); the decoder evaluates at the
same data points. Both coders compute the layout here, so they agree.
"""

import functools

import numpy as np

from ..operators import (
    PRIVATE_GAPS,
    coding_operator,
    coding_points,
    colluder_information,
    private_layout,
)


def layout(coder, n_samples, n_coded):
    """(alpha, nu, beta) of a coder: nu is empty when ``n_private == 0``."""
    if getattr(coder, "n_private", 0):
        gap = PRIVATE_GAPS[coder.scheme]
        return private_layout(coder.points, n_samples, coder.n_private, n_coded, gap=gap)
    alpha, beta = coding_points(coder.points, n_samples, n_coded)
    return alpha, np.zeros(0), beta


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
def colluders_q(scheme, points, n_samples, n_coded, n_private, smoothing, params):
    """Q (eq. Q of ``operators/_privacy.py``) of each data row of a private layout, cached.

    ``params`` is the sorted tuple of the scheme's operator keyword arguments.
    """
    alpha, nu, beta = private_layout(
        points, n_samples, n_private, n_coded, gap=PRIVATE_GAPS[scheme]
    )
    A, B = padded_operators(scheme, alpha, nu, beta, smoothing, **dict(params))
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
