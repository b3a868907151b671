"""Layer-wise private, straggler- and Byzantine-resilient network inference (docs/method.rst (9.9)).

A network that is a stack of affine layers (Linear, Conv1d, Conv2d), elementwise
nonlinearities and average poolings is run as

    for each layer:  h --encode + fresh secret padding--> N shares
                       --workers: the layer's linear part W (no bias)--> N results
                       --decode (exact: the layer is linear)--> W h, + bias, nonlinearity

Workers hold the layer weights and only ever see coded, noise-padded activations;
the master holds the biases, encodes, decodes, locates liars and applies the
nonlinearities. The codes are the exact real-field codes of
:mod:`sklearn_coded.operators._exact` (rotation embedding by default): any
``threshold`` workers determine the layer output up to rounding whatever the
padding scale, any ``n_private`` colluders see the activations plus full-rank
Gaussian padding, and up to ``n_adversaries`` liars are located exactly from
``threshold + 2 n_adversaries`` results (l1 decoding first,
:func:`~sklearn_coded.operators.l1_locate_liars`, then
:func:`~sklearn_coded.operators.locate_liars` where l1 is not proven).

This module is imported only when ``scheme="layerwise"`` is used (it needs torch).
"""

import copy
import math
from dataclasses import dataclass, field
from numbers import Integral

import numpy as np
import torch
from torch import nn

from ..execution import check_stragglers, run_workers
from ..operators._exact import EXACT_CODES, exact_code, exact_noise_scale
from ..operators._exact_liars import locate_exact
from ..operators._secret import private_generator

#: Layers whose output the workers compute (linear maps; a bias is the master's).
AFFINE_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d)
#: Linear layers without weights the master applies itself: coding an average
#: pooling would cost the master more than computing it (encoding is (K + P) / K
#: FLOPs per input entry per worker row, pooling about one), and it has no weights
#: to keep from anyone.
POOLING_LAYERS = (nn.AvgPool1d, nn.AvgPool2d)
#: Elementwise layers the master applies.
ELEMENTWISE_LAYERS = (
    nn.ReLU,
    nn.LeakyReLU,
    nn.ReLU6,
    nn.ELU,
    nn.GELU,
    nn.SiLU,
    nn.Tanh,
    nn.Sigmoid,
    nn.Softplus,
    nn.Softsign,
    nn.Hardtanh,
    nn.Identity,
    nn.Dropout,  # the identity at inference
)
#: Layers that only reshape (the master's, free).
RESHAPE_LAYERS = (nn.Flatten, nn.Unflatten)

#: The construction of ``points="auto"``: the rotation embedding, whose worst
#: condition number over survivor sets was the least measured
#: (``benchmarks/bench_exact_codes.py``) and whose colluders' noise blocks are the best
#: conditioned.
DEFAULT_CODE = "rotation"


def _leaf_layers(module):
    """The layers of a (nested) Sequential, in order; a non-Sequential is one layer."""
    if isinstance(module, nn.Sequential):
        layers = []
        for child in module:
            layers += _leaf_layers(child)
        return layers
    return [module]


class AffineWorker:
    """What one worker computes: the linear part of one layer (picklable).

    Parameters
    ----------
    layer : torch.nn.Module
        A Linear, Conv1d or Conv2d layer; kept in float64.
    in_shape : tuple of int
        Shape of one input row (without the batch axis).
    share : int, default=1
        Rows of the code per worker: each input row holds ``share`` coded rows.
    """

    def __init__(self, layer, in_shape, share=1):
        self.layer = copy.deepcopy(layer).double().eval()
        self.in_shape = tuple(in_shape)
        self.share = share

    def linear_part(self, x):
        layer = self.layer
        if isinstance(layer, nn.Linear):
            return nn.functional.linear(x, layer.weight)
        return layer._conv_forward(x, layer.weight, None)  # Conv1d, Conv2d

    def apply(self, rows):
        """The linear part on coded rows: (n, share * prod(in_shape)) -> (n, share * out)."""
        rows = np.asarray(rows, dtype=np.float64)
        x = torch.from_numpy(np.ascontiguousarray(rows)).reshape(-1, *self.in_shape)
        with torch.no_grad():
            out = self.linear_part(x)
        return out.reshape(rows.shape[0], -1).numpy()


def _bias(layer, out_shape):
    bias = getattr(layer, "bias", None)
    if bias is None:
        return None
    b = bias.detach().double().numpy()
    return (b.reshape(-1, *([1] * (len(out_shape) - 1))) * np.ones(out_shape)).ravel()


