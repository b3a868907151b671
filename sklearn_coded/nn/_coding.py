"""The coding operators as torch buffers, and coded forward passes (docs/method.rst 3, 5, 6).

A batch of K rows h_1..h_K (inputs of a block f of a network) is encoded to N coded
rows E h, f runs on them, and the decoder maps the N outputs back to K estimates

    z_hat = D f(E h),    E = M(alpha -> beta, lam_enc) (N, K),
                         D = M(beta -> alpha, lam_dec) (K, N),          (docs/method.rst 3)

where M is the operator of the coding scheme (layer 1, ``sklearn_coded.operators``).
E and D are constants, so autograd carries gradients through the matmuls into f.
"""

import contextlib
import math
import numbers

import numpy as np
import torch
from torch import nn

from ..operators import SCHEMES, coding_operator, coding_points, flush_tiny


def check_smoothing(smoothing):
    """Return ``(lam_enc, lam_dec)`` from a number or a pair of numbers >= 0."""
    pair = smoothing if isinstance(smoothing, tuple | list) else (smoothing, smoothing)
    if len(pair) != 2 or not all(
        isinstance(lam, numbers.Real) and not isinstance(lam, bool) and lam >= 0 for lam in pair
    ):
        raise ValueError(
            "smoothing must be a number >= 0 or a pair (lam_enc, lam_dec) of them; "
            f"got {smoothing!r}."
        )
    return float(pair[0]), float(pair[1])


#: Jittered layouts drawn per batch size before draws are reused (see ``jitter``).
JITTER_POOL = 16


def _coded_spec(points):
    """The coded-points entry of a layout (a family name or an array)."""
    if isinstance(points, tuple | list) and len(points) == 2:
        return points[1]
    return points


def _check_count(value, name, minimum):
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value!r}.")
    return int(value)


