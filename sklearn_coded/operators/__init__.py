"""Layer 1, the math: points and coding operators (numpy and SciPy only).

Every coder of the package is a matrix ``M(t -> s)`` built here once, cached by
its points (and smoothing), and applied as one matrix product.
"""

from ._flush import flush_tiny
from ._points import POINT_FAMILIES, make_points
from ._rational import berrut_operator, lagrange_operator
from ._schemes import SCHEMES, coding_operator, coding_points
from ._spline import spline_gcv, spline_operator

__all__ = [
    "POINT_FAMILIES",
    "SCHEMES",
    "berrut_operator",
    "coding_operator",
    "coding_points",
    "flush_tiny",
    "lagrange_operator",
    "make_points",
    "spline_gcv",
    "spline_operator",
]
