"""sklearn_coded: coded computing (LeTCC, BACC, LCC) as scikit-learn objects.

``import sklearn_coded`` needs only numpy, SciPy and scikit-learn; the torch,
skorch and dask parts are optional extras imported where they are used.
"""

from .coding import (
    BerrutDecoder,
    BerrutEncoder,
    LagrangeDecoder,
    LagrangeEncoder,
    SplineDecoder,
    SplineEncoder,
)

__version__ = "0.1.0.dev0"

__all__ = [
    "BerrutDecoder",
    "BerrutEncoder",
    "LagrangeDecoder",
    "LagrangeEncoder",
    "SplineDecoder",
    "SplineEncoder",
    "__version__",
]
