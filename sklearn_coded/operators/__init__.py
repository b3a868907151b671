"""Layer 1, the math: points and coding operators (numpy and SciPy only).

Every coder of the package is a matrix ``M(t -> s)`` built here once, cached by
its points (and smoothing), and applied as one matrix product.
"""

from ._exact import (
    EXACT_CODES,
    ExactCode,
    exact_code,
    exact_decode,
    exact_encode,
    exact_leakage,
    exact_noise_scale,
    l1_locate_liars,
    l1_recovery_bound,
    locate_liars,
    worst_condition,
)
from ._flush import flush_tiny
from ._loo import (
    LOO_THRESHOLD,
    locate_loo,
    locate_rational,
    rational_locator_bound,
    spline_loo_residuals,
)
from ._points import POINT_FAMILIES, make_points
from ._privacy import (
    DEFAULT_PRIVATE_LAYOUT,
    MAX_CERTIFIED_SUBSETS,
    PRIVATE_GAPS,
    PRIVATE_LAYOUTS,
    LeakageBudgetError,
    LeakageLedger,
    colluder_information,
    collusion_r2,
    gaussian_leakage,
    information_for_leakage,
    leakage_bound,
    lmmse_leakage,
    n_noise_rows,
    private_layout,
)
from ._rational import berrut_operator, lagrange_operator
from ._robust import (
    CONSISTENCY_THRESHOLD,
    LOCATABLE_MARGIN,
    SPAN_METHODS,
    SPAN_THRESHOLD,
    locate_span,
    span_candidate_scores,
    span_consistency_scores,
    span_locatable,
    span_locator_bound,
    span_residuals,
)
from ._schemes import SCHEMES, coding_operator, coding_points
from ._spline import spline_gcv, spline_operator

__all__ = [
    "EXACT_CODES",
    "ExactCode",
    "exact_code",
    "exact_decode",
    "exact_encode",
    "exact_leakage",
    "exact_noise_scale",
    "l1_locate_liars",
    "l1_recovery_bound",
    "locate_liars",
    "worst_condition",
    "DEFAULT_PRIVATE_LAYOUT",
    "CONSISTENCY_THRESHOLD",
    "LOCATABLE_MARGIN",
    "LOO_THRESHOLD",
    "LeakageBudgetError",
    "LeakageLedger",
    "MAX_CERTIFIED_SUBSETS",
    "POINT_FAMILIES",
    "PRIVATE_GAPS",
    "PRIVATE_LAYOUTS",
    "SCHEMES",
    "SPAN_METHODS",
    "SPAN_THRESHOLD",
    "berrut_operator",
    "coding_operator",
    "coding_points",
    "colluder_information",
    "collusion_r2",
    "flush_tiny",
    "gaussian_leakage",
    "information_for_leakage",
    "lagrange_operator",
    "leakage_bound",
    "lmmse_leakage",
    "locate_loo",
    "locate_rational",
    "locate_span",
    "make_points",
    "n_noise_rows",
    "private_layout",
    "rational_locator_bound",
    "span_candidate_scores",
    "span_consistency_scores",
    "span_locatable",
    "span_locator_bound",
    "span_residuals",
    "spline_gcv",
    "spline_loo_residuals",
    "spline_operator",
]
