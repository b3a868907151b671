"""Coded-smoothing training for skorch nets (docs/method.rst section 5).

On every training batch of K rows the net minimises

    L = (1 - mu) * L_main + mu * L_coded,    mu in [0, 1],                 (docs/method.rst 5)

with L_main the criterion of the plain outputs and L_coded either the criterion
of the decoded outputs ``D f(E h)`` against the labels (``coded_loss="task"``) or
the mean squared error between the decoded and the plain outputs
(``coded_loss="consistency"``, label-free). mu = 0 runs skorch's own training step.
The net is extended only through skorch's documented hooks: ``initialize_module``
(the coder), ``train_step_single`` (the loss), ``get_dataset`` (dtypes) and
``get_default_callbacks`` (progress bar); ``fit`` seeds torch.
"""

import functools
import numbers

import numpy as np
import torch
from sklearn.base import clone
from sklearn.utils import check_random_state
from skorch import NeuralNet
from skorch.callbacks import ProgressBar
from skorch.dataset import unpack_data
from torch import nn

from ..coding import CodingPlan, TrainingPlan
from ..operators import SCHEMES
from ._coding import CodedSmoothing, check_smoothing
from ._loss import check_loss_params, coded_loss_terms, coded_paths, coded_terms


def training_plan(
    batch_size,
    n_coded=None,
    *,
    mu,
    coded_loss="consistency",
    scheme="spline",
    smoothing=0.0,
    points="chebyshev",
    jitter=True,
    order=2,
    weighting="convex",
):
    """The :class:`~sklearn_coded.coding.CodingPlan` of a coded-smoothing training code.

    K = ``batch_size``, N = ``n_coded`` (None: K), the smoothing pair (a number
    is both lams) and the layout, with the training variant (jitter, mu, the
    coded loss, the weighting) in ``plan.training``; validated once.
    """
    if scheme not in SCHEMES:  # the schemes with operators (torch buffers)
        raise ValueError(f"scheme must be one of {SCHEMES}; got {scheme!r}.")
    lam_enc, lam_dec = check_smoothing(smoothing)
    training = TrainingPlan(
        n_coded=batch_size if n_coded is None else n_coded,
        points=points,
        jitter=jitter,
        lam_enc=lam_enc,
        lam_dec=lam_dec,
        mu=mu,
        coded_loss=coded_loss,
        weighting=weighting,
    )
    return CodingPlan(
        scheme,
        batch_size=batch_size,
        n_coded=training.n_coded,
        points=points,
        lam_enc=lam_enc,
        lam_dec=lam_dec,
        order=order,
        training=training,
    )


def _plan_settings(plan):
    """The coded-smoothing net parameters of a plan's training variant."""
    t = plan.training
    if t is None:
        raise ValueError(
            "plan has no training variant: build it with training=TrainingPlan(...) "
            "(the training N, points, jitter, smoothing and mu)."
        )
    return {
        "n_coded": t.n_coded,
        "batch_size": plan.batch_size,
        "mu": t.mu,
        "coded_loss": t.coded_loss,
        "scheme": plan.training_scheme,
        "smoothing": (t.lam_enc, t.lam_dec),
        "points": t.points,
        "jitter": t.jitter,
        "order": plan.order,
        "weighting": t.weighting,
    }


class _Required:
    def __repr__(self):
        return "<required>"


#: ``n_coded`` of :func:`make_coded_net` has no default, and None means N = K.
_REQUIRED = _Required()


def _as_float32(X):
    if isinstance(X, np.ndarray) and X.dtype.kind in "fiub" and X.dtype != np.float32:
        return X.astype(np.float32)
    return X


