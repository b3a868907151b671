"""``CodedClassifier``/``CodedRegressor`` with ``scheme="parm"`` (docs/method.rst 11).

Learned parity models (ParM): fit the inner estimator plainly, then r =
``n_coded - batch_size`` parity networks (:class:`~sklearn_coded.coding.ParityModel`)
on the training rows and the inner estimator's outputs; predict through the
k + r layout, k = ``batch_size`` data workers running f on the rows themselves
and r parity workers running the parity networks on the encoded rows.

All N workers run one picklable object, :class:`ParityWorker`: each coded row
carries a last column naming the network that evaluates it (0: the deployed
model, j + 1: parity network j), so the in-process simulation, thread and
process pools and dask clusters run the layout unchanged.
"""

import time

import numpy as np
from sklearn.base import clone, is_classifier
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from ..coding._parm import ParityModel
from ..execution import check_stragglers
from ..execution._run import simulated_deadline
from ._diagnostics import Diagnostics, RequestDiagnostics, apply_policy
from ._response import WorkerResponse, classifier_space, is_skorch_net
from ._serving import run_rows


class ParityWorker:
    """What every worker of the ParM layout computes: f or a parity network, per row.

    Parameters
    ----------
    deployed : WorkerResponse
        The deployed model's output in the decoded space.
    parity : ParityModel
        The fitted parity networks.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_coded.estimators._parm import ParityWorker
    >>> class Twice:
    ...     def response(self, X):
    ...         return 2 * X
    >>> class Zero:  # stands in for a ParityModel
    ...     def parity_outputs(self, P, parity):
    ...         return np.zeros_like(P)
    >>> rows = np.array([[1.0, 0.0], [5.0, 1.0]])  # last column: 0 data, 1 parity 0
    >>> ParityWorker(Twice(), Zero()).response(rows)
    array([[2.],
           [0.]])
    """

    def __init__(self, deployed, parity):
        self.deployed = deployed
        self.parity = parity

    def response(self, X):
        """Outputs of the network each row names in its last column, shape (n, n_outputs)."""
        X = np.asarray(X)
        which = np.rint(X[:, -1]).astype(int)
        rows = X[:, :-1]
        out = None
        for j in np.unique(which):
            mask = which == j
            if j == 0:
                part = np.asarray(self.deployed.response(rows[mask]))
            else:
                part = np.asarray(self.parity.parity_outputs(rows[mask], int(j) - 1))
            part = part.reshape(int(mask.sum()), -1)
            if out is None:
                out = np.empty((len(X), part.shape[1]), dtype=np.float64)
            out[mask] = part
        return out


def _layout(estimator):
    """(k, r) of the current parameters; errors name parameter and value."""
    K = int(estimator.batch_size)
    N = K + 1 if estimator.n_coded is None else int(estimator.n_coded)
    if N <= K:
        raise ValueError(
            f"scheme='parm' needs n_coded = batch_size + r with r >= 1 parity workers; "
            f"got n_coded={estimator.n_coded!r} and batch_size={K}."
        )
    return K, N - K


def _check_parameters(estimator):
    """Parameters of the other schemes that ParM does not use must keep their defaults."""
    e = estimator
    smoothing, points = e.smoothing, e.points
    defaults = {  # name: (value, default, whether the value is the default)
        "mu": (e.mu, 0, e.mu == 0),
        "n_private": (e.n_private, 0, e.n_private == 0),
        "n_adversaries": (e.n_adversaries, 0, e.n_adversaries == 0),
        "randomized": (e.randomized, False, e.randomized is False),
        "n_draws": (e.n_draws, 1, e.n_draws == 1),
        "min_results": (e.min_results, None, e.min_results is None),
        "smoothing": (smoothing, 0.0, isinstance(smoothing, int | float) and smoothing == 0),
        "points": (points, "auto", isinstance(points, str) and points == "auto"),
    }
    for name, (value, default, ok) in defaults.items():
        if not ok:
            raise ValueError(
                f"{name}={value!r} does not apply to scheme='parm' (learned parity "
                f"models); leave it at {default!r}."
            )


