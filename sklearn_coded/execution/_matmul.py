"""Coded matrix multiplication A @ B and A @ x with stragglers, liars and privacy.

A polynomial code over the reals (Yu, Maddah-Ali and Avestimehr's polynomial code
with B sent whole, on the stable constructions of
:mod:`sklearn_coded.operators._exact`): the rows of A are cut into K blocks
A_1..A_K, each block is one row of an exact code (with T secret padding blocks),
worker n multiplies its coded block(s) by B, and any ``threshold`` workers' products
give A_1 B..A_K B exactly up to rounding, since X -> X B is linear.
"""

from numbers import Integral, Real

import numpy as np

from ..operators._exact import EXACT_CODES, exact_code, locate_liars
from ..operators._secret import private_generator
from ._run import run_workers


class MatmulWorker:
    """A worker of :func:`coded_matmul`: holds B, multiplies coded blocks of A by it.

    Parameters
    ----------
    B : ndarray of shape (k, p)
    block_rows : int
        Rows of one coded block (``share`` blocks are concatenated in a row).
    """

    def __init__(self, B, block_rows):
        self.B = B
        self.block_rows = block_rows

    def apply(self, rows):
        """(n, blocks * block_rows * k) coded blocks -> (n, blocks * block_rows * p)."""
        rows = np.asarray(rows, dtype=self.B.dtype)
        blocks = rows.reshape(-1, self.block_rows, self.B.shape[0])
        return (blocks @ self.B).reshape(rows.shape[0], -1)


