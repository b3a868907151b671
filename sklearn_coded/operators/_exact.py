"""Exact real-field codes for linear and polynomial work (docs/method.rst 9, (9.1)-(9.7)).

A batch of K data rows and P secret padding rows W = [X; Z] is coded into N worker
shares; a worker applies f to its share; any ``threshold`` workers' results
determine f(X) exactly up to rounding, whatever the padding's scale. Three
constructions, side by side:

``"vandermonde"``
    The baseline (Yu et al.'s polynomial code, real-field LCC): the rows are the
    coefficients of u(z) in the monomial basis, evaluated at N equispaced points of
    [-1, 1]. Its recovery matrices are real Vandermonde matrices, whose condition
    number grows exponentially in N.
``"chebyshev"``
    Fahim and Cadambe's numerically stable polynomial code: the same code in the
    Chebyshev basis T_0..T_{m-1}, evaluated on the N-point Chebyshev grid (first
    kind). Every m x m submatrix of that Chebyshev-Vandermonde matrix has a
    condition number O(N^(2 (N - m))) (polynomial in N for a fixed number of
    stragglers N - m).
``"rotation"``
    Ramamoorthy and Tang's rotation-matrix embedding: pairs of rows are complex
    numbers c = W_{2j} + i W_{2j+1}, coded as u(w) = sum_k c_k w^k at the N-th roots of
    unity w_n = exp(2 pi i n / N); a worker receives (Re u(w_n), Im u(w_n)), i.e.
    sum_k R(k theta_n) [W_{2k}; W_{2k+1}] with R the 2 x 2 rotation by theta_n =
    2 pi n / N: two real rows, no complex arithmetic anywhere. Recovery matrices are
    complex Vandermonde matrices on the unit circle (worst-case condition number
    O(N^(S + 5.5)) in their analysis). Linear f only (f(Re u) is not Re f(u)
    otherwise).

Linear f (degree 1, coefficient form): the T padding rows are the coefficients of
the lowest T basis functions and the K data rows the next K (Shamir-style), so any
T workers' padding block is a T x T Vandermonde (monomial, Chebyshev or complex
unit-circle) matrix on distinct points: invertible, and their view is the data plus
a full-rank Gaussian. The decoder solves for the coefficients from any ``threshold
= K + T`` workers (``ceil(K / 2) + T`` for the rotation code, whose workers hold two
rows each) and reads off the data coefficients.

Polynomial f of degree d > 1 (real codes, evaluation form, LCC): u interpolates the
data at alpha_1..alpha_K and the padding at T more points spread among them (alpha
halfway between coded points, so no worker holds a row itself); the decoder fits
the degree d (m - 1) polynomial f(u(z)) through d (m - 1) + 1 survivors
(m = K + T) and evaluates it at the data points.
"""

import functools
import itertools
import math
from dataclasses import dataclass
from numbers import Integral

import numpy as np

EXACT_CODES = ("vandermonde", "chebyshev", "rotation")


def _check_int(name, value, low):
    if not isinstance(value, Integral) or isinstance(value, bool) or value < low:
        raise ValueError(f"{name} must be an int >= {low}; got {name}={value!r}.")
    return int(value)


def _basis(code, z, size):
    """(len(z), size) matrix of the code's basis functions at the points z."""
    if code == "chebyshev":
        return np.polynomial.chebyshev.chebvander(z, size - 1)
    return np.vander(z, size, increasing=True)


def _coded_points(code, n_coded):
    if code == "chebyshev":  # the N-point Chebyshev grid of the first kind (docs/method.rst (2.1))
        return -np.cos((2 * np.arange(1, n_coded + 1) - 1) * np.pi / (2 * n_coded))
    if code == "vandermonde":
        return np.linspace(-1.0, 1.0, n_coded)
    return np.exp(2j * np.pi * np.arange(n_coded) / n_coded)  # rotation: roots of unity


