"""Layer 4: coded prediction meta-estimators around any scikit-learn estimator."""

from ._coded import CodedClassifier, CodedRegressor
from ._diagnostics import (
    Diagnostics,
    RequestDiagnostics,
    UncertifiedBatchError,
    UncertifiedBatchWarning,
)

__all__ = [
    "CodedClassifier",
    "CodedRegressor",
    "Diagnostics",
    "RequestDiagnostics",
    "UncertifiedBatchError",
    "UncertifiedBatchWarning",
]