class CodedSmoothing(nn.Module):
    """Encoder E and decoder D of a coding scheme, as torch buffers.

    Read more in the :ref:`User Guide <training_loop>`.

    ``coder(h, block)`` returns the decoded outputs ``D block(E h)`` of a batch h of
    shape (k, ...): the trailing dimensions are flattened for the matmuls and
    restored afterwards. The full batch k = ``n_samples`` = K uses the buffers
    ``encoder`` (N, K) and ``decoder`` (K, N); a smaller batch (the last one of an
    epoch) gets its own pair with ``ceil(k N / K)`` coded rows, the same ratio N/K,
    built once and cached as buffers ``encoder_{k}``, ``decoder_{k}``. A batch of
    one row is passed through (E = D = [[1]]).

    The buffers move with ``.to(device)``; every call uses matrices of the dtype
    and device of ``h``, rebuilt from the float64 operators when those change,
    with tiny entries flushed (:func:`~sklearn_coded.operators.flush_tiny`).
    They are not saved in the ``state_dict``: they are a function of the
    parameters.

    Parameters
    ----------
    n_samples : int
        K >= 1, the batch size the coder is built for.
    n_coded : int
        N >= 2, the number of coded rows of a full batch.
    scheme : {"spline", "berrut", "lagrange"}, default="spline"
        The coding scheme (docs/method.rst sections 3 and 4).
    smoothing : float or (float, float), default=0.0
        Spline smoothing lam >= 0 of the encoder and the decoder, one value for
        both or a pair ``(lam_enc, lam_dec)``, on the scale of docs/method.rst section 2.
        Must be 0 for the interpolating schemes.
    order : int, default=2
        Spline order m >= 1 (penalty on the m-th derivative, docs/method.rst 7); must be
        2 for the interpolating schemes.
    points : str or (data, coded) pair, default="chebyshev"
        The point layout of :func:`sklearn_coded.operators.coding_points`. Explicit
        arrays fix K and N, so then every batch must have exactly K rows (use
        ``drop_last`` in the data loader).
    dtype : torch.dtype, optional
        Dtype of the initial buffers; default ``torch.get_default_dtype()``.
    jitter : bool, default=False
        Fresh coded points on every call while the module is in training mode
        (``coder.train()``, the default state of a module): jittered Chebyshev
        points ``beta_j = -cos((2j - 1 + u_j) pi / (2N))``, u_j ~ U(-1, 1) drawn
        from torch's global generator (each angle uniform in its own cell
        ``[(j - 1) pi / N, j pi / N]``, so the points stay sorted), with the data
        points of ``points``. A random layout puts no coded point on a data point
        (probability 1), so no row is decoded exactly. In eval mode, and for the
        buffers, the fixed layout of ``points`` is used. Needs a family name for
        the coded points. The first ``JITTER_POOL`` = 16 draws per batch size are
        kept, and later batches pick one of them at random: building the
        operators for every batch cost up to 0.7 times ERM's epoch time on a
        small MLP (``benchmarks/bench_training.py``).

    Attributes
    ----------
    encoder : Tensor of shape (n_coded, n_samples)
    decoder : Tensor of shape (n_samples, n_coded)

    Examples
    --------
    >>> import numpy as np
    >>> import torch
    >>> from sklearn_coded.nn import CodedSmoothing
    >>> coder = CodedSmoothing(4, 8, dtype=torch.float64)
    >>> coder.encoder.shape, coder.decoder.shape
    (torch.Size([8, 4]), torch.Size([4, 8]))
    >>> # rows that are a line in the data points alpha are reproduced
    >>> alpha, beta = coder.coding_points(4)
    >>> h = torch.tensor(np.stack([alpha, 1 - 2 * alpha], axis=1))
    >>> torch.allclose(coder(h, lambda x: 3 * x + 1), 3 * h + 1)
    True
    >>> coder(h[:2], torch.nn.Identity()).shape  # a smaller last batch
    torch.Size([2, 2])
    """

    def __init__(
        self,
        n_samples,
        n_coded,
        *,
        scheme="spline",
        smoothing=0.0,
        order=2,
        points="chebyshev",
        dtype=None,
        jitter=False,
    ):
        super().__init__()
        self.n_samples = _check_count(n_samples, "n_samples", 1)
        self.n_coded = _check_count(n_coded, "n_coded", 2)
        if scheme not in SCHEMES:
            raise ValueError(f"scheme must be one of {SCHEMES}; got {scheme!r}.")
        self.scheme = scheme
        self.smoothing = check_smoothing(smoothing)
        self.order = _check_count(order, "order", 1)
        self.points = points
        if not isinstance(jitter, bool):
            raise ValueError(f"jitter must be True or False; got {jitter!r}.")
        if jitter and not isinstance(_coded_spec(points), str):
            raise ValueError(
                "jitter=True draws the coded points, so points must not fix them; got "
                f"explicit coded points in points={points!r}."
            )
        self.jitter = jitter
        self._jitter_pools = {}  # (batch size, dtype, device) -> drawn (E, D) pairs
        dtype = torch.get_default_dtype() if dtype is None else dtype
        encoder, decoder = self._tensors(self.n_samples, dtype, torch.device("cpu"))
        self.register_buffer("encoder", encoder, persistent=False)
        self.register_buffer("decoder", decoder, persistent=False)

    @classmethod
    def from_plan(cls, plan, dtype=None):
        """The coder of a :class:`~sklearn_coded.coding.CodingPlan`'s code.

        K, N, scheme, the smoothing pair, order and points are the plan's;
        ``jitter`` is its training variant's (False without one).

        Parameters
        ----------
        plan : CodingPlan
        dtype : torch.dtype, optional

        Returns
        -------
        coder : CodedSmoothing

        Examples
        --------
        >>> from sklearn_coded.coding import CodingPlan
        >>> from sklearn_coded.nn import CodedSmoothing
        >>> CodedSmoothing.from_plan(CodingPlan("spline", batch_size=4, n_coded=6)).encoder.shape
        torch.Size([6, 4])
        """
        return cls(
            plan.batch_size,
            plan.n_coded,
            scheme=plan.scheme,
            smoothing=(plan.lam_enc, plan.lam_dec),
            order=plan.order,
            points=plan.points,
            dtype=dtype,
            jitter=plan.training is not None and plan.training.jitter,
        )

    def extra_repr(self):
        return (
            f"n_samples={self.n_samples}, n_coded={self.n_coded}, scheme={self.scheme!r}, "
            f"smoothing={self.smoothing}, order={self.order}, points={self.points!r}, "
            f"jitter={self.jitter}"
        )

    def coded_size(self, batch_size):
        """Number of coded rows for a batch of ``batch_size`` rows (N for K)."""
        if batch_size == self.n_samples:
            return self.n_coded
        if batch_size == 1:
            return 1
        return max(2, math.ceil(batch_size * self.n_coded / self.n_samples))

    def coding_points(self, batch_size):
        """Data points alpha and coded points beta for a batch of ``batch_size`` >= 2 rows."""
        explicit = not isinstance(self.points, str) and any(
            not isinstance(spec, str) for spec in self.points
        )
        if batch_size != self.n_samples and explicit:
            raise ValueError(
                f"Explicit points fix the batch size to n_samples={self.n_samples}; got a "
                f"batch of {batch_size} rows. Drop the last batch (drop_last=True)."
            )
        return coding_points(self.points, batch_size, self.coded_size(batch_size))

    def jittered_points(self, batch_size):
        """Data points and a fresh draw of jittered Chebyshev coded points (see ``jitter``)."""
        alpha, _ = self.coding_points(batch_size)
        n_coded = self.coded_size(batch_size)
        u = 2 * torch.rand(n_coded, dtype=torch.float64).numpy() - 1
        # -cos(theta) = sin(theta - pi/2), as in operators.make_points
        j = np.arange(1, n_coded + 1)
        beta = np.sin(np.pi * (2 * j - 1 + u - n_coded) / (2 * n_coded))
        return alpha, beta

    def numpy_matrices(self, batch_size, points=None):
        """The float64 operators ``(E, D)`` for a batch of ``batch_size`` rows.

        ``E = M(alpha -> beta, lam_enc)`` and ``D = M(beta -> alpha, lam_dec)``
        (docs/method.rst section 3), read-only; ``points`` is an ``(alpha, beta)`` pair
        to use instead of the layout's.
        """
        if batch_size == 1:
            one = np.ones((1, 1))
            return one, one
        alpha, beta = self.coding_points(batch_size) if points is None else points
        lam_enc, lam_dec = self.smoothing
        encoder, _ = coding_operator(self.scheme, alpha, beta, lam_enc, order=self.order)
        decoder, _ = coding_operator(self.scheme, beta, alpha, lam_dec, order=self.order)
        return encoder, decoder

    def exact_rows(self, batch_size, matrices=None):
        """Rows that the code passes through exactly, for every block f.

        Row k of ``D f(E h)`` equals ``f(h_k)`` for every f when the decoder row
        ``D[k]`` reads only coded rows that are copies of ``h_k`` (``E[j] = e_k``)
        with weights summing to 1; then row k of ``D E`` is the identity row
        e_k, and the coded loss of that row is zero. This happens when a coded
        point coincides with a data point (uniform points: the two end rows;
        Chebyshev points of K and N: every row when N/g and K/g are both odd,
        g = gcd(N, K)). Tolerance 1e-9 on the operator entries.

        Parameters
        ----------
        batch_size : int
        matrices : (E, D) pair of ndarrays, optional
            The operators to check; default: those of the fixed layout.

        Returns
        -------
        rows : ndarray of int
            The exact rows, ascending; empty when none is.
        """
        E, D = self.numpy_matrices(batch_size) if matrices is None else matrices
        E, D = np.asarray(E), np.asarray(D)
        tol = 1e-9
        eye = np.eye(E.shape[1])
        # copies[j, k]: coded row j is (a copy of) data row k
        copies = np.abs(E[:, None, :] - eye[None, :, :]).max(axis=2) <= tol
        off = np.where(copies.T, 0.0, np.abs(D))  # weights on other coded rows
        on = np.where(copies.T, D, 0.0).sum(axis=1)
        exact = (off.max(axis=1) <= tol) & (np.abs(on - 1) <= tol)
        return np.flatnonzero(exact)

    def _tensors(self, batch_size, dtype, device, points=None):
        return tuple(
            torch.as_tensor(flush_tiny(matrix, torch.finfo(dtype).eps), dtype=dtype, device=device)
            for matrix in self.numpy_matrices(batch_size, points)
        )

    def matrices(self, batch_size, like):
        """``(E, D)`` for ``batch_size`` rows, on the device and in the dtype of ``like``.

        With ``jitter`` in training mode, a new draw on every call (the first 16
        per batch size; then one of those, at random).
        """
        if not like.is_floating_point():
            raise TypeError(f"Coding needs a floating-point batch; got dtype {like.dtype}.")
        if self.jitter and self.training and batch_size > 1:
            pool = self._jitter_pools.setdefault((batch_size, like.dtype, like.device), [])
            if len(pool) < JITTER_POOL:
                points = self.jittered_points(batch_size)
                pool.append(self._tensors(batch_size, like.dtype, like.device, points))
                return pool[-1]
            return pool[int(torch.randint(JITTER_POOL, ()))]
        names = ("encoder", "decoder")
        if batch_size != self.n_samples:
            names = tuple(f"{name}_{batch_size}" for name in names)
        current = [getattr(self, name, None) for name in names]
        if any(m is None or m.dtype != like.dtype or m.device != like.device for m in current):
            current = self._tensors(batch_size, like.dtype, like.device)
            for name, matrix in zip(names, current, strict=True):
                self.register_buffer(name, matrix, persistent=False)
        return tuple(current)

    def encode(self, h, matrices=None):
        """Coded rows ``E h`` of shape (coded_size(k), ...) for a batch h (k, ...).

        ``matrices``: the ``(E, D)`` pair to use (from :meth:`matrices`); with
        ``jitter`` pass the same pair to :meth:`decode`.
        """
        encoder, _ = self.matrices(h.shape[0], h) if matrices is None else matrices
        return (encoder @ h.reshape(h.shape[0], -1)).reshape(encoder.shape[0], *h.shape[1:])

    def decode(self, y, batch_size, matrices=None):
        """Decoded rows ``D y`` of shape (batch_size, ...) for coded outputs y (N_k, ...)."""
        _, decoder = self.matrices(batch_size, y) if matrices is None else matrices
        if y.shape[0] != decoder.shape[1]:
            raise ValueError(
                f"A batch of {batch_size} rows has {decoder.shape[1]} coded rows; "
                f"got outputs with {y.shape[0]} rows."
            )
        return (decoder @ y.reshape(y.shape[0], -1)).reshape(batch_size, *y.shape[1:])

    def forward(self, h, block):
        """Decoded outputs ``D block(E h)`` of the batch ``h`` (docs/method.rst section 5)."""
        matrices = self.matrices(h.shape[0], h)
        return self.decode(block(self.encode(h, matrices)), h.shape[0], matrices)


