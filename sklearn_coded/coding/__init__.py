"""Layer 2, the coders: scikit-learn transformers around the operators.

Each coding scheme is one registered object (:mod:`._registry`, which says how a
new scheme registers); a :class:`CodingPlan` resolves a code's parameters once.
"""

from ._base import BaseDecoder, BaseEncoder
from ._byzantine import (
    CertificationWarning,
    UncertifiedDecodeError,
    adversary_bound,
    certified_adversaries,
)
from ._exact import ExactDecoder, ExactEncoder
from ._parm import ParityModel, TooFewParitiesError
from ._plan import CodingPlan, TrainingPlan
from ._rational import BerrutDecoder, BerrutEncoder, LagrangeDecoder, LagrangeEncoder
from ._registry import SCHEME_NAMES, get_scheme
from ._replication import ReplicationDecoder, ReplicationEncoder, replica_rows
from ._spline import SplineDecoder, SplineEncoder

#: Encoder and decoder class of each built-in batch-coded scheme (see ``get_scheme``).
CODERS = {
    name: (get_scheme(name).encoder, get_scheme(name).decoder)
    for name in ("spline", "berrut", "lagrange", "replication")
}

__all__ = [
    "CODERS",
    "SCHEME_NAMES",
    "BaseDecoder",
    "BaseEncoder",
    "BerrutDecoder",
    "BerrutEncoder",
    "CertificationWarning",
    "CodingPlan",
    "ExactDecoder",
    "ExactEncoder",
    "LagrangeDecoder",
    "LagrangeEncoder",
    "ParityModel",
    "ReplicationDecoder",
    "ReplicationEncoder",
    "SplineDecoder",
    "SplineEncoder",
    "TrainingPlan",
    "TooFewParitiesError",
    "UncertifiedDecodeError",
    "adversary_bound",
    "certified_adversaries",
    "replica_rows",
]
