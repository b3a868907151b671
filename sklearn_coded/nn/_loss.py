"""Coded-smoothing loss for any torch training loop (docs/method.rst section 5).

One call per batch returns

    L = (1 - mu) * L_main + mu * L_coded,    mu in [0, 1],                 (docs/method.rst 5)

with L_main the criterion of the plain outputs and L_coded either the criterion of
the outputs with the block f decoded, ``D f(E h)`` (``coded_loss="task"``), or the
mean squared error between the block's decoded and plain outputs
(``coded_loss="consistency"``, label-free). The coding is :class:`CodedSmoothing`
and :func:`coded_block`'s hooks; this module only wires them to a loss. The skorch
mixin (``_skorch.py``) computes its loss with :func:`coded_terms`.
"""

import contextlib
import numbers
from typing import NamedTuple

import numpy as np
import torch
from torch.nn import functional

from ._coding import CodedSmoothing, _block_output, _coded_hooks

CODED_LOSSES = ("task", "consistency")
#: How L_main and L_coded are combined: ``(1 - mu) L_main + mu L_coded`` ("convex")
#: or ``L_main + mu L_coded`` ("additive", the main loss keeps its full step size).
LOSS_WEIGHTINGS = ("convex", "additive")
#: Which passes update BatchNorm running statistics: the plain and the coded one
#: ("both") or the plain one only ("plain": the statistics are ERM's).
BN_STATS = ("both", "plain")

#: Coders kept by :func:`coded_smoothing_loss` (the oldest is dropped beyond this).
CODER_CACHE_SIZE = 32
_CODERS = {}


class CodedLoss(NamedTuple):
    """The terms of a coded-smoothing loss (see :func:`coded_smoothing_loss`)."""

    loss: torch.Tensor
    """``(1 - mu) L_main + mu L_coded`` (``L_main + mu L_coded`` with
    ``weighting="additive"``); ``mu L_coded`` without a criterion."""
    main: torch.Tensor | None
    """L_main, the criterion of the plain outputs (None without a criterion)."""
    coded: torch.Tensor
    """L_coded."""
    output: torch.Tensor
    """The plain outputs ``model(x)``."""
    coded_output: torch.Tensor
    """The outputs with the block decoded."""
    decoding_error: torch.Tensor
    """Root mean square of ``D f(E h) - f(h)`` at the block's output (detached)."""


@contextlib.contextmanager
def _kept_bn_stats(module, keep):
    """Restore every BatchNorm's running statistics after the block (when ``keep``)."""
    norms = [
        m for m in module.modules() if keep and isinstance(m, torch.nn.modules.batchnorm._NormBase)
    ]
    saved = [
        {name: buf.detach().clone() for name, buf in m.named_buffers(recurse=False)} for m in norms
    ]
    try:
        yield
    finally:
        # through .data: the coded pass's graph saved these tensors, and the
        # statistics take no part in its gradients (training mode normalises with
        # the batch's own statistics)
        for m, buffers in zip(norms, saved, strict=True):
            for name, value in buffers.items():
                getattr(m, name).data.copy_(value)


def coded_paths(forward, module, x, coder, *, block=None, joint=False, bn_stats="both"):
    """Plain and coded outputs of a network, and of its block.

    ``forward(x)`` runs the network (``module`` or a wrapper of it). Returns
    ``(y_pred, y_coded, (f(h), D f(E h)))``: the output, the output with the block
    f of ``module`` decoded, and the block's plain and decoded outputs. ``joint``:
    one pass over plain and coded rows (:func:`coded_block`), else two passes,
    the plain one first. ``bn_stats="plain"`` (two passes only): the coded pass
    leaves the BatchNorm running statistics as the plain pass left them (it is
    still normalised with its own batch statistics in training mode).
    """
    if joint:
        with _coded_hooks(module, block, coder, joint=True) as hooks:
            both = forward(x)
        k = both.shape[0] // 2
        return both[:k], both[k:], (hooks.plain, hooks.decoded)
    with _block_output(module, block) as record:
        y_pred = forward(x)
    with (
        _kept_bn_stats(module, bn_stats == "plain"),
        _coded_hooks(module, block, coder, joint=False) as hooks,
    ):
        y_coded = forward(x)
    return y_pred, y_coded, (record["output"], hooks.decoded)