class _CodedBlockHooks:
    """Forward pre-hook and hook that run a block on coded rows (see coded_block)."""

    def __init__(self, coder, joint):
        self.coder = coder
        self.joint = joint
        self.batch_size = None
        self.matrices = None
        # the block's outputs of the last call: plain f(h) (joint only), decoded D f(E h)
        self.plain = self.decoded = None

    def pre_hook(self, module, args):
        if self.batch_size is not None:
            raise RuntimeError(
                "The coded block was called again inside its own call; coded_block "
                "supports blocks called once per forward pass."
            )
        if not args or not torch.is_tensor(args[0]):
            raise TypeError("The coded block must get the batch as its first positional tensor.")
        h = args[0]
        self.batch_size = h.shape[0]
        self.matrices = self.coder.matrices(self.batch_size, h)  # one draw per call
        coded = self.coder.encode(h, self.matrices)
        # joint: one call on the K plain rows followed by the N coded rows
        return (torch.cat([h, coded]) if self.joint else coded, *args[1:])

    def hook(self, module, args, output):
        k, self.batch_size = self.batch_size, None
        if not torch.is_tensor(output):
            raise TypeError(f"The coded block must return a tensor; got {type(output)}.")
        if self.joint:
            self.plain, coded = output[:k], output[k:]
        else:
            coded = output
        self.decoded = self.coder.decode(coded, k, self.matrices)
        self.matrices = None
        return torch.cat([self.plain, self.decoded]) if self.joint else self.decoded


