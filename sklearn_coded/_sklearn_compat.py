"""The one module that imports private scikit-learn names (tested against sklearn 1.9)."""

from sklearn.base import _fit_context
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils._set_output import _get_output_config

__all__ = ["Interval", "StrOptions", "_fit_context", "_get_output_config"]