def _interpolation_points(beta, size):
    """``size`` points spread among the midpoints of the sorted coded points beta
    (and half a gap beyond each end): never a coded point, so no worker holds a
    data or padding row itself."""
    gaps = np.diff(beta)
    candidates = np.concatenate(
        [[beta[0] - gaps[0] / 2], (beta[:-1] + beta[1:]) / 2, [beta[-1] + gaps[-1] / 2]]
    )
    if size > candidates.size:
        raise ValueError(
            f"n_coded={beta.size} is too small for {size} data and padding rows: "
            f"the code needs n_coded >= {size - 1}."
        )
    if size == candidates.size:
        return candidates
    # interior midpoints first: spread over the N - 1 midpoints when they suffice
    inner = candidates[1:-1]
    if size <= inner.size:
        return inner[np.round(np.linspace(0, inner.size - 1, size)).astype(int)]
    return candidates[np.round(np.linspace(0, candidates.size - 1, size)).astype(int)]


@dataclass(frozen=True)
class ExactCode:
    """An exact real-field code: K data rows, T-private padding, N workers.

    Build it with :func:`exact_code`. Worker n holds rows
    ``encoder[n * share:(n + 1) * share]`` applied to ``[X; Z]`` (K data rows,
    then P padding rows).

    Attributes
    ----------
    code : {"vandermonde", "chebyshev", "rotation"}
    n_samples : int
        K.
    n_private : int
        T.
    n_coded : int
        N, the number of workers.
    degree : int
        d, the degree of the polynomial f the decoder inverts.
    """

    code: str
    n_samples: int
    n_private: int
    n_coded: int
    degree: int = 1

    @property
    def share(self):
        """Real rows per worker: 2 for the rotation code, 1 otherwise."""
        return 2 if self.code == "rotation" else 1

    @property
    def n_unknowns(self):
        """m: coefficients of u (complex ones for the rotation code)."""
        if self.code == "rotation":
            return math.ceil(self.n_samples / 2) + self.n_private
        return self.n_samples + self.n_private

    @property
    def n_padding(self):
        """P: real padding rows (T for the real codes, 2T for the rotation code)."""
        return self.share * self.n_private

    @property
    def n_data_rows(self):
        """Data rows the encoder takes: K, made even for the rotation code (a zero row)."""
        return self.share * math.ceil(self.n_samples / self.share)

    @property
    def threshold(self):
        """Recovery threshold: the fewest workers whose results determine f(X).

        docs/method.rst (9.3): ``d (m - 1) + 1``.
        """
        return self.degree * (self.n_unknowns - 1) + 1

    @functools.cached_property
    def coded_points(self):
        """beta: real points of the real codes, roots of unity of the rotation code."""
        return _coded_points(self.code, self.n_coded)

    @functools.cached_property
    def data_points(self):
        """alpha of the evaluation form (degree > 1): K data points (None otherwise)."""
        if self.degree == 1:
            return None
        return self._alpha()[0]

    def _alpha(self):
        """Evaluation form: (data points, padding points), the padding spread among
        the data (a padding point near every worker keeps its noise coefficient up)."""
        alpha = _interpolation_points(self.coded_points, self.n_unknowns)
        m, T = self.n_unknowns, self.n_private
        noise = np.floor((np.arange(T) + 0.5) * m / T).astype(int) if T else np.zeros(0, int)
        data = np.setdiff1d(np.arange(m), noise)
        return alpha[data], alpha[noise]

    @functools.cached_property
    def encoder(self):
        """(N * share, n_data_rows + P) real matrix: ``shares = encoder @ [X; Z]``."""
        if self.code == "rotation":
            return _readonly(self._rotation_system(np.arange(self.n_coded)) @ self._columns())
        m = self.n_unknowns
        if self.degree == 1:
            # Coefficient form: u(z) = sum_t Z_t B_t(z) + sum_j X_j B_{T+j}(z), the
            # padding on the lowest basis functions (any T workers' padding block is a
            # T x T Chebyshev- or monomial-Vandermonde matrix: invertible).
            B = _basis(self.code, self.coded_points, m)
            return _readonly(np.hstack([B[:, self.n_private :], B[:, : self.n_private]]))
        # Evaluation form (LCC): u(alpha_j) = W_j, so shares = B(beta) B(alpha)^-1 W.
        alpha = np.concatenate(self._alpha())
        E = np.linalg.solve(
            _basis(self.code, alpha, m).T, _basis(self.code, self.coded_points, m).T
        ).T
        return _readonly(E)

    def _columns(self):
        """Rotation code: (2m, K' + 2T) permutation from [X; Z] to the real parts of c.

        Coefficient k < T holds padding rows (2k, 2k + 1), coefficient T + j data
        rows (2j, 2j + 1) (real and imaginary part)."""
        m, T, Kp = self.n_unknowns, self.n_private, self.n_data_rows
        P = np.zeros((2 * m, Kp + 2 * T))
        P[2 * T + np.arange(Kp), np.arange(Kp)] = 1.0
        P[np.arange(2 * T), Kp + np.arange(2 * T)] = 1.0
        return P

    def _rotation_system(self, workers):
        """Real embedding of the complex Vandermonde V[n, k] = w_n^k: each entry a
        2 x 2 rotation block R(k theta_n) = [[cos, -sin], [sin, cos]]."""
        m = self.n_unknowns
        theta = 2 * np.pi * np.asarray(workers)[:, None] / self.n_coded * np.arange(m)
        G = np.empty((2 * theta.shape[0], 2 * m))
        G[0::2, 0::2], G[0::2, 1::2] = np.cos(theta), -np.sin(theta)
        G[1::2, 0::2], G[1::2, 1::2] = np.sin(theta), np.cos(theta)
        return G

    def system(self, workers):
        """(M_F, R): results of workers F lie in the column space of M_F, and
        f(X) = R @ pinv(M_F) @ Y_F."""
        workers = np.asarray(workers, dtype=np.intp)
        if self.code == "rotation":
            # the data coefficients' real parts, in the order of the data rows
            R = np.eye(2 * self.n_unknowns)[
                2 * self.n_private : 2 * self.n_private + self.n_samples
            ]
            return self._rotation_system(workers), R
        size = self.threshold  # f(u(z)) has degree d (m - 1)
        M = _basis(self.code, self.coded_points[workers], size)
        if self.degree == 1:  # the data are the coefficients T..T+K-1
            return M, np.eye(size)[self.n_private : self.n_private + self.n_samples]
        return M, _basis(self.code, self.data_points, size)

    def check_survivors(self, workers):
        """Raise a ValueError naming the threshold if too few workers returned."""
        n = len(workers)
        if n < self.threshold:
            raise ValueError(
                f"Only {n} of n_coded={self.n_coded} workers returned; the {self.code!r} "
                f"code with K={self.n_samples}, n_private={self.n_private}, "
                f"degree={self.degree} needs at least its recovery threshold "
                f"{self.threshold}."
            )

    def decoder(self, workers):
        """(K, len(workers) * share) matrix D_F: f(X) = D_F @ (results of workers F).

        Least squares (the pseudo-inverse) when more than the threshold returned."""
        workers = tuple(int(w) for w in workers)
        self.check_survivors(workers)
        return _decoder(self, workers)

    def condition(self, workers):
        """2-norm condition number of the system M_F solved by the decoder."""
        return float(np.linalg.cond(self.system(workers)[0]))

    def noise_block(self, workers):
        """The colluders' (``|F|`` * share, P) padding block of the encoder."""
        rows = _rows(workers, self.share)
        return self.encoder[rows][:, self.n_data_rows :]