def coded_loss_terms(y_pred, y_coded, block_outputs, y, criterion, coded_loss):
    """``(L_main, L_coded)`` from the outputs of :func:`coded_paths`.

    ``criterion(output, y)`` scores outputs; None gives L_main = None
    (consistency only).
    """
    loss_main = None if criterion is None else criterion(y_pred, y)
    if coded_loss == "task":
        loss_coded = criterion(y_coded, y)
    else:
        plain, decoded = block_outputs
        loss_coded = functional.mse_loss(decoded, plain)
    return loss_main, loss_coded


def combine(loss_main, loss_coded, mu, weighting="convex"):
    """``(1 - mu) L_main + mu L_coded`` or ``L_main + mu L_coded`` (docs/method.rst 5).

    ``weighting="convex"`` scales the main loss's gradient by ``1 - mu``, a lower
    effective learning rate for it; ``"additive"`` keeps the main loss as ERM has
    it and adds the coded loss as a penalty. ``loss_main=None``: ``mu L_coded``.
    """
    if loss_main is None:
        return mu * loss_coded
    if weighting == "additive":
        return loss_main + mu * loss_coded
    return (1 - mu) * loss_main + mu * loss_coded


def coded_terms(
    forward,
    module,
    x,
    y,
    coder,
    *,
    criterion,
    mu,
    coded_loss,
    block,
    joint,
    weighting="convex",
    bn_stats="both",
):
    """The :class:`CodedLoss` of a batch, the network run by ``forward``."""
    y_pred, y_coded, block_outputs = coded_paths(
        forward, module, x, coder, block=block, joint=joint, bn_stats=bn_stats
    )
    loss_main, loss_coded = coded_loss_terms(
        y_pred, y_coded, block_outputs, y, criterion, coded_loss
    )
    loss = combine(loss_main, loss_coded, mu, weighting)
    plain, decoded = block_outputs
    error = torch.sqrt(torch.mean((decoded.detach() - plain.detach()) ** 2))
    return CodedLoss(loss, loss_main, loss_coded, y_pred, y_coded, error)


def check_loss_params(mu, coded_loss, joint_forward, weighting="convex", bn_stats="both"):
    """Validate the loss settings shared by the functional loss and the skorch nets."""
    if bn_stats not in BN_STATS:
        raise ValueError(f"bn_stats must be one of {BN_STATS}; got {bn_stats!r}.")
    if bn_stats == "plain" and joint_forward is True:
        raise ValueError(
            "bn_stats='plain' needs two passes (plain and coded rows apart); got "
            "joint_forward=True, which normalises them together."
        )
    if weighting not in LOSS_WEIGHTINGS:
        raise ValueError(f"weighting must be one of {LOSS_WEIGHTINGS}; got {weighting!r}.")
    if not isinstance(mu, numbers.Real) or isinstance(mu, bool) or not 0 <= mu <= 1:
        raise ValueError(f"mu must be a number in [0, 1]; got {mu!r}.")
    if coded_loss not in CODED_LOSSES:
        raise ValueError(f"coded_loss must be one of {CODED_LOSSES}; got {coded_loss!r}.")
    if not isinstance(joint_forward, bool):
        raise ValueError(f"joint_forward must be True or False; got {joint_forward!r}.")


def _frozen(points):
    """A hashable key for a point layout (family names or arrays)."""
    if isinstance(points, str):
        return points
    return tuple(
        spec if isinstance(spec, str) else np.asarray(spec, dtype=float).tobytes()
        for spec in points
    )


