"""Straggler-resilient coded prediction around any estimator (layer 4, method.md 3 and 6).

``CodedClassifier`` and ``CodedRegressor`` fit the wrapped estimator plainly
(or, with ``mu > 0`` and a skorch net, with coded-smoothing, method.md 5) and
predict through the coded pipeline

    batch of K rows --E--> N coded rows --f on N workers--> results --D_F--> K rows

where E and D_F are the layer-2 encoder and decoder of ``scheme`` and F is the
set of workers that returned. One output row per input row, so both estimators
sit in a Pipeline, GridSearchCV and cross_val_score like their inner estimator.
"""

import contextlib
import numbers
from numbers import Integral, Real

import numpy as np
from scipy.special import log_softmax
from sklearn.base import BaseEstimator, ClassifierMixin, MetaEstimatorMixin, RegressorMixin, clone
from sklearn.utils import check_random_state, get_tags
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from .._sklearn_compat import Interval, StrOptions, _fit_context
from ..coding import adversary_bound
from ..execution import check_stragglers, run_workers
from ..operators import POINT_FAMILIES, SCHEMES
from ..operators._schemes import explicit_size
from ._batching import batch_groups, decode_groups, encode_groups, make_coders
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

#: The point family of ``points="auto"`` for each scheme. Measured in
#: ``benchmarks/bench_accuracy.py`` (defaults study, K = 16, N in {2K, 4K}, S in
#: {0, 10%, 20%} of N, MLP on digits and LeNet-5 on Fashion-MNIST): uniform points
#: gave the smallest geometric-mean MSE of the decoded logits for the spline code
#: (3-4x below Chebyshev at S = 0, where the two end rows are computed directly)
#: and for Berrut. With S >= 10% of N and N >= 2K the full sweep favours Chebyshev
#: points instead (MSE 1.7-1.9x lower, geometric mean): set ``points="chebyshev"``
#: when many workers straggle. Polynomial (Lagrange) interpolation is unstable on
#: uniform points (errors of 1e17 at K = 16, N = 64) and needs Chebyshev points.
AUTO_POINTS = {"spline": "uniform", "berrut": "uniform", "lagrange": "chebyshev"}

_SMOOTHING = [Interval(Real, 0, None, closed="left"), StrOptions({"gcv"}), tuple]


def _inner_has(name):
    """``available_if`` check: the (fitted, else unfitted) inner estimator has ``name``."""

    def check(self):
        return has_method(getattr(self, "estimator_", self.estimator), name)

    return check