@functools.lru_cache(maxsize=256)
def _decoder(code, workers):
    M, R = code.system(np.asarray(workers))
    return _readonly(R @ np.linalg.pinv(M))


def _readonly(A):
    A = np.ascontiguousarray(A)
    A.flags.writeable = False
    return A


def _rows(workers, share):
    workers = np.asarray(workers, dtype=np.intp)
    return (workers[:, None] * share + np.arange(share)).ravel()


def exact_code(code, n_samples, n_coded, *, n_private=0, degree=1):
    """Build an exact real-field code (see the module's notes for the constructions).

    Parameters
    ----------
    code : {"vandermonde", "chebyshev", "rotation"}
        The construction: the monomial baseline, Fahim and Cadambe's Chebyshev
        code, or Ramamoorthy and Tang's rotation-matrix embedding.
    n_samples : int
        K >= 1 data rows.
    n_coded : int
        N workers; N >= the recovery threshold.
    n_private : int, default=0
        T >= 0: any T workers pooling their shares see the data plus a full-rank
        Gaussian padding.
    degree : int, default=1
        d, the degree of the polynomial f the workers apply (1: linear f). The
        rotation code supports d = 1 only.

    Returns
    -------
    ExactCode

    Raises
    ------
    ValueError
        For an unknown code, or N below the recovery threshold.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_coded.operators import exact_code
    >>> code = exact_code("chebyshev", 3, 6, n_private=1)
    >>> code.threshold, code.encoder.shape
    (4, (6, 4))
    >>> X, Z = np.arange(6.0).reshape(3, 2), 1e4 * np.ones((1, 2))
    >>> shares = code.encoder @ np.vstack([X, Z])
    >>> (code.decoder([0, 2, 3, 5]) @ shares[[0, 2, 3, 5]]).round(6)
    array([[0., 1.],
           [2., 3.],
           [4., 5.]])
    """
    if code not in EXACT_CODES:
        raise ValueError(f"code must be one of {EXACT_CODES}; got code={code!r}.")
    n_samples = _check_int("n_samples", n_samples, 1)
    n_coded = _check_int("n_coded", n_coded, 1)
    n_private = _check_int("n_private", n_private, 0)
    degree = _check_int("degree", degree, 1)
    if code == "rotation" and degree != 1:
        raise ValueError(
            f"code='rotation' codes linear work only (f of degree 1); got degree={degree}."
        )
    result = ExactCode(code, n_samples, n_private, n_coded, degree)
    if n_coded < result.threshold:
        raise ValueError(
            f"n_coded={n_coded} is below the recovery threshold {result.threshold} of the "
            f"{code!r} code with n_samples={n_samples}, n_private={n_private}, "
            f"degree={degree}."
        )
    return result


