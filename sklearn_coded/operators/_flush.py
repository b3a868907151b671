"""Dropping entries too small to matter before an operator is used in low precision."""

import numpy as np


def flush_tiny(matrix, eps):
    """Zero the entries of ``matrix`` below ``eps * max|matrix|``.

    Spline operators decay geometrically away from their diagonal; in float32 the
    far entries fall into the subnormal range, where BLAS runs many times slower.
    An entry below the rounding unit ``eps`` of the largest entry changes no
    product by more than the rounding of that product's largest term (and, the
    decay being geometric, neither do all of them together), so it is dropped.

    Parameters
    ----------
    matrix : array-like
        The operator, float64.
    eps : float
        Rounding unit of the dtype it will be used in, e.g.
        ``np.finfo(np.float32).eps`` or ``torch.finfo(torch.float32).eps``.

    Returns
    -------
    ndarray
        A float64 copy with the tiny entries set to 0.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_coded.operators import flush_tiny
    >>> flush_tiny([[1.0, 1e-30], [0.5, -1e-9]], np.finfo(np.float32).eps)
    array([[1. , 0. ],
           [0.5, 0. ]])
    """
    matrix = np.array(matrix, dtype=np.float64)
    if matrix.size:
        matrix[np.abs(matrix) < eps * np.abs(matrix).max()] = 0.0
    return matrix