def cached_coder(n_samples, n_coded, *, scheme, smoothing, points, jitter, order=2):
    """A :class:`CodedSmoothing` for these settings, built once and then reused.

    ``n_coded`` None means N = K = ``n_samples``. The coder keeps its operators
    per batch size, dtype and device, so repeated calls build no matrix. At most
    ``CODER_CACHE_SIZE`` coders are kept.
    """
    n_coded = n_samples if n_coded is None else n_coded
    key = (n_samples, n_coded, scheme, repr(smoothing), order, _frozen(points), jitter)
    coder = _CODERS.get(key)
    if coder is None:
        coder = CodedSmoothing(
            n_samples,
            n_coded,
            scheme=scheme,
            smoothing=smoothing,
            order=order,
            points=points,
            jitter=jitter,
        )
        if len(_CODERS) >= CODER_CACHE_SIZE:
            del _CODERS[next(iter(_CODERS))]
        _CODERS[key] = coder
    return coder


def coded_smoothing_loss(
    model,
    x,
    y=None,
    *,
    criterion=None,
    mu=0.5,
    coded_loss="task",
    n_coded=None,
    scheme="spline",
    smoothing=0.0,
    order=2,
    points="chebyshev",
    jitter=True,
    block=None,
    joint_forward=False,
    coder=None,
    weighting="convex",
    bn_stats="both",
    plan=None,
):
    """Coded-smoothing loss of a batch, for a hand-written training loop.

    Read more in the :ref:`User Guide <training_loop>`.

    Runs ``model`` on the batch ``x`` of K rows twice (or once, ``joint_forward``):
    plain, and with the submodule ``block`` f replaced by ``D f(E h)`` (docs/method.rst
    section 5), and returns ``L = (1 - mu) L_main + mu L_coded`` with its terms.
    Call ``.loss.backward()`` on the result. The encoder and decoder are built
    once per setting (K, N, scheme, smoothing, order, points, jitter) and reused, on the
    device and in the dtype of the block's input.

    Parameters
    ----------
    model : torch.nn.Module
    x : Tensor of shape (K, ...)
        The batch, K >= 2 rows.
    y : Tensor, optional
        Labels: the criterion is called as ``criterion(output, y)``, or as
        ``criterion(output)`` when y is None (a label-free loss, e.g. a GAN
        generator's ``-critic(output).mean()``).
    criterion : callable or None, default=None
        Scores outputs (e.g. ``torch.nn.CrossEntropyLoss()``; logits, since
        decoded outputs are not probabilities). None: only the consistency loss,
        and ``loss`` is ``mu * L_coded``, to add to the loop's own loss.
    mu : float in [0, 1], default=0.5
        Weight of the coded loss.
    coded_loss : {"task", "consistency"}, default="task"
        ``"task"``: the criterion of the output with the block decoded.
        ``"consistency"``: mean squared error between the block's decoded
        outputs ``D f(E h)`` and its plain outputs ``f(h)``; needs no labels.
    n_coded : int or None, default=None
        N >= 2 coded rows for the batch; None means N = K.
    scheme : {"spline", "berrut", "lagrange"}, default="spline"
    smoothing : float or (float, float), default=0.0
        Spline lam of the encoder and decoder (docs/method.rst section 2 scale).
    order : int, default=2
        Spline order m (docs/method.rst 7); 2 is the cubic smoothing spline.
    points : str or pair, default="chebyshev"
        Point layout (see :func:`sklearn_coded.operators.coding_points`).
    jitter : bool, default=True
        Fresh jittered Chebyshev coded points per call, from torch's generator
        (see :class:`CodedSmoothing`), so no row is decoded exactly.
    block : str or None, default=None
        Name of the coded submodule (see :func:`coded_block`); None codes the
        whole model.
    joint_forward : bool, default=False
        One forward pass over plain and coded rows (shared BatchNorm
        statistics), or two, the plain one first.
    coder : CodedSmoothing, optional
        The coder to use; the settings n_coded, scheme, smoothing, order, points
        and jitter are then ignored.
    weighting : {"convex", "additive"}, default="convex"
        ``L = (1 - mu) L_main + mu L_coded`` or ``L = L_main + mu L_coded`` (the
        main loss's gradient not scaled down by ``1 - mu``); see
        :class:`~sklearn_coded.nn.CodedSmoothingMixin` for what was measured.
    bn_stats : {"both", "plain"}, default="both"
        Which passes update BatchNorm running statistics: both, or only the
        plain one (the evaluation-mode statistics are then those of the plain
        batches, as in ERM; needs ``joint_forward=False``). Not measured yet.

    Returns
    -------
    result : CodedLoss
        ``loss``, ``main``, ``coded``, ``output`` (plain outputs),
        ``coded_output`` and ``decoding_error`` (see :class:`CodedLoss`).

    Examples
    --------
    A plain PyTorch loop:

    >>> import torch
    >>> from torch import nn
    >>> from sklearn_coded.nn import coded_smoothing_loss
    >>> _ = torch.manual_seed(0)
    >>> X, y = torch.randn(256, 4), torch.randint(0, 3, (256,))
    >>> model = nn.Sequential(nn.Linear(4, 32), nn.ReLU(), nn.Linear(32, 3))
    >>> optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    >>> for xb, yb in zip(X.split(32), y.split(32)):
    ...     optimizer.zero_grad()
    ...     out = coded_smoothing_loss(model, xb, yb, criterion=nn.CrossEntropyLoss(),
    ...                                mu=0.5, n_coded=48, block="1")
    ...     out.loss.backward()
    ...     optimizer.step()
    >>> out.output.shape, out.coded_output.shape, bool(out.decoding_error > 0)
    (torch.Size([32, 3]), torch.Size([32, 3]), True)
    """
    check_loss_params(mu, coded_loss, joint_forward, weighting, bn_stats)
    if criterion is None and coded_loss == "task":
        raise ValueError("coded_loss='task' needs a criterion; got criterion=None.")
    if criterion is not None and not callable(criterion):
        raise ValueError(f"criterion must be callable or None; got {criterion!r}.")
    if not torch.is_tensor(x) or x.ndim == 0 or x.shape[0] < 2:
        raise ValueError(f"x must be a tensor with >= 2 rows; got {type(x).__name__} {x!r:.60}.")
    if block:
        model.get_submodule(block)  # fails early, naming the block
    if coder is None:
        settings = {
            "n_coded": n_coded,
            "scheme": scheme,
            "smoothing": smoothing,
            "order": order,
            "points": points,
            "jitter": jitter,
        }
        coder = cached_coder(x.shape[0], **(settings if plan is None else _plan_code(plan)))
    elif not isinstance(coder, CodedSmoothing):
        raise ValueError(f"coder must be a CodedSmoothing or None; got {coder!r}.")
    if criterion is not None and y is None:
        label_free = criterion
        criterion = lambda output, _: label_free(output)  # noqa: E731
    return coded_terms(
        model,
        model,
        x,
        y,
        coder,
        criterion=criterion,
        mu=mu,
        coded_loss=coded_loss,
        block=block,
        joint=joint_forward,
        weighting=weighting,
        bn_stats=bn_stats,
    )


def _plan_code(plan):
    """:func:`cached_coder`'s settings from a plan (its training variant's N and points)."""
    t = plan.training
    return {
        "n_coded": plan.n_coded if t is None else t.n_coded,
        "scheme": plan.training_scheme,
        "smoothing": (plan.lam_enc, plan.lam_dec) if t is None else (t.lam_enc, t.lam_dec),
        "order": plan.order,
        "points": plan.points if t is None else t.points,
        "jitter": False if t is None else t.jitter,
    }