def worst_condition(code, n_survivors=None, *, max_sets=2000, random_state=None):
    """Worst condition number of the decoding system over survivor sets.

    Parameters
    ----------
    code : ExactCode
    n_survivors : int, optional
        The number of survivors; by default the recovery threshold (the worst case: every straggler
        the code tolerates is absent).
    max_sets : int, default=2000
        Every subset of that size is checked when there are at most this many; otherwise
        ``max_sets`` random subsets (the maximum is then a lower bound).
    random_state : int or None, default=None
        Seeds the sampled subsets.

    Returns
    -------
    worst : float
    exhaustive : bool
        Whether every subset was checked.

    Examples
    --------
    >>> from sklearn_coded.operators import exact_code, worst_condition
    >>> cheb = worst_condition(exact_code("chebyshev", 6, 10))[0]
    >>> mono = worst_condition(exact_code("vandermonde", 6, 10))[0]
    >>> bool(cheb < mono)
    True
    """
    N = code.n_coded
    size = code.threshold if n_survivors is None else int(n_survivors)
    code.check_survivors(range(size))
    if math.comb(N, size) <= max_sets:
        sets, exhaustive = itertools.combinations(range(N), size), True
    else:
        rng = np.random.default_rng(random_state)
        sets = (np.sort(rng.choice(N, size, replace=False)) for _ in range(max_sets))
        exhaustive = False
    return max(code.condition(F) for F in sets), exhaustive


