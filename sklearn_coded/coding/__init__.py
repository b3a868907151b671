"""Layer 2, the coders: scikit-learn transformers around the operators."""

from ._base import BaseDecoder, BaseEncoder
from ._byzantine import UncertifiedDecodeError, adversary_bound
from ._exact import ExactDecoder, ExactEncoder
from ._rational import BerrutDecoder, BerrutEncoder, LagrangeDecoder, LagrangeEncoder
from ._replication import ReplicationDecoder, ReplicationEncoder, replica_rows
from ._spline import SplineDecoder, SplineEncoder

#: Encoder and decoder class of each scheme name.
CODERS = {
    "spline": (SplineEncoder, SplineDecoder),
    "berrut": (BerrutEncoder, BerrutDecoder),
    "lagrange": (LagrangeEncoder, LagrangeDecoder),
    "replication": (ReplicationEncoder, ReplicationDecoder),
}

__all__ = [
    "CODERS",
    "BaseDecoder",
    "BaseEncoder",
    "BerrutDecoder",
    "BerrutEncoder",
    "ExactDecoder",
    "ExactEncoder",
    "LagrangeDecoder",
    "LagrangeEncoder",
    "ReplicationDecoder",
    "ReplicationEncoder",
    "SplineDecoder",
    "SplineEncoder",
    "UncertifiedDecodeError",
    "adversary_bound",
    "replica_rows",
]
