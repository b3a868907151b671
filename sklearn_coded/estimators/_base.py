"""The fit, checks and privacy accounting shared by the coded estimators (layer 4)."""

import importlib
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, MetaEstimatorMixin, clone
from sklearn.utils import check_random_state

from .._public_init import own_init
from .._sklearn_compat import Interval, StrOptions
from ..coding import SCHEME_NAMES, get_scheme
from ..coding._private import signal_variance
from ..operators import EXACT_CODES, POINT_FAMILIES
from ..operators._privacy import LeakageLedger, resolve_budget
from ._batching import batch_groups
from ._certify import check_process_collusion, fit_certified_bound
from ._diagnostics import UNCERTIFIED_POLICIES, Diagnostics
from ._params import _CodingParameters
from ._predict import _SERVING, _StreamingPredict
from ._probe import _SmoothnessProbe
from ._response import has_method, is_skorch_net
from ._torch_rng import _seeded_torch

#: ``fit`` estimates the data covariance of the leakage bound (``n_private``) from at
#: most this many training rows (a fixed draw), plus three standard errors of the
#: variance along the top eigenvector (digits, 1000 rows: a margin of 13%).
PRIVACY_COVARIANCE_ROWS = 2000

_SMOOTHING = [Interval(Real, 0, None, closed="left"), StrOptions({"gcv"}), tuple]


class _BaseCoded(
    _CodingParameters, _StreamingPredict, _SmoothnessProbe, MetaEstimatorMixin, BaseEstimator
):
    """Fit, parameter checks and the coded prediction shared by both estimators."""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        own_init(cls)  # an inherited __init__, named after the public class

    _parameter_constraints: dict = {
        "estimator": "no_validation",  # checked in fit: needs fit and predict
        "scheme": [StrOptions(SCHEME_NAMES)],  # the registry's names (coding/_registry.py)
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
        "hedge_after": [Interval(Real, 0, None, closed="left"), StrOptions({"auto"}), None],
        "random_state": ["random_state"],
        "n_adversaries": [Interval(Integral, 0, None, closed="left")],
        "n_private": [Interval(Integral, 0, None, closed="left")],
        "noise_scale": [Interval(Real, 0, None, closed="left"), StrOptions({"auto"})],
        "max_leakage": [Interval(Real, 0, 1, closed="right")],
        "leakage_budget": [Interval(Real, 0, 1, closed="right"), StrOptions({"auto"}), None],
        "adversaries": "no_validation",  # checked by execution.check_adversaries
        "min_results": [Interval(Integral, 2, None, closed="left"), None],
        "on_uncertified": [StrOptions(set(UNCERTIFIED_POLICIES))],
        "parity_model": "no_validation",  # scheme="parm": checked in estimators/_parm.py
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
        hedge_after=None,
        random_state=None,
        n_adversaries=0,
        n_private=0,
        noise_scale="auto",
        max_leakage=0.25,
        leakage_budget="auto",
        adversaries=None,
        min_results=None,
        on_uncertified="raise",
        parity_model=None,
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
        self.hedge_after = hedge_after
        self.random_state = random_state
        self.n_adversaries = n_adversaries
        self.n_private = n_private
        self.noise_scale = noise_scale
        self.max_leakage = max_leakage
        self.leakage_budget = leakage_budget
        self.adversaries = adversaries
        self.min_results = min_results
        self.on_uncertified = on_uncertified
        self.parity_model = parity_model

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
        scheme = get_scheme(self.scheme)
        if scheme.dispatch:  # its own estimator path (coding/_registry.py), e.g. layerwise
            return importlib.import_module(scheme.dispatch).fit_scheme(self, X, y, fit_params)
        plan = self._coding_plan()  # resolves and cross-checks the coding parameters
        rng = check_random_state(self.random_state)
        seed = int(rng.randint(np.iinfo(np.int32).max))
        estimator = clone(self.estimator)
        skorch = is_skorch_net(estimator)
        if skorch:  # skorch's dtype rules (architecture.md): float32 inputs
            X = X.astype(np.float32, copy=False)
            estimator = self._training_net(estimator, plan, seed)
        elif self.mu > 0:
            raise ValueError(
                f"mu={self.mu!r} > 0 trains with coded-smoothing, which needs a skorch "
                f"net as estimator; got {type(estimator).__name__}. Use mu=0 to fit it "
                "plainly."
            )
        with _seeded_torch(seed if skorch and self.random_state is not None else None):
            estimator.fit(X, y, **fit_params)
        self.estimator_ = estimator
        self._fit_privacy(X)
        fit_certified_bound(self, plan)  # certified_adversaries_ (docs/method.rst (8.4))
        self.diagnostics_ = Diagnostics()
        return self

    def _training_net(self, estimator, plan, seed):
        """The skorch net to fit, trained on the plan's training code (docs/method.rst 5)."""
        from ..nn import CodedSmoothingMixin, make_coded_net  # layer 5; only when used

        if isinstance(estimator, CodedSmoothingMixin):
            # A coded-smoothing net keeps its own training code (its K, N, mu): the
            # training N and the prediction N (n_coded here) are separate settings.
            if self.mu > 0:
                raise ValueError(
                    f"mu={self.mu!r} > 0 with a coded-smoothing net as estimator: its "
                    f"training is set on the net (mu={estimator.mu!r}, "
                    f"n_coded={estimator.n_coded!r}); set mu on the net and leave "
                    f"{type(self).__name__}'s mu at 0."
                )
            return estimator
        # Every skorch net trains on batches of K rows, mu = 0 included (skorch's
        # own training step), so a grid over mu compares like with like.
        training = self._training_plan(plan.n_coded, plan.lam_enc, plan.lam_dec)
        return make_coded_net(estimator, plan=plan.replace(training=training), random_state=seed)

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
            plan = self._coding_plan()
            encoder = plan.coders()[0]().fit(X[: plan.batch_size])
            self.noise_scale_, self.leakage_ = encoder.noise_scale_, encoder.leakage_

    def _charge_leakage(self, X, plan, encoder):
        """Charge every row of a request its colluders' information; refuse past the budget.

        Eq. (R) of ``operators/_privacy.py``: each coded view of a row adds its
        ``q = lambda_max Q / sigma^2`` at its position in its batch (the worst
        position when ``randomized``), ``n_draws`` times; a row repeated inside
        the request, or padded into its batch, is charged for every copy. Nothing
        is sent when a row would pass ``leakage_budget``.
        """
        if not plan.n_private:  # nothing to charge (and no budget to resolve per request)
            return
        check_process_collusion(self.executor, plan.n_coded, plan.n_private)  # per T coded rows
        budget = resolve_budget(self.leakage_budget, plan.max_leakage)
        if budget is None:
            return
        q_rows = np.zeros(len(X))
        for group in batch_groups(
            len(X), plan.batch_size, fixed_size=plan.fixed_size, min_size=max(2, plan.order)
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

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = False  # coded rows are dense combinations of rows
        tags.input_tags.allow_nan = False
        # Secret padding (issue 16.1): two predictions of the same rows differ.
        tags.non_deterministic = bool(self.n_private)
        return tags
