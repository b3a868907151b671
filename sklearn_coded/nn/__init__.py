"""Layer 5, the torch layer: coding operators as buffers and coded-smoothing training.

Needs torch and skorch (the ``torch`` extra); ``import sklearn_coded`` does not
import this package.

- :class:`CodedSmoothing`: encoder E (N, K) and decoder D (K, N) as buffers, and
  the decoded outputs ``D f(E h)`` of a batch (docs/method.rst sections 3, 5).
- :func:`coded_block`, :func:`coded_forward`: code a named submodule of a network
  (forward hooks) in a hand-written training loop.
- :class:`RandomizedCodedModule`: randomized coded inference as a differentiable
  module, for attacks (docs/method.rst section 6).
- :func:`coded_smoothing_loss`: the coded-smoothing loss of a batch, for any torch
  training loop (docs/method.rst section 5).
- :func:`frechet_distance`, :func:`inception_score`: offline evaluation of
  generated samples from the features and logits of a classifier.
- :func:`make_coded_net`, :func:`coded_net_class`, :class:`CodedSmoothingMixin`:
  skorch nets trained on ``L = (1 - mu) L_main + mu L_coded`` (docs/method.rst section 5).
"""

from ._coding import (
    CodedSmoothing,
    RandomizedCodedModule,
    coded_block,
    coded_forward,
)
from ._loss import CODED_LOSSES, CodedLoss, coded_smoothing_loss
from ._metrics import frechet_distance, inception_score
from ._skorch import CodedSmoothingMixin, coded_net_class, make_coded_net

__all__ = [
    "CODED_LOSSES",
    "CodedLoss",
    "CodedSmoothing",
    "CodedSmoothingMixin",
    "RandomizedCodedModule",
    "coded_block",
    "coded_forward",
    "coded_net_class",
    "coded_smoothing_loss",
    "frechet_distance",
    "inception_score",
    "make_coded_net",
]