def exact_encode(code, X, noise_scale=0.0, *, rng=None):
    """Shares of the batch X under ``code``, padded with fresh secret noise.

    Parameters
    ----------
    code : ExactCode
    X : ndarray of shape (K, ...)
        The K data rows (any trailing shape: they are coded row-wise).
    noise_scale : float, default=0.0
        sigma of the padding entries (N(0, sigma^2)); 0 pads with zeros.
    rng : numpy.random.Generator, optional
        Source of the padding; by default
        :func:`~sklearn_coded.operators._secret.private_generator` (a fresh
        OS-seeded generator: no public seed replays it).

    Returns
    -------
    shares : ndarray of shape (N * share, ...)
        Worker n's share is ``shares[n * share:(n + 1) * share]``; the dtype of X.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_coded.operators import exact_code, exact_encode
    >>> shares = exact_encode(exact_code("rotation", 2, 3), np.array([[1.0], [0.0]]))
    >>> shares.shape  # 3 workers, 2 rows each
    (6, 1)
    """
    from ._secret import private_generator

    X = np.asarray(X)
    if X.shape[0] != code.n_samples:
        raise ValueError(
            f"X has {X.shape[0]} rows; the code was built for n_samples={code.n_samples}."
        )
    dtype = X.dtype if X.dtype in (np.float32, np.float64) else np.float64
    flat = X.reshape(X.shape[0], -1).astype(dtype, copy=False)
    extra = code.n_data_rows - code.n_samples + code.n_padding
    if extra:
        pad = np.zeros((extra, flat.shape[1]), dtype=dtype)
        if code.n_padding and noise_scale:
            rng = private_generator() if rng is None else rng
            noise = rng.standard_normal((code.n_padding, flat.shape[1]))
            pad[extra - code.n_padding :] = noise_scale * noise
        flat = np.vstack([flat, pad])
    E = code.encoder.astype(dtype, copy=False)
    return (E @ flat).reshape((-1, *X.shape[1:]))


def exact_decode(code, workers, results):
    """f(X) from the results of the workers F (the pseudo-inverse of the code).

    Parameters
    ----------
    code : ExactCode
    workers : array-like of int
        F, the workers whose results arrived (at least the threshold).
    results : ndarray of shape (len(workers) * share, ...)
        Their results, in the order of ``workers``.

    Returns
    -------
    decoded : ndarray of shape (K, ...)
        In the dtype of ``results``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_coded.operators import exact_code, exact_decode, exact_encode
    >>> code = exact_code("vandermonde", 2, 4, degree=2)
    >>> X = np.array([[1.0, 2.0], [3.0, -1.0]])
    >>> Y = exact_encode(code, X) ** 2  # f(x) = x^2, degree 2: threshold 3
    >>> exact_decode(code, [0, 1, 3], Y[[0, 1, 3]]).round(9)
    array([[1., 4.],
           [9., 1.]])
    """
    results = np.asarray(results)
    D = code.decoder(workers)
    flat = results.reshape(results.shape[0], -1)
    if D.shape[1] != flat.shape[0]:
        raise ValueError(
            f"results has {flat.shape[0]} rows; {len(workers)} workers of "
            f"{code.share} row(s) each make {D.shape[1]}."
        )
    return (D.astype(flat.dtype, copy=False) @ flat).reshape((-1, *results.shape[1:]))