class CodedSmoothingMixin:
    """Mixin that adds coded-smoothing training to a skorch net class.

    Use it through :func:`coded_net_class` or :func:`make_coded_net`, or write
    ``class MyNet(CodedSmoothingMixin, NeuralNetClassifier)``. All of the base
    net's parameters are accepted, plus the ones below.

    Parameters
    ----------
    mu : float in [0, 1], default=0.0
        Weight of the coded loss in ``L = (1 - mu) L_main + mu L_coded``. 0 is
        exactly the base net's training.
    n_coded : int or None, default=None
        N, the coded rows per full training batch; None means N = K. N < K is
        allowed (a training setting: the decoder then smooths more).
    coded_loss : {"task", "consistency"}, default="consistency"
        ``"task"``: the criterion of the network's output with the block
        decoded, against the labels. ``"consistency"``: mean squared error
        between the block's decoded outputs ``D f(E h)`` and its plain outputs
        ``f(h)`` (the logits when ``block`` is None); it needs no labels. In
        ``benchmarks/bench_training.py`` cross-validation on the training data
        chose "consistency" in every tuned regime (noisy moons, 300 digits, 1000
        Fashion-MNIST images), hence the default. Under the protocol of the
        user guide (ERM with a tuned learning rate and early stopping) the gain
        over ERM on 300 to 1000 digits was +1.4 to -0.2 points, no interval
        excluding 0.
    scheme : {"spline", "berrut", "lagrange"}, default="spline"
    smoothing : float or (float, float), default=0.0
        Spline lam of the encoder and decoder (docs/method.rst section 2 scale).
    points : str or pair, default="chebyshev"
        Point layout (see :func:`sklearn_coded.operators.coding_points`). With
        ``jitter=False`` a layout that passes a row through exactly (a coded
        point on a data point, see :meth:`CodedSmoothing.exact_rows`) is refused
        when mu > 0: that row would get no coded loss.
    jitter : bool, default=True
        Fresh jittered Chebyshev coded points on every training batch (see
        :class:`~sklearn_coded.nn.CodedSmoothing`), drawn from torch's generator,
        so from ``random_state``. No row is ever decoded exactly.
    block : str or None, default=None
        Name of the submodule f of ``module_`` that is coded (see
        :func:`sklearn_coded.nn.coded_block` for the supported blocks); None
        codes the whole module, whose outputs (logits) are then decoded.
    joint_forward : bool, default=False
        Run plain and coded rows through f in one forward pass (BatchNorm
        normalizes them with shared batch statistics) or in two (the plain pass
        is exactly ERM's, hence the default). Without BatchNorm both give the
        same loss; with it, a CNN on Fashion-MNIST scored 86.04% (one pass) and
        85.81% (two) in ``benchmarks/bench_training.py``, within the seeds' noise.
    random_state : int, RandomState instance or None, default=None
        Seeds torch's global generator at the start of ``fit`` (weights,
        shuffling, dropout): an int is passed to ``torch.manual_seed`` as is, a
        RandomState draws the seed.
    progress_bar : bool, default=False
        Show a tqdm progress bar over the batches of each epoch (skorch's
        ``ProgressBar`` callback).
    weighting : {"convex", "additive"}, default="convex"
        ``L = (1 - mu) L_main + mu L_coded`` or ``L = L_main + mu L_coded``.
        The convex form scales the main loss's gradient by ``1 - mu`` (a lower
        effective learning rate for it); the additive one keeps ERM's step and
        adds the coded loss as a penalty. Under the user guide's protocol the
        additive loss scored -0.80 to +0.32 points against the convex one in
        six regimes (digits, Fashion-MNIST, breast cancer; no interval above 0),
        so the default stays convex.
    bn_stats : {"both", "plain"}, default="both"
        Which passes update BatchNorm running statistics: the plain and the
        coded one, or the plain one only (the statistics used in prediction
        are then ERM's; needs ``joint_forward=False``). Measured under the
        user guide's protocol (Fashion-MNIST 1000, a BatchNorm MLP): plain
        minus both -0.54 [-2.90, +1.82] points, so the default stays "both".

    Attributes
    ----------
    plan_ : CodingPlan
        The training code (K, N, points, smoothing, order) and its training
        variant, resolved from these parameters when the module is initialized.
    coder_ : CodedSmoothing
        The encoder and decoder buffers, on the net's device; K is the training
        batch size.

    Notes
    -----
    The code is used in training only: ``predict``, ``predict_proba`` and
    ``score`` are the plain network's. So ``GridSearchCV`` over ``mu`` and
    ``n_coded`` (the training N) with the default scorer selects on the network
    that is deployed. For coded prediction, wrap the tuned net in
    :class:`~sklearn_coded.estimators.CodedClassifier`, whose own ``n_coded`` is
    the prediction N; it refits the net with the net's own K, N and mu.

    Each training batch records ``train_loss_main``, ``train_loss_coded`` and
    ``train_decoding_error`` in ``history`` (batch level): the last is the root
    mean square of ``D f(E h) - f(h)`` at the block's output, the regularising
    signal, which vanishes as N grows.
    """

    def __init__(
        self,
        module,
        *args,
        mu=0.0,
        n_coded=None,
        coded_loss="consistency",
        scheme="spline",
        smoothing=0.0,
        points="chebyshev",
        order=2,
        jitter=True,
        block=None,
        joint_forward=False,
        random_state=None,
        progress_bar=False,
        weighting="convex",
        bn_stats="both",
        **kwargs,
    ):
        super().__init__(module, *args, **kwargs)
        self.mu = mu
        self.n_coded = n_coded
        self.coded_loss = coded_loss
        self.scheme = scheme
        self.smoothing = smoothing
        self.points = points
        self.order = order
        self.jitter = jitter
        self.block = block
        self.joint_forward = joint_forward
        self.random_state = random_state
        self.progress_bar = progress_bar
        self.weighting = weighting
        self.bn_stats = bn_stats

    def _train_batch_size(self):
        size = self.get_params_for("iterator_train").get("batch_size", self.batch_size)
        if not isinstance(size, numbers.Integral) or isinstance(size, bool) or size < 2:
            raise ValueError(
                f"Coded-smoothing needs a training batch size >= 2; got batch_size={size!r}."
            )
        return int(size)

    def get_default_callbacks(self):
        callbacks = list(super().get_default_callbacks())
        if self.progress_bar:
            callbacks.append(("progress_bar", ProgressBar()))
        return callbacks

    def initialize_module(self):
        """Initialize ``module_``, the plan ``plan_`` and the coder ``coder_`` (K = batch size)."""
        super().initialize_module()
        check_loss_params(
            self.mu, self.coded_loss, self.joint_forward, self.weighting, self.bn_stats
        )
        if self.block:
            self.module_.get_submodule(self.block)  # fails early, naming the block
        n_samples = self._train_batch_size()
        self.plan_ = training_plan(
            n_samples,
            self.n_coded,
            mu=self.mu,
            coded_loss=self.coded_loss,
            scheme=self.scheme,
            smoothing=self.smoothing,
            points=self.points,
            jitter=self.jitter,
            order=self.order,
            weighting=self.weighting,
        )
        self.coder_ = CodedSmoothing.from_plan(self.plan_)
        self.coder_.checked_sizes = set()
        if self.mu > 0:
            self._check_no_exact_rows(n_samples)
        return self

    def _check_no_exact_rows(self, batch_size):
        """Refuse a fixed layout that decodes some rows exactly (no coded loss there)."""
        checked = self.coder_.checked_sizes
        if self.jitter or batch_size in checked:
            return
        rows = self.coder_.exact_rows(batch_size)
        if rows.size:
            n_coded = self.coder_.coded_size(batch_size)
            which = "every row" if rows.size == batch_size else f"rows {rows.tolist()}"
            raise ValueError(
                f"With points={self.points!r}, K={batch_size} rows and N={n_coded} coded rows, "
                f"the code passes {which} through exactly (a coded point on their data point: "
                "those rows of D E are rows of the identity), so they get no coded loss. Use "
                "jitter=True (fresh coded points per batch), another n_coded, or other points."
            )
        checked.add(batch_size)

    def get_dataset(self, X, y=None):
        """skorch's dataset, with numeric arrays cast to float32 X and int64/float32 y."""
        X = _as_float32(X)
        if isinstance(y, np.ndarray):
            if y.dtype.kind in "iub" and y.dtype != np.int64:
                y = y.astype(np.int64)
            elif y.dtype.kind == "f" and y.dtype != np.float32:
                y = y.astype(np.float32)
        return super().get_dataset(X, y)

    def fit(self, X, y=None, **fit_params):
        """Seed torch from ``random_state``, then fit as the base net does."""
        if isinstance(self.random_state, numbers.Integral):
            torch.manual_seed(self.random_state)
        elif self.random_state is not None:
            torch.manual_seed(check_random_state(self.random_state).randint(2**31 - 1))
        return super().fit(X, y, **fit_params)

    def _criterion(self, X):
        """``criterion(output, y)``: skorch's training loss of a batch X."""
        if self.coded_loss == "task" and isinstance(self.criterion_, nn.NLLLoss):
            raise ValueError(
                "coded_loss='task' decodes the module outputs, which must be logits: "
                "use criterion=torch.nn.CrossEntropyLoss, not NLLLoss."
            )
        return functools.partial(self.get_loss, X=X, training=True)

    def coded_losses(self, y_pred, y_coded, y_true, X, block_outputs=None):
        """``(L_main, L_coded)`` of a batch.

        ``y_pred``: the network's plain outputs; ``y_coded``: its outputs with the
        block decoded; ``block_outputs``: the block's plain and decoded outputs
        ``(f(h), D f(E h))``, which the consistency loss compares (default: the
        network's outputs, as when the whole network is the block).
        """
        block_outputs = (y_pred, y_coded) if block_outputs is None else block_outputs
        return coded_loss_terms(
            y_pred, y_coded, block_outputs, y_true, self._criterion(X), self.coded_loss
        )

    def coded_paths(self, Xi, **fit_params):
        """Plain and coded outputs of the network, and of the block.

        Returns ``(y_pred, y_coded, (f(h), D f(E h)))``: the network's output,
        its output with the block f decoded, and the block's own plain and
        decoded outputs.
        """
        forward = functools.partial(self.infer, **fit_params)
        return coded_paths(
            forward, self.module_, Xi, self.coder_, block=self.block, joint=self.joint_forward
        )

    def train_step_single(self, batch, **fit_params):
        """One step on ``L = (1 - mu) L_main + mu L_coded`` (docs/method.rst section 5).

        The loss is :func:`sklearn_coded.nn.coded_smoothing_loss`'s, with skorch's
        ``infer`` and ``get_loss``.
        """
        if self.mu == 0:
            return super().train_step_single(batch, **fit_params)
        self._set_training(True)
        Xi, yi = unpack_data(batch)
        self._check_no_exact_rows(_n_rows(Xi))
        result = coded_terms(
            functools.partial(self.infer, **fit_params),
            self.module_,
            Xi,
            yi,
            self.coder_,
            criterion=self._criterion(Xi),
            mu=self.mu,
            coded_loss=self.coded_loss,
            block=self.block,
            joint=self.joint_forward,
            weighting=self.weighting,
            bn_stats=self.bn_stats,
        )
        result.loss.backward()
        if len(self.history) and self.history[-1]["batches"]:  # inside fit: a batch row is open
            self.history.record_batch("train_loss_main", result.main.item())
            self.history.record_batch("train_loss_coded", result.coded.item())
            self.history.record_batch("train_decoding_error", result.decoding_error.item())
        return {"loss": result.loss, "y_pred": result.output}


