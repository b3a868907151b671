"""Parameter resolution of the coded estimators: their parameters as one plan (layer 4).

``_coding_plan`` maps the estimator's parameters to a
:class:`~sklearn_coded.coding.CodingPlan`, which checks them once (its errors name
the parameter and the value) and carries everything derived from them: the
points (``"auto"`` resolved by the scheme's registry entry), P, the quality floor
and, for a skorch net's coded-smoothing training, the training variant. ``fit``,
the predict path, the probe and :func:`~sklearn_coded.nn.make_coded_net` read
that one object.
"""

import numbers
from numbers import Integral

import numpy as np

from ..coding import CodingPlan, TrainingPlan, get_scheme
from ..coding._registry import resolve_auto_points
from ..execution import check_stragglers

#: The N of ``n_coded=None``, as a multiple of the batch size K.
DEFAULT_REDUNDANCY = 4


def _is_auto(points):
    return isinstance(points, str) and points == "auto"


class _CodingParameters:
    """The coded estimators' parameter resolution (a mixin of ``_BaseCoded``)."""

    def _coding_plan(self, predicting=False, training=False):
        """The :class:`CodingPlan` of the current parameters, checked once.

        ``predicting``: N below the floor is refused (at fit it is a training
        setting); ``training``: with the training variant of coded-smoothing.
        """
        K = int(self.batch_size)
        N = max(DEFAULT_REDUNDANCY * K if self.n_coded is None else int(self.n_coded), 2)
        lam_enc, lam_dec = self._smoothings()
        plan = CodingPlan(
            self.scheme,
            batch_size=K,
            n_coded=N,
            # points="auto": the scheme's measured layout (docs/code_or_replicate.rst)
            points=resolve_auto_points(
                get_scheme(self.scheme), K, N, self.n_private, self.randomized
            )
            if _is_auto(self.points)
            else self.points,
            lam_enc=lam_enc,
            lam_dec=lam_dec,
            order=self.order,
            n_private=self.n_private,
            n_adversaries=self.n_adversaries,
            noise_scale=self.noise_scale,
            max_leakage=self.max_leakage,
            signal_variance=getattr(self, "signal_variance_", None),  # None before fit
            requested_floor=self.min_results,
            stragglers=self.stragglers if isinstance(self.stragglers, Integral) else 0,
            role="predict" if predicting else "fit",
            training=self._training_plan(N, lam_enc, lam_dec) if training else None,
        )
        check_stragglers(self.stragglers, N, min_results=plan.min_results)
        return plan

    def _coding_config(self, predicting=False):
        """The plan without its training variant (the name earlier code used)."""
        return self._coding_plan(predicting)

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

    def _training_plan(self, N, lam_enc, lam_dec):
        """Coded-smoothing's training code: prediction's N and smoothing (never "gcv").

        Layout: ``"auto"`` is Chebyshev data points with fresh jittered coded
        points per batch, so that no row is coded exactly (a coded point on a
        data point, as uniform points give the two end rows, passes that row
        through); explicit points are used as given, and checked row by row in
        training.
        """
        if lam_dec == "gcv" and self.mu > 0:
            raise ValueError(
                f"smoothing={self.smoothing!r} picks the decoder's lam by GCV from the workers' "
                "results of each prediction batch; coded-smoothing training (mu > 0) needs "
                "one fixed decoder, so give the training lam as a number, e.g. "
                "smoothing=(0, 1e-4), or use mu=0."
            )
        auto = _is_auto(self.points)
        return TrainingPlan(
            n_coded=N,
            points="chebyshev" if auto else self.points,
            jitter=auto,
            lam_enc=lam_enc,
            lam_dec=0.0 if lam_dec == "gcv" else lam_dec,  # mu = 0: never used
            mu=self.mu,
            coded_loss=self.coded_loss,
        )


def _is_nonneg_number(value):
    return (
        isinstance(value, numbers.Real)
        and not isinstance(value, bool)
        and np.isfinite(value)
        and value >= 0
    )
