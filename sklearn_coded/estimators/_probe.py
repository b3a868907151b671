"""The fit-time smoothness probe of the coded estimators (layer 4)."""

import warnings

import numpy as np

from ..coding import get_scheme
from ._batching import batch_groups, decode_groups, encode_groups, make_coders
from ._response import is_skorch_net
from ._torch_rng import _kept_torch_rng

#: The fit-time smoothness probe: this many batches of K training rows (at most)
#: ...
PROBE_BATCHES = 8
#: ... evaluated on a grid of this many points per coded point along the code's
#: curve. The estimator is warned about when more than ``PROBE_MAX_FLAT`` of the
#: grid steps leave every output unchanged (a piecewise-constant f: trees, k-NN,
#: forests), or when decoding the probe without stragglers is off by more than
#: ``PROBE_MAX_ERROR`` of the outputs' spread. Thresholds from the measurement in
#: the user guide ("Which estimators code well"): smooth models (linear, MLP,
#: SVC, gradient boosting) stayed below 0.39 and 0.25, trees and k-NN above 0.72.
PROBE_GRID = 4
PROBE_MAX_FLAT = 0.5
PROBE_MAX_ERROR = 0.5


class _SmoothnessProbe:
    """The coded estimators' smoothness probe (a mixin of ``_BaseCoded``)."""

    def _probe_smoothness(self, X):
        """Warn when the inner estimator's outputs are far from smooth along the code.

        Decoding is linear: it recovers f(x_k) well only where f varies smoothly
        along the code's curve u(z) through the batch. On up to
        ``PROBE_BATCHES`` batches of K training rows (a fixed draw), this
        evaluates f on a grid of ``PROBE_GRID * N`` points along the curve and
        counts the steps that leave every output unchanged (piecewise-constant
        models), and decodes the batches without stragglers to measure the
        relative error; either above its threshold gives a UserWarning naming
        the estimator and both numbers.
        """
        scheme = get_scheme(self.scheme)
        if scheme.dispatch or not scheme.probe:
            return  # its own path (layerwise), or exact for any f (replication)
        # The plain linear code: padding noise and located liars are not the model's doing.
        plan = self._coding_plan().replace(n_private=0, n_adversaries=0)
        K, N = plan.batch_size, plan.n_coded
        n_batches = min(len(X) // K, PROBE_BATCHES)
        if K < 2 or N < K or n_batches == 0:
            return  # nothing to probe; N < K is warned about at prediction time
        rows = np.sort(np.random.RandomState(0).choice(len(X), n_batches * K, replace=False))
        probe = X[rows]
        groups = batch_groups(len(probe), K, fixed_size=plan.fixed_size)
        encoder, decoder = make_coders(plan)
        response = self._worker.response
        # A skorch forward pass draws from torch's global generator (its DataLoader):
        # the probe leaves that generator as it found it.
        with np.errstate(all="ignore"), _kept_torch_rng(is_skorch_net(self.estimator_)):
            direct = response(probe)
            coded = encode_groups(probe, groups, encoder)
            results = response(coded.reshape(N * n_batches, -1)).reshape(N, n_batches, -1)
            decoded = decode_groups(
                results, np.ones((N, n_batches), dtype=bool), groups, decoder, len(probe)
            )
            spread = np.linalg.norm(direct - direct.mean(axis=0))
            error = np.linalg.norm(decoded - direct) / spread if spread > 0 else 0.0
            data = plan.points if isinstance(plan.points, str) else plan.points[0]
            fine = plan.replace(n_coded=PROBE_GRID * N, points=(data, "uniform"))
            grid = encode_groups(probe, groups, make_coders(fine)[0])
            along = response(grid.reshape(PROBE_GRID * N * n_batches, -1))
        along = along.reshape(PROBE_GRID * N, n_batches, -1)
        flat = float(np.mean(np.all(np.diff(along, axis=0) == 0, axis=2)))
        if not np.isfinite(error) or error > PROBE_MAX_ERROR or flat > PROBE_MAX_FLAT:
            name = type(self.estimator_).__name__
            warnings.warn(
                f"The outputs of {name} are far from smooth along the code: on "
                f"{len(probe)} training rows, {flat:.0%} of the steps along the code's "
                f"curve leave them unchanged (piecewise constant) and decoding without "
                f"stragglers is off by {error:.2f} of their spread. Coded predictions "
                "lose accuracy with such models (trees, k-NN, forests); prefer a smooth "
                "one (linear, kernel, neural network, gradient boosting).",
                UserWarning,
                stacklevel=3,
            )