def _n_rows(X):
    """Rows of a batch given as a tensor or a dict of tensors."""
    if torch.is_tensor(X):
        return X.shape[0]
    return next(iter(X.values())).shape[0]


def _new_coded_net(base_class):
    cls = coded_net_class(base_class)
    return cls.__new__(cls)


def _reduce_coded_net(self):
    # The class is built at run time; pickle it as "coded_net_class(base)".
    return _new_coded_net, (self._coded_base_class,), self.__getstate__()


@functools.cache
def coded_net_class(net_class):
    """The coded-smoothing subclass of a skorch net class (built once, cached).

    Read more in the :ref:`User Guide <coded_smoothing>`.

    Parameters
    ----------
    net_class : type
        A subclass of :class:`skorch.NeuralNet`.

    Returns
    -------
    type
        ``net_class`` itself if it already has :class:`CodedSmoothingMixin`, else
        a subclass ``Coded<Name>(CodedSmoothingMixin, net_class)``; its instances
        pickle, clone and deep-copy.

    Examples
    --------
    >>> from skorch import NeuralNetClassifier
    >>> from sklearn_coded.nn import coded_net_class
    >>> cls = coded_net_class(NeuralNetClassifier)
    >>> cls.__name__, cls is coded_net_class(NeuralNetClassifier)
    ('CodedNeuralNetClassifier', True)
    """
    if not (isinstance(net_class, type) and issubclass(net_class, NeuralNet)):
        raise TypeError(f"net_class must be a skorch NeuralNet subclass; got {net_class!r}.")
    if issubclass(net_class, CodedSmoothingMixin):
        return net_class
    return type(
        f"Coded{net_class.__name__}",
        (CodedSmoothingMixin, net_class),
        {
            "__module__": __name__,
            "__doc__": f"{net_class.__name__} trained with coded-smoothing; see "
            "CodedSmoothingMixin for the extra parameters.",
            "_coded_base_class": net_class,
            "__reduce__": _reduce_coded_net,
        },
    )


