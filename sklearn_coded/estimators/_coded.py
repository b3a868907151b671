"""Straggler-resilient coded prediction around any estimator (layer 4, docs/method.rst 3 and 6).

``CodedClassifier`` and ``CodedRegressor`` fit the wrapped estimator plainly
(or, with ``mu > 0`` and a skorch net, with coded-smoothing, docs/method.rst 5) and
predict through the coded pipeline

    batch of K rows --E--> N coded rows --f on N workers--> results --D_F--> K rows

where E and D_F are the layer-2 encoder and decoder of ``scheme`` and F is the
set of workers that returned. One output row per input row, so both estimators
sit in a Pipeline, GridSearchCV and cross_val_score like their inner estimator.
"""

import contextlib
import dataclasses
import numbers
import time
import warnings
import weakref
from numbers import Integral, Real

import numpy as np
from scipy.special import log_softmax
from sklearn.base import BaseEstimator, ClassifierMixin, MetaEstimatorMixin, RegressorMixin, clone
from sklearn.utils import check_random_state, get_tags
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from .._public_init import own_init
from .._sklearn_compat import Interval, StrOptions, _fit_context
from ..coding import adversary_bound
from ..coding._private import signal_variance
from ..execution import check_stragglers, run_workers
from ..execution._run import run_drawn, simulated_deadline
from ..operators import (
    DEFAULT_PRIVATE_LAYOUT,
    EXACT_CODES,
    POINT_FAMILIES,
    SCHEMES,
    n_noise_rows,
)
from ..operators._privacy import LeakageLedger, resolve_budget
from ..operators._schemes import explicit_size
from ._batching import (
    Codec,
    batch_groups,
    chunk_layout,
    decode_groups,
    decode_request,
    encode_groups,
    encode_request,
    make_coders,
    request_layout,
)
from ._config import CodingConfig
from ._diagnostics import UNCERTIFIED_POLICIES, Diagnostics, RequestDiagnostics, apply_policy
from ._replicas import refuse_lost_rows, replica_stop
from ._response import (
    DECISION_SPACES,
    SCORE_SPACES,
    WorkerResponse,
    classifier_space,
    has_method,
    is_skorch_net,
    renormalize_proba,
    scores_to_proba,
)

FLOAT_DTYPES = (np.float64, np.float32)

#: The N of ``n_coded=None``, as a multiple of the batch size K.
DEFAULT_REDUNDANCY = 4

#: The point family of ``points="auto"`` for each scheme, measured in
#: ``benchmarks/bench_accuracy.py``: figures in docs/benchmarks.rst, "Defaults and
#: the measurements behind them".
AUTO_POINTS = {"spline": "interior", "berrut": "uniform", "lagrange": "chebyshev"}
AUTO_POINTS["replication"] = "uniform"  # unused: replication has no points

#: ``predict`` streams its input through encode -> workers -> decode in chunks
#: of whole batches whose coded rows (all draws) take at most about this many
#: bytes, so that its peak memory is bounded by a chunk, not by the input
#: (measured in ``benchmarks/bench_execution.py``). Each chunk is one request
#: to the workers (one task per worker).
PREDICT_CHUNK_BYTES = 32 * 2**20

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

#: ``fit`` estimates the data covariance of the leakage bound (``n_private``) from at
#: most this many training rows (a fixed draw), plus three standard errors of the
#: variance along the top eigenvector (digits, 1000 rows: a margin of 13%).
PRIVACY_COVARIANCE_ROWS = 2000

_SMOOTHING = [Interval(Real, 0, None, closed="left"), StrOptions({"gcv"}), tuple]


def _inner_has(name):
    """``available_if`` check: the (fitted, else unfitted) inner estimator has ``name``."""

    def check(self):
        return has_method(getattr(self, "estimator_", self.estimator), name)

    return check