@contextlib.contextmanager
def coded_block(model, block, coder, *, joint=True):
    """Within the context, ``model(x)`` runs the submodule ``block`` on coded rows.

    The network is seen as ``tail(f(head(x)))`` with f the submodule named
    ``block`` (``None`` or ``""``: the whole model). Inside the context, f's input
    batch h (K rows) is replaced by its encoding E h and f's output by the decoded
    ``D f(E h)`` (forward pre-hook and forward hook on f, removed on exit).

    Supported blocks: a submodule called once per forward pass, with the batch
    (rows = samples) as its first positional tensor argument, that returns one
    tensor with rows = samples. The tail must treat rows independently (no
    reshape that hard-codes the batch size), since it sees 2K rows when ``joint``.
    ``nn.Sequential`` children, convolutional feature extractors and
    classifier heads qualify; recurrent cells called once per time step do not.

    Parameters
    ----------
    model : torch.nn.Module
    block : str or None
        Name of the submodule f, as in ``model.get_submodule``.
    coder : CodedSmoothing
    joint : bool, default=True
        If True, f runs once on the K plain rows followed by the N coded rows, and
        the model output has 2K rows: the plain outputs, then the decoded ones. If
        False, f sees only the coded rows and the output has the K decoded rows.

    Yields
    ------
    model : torch.nn.Module

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> from sklearn_coded.nn import CodedSmoothing, coded_block
    >>> _ = torch.manual_seed(0)
    >>> model = nn.Sequential(nn.Linear(3, 5), nn.ReLU(), nn.Linear(5, 2))
    >>> coder = CodedSmoothing(8, 12)
    >>> x = torch.randn(8, 3)
    >>> with coded_block(model, "1", coder):  # code the ReLU
    ...     out = model(x)
    >>> out.shape  # plain outputs, then decoded outputs
    torch.Size([16, 2])
    >>> torch.allclose(out[:8], model(x))
    True
    """
    with _coded_hooks(model, block, coder, joint):
        yield model