def fit_scheme(estimator, X, y, fit_params):
    """``_BaseCoded._fit`` for ``scheme="parm"``: fit f plainly, then the parity networks."""
    _check_parameters(estimator)
    K, r = _layout(estimator)
    template = estimator.parity_model
    if template is not None and not isinstance(template, ParityModel):
        raise TypeError(
            f"parity_model must be a ParityModel or None; got parity_model={template!r}."
        )
    rng = check_random_state(estimator.random_state)
    seed = int(rng.randint(np.iinfo(np.int32).max))
    inner = clone(estimator.estimator)
    skorch = is_skorch_net(inner)
    if skorch:  # skorch's dtype rules (architecture.md): float32 inputs
        X = X.astype(np.float32, copy=False)
        import torch

        with torch.random.fork_rng(devices=[]):
            if estimator.random_state is not None:
                torch.manual_seed(seed)
            inner.fit(X, y, **fit_params)
    else:
        inner.fit(X, y, **fit_params)
    space = classifier_space(inner) if is_classifier(estimator) else "predict"
    deployed = WorkerResponse(inner, space)
    parity = ParityModel() if template is None else clone(template)
    params = {"deployed": deployed.response, "k": K, "r": r, "random_state": seed}
    if skorch and isinstance(parity.module, str) and parity.module == "auto":
        params["module"] = inner.module_  # ParM: the deployed model's architecture
    parity.set_params(**params).fit(X)
    estimator.estimator_ = inner
    estimator.parity_model_ = parity
    estimator._parm_worker = ParityWorker(deployed, parity)
    estimator.diagnostics_ = Diagnostics()
    return estimator


def scheme_response(estimator, X):
    """``_BaseCoded._coded_response`` for ``scheme="parm"``: (n_samples, n_outputs)."""
    check_is_fitted(estimator)
    estimator._validate_params()
    _check_parameters(estimator)
    X = validate_data(estimator, X, reset=False, dtype=(np.float64, np.float32))
    K, r = _layout(estimator)
    parity = estimator.parity_model_
    if (K, r) != (parity.k, parity.r):
        raise ValueError(
            f"batch_size={K} and n_coded={K + r} differ from the fitted parity models' "
            f"k={parity.k}, r={parity.r}: refit after changing them."
        )
    N, n_samples = K + r, len(X)
    n_groups = -(-n_samples // K)
    # The last group is filled by repeating its last row (inputs the parity networks
    # were trained on); those outputs are dropped.
    rows = np.concatenate([X, np.repeat(X[-1:], n_groups * K - n_samples, axis=0)])
    groups = rows.reshape(n_groups, K, -1)
    P = parity.encode(groups)  # (G, r, d), (11.1)
    coded = np.empty((N, n_groups, X.shape[1] + 1), dtype=X.dtype)  # f sees X's dtype
    coded[:K, :, :-1] = groups.transpose(1, 0, 2)
    coded[:K, :, -1] = 0
    coded[K:, :, :-1] = P.transpose(1, 0, 2)
    coded[K:, :, -1] = np.arange(1, r + 1)[:, None]
    results, returned = _run(estimator, coded, K)
    tic = time.perf_counter()
    data = results[:K].transpose(1, 0, 2)
    decoded, decodable = parity.decode(data, results[K:].transpose(1, 0, 2), on_missing="nan")
    decoded[~decodable] = np.nan  # a refused group: none of its rows (docs/method.rst 8)
    n_used = returned.sum(axis=0)
    refused = np.flatnonzero(~decodable)
    request = RequestDiagnostics(
        n_samples=n_samples,
        floor=K,
        results_used=n_used,
        below_floor=refused,
        uncertified=refused,
        reasons={
            int(g): f"{int(n_used[g])} of {N} results (k={K} data, r={r} parity workers): "
            "more data outputs missing than parities arrived"
            for g in refused
        },
        decode_seconds=time.perf_counter() - tic,
    )
    estimator.diagnostics_.requests.append(request)
    decoded = decoded.reshape(n_groups * K, -1)[:n_samples]
    return apply_policy(decoded, request, estimator.on_uncertified, stacklevel=5)


def _run(estimator, coded, K):
    """The N workers on their rows, in process (simulated stragglers) or on the executor."""
    rng = check_random_state(estimator.random_state)
    N, n_groups, _ = coded.shape
    # "nan": in process even groups with no result, on an executor at least one
    floor = K if estimator.on_uncertified == "raise" else int(estimator.executor is not None)
    missing = None
    if estimator.executor is None:
        model = check_stragglers(estimator.stragglers, N, min_results=K)
        missing = simulated_deadline(model, estimator.timeout).draw_missing(N, n_groups, rng)
    return run_rows(estimator, estimator._parm_worker, coded, missing, floor, rng)
