"""Layer 4: coded prediction meta-estimators around any scikit-learn estimator."""

from ._coded import CodedClassifier, CodedRegressor

__all__ = ["CodedClassifier", "CodedRegressor"]
