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

import numpy as np
from scipy.special import log_softmax
from sklearn.base import ClassifierMixin, RegressorMixin
from sklearn.utils import get_tags
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from .._sklearn_compat import _fit_context
from ._base import _BaseCoded
from ._predict import FLOAT_DTYPES
from ._response import (
    DECISION_SPACES,
    SCORE_SPACES,
    WorkerResponse,
    classifier_space,
    has_method,
    inner_has,
    is_skorch_net,
    renormalize_proba,
    scores_to_proba,
)

__all__ = ["CodedClassifier", "CodedRegressor"]


class CodedClassifier(ClassifierMixin, _BaseCoded):
    """Classifier whose predictions go through a straggler-resilient code.

    Read more in the :ref:`User Guide <coded_prediction>`.

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
    scheme : {"spline", "berrut", "lagrange", "layerwise", "parm"}, default="spline"
        The code: LeTCC smoothing splines, BACC (Berrut rational interpolation)
        or real-field Lagrange (LCC), docs/method.rst 3-4; ``"layerwise"``: a skorch
        net's Linear/Conv layers on coded workers, decoded exactly layer by layer
        (``points`` names the exact code, see :ref:`security`); ``"parm"``:
        learned parity models (ParM, docs/method.rst 11): ``batch_size`` data
        workers run the model on the rows, ``n_coded - batch_size`` parity
        workers a network trained at ``fit`` (see ``parity_model``).
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
        ``"systematic"`` for the spline and Berrut codes (every data point a
        coded point too: exact rows whenever those workers return, exact at
        S = 0; ahead of the other layouts on tuning and held-out models in
        ``benchmarks/bench_frontier.py``), and ``"chebyshev"`` for Lagrange,
        which is unstable on uniform points. Where a systematic layout cannot
        be (``n_private > 0``, ``randomized=True``, N < K) it takes
        ``"interior"`` for the spline code and ``"uniform"`` for Berrut.
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
        the request at once (:class:`~sklearn_coded.execution.ExecutorLostError`). A straggler
        model's ``deadline`` is soft: past it, the request is decoded as soon as
        enough results are in. None: no limit. In process it applies to a
        ``LatencyStragglers`` model's latencies.
    hedge_after : float, "auto" or None, default=None
        Real executors only: send one copy of every row at once (a systematic
        layout's data workers, replication's first replicas) and the rest only
        this many seconds later, or never if every row has its own result
        before. ``"auto"``: twice the median time of recent first results.
        See :ref:`executors`.
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
        silent. Rows whose own worker answered (a systematic layout's data
        worker, a replica) are known exactly and returned even in a refused
        batch, unless ``n_adversaries > 0`` (docs/method.rst 12.3).
    parity_model : ParityModel or None, default=None
        ``scheme="parm"`` only: the parity networks' settings (epochs, learning
        rate, architecture, encoder), cloned and fitted with ``k=batch_size``
        and ``r=n_coded - batch_size`` (``n_coded=None``: r = 1); None:
        ``ParityModel()``.

    Attributes
    ----------
    estimator_ : estimator
        The fitted inner estimator (a coded-smoothing net when ``mu > 0``).
    parity_model_ : ParityModel
        The fitted parity networks (``scheme="parm"`` only).
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
    certified_adversaries_ : int or None
        Liars (up to A) the layout certifies with the stragglers missing (at fit,
        :func:`~sklearn_coded.coding.certified_adversaries`); A above it warns,
        A above it with no straggler is refused; None if ``n_adversaries=0``.

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

    @available_if(inner_has("predict_proba"))
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

    @available_if(inner_has("predict_proba"))
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

    Read more in the :ref:`User Guide <coded_prediction>`.

    ``fit`` clones ``estimator`` into ``estimator_`` and fits it; ``predict``
    encodes batches of K rows into N coded rows, evaluates the inner
    ``predict`` on them through :func:`sklearn_coded.execution.run_workers`,
    and decodes each row's prediction from the workers that returned.

    Parameters
    ----------
    estimator : estimator object
        A regressor with ``fit`` and ``predict`` on numeric inputs.
    scheme : {"spline", "berrut", "lagrange", "layerwise", "parm"}, default="spline"
        The code (docs/method.rst 3-4); ``"layerwise"``, ``"parm"``: see
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
        Point layout; ``"auto"`` is systematic for spline and Berrut (interior
        and uniform with ``n_private``, ``randomized`` or N < K), Chebyshev
        for Lagrange (see :class:`CodedClassifier`).
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
    hedge_after : float, "auto" or None, default=None
        Real executors only: send the parity (or the other replicas) only this
        many seconds after the rest; see :class:`CodedClassifier`.
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
    parity_model : ParityModel or None, default=None
        ``scheme="parm"`` only: the parity networks (see :class:`CodedClassifier`).

    Attributes
    ----------
    estimator_ : estimator
        The fitted inner estimator.
    parity_model_ : ParityModel
        The fitted parity networks (``scheme="parm"`` only).
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
    certified_adversaries_ : int or None
        Liars (up to A) the layout certifies with the stragglers missing (at fit,
        :func:`~sklearn_coded.coding.certified_adversaries`); A above it warns,
        A above it with no straggler is refused; None if ``n_adversaries=0``.

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