def exact_leakage(code, noise_scale, *, cov_eigs=None, n_views=1, max_sets=3000, random_state=0):
    """Worst LMMSE R^2 of any data row from any T workers' shares (true covariance).

    The attack of docs/method.rst (9.7) on what the workers see: data rows i.i.d. with a
    feature covariance of eigenvalues ``cov_eigs``, padding N(0, sigma^2). Features
    decouple in the covariance's eigenbasis; in a direction of variance lam the
    colluders F see v = A x + B z (A, B: their rows of the encoder's data and
    padding columns, x ~ N(0, lam I_K), z ~ N(0, sigma^2 I_P)), and the best linear
    predictor of row j explains lam^2 a_j' (lam A A' + sigma^2 B B')^-1 a_j of its
    variance. R^2 of row j: explained over total variance, summed over directions.

    Parameters
    ----------
    code : ExactCode
    noise_scale : float
        sigma, in the units of the data.
    cov_eigs : array-like, optional
        Eigenvalues of the rows' feature covariance; default one feature of
        variance 1 (R^2 does not depend on the scale of the covariance and sigma
        together).
    n_views : int, default=1
        R independent codings of the same rows (repeated queries) act like one
        with sigma^2 / R.
    max_sets : int, default=3000
        All T-subsets when there are at most this many; else every window of T
        consecutive workers and ``max_sets`` random subsets (a lower bound).
    random_state : int, default=0
        Seeds the sampled subsets.

    Returns
    -------
    r2 : float
        The worst over T-subsets and data rows (0 when T = 0 is not asked: with
        ``n_private=0`` a single worker's R^2 is returned).

    Examples
    --------
    >>> from sklearn_coded.operators import exact_code, exact_leakage
    >>> code = exact_code("rotation", 8, 10, n_private=2)
    >>> exact_leakage(code, 1e3) < 1e-4
    True
    """
    lam = np.clip(np.atleast_1d(np.asarray([1.0] if cov_eigs is None else cov_eigs)), 0, None)
    total = lam.sum()
    if not np.isfinite(total):
        raise ValueError("cov_eigs must be finite.")
    if total == 0:
        return 0.0  # rows that never vary: nothing to learn about them
    sigma2 = noise_scale**2 / n_views
    T, N, share, K = max(code.n_private, 1), code.n_coded, code.share, code.n_samples
    if math.comb(N, T) <= max_sets:
        sets = list(itertools.combinations(range(N), T))
    else:
        rng = np.random.default_rng(random_state)
        sets = [tuple((np.arange(T) + i) % N) for i in range(N)]
        sets += [tuple(np.sort(rng.choice(N, T, replace=False))) for _ in range(max_sets)]
    E = code.encoder
    worst = 0.0
    for F in sets:
        rows = _rows(F, share)
        Ad, Bn = E[rows, :K], E[rows, code.n_data_rows :]
        M = lam[:, None, None] * (Ad @ Ad.T) + sigma2 * (Bn @ Bn.T)  # (d, r, r)
        inv_A = np.linalg.pinv(M, hermitian=True) @ Ad  # M^+ A, (d, r, K)
        expl = (lam**2)[:, None] * np.einsum("rj,drj->dj", Ad, inv_A)
        r2 = float(expl.sum(axis=0).max() / total)
        if not np.isfinite(r2):  # never let max() skip a NaN
            raise FloatingPointError(f"The leakage of workers {F} is not finite ({r2}).")
        worst = max(worst, r2)
    return worst


def exact_noise_scale(code, target_r2, *, cov_eigs=None, n_views=1, max_sets=3000):
    """The smallest padding sigma whose worst LMMSE R^2 is at most ``target_r2``.

    Bisection on log sigma of :func:`exact_leakage` (decreasing in sigma), to 1%
    (docs/method.rst (9.7)).
    The price of the answer is precision: the decode error grows like
    condition number x machine epsilon x sigma / data spread
    (``benchmarks/bench_exact_codes.py``).

    Parameters
    ----------
    code : ExactCode
        With ``n_private >= 1``.
    target_r2 : float
        In (0, 1).
    cov_eigs : array-like, optional
        Eigenvalues of the rows' feature covariance (as :func:`exact_leakage`).
    n_views : int, default=1
        Repeated codings of the same rows the budget must cover.
    max_sets : int, default=3000

    Returns
    -------
    sigma : float

    Examples
    --------
    >>> from sklearn_coded.operators import exact_code, exact_leakage, exact_noise_scale
    >>> code = exact_code("rotation", 8, 10, n_private=2)
    >>> sigma = exact_noise_scale(code, 0.01)
    >>> bool(exact_leakage(code, sigma) <= 0.01 < exact_leakage(code, 0.9 * sigma))
    True
    """
    if code.n_private < 1:
        raise ValueError(f"Padding needs n_private >= 1; the code has n_private={code.n_private}.")
    if not 0 < target_r2 < 1:
        raise ValueError(f"target_r2 must be in (0, 1); got target_r2={target_r2!r}.")

    def leak(log_sigma):
        return exact_leakage(
            code, 10.0**log_sigma, cov_eigs=cov_eigs, n_views=n_views, max_sets=max_sets
        )

    low, high = -6.0, 12.0
    if leak(high) > target_r2:
        raise ValueError(
            f"No padding up to sigma=1e12 brings the leakage under target_r2={target_r2}."
        )
    while high - low > 0.004:  # 1% in sigma
        mid = (low + high) / 2
        low, high = (low, mid) if leak(mid) <= target_r2 else (mid, high)
    return 10.0**high


# Locating liars lives in _exact_liars.py; re-exported for the importers of this module.
from ._exact_liars import l1_locate_liars, l1_recovery_bound, locate_liars  # noqa: E402, F401