def coded_matmul(
    A,
    B,
    n_workers,
    *,
    n_blocks=None,
    code="rotation",
    n_private=0,
    noise_scale=1e3,
    stragglers=0,
    n_adversaries=0,
    executor=None,
    timeout=None,
    adversaries=None,
    random_state=None,
):
    """``A @ B`` (or ``A @ x``) computed by N coded workers, exact up to rounding.

    Read more in the :ref:`User Guide <exact_codes>`.

    Parameters
    ----------
    A : array-like of shape (m, k)
    B : array-like of shape (k, p) or (k,)
    n_workers : int
        N.
    n_blocks : int, optional
        K, the number of row blocks of A (each worker multiplies ``m / K`` rows,
        two blocks for the rotation code). By default the largest K the code
        allows with N, S, A and T: the least work per worker.
    code : {"rotation", "chebyshev", "vandermonde"}, default="rotation"
        The exact code (:func:`~sklearn_coded.operators.exact_code`).
    n_private : int, default=0
        T: any T colluding workers see A's blocks plus full-rank Gaussian padding
        (B is sent in the clear).
    noise_scale : float, default=1e3
        Padding standard deviation in units of A's entries' standard deviation.
    stragglers, executor, timeout, adversaries, random_state
        As in :func:`~sklearn_coded.execution.run_workers`; stragglers an int S
        or a straggler model.
    n_adversaries : int, default=0
        A liars to locate exactly (:func:`~sklearn_coded.operators.locate_liars`).

    Returns
    -------
    C : ndarray of shape (m, p) or (m,)
        float64.

    Raises
    ------
    ValueError
        If N cannot hold the code (N - S < threshold + 2A) or a parameter is invalid.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_coded.execution import coded_matmul
    >>> rng = np.random.default_rng(0)
    >>> A, x = rng.normal(size=(40, 30)), rng.normal(size=30)
    >>> y = coded_matmul(A, x, n_workers=10, stragglers=2, n_private=1, random_state=0)
    >>> bool(np.allclose(y, A @ x))
    True
    """
    A, B, vector = _operands(A, B)
    if code not in EXACT_CODES:
        raise ValueError(f"code must be one of {EXACT_CODES}; got code={code!r}.")
    if not isinstance(noise_scale, Real) or noise_scale < 0:
        raise ValueError(f"noise_scale must be a number >= 0; got noise_scale={noise_scale!r}.")
    S = stragglers if isinstance(stragglers, Integral) else 0
    T, Ad = int(n_private), int(n_adversaries)
    m = A.shape[0]
    budget = int(n_workers) - S - 2 * Ad - T  # coefficients the survivors can solve for
    if n_blocks is None:
        n_blocks = min(m, 2 * budget if code == "rotation" else budget)
    if not isinstance(n_blocks, Integral) or n_blocks < 1:
        raise ValueError(
            f"n_workers={n_workers} with stragglers={stragglers!r}, n_private={T} and "
            f"n_adversaries={Ad} leaves no room for a block of A (n_blocks={n_blocks!r})."
        )
    coder = exact_code(code, int(n_blocks), int(n_workers), n_private=T)
    needed = coder.threshold + 2 * Ad
    if n_workers - S < needed:
        raise ValueError(
            f"n_workers={n_workers} with stragglers={stragglers!r} leaves {n_workers - S} "
            f"results; the {code!r} code of n_blocks={n_blocks} row blocks, n_private={T} "
            f"and n_adversaries={Ad} needs threshold + 2A = {needed}."
        )
    K, N = coder.n_samples, coder.n_coded
    r = -(-m // K)
    blocks = np.zeros((coder.n_data_rows + coder.n_padding, r * A.shape[1]))
    padded = np.zeros((K * r, A.shape[1]))
    padded[:m] = A
    blocks[:K] = padded.reshape(K, -1)
    if coder.n_padding:  # secret padding blocks (eq. P): fresh, from the OS's source
        sigma = noise_scale * (A.std() or 1.0)
        blocks[coder.n_data_rows :] = sigma * private_generator().standard_normal(
            (coder.n_padding, blocks.shape[1])
        )
    shares = (coder.encoder @ blocks).reshape(N, 1, -1)  # worker n: its share block(s)
    workers, Y = _gather(
        MatmulWorker(B, r),
        shares,
        coder,
        Ad,
        executor=executor,
        stragglers=stragglers,
        min_results=needed,
        random_state=random_state,
        timeout=timeout,
        adversaries=adversaries,
    )
    C = (coder.decoder(workers) @ Y).reshape(K * r, B.shape[1])[:m]
    return C[:, 0] if vector else C


class MatDotWorker:
    """A worker of :func:`matdot_matmul`: multiplies its coded A block by its coded B block."""

    def __init__(self, shape_a, shape_b):
        self.shape_a = tuple(shape_a)
        self.shape_b = tuple(shape_b)

    def apply(self, rows):
        """(n, size_a + size_b) concatenated coded blocks -> (n, m * p) products."""
        rows = np.asarray(rows, dtype=np.float64)
        size_a = int(np.prod(self.shape_a))
        a = rows[:, :size_a].reshape(-1, *self.shape_a)
        b = rows[:, size_a:].reshape(-1, *self.shape_b)
        return (a @ b).reshape(rows.shape[0], -1)


def matdot_matmul(
    A,
    B,
    n_workers,
    *,
    n_splits=None,
    code="chebyshev",
    stragglers=0,
    n_adversaries=0,
    executor=None,
    timeout=None,
    adversaries=None,
    random_state=None,
):
    """``A @ B`` by a MatDot code: the inner dimension is split, each worker holds
    1 / p of A's columns and of B's rows, and any 2p - 1 workers suffice.

    Read more in the :ref:`User Guide <exact_codes>`.

    MatDot (Dutta et al.) codes A(x) = sum_i A_i x^i and B(x) = sum_i B_i x^(p-1-i)
    (the column blocks of A, the row blocks of B); AB is the coefficient of x^(p-1)
    of the degree 2p - 2 product A(x) B(x), interpolated from 2p - 1 evaluations.
    ``code="chebyshev"`` is Fahim and Cadambe's orthoMatDot: A(x) = sum_i a_i A_i
    T_i(x) and B(x) = sum_i a_i B_i T_i(x) with a_0 = 1/sqrt(2), a_i = 1 otherwise,
    on the Chebyshev grid; by the orthogonality of the T_i under 1/sqrt(1 - x^2),
    AB = 2 c_0, twice the T_0 coefficient of A(x) B(x) (T_i T_j = (T_{i+j} +
    T_(abs(i - j))) / 2 contributes to T_0 only when i = j).

    Parameters
    ----------
    A : array-like of shape (m, k)
    B : array-like of shape (k, n) or (k,)
    n_workers : int
        N.
    n_splits : int, optional
        p; by default the largest with 2p - 1 + 2A <= N - S (and p <= k).
    code : {"chebyshev", "vandermonde"}, default="chebyshev"
        orthoMatDot on the Chebyshev grid, or MatDot in the monomial basis on
        equispaced points (the baseline).
    stragglers, executor, timeout, adversaries, random_state, n_adversaries
        As in :func:`coded_matmul`. No privacy padding (B is split too).

    Returns
    -------
    C : ndarray of shape (m, n) or (m,)

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_coded.execution import matdot_matmul
    >>> rng = np.random.default_rng(0)
    >>> A, B = rng.normal(size=(6, 40)), rng.normal(size=(40, 5))
    >>> C = matdot_matmul(A, B, n_workers=9, stragglers=2, random_state=0)  # p = 4
    >>> bool(np.allclose(C, A @ B))
    True
    """
    A, B, vector = _operands(A, B)
    if code not in ("chebyshev", "vandermonde"):
        raise ValueError(f"code must be 'chebyshev' or 'vandermonde'; got code={code!r}.")
    S = stragglers if isinstance(stragglers, Integral) else 0
    Ad = int(n_adversaries)
    k = A.shape[1]
    if n_splits is None:
        n_splits = min(k, (int(n_workers) - S - 2 * Ad + 1) // 2)
    if not isinstance(n_splits, Integral) or n_splits < 1:
        raise ValueError(
            f"n_workers={n_workers} with stragglers={stragglers!r} and n_adversaries={Ad} "
            f"leaves no room for a MatDot split (n_splits={n_splits!r})."
        )
    p = int(n_splits)
    # the product A(x) B(x) has degree 2p - 2: an exact code of p unknowns and degree 2
    coder = exact_code(code, p, int(n_workers), degree=2)
    needed = coder.threshold + 2 * Ad
    if n_workers - S < needed:
        raise ValueError(
            f"n_workers={n_workers} with stragglers={stragglers!r} leaves {n_workers - S} "
            f"results; MatDot with n_splits={p} and n_adversaries={Ad} needs 2p - 1 + 2A "
            f"= {needed}."
        )
    w = -(-k // p)
    Ap = np.zeros((A.shape[0], p * w))
    Ap[:, :k] = A
    Bp = np.zeros((p * w, B.shape[1]))
    Bp[:k] = B
    A_blocks = Ap.reshape(A.shape[0], p, w).transpose(1, 0, 2)  # (p, m, w)
    B_blocks = Bp.reshape(p, w, B.shape[1])  # (p, w, n)
    z = coder.coded_points
    if code == "chebyshev":
        scale = np.ones(p)
        scale[0] = 1 / np.sqrt(2)
        basis = np.polynomial.chebyshev.chebvander(z, p - 1) * scale  # (N, p)
        basis_a, basis_b = basis, basis
    else:
        basis_a = np.vander(z, p, increasing=True)
        basis_b = basis_a[:, ::-1]  # x^(p-1-i)
    coded_a = np.einsum("ni,imw->nmw", basis_a, A_blocks).reshape(len(z), -1)
    coded_b = np.einsum("ni,iwc->nwc", basis_b, B_blocks).reshape(len(z), -1)
    shares = np.hstack([coded_a, coded_b])[:, None, :]
    workers, Y = _gather(
        MatDotWorker((A.shape[0], w), (w, B.shape[1])),
        shares,
        coder,
        Ad,
        executor=executor,
        stragglers=stragglers,
        min_results=needed,
        random_state=random_state,
        timeout=timeout,
        adversaries=adversaries,
    )
    M = coder.system(workers)[0]  # the degree 2p - 2 basis at the survivors
    coefficients = np.linalg.pinv(M)
    readout = 2 * coefficients[0] if code == "chebyshev" else coefficients[p - 1]
    C = (readout @ Y).reshape(A.shape[0], B.shape[1])
    return C[:, 0] if vector else C


def _gather(worker, shares, coder, n_adversaries, **run_kw):
    """The surviving workers and their result rows, located liars dropped (9.8).

    ``shares`` (N, 1, width) go to :func:`run_workers`; each worker's result is
    ``coder.share`` rows of Y (one for MatDot), so ``Y`` has ``coder.share`` rows
    per surviving worker.
    """
    results, returned = run_workers(worker, "apply", shares, **run_kw)
    workers = np.flatnonzero(returned[:, 0])
    share = coder.share
    Y = results[workers, 0].reshape(workers.size * share, -1)
    if n_adversaries:
        liars = locate_liars(coder, workers, Y, n_adversaries)
        workers, Y = workers[~liars], Y[np.repeat(~liars, share)]
    return workers, Y


def _operands(A, B):
    """``A`` (m, k) and ``B`` (k, n) in float64; a vector ``B`` (k,) as one column."""
    A = np.asarray(A, dtype=np.float64)
    B = np.asarray(B, dtype=np.float64)
    vector = B.ndim == 1
    if vector:
        B = B[:, None]
    if A.ndim != 2 or B.ndim != 2 or A.shape[1] != B.shape[0]:
        raise ValueError(f"A @ B needs A (m, k) and B (k, n) or (k,); got {A.shape} @ {B.shape}.")
    return A, B, vector
