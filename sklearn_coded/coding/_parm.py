"""Learned parity models (ParM, Kosaian, Rashmi and Venkataraman, SOSP 2019; docs/method.rst 11).

k data workers run the deployed model f on k queries x_1..x_k; r parity workers
run parity models f_P^(j) on encodings of the same k queries, trained so that

    f_P^(j)(P_j) ~ sum_i W[j, i] f(x_i),                                   (11.1)

and a missing data output is reconstructed from the others by subtraction
(11.3). torch is imported only when a parity model is trained or run.
"""

import copy
import itertools
import time
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from .._sklearn_compat import Interval, StrOptions, _fit_context
from ._registry import Scheme, register_scheme

#: The encoders: ``"sum"`` (ParM's addition encoder, weighted for r > 1) and
#: ``"concat"`` (ParM's image encoder: k downsampled images tiled into one).
PARITY_ENCODERS = ("sum", "concat")


class TooFewParitiesError(ValueError):
    """More data outputs of a group are missing than parity outputs arrived.

    ParM reconstructs at most as many outputs as parity outputs arrived
    (docs/method.rst (11.3)); fewer determine nothing, and this package never
    returns a made-up output in their place.
    """


def parity_weights(k, r):
    """The (r, k) encoding weights ``W[j, i] = a_i ** j``, ``a_i = (i + 1) / k``.

    Row 0 is all ones: ParM's addition encoder. For r > 1 the rows are a
    generalized Vandermonde matrix on the distinct positive nodes a_i, which
    is totally positive, so every square submatrix ``W[J, M]`` is invertible:
    any m <= r missing outputs are determined by any m arrived parities
    (docs/method.rst (11.2)). The nodes lie in (0, 1], so no parity input is
    larger than the plain sum.

    Parameters
    ----------
    k : int
        Data workers (queries per group), k >= 1.
    r : int
        Parity workers, r >= 1.

    Returns
    -------
    W : ndarray of shape (r, k)

    Examples
    --------
    >>> from sklearn_coded.coding._parm import parity_weights
    >>> parity_weights(4, 2)
    array([[1.  , 1.  , 1.  , 1.  ],
           [0.25, 0.5 , 0.75, 1.  ]])
    """
    for name, value in (("k", k), ("r", r)):
        if not isinstance(value, Integral) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be an int >= 1; got {name}={value!r}.")
    nodes = np.arange(1, k + 1) / k
    return nodes[None, :] ** np.arange(r)[:, None]