@contextlib.contextmanager
def _coded_hooks(model, block, coder, joint):
    """coded_block's context, yielding the hooks (they keep the block's outputs)."""
    target = model.get_submodule(block) if block else model
    hooks = _CodedBlockHooks(coder, joint)
    handles = [
        target.register_forward_pre_hook(hooks.pre_hook),
        target.register_forward_hook(hooks.hook),
    ]
    try:
        yield hooks
    finally:
        for handle in handles:
            handle.remove()


@contextlib.contextmanager
def _block_output(model, block):
    """Within the context, ``record["output"]`` is the block's output of the last call."""
    record = {}

    def hook(module, args, output):
        record["output"] = output

    handle = (model.get_submodule(block) if block else model).register_forward_hook(hook)
    try:
        yield record
    finally:
        handle.remove()


def coded_forward(model, x, coder, *, block=None, joint=True):
    """Plain and coded outputs of ``model`` on the batch ``x``.

    Read more in the :ref:`User Guide <training_loop>`.

    The two paths of coded-smoothing (docs/method.rst section 5): the plain output
    ``model(x)`` and the output with the block f replaced by ``D f(E h)``. Use
    them in a hand-written training loop as
    ``L = (1 - mu) * L_main(plain) + mu * L_coded(coded)``.

    Parameters
    ----------
    model : torch.nn.Module
    x : Tensor of shape (K, ...)
    coder : CodedSmoothing
    block : str or None, default=None
        The coded submodule (see :func:`coded_block`); None codes the whole model.
    joint : bool, default=True
        One forward pass over plain and coded rows (shared BatchNorm statistics),
        or two separate passes.

    Returns
    -------
    plain : Tensor of shape (K, ...)
    coded : Tensor of shape (K, ...)

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> from sklearn_coded.nn import CodedSmoothing, coded_forward
    >>> _ = torch.manual_seed(0)
    >>> model = nn.Sequential(nn.Linear(4, 16), nn.Tanh(), nn.Linear(16, 3))
    >>> x, y = torch.randn(32, 4), torch.randint(0, 3, (32,))
    >>> plain, coded = coded_forward(model, x, CodedSmoothing(32, 48))
    >>> loss_fn, mu = nn.CrossEntropyLoss(), 0.5
    >>> loss = (1 - mu) * loss_fn(plain, y) + mu * loss_fn(coded, y)
    >>> loss.backward()
    """
    if joint:
        with coded_block(model, block, coder, joint=True):
            both = model(x)
        k = both.shape[0] // 2
        return both[:k], both[k:]
    plain = model(x)
    with coded_block(model, block, coder, joint=False):
        coded = model(x)
    return plain, coded


