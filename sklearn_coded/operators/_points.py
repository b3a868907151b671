"""Evaluation points on the coding interval Omega = [-1, 1] (docs/method.rst section 2)."""

import numbers

import numpy as np

POINT_FAMILIES = ("chebyshev", "chebyshev2", "uniform", "bacc", "interior", "systematic")

#: Half-width of the data points' interval in the ``"interior"`` layout, chosen by a
#: scan in ``benchmarks/bench_accuracy.py``: figures in docs/benchmarks.rst, "Defaults
#: and the measurements behind them".
INTERIOR_HALF_WIDTH = 0.95


def make_points(spec, n_points, *, role="data", name="points"):
    """Return ``n_points`` sorted evaluation points in [-1, 1].

    Parameters
    ----------
    spec : {"chebyshev", "chebyshev2", "uniform", "bacc", "interior"} or array-like
        The family, or an explicit strictly increasing array inside [-1, 1].

        - ``"chebyshev"``: first kind, ``t_i = -cos((2i - 1) pi / (2n))``, i = 1..n.
        - ``"chebyshev2"``: extrema, ``t_i = -cos((i - 1) pi / (n - 1))``.
        - ``"uniform"``: n equispaced points from -1 to 1 inclusive.
        - ``"bacc"``: the placement of the public BACC code: data points at
          ``cos((2j + 1) pi / (2K))`` (the first-kind Chebyshev points) and coded
          points at ``cos(j pi / N)``, j = 0..N-1, sorted ascending. The public
          code lists row j at ``cos((2j + 1) pi / (2K))``, which *decreases* with j;
          here points are sorted ascending, so row j sits at the opposite end:
          reverse the rows (``X[::-1]``) to match the public code's orientation.
        - ``"interior"``: designed for stragglers: coded points uniform on
          [-1, 1], data points uniform on [-c, c] with c =
          ``INTERIOR_HALF_WIDTH`` (0.95), so that the data points stay inside the
          survivors' hull when end workers straggle and no data point shares the
          ends with a coded point.
        - ``"systematic"``: its data points are the ``"interior"`` ones; its coded
          points only through :func:`coding_points`, which needs K and N.
    n_points : int
        How many points; at least 2 (at least 1 for explicit arrays).
    role : {"data", "coded"}, default="data"
        Which set the points are for; only ``"bacc"`` depends on it.
    name : str, default="points"
        Parameter name used in error messages.

    Returns
    -------
    points : ndarray of shape (n_points,), float64
        Strictly increasing.

    Examples
    --------
    >>> from sklearn_coded.operators import make_points
    >>> make_points("chebyshev2", 3)
    array([-1.,  0.,  1.])
    >>> make_points("uniform", 5)
    array([-1. , -0.5,  0. ,  0.5,  1. ])
    """
    if isinstance(spec, str):
        if not isinstance(n_points, numbers.Integral) or n_points < 2:
            raise ValueError(f"Need at least 2 {role} points; got n_points={n_points!r}.")
        i = np.arange(1, n_points + 1)
        # -cos(theta) is written as sin(theta - pi/2), with an integer numerator,
        # so that every family is exactly symmetric about 0 and hits +-1 exactly.
        if spec == "systematic" and role == "data":  # coding_points' alpha: interior
            spec = "interior"
        if spec == "systematic":
            raise ValueError(
                'points="systematic" places coded points on the data points: it needs K '
                "and N together; use coding_points."
            )
        if spec in ("chebyshev", "bacc") and (spec == "chebyshev" or role == "data"):
            points = np.sin(np.pi * (2 * i - 1 - n_points) / (2 * n_points))
        elif spec == "chebyshev2":
            points = np.sin(np.pi * (2 * i - 1 - n_points) / (2 * (n_points - 1)))
        elif spec == "uniform" or spec == "interior":
            points = np.linspace(-1.0, 1.0, n_points)
            points = (points - points[::-1]) / 2  # exact symmetry
            if spec == "interior" and role == "data":
                points = INTERIOR_HALF_WIDTH * points
        elif spec == "bacc":  # coded: cos(j pi / N), j = 0..N-1, ascending
            points = np.sin(np.pi * (2 * i - n_points) / (2 * n_points))
        else:
            raise ValueError(f"{name} must be one of {POINT_FAMILIES} or an array; got {spec!r}.")
        return points
    return check_explicit_points(spec, n_points, name=name)


def check_explicit_points(points, n_points=None, *, name="points"):
    """Validate an explicit point array: 1-D, finite, strictly increasing, in [-1, 1]."""
    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 1:
        raise ValueError(f"{name} must be 1-D; got an array of shape {points.shape}.")
    if n_points is not None and points.shape[0] != n_points:
        raise ValueError(f"{name} has {points.shape[0]} points but {n_points} are needed.")
    if not np.all(np.isfinite(points)):
        raise ValueError(f"{name} must be finite; got {points}.")
    if np.any(np.diff(points) <= 0):
        raise ValueError(f"{name} must be strictly increasing; got {points}.")
    if points.size and (points[0] < -1 or points[-1] > 1):
        raise ValueError(f"{name} must lie inside [-1, 1]; got range [{points[0]}, {points[-1]}].")
    return points