def encode_parities(X, weights, encoder="sum", image_shape=None):
    """Parity inputs of groups of k rows: (11.1) for ``"sum"``, tiling for ``"concat"``.

    Parameters
    ----------
    X : ndarray of shape (n_groups, k, n_features)
        The groups' rows.
    weights : ndarray of shape (r, k)
        From :func:`parity_weights`.
    encoder : {"sum", "concat"}, default="sum"
        ``"sum"``: ``P_j = sum_i W[j, i] x_i``. ``"concat"`` (k = 2 or 4,
        images): each image is average-pooled by 2 along the width (k = 2) or
        both axes (k = 4) and the k small images are tiled side by side (in
        quadrants for k = 4) into one image of the original size, the same for
        every parity (ParM's concatenation encoder; its parity models learn
        the different weighted sums from the same input).
    image_shape : tuple of int, optional
        ``(H, W)`` or ``(C, H, W)`` of a row, for ``"concat"``; H and W even.

    Returns
    -------
    P : ndarray of shape (n_groups, r, n_features)

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_coded.coding._parm import encode_parities, parity_weights
    >>> X = np.arange(12.0).reshape(2, 2, 3)
    >>> encode_parities(X, parity_weights(2, 1))[:, 0]
    array([[ 3.,  5.,  7.],
           [15., 17., 19.]])
    """
    X = np.asarray(X)
    n_groups, k, n_features = X.shape
    if encoder == "sum":
        return np.einsum("jk,bkd->bjd", weights.astype(X.dtype), X)
    if encoder != "concat":
        raise ValueError(f"encoder must be one of {PARITY_ENCODERS}; got encoder={encoder!r}.")
    C, H, W = _check_image_shape(image_shape, n_features, k)
    images = X.reshape(n_groups, k, C, H, W)
    tiled = np.empty((n_groups, C, H, W), dtype=X.dtype)
    if k == 2:  # width halved, side by side
        small = 0.5 * (images[..., 0::2] + images[..., 1::2])
        tiled[..., : W // 2], tiled[..., W // 2 :] = small[:, 0], small[:, 1]
    else:  # 2 x 2 average pooling, quadrants in reading order
        small = images.reshape(n_groups, k, C, H // 2, 2, W // 2, 2).mean(axis=(4, 6))
        for i, (rows, cols) in enumerate(_QUADRANTS):
            tiled[:, :, rows(H), cols(W)] = small[:, i]
    flat = tiled.reshape(n_groups, 1, n_features)
    return np.repeat(flat, len(weights), axis=1)


_TOP, _BOTTOM = (lambda H: slice(0, H // 2)), (lambda H: slice(H // 2, H))
_QUADRANTS = ((_TOP, _TOP), (_TOP, _BOTTOM), (_BOTTOM, _TOP), (_BOTTOM, _BOTTOM))


def _check_image_shape(image_shape, n_features, k):
    if k not in (2, 4):
        raise ValueError(
            f"encoder='concat' tiles k = 2 or 4 images (ParM's concatenation encoder); "
            f"got k={k}. Use encoder='sum' for other k."
        )
    if image_shape is None:
        raise ValueError("encoder='concat' needs image_shape=(H, W) or (C, H, W); got None.")
    shape = tuple(int(s) for s in image_shape)
    shape = (1, *shape) if len(shape) == 2 else shape
    if len(shape) != 3 or np.prod(shape) != n_features or shape[1] % 2 or shape[2] % 2:
        raise ValueError(
            f"image_shape={image_shape!r} must be (H, W) or (C, H, W) with H and W even "
            f"and C * H * W = n_features = {n_features}."
        )
    return shape


def decode_parities(data_outputs, parity_outputs, weights, on_missing="raise"):
    """Reconstruct missing data outputs from the parities (docs/method.rst (11.3)).

    For a group with missing data outputs M and arrived parities J, ``|J| >= |M|``:

        Y_M = W[J, M]^+ (F_J - W[J, ~M] Y_~M),

    the subtraction decoder of ParM for r = 1 (``Y_m = F_0 - sum_{i != m} Y_i``),
    and the least-squares solution over every arrived parity for r > 1
    (which averages the parity models' errors). Arrived data outputs are
    returned as they are.

    Parameters
    ----------
    data_outputs : ndarray of shape (n_groups, k, n_outputs)
        f on the data rows, NaN rows where missing.
    parity_outputs : ndarray of shape (n_groups, r, n_outputs)
        The parity models' outputs, NaN rows where missing.
    weights : ndarray of shape (r, k)
    on_missing : {"raise", "nan"}, default="raise"
        A group with more missing data outputs than arrived parities:
        :class:`TooFewParitiesError`, or NaN rows for the missing outputs.

    Returns
    -------
    outputs : ndarray of shape (n_groups, k, n_outputs)
    decodable : ndarray of bool of shape (n_groups,)

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_coded.coding._parm import decode_parities, parity_weights
    >>> Y = np.array([[[1.0], [2.0], [4.0]]])  # one group, k = 3, one output
    >>> parity = Y.sum(axis=1, keepdims=True)   # a perfect parity model
    >>> Y_missing = Y.copy(); Y_missing[0, 1] = np.nan
    >>> decode_parities(Y_missing, parity, parity_weights(3, 1))[0][0, :, 0]
    array([1., 2., 4.])
    """
    if on_missing not in ("raise", "nan"):
        raise ValueError(f"on_missing must be 'raise' or 'nan'; got on_missing={on_missing!r}.")
    data = np.array(data_outputs, dtype=np.float64)
    parity = np.asarray(parity_outputs, dtype=np.float64)
    lost = ~np.isfinite(data).all(axis=2)  # (G, k)
    arrived = np.isfinite(parity).all(axis=2)  # (G, r)
    decodable = lost.sum(axis=1) <= arrived.sum(axis=1)
    if on_missing == "raise" and not decodable.all():
        g = int(np.flatnonzero(~decodable)[0])
        raise TooFewParitiesError(
            f"Group {g}: {int(lost[g].sum())} data outputs are missing but only "
            f"{int(arrived[g].sum())} of r={len(weights)} parity outputs arrived; ParM "
            "reconstructs at most as many outputs as parities arrived."
        )
    patterns, inverse = np.unique(np.hstack([lost, arrived]), axis=0, return_inverse=True)
    k = data.shape[1]
    for p, pattern in enumerate(patterns):
        M, J = pattern[:k], pattern[k:]
        groups = np.flatnonzero(inverse.ravel() == p)
        if not M.any() or M.sum() > J.sum():
            continue  # nothing to do, or left NaN (refused above under "raise")
        known = np.einsum("jk,gkc->gjc", weights[J][:, ~M], data[groups][:, ~M])
        residual = parity[groups][:, J] - known  # (g, |J|, c)
        data[np.ix_(groups, np.flatnonzero(M))] = np.einsum(
            "mj,gjc->gmc", np.linalg.pinv(weights[J][:, M]), residual
        )
    return data, decodable


class ParityModel(BaseEstimator):
    """r parity networks for a deployed model f, trained as ParM (docs/method.rst 11).

    Parity model j maps the encoding ``P_j`` of k rows to
    ``sum_i W[j, i] f(x_i)`` (11.1), W from :func:`parity_weights` (row 0 the
    plain sum). Training follows ParM: inputs are the user's training rows,
    targets the deployed model's outputs on them (logits for a classifier),
    the loss the mean squared error; each epoch draws k independent
    permutations of the rows, so every row appears once in every group slot.

    Parameters
    ----------
    deployed : callable, skorch net or None, default=None
        f: a callable mapping rows (n, n_features) to outputs (n, n_outputs), or
        a fitted skorch net (its module's raw outputs, the logits). Required
        by ``fit``.
    k : int, default=2
        Data rows (workers) per group.
    r : int, default=1
        Parity workers per group.
    encoder : {"sum", "concat"}, default="sum"
        See :func:`encode_parities`.
    image_shape : tuple of int or None, default=None
        Row shape as an image, for ``encoder="concat"``.
    module : "auto", "mlp" or torch.nn.Module, default="auto"
        The parity network. ``"auto"``: a freshly initialized copy of a skorch
        ``deployed``'s module (ParM uses the deployed model's architecture),
        else ``"mlp"``: ReLU layers of ``hidden_sizes``. A module is copied
        (and re-initialized) for each parity.
    hidden_sizes : tuple of int, default=(200, 100)
        Hidden layers of ``module="mlp"`` (ParM's MNIST MLP).
    max_epochs : int, default=100
        Passes over the training rows (each pass: ``n_samples`` groups).
    lr : float, default=1e-3
        Adam's learning rate.
    batch_size : int, default=64
        Groups per gradient step.
    weight_decay : float, default=0.0
        Adam's L2 penalty.
    device : str, default="cpu"
        torch device for training and prediction ("cuda" where available).
    random_state : int, RandomState instance or None, default=None
        Seeds the initialization and the groups.

    Attributes
    ----------
    weights_ : ndarray of shape (r, k)
        The encoding weights.
    modules_ : list of torch.nn.Module
        The r trained parity networks (on the CPU after ``fit``).
    n_features_in_ : int
    n_outputs_ : int
    loss_curve_ : list of float
        Mean training loss per epoch (of parity 0).
    n_epochs_ : int
    training_time_ : float
        Seconds ``fit`` spent training (the deployed model's outputs included).

    Examples
    --------
    An affine f is learned to rounding by a linear parity model:

    >>> import numpy as np, torch
    >>> from sklearn_coded.coding import ParityModel
    >>> rng = np.random.default_rng(0)
    >>> A = rng.normal(size=(3, 2))
    >>> f = lambda X: X @ A + 1.0
    >>> X = rng.normal(size=(256, 3)).astype(np.float32)
    >>> pm = ParityModel(f, k=2, module=torch.nn.Linear(3, 2), max_epochs=60,
    ...                  lr=0.05, random_state=0).fit(X)
    >>> P = pm.encode(X[:8].reshape(4, 2, 3))
    >>> F = pm.parity_outputs(P)[:, 0]
    >>> bool(np.abs(F - f(X[:8]).reshape(4, 2, 2).sum(axis=1)).max() < 1e-2)
    True
    """

    _parameter_constraints: dict = {
        "deployed": "no_validation",  # a callable or a fitted skorch net, checked in fit
        "k": [Interval(Integral, 1, None, closed="left")],
        "r": [Interval(Integral, 1, None, closed="left")],
        "encoder": [StrOptions(set(PARITY_ENCODERS))],
        "image_shape": [tuple, list, None],
        "module": "no_validation",  # "auto", "mlp" or a torch module, checked in fit
        "hidden_sizes": [tuple, list],
        "max_epochs": [Interval(Integral, 1, None, closed="left")],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "device": [str],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        deployed=None,
        *,
        k=2,
        r=1,
        encoder="sum",
        image_shape=None,
        module="auto",
        hidden_sizes=(200, 100),
        max_epochs=100,
        lr=1e-3,
        batch_size=64,
        weight_decay=0.0,
        device="cpu",
        random_state=None,
    ):
        self.deployed = deployed
        self.k = k
        self.r = r
        self.encoder = encoder
        self.image_shape = image_shape
        self.module = module
        self.hidden_sizes = hidden_sizes
        self.max_epochs = max_epochs
        self.lr = lr
        self.batch_size = batch_size
        self.weight_decay = weight_decay
        self.device = device
        self.random_state = random_state

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Train the r parity networks on groups of k rows of ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training inputs of the deployed model (n_samples >= k).
        y : None
            Ignored: the targets are the deployed model's outputs.

        Returns
        -------
        self : object
        """
        import torch

        X = validate_data(self, X, dtype=np.float32)
        if not (callable(self.deployed) or hasattr(self.deployed, "module_")):
            raise ValueError(
                "ParityModel.fit needs the deployed model f: a callable or a fitted skorch "
                f"net; got deployed={self.deployed!r}."
            )
        if len(X) < self.k:
            raise ValueError(f"X has {len(X)} rows; fit needs at least k={self.k}.")
        if self.encoder == "concat":
            _check_image_shape(self.image_shape, X.shape[1], self.k)
        tic = time.perf_counter()
        Y = np.asarray(_deployed_outputs(self.deployed, X), dtype=np.float32)
        Y = Y.reshape(len(X), -1)
        self.n_outputs_ = Y.shape[1]
        self.weights_ = parity_weights(self.k, self.r)
        rng = check_random_state(self.random_state)
        self.modules_ = []
        for j in range(self.r):
            seed = int(rng.randint(np.iinfo(np.int32).max))
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                module = self._new_module(X.shape[1])
                curve = self._train(module, X, Y, j, np.random.RandomState(seed))
            self.modules_.append(module.cpu().eval())
            if j == 0:
                self.loss_curve_ = curve
        self.n_epochs_ = int(self.max_epochs)
        self.training_time_ = time.perf_counter() - tic
        return self

    def _new_module(self, n_features):
        import torch

        module = self.module
        if isinstance(module, str) and module == "auto":
            module = getattr(self.deployed, "module_", None)
            module = "mlp" if module is None else module
        if isinstance(module, str) and module == "mlp":
            sizes = [n_features, *[int(h) for h in self.hidden_sizes]]
            layers = []
            for a, b in itertools.pairwise(sizes):
                layers += [torch.nn.Linear(a, b), torch.nn.ReLU()]
            return torch.nn.Sequential(*layers, torch.nn.Linear(sizes[-1], self.n_outputs_))
        if not isinstance(module, torch.nn.Module):
            raise ValueError(
                f"module must be 'auto', 'mlp' or a torch.nn.Module; got module={module!r}."
            )
        module = copy.deepcopy(module).float()
        for layer in module.modules():  # a fresh start: ParM trains parity models anew
            if callable(getattr(layer, "reset_parameters", None)):
                layer.reset_parameters()
        return module

    def _train(self, module, X, Y, j, rng):
        """Adam on the MSE of (11.1) for parity j; the mean loss of every epoch."""
        import torch

        device = torch.device(self.device)
        module.to(device).train()
        optimizer = torch.optim.Adam(
            module.parameters(), lr=self.lr, weight_decay=self.weight_decay
        )
        w = self.weights_[j].astype(np.float32)
        n, curve = len(X), []
        for _ in range(int(self.max_epochs)):
            groups = np.stack([rng.permutation(n) for _ in range(self.k)], axis=1)  # (n, k)
            total = 0.0
            for start in range(0, n, self.batch_size):
                g = groups[start : start + self.batch_size]
                P = encode_parities(X[g], self.weights_[j : j + 1], self.encoder, self.image_shape)
                target = np.einsum("k,bkc->bc", w, Y[g])
                P_t = torch.from_numpy(np.ascontiguousarray(P[:, 0])).to(device)
                loss = torch.nn.functional.mse_loss(
                    module(P_t), torch.from_numpy(target).to(device)
                )
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                total += float(loss.detach()) * len(g)
            curve.append(total / n)
        return curve

    def encode(self, X):
        """Parity inputs of groups of k rows (:func:`encode_parities`).

        Parameters
        ----------
        X : ndarray of shape (n_groups, k, n_features)

        Returns
        -------
        P : ndarray of shape (n_groups, r, n_features)
        """
        check_is_fitted(self)
        X = np.asarray(X, dtype=np.float32)
        if X.ndim != 3 or X.shape[1:] != (self.k, self.n_features_in_):
            raise ValueError(
                f"X must have shape (n_groups, k={self.k}, n_features={self.n_features_in_}); "
                f"got {X.shape}."
            )
        return encode_parities(X, self.weights_, self.encoder, self.image_shape)

    def parity_outputs(self, P, parity=None):
        """The parity networks on parity inputs.

        Parameters
        ----------
        P : ndarray of shape (n_groups, r, n_features), or (n, n_features) with ``parity``
        parity : int or None, default=None
            Run only network ``parity`` on the 2-D rows ``P``.

        Returns
        -------
        F : ndarray of shape (n_groups, r, n_outputs), or (n, n_outputs) with ``parity``
        """
        check_is_fitted(self)
        import torch

        with torch.no_grad():
            if parity is not None:
                P_t = torch.from_numpy(np.ascontiguousarray(P, dtype=np.float32))
                return self.modules_[parity](P_t).numpy().astype(np.float64)
            return np.stack([self.parity_outputs(P[:, j], j) for j in range(self.r)], axis=1)

    def decode(self, data_outputs, parity_outputs, on_missing="raise"):
        """Reconstruct missing data outputs (:func:`decode_parities` with ``weights_``).

        Parameters
        ----------
        data_outputs : ndarray of shape (n_groups, k, n_outputs)
            NaN rows where missing.
        parity_outputs : ndarray of shape (n_groups, r, n_outputs)
            NaN rows where missing.
        on_missing : {"raise", "nan"}, default="raise"

        Returns
        -------
        outputs : ndarray of shape (n_groups, k, n_outputs)
        decodable : ndarray of bool of shape (n_groups,)
        """
        check_is_fitted(self)
        return decode_parities(data_outputs, parity_outputs, self.weights_, on_missing)


def _deployed_outputs(deployed, X):
    """f(X): a skorch net's raw module outputs, else ``deployed(X)``."""
    if hasattr(deployed, "module_") and callable(getattr(deployed, "forward", None)):
        out = deployed.forward(X, training=False, device="cpu")
        out = out[0] if isinstance(out, tuple | list) else out
        return out.detach().numpy()
    return deployed(X)


# Learned parity models run their own estimator path (estimators/_parm.py).
register_scheme(Scheme("parm", dispatch="sklearn_coded.estimators._parm"))