class _BaseCoded(MetaEstimatorMixin, BaseEstimator):
    """Fit, parameter checks and the coded prediction shared by both estimators."""

    _parameter_constraints: dict = {
        "estimator": "no_validation",  # checked in fit: needs fit and predict
        "scheme": [StrOptions(set(SCHEMES))],
        "n_coded": [Interval(Integral, 2, None, closed="left"), None],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "smoothing": _SMOOTHING,
        "points": [StrOptions({"auto", *POINT_FAMILIES}), tuple, list],
        "stragglers": "no_validation",  # checked by execution.check_stragglers
        "executor": "no_validation",  # any concurrent.futures.Executor or dask Client
        "randomized": ["boolean"],
        "n_draws": [Interval(Integral, 1, None, closed="left")],
        "mu": [Interval(Real, 0, 1, closed="both")],
        "coded_loss": [StrOptions({"task", "consistency"})],
        "random_state": ["random_state"],
        "n_adversaries": [Interval(Integral, 0, None, closed="left")],
        "n_private": [Interval(Integral, 0, None, closed="left")],
        "noise_scale": [Interval(Real, 0, None, closed="left")],
        "adversaries": "no_validation",  # checked by execution.check_adversaries
    }

    def __init__(
        self,
        estimator,
        *,
        scheme="spline",
        n_coded=None,
        batch_size=16,
        smoothing=0.0,
        points="auto",
        stragglers=0,
        executor=None,
        randomized=False,
        n_draws=1,
        mu=0.0,
        coded_loss="task",
        random_state=None,
        n_adversaries=0,
        n_private=0,
        noise_scale=1.0,
        adversaries=None,
    ):
        self.estimator = estimator
        self.scheme = scheme
        self.n_coded = n_coded
        self.batch_size = batch_size
        self.smoothing = smoothing
        self.points = points
        self.stragglers = stragglers
        self.executor = executor
        self.randomized = randomized
        self.n_draws = n_draws
        self.mu = mu
        self.coded_loss = coded_loss
        self.random_state = random_state
        self.n_adversaries = n_adversaries
        self.n_private = n_private
        self.noise_scale = noise_scale
        self.adversaries = adversaries

    # ------------------------------------------------------------------ checks
    def _coding_config(self):
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
        # Survivors one batch needs: K for Lagrange (|F| >= K), 2 for the others.
        min_results = max(K, 2) if self.scheme == "lagrange" else 2
        if self.n_adversaries:  # the locator's bound (coding/_byzantine.py)
            min_results = max(min_results, self._check_adversaries(K, N))
        check_stragglers(self.stragglers, N, min_results=min_results)
        return K, N, lam_enc, lam_dec, points, n_data is not None, min_results

    def _check_adversaries(self, K, N):
        """Results per batch the locator needs; an error naming the bound if S leaves fewer."""
        needed, formula = adversary_bound(self.scheme, K, self.n_adversaries)
        S = self.stragglers if isinstance(self.stragglers, Integral) else 0
        if needed > N - S:
            raise ValueError(
                f"n_adversaries={self.n_adversaries} with scheme={self.scheme!r} needs "
                f"N - S >= {formula} = {needed} results per batch (K=batch_size={K}); "
                f"n_coded={N} and stragglers={self.stragglers!r} leave {N - S}."
            )
        return needed

    def _points(self):
        """``points="auto"``: Chebyshev for Lagrange, uniform for the spline and Berrut codes."""
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
        self._coding_config()
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
            # Every skorch net trains on batches of K rows, mu = 0 included (skorch's
            # own training step), so a grid over mu compares like with like.
            from ..nn import make_coded_net  # layer 5; imported only when used

            K, N, lam_enc, lam_dec = self._coding_config()[:4]
            estimator = make_coded_net(
                estimator,
                n_coded=N,
                batch_size=K,
                mu=self.mu,
                coded_loss=self.coded_loss,
                scheme=self.scheme,
                smoothing=(lam_enc, lam_dec),  # the pair prediction uses, as resolved here
                points=self._points(),
                random_state=seed,
            )
        with _seeded_torch(seed if skorch and self.random_state is not None else None):
            estimator.fit(X, y, **fit_params)
        self.estimator_ = estimator
        return self

    # ----------------------------------------------------------------- predict
    def _coded_response(self, X):
        """Decoded outputs of the inner estimator, shape (n_samples, n_outputs).

        For each batch: encode (``X_coded = E X``), run f on the N coded rows,
        decode the survivors (``Y_hat = D_F Y[F]``), all per method.md 3; with
        ``randomized`` the rows are permuted before encoding and un-permuted after
        decoding (method.md 6), and ``n_draws`` decoded outputs are averaged.
        """
        check_is_fitted(self)
        self._validate_params()  # coding parameters may have been set after fit
        X = validate_data(self, X, reset=False, dtype=FLOAT_DTYPES)
        K, N, lam_enc, lam_dec, points, fixed_size, min_results = self._coding_config()
        rng = check_random_state(self.random_state)
        n_samples = X.shape[0]
        groups = []
        for _ in range(self.n_draws):
            groups += batch_groups(
                n_samples, K, fixed_size=fixed_size, rng=rng if self.randomized else None
            )
        encoder, decoder = make_coders(
            self.scheme,
            N,
            points,
            lam_enc,
            lam_dec,
            n_adversaries=self.n_adversaries,
            n_private=self.n_private,
            noise_scale=self.noise_scale,
            random_state=rng,  # padding rows: fresh per batch, from the one generator
        )
        coded = encode_groups(X, groups, encoder)
        results, returned = run_workers(
            self._worker,  # one object per fit: a dask client scatters it once
            "response",
            coded,
            executor=self.executor,
            stragglers=self.stragglers,
            min_results=min_results,
            random_state=rng,
            adversaries=self.adversaries,
        )
        shift_free = getattr(self, "response_", None) in SCORE_SPACES  # classes' scores
        decoded = decode_groups(
            results, returned, groups, decoder, n_samples, shift_free=shift_free
        )
        return decoded / self.n_draws

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = False  # coded rows are dense combinations of rows
        tags.input_tags.allow_nan = False
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
    scheme : {"spline", "berrut", "lagrange"}, default="spline"
        The code: LeTCC smoothing splines, BACC (Berrut rational interpolation)
        or real-field Lagrange (LCC), method.md 3-4.
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
        Spline only. A number lam >= 0 (method.md scale) or ``"gcv"`` is the
        *decoder's* smoothing; the encoder then interpolates (lam_enc = 0). A
        pair sets ``(lam_enc, lam_dec)``. ``"gcv"`` picks one lam per batch from
        the survivors' results by generalised cross-validation; use it when the
        workers' results are noisy and N is well above K (measured: it beats
        lam = 0 from N ~ 3K on, but over-smooths badly at N ~ K). Noiseless
        workers want ``smoothing=0``, the measured best (any lam >= 1e-7 or
        lam_enc >= 1e-6 raised the error). The other schemes need
        ``smoothing=0``.
    points : "auto", str or (data, coded) pair, default="auto"
        Point layout, see :func:`sklearn_coded.operators.coding_points`;
        ``"bacc"`` is the placement of the public BACC code. ``"auto"`` takes
        ``"uniform"`` for the spline and Berrut codes (the smallest decoded error
        in ``benchmarks/bench_accuracy.py``) and ``"chebyshev"`` for Lagrange,
        which is unstable on uniform points. With uniform points the first and
        last data points are coded points too: those two rows are computed
        directly by a worker (exact when it returns).
    stragglers : int, float or straggler model, default=0
        An int S: S workers per batch do not return; a float p in [0, 1): each
        worker fails independently with probability p; or a straggler-model
        object of :mod:`sklearn_coded.execution`.
    executor : Executor, dask Client or None, default=None
        Where the workers run; None runs them in this process.
    randomized : bool, default=False
        Randomized coded inference (method.md 6): a random permutation of each
        batch's rows before encoding, undone after decoding.
    n_draws : int, default=1
        Decoded scores are averaged over this many independent draws of the
        permutations and stragglers.
    mu : float in [0, 1], default=0.0
        Weight of the coded-smoothing loss in training (method.md 5); ``mu > 0``
        needs a skorch net and fits ``sklearn_coded.nn.make_coded_net(estimator,
        ...)`` with this estimator's coding parameters.
    coded_loss : {"task", "consistency"}, default="task"
        The coded loss when ``mu > 0``: the task loss of the decoded outputs, or
        their mean squared distance to the plain outputs.
    random_state : int, RandomState instance or None, default=None
        Seeds the permutations and straggler draws (one ``check_random_state``
        per predict call, so an int gives the same predictions every call) and,
        for skorch nets, torch during ``fit``.
    n_adversaries : int, default=0
        A: up to A workers per batch may return arbitrary results (Byzantine).
        Each batch's decoder locates and drops them (per batch, not one shared
        decoding matrix per survivor set); needs N - S >= A + 3 (spline),
        2K + 2A - 1 (Berrut) or K + 2A (Lagrange). See :ref:`security`.
    n_private : int, default=0
        T: pad every batch with random rows (fresh per batch, from
        ``random_state``) so that T colluding workers learn little; the leakage
        is measured, not zero (:ref:`security`).
    noise_scale : float, default=1.0
        Standard deviation of the padding entries, in the units of ``X``.
    adversaries : None or adversary model, default=None
        Simulated Byzantine workers (e.g.
        :class:`~sklearn_coded.execution.GrossErrors`) that corrupt results after
        collection, in process or on an executor; for measuring ``n_adversaries``.

    Attributes
    ----------
    estimator_ : estimator
        The fitted inner estimator (a coded-smoothing net when ``mu > 0``).
    classes_ : ndarray of shape (n_classes,)
        Class labels.
    response_ : str
        The decoded output space: ``"logits"``, ``"binary_logits"``,
        ``"decision_function"`` or ``"log_proba"``.
    n_features_in_ : int
        Number of features seen in ``fit``.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen in ``fit``, when they are all strings.

    See Also
    --------
    CodedRegressor : The same for regressors.
    sklearn_coded.SplineEncoder : The encoder of the default scheme.

    Notes
    -----
    The coding parameters (``scheme``, ``n_coded``, ``batch_size``,
    ``smoothing``, ``points``, ``stragglers``, ``executor``, ``randomized``,
    ``n_draws``) are read at prediction time: ``set_params`` on a fitted
    estimator changes the code without refitting. Every prediction depends on
    the other rows of its batch.

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
        if scores.shape[1] == 1:
            return self.classes_[(scores[:, 0] > 0).astype(int)]
        return self.classes_[np.argmax(scores, axis=1)]

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
        if scores.shape[1] == 1:
            scores = np.column_stack([np.zeros_like(scores[:, 0]), scores[:, 0]])
        return log_softmax(scores, axis=1)


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
    scheme : {"spline", "berrut", "lagrange"}, default="spline"
        The code (method.md 3-4).
    n_coded : int or None, default=None
        N >= 2 coded rows per batch; None means ``4 * batch_size``.
    batch_size : int, default=16
        K >= 1 rows coded together; see :class:`CodedClassifier` for the last batch.
    smoothing : float, "gcv" or (float, float or "gcv"), default=0.0
        Decoder smoothing (the encoder interpolates), or ``(lam_enc, lam_dec)``;
        spline only.
    points : "auto", str or (data, coded) pair, default="auto"
        Point layout; ``"auto"`` is uniform for spline and Berrut, Chebyshev for
        Lagrange (see :class:`CodedClassifier`).
    stragglers : int, float or straggler model, default=0
        S workers, probability p, or a model of :mod:`sklearn_coded.execution`.
    executor : Executor, dask Client or None, default=None
        Where the workers run; None runs them in this process.
    randomized : bool, default=False
        Randomized coded inference (method.md 6).
    n_draws : int, default=1
        Decoded predictions are averaged over this many draws.
    mu : float in [0, 1], default=0.0
        Coded-smoothing weight in training; ``mu > 0`` needs a skorch net.
    coded_loss : {"task", "consistency"}, default="task"
        The coded loss when ``mu > 0``.
    random_state : int, RandomState instance or None, default=None
        Seeds permutations, straggler draws and torch in ``fit`` (skorch nets).
    n_adversaries : int, default=0
        Byzantine workers per batch to locate and drop (see :class:`CodedClassifier`).
    n_private : int, default=0
        Colluding workers to protect against by noise padding.
    noise_scale : float, default=1.0
        Standard deviation of the padding entries.
    adversaries : None or adversary model, default=None
        Simulated Byzantine workers (see :class:`CodedClassifier`).

    Attributes
    ----------
    estimator_ : estimator
        The fitted inner estimator.
    n_features_in_ : int
        Number of features seen in ``fit``.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen in ``fit``, when they are all strings.

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