class _BaseCoded(MetaEstimatorMixin, BaseEstimator):
    """Fit, parameter checks and the coded prediction shared by both estimators."""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        own_init(cls)  # an inherited __init__, named after the public class

    _parameter_constraints: dict = {
        "estimator": "no_validation",  # checked in fit: needs fit and predict
        "scheme": [StrOptions({*SCHEMES, "layerwise", "replication"})],
        "n_coded": [Interval(Integral, 2, None, closed="left"), None],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "smoothing": _SMOOTHING,
        "order": [Interval(Integral, 1, None, closed="left")],
        "points": [StrOptions({"auto", *POINT_FAMILIES, *EXACT_CODES}), tuple, list],
        "stragglers": "no_validation",  # checked by execution.check_stragglers
        "executor": "no_validation",  # any concurrent.futures.Executor or dask Client
        "randomized": ["boolean"],
        "n_draws": [Interval(Integral, 1, None, closed="left")],
        "mu": [Interval(Real, 0, 1, closed="both")],
        "coded_loss": [StrOptions({"task", "consistency"})],
        "timeout": [Interval(Real, 0, None, closed="neither"), None],
        "random_state": ["random_state"],
        "n_adversaries": [Interval(Integral, 0, None, closed="left")],
        "n_private": [Interval(Integral, 0, None, closed="left")],
        "noise_scale": [Interval(Real, 0, None, closed="left"), StrOptions({"auto"})],
        "max_leakage": [Interval(Real, 0, 1, closed="right")],
        "leakage_budget": [Interval(Real, 0, 1, closed="right"), StrOptions({"auto"}), None],
        "adversaries": "no_validation",  # checked by execution.check_adversaries
        "min_results": [Interval(Integral, 2, None, closed="left"), None],
        "on_uncertified": [StrOptions(set(UNCERTIFIED_POLICIES))],
    }

    def __init__(
        self,
        estimator,
        *,
        scheme="spline",
        n_coded=None,
        batch_size=16,
        smoothing=0.0,
        order=2,
        points="auto",
        stragglers=0,
        executor=None,
        randomized=False,
        n_draws=1,
        mu=0.0,
        coded_loss="consistency",
        timeout=None,
        random_state=None,
        n_adversaries=0,
        n_private=0,
        noise_scale="auto",
        max_leakage=0.25,
        leakage_budget="auto",
        adversaries=None,
        min_results=None,
        on_uncertified="raise",
    ):
        self.estimator = estimator
        self.scheme = scheme
        self.n_coded = n_coded
        self.batch_size = batch_size
        self.smoothing = smoothing
        self.order = order
        self.points = points
        self.stragglers = stragglers
        self.executor = executor
        self.randomized = randomized
        self.n_draws = n_draws
        self.mu = mu
        self.coded_loss = coded_loss
        self.timeout = timeout
        self.random_state = random_state
        self.n_adversaries = n_adversaries
        self.n_private = n_private
        self.noise_scale = noise_scale
        self.max_leakage = max_leakage
        self.leakage_budget = leakage_budget
        self.adversaries = adversaries
        self.min_results = min_results
        self.on_uncertified = on_uncertified

    # ------------------------------------------------------------------ checks
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
        if self.scheme == "replication":  # a row needs its own replica; lost rows refused
            floor = 1
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

    def _check_estimator(self):
        est = self.estimator
        if not (has_method(est, "fit") and has_method(est, "predict")):
            raise TypeError(
                f"estimator must be an estimator with fit and predict; got estimator={est!r}."
            )

    # --------------------------------------------------------------------- fit
    def _fit(self, X, y, fit_params):
        self._check_estimator()
        _SERVING.pop(self, None)  # a refit resolves the serving state anew
        if self.scheme == "layerwise":  # exact layer-wise inference (nn/_layerwise.py)
            from ._layerwise import fit_layerwise

            return fit_layerwise(self, X, y, fit_params)
        config = self._coding_config()  # resolves and cross-checks the coding parameters
        rng = check_random_state(self.random_state)
        seed = int(rng.randint(np.iinfo(np.int32).max))
        estimator = clone(self.estimator)
        skorch = is_skorch_net(estimator)
        if skorch:  # skorch's dtype rules (architecture.md): float32 inputs
            X = X.astype(np.float32, copy=False)
        if self.mu > 0 and not skorch:
            raise ValueError(
                f"mu={self.mu!r} > 0 trains with coded-smoothing, which needs a skorch "
                f"net as estimator; got {type(estimator).__name__}. Use mu=0 to fit it "
                "plainly."
            )
        if skorch:
            from ..nn import CodedSmoothingMixin, make_coded_net  # layer 5; only when used

        if skorch and isinstance(estimator, CodedSmoothingMixin):
            # A coded-smoothing net keeps its own training code (its K, N, mu): the
            # training N and the prediction N (n_coded here) are separate settings.
            if self.mu > 0:
                raise ValueError(
                    f"mu={self.mu!r} > 0 with a coded-smoothing net as estimator: its "
                    f"training is set on the net (mu={estimator.mu!r}, "
                    f"n_coded={estimator.n_coded!r}); set mu on the net and leave "
                    f"{type(self).__name__}'s mu at 0."
                )
        elif skorch:
            # Every skorch net trains on batches of K rows, mu = 0 included (skorch's
            # own training step), so a grid over mu compares like with like.
            estimator = make_coded_net(
                estimator,
                n_coded=config.n_coded,
                batch_size=config.batch_size,
                mu=self.mu,
                coded_loss=self.coded_loss,
                scheme="spline" if self.scheme == "replication" else self.scheme,
                smoothing=(config.lam_enc, self._training_lam_dec(config.lam_dec)),
                order=self.order,
                random_state=seed,
                **self._training_points(),
            )
        with _seeded_torch(seed if skorch and self.random_state is not None else None):
            estimator.fit(X, y, **fit_params)
        self.estimator_ = estimator
        self._fit_privacy(X)
        self.diagnostics_ = Diagnostics()
        return self

    def _fit_privacy(self, X):
        """The data covariance the leakage bound assumes, and a fresh leakage budget.

        ``signal_variance_``: the largest eigenvalue of the training rows' column
        covariance (at most ``PRIVACY_COVARIANCE_ROWS`` of them, a fixed draw), with
        the margin of :func:`~sklearn_coded.coding._private.signal_variance`; kept
        even when ``n_private=0`` so that ``set_params(n_private=T)`` after fit works.
        With ``n_private > 0`` the noise is calibrated here once, so that a target
        that cannot be met is refused at fit.
        """
        if len(X) > PRIVACY_COVARIANCE_ROWS:
            rows = np.random.RandomState(0).choice(len(X), PRIVACY_COVARIANCE_ROWS, replace=False)
            X = X[np.sort(rows)]
        self._leakage_ledger = None
        try:
            self.signal_variance_ = signal_variance(None, X, X.shape[1])
        except (ValueError, np.linalg.LinAlgError):  # fewer than 2 rows, or constant ones
            if self.n_private:
                raise ValueError(
                    f"n_private={self.n_private} scales its noise to the training rows' "
                    f"covariance, but the {len(X)} training row(s) do not vary."
                ) from None
            self.signal_variance_ = None
        if self.n_private:
            config = self._coding_config()
            encoder = make_coders(config)[0]().fit(X[: config.batch_size])
            self.noise_scale_, self.leakage_ = encoder.noise_scale_, encoder.leakage_

    def _charge_leakage(self, X, config, encoder):
        """Charge every row of a request its colluders' information; refuse past the budget.

        Eq. (R) of ``operators/_privacy.py``: each coded view of a row adds its
        ``q = lambda_max Q / sigma^2`` at its position in its batch (the worst
        position when ``randomized``), ``n_draws`` times; a row repeated inside
        the request, or padded into its batch, is charged for every copy. Nothing
        is sent when a row would pass ``leakage_budget``.
        """
        budget = resolve_budget(self.leakage_budget, config.max_leakage)
        if not config.n_private or budget is None:
            return
        q_rows = np.zeros(len(X))
        for group in batch_groups(
            len(X), config.batch_size, fixed_size=config.fixed_size, min_size=max(2, config.order)
        ):
            k = group.size
            q = encoder().fit(X[group.slots[0]]).leakage_information(k)
            q = np.full(k, q.max()) if self.randomized else q
            np.add.at(q_rows, group.slots, self.n_draws * q[None, :])
        # One budget per fitted model (fit starts a new one).
        if getattr(self, "_leakage_ledger", None) is None:
            self._leakage_ledger = LeakageLedger(budget)
        self._leakage_ledger.budget = budget
        self._leakage_ledger.charge(X, q_rows)

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

    # ----------------------------------------------------------------- predict
    def _coded_response(self, X):
        """Decoded outputs of the inner estimator, shape (n_samples, n_outputs).

        For each batch: encode (``X_coded = E X``), run f on the N coded rows,
        decode the survivors (``Y_hat = D_F Y[F]``), all per docs/method.rst 3; with
        ``randomized`` the rows are permuted before encoding and un-permuted after
        decoding (docs/method.rst 6), and ``n_draws`` decoded outputs are averaged.
        """
        if self.scheme == "layerwise":  # exact layer-wise inference (nn/_layerwise.py)
            from ._layerwise import layerwise_response

            return layerwise_response(self, X)
        check_is_fitted(self)
        config, codec = self._serving_state()  # validated once per parameter setting
        X = validate_data(self, X, reset=False, dtype=FLOAT_DTYPES)
        K, N = config.batch_size, config.n_coded
        rng = check_random_state(self.random_state)
        n_samples, n_features = X.shape
        # The request's layout (and in process its stragglers) is drawn once, before
        # it is cut into chunks: chunked and one-pass predictions are the same.
        layout = request_layout(
            n_samples,
            K,
            n_draws=self.n_draws,
            fixed_size=config.fixed_size,
            rng=rng if self.randomized else None,
            min_size=max(2, config.order),
        )
        if self.executor is None:
            n_columns = self.n_draws * sum(g.slots.shape[0] for g in layout[0])
            model = check_stragglers(self.stragglers, N, min_results=config.min_results)
            model = simulated_deadline(model, self.timeout)  # the hard limit, simulated
            missing = model.draw_missing(N, n_columns, rng)
        # padding rows (n_private > 0): fresh per batch, from the secret source
        encoder, decoder = make_coders(config)
        self._charge_leakage(X, config, encoder)  # before anything is sent
        fast_decode = config.lam_dec != "gcv" and not config.n_adversaries
        shift_free = getattr(self, "response_", None) in SCORE_SPACES  # classes' scores
        # Whole batches per chunk, so the chunks cut the input exactly as one pass would.
        per_batch = self.n_draws * N * n_features * X.dtype.itemsize
        chunk = K * max(1, PREDICT_CHUNK_BYTES // per_batch)
        decoded = None
        # per-batch diagnostics over the chunks (docs/method.rst 8)
        n_used, refused, below, reasons, decode_s = [], [], [], {}, 0.0
        raising = self.on_uncertified == "raise"
        for start in range(0, n_samples, chunk):
            stop = min(start + chunk, n_samples)
            rows = X[start:stop]
            groups, columns = chunk_layout(layout, K, start, stop)
            if config.n_private:
                coded = encode_groups(rows, groups, encoder)
            else:
                coded = encode_request(rows, groups, codec)
            if self.executor is None:  # f once on all coded rows, the request's mask
                results, returned = run_drawn(
                    self._worker,
                    "response",
                    coded,
                    missing[:, columns],
                    # "raise": the package's error below the floor; "nan": NaN rows
                    min_results=config.min_results if raising else 1,
                    adversaries=self.adversaries,
                    rng=rng,
                )
            else:
                results, returned = run_workers(
                    self._worker,  # one object per fit: a dask client scatters it once
                    "response",
                    coded,
                    executor=self.executor,
                    stragglers=self.stragglers,
                    # "raise": wait for the floor (to the timeout), else the package's error
                    min_results=config.min_results if raising else 1,
                    random_state=rng,
                    timeout=self.timeout,
                    adversaries=self.adversaries,
                    tasks="auto",  # one task per physical worker, rows interleaved
                    enough=replica_stop(groups, N, config.n_adversaries)
                    if config.scheme == "replication"  # the first replica of every row
                    else None,
                )
            report = {}
            tic = time.perf_counter()
            n_ok = (returned & np.isfinite(results).all(axis=2)).sum(axis=0)
            if fast_decode and n_ok.min() >= config.min_results:  # every batch above the floor
                part = decode_request(results, returned, groups, codec, len(rows))
                report.update(
                    n_used=n_ok,
                    certified=np.ones(n_ok.size, dtype=bool),
                    below_floor=np.zeros(n_ok.size, dtype=bool),
                    reasons={},
                )
            else:  # located liars, GCV, or batches below the floor (refused: NaN rows)
                part = decode_groups(
                    results,
                    returned,
                    groups,
                    decoder,
                    len(rows),
                    shift_free=shift_free,
                    floor=config.min_results,
                    report=report,
                )
            refuse_lost_rows(part, groups, report)  # a NaN row is never returned as decoded
            decode_s += time.perf_counter() - tic
            offset = sum(u.size for u in n_used)
            n_used.append(report["n_used"])
            refused.append(offset + np.flatnonzero(~report["certified"]))
            below.append(offset + np.flatnonzero(report["below_floor"]))
            reasons.update({offset + b: why for b, why in report["reasons"].items()})
            if decoded is None:
                decoded = np.empty((n_samples, part.shape[1]))
            decoded[start:stop] = part
        n_used = np.concatenate(n_used)
        refused, below = np.concatenate(refused), np.concatenate(below)
        request = RequestDiagnostics(
            n_samples=n_samples,
            floor=config.min_results,
            results_used=n_used,
            below_floor=below,
            uncertified=refused,
            reasons=reasons,
            decode_seconds=decode_s,
        )
        if not hasattr(self, "diagnostics_"):  # fitted before diagnostics existed
            self.diagnostics_ = Diagnostics()
        self.diagnostics_.requests.append(request)  # same object: predict changes no attribute
        return apply_policy(decoded / self.n_draws, request, self.on_uncertified)

    def _serving_state(self):
        """(CodingConfig, Codec) for the current parameters, kept while they stay the same.

        ``set_params`` after fit is allowed (the coding parameters are read at
        prediction time), so the parameters are validated again whenever one
        of them changed; a request with the same parameters as the last one
        reuses the validated configuration and its cached operators. The
        state lives beside the estimator (``_SERVING``), not in it: pickles,
        clones and ``__dict__`` stay as they were.
        """
        names = _PARAM_NAMES.get(type(self))
        if names is None:  # inspect.signature once per class, not per request
            names = _PARAM_NAMES[type(self)] = tuple(self._get_param_names())
        key = tuple(_param_key(getattr(self, name)) for name in names)
        state = _SERVING.get(self)
        if state is not None and state[0] == key:
            return state[1], state[2]
        self._validate_params()  # coding parameters may have been set after fit
        config = self._coding_config(predicting=True)
        codec = Codec(config)
        _SERVING[self] = (key, config, codec)
        return config, codec

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
        if self.scheme in ("layerwise", "replication"):
            return  # exact for any f (while a replica arrives): nothing to probe
        # The plain linear code: padding noise and located liars are not the model's doing.
        config = dataclasses.replace(self._coding_config(), n_private=0, n_adversaries=0)
        K, N = config.batch_size, config.n_coded
        n_batches = min(len(X) // K, PROBE_BATCHES)
        if K < 2 or N < K or n_batches == 0:
            return  # nothing to probe; N < K is warned about at prediction time
        rows = np.sort(np.random.RandomState(0).choice(len(X), n_batches * K, replace=False))
        probe = X[rows]
        groups = batch_groups(len(probe), K, fixed_size=config.fixed_size)
        encoder, decoder = make_coders(config)
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
            data = config.points if isinstance(config.points, str) else config.points[0]
            fine = dataclasses.replace(config, n_coded=PROBE_GRID * N, points=(data, "uniform"))
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

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = False  # coded rows are dense combinations of rows
        tags.input_tags.allow_nan = False
        # Secret padding (issue 16.1): two predictions of the same rows differ.
        tags.non_deterministic = bool(self.n_private)
        return tags


class CodedClassifier(ClassifierMixin, _BaseCoded):
    """Classifier whose predictions go through a straggler-resilient code.

    ``fit`` clones ``estimator`` into ``estimator_`` and fits it (plainly, or
    with coded-smoothing when ``mu > 0`` and the estimator is a skorch net).
    ``predict`` cuts the rows into batches of K = ``batch_size``, encodes each
    batch into N = ``n_coded`` coded rows, lets N workers evaluate the inner
    estimator on them (through :func:`sklearn_coded.execution.run_workers`, with
    ``stragglers`` of them not returning), decodes the K outputs from the
    survivors, and predicts the class of largest decoded score.

    Decoding is linear, so it runs in a smooth output space, fixed at fit time in
    ``response_``: the logits of a skorch net trained with ``CrossEntropyLoss``
    (``"logits"``; ``BCEWithLogitsLoss`` nets: ``"binary_logits"``), else the inner
    ``decision_function``, else ``log(predict_proba)`` (``"log_proba"``).
    ``predict`` takes the class of largest decoded score, and ``predict_proba``
    is its softmax (sigmoid for one column): a proper distribution, and exactly
    the inner probabilities for multinomial-logistic models (LogisticRegression,
    MLPClassifier, skorch nets) when the code is exact.

    Log-probabilities are the logits minus a per-row constant; a decoder row
    acts on every output column alike, so it maps that constant to a per-row
    constant, and softmax and argmax of decoded log-probabilities equal those of
    decoded logits exactly. Decoding probabilities instead is worse, measured in
    ``benchmarks/bench_accuracy.py`` (spline code, K = 16, N in {1.5K, 2K, 4K},
    S in {0, 10%, 20%} of N): argmax agreement with the model 0.984 (logits) vs
    0.968 (probabilities) for an MLP on digits, 0.955 vs 0.932 for a LeNet-5 on
    Fashion-MNIST; RMSE of the probabilities 0.031 vs 0.061 and 0.038 vs 0.058.

    Parameters
    ----------
    estimator : estimator object
        A classifier with ``fit`` and ``predict`` and a continuous output
        (``decision_function`` or ``predict_proba``, or a skorch net): a
        Pipeline, an MLPClassifier, a skorch ``NeuralNetClassifier``. Inputs
        must be numeric: coded rows are linear combinations of rows.
    scheme : {"spline", "berrut", "lagrange", "layerwise", "replication"}, default="spline"
        The code: LeTCC smoothing splines, BACC (Berrut rational interpolation)
        or real-field Lagrange (LCC), docs/method.rst 3-4; ``"layerwise"``: a skorch
        net's Linear/Conv layers on coded workers, decoded exactly layer by layer
        (``points`` names the exact code, see :ref:`security`); ``"replication"``:
        every row to floor or ceil of N/K workers, the first replica that
        arrives used, a row with no replica left refused (``on_uncertified``).
    n_coded : int or None, default=None
        N >= 2, the number of coded rows (workers) per batch; None means
        ``4 * batch_size``. ``scheme="lagrange"`` needs ``n_coded >= batch_size``.
    batch_size : int, default=16
        K >= 1, rows coded together; a skorch net also trains on batches of K
        rows (K >= 2), whatever mu, so that mu = 0 is the baseline. The last
        batch of r < K rows uses a code for r rows with the same N workers; a
        batch of a single row is coded as two copies of it (decoded exactly up
        to rounding). With explicit data points, which fix K, the last batch is
        padded by repeating its last row.
    smoothing : float, "gcv" or (float, float or "gcv"), default=0.0
        Spline only. A number lam >= 0 (docs/method.rst scale) or ``"gcv"`` is the
        *decoder's* smoothing; the encoder then interpolates (lam_enc = 0). A
        pair sets ``(lam_enc, lam_dec)``. ``"gcv"`` picks one lam per batch from
        the survivors' results by generalised cross-validation; use it when the
        workers' results are noisy and N is well above K (measured: it beats
        lam = 0 from N ~ 3K on, but over-smooths badly at N ~ K). Noiseless
        workers want ``smoothing=0``, the measured best (any lam >= 1e-7 or
        lam_enc >= 1e-6 raised the error). The other schemes need
        ``smoothing=0``. Coded-smoothing training (``mu > 0``) needs a fixed
        decoder and refuses ``"gcv"``; at ``mu = 0`` it is used in prediction only.
    order : int, default=2
        Spline only: the order m >= 1 of the smoothing spline (penalty on the m-th
        derivative; 2 is the natural cubic spline, 3 quintic; docs/method.rst 7). Must
        be 2 for the interpolating schemes.
    points : "auto", str or (data, coded) pair, default="auto"
        Point layout, see :func:`sklearn_coded.operators.coding_points`;
        ``"bacc"`` is the placement of the public BACC code. ``"auto"`` takes
        ``"interior"`` for the spline code, ``"uniform"`` for Berrut (the
        smallest decoded errors in ``benchmarks/bench_accuracy.py``) and
        ``"chebyshev"`` for Lagrange, which is unstable on uniform points.
        ``"systematic"`` makes every data point a coded point too: exact rows
        whenever those workers return.
        In coded-smoothing training (skorch nets) ``"auto"`` means Chebyshev data
        points and fresh jittered Chebyshev coded points per batch, so that no
        row is decoded exactly (it would get no coded loss); explicit points are
        used as given and refused if they decode a row exactly.
    stragglers : int, float or straggler model, default=0
        An int S: S workers per batch do not return; a float p in [0, 1): each
        worker fails independently with probability p; or a straggler-model
        object of :mod:`sklearn_coded.execution`.
    executor : Executor, dask Client or None, default=None
        Where the workers run; None runs them in this process.
    randomized : bool, default=False
        Randomized coded inference (docs/method.rst 6): a random permutation of each
        batch's rows before encoding, undone after decoding.
    n_draws : int, default=1
        Decoded scores are averaged over this many independent draws of the
        permutations and stragglers.
    mu : float in [0, 1], default=0.0
        Weight of the coded-smoothing loss in training (docs/method.rst 5); ``mu > 0``
        needs a skorch net and fits ``sklearn_coded.nn.make_coded_net(estimator,
        ...)`` with this estimator's coding parameters, so the training N is the
        prediction N ``n_coded``. To train at another N (coded-smoothing
        regularises most at N < K, where coded prediction is poor), pass a net
        from :func:`~sklearn_coded.nn.make_coded_net` as ``estimator``: it keeps
        its own K, N and mu (tune them on it, or as ``estimator__mu`` and
        ``estimator__n_coded`` here), and ``mu`` here must stay 0.
    coded_loss : {"task", "consistency"}, default="consistency"
        The coded loss when ``mu > 0``: the task loss of the decoded outputs, or
        their mean squared distance to the plain outputs. "consistency" won the
        cross-validation on the training data of every tuned regime of
        ``benchmarks/bench_training.py`` (noisy moons, 300 digits, 1000
        Fashion-MNIST images).
    timeout : float or None, default=None
        Seconds one request to the workers may take on a real executor (a
        thread or process pool, a dask client); ``predict`` sends one request
        per chunk of ``PREDICT_CHUNK_BYTES`` of coded rows (32 MiB: about 5000
        rows of 200 features at N/K = 8). At the timeout the request is decoded
        from whoever answered if every batch has enough results, else it fails
        with :class:`~sklearn_coded.execution.InsufficientResultsError`: a
        hung or frozen worker then costs at most this. The limit is hard and
        counts sending the model to dask workers; a lost dask scheduler ends
        the request at once with
        :class:`~sklearn_coded.execution.ExecutorLostError`. A straggler
        model's ``deadline`` is soft: past it, the request is decoded as soon
        as enough results are in. None: no limit. With ``executor=None`` it
        applies only to a ``LatencyStragglers`` model's simulated latencies.
    random_state : int, RandomState instance or None, default=None
        Seeds the permutations and straggler draws (one ``check_random_state``
        per predict call, so an int gives the same predictions every call) and,
        for skorch nets, torch during ``fit``.
    n_adversaries : int, default=0
        A: up to A workers per batch may return arbitrary results (Byzantine).
        Each batch's decoder locates and drops them (per batch, not one shared
        decoding matrix per survivor set) with the code-span locator
        (:func:`~sklearn_coded.operators.locate_span`); needs
        N - S >= K + P + 2A, P the noise rows of ``n_private`` (0 without).
        A batch's decode is certified (its survivors can locate A liars and
        the kept results are consistent with the code) or refused, see
        ``on_uncertified`` and :ref:`security`.
    n_private : int, default=0
        T: pad every batch with random rows, drawn from the operating system's
        secret source afresh per batch and per call (never from
        ``random_state``), so that any T colluding workers' best linear
        predictor of any feature of a row reaches R^2 at most ``max_leakage``
        (:ref:`security`).
    noise_scale : "auto" or float, default="auto"
        Standard deviation of the padding entries, in the units of ``X``;
        ``"auto"`` is the smallest that meets ``max_leakage`` for the training
        data's covariance; a number that does not meet it is refused at ``fit``.
    max_leakage : float, default=0.25
        The colluders' R^2 target in (0, 1] (``n_private > 0``); 1 accepts any
        leakage. Stricter targets cost accuracy (user guide).
    leakage_budget : "auto", float or None, default="auto"
        Largest R^2 bound any row may reach over all the predictions of this
        fitted model (repeated views add up); a request past it raises
        :class:`~sklearn_coded.operators.LeakageBudgetError` before anything is
        sent. "auto": three views at ``max_leakage`` (0.5 at 0.25). None: no
        account.
    adversaries : None or adversary model, default=None
        Simulated Byzantine workers (e.g.
        :class:`~sklearn_coded.execution.GrossErrors`) that corrupt results after
        collection, in process or on an executor; for measuring ``n_adversaries``.
    min_results : int or None, default=None
        The quality floor: fewest results a batch is decoded from. None: the
        code's nodes, K + P (fewer do not determine the outputs even for an
        affine f), and K + P + 2A with ``n_adversaries``; an int raises it (not
        below those). Set it to the count at which you measured the accuracy
        you need. On a real executor the request waits for it up to
        ``timeout``.
    on_uncertified : {"raise", "nan"}, default="raise"
        What a refused batch does (below the floor, or with ``n_adversaries``
        not certified): "raise" raises
        :class:`~sklearn_coded.execution.InsufficientResultsError` (below the
        floor) or ``UncertifiedBatchError`` naming the batch; "nan" returns NaN
        for its rows with one ``UncertifiedBatchWarning`` per call (``predict``
        then gives NaN, or None for non-numeric classes, on those rows). Never
        silent.

    Attributes
    ----------
    estimator_ : estimator
        The fitted inner estimator (a coded-smoothing net when ``mu > 0``).
    diagnostics_ : Diagnostics
        The last requests' decode diagnostics (``diagnostics_.last``): results
        used per batch, the floor, batches below it, refused batches and why,
        decode time.
    classes_ : ndarray of shape (n_classes,)
        Class labels.
    response_ : str
        The decoded output space: ``"logits"``, ``"binary_logits"``,
        ``"decision_function"`` or ``"log_proba"``.
    n_features_in_ : int
        Number of features seen in ``fit``.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen in ``fit``, when they are all strings.
    signal_variance_ : float or None
        Largest eigenvalue of the training rows' column covariance (with a margin
        of three standard errors): the data scale the leakage bound assumes; None
        when the training rows do not vary.
    noise_scale_ : float
        Padding scale for batches of ``batch_size`` rows (``n_private > 0`` at fit).
    leakage_ : ndarray of shape (batch_size,)
        Guaranteed R^2 bound of each batch position against any T colluders, per
        request (``n_private > 0`` at fit).

    See Also
    --------
    CodedRegressor : The same for regressors.
    sklearn_coded.SplineEncoder : The encoder of the default scheme.

    Notes
    -----
    The coding parameters (``scheme``, ``n_coded``, ``batch_size``,
    ``smoothing``, ``points``, ``stragglers``, ``executor``, ``randomized``,
    ``n_draws``, ``timeout``) are read at prediction time: ``set_params`` on a
    fitted estimator changes the code without refitting. Every prediction
    depends on the other rows of its batch.

    ``predict`` streams its input through encode, workers and decode in chunks
    of whole batches, so its peak memory is bounded by a chunk, not by the
    input. On a real executor, which coded point a late worker held is random
    per request (tasks are sent in a random order), as in the in-process
    simulation. ``fit`` probes the inner estimator on a few training batches
    and warns (``UserWarning``) when its outputs are far from smooth along the
    code (trees, k-NN, forests), which costs accuracy; ``predict`` refuses
    ``n_coded`` below the floor (``n_coded < batch_size``, a training setting).

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn_coded.estimators import CodedClassifier
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = CodedClassifier(LogisticRegression(max_iter=500), batch_size=8,
    ...                       n_coded=32, stragglers=3, random_state=0).fit(X, y)
    >>> clf.response_
    'decision_function'
    >>> bool((clf.predict(X) == clf.estimator_.predict(X)).mean() > 0.95)
    True
    >>> clf.predict_proba(X[:2]).sum(axis=1)
    array([1., 1.])
    """

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y, **fit_params):
        """Fit the inner estimator on ``(X, y)``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Numeric training inputs; a skorch net gets them as float32.
        y : array-like of shape (n_samples,)
            Class labels of any type; a skorch net is trained on their int64
            indices into ``classes_``.
        **fit_params : dict
            Passed to the inner estimator's ``fit``.

        Returns
        -------
        self : object
        """
        X, y = validate_data(self, X, y, dtype=FLOAT_DTYPES)
        check_classification_targets(y)
        if is_skorch_net(self.estimator):
            # skorch classifiers take int64 class indices: encode, keep the labels
            self.classes_, y_indices = np.unique(y, return_inverse=True)
            self._fit(X, y_indices.astype(np.int64), fit_params)
        else:
            self._fit(X, y, fit_params)
            classes = getattr(self.estimator_, "classes_", None)
            self.classes_ = np.unique(y) if classes is None else np.asarray(classes)
        self.response_ = classifier_space(self.estimator_)
        self._worker = WorkerResponse(self.estimator_, self.response_)
        self._probe_smoothness(X)
        return self

    def _scores(self, X):
        return self._coded_response(X)

    def predict(self, X):
        """Class of largest decoded score (positive decoded score for one column).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        y : ndarray of shape (n_samples,)
        """
        check_is_fitted(self)
        scores = self._scores(X)
        refused = np.isnan(scores).any(axis=1)  # on_uncertified="nan": never a made-up class
        if scores.shape[1] == 1:
            labels = self.classes_[(scores[:, 0] > 0).astype(int)]
        else:
            labels = self.classes_[np.argmax(np.nan_to_num(scores, nan=0.0), axis=1)]
        if refused.any():
            numeric = np.issubdtype(labels.dtype, np.number)
            labels = labels.astype(np.float64 if numeric else object)
            labels[refused] = np.nan if numeric else None
        return labels

    def _has_decision(self):
        if hasattr(self, "response_"):
            return self.response_ in DECISION_SPACES
        return has_method(self.estimator, "decision_function") or is_skorch_net(self.estimator)

    @available_if(_has_decision)
    def decision_function(self, X):
        """Decoded decision function (or logits of a skorch net).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        scores : ndarray of shape (n_samples,) or (n_samples, n_classes)
            1-D where the inner output has one column (binary problems).
        """
        check_is_fitted(self)
        scores = self._scores(X)
        return scores[:, 0] if scores.shape[1] == 1 else scores

    @available_if(_inner_has("predict_proba"))
    def predict_proba(self, X):
        """Class probabilities: softmax (sigmoid) of the decoded scores.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Rows are probability distributions.
        """
        check_is_fitted(self)
        scores = self._scores(X)
        if self.response_ not in SCORE_SPACES:  # decoded probabilities
            return renormalize_proba(scores)
        return scores_to_proba(scores[:, 0] if scores.shape[1] == 1 else scores)

    @available_if(_inner_has("predict_proba"))
    def predict_log_proba(self, X):
        """Logarithm of :meth:`predict_proba` (computed stably from the decoded scores).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
        """
        check_is_fitted(self)
        scores = self._scores(X)
        if self.response_ not in SCORE_SPACES:
            with np.errstate(divide="ignore"):
                return np.log(renormalize_proba(scores))
        proba = scores_to_proba(scores[:, 0] if scores.shape[1] == 1 else scores)
        if scores.shape[1] == 1:
            scores = np.column_stack([np.zeros_like(scores[:, 0]), scores[:, 0]])
        # log_softmax keeps the digits softmax loses to rounding; where predict_proba
        # rounds to 0, the log is -inf, as log(predict_proba) (sklearn's check).
        log_proba = log_softmax(scores, axis=1)
        log_proba[proba == 0] = -np.inf
        return log_proba


class CodedRegressor(RegressorMixin, _BaseCoded):
    """Regressor whose predictions go through a straggler-resilient code.

    ``fit`` clones ``estimator`` into ``estimator_`` and fits it; ``predict``
    encodes batches of K rows into N coded rows, evaluates the inner
    ``predict`` on them through :func:`sklearn_coded.execution.run_workers`,
    and decodes each row's prediction from the workers that returned.

    Parameters
    ----------
    estimator : estimator object
        A regressor with ``fit`` and ``predict`` on numeric inputs.
    scheme : {"spline", "berrut", "lagrange", "layerwise", "replication"}, default="spline"
        The code (docs/method.rst 3-4); ``"layerwise"``, ``"replication"``: see
        :class:`CodedClassifier`.
    n_coded : int or None, default=None
        N >= 2 coded rows per batch; None means ``4 * batch_size``.
    batch_size : int, default=16
        K >= 1 rows coded together; see :class:`CodedClassifier` for the last batch.
    smoothing : float, "gcv" or (float, float or "gcv"), default=0.0
        Decoder smoothing (the encoder interpolates), or ``(lam_enc, lam_dec)``;
        spline only.
    order : int, default=2
        Spline only: the order m >= 1 of the smoothing spline (penalty on the m-th
        derivative; 2 is the natural cubic spline, 3 quintic; docs/method.rst 7). Must
        be 2 for the interpolating schemes.
    points : "auto", str or (data, coded) pair, default="auto"
        Point layout; ``"auto"`` is interior for spline, uniform for Berrut,
        Chebyshev for Lagrange (see :class:`CodedClassifier`).
    stragglers : int, float or straggler model, default=0
        S workers, probability p, or a model of :mod:`sklearn_coded.execution`.
    executor : Executor, dask Client or None, default=None
        Where the workers run; None runs them in this process.
    randomized : bool, default=False
        Randomized coded inference (docs/method.rst 6).
    n_draws : int, default=1
        Decoded predictions are averaged over this many draws.
    mu : float in [0, 1], default=0.0
        Coded-smoothing weight in training; ``mu > 0`` needs a skorch net. A
        coded-smoothing net as ``estimator`` keeps its own training K, N and mu
        (see :class:`CodedClassifier`).
    coded_loss : {"task", "consistency"}, default="consistency"
        The coded loss when ``mu > 0`` (see :class:`CodedClassifier`).
    timeout : float or None, default=None
        Seconds one request to the workers may take on a real executor; see
        :class:`CodedClassifier`.
    random_state : int, RandomState instance or None, default=None
        Seeds permutations, straggler draws and torch in ``fit`` (skorch nets).
    n_adversaries : int, default=0
        Byzantine workers per batch to locate and drop (see :class:`CodedClassifier`).
    n_private : int, default=0
        Colluding workers to protect against by secret noise padding.
    noise_scale : "auto" or float, default="auto"
        Standard deviation of the padding entries ("auto": from ``max_leakage``).
    max_leakage : float, default=0.25
        The colluders' R^2 target (see :class:`CodedClassifier`).
    leakage_budget : "auto", float or None, default="auto"
        Per-row leakage budget over all predictions (see :class:`CodedClassifier`).
    adversaries : None or adversary model, default=None
        Simulated Byzantine workers (see :class:`CodedClassifier`).
    min_results : int or None, default=None
        The quality floor (see :class:`CodedClassifier`).
    on_uncertified : {"raise", "nan"}, default="raise"
        What a refused batch does (see :class:`CodedClassifier`).

    Attributes
    ----------
    estimator_ : estimator
        The fitted inner estimator.
    diagnostics_ : Diagnostics
        The last requests' decode diagnostics (see :class:`CodedClassifier`).
    n_features_in_ : int
        Number of features seen in ``fit``.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen in ``fit``, when they are all strings.
    signal_variance_ : float or None
        Largest eigenvalue of the training rows' column covariance (with a margin
        of three standard errors): the data scale the leakage bound assumes; None
        when the training rows do not vary.
    noise_scale_ : float
        Padding scale for batches of ``batch_size`` rows (``n_private > 0`` at fit).
    leakage_ : ndarray of shape (batch_size,)
        Guaranteed R^2 bound of each batch position against any T colluders, per
        request (``n_private > 0`` at fit).

    See Also
    --------
    CodedClassifier : The same for classifiers.

    Examples
    --------
    With a linear f, Lagrange coding and no stragglers the code is exact:

    >>> import numpy as np
    >>> from sklearn.datasets import make_regression
    >>> from sklearn.linear_model import Ridge
    >>> from sklearn_coded.estimators import CodedRegressor
    >>> X, y = make_regression(n_samples=50, n_features=4, random_state=0)
    >>> reg = CodedRegressor(Ridge(), scheme="lagrange", batch_size=4, n_coded=6).fit(X, y)
    >>> bool(np.allclose(reg.predict(X), reg.estimator_.predict(X), atol=1e-8))
    True

    The spline code (LeTCC) is approximate and tolerates stragglers:

    >>> reg = CodedRegressor(Ridge(), batch_size=8, n_coded=40, stragglers=4,
    ...                      random_state=0).fit(X, y)
    >>> bool(reg.score(X, y) > 0.99)
    True
    """

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y, **fit_params):
        """Fit the inner estimator on ``(X, y)``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Numeric training inputs.
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
            Targets.
        **fit_params : dict
            Passed to the inner estimator's ``fit``.

        Returns
        -------
        self : object
        """
        X, y = validate_data(self, X, y, dtype=FLOAT_DTYPES, multi_output=True, y_numeric=True)
        self._y_ndim = np.ndim(y)
        if is_skorch_net(self.estimator):  # skorch regressors take 2-D float32 targets
            y = np.asarray(y, dtype=np.float32).reshape(len(y), -1)
        self._fit(X, y, fit_params)
        self._worker = WorkerResponse(self.estimator_, "predict")
        self._probe_smoothness(X)
        return self

    def predict(self, X):
        """Decoded predictions of the inner estimator.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_targets)
        """
        check_is_fitted(self)
        decoded = self._coded_response(X)
        return decoded[:, 0] if self._y_ndim == 1 and decoded.shape[1] == 1 else decoded

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        with contextlib.suppress(Exception):  # an inner estimator without tags: keep defaults
            tags.target_tags.multi_output = get_tags(self.estimator).target_tags.multi_output
        return tags