def make_coded_net(
    net,
    *,
    n_coded=_REQUIRED,
    batch_size=_REQUIRED,
    mu=_REQUIRED,
    coded_loss="consistency",
    scheme="spline",
    smoothing=0.0,
    points="chebyshev",
    jitter=True,
    random_state=None,
    plan=None,
    **coded_params,
):
    """An unfitted copy of a skorch net that trains with coded-smoothing.

    Read more in the :ref:`User Guide <coded_smoothing>`.

    The copy has the same class family (a subclass from :func:`coded_net_class`),
    module, criterion, optimizer, callbacks and parameters as ``net``; it trains
    on ``L = (1 - mu) L_main + mu L_coded`` (docs/method.rst section 5) with K =
    ``batch_size`` training rows and N = ``n_coded`` coded rows per batch.

    Parameters
    ----------
    net : skorch.NeuralNet
        The net to copy (fitted or not; it is cloned, not changed).
    n_coded : int or None
        N >= 2 (None: N = K). Required unless ``plan`` is given.
    batch_size : int
        K >= 2; becomes the net's (training) batch size. Required unless
        ``plan`` is given.
    mu : float in [0, 1]
        Required unless ``plan`` is given.
    coded_loss : {"task", "consistency"}, default="consistency"
        See :class:`CodedSmoothingMixin` (why "consistency" is the default).
    scheme : {"spline", "berrut", "lagrange"}, default="spline"
    smoothing : float or (float, float), default=0.0
    points : str or pair, default="chebyshev"
    jitter : bool, default=True
        Fresh jittered Chebyshev coded points per training batch (see
        :class:`CodedSmoothingMixin`).
    random_state : int, RandomState instance or None, default=None
        Seeds torch at the start of ``fit``.
    plan : CodingPlan or None, default=None
        A resolved plan with a training variant (``plan.training``): K, the
        training N, mu, coded loss, scheme, smoothing, points, jitter, order and
        weighting are read from it, and the keywords above are ignored (the
        coded estimators pass theirs). None: the keywords build the plan.
    **coded_params
        ``block``, ``joint_forward``, ``progress_bar``, ``order``, ``weighting``,
        ``bn_stats`` (see :class:`CodedSmoothingMixin`).

    Returns
    -------
    coded_net : skorch.NeuralNet
        Unfitted.

    Examples
    --------
    >>> import numpy as np
    >>> import torch
    >>> from skorch import NeuralNetClassifier
    >>> from sklearn_coded.nn import make_coded_net
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(96, 4))
    >>> y = (X[:, 0] > 0).astype(int)
    >>> net = NeuralNetClassifier(torch.nn.Linear, module__in_features=4,
    ...     module__out_features=2, criterion=torch.nn.CrossEntropyLoss,
    ...     max_epochs=5, lr=0.5, train_split=None, verbose=0)
    >>> coded = make_coded_net(net, n_coded=48, batch_size=32, mu=0.5, random_state=0)
    >>> type(coded).__name__, coded.batch_size
    ('CodedNeuralNetClassifier', 32)
    >>> coded.fit(X, y).score(X, y) > 0.9  # float64 X and int y are converted
    True
    """
    if not isinstance(net, NeuralNet):
        raise TypeError(f"net must be a skorch NeuralNet; got {type(net).__name__}.")
    unknown = set(coded_params) - {
        "block",
        "joint_forward",
        "progress_bar",
        "order",
        "weighting",
        "bn_stats",
    }
    if unknown:
        raise TypeError(f"make_coded_net got unexpected keyword arguments {sorted(unknown)}.")
    if plan is None:
        settings = {
            "n_coded": n_coded,
            "batch_size": batch_size,
            "mu": mu,
            "coded_loss": coded_loss,
            "scheme": scheme,
            "smoothing": smoothing,
            "points": points,
            "jitter": jitter,
        }
        missing = [name for name in ("n_coded", "batch_size", "mu") if settings[name] is _REQUIRED]
        if missing:
            raise TypeError(
                f"make_coded_net() missing required keyword arguments {missing} (or pass plan=)."
            )
        if not isinstance(batch_size, numbers.Integral) or isinstance(batch_size, bool):
            raise ValueError(f"batch_size must be an integer >= 2; got {batch_size!r}.")
        if batch_size < 2:
            raise ValueError(f"batch_size must be an integer >= 2; got {batch_size!r}.")
        check_loss_params(
            mu,
            coded_loss,
            coded_params.get("joint_forward", False),
            coded_params.get("weighting", "convex"),
            coded_params.get("bn_stats", "both"),
        )
        training_plan(  # validates the code now; the net resolves its plan_ when fitted
            **settings, **{k: coded_params[k] for k in ("order", "weighting") if k in coded_params}
        )
    else:
        settings = _plan_settings(plan)
    params = clone(net).get_params(deep=False)
    params.update(settings)
    params.update(coded_params, random_state=random_state)
    if "iterator_train__batch_size" in params:
        params["iterator_train__batch_size"] = settings["batch_size"]
    return coded_net_class(type(net))(**params)
