"""Berrut (BACC) and real-field Lagrange (LCC) interpolation operators (docs/method.rst 4)."""

import numpy as np

from ._cache import byte_cache


def _node_hits(nodes, s):
    """Rows and node indices where an evaluation point equals a node exactly."""
    return np.nonzero(s[:, None] == nodes[None, :])


@byte_cache(32 * 2**20)
def _berrut_cached(nodes_bytes, s_bytes):
    z, s = np.frombuffer(nodes_bytes), np.frombuffer(s_bytes)
    # r(s) = sum_i w_i(s) y_i with w_i(s) = ((-1)^i / (s - z_i)) / sum_j ((-1)^j / (s - z_j)),
    # signs alternating by rank among the nodes used (Berrut 1988; BACC eq. 6).
    signs = np.where(np.arange(z.size) % 2 == 0, 1.0, -1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = signs / (s[:, None] - z[None, :])
        M = terms / terms.sum(axis=1, keepdims=True)
    _interpolate_at_nodes(M, z, s)
    M.setflags(write=False)
    return M


@byte_cache(32 * 2**20)
def _lagrange_cached(nodes_bytes, s_bytes):
    z, s = np.frombuffer(nodes_bytes), np.frombuffer(s_bytes)
    n = z.size
    # First (modified) barycentric form, backward stable also outside [z_1, z_n]
    # (Higham 2004): L_i(s) = l(s) w_i / (s - z_i), l(s) = prod_j (s - z_j),
    # w_i = 1 / prod_{j != i} (z_i - z_j). Products are formed in log space.
    gaps = z[:, None] - z[None, :]
    np.fill_diagonal(gaps, 1.0)
    log_w = -np.log(np.abs(gaps)).sum(axis=1)
    sign_w = np.where((n - 1 - np.arange(n)) % 2 == 0, 1.0, -1.0)  # z_i - z_j < 0 for j > i
    diff = s[:, None] - z[None, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        log_diff = np.log(np.abs(diff))
        sign_l = np.prod(np.sign(diff), axis=1, keepdims=True)
        log_l = log_diff.sum(axis=1, keepdims=True)
        M = sign_l * sign_w * np.sign(diff) * np.exp(log_l + log_w - log_diff)
    _interpolate_at_nodes(M, z, s)
    M.setflags(write=False)
    return M


def _interpolate_at_nodes(M, z, s):
    """At s equal to a node the interpolant takes that node's value: the row is e_i."""
    rows, cols = _node_hits(z, s)
    M[rows] = 0.0
    M[rows, cols] = 1.0


def berrut_operator(nodes, eval_points):
    """Matrix of Berrut's rational interpolant through ``nodes`` (BACC), evaluated at points.

    Row r holds the weights ``w_i(s_r) = ((-1)^i / (s_r - z_i)) / sum_j ((-1)^j / (s_r - z_j))``
    with signs alternating by rank among ``nodes``; at an evaluation point equal to a
    node the row is that node's unit vector. Cached and read-only.

    Parameters
    ----------
    nodes : array-like of shape (n,)
        Strictly increasing interpolation nodes (for a decoder: the survivors' points).
    eval_points : array-like of shape (m,)

    Returns
    -------
    M : ndarray of shape (m, n), float64, read-only

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_coded.operators import berrut_operator
    >>> z = np.array([-1.0, 0.0, 1.0])
    >>> berrut_operator(z, np.array([0.0, 0.5]))
    array([[ 0. ,  1. ,  0. ],
           [-0.2,  0.6,  0.6]])
    """
    z, s = _as_nodes(nodes), np.ascontiguousarray(eval_points, dtype=np.float64).ravel()
    return _berrut_cached(z.tobytes(), s.tobytes())


def lagrange_operator(nodes, eval_points):
    """Matrix of the interpolating polynomial through ``nodes`` (real-field LCC).

    Row r holds the Lagrange basis polynomials ``L_i(s_r)`` of degree n - 1. The
    operator is exact for polynomials of degree < n and badly conditioned for
    large n on most point sets: it is the baseline that motivates BACC and LeTCC.

    Parameters
    ----------
    nodes : array-like of shape (n,)
        Strictly increasing interpolation nodes.
    eval_points : array-like of shape (m,)

    Returns
    -------
    M : ndarray of shape (m, n), float64, read-only

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_coded.operators import lagrange_operator
    >>> z = np.array([-1.0, 0.0, 1.0])
    >>> lagrange_operator(z, np.array([2.0])) @ z**2  # exact for quadratics
    array([4.])
    """
    z, s = _as_nodes(nodes), np.ascontiguousarray(eval_points, dtype=np.float64).ravel()
    return _lagrange_cached(z.tobytes(), s.tobytes())


def _as_nodes(nodes):
    z = np.ascontiguousarray(nodes, dtype=np.float64).ravel()
    if z.size < 1:
        raise ValueError("Interpolation needs at least 1 node; got 0.")
    if np.any(np.diff(z) <= 0) or not np.all(np.isfinite(z)):
        raise ValueError(f"nodes must be finite and strictly increasing; got {z}.")
    return z
