"""One resolved coding plan that every layer reads (layer 2, docs/method.rst 3, 7, 8).

A :class:`CodingPlan` is built once from an estimator's (or a coder's)
parameters, validated once, and never changed: the scheme (its registry entry,
:mod:`~sklearn_coded.coding._registry`), K, N, the point layout (``"auto"``
resolved) with its data, noise and coded points, the smoothing pair and the
spline order, T and P (the noise rows of ``n_private``), A and the quality floor
(the fewest results a batch is decoded from: K + P, K + P + 2A with adversaries,
or the requested ``min_results``), and the training variant of coded-smoothing.
The coders, the estimators' predict path, the torch layer and the bounds read
these fields; none of them derives P, the order or the points again.
"""

import dataclasses
import functools
from numbers import Integral, Real
from typing import Any

import numpy as np

from ..operators import DEFAULT_PRIVATE_LAYOUT, coding_points, n_noise_rows, private_layout
from ..operators._schemes import explicit_size
from ._byzantine import adversary_bound
from ._registry import coders_of, get_scheme

#: ``role`` of a plan: a coder's own (structural checks only), or an estimator's
#: at fit (N below the floor is a training setting) or at prediction (it is refused).
ROLES = ("code", "fit", "predict")


def _is_count(value, minimum):
    return isinstance(value, Integral) and not isinstance(value, bool) and value >= minimum


def _is_lam(value, gcv=True):
    if gcv and isinstance(value, str) and value == "gcv":
        return True
    return (
        isinstance(value, Real)
        and not isinstance(value, bool)
        and bool(np.isfinite(value))
        and value >= 0
    )


@dataclasses.dataclass(frozen=True)
class TrainingPlan:
    """The code of coded-smoothing training (docs/method.rst 5): its N, points and loss.

    Parameters
    ----------
    n_coded : int
        The training N >= 2 (N < K is a training setting).
    points : str or (data, coded) pair, default="chebyshev"
        The training layout.
    jitter : bool, default=True
        Fresh jittered Chebyshev coded points per training batch.
    lam_enc, lam_dec : float, default=0.0
        The training code's smoothing (never ``"gcv"``: training needs one decoder).
    mu : float, default=0.0
        Weight of the coded loss.
    coded_loss : {"task", "consistency"}, default="consistency"
    weighting : {"convex", "additive"}, default="convex"
    """

    n_coded: int
    points: Any = "chebyshev"
    jitter: bool = True
    lam_enc: float = 0.0
    lam_dec: float = 0.0
    mu: float = 0.0
    coded_loss: str = "consistency"
    weighting: str = "convex"

    def __post_init__(self):
        if not _is_count(self.n_coded, 2):
            raise ValueError(f"n_coded must be None or an integer >= 2; got {self.n_coded!r}.")
        if not isinstance(self.jitter, bool):
            raise ValueError(f"jitter must be True or False; got {self.jitter!r}.")
        if not (_is_lam(self.lam_enc, gcv=False) and _is_lam(self.lam_dec, gcv=False)):
            raise ValueError(
                "smoothing must be a number >= 0 or a pair (lam_enc, lam_dec) of them; "
                f"got {(self.lam_enc, self.lam_dec)!r}."
            )


