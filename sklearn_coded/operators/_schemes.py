"""One entry point for the operator of each coding scheme, and the point layout."""

import numbers

import numpy as np

from ._points import POINT_FAMILIES, make_points
from ._rational import berrut_operator, lagrange_operator
from ._spline import spline_gcv, spline_operator

SCHEMES = ("spline", "berrut", "lagrange")


def coding_points(points, n_samples, n_coded):
    """Data points alpha (n_samples) and coded points beta (n_coded) of a layout.

    Parameters
    ----------
    points : str or (data, coded) pair
        A family name from ``{"chebyshev", "chebyshev2", "uniform", "bacc",
        "interior", "systematic"}`` used for both sets, or a pair whose entries are
        each a family name or an explicit strictly increasing array inside [-1, 1].
        ``"systematic"`` takes the ``"interior"`` data points and makes K of the N
        coded points equal to them (each replaces the nearest uniform coded
        point): those K workers compute f(x_k) itself, which interpolating decoders
        return exactly when those workers answer. Needs N >= K.
    n_samples : int
        K, the number of data points.
    n_coded : int
        N, the number of coded points (workers).

    Returns
    -------
    alpha : ndarray of shape (n_samples,)
    beta : ndarray of shape (n_coded,)

    Examples
    --------
    >>> from sklearn_coded.operators import coding_points
    >>> alpha, beta = coding_points("chebyshev2", 3, 5)
    >>> alpha
    array([-1.,  0.,  1.])
    >>> beta.round(4)
    array([-1.    , -0.7071,  0.    ,  0.7071,  1.    ])
    """
    if isinstance(points, str) and points == "systematic":
        return systematic_points(n_samples, n_coded)
    data_spec, coded_spec = _split_points(points)
    alpha = make_points(data_spec, n_samples, role="data", name="points[0] (data points)")
    beta = make_points(coded_spec, n_coded, role="coded", name="points[1] (coded points)")
    return alpha, beta


def systematic_points(n_samples, n_coded):
    """The ``"systematic"`` layout: interior data points, K of them also coded points.

    Examples
    --------
    >>> from sklearn_coded.operators import coding_points
    >>> alpha, beta = coding_points("systematic", 3, 5)
    >>> bool(set(alpha) <= set(beta))
    True
    """
    if n_coded < n_samples:
        raise ValueError(
            f'points="systematic" needs n_coded >= batch size; got N={n_coded}, K={n_samples}.'
        )
    alpha = make_points("interior", n_samples, role="data")
    beta = make_points("uniform", n_coded, role="coded")
    # each data point replaces the nearest coded point, indices kept strictly increasing
    slots = np.rint((alpha + 1) / 2 * (n_coded - 1)).astype(int)
    for k in range(1, n_samples):
        slots[k] = max(slots[k], slots[k - 1] + 1)
    slots -= np.maximum(slots[-1] - (n_coded - 1), 0)
    for k in range(n_samples - 2, -1, -1):
        slots[k] = min(slots[k], slots[k + 1] - 1)
    beta[slots] = alpha
    beta.sort()
    return alpha, beta


def explicit_size(points, role):
    """Length fixed by an explicit array for ``role`` ("data" or "coded"), else None."""
    spec = _split_points(points)[0 if role == "data" else 1]
    return None if isinstance(spec, str) else len(spec)


def _split_points(points):
    if isinstance(points, str):
        if points not in POINT_FAMILIES:
            raise ValueError(f"points must be one of {POINT_FAMILIES} or a pair; got {points!r}.")
        return points, points
    if isinstance(points, tuple | list) and len(points) == 2:
        return points[0], points[1]
    raise ValueError(
        f"points must be a family name or a (data_points, coded_points) pair; got {points!r}."
    )


def coding_operator(scheme, fit_points, eval_points, smoothing=0.0, values=None, *, order=2):
    """The linear map of a scheme from values at ``fit_points`` to ``eval_points``.

    An encoder is ``coding_operator(scheme, alpha, beta, ...)``; a decoder for the
    survivors F is ``coding_operator(scheme, beta[F], alpha, ...)``.

    Parameters
    ----------
    scheme : {"spline", "berrut", "lagrange"}
    fit_points, eval_points : array-like of shape (n,), (m,)
    smoothing : float or "gcv", default=0.0
        Spline only: lam (docs/method.rst scale) or ``"gcv"``, which picks the one lam
        minimising the joint GCV score of ``values``.
    values : array-like of shape (n, n_columns), optional
        Needed for ``smoothing="gcv"``.
    order : int, default=2
        Spline only: the order m of the smoothing spline (penalty on the m-th
        derivative), see :func:`spline_operator`.

    Returns
    -------
    M : ndarray of shape (m, n), float64, read-only
    lam : float
        The smoothing used (0.0 for the interpolating schemes).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_coded.operators import coding_operator
    >>> M, lam = coding_operator("berrut", [-1.0, 1.0], [0.0])
    >>> M, lam
    (array([[0.5, 0.5]]), 0.0)
    """
    if scheme == "spline":
        if isinstance(smoothing, str):
            if smoothing != "gcv":
                raise ValueError(f"smoothing must be a number >= 0 or 'gcv'; got {smoothing!r}.")
            if values is None:
                raise ValueError("smoothing='gcv' needs the values to fit.")
            lam = spline_gcv(fit_points, values, order=order)
        else:
            lam = smoothing
        return spline_operator(fit_points, eval_points, lam, order=order), float(lam)
    if scheme not in SCHEMES:
        raise ValueError(f"scheme must be one of {SCHEMES}; got {scheme!r}.")
    if order != 2:
        raise ValueError(
            f"The {scheme} scheme has no spline order; order must be 2, got {order!r}."
        )
    if isinstance(smoothing, str) or smoothing != 0:
        raise ValueError(
            f"The {scheme} scheme interpolates; smoothing must be 0, got {smoothing!r}."
        )
    operator = berrut_operator if scheme == "berrut" else lagrange_operator
    return operator(fit_points, eval_points), 0.0


def check_n_points(value, name, minimum=2):
    """Validate an integer count of points."""
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value!r}.")
    return int(value)
