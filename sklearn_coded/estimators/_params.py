"""Parameter resolution of the coded estimators: the coding parameters, checked once (layer 4)."""

import numbers
from numbers import Integral

import numpy as np

from ..coding import adversary_bound
from ..execution import check_stragglers
from ..operators import DEFAULT_PRIVATE_LAYOUT, n_noise_rows
from ..operators._schemes import explicit_size
from ._config import CodingConfig

#: The N of ``n_coded=None``, as a multiple of the batch size K.
DEFAULT_REDUNDANCY = 4

#: The point family of ``points="auto"`` for each scheme, measured in
#: ``benchmarks/bench_accuracy.py``: figures in docs/benchmarks.rst, "Defaults and
#: the measurements behind them".
AUTO_POINTS = {"spline": "interior", "berrut": "uniform", "lagrange": "chebyshev"}


class _CodingParameters:
    """The coded estimators' parameter resolution (a mixin of ``_BaseCoded``)."""

    def _coding_config(self, predicting=False):
        """Resolve and cross-check the coding parameters; errors name parameter and value."""
        K = int(self.batch_size)
        N = DEFAULT_REDUNDANCY * K if self.n_coded is None else int(self.n_coded)
        N = max(N, 2)
        lam_enc, lam_dec = self._smoothings()
        points = self._points()
        if self.scheme != "spline" and (lam_enc != 0 or lam_dec != 0):
            raise ValueError(
                f"smoothing={self.smoothing!r} applies to scheme='spline' only; "
                f"scheme={self.scheme!r} interpolates: set smoothing=0."
            )
        n_data = explicit_size(points, "data")
        n_points = explicit_size(points, "coded")
        if n_data is not None and (n_data != K or K < 2):
            raise ValueError(
                f"points gives {n_data} explicit data points but batch_size={K}; they must "
                "agree (and be at least 2)."
            )
        if n_points is not None and n_points != N:
            raise ValueError(
                f"points gives {n_points} explicit coded points but n_coded={self.n_coded!r} "
                f"means N={N}; they must agree."
            )
        if self.scheme == "lagrange" and N < K:
            raise ValueError(
                f"scheme='lagrange' needs at least K=batch_size={K} results per batch, "
                f"so n_coded must be >= {K}; got n_coded={self.n_coded!r}."
            )
        min_results = self._floor(K, N, predicting)
        check_stragglers(self.stragglers, N, min_results=min_results)
        return CodingConfig(
            scheme=self.scheme,
            batch_size=K,
            n_coded=N,
            lam_enc=lam_enc,
            lam_dec=lam_dec,
            points=points,
            fixed_size=n_data is not None,
            min_results=min_results,
            order=self.order,
            n_adversaries=self.n_adversaries,
            n_private=self.n_private,
            noise_scale=self.noise_scale,
            max_leakage=self.max_leakage,
            signal_variance=getattr(self, "signal_variance_", None),
        )

    def _floor(self, K, N, predicting):
        """The quality floor: fewest results a batch is decoded from (docs/method.rst 8).

        K + P, the code's nodes (fewer do not determine the outputs even for an
        affine f; ``BaseDecoder.min_results``), K + P + 2A with ``n_adversaries``
        (the locator's bound), or ``min_results`` when given (not below those).
        With N below it (N < K, a training setting) fitting works and
        predicting raises.
        """
        P = n_noise_rows(DEFAULT_PRIVATE_LAYOUT, K, self.n_private) if self.n_private else 0
        floor = max(K + P, 2, self.order if self.scheme == "spline" else 2)
        if self.n_adversaries:  # the locator's bound (coding/_byzantine.py)
            floor = max(floor, self._check_adversaries(K, N))
        if self.min_results is not None:
            if self.min_results < floor:
                raise ValueError(
                    f"min_results={self.min_results} is below the fewest results the code "
                    f"needs per batch, {floor} (K=batch_size={K}, P={P} noise rows, "
                    f"n_adversaries={self.n_adversaries}); set it to at least {floor}."
                )
            floor = int(self.min_results)
        if floor > N:
            if predicting or self.scheme == "lagrange" or self.min_results is not None:
                raise ValueError(
                    f"n_coded={N} gives each batch at most {N} results, fewer than the "
                    f"{floor} a batch is decoded from (K=batch_size={K} rows, P={P} noise "
                    f"rows; min_results={self.min_results!r}): predict with n_coded >= "
                    f"{floor}. (N < K is a training setting of coded-smoothing.)"
                )
            return max(2, self.order)  # fit only: the training code is checked there
        return floor

    def _check_adversaries(self, K, N):
        """Results per batch the locator needs; an error naming the bound if S leaves fewer."""
        P = n_noise_rows(DEFAULT_PRIVATE_LAYOUT, K, self.n_private) if self.n_private else 0
        needed, formula = adversary_bound(K + P, self.n_adversaries)
        S = self.stragglers if isinstance(self.stragglers, Integral) else 0
        if needed > N - S:
            raise ValueError(
                f"n_adversaries={self.n_adversaries} needs N - S >= {formula} = {needed} "
                f"results per batch (K=batch_size={K}, P={P} noise rows for "
                f"n_private={self.n_private}); n_coded={N} and "
                f"stragglers={self.stragglers!r} leave {N - S}."
            )
        return needed

    def _points(self):
        """``points="auto"``: see ``AUTO_POINTS`` (interior, uniform, Chebyshev)."""
        if isinstance(self.points, str) and self.points == "auto":
            return AUTO_POINTS[self.scheme]
        return self.points

    def _smoothings(self):
        """(lam_enc, lam_dec): a number or "gcv" is the decoder's, the encoder interpolates."""
        smoothing = self.smoothing
        if isinstance(smoothing, tuple):
            if len(smoothing) != 2:
                raise ValueError(
                    f"smoothing as a tuple must be (encoder, decoder); got {smoothing!r}."
                )
            lam_enc, lam_dec = smoothing
        else:
            lam_enc, lam_dec = 0.0, smoothing
        if not _is_nonneg_number(lam_enc):
            raise ValueError(
                f"The encoder smoothing must be a number >= 0; got smoothing={smoothing!r}."
            )
        if not (_is_nonneg_number(lam_dec) or lam_dec == "gcv"):
            raise ValueError(
                f"The decoder smoothing must be a number >= 0 or 'gcv'; got "
                f"smoothing={smoothing!r}."
            )
        return (float(lam_enc), lam_dec if lam_dec == "gcv" else float(lam_dec))

    def _training_lam_dec(self, lam_dec):
        """The decoder lam of coded training: prediction's, and never "gcv"."""
        if lam_dec != "gcv":
            return lam_dec  # the pair prediction uses, as resolved by _coding_config
        if self.mu > 0:
            raise ValueError(
                f"smoothing={self.smoothing!r} picks the decoder's lam by GCV from the workers' "
                "results of each prediction batch; coded-smoothing training (mu > 0) needs "
                "one fixed decoder, so give the training lam as a number, e.g. "
                "smoothing=(0, 1e-4), or use mu=0."
            )
        return 0.0  # mu = 0: the training code is never used

    def _training_points(self):
        """Training layout: ``"auto"`` is Chebyshev data points with fresh jittered
        coded points per batch, so that no row is coded exactly (a coded point on
        a data point, as uniform points give the two end rows, passes that row
        through); explicit
        points are used as given, and checked row by row in training."""
        if isinstance(self.points, str) and self.points == "auto":
            return {"points": "chebyshev", "jitter": True}
        return {"points": self.points, "jitter": False}


def _is_nonneg_number(value):
    return (
        isinstance(value, numbers.Real)
        and not isinstance(value, bool)
        and np.isfinite(value)
        and value >= 0
    )
