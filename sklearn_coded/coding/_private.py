"""Private encoding: the point layout and noise padding of ``n_private > 0`` (method.md 7).

With ``n_private = T`` the encoder interpolates the K data rows at the data points
and P >= T random rows at the noise points of
:func:`~sklearn_coded.operators.private_layout`, and evaluates at the coded points
(eq. P of :mod:`sklearn_coded.operators._privacy`); the decoder evaluates at the
same data points. Both coders compute the layout here, so they agree.
"""

import numpy as np

from ..operators import PRIVATE_GAPS, coding_operator, coding_points, private_layout


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