@dataclasses.dataclass(frozen=True)
class CodingPlan:
    """The resolved coding parameters of one code, validated once, immutable.

    Parameters
    ----------
    scheme : str, default="spline"
        A registered scheme (:func:`~sklearn_coded.coding._registry.get_scheme`).
    batch_size : int, default=16
        K, rows coded together.
    n_coded : int, default=64
        N, coded rows (workers) per batch.
    points : str or (data, coded) pair, default="chebyshev"
        The point layout, ``"auto"`` resolved.
    lam_enc, lam_dec : float or "gcv", default=0.0
        Encoder and decoder smoothing (schemes with the ``"smoothing"`` option).
    order : int, default=2
        Spline order m (schemes with the ``"order"`` option).
    n_private : int, default=0
        T, colluding workers the noise padding protects against.
    n_adversaries : int, default=0
        A, corrupted results per batch the decoder locates and drops.
    noise_scale : float or "auto", default="auto"
    max_leakage : float, default=0.25
    signal_variance : float or None, default=None
        The padding's calibration (``n_private > 0``).
    requested_floor : int or None, default=None
        An estimator's ``min_results``; None: the code's floor.
    stragglers : int, default=0
        S, workers per batch known never to answer (the adversary bound's N - S).
    role : {"code", "fit", "predict"}, default="code"
        ``"code"``: a coder's plan, checked for its own parameters only; an
        estimator's plan is cross-checked (explicit point counts against K and
        N, the floor against N: refused at ``"predict"``, a training setting at
        ``"fit"``).
    training : TrainingPlan or None, default=None
        The training variant (coded-smoothing).

    Attributes
    ----------
    fixed_size : bool
        Explicit data points fix K: the last batch is padded to K.
    n_noise : int
        P, the noise rows of ``n_private`` at batch size K (0 without).
    min_results : int
        The quality floor: fewest results a batch is decoded from (docs/method.rst 8).

    Examples
    --------
    >>> from sklearn_coded.coding import CodingPlan
    >>> plan = CodingPlan("spline", batch_size=16, n_coded=64, n_private=2, n_adversaries=1)
    >>> plan.n_noise, plan.min_results, plan.noise_points.shape
    (17, 35, (17,))
    """

    scheme: str = "spline"
    batch_size: int = 16
    n_coded: int = 64
    points: Any = "chebyshev"
    lam_enc: Any = 0.0
    lam_dec: Any = 0.0
    order: int = 2
    n_private: int = 0
    n_adversaries: int = 0
    noise_scale: Any = "auto"
    max_leakage: float = 0.25
    signal_variance: Any = None
    requested_floor: int | None = None
    stragglers: int = 0
    role: str = "code"
    training: TrainingPlan | None = None
    fixed_size: bool = dataclasses.field(init=False)
    n_noise: int = dataclasses.field(init=False)
    min_results: int = dataclasses.field(init=False)

    def __post_init__(self):
        scheme = get_scheme(self.scheme)
        if self.role not in ROLES:
            raise ValueError(f"role must be one of {ROLES}; got {self.role!r}.")
        for name, minimum in (("batch_size", 1), ("n_coded", 2), ("order", 1)):
            if not _is_count(getattr(self, name), minimum):
                raise ValueError(
                    f"{name} must be an integer >= {minimum}; got {getattr(self, name)!r}."
                )
        for name in ("n_private", "n_adversaries", "stragglers"):
            if not _is_count(getattr(self, name), 0):
                raise ValueError(f"{name} must be an integer >= 0; got {getattr(self, name)!r}.")
        self._check_options(scheme)
        n_data = explicit_size(self.points, "data")
        object.__setattr__(self, "fixed_size", n_data is not None)
        P = n_noise_rows(DEFAULT_PRIVATE_LAYOUT, self.batch_size, self.n_private)
        object.__setattr__(self, "n_noise", P if self.n_private else 0)
        if self.role != "code":
            self._check_sizes(scheme, n_data)
        object.__setattr__(self, "min_results", self._floor(scheme))

    # ----------------------------------------------------------------- checks
    def _check_options(self, scheme):
        """A scheme refuses the options that do not apply to it, naming them."""
        if "order" not in scheme.options and self.order != 2:
            raise ValueError(
                f"order={self.order!r} applies to scheme='spline' only; got scheme={self.scheme!r}."
            )
        if "smoothing" not in scheme.options and (self.lam_enc != 0 or self.lam_dec != 0):
            spec = self.lam_dec if self.lam_enc == 0 else (self.lam_enc, self.lam_dec)
            raise ValueError(
                f"smoothing={spec!r} applies to scheme='spline' only; scheme="
                f"{self.scheme!r} interpolates: set smoothing=0."
            )
        for name in ("lam_enc", "lam_dec"):
            if not _is_lam(getattr(self, name)):
                raise ValueError(
                    f"smoothing must be a number >= 0 or 'gcv'; got {name}={getattr(self, name)!r}."
                )

    def _check_sizes(self, scheme, n_data):
        """Explicit point counts against K and N; N >= K where decoding needs every node."""
        K, N = self.batch_size, self.n_coded
        n_points = explicit_size(self.points, "coded")
        if n_data is not None and (n_data != K or K < 2):
            raise ValueError(
                f"points gives {n_data} explicit data points but batch_size={K}; they must "
                "agree (and be at least 2)."
            )
        if n_points is not None and n_points != N:
            raise ValueError(
                f"points gives {n_points} explicit coded points but n_coded={N}; they must agree."
            )
        if scheme.needs_all_nodes and N < K:
            raise ValueError(
                f"scheme={self.scheme!r} needs at least K=batch_size={K} results per batch, "
                f"so n_coded must be >= {K}; got n_coded={N}."
            )

    def _floor(self, scheme):
        """The quality floor (docs/method.rst 8): K + P, K + P + 2A, or ``requested_floor``.

        With N below it an estimator's plan at ``"fit"`` is a training setting
        (the floor becomes the spline's own minimum, max(2, m)); at
        ``"predict"`` it is refused.
        """
        K, N, P, A = self.batch_size, self.n_coded, self.n_noise, self.n_adversaries
        floor = scheme.floor(self)
        if A:  # the locator's bound, K + P + 2A (coding/_byzantine.py)
            floor = max(floor, self.adversary_bound)
        if self.role == "code":
            return floor
        if A:
            self._check_adversaries()
        wanted = self.requested_floor
        if wanted is not None:
            if wanted < floor:
                raise ValueError(
                    f"min_results={wanted} is below the fewest results the code "
                    f"needs per batch, {floor} (K=batch_size={K}, P={P} noise rows, "
                    f"n_adversaries={A}); set it to at least {floor}."
                )
            floor = int(wanted)
        if floor > N:
            if self.role == "predict" or scheme.needs_all_nodes or wanted is not None:
                raise ValueError(
                    f"n_coded={N} gives each batch at most {N} results, fewer than the "
                    f"{floor} a batch is decoded from (K=batch_size={K} rows, P={P} noise "
                    f"rows; min_results={wanted!r}): predict with n_coded >= "
                    f"{floor}. (N < K is a training setting of coded-smoothing.)"
                )
            return max(2, self.order)  # fit only: the training code is checked there
        return floor

    def _check_adversaries(self):
        """An error naming the bound K + P + 2A if N - S leaves fewer results."""
        K, P, S = self.batch_size, self.n_noise, self.stragglers
        needed, formula = adversary_bound(K + P, self.n_adversaries)
        if needed > self.n_coded - S:
            raise ValueError(
                f"n_adversaries={self.n_adversaries} needs N - S >= {formula} = {needed} "
                f"results per batch (K=batch_size={K}, P={P} noise rows for "
                f"n_private={self.n_private}); n_coded={self.n_coded} and "
                f"stragglers={S} leave {self.n_coded - S}."
            )

    # ----------------------------------------------------------------- derived
    @property
    def adversary_bound(self):
        """K + P + 2A, the results the locator needs (K + P without adversaries)."""
        return adversary_bound(self.batch_size + self.n_noise, self.n_adversaries)[0]

    def layout(self, n_samples=None, n_coded=None):
        """``(alpha, nu, beta)``: data, noise and coded points for k rows and n workers.

        Defaults K and N; nu is empty without ``n_private``. Both coders read
        their points here, so they agree.
        """
        k = self.batch_size if n_samples is None else int(n_samples)
        n = self.n_coded if n_coded is None else int(n_coded)
        if self.n_private:
            gap = get_scheme(self.scheme).private_gap
            return private_layout(self.points, k, self.n_private, n, gap=gap)
        alpha, beta = coding_points(self.points, k, n)
        return alpha, np.zeros(0), beta

    @functools.cached_property
    def _points(self):
        return self.layout()

    @property
    def data_points(self):
        """alpha (K,)."""
        return self._points[0]

    @property
    def noise_points(self):
        """nu (P,)."""
        return self._points[1]

    @property
    def coded_points(self):
        """beta (N,)."""
        return self._points[2]

    @property
    def training_scheme(self):
        """The scheme coded-smoothing trains with (the registry's ``training_scheme``)."""
        return get_scheme(self.scheme).training_scheme or self.scheme

    def operator_params(self):
        """The scheme's keyword arguments of :func:`~sklearn_coded.operators.coding_operator`."""
        return {"order": self.order} if "order" in get_scheme(self.scheme).options else {}

    def coders(self):
        """``(encoder(), decoder(k))``: unfitted layer-2 coder factories of this plan.

        The padding rows (``n_private > 0``) are drawn from the operating
        system's secret source; the noise is calibrated to ``max_leakage`` for
        ``signal_variance``; the leakage budget is the estimator's (none here).
        """
        encoder_cls, decoder_cls = coders_of(self.scheme)
        options = get_scheme(self.scheme).options
        enc_kw, dec_kw = {}, {}
        if "smoothing" in options:
            enc_kw["smoothing"], dec_kw["smoothing"] = self.lam_enc, self.lam_dec
        if "order" in options:
            enc_kw["order"] = dec_kw["order"] = self.order
        if self.n_private:
            enc_kw.update(
                n_private=self.n_private,
                noise_scale=self.noise_scale,
                max_leakage=self.max_leakage,
                covariance=self.signal_variance,
                leakage_budget=None,  # the estimator keeps one budget over all its requests
            )
            dec_kw.update(n_private=self.n_private)
        if self.n_adversaries:
            dec_kw.update(n_adversaries=self.n_adversaries)

        def encoder():
            return encoder_cls(self.n_coded, points=self.points, **enc_kw)

        def decoder(n_samples):
            return decoder_cls(n_samples, points=self.points, **dec_kw)

        return encoder, decoder

    def training_code(self):
        """The plan of the training code: K, the training N, points and smoothing."""
        if self.training is None:
            raise ValueError("This plan has no training variant (training=None).")
        t = self.training
        return CodingPlan(
            self.scheme,
            batch_size=self.batch_size,
            n_coded=t.n_coded,
            points=t.points,
            lam_enc=t.lam_enc,
            lam_dec=t.lam_dec,
            order=self.order,
            training=t,
        )

    def replace(self, **changes):
        """A new plan with ``changes`` (validated again), e.g. ``plan.replace(n_private=0)``."""
        return dataclasses.replace(self, **changes)
