"""Layer 4: coded prediction meta-estimators around any scikit-learn estimator."""

from ._certify import CollusionWarning
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
    "CollusionWarning",
    "Diagnostics",
    "RequestDiagnostics",
    "SchemeComparison",
    "UncertifiedBatchError",
    "UncertifiedBatchWarning",
    "compare_schemes",
]