def _macs(layer, in_shape, out_shape):
    """Multiply-accumulates of the linear part per input row."""
    out = math.prod(out_shape)
    if isinstance(layer, nn.Linear):
        return layer.in_features * layer.out_features
    return out * (layer.in_channels // layer.groups) * math.prod(layer.kernel_size)


@dataclass
class Step:
    """One step of the plan: ``kind`` is "affine", "elementwise" or "reshape"."""

    kind: str
    layer: nn.Module
    in_shape: tuple
    out_shape: tuple
    spread: float = 1.0  # std of the step's input on the probe rows
    top_std: float = 1.0  # sqrt of the largest eigenvalue of its input's covariance
    bias: np.ndarray = None
    macs: int = 0
    workers: dict = field(default_factory=dict)  # share -> AffineWorker

    def worker(self, share):
        if share not in self.workers:
            self.workers[share] = AffineWorker(self.layer, self.in_shape, share)
        return self.workers[share]


def plan_layers(module, X_probe):
    """Split a network into master and worker steps; refuse what is not supported.

    Parameters
    ----------
    module : torch.nn.Module or skorch net
        A Sequential stack (nested ones are flattened) of affine layers
        (``AFFINE_LAYERS``), elementwise nonlinearities (``ELEMENTWISE_LAYERS``)
        and reshapes; a skorch net's ``module_``.
    X_probe : ndarray of shape (n_rows, ...)
        Input rows: the shapes of every step, and the spread of each affine
        layer's input (the unit of the padding noise).

    Returns
    -------
    steps : list of Step

    Raises
    ------
    TypeError
        Naming the first layer that is neither affine, elementwise nor a reshape.

    Examples
    --------
    >>> import numpy as np
    >>> from torch import nn
    >>> from sklearn_coded.nn._layerwise import plan_layers
    >>> net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    >>> [s.kind for s in plan_layers(net, np.ones((2, 4)))]
    ['affine', 'elementwise', 'affine']
    >>> bn = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8))
    >>> plan_layers(bn, np.ones((2, 4)))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    TypeError: scheme='layerwise' runs stacks of ... layer 1, BatchNorm1d(8, ...), is none of them.
    """
    module = getattr(module, "module_", module)  # a skorch net: its fitted module
    layers = _leaf_layers(module)
    steps = []
    x = torch.as_tensor(np.asarray(X_probe, dtype=np.float64))
    for i, layer in enumerate(layers):
        if isinstance(layer, AFFINE_LAYERS):
            kind = "affine"
        elif isinstance(layer, ELEMENTWISE_LAYERS + POOLING_LAYERS):
            kind = "elementwise"  # the master's (elementwise or weightless pooling)
        elif isinstance(layer, RESHAPE_LAYERS):
            kind = "reshape"
        else:
            names = ", ".join(t.__name__ for t in AFFINE_LAYERS + POOLING_LAYERS)
            raise TypeError(
                f"scheme='layerwise' runs stacks of {names} layers, reshapes and elementwise "
                f"nonlinearities; layer {i}, {layer!r}, is none of them."
            )
        with torch.no_grad():
            y = copy.deepcopy(layer).double().eval()(x)
        in_shape, out_shape = tuple(x.shape[1:]), tuple(y.shape[1:])
        # the step's own float64 copy: the fitted module is left as it is
        step = Step(kind, copy.deepcopy(layer).double().eval(), in_shape, out_shape)
        if kind == "affine":
            step.spread = float(x.std()) or 1.0
            rows = x.reshape(len(x), -1).numpy()
            centred = rows - rows.mean(axis=0)
            # sqrt(lambda_max) of the feature covariance: the unit of calibrated padding
            step.top_std = float(np.linalg.norm(centred, 2) / math.sqrt(len(rows))) or 1.0
            step.bias = _bias(layer, out_shape)
            step.macs = _macs(layer, in_shape, out_shape)
        steps.append(step)
        x = y
    return steps


@dataclass
class Costs:
    """FLOPs and traffic of one layer-wise inference (2 FLOPs per multiply-add).

    Attributes
    ----------
    master_flops, worker_flops, plain_flops : int
        The master's encode, padding, decode, liar location, bias and
        nonlinearities; all N workers' layer work; the plain network's.
    sent, received : int
        Numbers sent to and received from workers.
    rounds : int
        Master-worker round trips (one per affine layer).
    layers : list of dict
        Per affine layer: its index, width (inputs, outputs), master and worker FLOPs.
    """

    master_flops: int = 0
    worker_flops: int = 0
    plain_flops: int = 0
    sent: int = 0
    received: int = 0
    rounds: int = 0
    layers: list = field(default_factory=list)


def resolve_code(points, batch_size, n_coded, n_private, n_adversaries, stragglers):
    """The exact code of the layer-wise scheme from the estimator's parameters."""
    name = DEFAULT_CODE if points in ("auto", None) else points
    if not isinstance(name, str) or name not in EXACT_CODES:
        raise ValueError(
            f"scheme='layerwise' takes points='auto' or one of the exact codes "
            f"{EXACT_CODES}; got points={points!r}."
        )
    K, T, A = int(batch_size), int(n_private), int(n_adversaries)
    probe = exact_code(name, K, 10**6, n_private=T)  # threshold does not depend on N
    S = stragglers if isinstance(stragglers, Integral) else 0
    N = probe.threshold + 2 * A + S if n_coded is None else int(n_coded)
    needed = probe.threshold + 2 * A
    if needed > N - S:
        raise ValueError(
            f"scheme='layerwise' with the {name!r} code, batch_size={K}, n_private={T} "
            f"and n_adversaries={A} needs N - S >= threshold + 2A = {probe.threshold} + "
            f"{2 * A} = {needed} results per layer; n_coded={n_coded!r} and "
            f"stragglers={stragglers!r} leave {N - S}."
        )
    code = exact_code(name, K, N, n_private=T)
    check_stragglers(stragglers, N, min_results=needed)
    return code, needed


def layerwise_forward(
    steps,
    X,
    code,
    *,
    noise_scale=1.0,
    max_leakage=0.25,
    n_adversaries=0,
    stragglers=None,
    executor=None,
    timeout=None,
    adversaries=None,
    random_state=None,
    costs=None,
    record=None,
):
    """The network's output on X, every affine layer computed by coded workers.

    Parameters
    ----------
    steps : list of Step
        From :func:`plan_layers`.
    X : ndarray of shape (n_samples, ...)
    code : ExactCode
        K = ``code.n_samples`` rows per batch (the last batch is padded with zero
        rows), N workers, T-private padding.
    noise_scale : "auto" or float, default=1.0
        Padding standard deviation in units of each layer input's spread
        (measured on the probe rows); drawn afresh per layer and call from
        :func:`~sklearn_coded.operators._secret.private_generator`. ``"auto"``:
        the smallest sigma whose worst LMMSE R^2 of T colluders is at most
        ``max_leakage`` for isotropic rows of unit variance
        (:func:`~sklearn_coded.operators.exact_noise_scale`, docs/method.rst
        (9.7)), in units of each layer input's top standard deviation (the
        square root of its covariance's largest eigenvalue on the probe rows),
        which bounds every direction of the input.
    max_leakage : float, default=0.25
        The target of ``noise_scale="auto"``, in (0, 1).
    n_adversaries : int, default=0
        A liars per layer to locate exactly (needs threshold + 2A results).
    stragglers, executor, timeout, adversaries, random_state
        As in :func:`~sklearn_coded.execution.run_workers` (in process by default).
    costs : Costs, optional
        Accumulates the FLOPs and traffic.
    record : list, optional
        Receives, per affine layer, ``(layer_index, inputs, shares)``: the true
        inputs (G, K, ...) and what each worker saw (N, G, share * features).

    Returns
    -------
    out : ndarray of shape (n_samples, ...)
        float64.
    """
    X = np.asarray(X, dtype=np.float64)
    n = X.shape[0]
    K, N, share = code.n_samples, code.n_coded, code.share
    G = -(-n // K)
    h = np.zeros((G * K, *X.shape[1:]))
    h[:n] = X
    rng = private_generator()
    min_results = code.threshold + 2 * n_adversaries
    calibrated = None
    if code.n_padding and isinstance(noise_scale, str):
        if noise_scale != "auto" or not 0 < max_leakage < 1:
            raise ValueError(
                f'noise_scale="auto" calibrates the padding to max_leakage in (0, 1); got '
                f"noise_scale={noise_scale!r}, max_leakage={max_leakage!r}: give a number "
                "for noise_scale to pad without a target."
            )
        calibrated = exact_noise_scale(code, max_leakage)  # docs/method.rst (9.7)
    for index, step in enumerate(steps):
        if step.kind == "reshape":
            h = h.reshape(G * K, *step.out_shape)
            continue
        if step.kind == "elementwise":
            h = _elementwise(step, h, costs, n)
            continue
        d_out = math.prod(step.out_shape)
        sigma = (noise_scale, calibrated)
        coded = _coded_inputs(code, h.reshape(G, K, -1), step, sigma, rng)
        if record is not None:
            record.append((index, h.reshape(G, K, *step.in_shape).copy(), coded))
        results, returned = run_workers(
            step.worker(share),
            "apply",
            coded,
            executor=executor,
            stragglers=stragglers,
            min_results=min_results,
            random_state=random_state,
            timeout=timeout,
            adversaries=adversaries,
            max_per_process=code.n_private or None,  # dask: no process holds more than T workers
        )
        results = results.reshape(N, G, share, d_out)
        out, flops = _decode_layer(code, results, returned, d_out, n_adversaries)
        if step.bias is not None:
            out += step.bias
        h = out.reshape(G * K, *step.out_shape)
        if costs is not None:
            _charge_layer(costs, code, index, step, flops, G, n)
    return h[:n]


def _elementwise(step, h, costs, n):
    """An elementwise (or pooling) layer, run by the master on all G K rows."""
    work = h.size  # one operation per input entry (pooling: one add each)
    with torch.no_grad():
        out = step.layer(torch.from_numpy(h)).numpy()
    if costs is not None:
        costs.master_flops += work
        costs.plain_flops += work * n // h.shape[0]
    return out


def _coded_inputs(code, batches, step, sigma, rng):
    """The workers' shares (N, G, share * d_in) of the batches (G, K, d_in), padded.

    ``sigma`` is ``(noise_scale, calibrated)``: fresh secret padding
    N(0, (noise_scale * spread)^2), or with "auto" calibrated (docs/method.rst
    (9.7)) in units of the input's top standard deviation.
    """
    G, K, d_in = batches.shape
    Kp, P, N, share = code.n_data_rows, code.n_padding, code.n_coded, code.share
    data = np.zeros((G, Kp + P, d_in))
    data[:, :K] = batches
    if P:
        noise_scale, calibrated = sigma
        scale = noise_scale * step.spread if calibrated is None else calibrated * step.top_std
        data[:, Kp:] = scale * rng.standard_normal((G, P, d_in))
    shares = np.einsum("rj,gjf->rgf", code.encoder, data)  # (N * share, G, d_in)
    return shares.reshape(N, share, G, d_in).transpose(0, 2, 1, 3).reshape(N, G, -1)


def _decode_layer(code, results, returned, d_out, n_adversaries):
    """The layer's outputs (G, K, d_out) from the survivors (liars located), and the FLOPs."""
    K, share = code.n_samples, code.share
    G = results.shape[1]
    out = np.empty((G, K, d_out))
    flops = 0
    for pattern in np.unique(returned.T, axis=0):  # groups with the same survivors
        groups = np.flatnonzero((pattern == returned.T).all(axis=1))
        workers = np.flatnonzero(pattern)
        Y = results[workers][:, groups].transpose(0, 2, 1, 3).reshape(-1, groups.size * d_out)
        if n_adversaries:
            liars = locate_exact(code, workers, Y, n_adversaries)[0]  # l1 first (9.10)
            r = workers.size * share
            flops += 2 * r * (r - code.n_unknowns * share) * Y.shape[1] * 2
            keep = np.repeat(~liars, share)
            workers, Y = workers[~liars], Y[keep]
        D = code.decoder(workers)
        out[groups] = (D @ Y).reshape(K, groups.size, d_out).transpose(1, 0, 2)
        flops += 2 * D.size * groups.size * d_out
    return out, flops


def _charge_layer(costs, code, index, step, flops, G, n):
    """Add one affine layer's FLOPs and traffic (master and workers) to ``costs``."""
    d_in, d_out = math.prod(step.in_shape), math.prod(step.out_shape)
    N, share, K = code.n_coded, code.share, code.n_samples
    master = flops + 2 * code.encoder.size * G * d_in + G * code.n_padding * d_in + G * K * d_out
    worker = 2 * step.macs * N * share * G
    layer = {"index": index, "width": (d_in, d_out), "master": master, "worker": worker}
    costs.layers.append(layer)
    costs.master_flops += master
    costs.worker_flops += worker
    costs.plain_flops += 2 * step.macs * n
    costs.sent += N * G * share * d_in
    costs.received += N * G * share * d_out
    costs.rounds += 1
