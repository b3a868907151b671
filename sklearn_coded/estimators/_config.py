"""The resolved coding parameters of one prediction, as one small object (layer 4).

:meth:`_BaseCoded._coding_config` resolves and cross-checks the estimator's
parameters once and returns a :class:`CodingConfig`; ``fit``, the predict path
and :func:`~._batching.make_coders` read their fields from it. A new coding
parameter is a new field (with a default, so existing constructions still work).
"""

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class CodingConfig:
    """Coding parameters resolved from a coded estimator's hyperparameters.

    Attributes
    ----------
    scheme : str
        ``"spline"``, ``"berrut"`` or ``"lagrange"``.
    batch_size : int
        K, rows coded together.
    n_coded : int
        N, coded rows (workers) per batch.
    lam_enc : float
        Encoder smoothing (spline only).
    lam_dec : float or "gcv"
        Decoder smoothing (spline only).
    points : str, tuple or list
        The point layout, ``"auto"`` resolved.
    fixed_size : bool
        Explicit data points fix K: the last batch is padded to K.
    min_results : int
        Fewest surviving workers one batch needs to decode.
    order : int, default=2
        Spline order m (spline only).
    n_adversaries : int, default=0
        A, corrupted results per batch the decoder locates and drops.
    n_private : int, default=0
        T, colluding workers the encoder's noise padding protects against.
    noise_scale : float or "auto", default="auto"
        Standard deviation of the padding rows (``n_private > 0``); "auto"
        calibrates it to ``max_leakage``.
    max_leakage : float, default=0.25
        The colluders' R^2 target the noise is calibrated to (``n_private > 0``).
    signal_variance : float or None, default=None
        lambda_max of the training data's column covariance, estimated at fit.

    Examples
    --------
    >>> from sklearn_coded.estimators._config import CodingConfig
    >>> config = CodingConfig("spline", 16, 64, 0.0, 0.0, "uniform", False, 2)
    >>> config.n_coded, config.min_results
    (64, 2)
    """

    scheme: str
    batch_size: int
    n_coded: int
    lam_enc: float
    lam_dec: Any
    points: Any
    fixed_size: bool
    min_results: int
    order: int = 2
    n_adversaries: int = 0
    n_private: int = 0
    noise_scale: Any = "auto"
    max_leakage: float = 0.25
    signal_variance: Any = None
