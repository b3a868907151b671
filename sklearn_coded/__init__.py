"""sklearn_coded: coded computing (LeTCC, BACC, LCC) as scikit-learn objects.

``import sklearn_coded`` is instant and needs only numpy, SciPy and scikit-learn:
the names below are imported on first use (PEP 562), and the torch, skorch and dask
parts are optional extras imported where they are used. ``CodedClassifier`` and
``CodedRegressor`` work around any estimator without torch; only coded-smoothing
training of skorch nets imports it.
"""

import importlib

__version__ = "0.1.0.dev0"

_LAZY = {
    "BerrutDecoder": "coding",
    "BerrutEncoder": "coding",
    "ExactDecoder": "coding",
    "ExactEncoder": "coding",
    "LagrangeDecoder": "coding",
    "LagrangeEncoder": "coding",
    "SplineDecoder": "coding",
    "SplineEncoder": "coding",
    "CodedClassifier": "estimators",
    "CodedRegressor": "estimators",
}

__all__ = [*sorted(_LAZY), "__version__"]


def __getattr__(name):
    if name in _LAZY:
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *_LAZY])