class RandomizedCodedModule(nn.Module):
    """Randomized coded inference as a differentiable module (docs/method.rst section 6).

    Read more in the :ref:`User Guide <rci>`.

    For a batch x: draw a random permutation pi of its rows, cut the permuted
    batch into groups of K = ``coder.n_samples`` rows, compute ``D f(E h)`` for
    each group with f = ``module`` (or only its submodule ``block``), and undo
    the permutation. Every call draws a new permutation, so a white-box attacker
    differentiating through it sees a random function; EOT attacks average over
    calls. For a batch of K rows the output depends on the other rows.

    Parameters
    ----------
    module : torch.nn.Module
    coder : CodedSmoothing
    block : str or None, default=None
        The coded submodule (see :func:`coded_block`); None codes the whole module.
    generator : torch.Generator, optional
        Source of the permutations (on the CPU); default: torch's global one.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> from sklearn_coded.nn import CodedSmoothing, RandomizedCodedModule
    >>> _ = torch.manual_seed(0)
    >>> model = nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 2))
    >>> rci = RandomizedCodedModule(model, CodedSmoothing(4, 6),
    ...                             generator=torch.Generator().manual_seed(0))
    >>> x = torch.randn(8, 3)
    >>> rci(x).shape
    torch.Size([8, 2])
    >>> torch.equal(rci(x), rci(x))  # a new permutation on every call
    False
    """

    def __init__(self, module, coder, *, block=None, generator=None):
        super().__init__()
        self.module = module
        self.coder = coder
        self.block = block
        self.generator = generator

    def forward(self, x):
        n_rows = x.shape[0]
        permutation = torch.randperm(n_rows, generator=self.generator).to(x.device)
        shuffled = x[permutation]
        groups = torch.split(shuffled, self.coder.n_samples)
        with coded_block(self.module, self.block, self.coder, joint=False):
            decoded = torch.cat([self.module(group) for group in groups])
        return decoded[torch.argsort(permutation)]