#: estimator -> (parameter key, CodingConfig, Codec) of its last request
_SERVING = weakref.WeakKeyDictionary()

#: class -> the names of its parameters (every one of them keys the serving state)
_PARAM_NAMES = {}


def _param_key(value):
    """A cheap, comparable stand-in for a parameter's value (see ``_serving_state``).

    Scalars stand for themselves; an estimator-like object (a straggler model)
    by its identity and its parameters, so that ``set_params(stragglers__p=...)``
    is seen; any other object (an executor, arrays of points) by its identity
    and, for sequences, their text.
    """
    if value is None or isinstance(value, bool | numbers.Number | str):
        return (type(value), value)
    if isinstance(value, BaseEstimator):
        return (type(value), id(value), repr(sorted(value.get_params(deep=False).items())))
    if isinstance(value, tuple | list):
        return (type(value), id(value), repr(value))
    return (type(value), id(value))


def _is_nonneg_number(value):
    return (
        isinstance(value, numbers.Real)
        and not isinstance(value, bool)
        and np.isfinite(value)
        and value >= 0
    )


@contextlib.contextmanager
def _seeded_torch(seed):
    """Seed torch's global generator from ``seed`` inside the block, restoring it after."""
    if seed is None:
        yield
        return
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


@contextlib.contextmanager
def _kept_torch_rng(active):
    """Restore torch's global generator after the block (when ``active``)."""
    if not active:
        yield
        return
    import torch

    with torch.random.fork_rng(devices=[]):
        yield
