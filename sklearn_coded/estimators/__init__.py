"""Layer 4: coded prediction meta-estimators around any scikit-learn estimator."""

from ._coded import CodedClassifier, CodedRegressor
from ._compare import SchemeComparison, compare_schemes
from ._diagnostics import (
    Diagnostics,
    RequestDiagnostics,
    UncertifiedBatchError,
    UncertifiedBatchWarning,
)
from ._serving import CoalescingPredictor

__all__ = [
    "CoalescingPredictor",
    "CodedClassifier",
    "CodedRegressor",
    "Diagnostics",
    "RequestDiagnostics",
    "SchemeComparison",
    "UncertifiedBatchError",
    "UncertifiedBatchWarning",
    "compare_schemes",
]
